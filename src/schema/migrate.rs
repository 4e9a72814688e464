//! The migration planner (pure): from the live schema to the layout, an ordered, idempotent list
//! of statements, or a refusal with the reason. Never drops data implicitly: columns and tables
//! that left the spec are kept and reported.

use super::ddl::{INGEST_COLUMNS, RollupLayout, TableLayout};
use super::live::{LiveSchema, LiveTable, normalize};
use crate::model::table::{Owner, ROLLUP_INFIX};

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
        let refused = plan.refused.len();
        plan_table(l, live, &mut plan);
        // A refused table's rollups wait with it ("nothing of that table is changed").
        if plan.refused.len() == refused {
            plan_rollups(l, live, &mut plan);
        }
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
        let rollups: Vec<Ownership> = l
            .rollups
            .iter()
            .map(|r| ownership(l, live.tables.get(&r.table)))
            .collect();
        if let Some(why) = kept(&target).or_else(|| kept(&ingest)).or_else(|| {
            rollups
                .iter()
                .find_map(kept)
                .map(|w| format!("'s rollup {w}"))
        }) {
            plan.refused.push(format!(
                "{}: kept, not dropped: the table {why} (drop it by hand if it is this pipeline's)",
                l.table
            ));
            continue;
        }
        if !ours(&target) && !ours(&ingest) && !rollups.iter().any(ours) {
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

/// Plan a table's rollups (after the table itself: the views read its ingest table). A rollup's
/// window and keys are fixed when its table is created: a change is refused, that rollup only.
fn plan_rollups(l: &TableLayout, live: &LiveSchema, plan: &mut Plan) {
    for r in &l.rollups {
        let table = live.tables.get(&r.table);
        let view = live.tables.get(&r.view);
        let mut claims = Vec::new();
        match ownership(l, table) {
            Ownership::Other(owner) => {
                plan.refused.push(format!(
                    "{}: rollup table belongs to {owner} (the owner record in its COMMENT); this pipeline neither alters nor drops it: rename the rollup",
                    r.table
                ));
                continue;
            }
            Ownership::Unmarked if l.owner.is_some() && !otelhouse_view(view) => {
                plan.refused.push(format!(
                    "{}: table exists without an owner record and without the operator's view; it is left alone. Drop or rename it, or rename the rollup",
                    r.table
                ));
                continue;
            }
            Ownership::Unmarked | Ownership::Ours { current: false } => {
                claims.extend(l.claim(&r.table));
            }
            Ownership::Absent | Ownership::Ours { current: true } => {}
        }
        let Some(table) = table else {
            plan.step(
                l.create_rollup(r),
                format!("rollup table {} does not exist", r.table),
            );
            if view.is_none() {
                plan.step(
                    l.create_rollup_view(r),
                    format!("view {} does not exist", r.view),
                );
            } else {
                plan.refused.push(format!(
                    "view {} exists but its rollup table {} does not: drop the view or restore the table",
                    r.view, r.table
                ));
            }
            continue;
        };
        let refused = rollup_refusals(l, r, table);
        if !refused.is_empty() {
            plan.refused.extend(refused);
            continue;
        }
        for sql in claims {
            plan.step(sql, format!("{}: the owner record", r.table));
        }
        let want_ttl = normalize(&TableLayout::rollup_ttl_sql(r));
        if table.ttl.as_deref().map(normalize) != Some(want_ttl) {
            plan.step(
                l.modify_rollup_ttl(r),
                format!(
                    "{}: retention is {}, the spec wants {} days",
                    r.table,
                    table.ttl.as_deref().unwrap_or("unset"),
                    r.ttl_days
                ),
            );
        }
        match view {
            None => plan.step(
                l.create_rollup_view(r),
                format!("view {} does not exist", r.view),
            ),
            Some(v) if v.comment != l.rollup_fingerprint(r) => {
                for sql in l.modify_rollup_view(r) {
                    plan.step(sql, format!("{}: the rollup's query changed", r.view));
                }
            }
            Some(_) => {}
        }
    }
    // Rollups that left the spec keep their table and view (and the view keeps counting).
    let prefix = format!("{}{ROLLUP_INFIX}", l.table);
    for name in live.tables.keys() {
        if name.starts_with(&prefix)
            && !name.ends_with("_mv")
            && !l.rollups.iter().any(|r| &r.table == name)
        {
            plan.notes.push(format!(
                "{name}: rollup is no longer in the spec; its table and view {name}_mv are kept (drop them by hand, the view first)"
            ));
        }
    }
}

/// What of a live rollup table cannot change in place.
fn rollup_refusals(l: &TableLayout, r: &RollupLayout, table: &LiveTable) -> Vec<String> {
    let mut refused = Vec::new();
    let rename = "Add the new rollup under a new name (the old one stays readable until its TTL; drop it by hand), or restore the old";
    let want_engine = l.rollup_engine_sql();
    let want_engine = want_engine.split('(').next().unwrap_or_default();
    let engine_ok = table.engine == want_engine
        || table.engine == "SharedAggregatingMergeTree"
        || (want_engine == "AggregatingMergeTree"
            && table.engine.ends_with("AggregatingMergeTree"));
    if !engine_ok {
        refused.push(format!(
            "{}: engine is {}, a rollup in this store is {want_engine}; an engine cannot change in place",
            r.table, table.engine
        ));
    }
    let want_window = r.window_comment();
    let live_window = table
        .column_comments
        .get("Window")
        .cloned()
        .unwrap_or_default();
    if live_window != want_window {
        refused.push(format!(
            "{}: the rollup's window is {:?}, the spec wants {want_window:?}; a rollup's rows are counts per window, which cannot change in place. {rename} window",
            r.table, live_window
        ));
    }
    let order = TableLayout::rollup_order_by(r);
    if normalize(&table.sorting_key) != normalize(&order.join(",")) {
        refused.push(format!(
            "{}: the rollup's keys are ({}), the spec wants ({}); the keys are the sorting key, which cannot change in place. {rename} keys",
            r.table,
            table.sorting_key,
            order.join(", ").replace('`', "")
        ));
    }
    for k in &r.keys {
        if let Some(live_type) = table.columns.get(&k.name)
            && normalize(live_type) != normalize(&k.sql_type)
        {
            refused.push(format!(
                "{}: key {} is {live_type}, the spec wants {}; a column's type is not changed in place. {rename} column type",
                r.table, k.name, k.sql_type
            ));
        }
    }
    refused
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
