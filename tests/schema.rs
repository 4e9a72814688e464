//! The ClickHouse schema against the real engine (chdb 26.9 in-process, or `CLICKHOUSE_URL`).

mod kit;

use kit::exporter::ExporterRow;

use clickhouse::Client;
use otelhouse::crd::{LogPipeline, TableEngine};
use otelhouse::schema::apply::{self, Connection, Outcome, Record};
use otelhouse::schema::ddl::{self, TableLayout};
use std::collections::BTreeMap;

fn client() -> Client {
    kit::clickhouse_client()
}

fn sample_pipeline() -> LogPipeline {
    kit::sample_pipeline("clickhouse")
}

fn layouts_in(p: &LogPipeline, database: &str) -> Vec<TableLayout> {
    let tables: Vec<otelhouse::model::Table> = p
        .spec
        .tables
        .iter()
        .map(|t| otelhouse::model::table::resolve_spec(t).expect("the table resolves"))
        .collect();
    layouts_of(&tables, database)
}

fn layouts_of(tables: &[otelhouse::model::Table], database: &str) -> Vec<TableLayout> {
    otelhouse::schema::layouts(
        tables,
        otelhouse::schema::Placement {
            database,
            cluster: None,
            engine: TableEngine::MergeTree,
        },
    )
}

fn record() -> Record {
    Record {
        pipeline: "otelhouse-system.clickhouse".into(),
        generation: 1,
        spec_hash: "test".into(),
    }
}

#[tokio::test]
async fn sample_schema_applies_and_a_second_apply_plans_nothing() {
    let db = kit::unique_database("samples");
    let layouts = layouts_in(&sample_pipeline(), &db);
    let c = client();
    let out = apply::apply(&c, &layouts, &record(), false).await;
    let Outcome::Applied { statements } = &out else {
        panic!("{out:?}")
    };
    // database, history, and target + ingest + view per table.
    assert_eq!(statements.len(), 2 + 3 * layouts.len(), "{statements:#?}");
    let again = apply::plan(&c, &layouts).await.unwrap();
    assert!(again.is_empty(), "second plan: {again:#?}");
    assert_eq!(
        apply::apply(&c, &layouts, &record(), false).await,
        Outcome::UpToDate
    );
    let history: u64 = c
        .query(&format!(
            "SELECT count() FROM `{db}`.otelhouse_schema_history"
        ))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(history, 1, "one recorded run");
}

/// The exporter's INSERT column list, from the pinned version's template (the fixture).
fn exporter_insert_columns() -> Vec<String> {
    let sql = std::fs::read_to_string(kit::root().join("tests/fixtures/exporter/logs_insert.sql"))
        .unwrap();
    let insert = &sql[sql.find("INSERT INTO").unwrap()..];
    let body = insert.split_once('(').unwrap().1.split_once(')').unwrap().0;
    body.split(|c: char| c == ',' || c.is_whitespace())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty() && c != "%s")
        .collect()
}

#[test]
fn ingest_table_has_exactly_the_exporters_insert_columns() {
    let cols = exporter_insert_columns();
    assert_eq!(cols.len(), 15, "{cols:?}");
    let ours: Vec<&str> = ddl::INGEST_COLUMNS.iter().map(|(n, _)| *n).collect();
    // The exporter adds EventName when the table has it: ours has.
    assert_eq!(
        &ours[..15],
        cols.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
    );
    assert_eq!(ours[15], "EventName");
}

fn row(i: u64, pod: &str) -> ExporterRow {
    let kv = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    ExporterRow {
        timestamp: 1_790_000_000_000_000_000 + i as i64 * 1_000_000,
        trace_id: if i.is_multiple_of(5) {
            format!("{i:032x}")
        } else {
            String::new()
        },
        span_id: String::new(),
        trace_flags: 0,
        severity_text: "INFO".into(),
        severity_number: 9,
        service_name: "clickhouse-server".into(),
        body: format!("<Information> executeQuery: query {i} finished"),
        resource_schema_url: String::new(),
        resource_attributes: kv(&[
            ("k8s.namespace.name", "ns-1"),
            ("k8s.pod.name", pod),
            ("k8s.container.name", "clickhouse-server"),
            ("cloud.region", "us-east-1"),
        ]),
        scope_schema_url: String::new(),
        scope_name: String::new(),
        scope_version: String::new(),
        scope_attributes: vec![],
        log_attributes: kv(&[
            ("thread_id", "42"),
            ("source_line", "1234"),
            ("level", "Information"),
        ]),
        event_name: String::new(),
    }
}

