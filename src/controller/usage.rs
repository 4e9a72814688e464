//! The usage loop (issue 13, the ClickHouse side): every `--usage-interval` the leader reads,
//! per store, every pipeline table's rows, bytes and parts (one query, [`usage::read`]) and
//! the last insert errors ([`usage::insert_errors`]), and keeps them here. The reconcilers put
//! them in status: a pipeline's `status.volume` with its `TooManyParts` condition, a store's
//! `status.volume` and `status.tenants`.
//!
//! Like the flow loop it writes no status itself: it triggers the resources whose status
//! would change materially ([`material`]), and their reconcile writes it. Figures move on every
//! read while logs flow, so a status takes new figures only when one moved by
//! [`MATERIAL_SHARE`] or more (or a condition, an insert error or the table set changed): a
//! platform with steady traffic writes nothing, however many pipelines it has.

use super::metrics::TableLabels;
use super::{Context, Error, status};
use crate::crd::{ClickHouseStoreStatus, LogPipelineStatus};
use crate::model::ResourceId;
use crate::schema::usage::{self, TableUsage, TenantVolume, Volume};
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A figure that moved by this share of its old value is news for status.
pub const MATERIAL_SHARE: f64 = 0.05;
/// How far back the last insert error is looked for.
pub const ERROR_LOOKBACK_SECS: u32 = 3600;
/// The most tenants a store's status lists (the largest by the last day's ingest); the rest
/// are counted.
pub const MAX_TENANTS_IN_STATUS: usize = 50;

/// What the loop keeps between rounds: bounded by the tables that exist (each round replaces
/// a store's entries).
#[derive(Default)]
pub struct UsageState {
    /// Store -> its tables' usage, by table name.
    pub(crate) stores: HashMap<String, BTreeMap<String, TableUsage>>,
    /// The table series exported last round (to remove those of tables gone).
    exported: BTreeSet<TableLabels>,
}

/// A pipeline's tables' usage in every store it targets: None before its first read (or with
/// the loop off), so the status keeps what it had.
pub(crate) fn pipeline_tables(
    state: &UsageState,
    snapshot: &super::snapshot::Snapshot,
    id: &ResourceId,
) -> Option<Vec<TableUsage>> {
    let schema = snapshot.schemas.get(id)?;
    let mut out = Vec::new();
    let mut read_any = false;
    for store in &schema.stores {
        let Some(tables) = state.stores.get(&store.name) else {
            continue;
        };
        read_any = true;
        for t in &schema.tables {
            if let Some(u) = tables.get(&t.name) {
                out.push(u.clone());
            }
        }
    }
    read_any.then_some(out)
}

/// A store's tenants: each pipeline's tables in this store, summed per namespace.
pub(crate) fn store_tenants(
    state: &UsageState,
    snapshot: &super::snapshot::Snapshot,
    store: &str,
    pricing: &usage::Pricing,
) -> Option<(Volume, Vec<TenantVolume>, u32)> {
    let tables = state.stores.get(store)?;
    let mut per_pipeline: Vec<(String, Volume)> = Vec::new();
    for (id, schema) in &snapshot.schemas {
        if !schema.stores.iter().any(|s| s.name == store) {
            continue;
        }
        let mine: Vec<TableUsage> = schema
            .tables
            .iter()
            .filter_map(|t| tables.get(&t.name).cloned())
            .collect();
        let ns = id.namespace.clone().unwrap_or_default();
        per_pipeline.push((ns, usage::volume(mine, pricing)));
    }
    let mut tenants = usage::tenants(per_pipeline.iter().map(|(ns, v)| (ns.as_str(), v)), pricing);
    let mut total = usage::volume(tables.values().cloned().collect(), pricing);
    total.tables.clear();
    let count = u32::try_from(tenants.len()).unwrap_or(u32::MAX);
    tenants.sort_by(|a, b| {
        b.volume
            .bytes_last_day
            .cmp(&a.volume.bytes_last_day)
            .then_with(|| a.namespace.cmp(&b.namespace))
    });
    tenants.truncate(MAX_TENANTS_IN_STATUS);
    Some((total, tenants, count))
}

/// Whether `new` says something `old` did not: a figure moved by [`MATERIAL_SHARE`], a table
/// came or went, an insert error is new. Parts are the `TooManyParts` condition's business;
/// compressed bytes are not looked at (each new part brings its own overhead of marks and
/// indexes and merges take it away again: they move by more than 5% while rows barely do).
pub fn material(old: &Volume, new: &Volume) -> bool {
    let moved = |a: u64, b: u64| {
        let (a, b) = (a as f64, b as f64);
        (a == 0.0) != (b == 0.0) || (a - b).abs() > MATERIAL_SHARE * a.max(b)
    };
    let key = |t: &TableUsage| (t.store.clone(), t.table.clone());
    moved(old.rows_last_hour, new.rows_last_hour)
        || moved(old.bytes_last_day, new.bytes_last_day)
        || moved(old.rows, new.rows)
        || old.tables.len() != new.tables.len()
        || old.tables.iter().zip(&new.tables).any(|(a, b)| {
            key(a) != key(b)
                || a.last_insert_error != b.last_insert_error
                || moved(a.bytes_last_day, b.bytes_last_day)
                || moved(a.rows_last_hour, b.rows_last_hour)
        })
}

