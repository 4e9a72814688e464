//! Rollups on the real engine (chdb in-process, or `CLICKHOUSE_URL`): installed with their table,
//! fed from the same ingest table, equal to the raw table's counts, migrated, refused where a
//! change cannot be made in place, and dropped with the pipeline.

mod kit;

use clickhouse::Client;
use kit::exporter::ExporterRow;
use otelhouse::crd::{TableEngine, TableSpec};
use otelhouse::model::table::Owner;
use otelhouse::schema::Placement;
use otelhouse::schema::apply::{self, Outcome, Record};
use otelhouse::schema::ddl::TableLayout;

fn client() -> Client {
    kit::clickhouse_client()
}

fn record() -> Record {
    Record {
        pipeline: "team-a.app".into(),
        generation: 1,
        spec_hash: "test".into(),
    }
}

fn me() -> Owner {
    Owner {
        namespace: "team-a".into(),
        name: "app".into(),
        uid: Some("uid-app".into()),
    }
}

fn placement(db: &str) -> Placement<'_> {
    Placement {
        database: db,
        cluster: None,
        engine: TableEngine::MergeTree,
    }
}

/// The `app` table (the default columns) with a one-minute and a one-hour rollup.
fn spec() -> TableSpec {
    serde_json::from_value(serde_json::json!({
        "name": "app",
        "retentionDays": 30,
        "rollups": [
            {"name": "minute", "window": "1m", "retentionDays": 7},
            {"name": "hour", "window": "1h"},
        ],
    }))
    .unwrap()
}

fn layouts(t: &TableSpec, db: &str) -> Vec<TableLayout> {
    let table = otelhouse::model::table::resolve_spec(t).expect("the table resolves");
    let mut out = otelhouse::schema::layouts(&[table], placement(db));
    for l in &mut out {
        l.owner = Some(me());
    }
    out
}

fn now_nanos() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

const SERVICES: &[&str] = &["api", "web", "worker"];
const SEVERITIES: &[(&str, u8)] = &[("INFO", 9), ("WARN", 13), ("ERROR", 17)];

/// A row `seconds_ago` before `now` (relative: the tables' TTL would drop fixed old dates).
fn row(now: i64, i: u64, seconds_ago: i64) -> ExporterRow {
    let kv = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (severity, number) = SEVERITIES[(i / 3) as usize % SEVERITIES.len()];
    let namespace = if i.is_multiple_of(2) { "ns-a" } else { "ns-b" };
    ExporterRow {
        timestamp: now - seconds_ago * 1_000_000_000 - i as i64,
        trace_id: String::new(),
        span_id: String::new(),
        trace_flags: 0,
        severity_text: severity.into(),
        severity_number: number,
        service_name: SERVICES[i as usize % SERVICES.len()].into(),
        body: format!("request {i} took {} ms", i % 97),
        resource_schema_url: String::new(),
        resource_attributes: kv(&[
            ("k8s.namespace.name", namespace),
            ("k8s.pod.name", "pod-1"),
            ("k8s.container.name", "app"),
        ]),
        scope_schema_url: String::new(),
        scope_name: String::new(),
        scope_version: String::new(),
        scope_attributes: vec![],
        log_attributes: vec![],
        event_name: String::new(),
    }
}

async fn insert(c: &Client, db: &str, rows: impl IntoIterator<Item = ExporterRow>) {
    let c = c.clone().with_database(db);
    let mut ins = c.insert::<ExporterRow>("app_ingest").await.unwrap();
    for r in rows {
        ins.write(&r).await.unwrap();
    }
    ins.end().await.unwrap();
}

async fn count(c: &Client, sql: &str) -> u64 {
    c.query(sql).fetch_one::<u64>().await.unwrap()
}

#[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
struct Counts {
    service: String,
    severity: String,
    rows: u64,
    bytes: u64,
}

async fn counts(c: &Client, sql: &str) -> Vec<Counts> {
    c.query(sql).fetch_all::<Counts>().await.unwrap()
}

