//! What each pipeline table holds and costs, from its store's system tables (issue 13, the
//! ClickHouse side): rows and bytes in the last hour and day and in all, active parts per
//! partition against the server's limits, and the last insert error where the server keeps
//! `system.query_log`. Reading is one query per store and interval for the figures ([`read`])
//! and at most three small ones for the errors ([`insert_errors`]), whatever the number of
//! tables; the rest ([`table_usage`], [`volume`], [`tenants`],
//! [`too_many_parts`]) is pure.
//!
//! Time windows come from each active part's time range, as `system.parts` offers it: the
//! minmax index of the partition key's columns. With the default key `toDate(Timestamp)` that
//! is `min_time`/`max_time`, the part's exact first and last row (a fresh insert's part is a
//! few seconds wide, so a window is exact until merges widen parts). With `EventDate` it is
//! `min_date`/`max_date`, a whole day. Either way a part counts in a window by the share of its
//! range (clipped at now: no rows are in the future of a day's partition) that the window
//! covers, as if its rows were spread evenly over it. So for a table partitioned by
//! `EventDate`, "last day" is today's rows plus yesterday's prorated (right when the rate is
//! even over yesterday), and "last hour" is today's hourly average. Windows are by event time,
//! not insert time: a backlog of old rows replayed now does not count as the last hour.

use crate::ident::quote_sql_string;
use clickhouse::Client;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One target table to read, and the ingest table the exporter inserts into.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub table: &'a str,
    pub ingest: &'a str,
}

impl<'a> From<&'a super::ddl::TableLayout> for Target<'a> {
    fn from(l: &'a super::ddl::TableLayout) -> Self {
        Self {
            table: &l.table,
            ingest: &l.ingest,
        }
    }
}

/// Rows and bytes: compressed (what the disk or object store holds) and uncompressed (what the
/// columns are in memory, the size the source documents price ingest by).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amount {
    pub rows: u64,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, o: Self) {
        self.rows += o.rows;
        self.compressed_bytes += o.compressed_bytes;
        self.uncompressed_bytes += o.uncompressed_bytes;
    }
}

/// How a table's parts know their time range (see the module's comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRange {
    /// `min_time`/`max_time`: a DateTime column in the partition key (`toDate(Timestamp)`).
    Exact,
    /// `min_date`/`max_date`: a Date column (`EventDate`); windows are prorated over days.
    Day,
    /// No parts, or a partition key without a time column (the part's modification time).
    Unknown,
}

/// A target table's figures, as the store has them now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    pub total: Amount,
    pub last_hour: Amount,
    pub last_day: Amount,
    pub time_range: TimeRange,
    pub active_parts: u64,
    /// Active parts in the partition that has most, and which partition that is.
    pub max_parts_in_partition: u64,
    pub busiest_partition: String,
    /// The limits in force: the table's own SETTINGS, else the server's MergeTree defaults.
    pub limits: PartLimits,
}

/// The server's part limits that refuse or slow down inserts (`system.merge_tree_settings`,
/// overridden by a table's SETTINGS). ClickHouse compares the active parts of the partition an
/// insert writes to with the first two, and all of the table's with the third.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartLimits {
    pub parts_to_delay_insert: u64,
    pub parts_to_throw_insert: u64,
    pub max_parts_in_total: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct FiguresRow {
    table: String,
    rows: u64,
    compressed: u64,
    uncompressed: u64,
    rows_hour: u64,
    compressed_hour: u64,
    uncompressed_hour: u64,
    rows_day: u64,
    compressed_day: u64,
    uncompressed_day: u64,
    active_parts: u64,
    max_parts: u64,
    busiest: String,
    exact: u8,
    day: u8,
    table_delay: u64,
    table_throw: u64,
    table_total: u64,
    server_delay: u64,
    server_throw: u64,
    server_total: u64,
    replicated_delay: u64,
    replicated_throw: u64,
    replicated_total: u64,
    replicated: bool,
}

