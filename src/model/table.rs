//! A pipeline's table, resolved: defaults applied (columns, ORDER BY, PARTITION BY, indexes,
//! granularity), every expression parsed once. The DDL and the gateways are built from this,
//! never from the spec, so nothing is defaulted or parsed twice.

use super::Problems;
use crate::crd::{
    AttributeMap, ColumnSpec, ColumnType, IndexSpec, IndexType, RollupSpec, RollupWindow,
    TableSpec, TextTokenizer,
};
use crate::ident::{
    ColumnExpr, INDEX_FUNCTIONS, KEY_FUNCTIONS, TIME_FUNCTIONS, is_attribute_key, is_identifier,
};
use std::collections::{BTreeMap, BTreeSet};

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

/// The pipeline a table belongs to: written into the table's COMMENT when it is created, and
/// checked before any plan, so no other pipeline alters or drops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
    /// Informational (a pipeline deleted with `Retain` and created again under its name has a
    /// new uid and keeps its tables: only its namespace can create it there).
    pub uid: Option<String>,
}

/// How an owner record starts in a table's COMMENT.
pub const OWNER_PREFIX: &str = "otelhouse owner: LogPipeline ";

impl Owner {
    /// The COMMENT text: `otelhouse owner: LogPipeline <namespace>/<name>[ uid <uid>]`.
    pub fn record(&self) -> String {
        match &self.uid {
            Some(uid) => format!("{OWNER_PREFIX}{}/{} uid {uid}", self.namespace, self.name),
            None => format!("{OWNER_PREFIX}{}/{}", self.namespace, self.name),
        }
    }

    /// The owner a COMMENT records, or None when it is no owner record.
    pub fn parse(comment: &str) -> Option<Self> {
        let rest = comment.strip_prefix(OWNER_PREFIX)?;
        let (id, uid) = match rest.split_once(" uid ") {
            Some((id, uid)) => (id, Some(uid.to_string())),
            None => (rest, None),
        };
        let (namespace, name) = id.split_once('/')?;
        Some(Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid,
        })
    }

    /// The same pipeline (its namespace and name: the uid does not decide).
    pub fn same(&self, other: &Owner) -> bool {
        self.namespace == other.namespace && self.name == other.name
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogPipeline {}/{}", self.namespace, self.name)
    }
}

/// Suffixes of the objects derived from each table (`<table>_ingest`, `<table>_mv`): no table
/// may end with one, so no table is named like another's derived object.
pub const DERIVED_SUFFIXES: &[&str] = &["_ingest", "_mv"];

/// What joins a table's name and a rollup's (`<table>_rollup_<name>`): no table name contains
/// it or ends with `_rollup`, so the table part of a rollup's name is always the text before the
/// first `_rollup_`, and no table is named like another's rollup.
pub const ROLLUP_INFIX: &str = "_rollup_";

/// The exporter's own low-cardinality columns a rollup may group by (besides the table's
/// extracted columns).
pub const ROLLUP_BASE_KEYS: &[&str] = &["ServiceName", "SeverityText", "SeverityNumber"];

/// The columns of every rollup table besides its keys.
pub const ROLLUP_COLUMNS: &[&str] = &["Window", "Rows", "BodyBytes"];

/// At most this many rollups a table (the CRD says the same).
pub const MAX_ROLLUPS: usize = 4;

/// Table names the operator keeps for itself: its history table, and the `otelhouse_` prefix.
pub const RESERVED_TABLE_PREFIX: &str = "otelhouse_";