/// Insert rows as the exporter does: its columns, into the ingest table.
async fn exporter_insert(
    c: &Client,
    db: &str,
    table: &str,
    rows: impl IntoIterator<Item = ExporterRow>,
) {
    try_exporter_insert(c, db, table, rows).await.unwrap();
}

async fn try_exporter_insert(
    c: &Client,
    db: &str,
    table: &str,
    rows: impl IntoIterator<Item = ExporterRow>,
) -> clickhouse::error::Result<()> {
    let c = c.clone().with_database(db);
    let mut ins = c.insert::<ExporterRow>(&format!("{table}_ingest")).await?;
    for r in rows {
        ins.write(&r).await?;
    }
    ins.end().await
}

/// A client sending these settings (as the exporter's connection params).
fn with_settings(c: &Client, settings: BTreeMap<String, String>) -> Client {
    settings
        .into_iter()
        .fold(c.clone(), |c, (k, v)| c.with_setting(k, v))
}

async fn count(c: &Client, sql: &str) -> u64 {
    c.query(sql).fetch_one::<u64>().await.unwrap()
}

#[tokio::test]
async fn the_exporters_insert_lands_in_the_target_with_extracted_columns() {
    let db = kit::unique_database("insert");
    let layouts = layouts_in(&sample_pipeline(), &db);
    let c = client();
    assert!(matches!(
        apply::apply(&c, &layouts, &record(), false).await,
        Outcome::Applied { .. }
    ));
    exporter_insert(&c, &db, "server_logs", (0..100).map(|i| row(i, "pod-a"))).await;
    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Out {
        n: u64,
        pod: String,
        ns: String,
        thread: u64,
        line: u64,
        region: String,
        date_ok: u8,
    }
    let out: Out = c
        .query(&format!(
            "SELECT count() AS n, any(PodName) AS pod, any(Namespace) AS ns, any(thread_id) AS thread, \
             any(source_line) AS line, any(Region) AS region, min(EventDate = toDate(Timestamp)) AS date_ok \
             FROM `{db}`.server_logs"
        ))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(out.n, 100);
    assert_eq!(
        (out.pod.as_str(), out.ns.as_str(), out.region.as_str()),
        ("pod-a", "ns-1", "us-east-1")
    );
    assert_eq!((out.thread, out.line, out.date_ok), (42, 1234, 1));
    // The Null table keeps nothing.
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM `{db}`.server_logs_ingest")
        )
        .await,
        0
    );
}

/// The sample pipeline's server_logs table alone, applied in a fresh database.
async fn server_logs_applied(prefix: &str) -> (String, LogPipeline, Client) {
    let db = kit::unique_database(prefix);
    let mut p = sample_pipeline();
    p.spec.tables.truncate(1);
    let c = client();
    assert!(matches!(
        apply::apply(&c, &layouts_in(&p, &db), &record(), false).await,
        Outcome::Applied { .. }
    ));
    (db, p, c)
}

