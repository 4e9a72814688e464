//! The migration planner (pure): from the live schema to the layout, an ordered, idempotent list
//! of statements, or a refusal with the reason. Never drops data implicitly: columns and tables
//! that left the spec are kept and reported.

use super::ddl::{INGEST_COLUMNS, TableLayout};
use super::live::{LiveSchema, LiveTable, normalize};
use crate::model::table::Owner;

/// One statement and why it is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub sql: String,
    pub why: String,
}

/// The plan for one store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Changes that cannot be made in place; nothing of that table is changed.
    pub refused: Vec<String>,
    /// Things worth telling that need no statement (kept columns, kept indexes...).
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.refused.is_empty()
    }

    pub fn statements(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.sql.clone()).collect()
    }

    fn step(&mut self, sql: String, why: impl Into<String>) {
        self.steps.push(Step {
            sql,
            why: why.into(),
        });
    }
}

/// Plan every table of a pipeline in one store.
pub fn plan(layouts: &[TableLayout], live: &LiveSchema) -> Plan {
    let mut plan = Plan::default();
    let Some(first) = layouts.first() else {
        return plan;
    };
    if !live.database_exists {
        plan.step(
            first.create_database(),
            format!("database {} does not exist", first.database),
        );
    }
    if !live.tables.contains_key(super::ddl::HISTORY_TABLE) {
        plan.step(
            first.create_history(),
            "the schema history table does not exist",
        );
    }
    for l in layouts {
        plan_table(l, live, &mut plan);
    }
    plan
}

/// Whose a live table is, by the owner record in its COMMENT.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ownership {
    Absent,
    /// This layout's pipeline's (`current`: the record is exactly ours, uid included).
    Ours {
        current: bool,
    },
    Other(Owner),
    /// No owner record: made before the records existed, or not by the operator.
    Unmarked,
}

fn ownership(l: &TableLayout, live: Option<&LiveTable>) -> Ownership {
    let Some(t) = live else {
        return Ownership::Absent;
    };
    match (Owner::parse(&t.comment), &l.owner) {
        (None, _) => Ownership::Unmarked,
        (Some(o), Some(me)) if o.same(me) => Ownership::Ours {
            current: t.comment == me.record(),
        },
        (Some(o), _) => Ownership::Other(o),
    }
}

/// Whether the live view is one the operator made (its comment is our fingerprint).
fn otelhouse_view(live: Option<&LiveTable>) -> bool {
    live.is_some_and(|v| v.comment.starts_with("otelhouse:"))
}

/// Before any plan: a table another pipeline owns is neither altered nor dropped, and a table
/// without an owner record is adopted only when it is visibly the operator's (target, ingest
/// and our view), by writing the record. Returns the claims to write, or the refusal.
fn check_owner(l: &TableLayout, live: &LiveSchema) -> Result<Vec<String>, String> {
    let target = ownership(l, live.tables.get(&l.table));
    let ingest = ownership(l, live.tables.get(&l.ingest));
    for (name, o) in [(&l.table, &target), (&l.ingest, &ingest)] {
        if let Ownership::Other(owner) = o {
            return Err(format!(
                "{name}: table belongs to {owner} (the owner record in its COMMENT); this pipeline neither alters nor drops it: choose another table name"
            ));
        }
    }
    let Some(me) = &l.owner else {
        // A layout without an owner (tools, tests) only respects others' records.
        return Ok(Vec::new());
    };
    let legacy = otelhouse_view(live.tables.get(&l.view))
        && target != Ownership::Absent
        && ingest != Ownership::Absent;
    let mut claims = Vec::new();
    for (name, o) in [(&l.table, &target), (&l.ingest, &ingest)] {
        match o {
            Ownership::Unmarked if !legacy && !matches!(target, Ownership::Ours { .. }) => {
                return Err(format!(
                    "{name}: table exists without an owner record and is not a complete otelhouse table (target, ingest and view); it is left alone. Drop or rename it, or mark it as {me}'s by hand: ALTER TABLE ... MODIFY COMMENT '{}'",
                    me.record()
                ));
            }
            Ownership::Unmarked | Ownership::Ours { current: false } => {
                claims.extend(l.claim(name));
            }
            _ => {}
        }
    }
    Ok(claims)
}

