//! The ClickHouse layout of each pipeline table: defaults shared by validation and DDL, the
//! DDL ([`ddl`]), the live schema ([`live`]), the migration planner ([`migrate`]) and applying a
//! plan ([`apply`]).

pub mod apply;
pub mod ddl;
pub mod live;
pub mod migrate;

use crate::crd::ClickHouseStore;

use crate::crd::{
    AttributeMap, ColumnSpec, ColumnType, IndexSpec, IndexType, TableSpec, TextTokenizer,
};
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
        .unwrap_or_else(|| "toDate(Timestamp)".to_string())
}

/// Skip indexes, or the defaults: full-text indexes on Body (words) and TraceId (exact), and a
/// bloom filter on PodName (for pod queries that do not name the namespace). Measured against
/// the exporter's default on 5M rows (benches/schema_bench.py): no map bloom filters, they
/// helped none of the typical queries and cost 15% of insert throughput.
pub fn indexes_of(t: &TableSpec) -> Vec<IndexSpec> {
    if let Some(ix) = &t.indexes {
        return ix.clone();
    }
    let index = |expr: &str, type_: IndexType| IndexSpec {
        name: None,
        expression: expr.to_string(),
        type_,
        false_positive: None,
        size_bytes: None,
        hashes: None,
        ngram: None,
        granularity: None,
        tokenizer: None,
    };
    let mut out = vec![
        IndexSpec {
            tokenizer: Some(TextTokenizer::Array),
            ..index("TraceId", IndexType::text)
        },
        index("Body", IndexType::text),
    ];
    if columns_of(t).iter().any(|c| c.name == "PodName") {
        out.push(IndexSpec {
            false_positive: Some(0.01),
            ..index("PodName", IndexType::bloom_filter)
        });
    }
    out
}

/// Rows per granule, or the default.
pub fn index_granularity_of(t: &TableSpec) -> u32 {
    t.index_granularity.unwrap_or(1024)
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