#[tokio::test]
async fn every_migration_kind() {
    let (db, p, c) = server_logs_applied("migrate").await;

    // Add a column, change the TTL, drop an index, add an index, add a table: in one plan.
    let mut q = p.clone();
    let t = &mut q.spec.tables[0];
    t.columns.push(serde_json::from_str(r#"{"name": "query_kind", "from": "LogAttributes", "key": "query_kind", "lowCardinality": true}"#).unwrap());
    t.retention_days = 90;
    let ix = t.indexes.as_mut().unwrap();
    ix.retain(|i| i.expression != "thread_name");
    ix.push(
        serde_json::from_str(
            r#"{"expression": "query_id", "type": "bloom_filter", "falsePositive": 0.01}"#,
        )
        .unwrap(),
    );
    q.spec
        .tables
        .push(serde_json::from_str(r#"{"name": "audit_logs", "retentionDays": 365}"#).unwrap());
    let layouts = layouts_in(&q, &db);
    let plan = apply::plan(&c, &layouts).await.unwrap();
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    let sql = plan.statements();
    let pos = |needle: &str| {
        sql.iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {sql:#?}"))
    };
    // The target changes first, then the view (LogHouse's procedure).
    assert!(pos("ADD COLUMN IF NOT EXISTS `query_kind`") < pos("MODIFY QUERY"));
    pos("MODIFY TTL `EventTime` + toIntervalDay(90)");
    pos("DROP INDEX IF EXISTS `idx_thread_name`");
    pos("ADD INDEX IF NOT EXISTS `idx_query_id`");
    pos("CREATE TABLE IF NOT EXISTS `audit_logs`"
        .replace("`audit_logs`", &format!("`{db}`.`audit_logs`"))
        .as_str());
    let out = apply::apply(
        &c,
        &layouts,
        &Record {
            generation: 2,
            ..record()
        },
        false,
    )
    .await;
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    assert!(
        apply::plan(&c, &layouts).await.unwrap().is_empty(),
        "idempotent"
    );
    // The new column is filled by the modified view.
    let mut r = row(1, "pod-b");
    r.log_attributes
        .push(("query_kind".into(), "Select".into()));
    exporter_insert(&c, &db, "server_logs", [r]).await;
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM `{db}`.server_logs WHERE query_kind = 'Select'")
        )
        .await,
        1
    );

    // What cannot change in place is refused, with the reason, and nothing runs.
    let mut bad = q.clone();
    bad.spec.tables[0].order_by = vec!["Timestamp".into()];
    bad.spec.tables[0]
        .columns
        .iter_mut()
        .find(|c| c.name == "thread_id")
        .unwrap()
        .type_ = otelhouse::crd::ColumnType::Int64;
    let out = apply::apply(&c, &layouts_in(&bad, &db), &record(), false).await;
    let Outcome::Refused { reasons, applied } = out else {
        panic!("{out:?}")
    };
    assert!(applied.is_empty());
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("ORDER BY is (PodName, Timestamp), the spec wants (Timestamp)")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("column thread_id is UInt64, the spec wants Int64")),
        "{reasons:?}"
    );

    // A column removed from the spec is kept (never an implicit drop), and said.
    let mut fewer = q.clone();
    fewer.spec.tables[0]
        .columns
        .retain(|c| c.name != "query_kind");
    let plan = apply::plan(&c, &layouts_in(&fewer, &db)).await.unwrap();
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("column query_kind is no longer in the spec; it is kept")),
        "{plan:?}"
    );
    assert!(!plan.statements().iter().any(|s| s.contains("DROP COLUMN")));
    let history = count(
        &c,
        &format!("SELECT count() FROM `{db}`.otelhouse_schema_history"),
    )
    .await;
    assert_eq!(history, 2);
}

/// Values that validation refuses still cannot inject SQL if they reach the DDL: identifiers
/// are quoted and attribute keys are string literals.
#[tokio::test]
async fn hostile_keys_stay_literals() {
    let db = kit::unique_database("hostile");
    let mut p = sample_pipeline();
    p.spec.tables.truncate(1);
    let hostile = "x'] , (SELECT 1) AS ['y\\";
    p.spec.tables[0].columns = vec![
        serde_json::from_value(serde_json::json!({
            "name": "evil", "from": "LogAttributes", "key": "safe"
        }))
        .unwrap(),
    ];
    p.spec.tables[0].order_by = vec!["Timestamp".into()];
    p.spec.tables[0].indexes = Some(vec![]);
    // Validation refuses such a key; the DDL must quote it all the same (defense in depth), so
    // it is put into the resolved table past validation.
    let mut table = otelhouse::model::table::resolve_spec(&p.spec.tables[0]).unwrap();
    table.columns[0].key = hostile.to_string();
    let c = client();
    let out = apply::apply(&c, &layouts_of(&[table], &db), &record(), false).await;
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    let mut r = row(1, "p");
    r.log_attributes = vec![(hostile.to_string(), "caught".into())];
    exporter_insert(&c, &db, "server_logs", [r]).await;
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM `{db}`.server_logs WHERE evil = 'caught'")
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_unreachable_store_is_an_outcome_not_a_panic() {
    let c = Connection {
        url: "http://127.0.0.1:9".into(),
        user: None,
        password: None,
    }
    .client();
    let out = apply::apply(
        &c,
        &layouts_in(&sample_pipeline(), "otel"),
        &record(),
        false,
    )
    .await;
    let Outcome::Unreachable { error } = out else {
        panic!("{out:?}")
    };
    assert!(error.contains("network error"), "{error}");
}

/// A batch a gateway retries after a timeout (the same rows again) is stored once: the target's
/// deduplication window; without it, twice. Synchronous and async inserts.
#[tokio::test]
async fn a_retried_batch_is_stored_once() {
    let (db, _, c) = server_logs_applied("dedup").await;
    let batch = || (0..50).map(|i| row(i, "pod-r"));
    exporter_insert(&c, &db, "server_logs", batch()).await;
    exporter_insert(&c, &db, "server_logs", batch()).await;
    assert_eq!(
        count(&c, &format!("SELECT count() FROM `{db}`.server_logs")).await,
        50
    );

    // With async inserts (as the gateways send them), deduplicated too.
    let asynchronous = c
        .clone()
        .with_setting("async_insert", "1")
        .with_setting("wait_for_async_insert", "1")
        .with_setting("async_insert_deduplicate", "1");
    let other = || (100..130).map(|i| row(i, "pod-s"));
    exporter_insert(&asynchronous, &db, "server_logs", other()).await;
    exporter_insert(&asynchronous, &db, "server_logs", other()).await;
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM `{db}`.server_logs WHERE PodName = 'pod-s'")
        )
        .await,
        30
    );

    // The control: a target without the window keeps both copies.
    c.query(&format!(
        "ALTER TABLE `{db}`.server_logs MODIFY SETTING non_replicated_deduplication_window = 0"
    ))
    .execute()
    .await
    .unwrap();
    let third = || (200..210).map(|i| row(i, "pod-t"));
    exporter_insert(&c, &db, "server_logs", third()).await;
    exporter_insert(&c, &db, "server_logs", third()).await;
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM `{db}`.server_logs WHERE PodName = 'pod-t'")
        )
        .await,
        20
    );
}

