//! A pipeline's table, resolved: defaults applied (columns, ORDER BY, PARTITION BY, indexes,
//! granularity), every expression parsed once. The DDL and the gateways are built from this,
//! never from the spec, so nothing is defaulted or parsed twice.

use super::Problems;
use crate::crd::{
    AttributeMap, ColumnSpec, ColumnType, IndexSpec, IndexType, TableSpec, TextTokenizer,
};
use crate::ident::{ColumnExpr, INDEX_FUNCTIONS, KEY_FUNCTIONS, is_attribute_key, is_identifier};
use std::collections::BTreeSet;

/// Columns every target table has (the exporter's columns and the derived time columns).
pub const BASE_COLUMNS: &[&str] = &[
    "Timestamp",
    "EventDate",
    "EventTime",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
    "EventName",
];

/// The map columns (for `mapKeys`/`mapValues` indexes).
pub const MAP_COLUMNS: &[&str] = &["ResourceAttributes", "LogAttributes", "ScopeAttributes"];

/// Rows per granule unless a table says otherwise: a point lookup (a trace id, a rare token)
/// reads 1024 rows per hit instead of 8192.
pub const DEFAULT_INDEX_GRANULARITY: u32 = 1024;

/// A resolved table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    pub retention_days: u32,
    pub columns: Vec<Column>,
    pub order_by: Vec<ColumnExpr>,
    pub partition_by: ColumnExpr,
    pub indexes: Vec<Index>,
    pub index_granularity: u32,
}

/// A column extracted from an attribute map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub from: AttributeMap,
    pub key: String,
    pub type_: ColumnType,
    pub low_cardinality: bool,
}

/// A skip index with every parameter resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    pub name: String,
    pub expr: ColumnExpr,
    pub kind: IndexKind,
    pub granularity: u32,
}

/// The index types with their parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexKind {
    BloomFilter {
        false_positive: f64,
    },
    TokenBf {
        size_bytes: u32,
        hashes: u32,
    },
    NgramBf {
        ngram: u32,
        size_bytes: u32,
        hashes: u32,
    },
    /// The full-text index (ClickHouse 26.2+).
    Text {
        tokenizer: TextTokenizer,
    },
    MinMax,
    Set,
}

impl Table {
    /// The Null table the exporter inserts into.
    pub fn ingest_name(&self) -> String {
        format!("{}_ingest", self.name)
    }

    /// The materialized view from the ingest table to the target.
    pub fn view_name(&self) -> String {
        format!("{}_mv", self.name)
    }

    /// Attribute keys the table's columns extract.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.key.as_str())
    }
}

