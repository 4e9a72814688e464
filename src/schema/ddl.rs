//! DDL generation (pure): a pipeline table's layout in one store, and the statements that create
//! it. Every identifier is validated before it gets here and quoted here; attribute keys are
//! string literals.

use crate::crd::{ColumnType, TableEngine, TextTokenizer};
use crate::ident::{ColumnExpr, quote_ident, quote_sql_string};
use crate::model::table::{Index as ModelIndex, IndexKind, Owner, ROLLUP_INFIX, Table};
use sha2::{Digest, Sha256};

/// The columns the pinned exporter (v0.150.0) inserts, in its INSERT's order, with the types of
/// its own logs table. `EventName` is inserted only when the table has it; ours does.
pub const INGEST_COLUMNS: &[(&str, &str)] = &[
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("TraceFlags", "UInt8"),
    ("SeverityText", "LowCardinality(String)"),
    ("SeverityNumber", "UInt8"),
    ("ServiceName", "LowCardinality(String)"),
    ("Body", "String"),
    ("ResourceSchemaUrl", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeSchemaUrl", "LowCardinality(String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "LowCardinality(String)"),
    ("ScopeAttributes", "Map(LowCardinality(String), String)"),
    ("LogAttributes", "Map(LowCardinality(String), String)"),
    ("EventName", "String"),
];

/// The history table every store keeps: what ran where.
pub const HISTORY_TABLE: &str = "otelhouse_schema_history";

/// One column of the target table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
    pub codec: String,
    /// Its expression in the view's SELECT.
    pub select: String,
}

/// One skip index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    /// The indexed expression, SQL.
    pub expr: String,
    /// `bloom_filter(0.001)` etc.
    pub type_sql: String,
    pub granularity: u32,
}

/// A pipeline table as it must be in one store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLayout {
    pub database: String,
    pub cluster: Option<String>,
    pub engine: TableEngine,
    pub table: String,
    pub ingest: String,
    pub view: String,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    /// SQL expressions.
    pub order_by: Vec<String>,
    pub partition_by: String,
    pub ttl_days: u32,
    pub index_granularity: u32,
    /// The pipeline the table belongs to: its record is the COMMENT of the target and the
    /// ingest table, checked before any plan (None: tools and tests that name no pipeline).
    pub owner: Option<Owner>,
    /// The table's rollups, each fed from the same ingest table.
    pub rollups: Vec<RollupLayout>,
}

/// A rollup as it must be in one store: an AggregatingMergeTree table of counts per window
/// and keys, and the view that fills it from the ingest table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollupLayout {
    /// The rollup's own name (`hour`).
    pub name: String,
    pub table: String,
    pub view: String,
    /// The tumbling window, in seconds.
    pub window_seconds: u32,
    /// The key columns: the target's names and types, and the main view's expressions over
    /// the ingest columns.
    pub keys: Vec<Column>,
    pub ttl_days: u32,
}

impl RollupLayout {
    /// A rollup known only by its names: what dropping it needs.
    pub fn named(table: &str) -> Self {
        RollupLayout {
            name: table
                .split_once(ROLLUP_INFIX)
                .map(|(_, n)| n.to_string())
                .unwrap_or_default(),
            table: table.to_string(),
            view: format!("{table}_mv"),
            window_seconds: 0,
            keys: Vec::new(),
            ttl_days: 0,
        }
    }

    /// What the `Window` column's COMMENT says: the window is a property of the rollup table
    /// (its rows are counts per window), so the planner reads it there, not from the view.
    pub fn window_comment(&self) -> String {
        format!("tumbling window {} s", self.window_seconds)
    }
}

