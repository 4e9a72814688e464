//! The ClickHouse layout of each resolved pipeline table ([`crate::model::Table`]): the DDL
//! ([`ddl`]), the live schema ([`live`]), the migration planner ([`migrate`]) and applying a plan
//! ([`apply`]).

pub mod apply;
pub mod ddl;
pub mod live;
pub mod migrate;
pub mod usage;

use crate::crd::TableEngine;
use crate::model::{Store, Table};

/// Where a pipeline's tables live: the store's database, `ON CLUSTER` name and engine.
#[derive(Clone, Copy, Debug)]
pub struct Placement<'a> {
    pub database: &'a str,
    pub cluster: Option<&'a str>,
    pub engine: TableEngine,
}

impl<'a> Placement<'a> {
    pub fn of(store: &'a Store) -> Self {
        Self {
            database: &store.database,
            cluster: store.cluster.as_deref(),
            engine: store.engine,
        }
    }
}

/// The layouts of a pipeline's tables in one place.
pub fn layouts(tables: &[Table], at: Placement<'_>) -> Vec<ddl::TableLayout> {
    tables.iter().map(|t| ddl::layout(t, at)).collect()
}

/// What the history table records of a schema: a short hash of its layouts (one definition for
/// the CLI and the controller).
pub fn spec_hash(layouts: &[ddl::TableLayout]) -> String {
    crate::meta::config_hash(&format!("{layouts:?}"))[..16].to_string()
}

/// Plan dropping the named tables of `owner` in one store (`deletionPolicy: Drop`): their live
/// state is read first, and only what the owner records name as `owner`'s is dropped; the rest
/// is kept and listed in the plan's `refused` ([`migrate::plan_drop`]).
pub async fn plan_drop(
    client: &clickhouse::Client,
    tables: &[String],
    at: Placement<'_>,
    owner: &crate::model::table::Owner,
) -> Result<migrate::Plan, clickhouse::error::Error> {
    // Every rollup that exists of these tables, named in the spec or not: a dropped pipeline
    // leaves none behind.
    let table_names: Vec<&str> = tables.iter().map(String::as_str).collect();
    let rollups = live::rollup_names(client, at.database, &table_names).await?;
    let layouts: Vec<ddl::TableLayout> = tables
        .iter()
        .map(|t| {
            let mut l = ddl::TableLayout::named(t, at, Some(owner.clone()));
            let prefix = format!("{t}{}", crate::model::table::ROLLUP_INFIX);
            // A rollup's table, or the view it left behind (no rollup name ends with _mv).
            let mut own: Vec<&str> = rollups
                .iter()
                .filter(|n| n.starts_with(&prefix))
                .map(|n| n.strip_suffix("_mv").unwrap_or(n))
                .collect();
            own.sort_unstable();
            own.dedup();
            l.rollups = own.into_iter().map(ddl::RollupLayout::named).collect();
            l
        })
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for l in &layouts {
        names.extend([l.table.as_str(), l.ingest.as_str(), l.view.as_str()]);
        for r in &l.rollups {
            names.extend([r.table.as_str(), r.view.as_str()]);
        }
    }
    let live = live::read(client, at.database, &names).await?;
    Ok(migrate::plan_drop(&layouts, &live))
}