/// One query for every table: the store's tables (so an empty table is reported, with zeros)
/// joined with their active parts, aggregated per partition and then per table, and the
/// limits. `{now}` is the same instant for every part.
const FIGURES_SQL: &str = r"
SELECT
    t.name AS table,
    p.rows AS rows, p.compressed AS compressed, p.uncompressed AS uncompressed,
    p.rows_hour AS rows_hour, p.compressed_hour AS compressed_hour,
    p.uncompressed_hour AS uncompressed_hour,
    p.rows_day AS rows_day, p.compressed_day AS compressed_day,
    p.uncompressed_day AS uncompressed_day,
    p.active_parts AS active_parts, p.max_parts AS max_parts, p.busiest AS busiest,
    p.exact AS exact, p.day AS day,
    toUInt64OrZero(extract(t.create_table_query, 'SETTINGS .*\\bparts_to_delay_insert = (\\d+)')) AS table_delay,
    toUInt64OrZero(extract(t.create_table_query, 'SETTINGS .*\\bparts_to_throw_insert = (\\d+)')) AS table_throw,
    toUInt64OrZero(extract(t.create_table_query, 'SETTINGS .*\\bmax_parts_in_total = (\\d+)')) AS table_total,
    ifNull((SELECT toUInt64OrZero(any(value)) FROM system.merge_tree_settings WHERE name = 'parts_to_delay_insert'), 0) AS server_delay,
    ifNull((SELECT toUInt64OrZero(any(value)) FROM system.merge_tree_settings WHERE name = 'parts_to_throw_insert'), 0) AS server_throw,
    ifNull((SELECT toUInt64OrZero(any(value)) FROM system.merge_tree_settings WHERE name = 'max_parts_in_total'), 0) AS server_total,
    ifNull((SELECT toUInt64OrZero(any(value)) FROM system.replicated_merge_tree_settings WHERE name = 'parts_to_delay_insert'), 0) AS replicated_delay,
    ifNull((SELECT toUInt64OrZero(any(value)) FROM system.replicated_merge_tree_settings WHERE name = 'parts_to_throw_insert'), 0) AS replicated_throw,
    ifNull((SELECT toUInt64OrZero(any(value)) FROM system.replicated_merge_tree_settings WHERE name = 'max_parts_in_total'), 0) AS replicated_total,
    startsWith(t.engine, 'Replicated') AS replicated
FROM (SELECT name, engine, create_table_query FROM system.tables WHERE database = {db} AND has({names}, name)) AS t
LEFT JOIN (
    SELECT table,
        sum(n) AS rows, sum(c) AS compressed, sum(u) AS uncompressed,
        toUInt64(round(sum(n_hour))) AS rows_hour, toUInt64(round(sum(c_hour))) AS compressed_hour,
        toUInt64(round(sum(u_hour))) AS uncompressed_hour,
        toUInt64(round(sum(n_day))) AS rows_day, toUInt64(round(sum(c_day))) AS compressed_day,
        toUInt64(round(sum(u_day))) AS uncompressed_day,
        sum(parts) AS active_parts, max(parts) AS max_parts, argMax(partition, parts) AS busiest,
        min(exact_p) AS exact, min(day_p) AS day
    FROM (
        SELECT table, partition, count() AS parts,
            sum(rows) AS n, sum(data_compressed_bytes) AS c, sum(data_uncompressed_bytes) AS u,
            sum(rows * f_hour) AS n_hour, sum(data_compressed_bytes * f_hour) AS c_hour,
            sum(data_uncompressed_bytes * f_hour) AS u_hour,
            sum(rows * f_day) AS n_day, sum(data_compressed_bytes * f_day) AS c_day,
            sum(data_uncompressed_bytes * f_day) AS u_day,
            min(exact_part) AS exact_p, min(exact_part OR day_part) AS day_p
        FROM (
            SELECT table, partition, rows, data_compressed_bytes, data_uncompressed_bytes,
                toInt64({now}) AS t_now,
                toUInt32(max_time) > 0 AS exact_part,
                toUInt16(max_date) > 0 AS day_part,
                multiIf(exact_part, toInt64(toUInt32(min_time)),
                        day_part, toInt64(toUInt32(toDateTime(min_date))),
                        toInt64(toUInt32(modification_time))) AS s0,
                multiIf(exact_part, toInt64(toUInt32(max_time)) + 1,
                        day_part, toInt64(toUInt32(toDateTime(max_date))) + 86400,
                        toInt64(toUInt32(modification_time)) + 1) AS e0,
                least(e0, t_now) AS e,
                least(s0, e - 1) AS s,
                greatest(0, e - greatest(s, t_now - 3600)) / (e - s) AS f_hour,
                greatest(0, e - greatest(s, t_now - 86400)) / (e - s) AS f_day
            FROM system.parts
            WHERE database = {db} AND has({names}, table) AND active
        )
        GROUP BY table, partition
    )
    GROUP BY table
) AS p ON p.table = t.name
";