/// Why a table name is reserved, if it is.
pub fn reserved_table_name(name: &str) -> Option<String> {
    if let Some(suffix) = DERIVED_SUFFIXES.iter().find(|s| name.ends_with(**s)) {
        return Some(format!(
            "{name:?} ends with {suffix:?}: each table's ingest table and view are named <table>_ingest and <table>_mv, so a table so named would be another table's object"
        ));
    }
    if name.contains(ROLLUP_INFIX) || name.ends_with(ROLLUP_INFIX.trim_end_matches('_')) {
        return Some(format!(
            "{name:?} contains {ROLLUP_INFIX:?} or ends with \"_rollup\": a table's rollups are named <table>{ROLLUP_INFIX}<name>, so a table so named could be another table's rollup"
        ));
    }
    if name.starts_with(RESERVED_TABLE_PREFIX) {
        return Some(format!(
            "{name:?}: the prefix {RESERVED_TABLE_PREFIX:?} is the operator's (its history table {})",
            crate::schema::ddl::HISTORY_TABLE
        ));
    }
    None
}

/// What ClickHouse allows a function or an index on: the type family of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Date, DateTime, DateTime64.
    Time,
    String,
    Number,
    Bool,
    Map,
}

impl Family {
    fn of(c: ColumnType) -> Self {
        match c {
            ColumnType::String => Family::String,
            ColumnType::Int64 | ColumnType::UInt64 | ColumnType::Float64 => Family::Number,
            ColumnType::Bool => Family::Bool,
        }
    }

    /// The family of a built-in column (see `ddl::INGEST_COLUMNS`).
    fn of_base(name: &str) -> Self {
        match name {
            "Timestamp" | "EventDate" | "EventTime" => Family::Time,
            "TraceFlags" | "SeverityNumber" => Family::Number,
            n if MAP_COLUMNS.contains(&n) => Family::Map,
            _ => Family::String,
        }
    }
}

/// Partition keys of a day or coarser over a time column. A batch spans at most the clamped
/// window (retention plus two days), and the insert allows that many daily partitions: anything
/// finer (the raw Timestamp, an hour) or not bounded by time (a column's values, a hash) makes
/// batches span more partitions than `max_partitions_per_insert_block`, and the server refuses
/// them whole, on every retry.
const DAILY_PARTITION_FUNCTIONS: &[&str] = &["toDate", "toStartOfDay", "toYYYYMMDD", "toYYYYMM"];

/// Why `function` does not fit a column of `family`, if it does not.
fn function_misfit(function: &str, family: Family) -> Option<&'static str> {
    if TIME_FUNCTIONS.contains(&function) && family != Family::Time {
        return Some(
            "takes a Date, DateTime or DateTime64 column (Timestamp, EventTime, EventDate)",
        );
    }
    if function == "lower" && family != Family::String {
        return Some("takes a String column");
    }
    if matches!(function, "mapKeys" | "mapValues") && family != Family::Map {
        return Some("applies to the map columns only");
    }
    None
}

/// A resolved table.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    /// The pipeline it belongs to (None: a table resolved alone, by tools and tests).
    pub owner: Option<Owner>,
    pub retention_days: u32,
    pub columns: Vec<Column>,
    pub order_by: Vec<ColumnExpr>,
    pub partition_by: ColumnExpr,
    pub indexes: Vec<Index>,
    pub index_granularity: u32,
    pub rollups: Vec<Rollup>,
}

/// A rollup of a table, resolved: its names, window, keys (column names of the table) and
/// retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollup {
    /// The rollup's own name (`hour`).
    pub name: String,
    /// `<table>_rollup_<name>`.
    pub table: String,
    /// `<table>_rollup_<name>_mv`.
    pub view: String,
    pub window: RollupWindow,
    pub keys: Vec<String>,
    pub retention_days: u32,
}