/// Plan dropping a pipeline's tables in one store (`deletionPolicy: Drop`): only what its
/// owner record says is this pipeline's; a table of another pipeline, or without a record, is
/// kept and reported in `refused`.
pub fn plan_drop(layouts: &[TableLayout], live: &LiveSchema) -> Plan {
    let mut plan = Plan::default();
    for l in layouts {
        let target = ownership(l, live.tables.get(&l.table));
        let ingest = ownership(l, live.tables.get(&l.ingest));
        let ours = |o: &Ownership| matches!(o, Ownership::Ours { .. });
        let kept = |o: &Ownership| match o {
            Ownership::Other(owner) => Some(format!("belongs to {owner}")),
            Ownership::Unmarked => Some("has no owner record".to_string()),
            _ => None,
        };
        if let Some(why) = kept(&target).or_else(|| kept(&ingest)) {
            plan.refused.push(format!(
                "{}: kept, not dropped: the table {why} (drop it by hand if it is this pipeline's)",
                l.table
            ));
            continue;
        }
        if !ours(&target) && !ours(&ingest) {
            continue;
        }
        for sql in l.drop_all() {
            plan.step(sql, format!("{}: deletionPolicy: Drop", l.table));
        }
    }
    plan
}

fn plan_table(l: &TableLayout, live: &LiveSchema, plan: &mut Plan) {
    let target = live.tables.get(&l.table);
    let ingest = live.tables.get(&l.ingest);
    let view = live.tables.get(&l.view);
    let claims = match check_owner(l, live) {
        Err(why) => {
            plan.refused.push(why);
            return;
        }
        Ok(claims) => claims,
    };
    let Some(target) = target else {
        // A new table (or a new route's table): everything, target first.
        plan.step(
            l.create_target(),
            format!("table {} does not exist", l.table),
        );
        if ingest.is_none() {
            plan.step(
                l.create_ingest(),
                format!("table {} does not exist", l.ingest),
            );
        }
        if view.is_none() {
            plan.step(l.create_view(), format!("view {} does not exist", l.view));
        } else {
            plan.refused.push(format!(
                "view {} exists but its target table {} does not: drop the view or restore the table",
                l.view, l.table
            ));
        }
        return;
    };

    // What cannot change in place: refuse the table, change nothing of it.
    let mut refused = Vec::new();
    let want_engine = l.engine_sql();
    let want_engine = want_engine.split('(').next().unwrap_or_default();
    // ClickHouse Cloud turns every MergeTree into SharedMergeTree.
    let engine_ok = target.engine == want_engine
        || target.engine == "SharedMergeTree"
        || (want_engine == "MergeTree" && target.engine.ends_with("MergeTree"));
    if !engine_ok {
        refused.push(format!(
            "{}: engine is {}, the store says {want_engine}; an engine cannot change in place",
            l.table, target.engine
        ));
    }
    let want_order = normalize(&l.order_by.join(","));
    if normalize(&target.sorting_key) != want_order {
        refused.push(format!(
            "{}: ORDER BY is ({}), the spec wants ({}); the sorting key cannot change in place. Create a table under a new name and route to it (the old one stays readable until its TTL), or restore the old orderBy",
            l.table,
            target.sorting_key,
            l.order_by.join(", ").replace('`', "")
        ));
    }
    if normalize(&target.partition_key) != normalize(&l.partition_by) {
        refused.push(format!(
            "{}: PARTITION BY is {}, the spec wants {}; the partition key cannot change in place. Create a table under a new name and route to it, or restore the old partitionBy",
            l.table,
            target.partition_key,
            l.partition_by.replace('`', "")
        ));
    }
    if let Some(g) = target.index_granularity
        && g != l.index_granularity
    {
        refused.push(format!(
            "{}: index_granularity is {g}, the spec wants {}; it is fixed when a table is created. Restore indexGranularity: {g}, or create a table under a new name",
            l.table, l.index_granularity
        ));
    }
    for c in &l.columns {
        if let Some(live_type) = target.columns.get(&c.name)
            && normalize(live_type) != normalize(&c.sql_type)
        {
            refused.push(format!(
                "{}: column {} is {live_type}, the spec wants {}; a column's type is not changed in place (it rewrites every part). Add a column under a new name instead",
                l.table, c.name, c.sql_type
            ));
        }
    }
    if !refused.is_empty() {
        plan.refused.extend(refused);
        return;
    }
    for sql in claims {
        plan.step(sql, format!("{}: the owner record", l.table));
    }

    // Target first (LogHouse's procedure), then the ingest table, then the view.
    let mut columns_added = false;
    for c in &l.columns {
        if !target.columns.contains_key(&c.name) {
            plan.step(
                l.add_column(&l.table, c),
                format!("{}: new column {}", l.table, c.name),
            );
            columns_added = true;
        }
    }
    for name in target.columns.keys() {
        if !l.columns.iter().any(|c| &c.name == name) {
            plan.notes.push(format!(
                "{}: column {name} is no longer in the spec; it is kept (drop it by hand to free the space)",
                l.table
            ));
        }
    }
    plan_indexes(l, target, plan);
    let want_ttl = normalize(&l.ttl_sql());
    if target.ttl.as_deref().map(normalize) != Some(want_ttl) {
        plan.step(
            l.modify_ttl(),
            format!(
                "{}: retention is {}, the spec wants {} days",
                l.table,
                target.ttl.as_deref().unwrap_or("unset"),
                l.ttl_days
            ),
        );
    }
    match ingest {
        None => plan.step(
            l.create_ingest(),
            format!("table {} does not exist", l.ingest),
        ),
        Some(ingest) => {
            for (name, ty) in INGEST_COLUMNS {
                if !ingest.columns.contains_key(*name) {
                    plan.step(
                        l.add_ingest_column(name, ty),
                        format!("{}: the exporter inserts column {name}", l.ingest),
                    );
                }
            }
        }
    }
    match view {
        None => plan.step(l.create_view(), format!("view {} does not exist", l.view)),
        Some(v) if v.comment != l.view_fingerprint() || columns_added => {
            for sql in l.modify_view() {
                plan.step(sql, format!("{}: the view's query changed", l.view));
            }
        }
        Some(_) => {}
    }
}

fn plan_indexes(l: &TableLayout, target: &LiveTable, plan: &mut Plan) {
    for i in &l.indexes {
        match target.indexes.get(&i.name) {
            None => plan.step(l.add_index(i), format!("{}: new index {}", l.table, i.name)),
            Some(live)
                if normalize(&live.expr) != normalize(&i.expr)
                    || normalize(&live.type_full) != normalize(&i.type_sql)
                    // Text indexes always work per part: the server reports its own granularity.
                    || (!i.type_sql.starts_with("text(") && live.granularity != u64::from(i.granularity)) =>
            {
                // An index holds no data of its own: replacing it loses nothing.
                plan.step(
                    l.drop_index(&i.name),
                    format!("{}: index {} changed", l.table, i.name),
                );
                plan.step(
                    l.add_index(i),
                    format!("{}: index {} changed", l.table, i.name),
                );
            }
            Some(_) => {}
        }
    }
    for name in target.indexes.keys() {
        if !l.indexes.iter().any(|i| &i.name == name) {
            plan.step(
                l.drop_index(name),
                format!("{}: index {name} is no longer in the spec", l.table),
            );
        }
    }
}