/// A SQL array literal of strings, each quoted.
fn sql_array<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(quote_sql_string).collect();
    format!("[{}]", quoted.join(", "))
}

/// Read the figures of the named target tables of `database`, in one query. A table the store
/// does not have is not in the answer.
pub async fn read(
    client: &Client,
    database: &str,
    targets: &[Target<'_>],
) -> Result<BTreeMap<String, Figures>, clickhouse::error::Error> {
    if targets.is_empty() {
        return Ok(BTreeMap::new());
    }
    // Literals, quoted, rather than the crate's `?` binding: the query uses each twice.
    let sql = FIGURES_SQL
        .replace("{db}", &quote_sql_string(database))
        .replace("{names}", &sql_array(targets.iter().map(|t| t.table)))
        .replace("{now}", "toUInt32(now())");
    let rows = client.query(&sql).fetch_all::<FiguresRow>().await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.table.clone(), figures(r)))
        .collect())
}

fn figures(r: FiguresRow) -> Figures {
    // A replicated table's server defaults are the `<replicated_merge_tree>` section's.
    let (delay, throw, total) = if r.replicated {
        (r.replicated_delay, r.replicated_throw, r.replicated_total)
    } else {
        (r.server_delay, r.server_throw, r.server_total)
    };
    let or = |table: u64, server: u64| if table > 0 { table } else { server };
    Figures {
        total: Amount {
            rows: r.rows,
            compressed_bytes: r.compressed,
            uncompressed_bytes: r.uncompressed,
        },
        last_hour: Amount {
            rows: r.rows_hour,
            compressed_bytes: r.compressed_hour,
            uncompressed_bytes: r.uncompressed_hour,
        },
        last_day: Amount {
            rows: r.rows_day,
            compressed_bytes: r.compressed_day,
            uncompressed_bytes: r.uncompressed_day,
        },
        time_range: match (r.active_parts, r.exact, r.day) {
            (0, _, _) => TimeRange::Unknown,
            (_, 1, _) => TimeRange::Exact,
            (_, _, 1) => TimeRange::Day,
            _ => TimeRange::Unknown,
        },
        active_parts: r.active_parts,
        max_parts_in_partition: r.max_parts,
        busiest_partition: r.busiest,
        limits: PartLimits {
            parts_to_delay_insert: or(r.table_delay, delay),
            parts_to_throw_insert: or(r.table_throw, throw),
            max_parts_in_total: or(r.table_total, total),
        },
    }
}

/// The last failed insert into a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsertError {
    /// When the insert started (UTC, RFC 3339).
    pub time: String,
    /// ClickHouse's error code (252: TOO_MANY_PARTS, 241: MEMORY_LIMIT_EXCEEDED, ...).
    pub code: i32,
    /// The exception's text, cut at [`MAX_ERROR_MESSAGE`] characters.
    pub message: String,
}

/// How much of an exception's text is kept (the first line says what happened).
pub const MAX_ERROR_MESSAGE: usize = 512;

#[derive(clickhouse::Row, Deserialize)]
struct ErrorRow {
    name: String,
    time: String,
    code: i32,
    message: String,
}