/// The columns a table extracts: its own, or the Kubernetes defaults.
fn columns_of(t: &TableSpec) -> Vec<ColumnSpec> {
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
fn order_by_of(t: &TableSpec, columns: &[ColumnSpec]) -> Vec<String> {
    if !t.order_by.is_empty() {
        return t.order_by.clone();
    }
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

/// PARTITION BY, or the default: daily, by `toDate(Timestamp)` (a plain filter on Timestamp then
/// skips whole parts, which it does not with `EventDate`).
fn partition_by_of(t: &TableSpec) -> String {
    t.partition_by
        .clone()
        .unwrap_or_else(|| "toDate(Timestamp)".to_string())
}

/// Skip indexes, or the defaults: full-text indexes on Body (words) and TraceId (exact), and a
/// bloom filter on PodName (for pod queries that do not name the namespace). Measured against
/// the exporter's default on 5M rows (benches/schema_bench.py): no map bloom filters, they
/// helped none of the typical queries and cost 15% of insert throughput.
fn indexes_of(t: &TableSpec, columns: &[ColumnSpec]) -> Vec<IndexSpec> {
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
    if columns.iter().any(|c| c.name == "PodName") {
        out.push(IndexSpec {
            false_positive: Some(0.01),
            ..index("PodName", IndexType::bloom_filter)
        });
    }
    out
}

/// An index's name: given, or `idx_<function>_<column>` in lowercase.
fn index_name(ix: &IndexSpec, expr: &ColumnExpr) -> String {
    if let Some(n) = &ix.name {
        return n.clone();
    }
    match expr.function {
        Some(f) => format!("idx_{}_{}", f.to_lowercase(), expr.column.to_lowercase()),
        None => format!("idx_{}", expr.column.to_lowercase()),
    }
}

fn index_kind(ix: &IndexSpec) -> IndexKind {
    match ix.type_ {
        IndexType::bloom_filter => IndexKind::BloomFilter {
            false_positive: ix.false_positive.unwrap_or(0.01),
        },
        IndexType::tokenbf_v1 => IndexKind::TokenBf {
            size_bytes: ix.size_bytes.unwrap_or(32768),
            hashes: ix.hashes.unwrap_or(3),
        },
        IndexType::ngrambf_v1 => IndexKind::NgramBf {
            ngram: ix.ngram.unwrap_or(4),
            size_bytes: ix.size_bytes.unwrap_or(32768),
            hashes: ix.hashes.unwrap_or(3),
        },
        IndexType::text => IndexKind::Text {
            tokenizer: ix.tokenizer.unwrap_or(TextTokenizer::SplitByNonAlpha),
        },
        IndexType::minmax => IndexKind::MinMax,
        IndexType::set => IndexKind::Set,
    }
}

/// Resolve one table on its own, outside any pipeline (tools and tests).
pub fn resolve_spec(t: &TableSpec) -> Result<Table, Vec<String>> {
    let id = super::ResourceId::pipeline("", "");
    let mut problems = Problems::new(&id);
    match resolve(t, "table", &mut problems) {
        Some(table) => Ok(table),
        None => Err(problems
            .into_vec()
            .into_iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect()),
    }
}

/// Resolve one table (at `field`, e.g. `spec.tables[0]`); problems go to `problems`.
pub(crate) fn resolve(t: &TableSpec, field: &str, problems: &mut Problems<'_>) -> Option<Table> {
    let before = problems.len();
    let mut err = |f: String, m: String| problems.add(f, m);
    if !is_identifier(&t.name)
        || t.name.len() > 48
        || t.name.chars().any(|c| c.is_ascii_uppercase())
    {
        err(
            format!("{field}.name"),
            format!(
                "{:?} is not a safe table name (lowercase letters, digits, underscore; at most 48)",
                t.name
            ),
        );
    }
    if !(1..=3650).contains(&t.retention_days) {
        err(
            format!("{field}.retentionDays"),
            format!("{} is not between 1 and 3650", t.retention_days),
        );
    }
    let specs = columns_of(t);
    let mut known: BTreeSet<String> = BASE_COLUMNS.iter().map(|s| s.to_string()).collect();
    let mut columns = Vec::new();
    for (i, c) in specs.iter().enumerate() {
        let f = format!("{field}.columns[{i}]");
        if !is_identifier(&c.name) {
            err(
                format!("{f}.name"),
                format!("{:?} is not a safe column name", c.name),
            );
        } else if !known.insert(c.name.clone()) {
            err(
                format!("{f}.name"),
                format!(
                    "column {} is defined twice or shadows a built-in column",
                    c.name
                ),
            );
        }
        if !is_attribute_key(&c.key) {
            err(
                format!("{f}.key"),
                format!(
                    "{:?} is not a valid attribute key (letters, digits, _ . - / : @)",
                    c.key
                ),
            );
        }
        if c.low_cardinality && c.type_ != ColumnType::String {
            err(
                format!("{f}.lowCardinality"),
                "applies to String columns only".into(),
            );
        }
        columns.push(Column {
            name: c.name.clone(),
            from: c.from,
            key: c.key.clone(),
            type_: c.type_,
            low_cardinality: c.low_cardinality,
        });
    }
    let expr = |s: &str, allowed: &[&'static str]| -> Result<ColumnExpr, String> {
        let e = ColumnExpr::parse(s, allowed)?;
        if !known.contains(&e.column) {
            return Err(format!("`{}` is not a column of this table", e.column));
        }
        Ok(e)
    };
    let mut order_by = Vec::new();
    for (i, o) in order_by_of(t, &specs).iter().enumerate() {
        match expr(o, KEY_FUNCTIONS) {
            Ok(e) => order_by.push(e),
            Err(e) => err(format!("{field}.orderBy[{i}]"), e),
        }
    }
    let partition_by = match expr(&partition_by_of(t), KEY_FUNCTIONS) {
        Ok(e) => Some(e),
        Err(e) => {
            err(format!("{field}.partitionBy"), e);
            None
        }
    };
    let mut index_names = BTreeSet::new();
    let mut indexes = Vec::new();
    for (i, ix) in indexes_of(t, &specs).iter().enumerate() {
        let f = format!("{field}.indexes[{i}]");
        match expr(&ix.expression, INDEX_FUNCTIONS) {
            Err(e) => err(format!("{f}.expression"), e),
            Ok(e) => {
                let is_map = MAP_COLUMNS.contains(&e.column.as_str());
                match e.function {
                    Some("mapKeys" | "mapValues") if !is_map => err(
                        format!("{f}.expression"),
                        format!(
                            "{} applies to the map columns only",
                            e.function.unwrap_or_default()
                        ),
                    ),
                    None if is_map => err(
                        format!("{f}.expression"),
                        "index a map's mapKeys(...) or mapValues(...)".into(),
                    ),
                    _ => {}
                }
                let name = index_name(ix, &e);
                if !is_identifier(&name) || !index_names.insert(name.clone()) {
                    err(
                        format!("{f}.name"),
                        format!("index name {name:?} is not an identifier or is used twice"),
                    );
                }
                indexes.push(Index {
                    name,
                    expr: e,
                    kind: index_kind(ix),
                    granularity: ix.granularity.unwrap_or(1),
                });
            }
        }
        if let Some(fp) = ix.false_positive
            && !(fp > 0.0 && fp < 1.0)
        {
            err(
                format!("{f}.falsePositive"),
                format!("{fp} is not in (0, 1)"),
            );
        }
        if ix.size_bytes.is_some_and(|s| !(256..=1 << 24).contains(&s)) {
            err(
                format!("{f}.sizeBytes"),
                "must be between 256 and 16777216".into(),
            );
        }
        if ix.hashes.is_some_and(|h| !(1..=16).contains(&h)) {
            err(format!("{f}.hashes"), "must be between 1 and 16".into());
        }
        if ix.ngram.is_some_and(|n| !(1..=16).contains(&n))
            || (ix.ngram.is_some() && ix.type_ != IndexType::ngrambf_v1)
        {
            err(
                format!("{f}.ngram"),
                "applies to ngrambf_v1 only, between 1 and 16".into(),
            );
        }
        if ix.granularity.is_some_and(|g| !(1..=1000).contains(&g)) {
            err(
                format!("{f}.granularity"),
                "must be between 1 and 1000".into(),
            );
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(Table {
        name: t.name.clone(),
        retention_days: t.retention_days,
        columns,
        order_by,
        partition_by: partition_by?,
        indexes,
        index_granularity: t.index_granularity.unwrap_or(DEFAULT_INDEX_GRANULARITY),
    })
}