/// Installed from scratch, fed by several batches over the last three hours: each rollup's
/// sums per (service, severity) are the raw table's count() and sum(length(Body)).
#[tokio::test]
async fn rollups_install_and_count_what_the_raw_table_holds() {
    let db = kit::unique_database("rollup");
    let c = client();
    let ls = layouts(&spec(), &db);
    let out = apply::apply(&c, &ls, &record(), false).await;
    let Outcome::Applied { statements } = &out else {
        panic!("{out:?}")
    };
    // database, history, target + ingest + view, and table + view per rollup.
    assert_eq!(statements.len(), 2 + 3 + 2 * 2, "{statements:#?}");
    let again = apply::plan(&c, &ls).await.unwrap();
    assert!(again.is_empty() && again.notes.is_empty(), "{again:#?}");

    let now = now_nanos();
    for batch in 0..6u64 {
        // Batch b spans (b*30 min, b*30 min + 10 min] ago: several minutes and hours.
        insert(
            &c,
            &db,
            (0..500).map(|i| row(now, batch * 500 + i, batch as i64 * 1800 + (i as i64 % 600))),
        )
        .await;
    }
    // Two batches whose aggregates are equal (same services, severities, lengths, minute):
    // neither may be taken for a retry of the other.
    for _ in 0..2 {
        insert(&c, &db, (0..30).map(|i| row(now_nanos(), i, 5))).await;
    }

    let raw = counts(
        &c,
        &format!(
            "SELECT ServiceName AS service, SeverityText AS severity, count() AS rows, \
             sum(length(Body)) AS bytes FROM `{db}`.app GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    )
    .await;
    assert_eq!(raw.iter().map(|r| r.rows).sum::<u64>(), 3060);
    assert_eq!(raw.len(), SERVICES.len() * SEVERITIES.len(), "{raw:?}");
    for r in ["minute", "hour"] {
        let rolled = counts(
            &c,
            &format!(
                "SELECT ServiceName AS service, SeverityText AS severity, sum(Rows) AS rows, \
                 sum(BodyBytes) AS bytes FROM `{db}`.app_rollup_{r} GROUP BY 1, 2 ORDER BY 1, 2"
            ),
        )
        .await;
        assert_eq!(rolled, raw, "rollup {r}");
    }
    // The windows are the window starts; the namespace comes from the main view's expression.
    let misaligned = count(
        &c,
        &format!("SELECT countIf(toUnixTimestamp(Window) % 3600 != 0) FROM `{db}`.app_rollup_hour"),
    )
    .await;
    assert_eq!(misaligned, 0);
    let by_namespace = count(
        &c,
        &format!("SELECT sum(Rows) FROM `{db}`.app_rollup_minute WHERE Namespace = 'ns-a'"),
    )
    .await;
    let raw_namespace = count(
        &c,
        &format!("SELECT count() FROM `{db}`.app WHERE Namespace = 'ns-a'"),
    )
    .await;
    assert_eq!(by_namespace, raw_namespace);
    // Merged, the hourly rollup holds one row per (hour, keys).
    c.query(&format!("OPTIMIZE TABLE `{db}`.app_rollup_hour FINAL"))
        .execute()
        .await
        .unwrap();
    let hour_rows = count(&c, &format!("SELECT count() FROM `{db}`.app_rollup_hour")).await;
    let hour_groups = count(
        &c,
        &format!(
            "SELECT count() FROM (SELECT DISTINCT toStartOfHour(Timestamp), Namespace, ServiceName, SeverityText FROM `{db}`.app)"
        ),
    )
    .await;
    assert_eq!(hour_rows, hour_groups);
    assert!(apply::plan(&c, &ls).await.unwrap().is_empty());
}

/// A rollup added to a live table is created (table, then view); a changed key set or window
/// is refused with what to do; a TTL change is applied; a rollup left out of the spec is kept
/// and reported.
#[tokio::test]
async fn rollups_migrate_and_refuse_what_cannot_change_in_place() {
    let db = kit::unique_database("rollup_migrate");
    let c = client();
    let mut t = spec();
    let hour = t.rollups.pop().unwrap();
    assert!(matches!(
        apply::apply(&c, &layouts(&t, &db), &record(), false).await,
        Outcome::Applied { .. }
    ));

    // Added: the hourly rollup and a daily one by service only.
    t.rollups.push(hour);
    t.rollups.push(
        serde_json::from_value(
            serde_json::json!({"name": "day", "window": "1d", "keys": ["ServiceName"]}),
        )
        .unwrap(),
    );
    let plan = apply::plan(&c, &layouts(&t, &db)).await.unwrap();
    assert!(plan.refused.is_empty(), "{plan:#?}");
    let sql = plan.statements();
    assert_eq!(sql.len(), 4, "{sql:#?}");
    assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS") && sql[0].contains("app_rollup_hour"));
    assert!(
        sql[1].starts_with("CREATE MATERIALIZED VIEW") && sql[1].contains("app_rollup_hour_mv")
    );
    assert!(matches!(
        apply::apply(&c, &layouts(&t, &db), &record(), false).await,
        Outcome::Applied { .. }
    ));
    assert!(apply::plan(&c, &layouts(&t, &db)).await.unwrap().is_empty());
    insert(&c, &db, (0..90).map(|i| row(now_nanos(), i, 60))).await;
    assert_eq!(
        count(&c, &format!("SELECT sum(Rows) FROM `{db}`.app_rollup_day")).await,
        90
    );

    // The keys of a live rollup: refused, nothing run.
    let mut keys = t.clone();
    keys.rollups[1].keys = vec!["ServiceName".into(), "SeverityNumber".into()];
    let out = apply::apply(&c, &layouts(&keys, &db), &record(), false).await;
    let Outcome::Refused { reasons, applied } = &out else {
        panic!("{out:?}")
    };
    assert!(applied.is_empty(), "{applied:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("app_rollup_hour: the rollup's keys are")
                && r.contains("under a new name")),
        "{reasons:?}"
    );
    // The window of a live rollup: refused the same way.
    let mut window = t.clone();
    window.rollups[0].window = otelhouse::crd::RollupWindow::FiveMinutes;
    let plan = apply::plan(&c, &layouts(&window, &db)).await.unwrap();
    assert!(
        plan.refused
            .iter()
            .any(|r| r.contains("app_rollup_minute: the rollup's window is")),
        "{plan:#?}"
    );
    assert!(plan.steps.is_empty(), "{plan:#?}");

    // Retention: applied in place.
    let mut ttl = t.clone();
    ttl.rollups[0].retention_days = Some(3);
    let plan = apply::plan(&c, &layouts(&ttl, &db)).await.unwrap();
    assert_eq!(plan.statements().len(), 1, "{plan:#?}");
    assert!(plan.statements()[0].contains("MODIFY TTL `Window` + toIntervalDay(3)"));
    assert!(matches!(
        apply::apply(&c, &layouts(&ttl, &db), &record(), false).await,
        Outcome::Applied { .. }
    ));
    assert!(
        apply::plan(&c, &layouts(&ttl, &db))
            .await
            .unwrap()
            .is_empty()
    );

    // A key's expression changed (Namespace from another attribute): the views' queries are
    // replaced, the main view's and the rollups' that group by it; the daily one is untouched.
    let mut expr = ttl.clone();
    expr.columns = serde_json::from_value(serde_json::json!([
        {"name": "Namespace", "from": "ResourceAttributes", "key": "service.namespace", "lowCardinality": true},
        {"name": "PodName", "from": "ResourceAttributes", "key": "k8s.pod.name", "lowCardinality": true},
        {"name": "ContainerName", "from": "ResourceAttributes", "key": "k8s.container.name", "lowCardinality": true},
    ]))
    .unwrap();
    let plan = apply::plan(&c, &layouts(&expr, &db)).await.unwrap();
    let modified: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.sql.contains("MODIFY QUERY"))
        .map(|s| s.why.as_str())
        .collect();
    assert_eq!(modified.len(), 3, "{plan:#?}");
    assert!(
        modified
            .iter()
            .any(|w| w.starts_with("app_rollup_minute_mv"))
    );
    assert!(!modified.iter().any(|w| w.starts_with("app_rollup_day_mv")));
    assert!(matches!(
        apply::apply(&c, &layouts(&expr, &db), &record(), false).await,
        Outcome::Applied { .. }
    ));
    assert!(
        apply::plan(&c, &layouts(&expr, &db))
            .await
            .unwrap()
            .is_empty()
    );
    insert(
        &c,
        &db,
        (0..9).map(|i| {
            let mut r = row(now_nanos(), i, 30);
            r.resource_attributes
                .push(("service.namespace".into(), "shop".into()));
            r
        }),
    )
    .await;
    assert_eq!(
        count(
            &c,
            &format!("SELECT sum(Rows) FROM `{db}`.app_rollup_hour WHERE Namespace = 'shop'")
        )
        .await,
        9
    );

    // Left out of the spec: kept, reported, nothing dropped.
    let mut gone = expr.clone();
    gone.rollups.retain(|r| r.name != "day");
    let plan = apply::plan(&c, &layouts(&gone, &db)).await.unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("app_rollup_day: rollup is no longer in the spec")),
        "{plan:#?}"
    );
}

