//! The live schema of a store, read from `system.tables`, `system.columns` and
//! `system.data_skipping_indices`: the facts the migration planner compares with the layout.

use clickhouse::Client;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A table as it is in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveTable {
    pub engine: String,
    pub sorting_key: String,
    pub partition_key: String,
    /// The TTL expression, from the stored CREATE statement.
    pub ttl: Option<String>,
    /// The `index_granularity` setting, from the stored CREATE statement.
    pub index_granularity: Option<u32>,
    pub comment: String,
    /// Column -> type.
    pub columns: BTreeMap<String, String>,
    /// Column -> its COMMENT, where it has one (a rollup's window).
    pub column_comments: BTreeMap<String, String>,
    /// Index name -> (expression, type, granularity).
    pub indexes: BTreeMap<String, LiveIndex>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveIndex {
    pub expr: String,
    pub type_full: String,
    pub granularity: u64,
}

/// The tables of one database that the planner looks at (by name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSchema {
    pub database_exists: bool,
    pub tables: BTreeMap<String, LiveTable>,
}

#[derive(clickhouse::Row, Deserialize)]
struct TableRow {
    name: String,
    engine: String,
    sorting_key: String,
    partition_key: String,
    comment: String,
    create_table_query: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct ColumnRow {
    table: String,
    name: String,
    #[serde(rename = "type")]
    type_: String,
    comment: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct IndexRow {
    table: String,
    name: String,
    expr: String,
    type_full: String,
    granularity: u64,
}

/// Read the live schema of the named tables of `database`. Only these: a store holds every
/// pipeline's tables, and reading all of them for each pipeline would make a platform's
/// reconcile pass quadratic in pipelines, in time and in the operator's memory.
pub async fn read(
    client: &Client,
    database: &str,
    names: &[&str],
) -> Result<LiveSchema, clickhouse::error::Error> {
    let exists: u64 = client
        .query("SELECT count() FROM system.databases WHERE name = ?")
        .bind(database)
        .fetch_one()
        .await?;
    if exists == 0 {
        return Ok(LiveSchema::default());
    }
    let mut schema = LiveSchema {
        database_exists: true,
        tables: BTreeMap::new(),
    };
    let tables = client
        .query(
            "SELECT name, engine, sorting_key, partition_key, comment, create_table_query \
             FROM system.tables WHERE database = ? AND has(?, name)",
        )
        .bind(database)
        .bind(names)
        .fetch_all::<TableRow>()
        .await?;
    for t in tables {
        schema.tables.insert(
            t.name,
            LiveTable {
                engine: t.engine,
                sorting_key: t.sorting_key,
                partition_key: t.partition_key,
                ttl: ttl_of(&t.create_table_query),
                index_granularity: setting_of(&t.create_table_query, "index_granularity")
                    .and_then(|v| v.parse().ok()),
                comment: t.comment,
                ..Default::default()
            },
        );
    }
    let columns = client
        .query("SELECT table, name, type, comment FROM system.columns WHERE database = ? AND has(?, table)")
        .bind(database)
        .bind(names)
        .fetch_all::<ColumnRow>()
        .await?;
    for c in columns {
        if let Some(t) = schema.tables.get_mut(&c.table) {
            if !c.comment.is_empty() {
                t.column_comments.insert(c.name.clone(), c.comment);
            }
            t.columns.insert(c.name, c.type_);
        }
    }
    let indexes = client
        .query(
            "SELECT table, name, expr, type_full, granularity \
             FROM system.data_skipping_indices WHERE database = ? AND has(?, table)",
        )
        .bind(database)
        .bind(names)
        .fetch_all::<IndexRow>()
        .await?;
    for i in indexes {
        if let Some(t) = schema.tables.get_mut(&i.table) {
            t.indexes.insert(
                i.name,
                LiveIndex {
                    expr: i.expr,
                    type_full: i.type_full,
                    granularity: i.granularity,
                },
            );
        }
    }
    Ok(schema)
}

/// The rollup tables and views that exist for the named tables (`<table>_rollup_*`), whether
/// the spec still names them or not: the planner reports those it no longer names, and
/// `deletionPolicy: Drop` drops them all.
pub async fn rollup_names(
    client: &Client,
    database: &str,
    tables: &[&str],
) -> Result<Vec<String>, clickhouse::error::Error> {
    let prefixes: Vec<String> = tables
        .iter()
        .map(|t| format!("{t}{}", crate::model::table::ROLLUP_INFIX))
        .collect();
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    client
        .query(
            "SELECT name FROM system.tables \
             WHERE database = ? AND arrayExists(p -> startsWith(name, p), ?) ORDER BY name",
        )
        .bind(database)
        .bind(prefixes)
        .fetch_all::<String>()
        .await
}

/// The table-level TTL of a stored CREATE statement (`TTL <expr>` up to `SETTINGS`).
pub fn ttl_of(create: &str) -> Option<String> {
    let start = create.find(" TTL ")? + " TTL ".len();
    let rest = &create[start..];
    let end = rest.find(" SETTINGS ").unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

/// A `name = value` setting of a stored CREATE statement.
pub fn setting_of(create: &str, name: &str) -> Option<String> {
    let settings = &create[create.rfind(" SETTINGS ")? + " SETTINGS ".len()..];
    settings.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == name).then(|| v.trim().to_string())
    })
}

/// Compare SQL fragments the way ClickHouse reformats them: no backticks, no spaces.
pub fn normalize(sql: &str) -> String {
    sql.chars()
        .filter(|c| !c.is_whitespace() && *c != '`')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_read_from_the_create_statement() {
        let q = "CREATE TABLE otel.t (`x` UInt8) ENGINE = MergeTree PARTITION BY EventDate ORDER BY (PodName, Timestamp) TTL EventTime + toIntervalDay(180) SETTINGS index_granularity = 8192";
        assert_eq!(ttl_of(q).as_deref(), Some("EventTime + toIntervalDay(180)"));
        assert_eq!(ttl_of("CREATE TABLE t (x UInt8) ENGINE = Null"), None);
        assert_eq!(normalize("`a`, toStartOfHour(`b`)"), "a,toStartOfHour(b)");
        assert_eq!(setting_of(q, "index_granularity").as_deref(), Some("8192"));
        assert_eq!(setting_of(q, "nope"), None);
    }
}