/// The rollup table of `table`'s rollup `name`.
pub fn rollup_table_name(table: &str, name: &str) -> String {
    format!("{table}{ROLLUP_INFIX}{name}")
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
    /// The partition key (a day or coarser: validated) is of the record's timestamp itself or of
    /// the EventDate/EventTime the view derives from it, so the partitions one batch spans follow
    /// from the gateways' timestamp clamp; an extracted time column's are not bounded by it.
    pub fn partitions_follow_timestamp(&self) -> bool {
        matches!(
            self.partition_by.column.as_str(),
            "Timestamp" | "EventDate" | "EventTime"
        )
    }

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

/// The keys of a rollup, or the default: Namespace (where the table has it), ServiceName,
/// SeverityText.
fn rollup_keys_of(r: &RollupSpec, columns: &[Column]) -> Vec<String> {
    if !r.keys.is_empty() {
        return r.keys.clone();
    }
    let mut keys = Vec::new();
    if columns.iter().any(|c| c.name == "Namespace") {
        keys.push("Namespace".to_string());
    }
    keys.extend(["ServiceName", "SeverityText"].map(String::from));
    keys
}

/// Resolve a table's rollups (at `field`, e.g. `spec.tables[0]`); problems go to `err`.
fn resolve_rollups(
    t: &TableSpec,
    columns: &[Column],
    field: &str,
    err: &mut impl FnMut(String, String),
) -> Vec<Rollup> {
    if t.rollups.len() > MAX_ROLLUPS {
        err(
            format!("{field}.rollups"),
            format!(
                "{} rollups; at most {MAX_ROLLUPS} (each one is written on every insert)",
                t.rollups.len()
            ),
        );
    }
    let allowed: Vec<&str> = columns
        .iter()
        .map(|c| c.name.as_str())
        .chain(ROLLUP_BASE_KEYS.iter().copied())
        .filter(|n| !ROLLUP_COLUMNS.contains(n))
        .collect();
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (i, r) in t.rollups.iter().enumerate() {
        let f = format!("{field}.rollups[{i}]");
        let name_ok = r.name.len() <= 16
            && r.name.starts_with(|c: char| c.is_ascii_lowercase())
            && r.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            err(
                format!("{f}.name"),
                format!(
                    "{:?} is not a safe rollup name (a lowercase letter, then lowercase letters, digits, underscore; at most 16)",
                    r.name
                ),
            );
        } else if let Some(suffix) = DERIVED_SUFFIXES.iter().find(|s| r.name.ends_with(**s)) {
            err(
                format!("{f}.name"),
                format!(
                    "{:?} ends with {suffix:?}: a rollup's view is named <table>{ROLLUP_INFIX}<name>_mv, so a rollup so named would be another rollup's view",
                    r.name
                ),
            );
        } else if !names.insert(r.name.clone()) {
            err(
                format!("{f}.name"),
                format!("rollup {} is defined twice", r.name),
            );
        }
        let keys = rollup_keys_of(r, columns);
        if keys.len() > 8 {
            err(
                format!("{f}.keys"),
                format!("{} keys; at most 8", keys.len()),
            );
        }
        let mut seen = BTreeSet::new();
        for (j, k) in keys.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                let why = if r.keys.is_empty() {
                    " (the default keys name it: set keys)"
                } else {
                    ""
                };
                err(
                    format!("{f}.keys[{j}]"),
                    format!(
                        "{k:?} is not a column a rollup can group by{why}: one of the table's extracted columns or the exporter's low-cardinality columns: {}",
                        allowed.join(", ")
                    ),
                );
            } else if !seen.insert(k.as_str()) {
                err(format!("{f}.keys[{j}]"), format!("key {k} is named twice"));
            }
        }
        let retention_days = r.retention_days.unwrap_or(t.retention_days);
        if !(1..=3650).contains(&retention_days) {
            err(
                format!("{f}.retentionDays"),
                format!("{retention_days} is not between 1 and 3650"),
            );
        }
        out.push(Rollup {
            name: r.name.clone(),
            table: rollup_table_name(&t.name, &r.name),
            view: format!("{}_mv", rollup_table_name(&t.name, &r.name)),
            window: r.window,
            keys,
            retention_days,
        });
    }
    out
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
    if is_identifier(&t.name)
        && let Some(why) = reserved_table_name(&t.name)
    {
        err(format!("{field}.name"), format!("is reserved: {why}"));
    }
    if !(1..=3650).contains(&t.retention_days) {
        err(
            format!("{field}.retentionDays"),
            format!("{} is not between 1 and 3650", t.retention_days),
        );
    }
    let specs = columns_of(t);
    let mut known: BTreeSet<String> = BASE_COLUMNS.iter().map(|s| s.to_string()).collect();
    let mut family: BTreeMap<String, Family> = BASE_COLUMNS
        .iter()
        .map(|s| (s.to_string(), Family::of_base(s)))
        .collect();
    let mut columns = Vec::new();
    for (i, c) in specs.iter().enumerate() {
        let f = format!("{field}.columns[{i}]");
        if !is_identifier(&c.name) {
            err(
                format!("{f}.name"),
                format!("{:?} is not a safe column name", c.name),
            );
        } else if c.name.starts_with('_') {
            // ClickHouse's virtual columns: `_row_exists`, `_block_number`, `_block_offset`
            // are refused at CREATE; others (`_part`, `_partition_id`, ...) are accepted and
            // then hide the virtual column from every query.
            err(
                format!("{f}.name"),
                format!(
                    "{:?}: names starting with _ are ClickHouse's virtual columns (_part, _row_exists, ...)",
                    c.name
                ),
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
        family.insert(c.name.clone(), Family::of(c.type_));
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
        let Some(fam) = family.get(&e.column).copied() else {
            return Err(format!("`{}` is not a column of this table", e.column));
        };
        if let Some(f) = e.function
            && let Some(why) = function_misfit(f, fam)
        {
            return Err(format!("`{e}`: {f} {why}; {} is {fam:?}", e.column));
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
        Ok(e) if !is_daily_partition(&e, &family) => {
            err(
                format!("{field}.partitionBy"),
                format!(
                    "`{e}` makes a batch span more partitions than an insert may (max_partitions_per_insert_block): partition by a day or coarser of a time column: {}(Timestamp) or EventDate",
                    DAILY_PARTITION_FUNCTIONS.join("(Timestamp), ")
                ),
            );
            None
        }
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
                let stringy = is_map
                    || e.function == Some("lower")
                    || family.get(&e.column) == Some(&Family::String);
                if matches!(
                    ix.type_,
                    IndexType::tokenbf_v1 | IndexType::ngrambf_v1 | IndexType::text
                ) && !stringy
                {
                    // ClickHouse refuses these at CREATE: "can only be used with column types
                    // String, FixedString, LowCardinality(String) ... or Array(String)".
                    err(
                        format!("{f}.type"),
                        format!(
                            "{:?} indexes String columns (or a map's mapKeys/mapValues) only; `{e}` is not a String",
                            ix.type_
                        ),
                    );
                }
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
    // ClickHouse refuses 0 ("index_granularity: value 0 makes no sense"); past 65536 rows a
    // granule, every point lookup reads that many rows whatever the index says.
    if let Some(g) = t.index_granularity
        && !(1..=65536).contains(&g)
    {
        problems.add(
            format!("{field}.indexGranularity"),
            format!("{g} is not between 1 and 65536"),
        );
    }
    let rollups = resolve_rollups(t, &columns, field, &mut |f, m| problems.add(f, m));
    if problems.len() > before {
        return None;
    }
    Some(Table {
        name: t.name.clone(),
        owner: None,
        retention_days: t.retention_days,
        columns,
        order_by,
        partition_by: partition_by?,
        indexes,
        index_granularity: t.index_granularity.unwrap_or(DEFAULT_INDEX_GRANULARITY),
        rollups,
    })
}

/// A partition key of a day or coarser over a time column (see [`DAILY_PARTITION_FUNCTIONS`]).
fn is_daily_partition(e: &ColumnExpr, family: &BTreeMap<String, Family>) -> bool {
    let time = family.get(&e.column) == Some(&Family::Time);
    match e.function {
        None => e.column == "EventDate",
        Some(f) => time && DAILY_PARTITION_FUNCTIONS.contains(&f),
    }
}