/// A rollup table another pipeline's record names is neither altered nor dropped; the owner's
/// `deletionPolicy: Drop` drops its rollups with its tables (views first), those the spec no
/// longer names too.
#[tokio::test]
async fn rollups_are_owned_and_dropped_with_their_pipeline() {
    let db = kit::unique_database("rollup_drop");
    let c = client();
    let ls = layouts(&spec(), &db);
    assert!(matches!(
        apply::apply(&c, &ls, &record(), false).await,
        Outcome::Applied { .. }
    ));
    // Another pipeline's record on the hourly rollup.
    let theirs = "otelhouse owner: LogPipeline team-b/other uid uid-other";
    c.query(&format!(
        "ALTER TABLE `{db}`.app_rollup_hour MODIFY COMMENT '{theirs}'"
    ))
    .execute()
    .await
    .unwrap();
    let plan = apply::plan(&c, &ls).await.unwrap();
    assert!(
        plan.refused.iter().any(
            |r| r.contains("app_rollup_hour: rollup table belongs to LogPipeline team-b/other")
        ),
        "{plan:#?}"
    );
    let names = vec!["app".to_string()];
    let drop = otelhouse::schema::plan_drop(&c, &names, placement(&db), &me())
        .await
        .unwrap();
    assert!(drop.steps.is_empty(), "{drop:#?}");
    assert!(!drop.refused.is_empty());

    // Ours again; a rollup the spec no longer names is dropped too.
    c.query(&format!(
        "ALTER TABLE `{db}`.app_rollup_hour MODIFY COMMENT '{}'",
        me().record()
    ))
    .execute()
    .await
    .unwrap();
    let drop = otelhouse::schema::plan_drop(&c, &names, placement(&db), &me())
        .await
        .unwrap();
    let sql = drop.statements();
    assert!(drop.refused.is_empty(), "{drop:#?}");
    assert_eq!(sql.len(), 7, "{sql:#?}");
    let position = |name: &str| {
        sql.iter()
            .position(|s| s.contains(&format!("`{name}` SYNC")))
            .unwrap_or_else(|| panic!("{name} in {sql:#?}"))
    };
    assert!(position("app_rollup_hour_mv") < position("app_rollup_hour"));
    assert!(position("app_rollup_minute_mv") < position("app_ingest"));
    for s in &sql {
        c.query(s).execute().await.unwrap();
    }
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM system.tables WHERE database = '{db}'")
        )
        .await,
        1,
        "only the history table stays"
    );
}