/// The last failed insert of the last `lookback_secs` per target table, from
/// `system.query_log`: an insert the exporter sent into the ingest table (or one into the
/// target), synchronous or an async-insert flush. `None` when the server keeps no query log:
/// the table does not exist (chdb, or a server configured without it) or `log_queries` is off
/// for this user's profile (the gateways' user may log differently: an approximation). The log
/// is flushed every `flush_interval_milliseconds` (7.5 s by default), so the newest error can
/// be that late; on a cluster it is this node's log only. An insert refused before it started
/// may name no table (`tables` is filled while the query is analysed): such an error, e.g. for
/// an ingest table that does not exist, is not attributed.
pub async fn insert_errors(
    client: &Client,
    database: &str,
    targets: &[Target<'_>],
    lookback_secs: u32,
) -> Result<Option<BTreeMap<String, InsertError>>, clickhouse::error::Error> {
    let kept: u64 = client
        .query(
            "SELECT count() FROM system.tables WHERE database = 'system' AND name = 'query_log' \
             AND (SELECT any(value) FROM system.settings WHERE name = 'log_queries') = '1'",
        )
        .fetch_one()
        .await?;
    if kept == 0 {
        return Ok(None);
    }
    // A log nothing was written to lately is one that is not kept (this server's own queries,
    // the operator's included, would be in it otherwise).
    let written: u64 = client
        .query(
            "SELECT count() FROM (SELECT 1 FROM system.query_log \
             WHERE event_date >= yesterday() LIMIT 1)",
        )
        .fetch_one()
        .await?;
    if written == 0 {
        return Ok(None);
    }
    if targets.is_empty() {
        return Ok(Some(BTreeMap::new()));
    }
    // `tables` names them `database.table`, unquoted.
    let mut by_name: BTreeMap<String, &str> = BTreeMap::new();
    for t in targets {
        by_name.insert(format!("{database}.{}", t.ingest), t.table);
        by_name.insert(format!("{database}.{}", t.table), t.table);
    }
    let sql = format!(
        "SELECT name, formatDateTime(max(event_time), '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS time, \
         toInt32(argMax(exception_code, event_time_microseconds)) AS code, \
         substringUTF8(argMax(exception, event_time_microseconds), 1, {MAX_ERROR_MESSAGE}) AS message \
         FROM system.query_log ARRAY JOIN tables AS name \
         WHERE event_date >= toDate(now() - {lookback_secs}) AND event_time >= now() - {lookback_secs} \
         AND type IN ('ExceptionBeforeStart', 'ExceptionWhileProcessing') \
         AND query_kind IN ('Insert', 'AsyncInsertFlush') AND has({}, name) \
         GROUP BY name",
        sql_array(by_name.keys().map(String::as_str))
    );
    let rows = client.query(&sql).fetch_all::<ErrorRow>().await?;
    let mut out: BTreeMap<String, InsertError> = BTreeMap::new();
    for r in rows {
        let Some(table) = by_name.get(&r.name) else {
            continue;
        };
        let e = InsertError {
            time: r.time,
            code: r.code,
            message: r.message,
        };
        // The ingest table's and the target's entries are often the same insert: keep the newer.
        match out.get(*table) {
            Some(old) if old.time >= e.time => {}
            _ => {
                out.insert(table.to_string(), e);
            }
        }
    }
    Ok(Some(out))
}

/// What a month of a table costs. The source documents' figure (LogHouse on AWS, "cost
/// analysis") is **$23.76 per TiB of uncompressed data ingested per month**, at 30 days'
/// retention: $22.55 of EC2 (gateways and ClickHouse, which scale with throughput) plus the S3
/// storage of that month's data compressed 17x at $0.021/GiB-month. It is not a storage price:
/// a table that keeps longer than 30 days stores more; `per_tib_month_stored` prices the
/// compressed bytes a table holds (e.g. S3's $0.021/GiB = $21.504/TiB-month, with
/// `per_tib_ingested` then 22.55 so that 30 days are not counted twice).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pricing {
    /// Per TiB of uncompressed bytes ingested in a month (30 times the last day's).
    pub per_tib_ingested: f64,
    /// Per TiB of compressed bytes stored, per month.
    pub per_tib_month_stored: f64,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            per_tib_ingested: 23.76,
            per_tib_month_stored: 0.0,
        }
    }
}

const TIB: f64 = (1u64 << 40) as f64;
/// The source's month.
const DAYS_PER_MONTH: f64 = 30.0;

impl Pricing {
    /// The cost of a month at the last day's ingest, holding what is stored now.
    pub fn per_month(&self, uncompressed_last_day: u64, compressed_stored: u64) -> f64 {
        uncompressed_last_day as f64 * DAYS_PER_MONTH / TIB * self.per_tib_ingested
            + compressed_stored as f64 / TIB * self.per_tib_month_stored
    }
}

/// A money figure for status (quantities in status are strings, not floats).
pub fn money(x: f64) -> String {
    format!("{x:.2}")
}

/// Bytes for people: `1.50 GiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = b as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{x:.2} {}", UNITS[unit])
    }
}