/// The layout of a resolved table in a store.
pub fn layout(t: &Table, at: super::Placement<'_>) -> TableLayout {
    let mut columns: Vec<Column> = Vec::new();
    let base = |name: &str, sql_type: &str, codec: &str, select: &str| Column {
        name: name.to_string(),
        sql_type: sql_type.to_string(),
        codec: codec.to_string(),
        select: select.to_string(),
    };
    for (name, ty) in INGEST_COLUMNS {
        let codec = if *name == "Timestamp" {
            "Delta(8), ZSTD(1)"
        } else {
            "ZSTD(1)"
        };
        columns.push(base(name, ty, codec, &quote_ident(name)));
        if *name == "Timestamp" {
            columns.push(base(
                "EventDate",
                "Date",
                "Delta(2), ZSTD(1)",
                "toDate(`Timestamp`)",
            ));
            columns.push(base(
                "EventTime",
                "DateTime",
                "Delta(4), ZSTD(1)",
                "toDateTime(`Timestamp`)",
            ));
        }
    }
    for c in &t.columns {
        let value = format!(
            "{}[{}]",
            quote_ident(map_name(c.from)),
            quote_sql_string(&c.key)
        );
        let (sql_type, select) = match c.type_ {
            ColumnType::String if c.low_cardinality => ("LowCardinality(String)", value),
            ColumnType::String => ("String", value),
            ColumnType::Int64 => ("Int64", format!("toInt64OrZero({value})")),
            ColumnType::UInt64 => ("UInt64", format!("toUInt64OrZero({value})")),
            ColumnType::Float64 => ("Float64", format!("toFloat64OrZero({value})")),
            ColumnType::Bool => ("Bool", format!("lower({value}) IN ('true', '1', 'yes')")),
        };
        columns.push(base(&c.name, sql_type, "ZSTD(1)", &select));
    }
    let rollups = t
        .rollups
        .iter()
        .map(|r| RollupLayout {
            name: r.name.clone(),
            table: r.table.clone(),
            view: r.view.clone(),
            window_seconds: r.window.seconds(),
            // Resolved keys are columns of the table: the same type and expression.
            keys: r
                .keys
                .iter()
                .filter_map(|k| columns.iter().find(|c| &c.name == k).cloned())
                .collect(),
            ttl_days: r.retention_days,
        })
        .collect();
    TableLayout {
        database: at.database.to_string(),
        cluster: at.cluster.map(str::to_string),
        engine: at.engine,
        table: t.name.clone(),
        ingest: t.ingest_name(),
        view: t.view_name(),
        columns,
        indexes: t.indexes.iter().map(index).collect(),
        order_by: t.order_by.iter().map(ColumnExpr::to_sql).collect(),
        partition_by: t.partition_by.to_sql(),
        ttl_days: t.retention_days,
        index_granularity: t.index_granularity,
        owner: t.owner.clone(),
        rollups,
    }
}

fn map_name(m: crate::crd::AttributeMap) -> &'static str {
    match m {
        crate::crd::AttributeMap::ResourceAttributes => "ResourceAttributes",
        crate::crd::AttributeMap::LogAttributes => "LogAttributes",
        crate::crd::AttributeMap::ScopeAttributes => "ScopeAttributes",
    }
}

fn index(ix: &ModelIndex) -> Index {
    let type_sql = match &ix.kind {
        IndexKind::BloomFilter { false_positive } => format!("bloom_filter({false_positive})"),
        IndexKind::TokenBf { size_bytes, hashes } => {
            format!("tokenbf_v1({size_bytes}, {hashes}, 0)")
        }
        IndexKind::NgramBf {
            ngram,
            size_bytes,
            hashes,
        } => format!("ngrambf_v1({ngram}, {size_bytes}, {hashes}, 0)"),
        IndexKind::Text {
            tokenizer: TextTokenizer::Array,
        } => "text(tokenizer = 'array')".to_string(),
        IndexKind::Text {
            tokenizer: TextTokenizer::SplitByNonAlpha,
        } => "text(tokenizer = splitByNonAlpha)".to_string(),
        IndexKind::MinMax => "minmax".to_string(),
        IndexKind::Set => "set(100)".to_string(),
    };
    Index {
        name: ix.name.clone(),
        expr: ix.expr.to_sql(),
        type_sql,
        granularity: ix.granularity,
    }
}