/// The longest names the CRD allows (a 48-character table, a 16-character rollup: a 75-character
/// view name) are accepted by the engine.
#[tokio::test]
async fn the_longest_rollup_names_install() {
    let db = kit::unique_database("rollup_names");
    let c = client();
    let name = format!("t{}", "x".repeat(47));
    let t: TableSpec = serde_json::from_value(serde_json::json!({
        "name": name,
        "retentionDays": 1,
        "rollups": [{"name": format!("r{}", "y".repeat(15)), "window": "1d"}],
    }))
    .unwrap();
    let ls = layouts(&t, &db);
    assert_eq!(ls[0].rollups[0].view.len(), 48 + 8 + 16 + 3);
    let out = apply::apply(&c, &ls, &record(), false).await;
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    assert!(apply::plan(&c, &ls).await.unwrap().is_empty());
}

/// The rollup's DDL follows the store (engine family, ON CLUSTER) and the table (owner record,
/// the main view's key expressions).
#[test]
fn rollup_ddl_follows_the_store_and_the_table() {
    let table = otelhouse::model::table::resolve_spec(&spec()).unwrap();
    for (engine, want) in [
        (TableEngine::MergeTree, "ENGINE = AggregatingMergeTree\n"),
        (
            TableEngine::ReplicatedMergeTree,
            "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
        ),
        (
            TableEngine::SharedMergeTree,
            "ENGINE = SharedAggregatingMergeTree\n",
        ),
    ] {
        let at = Placement {
            database: "otel",
            cluster: Some("main"),
            engine,
        };
        let mut l = otelhouse::schema::ddl::layout(&table, at);
        l.owner = Some(me());
        let r = &l.rollups[1];
        let create = l.create_rollup(r);
        println!("{create}\n{}", l.create_rollup_view(r));
        assert!(create.contains(want), "{create}");
        assert!(
            create.starts_with(
                "CREATE TABLE IF NOT EXISTS `otel`.`app_rollup_hour` ON CLUSTER `main`"
            )
        );
        assert!(create.contains("ORDER BY (`Window`, `Namespace`, `ServiceName`, `SeverityText`)"));
        assert!(create.contains("`Namespace` LowCardinality(String)"));
        assert!(create.contains("`Rows` SimpleAggregateFunction(sum, UInt64)"));
        assert!(create.contains("TTL `Window` + toIntervalDay(30)"));
        assert!(create.contains("ttl_only_drop_parts = 1"));
        assert!(create.ends_with(&format!("COMMENT '{}'", me().record())));
        let view = l.create_rollup_view(r);
        assert!(view.contains("INTERVAL 3600 SECOND"), "{view}");
        assert!(view.contains("`ResourceAttributes`['k8s.namespace.name'] AS `Namespace`"));
        assert!(view.contains("FROM `otel`.`app_ingest`"));
        assert!(view.contains(&format!("COMMENT '{}'", l.rollup_fingerprint(r))));
    }
}