/// One table's usage in one store, as status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableUsage {
    pub store: String,
    pub table: String,
    pub rows_last_hour: u64,
    pub rows_last_day: u64,
    /// Uncompressed.
    pub bytes_last_day: u64,
    pub rows: u64,
    /// Stored, compressed.
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub active_parts: u64,
    /// Active parts of the partition with most, against the limits below.
    pub max_parts_in_partition: u64,
    pub parts_to_delay_insert: u64,
    pub parts_to_throw_insert: u64,
    pub max_parts_in_total: u64,
    /// `"12.34"`, in the currency of the configured price.
    pub cost_per_month: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_insert_error: Option<InsertErrorStatus>,
    /// The partition with most active parts (for the message).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub busiest_partition: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsertErrorStatus {
    pub time: String,
    pub code: i32,
    pub message: String,
}

/// A table's usage record from its figures and last insert error.
pub fn table_usage(
    store: &str,
    table: &str,
    f: &Figures,
    error: Option<&InsertError>,
    pricing: &Pricing,
) -> TableUsage {
    TableUsage {
        store: store.to_string(),
        table: table.to_string(),
        rows_last_hour: f.last_hour.rows,
        rows_last_day: f.last_day.rows,
        bytes_last_day: f.last_day.uncompressed_bytes,
        rows: f.total.rows,
        compressed_bytes: f.total.compressed_bytes,
        uncompressed_bytes: f.total.uncompressed_bytes,
        active_parts: f.active_parts,
        max_parts_in_partition: f.max_parts_in_partition,
        parts_to_delay_insert: f.limits.parts_to_delay_insert,
        parts_to_throw_insert: f.limits.parts_to_throw_insert,
        max_parts_in_total: f.limits.max_parts_in_total,
        cost_per_month: money(
            pricing.per_month(f.last_day.uncompressed_bytes, f.total.compressed_bytes),
        ),
        last_insert_error: error.map(|e| InsertErrorStatus {
            time: e.time.clone(),
            code: e.code,
            message: e.message.clone(),
        }),
        busiest_partition: f.busiest_partition.clone(),
    }
}

/// A pipeline's volume (its tables in every store), or a tenant's (every pipeline of a
/// namespace): `status.volume`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub rows_last_hour: u64,
    pub rows_last_day: u64,
    /// Uncompressed, the last day.
    pub bytes_last_day: u64,
    /// `bytesLastDay` for people (`1.50 GiB`): a printer column.
    pub ingest_last_day: String,
    pub rows: u64,
    /// Stored, compressed.
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    /// `"12.34"`, in the currency of the configured price: a printer column.
    pub cost_per_month: String,
    /// Per table and store (empty in a tenant's sum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableUsage>,
}

/// The sum of some tables' usage; the cost is priced on the summed bytes (the same figure as
/// summing each table's, without its rounding).
pub fn volume(tables: Vec<TableUsage>, pricing: &Pricing) -> Volume {
    let mut v = Volume::default();
    for t in &tables {
        v.rows_last_hour += t.rows_last_hour;
        v.rows_last_day += t.rows_last_day;
        v.bytes_last_day += t.bytes_last_day;
        v.rows += t.rows;
        v.compressed_bytes += t.compressed_bytes;
        v.uncompressed_bytes += t.uncompressed_bytes;
    }
    v.ingest_last_day = human_bytes(v.bytes_last_day);
    v.cost_per_month = money(pricing.per_month(v.bytes_last_day, v.compressed_bytes));
    v.tables = tables;
    v
}

/// One tenant (namespace): its pipelines' volume summed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantVolume {
    pub namespace: String,
    pub pipelines: u32,
    #[serde(flatten)]
    pub volume: Volume,
}

/// Every tenant's volume from its pipelines' (namespace, volume), by namespace.
pub fn tenants<'a>(
    pipelines: impl IntoIterator<Item = (&'a str, &'a Volume)>,
    pricing: &Pricing,
) -> Vec<TenantVolume> {
    let mut by_ns: BTreeMap<&str, (u32, Vec<TableUsage>)> = BTreeMap::new();
    for (ns, v) in pipelines {
        let e = by_ns.entry(ns).or_default();
        e.0 += 1;
        // Only the sums: a tenant's record does not list every table again.
        e.1.push(TableUsage {
            rows_last_hour: v.rows_last_hour,
            rows_last_day: v.rows_last_day,
            bytes_last_day: v.bytes_last_day,
            rows: v.rows,
            compressed_bytes: v.compressed_bytes,
            uncompressed_bytes: v.uncompressed_bytes,
            ..Default::default()
        });
    }
    by_ns
        .into_iter()
        .map(|(ns, (n, sums))| {
            let mut volume = volume(sums, pricing);
            volume.tables.clear();
            TenantVolume {
                namespace: ns.to_string(),
                pipelines: n,
                volume,
            }
        })
        .collect()
}