/// The settings the gateways' exporters send make a retried batch land once through the Null
/// table's view on any server: with `deduplicate_blocks_in_dependent_materialized_views` at 0
/// (the default before ClickHouse 24.x; 1 on this 26.9 engine) and nothing else changed, the
/// same batch is stored twice, so it is the setting, not this server's default, that holds.
#[tokio::test]
async fn the_exporters_settings_deduplicate_through_the_view_whatever_the_servers_default() {
    let (db, _, c) = server_logs_applied("dedupmv").await;
    let with = |c: &Client, settings| {
        with_settings(&c.clone().with_setting("async_insert", "1"), settings)
    };
    let exporter = with(&c, otelhouse::collector::gateway::insert_settings(None));
    let batch = || (0..40).map(|i| row(i, "pod-mv"));
    exporter_insert(&exporter, &db, "server_logs", batch()).await;
    exporter_insert(&exporter, &db, "server_logs", batch()).await;
    let pods = |pod: &'static str| {
        format!("SELECT count() FROM `{db}`.server_logs WHERE PodName = '{pod}'")
    };
    assert_eq!(count(&c, &pods("pod-mv")).await, 40);

    let mut old_default = otelhouse::collector::gateway::insert_settings(None);
    old_default.insert(
        "deduplicate_blocks_in_dependent_materialized_views".into(),
        "0".into(),
    );
    let old = with(&c, old_default);
    let other = || (100..120).map(|i| row(i, "pod-old"));
    exporter_insert(&old, &db, "server_logs", other()).await;
    exporter_insert(&old, &db, "server_logs", other()).await;
    assert_eq!(count(&c, &pods("pod-old")).await, 40);
}

/// A backlog (or an application's clock) can put one batch across more daily partitions than
/// the server's default `max_partitions_per_insert_block` (100): the server refuses the whole
/// batch, every time it is retried. The gateways clamp timestamps to the table's retention plus
/// a day ahead, and send a limit that covers that window: a batch with a row for every day the
/// table keeps lands; the control, the server's default, refuses it.
#[tokio::test]
async fn a_batch_across_the_clamped_window_is_not_refused_for_its_partitions() {
    use otelhouse::collector::gateway::{GatewayTable, insert_settings, max_partitions};
    let (db, p, c) = server_logs_applied("partitions").await;
    // A row a day for every day the table keeps (older ones TTL removes as they are written).
    let retention = p.spec.tables[0].retention_days;
    let days = u64::from(retention) - 1;
    assert!(days > 100, "the fixture's table keeps {retention} days");
    // As SQL, one block: chdb's streaming insert path cuts blocks of its own, a server does not.
    let backlog = |c: &Client| {
        c.query(&format!(
            "INSERT INTO `{db}`.server_logs_ingest (Timestamp, ServiceName, Body, ResourceAttributes) \
             SELECT now64(9) - toIntervalDay(number), 'svc', 'old', \
             map('k8s.namespace.name', 'ns-1', 'k8s.pod.name', 'pod-old') FROM numbers({days})"
        ))
        .execute()
    };
    let err = backlog(&c)
        .await
        .expect_err("the server's default limit refuses over 100 partitions");
    assert!(err.to_string().contains("Too many partitions"), "{err}");

    let table = GatewayTable {
        name: "server_logs".into(),
        ingest_table: "server_logs_ingest".into(),
        target: otelhouse::collector::gateway::ExporterTarget {
            endpoint: String::new(),
            database: db.clone(),
            insecure_skip_verify: false,
            store: String::new(),
            region: String::new(),
        },
        retention_days: retention,
        daily_partitions: true,
    };
    let exporter = with_settings(&c, insert_settings(max_partitions(&table, retention)));
    backlog(&exporter).await.unwrap();
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM `{db}`.server_logs WHERE PodName = 'pod-old'")
        )
        .await,
        days
    );
}