impl TableLayout {
    fn q(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.database), quote_ident(name))
    }

    /// ` ON CLUSTER `c`` or nothing.
    pub fn on_cluster(&self) -> String {
        self.cluster
            .as_deref()
            .map(|c| format!(" ON CLUSTER {}", quote_ident(c)))
            .unwrap_or_default()
    }

    /// `ENGINE = ...` of the target (and the history table).
    pub fn engine_sql(&self) -> String {
        match self.engine {
            TableEngine::MergeTree => "MergeTree".to_string(),
            TableEngine::ReplicatedMergeTree => {
                "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
                    .to_string()
            }
            TableEngine::SharedMergeTree => "SharedMergeTree".to_string(),
        }
    }

    pub fn column_sql(c: &Column) -> String {
        format!("{} {} CODEC({})", quote_ident(&c.name), c.sql_type, c.codec)
    }

    pub fn index_sql(i: &Index) -> String {
        format!(
            "INDEX {} {} TYPE {} GRANULARITY {}",
            quote_ident(&i.name),
            i.expr,
            i.type_sql,
            i.granularity
        )
    }

    pub fn ttl_sql(&self) -> String {
        format!("`EventTime` + toIntervalDay({})", self.ttl_days)
    }

    /// ` COMMENT '<owner record>'` or nothing (the clause ends a CREATE TABLE).
    fn comment_sql(&self) -> String {
        self.owner
            .as_ref()
            .map(|o| format!("\nCOMMENT {}", quote_sql_string(&o.record())))
            .unwrap_or_default()
    }

    /// Write the owner record on `table` (the target or the ingest table): a table this
    /// pipeline's operator made before the records existed, or after a change of uid.
    pub fn claim(&self, table: &str) -> Option<String> {
        let o = self.owner.as_ref()?;
        Some(format!(
            "ALTER TABLE {}{} MODIFY COMMENT {}",
            self.q(table),
            self.on_cluster(),
            quote_sql_string(&o.record())
        ))
    }

    pub fn create_database(&self) -> String {
        format!(
            "CREATE DATABASE IF NOT EXISTS {}{}",
            quote_ident(&self.database),
            self.on_cluster()
        )
    }

    /// The target table. Retried batches are deduplicated: the replicated engines do it by
    /// default, plain MergeTree needs a window.
    pub fn create_target(&self) -> String {
        let mut parts: Vec<String> = self.columns.iter().map(Self::column_sql).collect();
        parts.extend(self.indexes.iter().map(Self::index_sql));
        let mut settings = vec![
            format!("index_granularity = {}", self.index_granularity),
            "ttl_only_drop_parts = 1".to_string(),
        ];
        if self.engine == TableEngine::MergeTree {
            settings.push("non_replicated_deduplication_window = 1000".to_string());
        }
        format!(
            "CREATE TABLE IF NOT EXISTS {}{}\n(\n    {}\n)\nENGINE = {}\nPARTITION BY {}\nORDER BY ({})\nTTL {}\nSETTINGS {}{}",
            self.q(&self.table),
            self.on_cluster(),
            parts.join(",\n    "),
            self.engine_sql(),
            self.partition_by,
            self.order_by.join(", "),
            self.ttl_sql(),
            settings.join(", "),
            self.comment_sql()
        )
    }

    /// The Null table the exporter inserts into: exactly its INSERT's columns.
    pub fn create_ingest(&self) -> String {
        let cols: Vec<String> = INGEST_COLUMNS
            .iter()
            .map(|(n, t)| format!("{} {t}", quote_ident(n)))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {}{}\n(\n    {}\n)\nENGINE = Null{}",
            self.q(&self.ingest),
            self.on_cluster(),
            cols.join(",\n    "),
            self.comment_sql()
        )
    }

    /// The view's SELECT.
    pub fn view_select(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let name = quote_ident(&c.name);
                if c.select == name {
                    name
                } else {
                    format!("{} AS {name}", c.select)
                }
            })
            .collect();
        format!(
            "SELECT\n    {}\nFROM {}",
            cols.join(",\n    "),
            self.q(&self.ingest)
        )
    }

    /// A short hash of the view's SELECT, kept in the view's comment so the planner can tell
    /// whether the live view is this one (ClickHouse reformats the stored query text).
    pub fn view_fingerprint(&self) -> String {
        let digest = Sha256::digest(self.view_select().as_bytes());
        format!("otelhouse:{}", hex::encode(&digest[..8]))
    }

    pub fn create_view(&self) -> String {
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {}{} TO {}\nAS {}\nCOMMENT {}",
            self.q(&self.view),
            self.on_cluster(),
            self.q(&self.table),
            self.view_select(),
            quote_sql_string(&self.view_fingerprint())
        )
    }

    /// Replace the view's query (after the target has the new columns).
    pub fn modify_view(&self) -> Vec<String> {
        vec![
            format!(
                "ALTER TABLE {}{} MODIFY QUERY {}",
                self.q(&self.view),
                self.on_cluster(),
                self.view_select()
            ),
            format!(
                "ALTER TABLE {}{} MODIFY COMMENT {}",
                self.q(&self.view),
                self.on_cluster(),
                quote_sql_string(&self.view_fingerprint())
            ),
        ]
    }

    pub fn add_column(&self, table: &str, c: &Column) -> String {
        format!(
            "ALTER TABLE {}{} ADD COLUMN IF NOT EXISTS {}",
            self.q(table),
            self.on_cluster(),
            Self::column_sql(c)
        )
    }

    pub fn add_ingest_column(&self, name: &str, sql_type: &str) -> String {
        format!(
            "ALTER TABLE {}{} ADD COLUMN IF NOT EXISTS {} {sql_type}",
            self.q(&self.ingest),
            self.on_cluster(),
            quote_ident(name)
        )
    }

    pub fn add_index(&self, i: &Index) -> String {
        format!(
            "ALTER TABLE {}{} ADD {}",
            self.q(&self.table),
            self.on_cluster(),
            Self::index_sql(i).replacen("INDEX", "INDEX IF NOT EXISTS", 1)
        )
    }

    pub fn drop_index(&self, name: &str) -> String {
        format!(
            "ALTER TABLE {}{} DROP INDEX IF EXISTS {}",
            self.q(&self.table),
            self.on_cluster(),
            quote_ident(name)
        )
    }

    pub fn modify_ttl(&self) -> String {
        format!(
            "ALTER TABLE {}{} MODIFY TTL {}",
            self.q(&self.table),
            self.on_cluster(),
            self.ttl_sql()
        )
    }

    /// Every statement of a fresh install, in order: target first, then the ingest table, then
    /// the view that connects them.
    pub fn create_all(&self) -> Vec<String> {
        let mut out = vec![
            self.create_database(),
            self.create_target(),
            self.create_ingest(),
            self.create_view(),
        ];
        for r in &self.rollups {
            out.push(self.create_rollup(r));
            out.push(self.create_rollup_view(r));
        }
        out
    }

    /// Drop the pipeline table: the views first (the rollups' and the table's, so nothing
    /// writes any more), then the ingest table, the rollup tables and the target table. Only
    /// for `deletionPolicy: Drop`.
    pub fn drop_all(&self) -> Vec<String> {
        let views = self.rollups.iter().map(|r| &r.view);
        let tables = self.rollups.iter().map(|r| &r.table);
        views
            .chain([&self.view, &self.ingest])
            .chain(tables)
            .chain([&self.table])
            .map(|t| {
                format!(
                    "DROP TABLE IF EXISTS {}{} SYNC",
                    self.q(t),
                    self.on_cluster()
                )
            })
            .collect()
    }

    /// The statements that drop a table's view, ingest table and target, by the table's name
    /// alone (a pipeline whose spec no longer resolves is still dropped by what it was).
    pub fn drop_by_name(table: &str, at: super::Placement<'_>) -> Vec<String> {
        Self::named(table, at, None).drop_all()
    }

    /// A layout that knows only a table's name, place and owner: what dropping it needs.
    pub fn named(table: &str, at: super::Placement<'_>, owner: Option<Owner>) -> Self {
        TableLayout {
            database: at.database.to_string(),
            cluster: at.cluster.map(str::to_string),
            engine: at.engine,
            table: table.to_string(),
            ingest: format!("{table}_ingest"),
            view: format!("{table}_mv"),
            columns: Vec::new(),
            indexes: Vec::new(),
            order_by: Vec::new(),
            partition_by: String::new(),
            ttl_days: 0,
            index_granularity: 0,
            owner,
            rollups: Vec::new(),
        }
    }

    /// The history table of the store (see [`fresh_install`] for the whole order). (same engine family as the targets).
    pub fn create_history(&self) -> String {
        let mut settings = String::new();
        if self.engine == TableEngine::MergeTree {
            settings = "\nSETTINGS non_replicated_deduplication_window = 0".to_string();
        }
        format!(
            "CREATE TABLE IF NOT EXISTS {}{}\n(\n    `applied_at` DateTime64(3) DEFAULT now64(3),\n    `pipeline` String,\n    `table` String,\n    `generation` Int64,\n    `spec_hash` String,\n    `statements` Array(String),\n    `operator_version` String\n)\nENGINE = {}\nORDER BY (`pipeline`, `table`, `applied_at`){settings}",
            self.q(HISTORY_TABLE),
            self.on_cluster(),
            self.engine_sql()
        )
    }
}