pub const TOO_MANY_PARTS: &str = "TooManyParts";

/// When parts count as a risk: at this share of `parts_to_delay_insert` (or of
/// `max_parts_in_total`), before the server slows inserts down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartsThreshold {
    pub share_of_delay: f64,
}

impl Default for PartsThreshold {
    fn default() -> Self {
        Self {
            share_of_delay: 0.5,
        }
    }
}

/// How close one table is to its limits, worst first: (severity, share of
/// `parts_to_delay_insert`, share of `max_parts_in_total`). The server also skips the
/// partition checks while the partition's parts average over `max_avg_part_size_for_too_many_parts`
/// (1 GiB): not modelled, so a table of few huge parts may be reported early, never late.
fn parts_risk(t: &TableUsage, th: &PartsThreshold) -> (u8, f64, f64) {
    let share = |n: u64, limit: u64| {
        if limit == 0 {
            0.0
        } else {
            n as f64 / limit as f64
        }
    };
    let reached = |n: u64, limit: u64| limit > 0 && n >= limit;
    let delay = share(t.max_parts_in_partition, t.parts_to_delay_insert);
    let total = share(t.active_parts, t.max_parts_in_total);
    let severity = if reached(t.max_parts_in_partition, t.parts_to_throw_insert)
        || reached(t.active_parts, t.max_parts_in_total)
    {
        3
    } else if reached(t.max_parts_in_partition, t.parts_to_delay_insert) {
        2
    } else if delay.max(total) >= th.share_of_delay {
        1
    } else {
        0
    };
    (severity, delay, total)
}