/// No row is lost or duplicated while a column is added (target, then view) under a steady
/// stream of the exporter's inserts.
#[tokio::test]
async fn no_row_is_lost_or_duplicated_during_a_migration() {
    let (db, p, c) = server_logs_applied("datapath").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, db, stop) = (c.clone(), db.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sent = 0u64;
            let mut batch = 0u64;
            // Bounded: at most 400 batches, until told to stop.
            while batch < 400 && (!stop.load(std::sync::atomic::Ordering::Relaxed) || batch < 20) {
                exporter_insert(
                    &c,
                    &db,
                    "server_logs",
                    (0..100).map(|i| row(batch * 1000 + i, "pod-m")),
                )
                .await;
                sent += 100;
                batch += 1;
            }
            sent
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut q = p.clone();
    q.spec.tables[0].columns.push(
        serde_json::from_str(
            r#"{"name": "query_kind", "from": "LogAttributes", "key": "query_kind"}"#,
        )
        .unwrap(),
    );
    let out = apply::apply(
        &c,
        &layouts_in(&q, &db),
        &Record {
            generation: 2,
            ..record()
        },
        false,
    )
    .await;
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = writer.await.unwrap();
    let stored = count(&c, &format!("SELECT count() FROM `{db}`.server_logs")).await;
    let distinct = count(
        &c,
        &format!("SELECT uniqExact(Timestamp) FROM `{db}`.server_logs"),
    )
    .await;
    assert_eq!(stored, sent, "every row stored once");
    assert_eq!(distinct, sent, "no duplicates");
}

