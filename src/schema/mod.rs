//! The ClickHouse layout of each resolved pipeline table ([`crate::model::Table`]): the DDL
//! ([`ddl`]), the live schema ([`live`]), the migration planner ([`migrate`]) and applying a plan
//! ([`apply`]).

pub mod apply;
pub mod ddl;
pub mod live;
pub mod migrate;

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