/// The `TooManyParts` condition of a pipeline over its tables' usage: True when a partition of
/// one of them has `share_of_delay` of `parts_to_delay_insert` active parts or more (reason
/// `PartsNearLimit`; `InsertsDelayed` past it, `InsertsRefused` past `parts_to_throw_insert`),
/// naming the worst table with its numbers; `lastTransitionTime` is kept from `old` while the
/// status holds.
pub fn too_many_parts(
    tables: &[TableUsage],
    threshold: &PartsThreshold,
    old: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let mut ranked: Vec<(&TableUsage, (u8, f64, f64))> = tables
        .iter()
        .map(|t| (t, parts_risk(t, threshold)))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.0
            .cmp(&a.1.0)
            .then(b.1.1.max(b.1.2).total_cmp(&a.1.1.max(a.1.2)))
            .then_with(|| (&a.0.store, &a.0.table).cmp(&(&b.0.store, &b.0.table)))
    });
    let at_risk = ranked.iter().filter(|(_, (s, _, _))| *s > 0).count();
    let (status, reason, message) = match ranked.first() {
        None => (
            "False",
            "NoTables",
            "no table figures were read".to_string(),
        ),
        Some((t, (severity, share, total))) => {
            let mut m = format!(
                "{}/{}: {} active parts in partition {} ({:.0}% of parts_to_delay_insert {}; \
                 inserts are refused at parts_to_throw_insert {})",
                t.store,
                t.table,
                t.max_parts_in_partition,
                if t.busiest_partition.is_empty() {
                    "-"
                } else {
                    &t.busiest_partition
                },
                share * 100.0,
                t.parts_to_delay_insert,
                t.parts_to_throw_insert
            );
            if *total > 0.0 && *total >= *share {
                let _ = write!(
                    m,
                    "; {} active parts in all ({:.0}% of max_parts_in_total {})",
                    t.active_parts,
                    total * 100.0,
                    t.max_parts_in_total
                );
            }
            if at_risk > 1 {
                let _ = write!(m, "; {at_risk} of {} tables at risk", tables.len());
            }
            match severity {
                3 => ("True", "InsertsRefused", m),
                2 => ("True", "InsertsDelayed", m),
                1 => ("True", "PartsNearLimit", m),
                _ => ("False", "PartsBelowLimit", m),
            }
        }
    };
    let since = old
        .iter()
        .find(|o| o.type_ == TOO_MANY_PARTS && o.status == status)
        .map(|o| o.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: TOO_MANY_PARTS.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(table: &str, parts: u64, delay: u64, throw: u64) -> TableUsage {
        TableUsage {
            store: "us-east-1".into(),
            table: table.into(),
            max_parts_in_partition: parts,
            parts_to_delay_insert: delay,
            parts_to_throw_insert: throw,
            busiest_partition: "2026-12-02".into(),
            ..Default::default()
        }
    }

    fn now() -> Time {
        Time("2026-12-02T08:00:00Z".parse().expect("a time"))
    }

    #[test]
    fn the_source_figure_is_per_tib_ingested_uncompressed() {
        let p = Pricing::default();
        // A TiB a month is a 30th of a TiB a day.
        let per_day = (TIB / DAYS_PER_MONTH) as u64;
        assert!((p.per_month(per_day, 0) - 23.76).abs() < 0.01);
        // The split: EC2 per TiB ingested plus S3 for what is stored (17x, 30 days).
        let split = Pricing {
            per_tib_ingested: 22.55,
            per_tib_month_stored: 0.021 * 1024.0,
        };
        let stored = (TIB / 17.0) as u64;
        assert!((split.per_month(per_day, stored) - 23.81).abs() < 0.01);
        assert_eq!(money(1.0 / 3.0), "0.33");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(10), "10 B");
    }

    #[test]
    fn too_many_parts_names_the_worst_table() {
        let tables = [
            usage("a", 10, 1000, 3000),
            usage("b", 600, 1000, 3000),
            usage("c", 700, 1000, 3000),
        ];
        let c = too_many_parts(&tables, &PartsThreshold::default(), &[], Some(3), &now());
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "PartsNearLimit")
        );
        assert!(
            c.message
                .starts_with("us-east-1/c: 700 active parts in partition 2026-12-02 (70%"),
            "{}",
            c.message
        );
        assert!(c.message.contains("2 of 3 tables at risk"), "{}", c.message);
        let c = too_many_parts(
            &[usage("a", 3000, 1000, 3000)],
            &PartsThreshold::default(),
            &[],
            None,
            &now(),
        );
        assert_eq!(c.reason, "InsertsRefused");
        let c = too_many_parts(
            &[usage("a", 1000, 1000, 3000)],
            &PartsThreshold::default(),
            &[],
            None,
            &now(),
        );
        assert_eq!(c.reason, "InsertsDelayed");
        let mut many = usage("a", 10, 1000, 3000);
        (many.active_parts, many.max_parts_in_total) = (60_000, 100_000);
        let c = too_many_parts(&[many], &PartsThreshold::default(), &[], None, &now());
        assert_eq!(c.reason, "PartsNearLimit");
        assert!(
            c.message
                .ends_with("; 60000 active parts in all (60% of max_parts_in_total 100000)"),
            "{}",
            c.message
        );
        let ok = too_many_parts(
            &[usage("a", 10, 1000, 3000)],
            &PartsThreshold::default(),
            &[c],
            None,
            &now(),
        );
        assert_eq!(
            (ok.status.as_str(), ok.reason.as_str()),
            ("False", "PartsBelowLimit")
        );
    }

    #[test]
    fn tenants_sum_their_pipelines() {
        let t = |rows, bytes| TableUsage {
            rows_last_day: rows,
            bytes_last_day: bytes,
            compressed_bytes: bytes / 10,
            ..Default::default()
        };
        let p = Pricing::default();
        let a = volume(vec![t(10, 1 << 30), t(5, 1 << 30)], &p);
        let b = volume(vec![t(1, 1 << 30)], &p);
        let c = volume(vec![t(7, 0)], &p);
        assert_eq!(a.ingest_last_day, "2.00 GiB");
        let ts = tenants([("ns-a", &a), ("ns-a", &b), ("ns-b", &c)], &p);
        assert_eq!(ts.len(), 2);
        assert_eq!((ts[0].namespace.as_str(), ts[0].pipelines), ("ns-a", 2));
        assert_eq!(ts[0].volume.rows_last_day, 16);
        // 3 GiB a day is 90 GiB a month.
        assert_eq!(ts[0].volume.cost_per_month, money(90.0 / 1024.0 * 23.76));
        assert!(ts[0].volume.tables.is_empty());
    }
}