impl TableLayout {
    /// `ENGINE = ...` of a rollup table: the Aggregating variant of the store's family.
    pub fn rollup_engine_sql(&self) -> String {
        match self.engine {
            TableEngine::MergeTree => "AggregatingMergeTree".to_string(),
            TableEngine::ReplicatedMergeTree => {
                "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
                    .to_string()
            }
            TableEngine::SharedMergeTree => "SharedAggregatingMergeTree".to_string(),
        }
    }

    /// The rollup's sorting key: Window first (every query of a rollup is a time range), then
    /// the keys as given.
    pub fn rollup_order_by(r: &RollupLayout) -> Vec<String> {
        std::iter::once(quote_ident("Window"))
            .chain(r.keys.iter().map(|k| quote_ident(&k.name)))
            .collect()
    }

    pub fn rollup_ttl_sql(r: &RollupLayout) -> String {
        format!("`Window` + toIntervalDay({})", r.ttl_days)
    }

    /// The rollup table: Window, the keys, and the two measures, summed when parts merge.
    pub fn create_rollup(&self, r: &RollupLayout) -> String {
        let mut cols = vec![format!(
            "`Window` DateTime CODEC(Delta(4), ZSTD(1)) COMMENT {}",
            quote_sql_string(&r.window_comment())
        )];
        cols.extend(r.keys.iter().map(Self::column_sql));
        cols.push("`Rows` SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))".to_string());
        cols.push("`BodyBytes` SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))".to_string());
        format!(
            "CREATE TABLE IF NOT EXISTS {}{}\n(\n    {}\n)\nENGINE = {}\nPARTITION BY toDate(`Window`)\nORDER BY ({})\nTTL {}\nSETTINGS ttl_only_drop_parts = 1{}",
            self.q(&r.table),
            self.on_cluster(),
            cols.join(",\n    "),
            self.rollup_engine_sql(),
            Self::rollup_order_by(r).join(", "),
            Self::rollup_ttl_sql(r),
            self.comment_sql()
        )
    }

