//! The ClickHouse layout of each pipeline table: defaults shared by validation and DDL, the
//! DDL ([`ddl`]), the live schema ([`live`]), the migration planner ([`migrate`]) and applying a
//! plan ([`apply`]).

pub mod apply;
pub mod ddl;
pub mod live;
pub mod migrate;

use crate::crd::ClickHouseStore;

use crate::crd::{AttributeMap, ColumnSpec, ColumnType, IndexSpec, IndexType, TableSpec};
use crate::ident::ColumnExpr;

/// The columns a table extracts: its own, or the Kubernetes defaults.
pub fn columns_of(t: &TableSpec) -> Vec<ColumnSpec> {
    if !t.columns.is_empty() {
        return t.columns.clone();
    }
    [
        ("Namespace", "k8s.namespace.name"),
        ("PodName", "k8s.pod.name"),
        ("ContainerName", "k8s.container.name"),
    ]
    .into_iter()
    .map(|(name, key)| ColumnSpec {
        name: name.to_string(),
        from: AttributeMap::ResourceAttributes,
        key: key.to_string(),
        type_: ColumnType::String,
        low_cardinality: true,
    })
    .collect()
}

/// ORDER BY, or the default: the table's Namespace and PodName columns where it has them (the
/// typical query is a time range within a namespace's or a pod's logs), then Timestamp; a table
/// with neither orders by (ServiceName, Timestamp).
pub fn order_by_of(t: &TableSpec) -> Vec<String> {
    if !t.order_by.is_empty() {
        return t.order_by.clone();
    }
    let columns = columns_of(t);
    let mut key: Vec<String> = ["Namespace", "PodName"]
        .into_iter()
        .filter(|k| columns.iter().any(|c| c.name == *k))
        .map(String::from)
        .collect();
    if key.is_empty() {
        key.push("ServiceName".to_string());
    }
    key.push("Timestamp".to_string());
    key
}

/// PARTITION BY, or the default.
pub fn partition_by_of(t: &TableSpec) -> String {
    t.partition_by
        .clone()
        .unwrap_or_else(|| "EventDate".to_string())
}

/// Skip indexes, or the defaults.
pub fn indexes_of(t: &TableSpec) -> Vec<IndexSpec> {
    if let Some(ix) = &t.indexes {
        return ix.clone();
    }
    let bloom = |expr: &str, fp: f64| IndexSpec {
        name: None,
        expression: expr.to_string(),
        type_: IndexType::bloom_filter,
        false_positive: Some(fp),
        size_bytes: None,
        hashes: None,
        ngram: None,
        granularity: None,
    };
    vec![
        bloom("TraceId", 0.001),
        bloom("mapKeys(ResourceAttributes)", 0.01),
        bloom("mapValues(ResourceAttributes)", 0.01),
        bloom("mapKeys(LogAttributes)", 0.01),
        bloom("mapValues(LogAttributes)", 0.01),
        IndexSpec {
            name: None,
            expression: "Body".to_string(),
            type_: IndexType::tokenbf_v1,
            false_positive: None,
            size_bytes: Some(32768),
            hashes: Some(3),
            ngram: None,
            granularity: None,
        },
    ]
}

/// An index's name: given, or `idx_<function>_<column>` in lowercase.
pub fn index_name(ix: &IndexSpec, expr: &ColumnExpr) -> String {
    if let Some(n) = &ix.name {
        return n.clone();
    }
    match expr.function {
        Some(f) => format!("idx_{}_{}", f.to_lowercase(), expr.column.to_lowercase()),
        None => format!("idx_{}", expr.column.to_lowercase()),
    }
}

/// The Null table the exporter inserts into.
pub fn ingest_table_name(table: &str) -> String {
    format!("{table}_ingest")
}

/// The materialized view from the ingest table to the target.
pub fn view_name(table: &str) -> String {
    format!("{table}_mv")
}

/// The layouts of a pipeline's tables in one store.
pub fn layouts(
    spec: &crate::crd::LogPipelineSpec,
    store: &ClickHouseStore,
) -> Vec<ddl::TableLayout> {
    spec.tables
        .iter()
        .map(|t| {
            ddl::layout(
                t,
                &store.spec.database,
                store.spec.cluster.as_deref(),
                store.spec.engine,
            )
        })
        .collect()
}