fn otelhouse(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_otelhouse"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_plan_apply_plan() {
    let db = kit::unique_database("cli");
    let url = kit::clickhouse_url();
    let file = kit::samples().join("pipeline-tenant.yaml");
    let file = file.to_str().unwrap();
    let args = |verb: &'static str| {
        vec![
            "schema",
            verb,
            "-f",
            file,
            "--store",
            url.as_str(),
            "--database",
            db.as_str(),
        ]
    };
    let plan = otelhouse(&args("plan"));
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains(": Pending")
            && text.contains(&format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.`checkout_logs`"
            )),
        "{text}"
    );
    let apply = otelhouse(&args("apply"));
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let again = otelhouse(&args("plan"));
    assert!(String::from_utf8_lossy(&again.stdout).contains("-- nothing to do"));

    let down = otelhouse(&[
        "schema",
        "plan",
        "-f",
        file,
        "--store",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("unreachable: network error"));
    let bad = otelhouse(&[
        "schema",
        "plan",
        "-f",
        file,
        "--store",
        url.as_str(),
        "--database",
        "x`; DROP",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a plain identifier"));
}

/// The schema benchmark measures exactly what the operator generates.
#[test]
fn the_benchmarked_schema_is_the_generated_one() {
    let file =
        std::fs::read_to_string(kit::root().join("benches/otelhouse_default_logs.sql")).unwrap();
    let out = otelhouse(&[
        "schema",
        "ddl",
        "-f",
        kit::root()
            .join("benches/app_logs_pipeline.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let body: String = file
        .lines()
        .filter(|l| !l.starts_with("-- "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body.trim_start(),
        generated,
        "regenerate benches/otelhouse_default_logs.sql (see its header)"
    );
}

fn owner(namespace: &str, name: &str) -> otelhouse::model::table::Owner {
    otelhouse::model::table::Owner {
        namespace: namespace.into(),
        name: name.into(),
        uid: Some(format!("uid-{name}")),
    }
}

/// The layouts as a pipeline's: each carries its owner (the controller's and the CLI's do).
fn owned(mut layouts: Vec<TableLayout>, o: &otelhouse::model::table::Owner) -> Vec<TableLayout> {
    for l in &mut layouts {
        l.owner = Some(o.clone());
    }
    layouts
}

fn placement(db: &str) -> otelhouse::schema::Placement<'_> {
    otelhouse::schema::Placement {
        database: db,
        cluster: None,
        engine: TableEngine::MergeTree,
    }
}

async fn comment(c: &Client, db: &str, table: &str) -> String {
    c.query("SELECT comment FROM system.tables WHERE database = ? AND name = ?")
        .bind(db)
        .bind(table)
        .fetch_one::<String>()
        .await
        .unwrap()
}

/// A table is its pipeline's: the record in its COMMENT is checked before any plan, so a
/// pipeline that names another's table (a tenant squatting it, in a store both may use) gets a
/// refusal naming the owner, not a plan that drops its indexes and shortens its TTL; and its
/// `deletionPolicy: Drop` does not drop the victim's table. The owner's own Drop does.
#[tokio::test]
async fn a_table_owned_by_another_pipeline_is_never_altered_or_dropped() {
    let db = kit::unique_database("owned");
    let mut p = sample_pipeline();
    p.spec.tables.truncate(1);
    let victim = owner("team-a", "victim");
    let theirs = owned(layouts_in(&p, &db), &victim);
    let c = client();
    let out = apply::apply(&c, &theirs, &record(), false).await;
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    for t in ["server_logs", "server_logs_ingest"] {
        assert_eq!(
            comment(&c, &db, t).await,
            "otelhouse owner: LogPipeline team-a/victim uid uid-victim"
        );
    }
    let indexes = |c: Client, db: String| async move {
        c.query("SELECT count() FROM system.data_skipping_indices WHERE database = ? AND table = 'server_logs'")
            .bind(db)
            .fetch_one::<u64>()
            .await
            .unwrap()
    };
    let before = indexes(c.clone(), db.clone()).await;
    assert!(before > 0);

    // The squatter: the same table name, no indexes, one day of retention.
    let mut q = p.clone();
    q.spec.tables[0].retention_days = 1;
    q.spec.tables[0].indexes = Some(Vec::new());
    let squatter = owner("team-b", "squatter");
    let out = apply::apply(&c, &owned(layouts_in(&q, &db), &squatter), &record(), false).await;
    let Outcome::Refused { reasons, applied } = &out else {
        panic!("{out:?}")
    };
    assert!(applied.is_empty(), "{applied:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("server_logs: table belongs to LogPipeline team-a/victim")),
        "{reasons:?}"
    );
    // Without an owner (tools), another's table is refused the same way.
    let out = apply::apply(&c, &layouts_in(&q, &db), &record(), false).await;
    assert!(matches!(out, Outcome::Refused { .. }), "{out:?}");
    assert_eq!(indexes(c.clone(), db.clone()).await, before);
    assert!(apply::plan(&c, &theirs).await.unwrap().is_empty());

    // The squatter deleted with `deletionPolicy: Drop`: nothing of the victim's is dropped.
    let names = vec!["server_logs".to_string()];
    let plan = otelhouse::schema::plan_drop(&c, &names, placement(&db), &squatter)
        .await
        .unwrap();
    assert!(plan.steps.is_empty(), "{plan:?}");
    assert!(
        plan.refused
            .iter()
            .any(|r| r.contains("belongs to LogPipeline team-a/victim")),
        "{plan:?}"
    );
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM system.tables WHERE database = '{db}'")
        )
        .await,
        4,
        "target, ingest, view and history stay"
    );

    // The owner's Drop drops its three objects.
    let plan = otelhouse::schema::plan_drop(&c, &names, placement(&db), &victim)
        .await
        .unwrap();
    assert_eq!(plan.steps.len(), 3, "{plan:?}");
    for sql in plan.statements() {
        c.query(&sql).execute().await.unwrap();
    }
    assert_eq!(
        count(
            &c,
            &format!("SELECT count() FROM system.tables WHERE database = '{db}'")
        )
        .await,
        1,
        "only the history table is left"
    );
}

/// Tables the operator made before the owner records are adopted by the pipeline that applies
/// them (the model gives each table to one pipeline); a table it did not make (no record, no
/// view of ours) is left alone, neither altered nor dropped.
#[tokio::test]
async fn unmarked_tables_are_adopted_only_when_they_are_the_operators() {
    let (db, p, c) = server_logs_applied("adopt").await;
    assert_eq!(comment(&c, &db, "server_logs").await, "");
    let me = owner("otelhouse-system", "clickhouse");
    let mine = owned(layouts_in(&p, &db), &me);
    let plan = apply::plan(&c, &mine).await.unwrap();
    assert_eq!(plan.steps.len(), 2, "{plan:#?}");
    assert!(
        plan.statements()
            .iter()
            .all(|s| s.contains("MODIFY COMMENT 'otelhouse owner: LogPipeline otelhouse-system/clickhouse uid uid-clickhouse'")),
        "{plan:#?}"
    );
    assert!(matches!(
        apply::apply(&c, &mine, &record(), false).await,
        Outcome::Applied { .. }
    ));
    assert!(apply::plan(&c, &mine).await.unwrap().is_empty());
    // The same pipeline under a new uid (deleted with Retain, created again) keeps its table.
    let again = owned(
        layouts_in(&p, &db),
        &otelhouse::model::table::Owner {
            uid: Some("uid-new".into()),
            ..me.clone()
        },
    );
    let plan = apply::plan(&c, &again).await.unwrap();
    assert!(plan.refused.is_empty(), "{plan:#?}");
    assert_eq!(plan.steps.len(), 2, "the records follow the new uid");

    // A table someone made by hand under a pipeline's table name.
    c.query(&format!(
        "CREATE TABLE `{db}`.hand_made (x UInt8) ENGINE = MergeTree ORDER BY x"
    ))
    .execute()
    .await
    .unwrap();
    let mut q = p.clone();
    q.spec.tables[0].name = "hand_made".into();
    let out = apply::apply(&c, &owned(layouts_in(&q, &db), &me), &record(), false).await;
    let Outcome::Refused { reasons, .. } = &out else {
        panic!("{out:?}")
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("without an owner record")),
        "{reasons:?}"
    );
    let plan = otelhouse::schema::plan_drop(&c, &["hand_made".to_string()], placement(&db), &me)
        .await
        .unwrap();
    assert!(
        plan.steps.is_empty() && !plan.refused.is_empty(),
        "{plan:?}"
    );
}

/// Each value the model refuses for ClickHouse's sake (src/model/table.rs), shown here to be
/// refused or to misbehave on the real engine when it gets through: the layout of a valid table
/// with the one field changed as the refused spec would have it.
#[tokio::test]
async fn values_the_model_refuses_are_refused_or_misbehave_in_clickhouse() {
    use otelhouse::model::table::resolve_spec;
    let c = client();
    let base = || {
        let mut p = sample_pipeline();
        p.spec.tables.truncate(1);
        p.spec.tables[0].indexes = Some(Vec::new());
        p
    };
    let spec_refused = |edit: &dyn Fn(&mut otelhouse::crd::TableSpec), field: &str| {
        let mut p = base();
        edit(&mut p.spec.tables[0]);
        let e = resolve_spec(&p.spec.tables[0]).unwrap_err();
        assert!(e.iter().any(|m| m.starts_with(field)), "{field}: {e:?}");
    };
    let column = |name: &str, ty: &str| -> otelhouse::crd::ColumnSpec {
        serde_json::from_str(&format!(
            r#"{{"name": "{name}", "from": "LogAttributes", "key": "k", "type": "{ty}"}}"#
        ))
        .unwrap()
    };
    let create = |l: &TableLayout| {
        let c = c.clone();
        let sql = [l.create_database(), l.create_target()];
        async move {
            for s in &sql[..1] {
                c.query(s).execute().await.unwrap();
            }
            c.query(&sql[1]).execute().await
        }
    };
    let layout = |db: &str| layouts_in(&base(), db).remove(0);
    // A batch of lines of now, a millisecond apart, as one block (chdb's streaming insert
    // path cuts blocks of its own, a server does not; older lines would be past the TTL).
    let batch = |db: &str, n: u64| {
        let sql = format!(
            "INSERT INTO `{db}`.server_logs_ingest (Timestamp, ServiceName, Body, ResourceAttributes) \
             SELECT now64(9) - toIntervalMillisecond(number), 'svc', concat('line ', toString(number)), \
             map('k8s.namespace.name', 'ns-1', 'k8s.pod.name', 'p') FROM numbers({n})"
        );
        c.query(&sql).execute()
    };

    // A column named like a virtual column: refused at CREATE, or hiding the virtual column.
    spec_refused(
        &|t| t.columns.push(column("_row_exists", "String")),
        "table.columns",
    );
    let db = kit::unique_database("virtual");
    let mut l = layout(&db);
    let mut col = l.columns.last().unwrap().clone();
    col.name = "_row_exists".into();
    l.columns.push(col.clone());
    let err = create(&l).await.unwrap_err().to_string();
    assert!(
        err.contains("reserved for persistent virtual column"),
        "{err}"
    );
    spec_refused(
        &|t| t.columns.push(column("_part", "String")),
        "table.columns",
    );
    let mut l = layout(&db);
    col.name = "_part".into();
    col.sql_type = "String".into();
    l.columns.push(col.clone());
    create(&l).await.unwrap();
    c.query(&format!("INSERT INTO `{db}`.`{}` (`Timestamp`, `EventDate`, `EventTime`, `_part`) VALUES (now64(9), today(), now(), 'mine')", l.table))
        .execute()
        .await
        .unwrap();
    let part: String = c
        .query(&format!("SELECT _part FROM `{db}`.`{}`", l.table))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(part, "mine", "the column hides the virtual column _part");

    // An index or a function that does not fit the column's type: refused at CREATE.
    let mut l = layout(&kit::unique_database("misfit"));
    let ix = |expr: &str, ty: &str| -> otelhouse::crd::IndexSpec {
        serde_json::from_str(&format!(r#"{{"expression": "{expr}", "type": "{ty}"}}"#)).unwrap()
    };
    spec_refused(
        &|t| {
            t.columns.push(column("code", "Int64"));
            t.indexes = Some(vec![ix("code", "tokenbf_v1")]);
        },
        "table.indexes[0].type",
    );
    l.indexes = vec![ddl::Index {
        name: "i".into(),
        expr: "`SeverityNumber`".into(),
        type_sql: "tokenbf_v1(256, 2, 0)".into(),
        granularity: 1,
    }];
    let err = create(&l).await.unwrap_err().to_string();
    assert!(err.contains("can only be used with column types"), "{err}");
    spec_refused(
        &|t| t.indexes = Some(vec![ix("Timestamp", "text")]),
        "table.indexes[0].type",
    );
    l.indexes[0].type_sql = "text(tokenizer = splitByNonAlpha)".into();
    l.indexes[0].expr = "`Timestamp`".into();
    let err = create(&l).await.unwrap_err().to_string();
    assert!(
        err.contains("Text index must be created on columns"),
        "{err}"
    );
    l.indexes.clear();
    spec_refused(
        &|t| t.order_by = vec!["lower(SeverityNumber)".into()],
        "table.orderBy[0]",
    );
    l.order_by = vec!["lower(`SeverityNumber`)".into()];
    let err = create(&l).await.unwrap_err().to_string();
    assert!(
        err.contains("Illegal type UInt8 of argument of function lower"),
        "{err}"
    );
    spec_refused(
        &|t| t.order_by = vec!["toStartOfHour(Body)".into()],
        "table.orderBy[0]",
    );
    l.order_by = vec!["toStartOfHour(`Body`)".into()];
    let err = create(&l).await.unwrap_err().to_string();
    assert!(
        err.contains("Should be Date, Date32, DateTime or DateTime64"),
        "{err}"
    );

    spec_refused(&|t| t.index_granularity = Some(0), "table.indexGranularity");
    let mut g = layout(&kit::unique_database("granularity"));
    g.index_granularity = 0;
    let err = create(&g).await.unwrap_err().to_string();
    assert!(err.contains("value 0 makes no sense"), "{err}");

    // toDate of a String column: created, then every insert of a line that is not a date fails.
    spec_refused(
        &|t| t.partition_by = Some("toDate(Body)".into()),
        "table.partitionBy",
    );
    let db = kit::unique_database("partition");
    let mut l = layout(&db);
    l.partition_by = "toDate(`Body`)".into();
    for s in l.create_all() {
        c.query(&s).execute().await.unwrap();
    }
    let err = batch(&db, 3).await.unwrap_err().to_string();
    assert!(err.contains("Cannot parse"), "{err}");

    // The raw Timestamp (or an hour): one batch of 200 lines spans 200 partitions, refused
    // whole by the server's max_partitions_per_insert_block (100), on every retry.
    spec_refused(
        &|t| t.partition_by = Some("Timestamp".into()),
        "table.partitionBy",
    );
    spec_refused(
        &|t| t.partition_by = Some("toStartOfHour(Timestamp)".into()),
        "table.partitionBy",
    );
    let db = kit::unique_database("partition_raw");
    let mut l = layout(&db);
    l.partition_by = "`Timestamp`".into();
    for s in l.create_all() {
        c.query(&s).execute().await.unwrap();
    }
    let err = batch(&db, 200).await.unwrap_err().to_string();
    assert!(err.contains("Too many partitions"), "{err}");
    // The default daily key takes the same batch.
    let db = kit::unique_database("partition_daily");
    let l = layout(&db);
    for s in l.create_all() {
        c.query(&s).execute().await.unwrap();
    }
    batch(&db, 200).await.unwrap();
    assert_eq!(
        count(&c, &format!("SELECT count() FROM `{db}`.`{}`", l.table)).await,
        200
    );
}