    /// The rollup view's SELECT: the window start, the keys by the main view's expressions,
    /// and the measures, per insert block (merges then sum the rows of equal keys).
    pub fn rollup_select(&self, r: &RollupLayout) -> String {
        let mut cols = vec![format!(
            "toStartOfInterval(toDateTime(`Timestamp`), INTERVAL {} SECOND) AS `Window`",
            r.window_seconds
        )];
        for k in &r.keys {
            let name = quote_ident(&k.name);
            cols.push(if k.select == name {
                name
            } else {
                format!("{} AS {name}", k.select)
            });
        }
        cols.push("count() AS `Rows`".to_string());
        cols.push("sum(length(`Body`)) AS `BodyBytes`".to_string());
        let group: Vec<String> = Self::rollup_order_by(r);
        format!(
            "SELECT\n    {}\nFROM {}\nGROUP BY {}",
            cols.join(",\n    "),
            self.q(&self.ingest),
            group.join(", ")
        )
    }

    pub fn rollup_fingerprint(&self, r: &RollupLayout) -> String {
        let digest = Sha256::digest(self.rollup_select(r).as_bytes());
        format!("otelhouse:{}", hex::encode(&digest[..8]))
    }

    pub fn create_rollup_view(&self, r: &RollupLayout) -> String {
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {}{} TO {}\nAS {}\nCOMMENT {}",
            self.q(&r.view),
            self.on_cluster(),
            self.q(&r.table),
            self.rollup_select(r),
            quote_sql_string(&self.rollup_fingerprint(r))
        )
    }

    pub fn modify_rollup_view(&self, r: &RollupLayout) -> Vec<String> {
        vec![
            format!(
                "ALTER TABLE {}{} MODIFY QUERY {}",
                self.q(&r.view),
                self.on_cluster(),
                self.rollup_select(r)
            ),
            format!(
                "ALTER TABLE {}{} MODIFY COMMENT {}",
                self.q(&r.view),
                self.on_cluster(),
                quote_sql_string(&self.rollup_fingerprint(r))
            ),
        ]
    }

    pub fn modify_rollup_ttl(&self, r: &RollupLayout) -> String {
        format!(
            "ALTER TABLE {}{} MODIFY TTL {}",
            self.q(&r.table),
            self.on_cluster(),
            Self::rollup_ttl_sql(r)
        )
    }
}

/// Every statement of a fresh install of a pipeline's tables in one store: the database, the
/// history table, then each table (target, ingest, view).
pub fn fresh_install(layouts: &[TableLayout]) -> Vec<String> {
    let mut statements = Vec::new();
    if let Some(first) = layouts.first() {
        statements.push(first.create_database());
        statements.push(first.create_history());
    }
    for l in layouts {
        statements.extend(l.create_all().into_iter().skip(1));
    }
    statements
}