/// One round: read every store, keep the figures. Returns the pipelines and stores whose
/// status would change materially (to reconcile).
pub async fn usage_step(ctx: &Context) -> Result<Vec<ResourceId>, Error> {
    let snapshot = ctx.snapshot();
    let pricing = ctx.settings.pricing;
    // Store -> (database, its tables' (target, ingest) names).
    let mut wanted: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    for schema in snapshot.schemas.values() {
        for (store, layouts) in schema.layouts() {
            let e = wanted.entry(store).or_default();
            for l in layouts {
                e.0 = l.database.clone();
                e.1.insert(l.table.clone(), l.ingest.clone());
            }
        }
    }
    for store in ctx.stores.state() {
        let name = store.name_any();
        let Some((database, tables)) = wanted.get(&name) else {
            ctx.usage_state().stores.remove(&name);
            continue;
        };
        let targets: Vec<usage::Target<'_>> = tables
            .iter()
            .map(|(table, ingest)| usage::Target { table, ingest })
            .collect();
        let read = async {
            let conn = super::pipeline::connection(ctx, &store).await?;
            let client = ctx.clickhouse_client(&conn);
            let figures = usage::read(&client, database, &targets)
                .await
                .map_err(|e| Error::ClickHouse {
                    store: name.clone(),
                    message: e.to_string(),
                })?;
            // Without a query log (chdb, or turned off) there are no errors to report.
            let errors = usage::insert_errors(&client, database, &targets, ERROR_LOOKBACK_SECS)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            Ok::<_, Error>((figures, errors))
        };
        match read.await {
            Ok((figures, errors)) => {
                let usage: BTreeMap<String, TableUsage> = figures
                    .iter()
                    .map(|(table, f)| {
                        let u = usage::table_usage(&name, table, f, errors.get(table), &pricing);
                        (table.clone(), u)
                    })
                    .collect();
                ctx.usage_state().stores.insert(name, usage);
            }
            // The last figures stay: an unreachable store is its own condition.
            Err(e) => tracing::warn!(store = %name, error = %e, "usage read failed"),
        }
    }
    let now = super::now();
    let mut state = ctx.usage_state();
    export(ctx, &mut state, &snapshot);
    let mut changed = Vec::new();
    for p in ctx.pipelines.state() {
        let id = ResourceId::of(&*p);
        let Some(tables) = pipeline_tables(&state, &snapshot, &id) else {
            continue;
        };
        let old = p.status.clone().unwrap_or_default();
        let mut new = LogPipelineStatus {
            common: old.common.clone(),
            volume: old.volume.clone(),
            ..Default::default()
        };
        status::with_usage(&mut new, Some(tables), &pricing, Some(&old), &now);
        if new.volume != old.volume || conditions_differ(&old.common, &new.common) {
            changed.push(id);
        }
    }
    for s in ctx.stores.state() {
        let Some(tenants) = store_tenants(&state, &snapshot, &s.name_any(), &pricing) else {
            continue;
        };
        let old = s.status.clone().unwrap_or_default();
        let mut new = ClickHouseStoreStatus {
            volume: old.volume.clone(),
            tenants: old.tenants.clone(),
            tenant_count: old.tenant_count,
            ..Default::default()
        };
        status::with_tenants(&mut new, Some(tenants), Some(&old));
        if new.volume != old.volume || new.tenants != old.tenants {
            changed.push(ResourceId::of(&*s));
        }
    }
    Ok(changed)
}

/// Each pipeline table's figures as gauges (`otelhouse_table_bytes`,
/// `otelhouse_table_rows_last_hour`), and the series of tables no longer read removed.
fn export(ctx: &Context, state: &mut UsageState, snapshot: &super::snapshot::Snapshot) {
    let mut now = BTreeSet::new();
    for (id, schema) in &snapshot.schemas {
        for store in &schema.stores {
            let Some(tables) = state.stores.get(&store.name) else {
                continue;
            };
            for t in &schema.tables {
                let Some(u) = tables.get(&t.name) else {
                    continue;
                };
                let labels = TableLabels {
                    namespace: id.namespace.clone().unwrap_or_default(),
                    pipeline: id.name.clone(),
                    store: store.name.clone(),
                    table: t.name.clone(),
                };
                let gauge = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
                ctx.metrics
                    .table_bytes
                    .get_or_create(&labels)
                    .set(gauge(u.compressed_bytes));
                ctx.metrics
                    .table_rows_last_hour
                    .get_or_create(&labels)
                    .set(gauge(u.rows_last_hour));
                now.insert(labels);
            }
        }
    }
    for gone in state.exported.difference(&now) {
        ctx.metrics.table_bytes.remove(gone);
        ctx.metrics.table_rows_last_hour.remove(gone);
    }
    state.exported = now;
}

/// Status or reason of a condition differs.
fn conditions_differ(old: &crate::crd::CommonStatus, new: &crate::crd::CommonStatus) -> bool {
    new.conditions.iter().any(|c| {
        !old.conditions
            .iter()
            .any(|o| o.type_ == c.type_ && o.status == c.status && o.reason == c.reason)
    })
}

/// [`usage_step`] as a [`super::periodic::Round`].
pub fn round(ctx: &Context) -> futures::future::BoxFuture<'_, Result<Vec<ResourceId>, Error>> {
    Box::pin(usage_step(ctx))
}
