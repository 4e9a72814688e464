//! The ClickHouse side of usage and health (src/schema/usage.rs) against the real engine: chdb
//! in-process, or a server at `CLICKHOUSE_URL`. The schema is the sample pipeline's, installed
//! by the real DDL path (`apply::apply`), and rows go in as the exporter sends them, into the
//! ingest table.

mod kit;

use kit::exporter::ExporterRow;

use clickhouse::Client;
use otelhouse::crd::{LogPipeline, TableEngine};
use otelhouse::schema::apply::{self, Outcome, Record};
use otelhouse::schema::ddl::TableLayout;
use otelhouse::schema::usage::{self, Figures, Pricing, Target, TimeRange};
use std::collections::BTreeMap;

fn client() -> Client {
    kit::clickhouse_client()
}

fn sample_pipeline() -> LogPipeline {
    kit::sample_pipeline("clickhouse")
}

fn layouts_of(p: &LogPipeline, database: &str) -> Vec<TableLayout> {
    let tables: Vec<otelhouse::model::Table> = p
        .spec
        .tables
        .iter()
        .map(|t| otelhouse::model::table::resolve_spec(t).expect("the table resolves"))
        .collect();
    otelhouse::schema::layouts(
        &tables,
        otelhouse::schema::Placement {
            database,
            cluster: None,
            engine: TableEngine::MergeTree,
        },
    )
}

async fn installed(p: &LogPipeline, db: &str, c: &Client) -> Vec<TableLayout> {
    let layouts = layouts_of(p, db);
    let record = Record {
        pipeline: "otelhouse-system.clickhouse".into(),
        generation: 1,
        spec_hash: "test".into(),
    };
    let out = apply::apply(c, &layouts, &record, false).await;
    assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
    layouts
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i64
}

const HOUR_NS: i64 = 3_600_000_000_000;

/// Row `i` of a batch, `ago_ns` before now.
fn row(i: u64, ago_ns: i64) -> ExporterRow {
    let kv = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    ExporterRow {
        timestamp: now_nanos() - ago_ns,
        trace_id: String::new(),
        span_id: String::new(),
        trace_flags: 0,
        severity_text: "INFO".into(),
        severity_number: 9,
        service_name: "clickhouse-server".into(),
        body: format!("<Information> executeQuery: query {i} finished"),
        resource_schema_url: String::new(),
        resource_attributes: kv(&[
            ("k8s.namespace.name", "ns-1"),
            ("k8s.pod.name", "pod-a"),
            ("k8s.container.name", "clickhouse-server"),
        ]),
        scope_schema_url: String::new(),
        scope_name: String::new(),
        scope_version: String::new(),
        scope_attributes: vec![],
        log_attributes: kv(&[("thread_id", "42"), ("level", "Information")]),
        event_name: String::new(),
    }
}

/// One insert (one part) of `n` rows `ago_ns` before now, into `table`'s ingest table; `first`
/// keeps batches distinct (the target deduplicates identical ones).
async fn insert(c: &Client, db: &str, table: &str, first: u64, n: u64, ago_ns: i64) {
    let c = c.clone().with_database(db);
    let mut ins = c
        .insert::<ExporterRow>(&format!("{table}_ingest"))
        .await
        .expect("insert starts");
    for i in first..first + n {
        ins.write(&row(i, ago_ns)).await.expect("row written");
    }
    ins.end().await.expect("insert ends");
}

async fn one(c: &Client, sql: &str) -> u64 {
    c.query(sql).fetch_one::<u64>().await.expect(sql)
}

fn targets(layouts: &[TableLayout]) -> Vec<Target<'_>> {
    layouts.iter().map(Target::from).collect()
}

/// The server's own default for a MergeTree setting.
async fn server_setting(c: &Client, name: &str) -> u64 {
    one(
        c,
        &format!("SELECT toUInt64(value) FROM system.merge_tree_settings WHERE name = '{name}'"),
    )
    .await
}

/// Rows now, two hours ago and three days ago, two inserts each, into both sample tables: the
/// one partitioned by `toDate(Timestamp)` (keeper_logs: exact part ranges) counts its windows
/// exactly, the one by `EventDate` (server_logs: day ranges) prorates them; totals, parts,
/// limits and the cost are the store's own figures.
#[tokio::test]
async fn rows_and_bytes_per_window_parts_and_cost() {
    let db = kit::unique_database("usage");
    let c = client();
    let layouts = installed(&sample_pipeline(), &db, &c).await;
    for l in &layouts {
        // Parts stay as inserted: merges would widen the exact ranges (and change counts).
        c.query(&format!("SYSTEM STOP MERGES `{db}`.`{}`", l.table))
            .execute()
            .await
            .expect("merges stop");
    }
    for table in ["server_logs", "keeper_logs"] {
        insert(&c, &db, table, 0, 50, 0).await;
        insert(&c, &db, table, 100, 50, 0).await;
        insert(&c, &db, table, 200, 30, 2 * HOUR_NS).await;
        insert(&c, &db, table, 300, 30, 2 * HOUR_NS).await;
        insert(&c, &db, table, 400, 20, 72 * HOUR_NS).await;
        insert(&c, &db, table, 500, 20, 72 * HOUR_NS).await;
    }
    let started = std::time::Instant::now();
    let figures = usage::read(&c, &db, &targets(&layouts)).await.unwrap();
    println!("usage::read of 2 tables: {:?}", started.elapsed());
    assert_eq!(figures.len(), 2, "{figures:#?}");

    // Seconds since midnight, and whether two hours ago was today (not so from 00:00 to 02:00).
    let since_midnight = one(&c, "SELECT toUInt64(now() - toDateTime(today()))").await;
    let same_day = since_midnight > 2 * 3600 + 60;
    let today_parts = if same_day { 4 } else { 2 };
    let (delay, throw) = (
        server_setting(&c, "parts_to_delay_insert").await,
        server_setting(&c, "parts_to_throw_insert").await,
    );

    let keeper = &figures["keeper_logs"];
    assert_eq!(keeper.time_range, TimeRange::Exact);
    assert_eq!(
        (
            keeper.total.rows,
            keeper.last_day.rows,
            keeper.last_hour.rows
        ),
        (200, 160, 100)
    );
    // The bytes of the same parts, as system.parts has them.
    let bytes = |what: &str, since: &str| {
        format!(
            "SELECT sum({what}) FROM system.parts WHERE database = '{db}' AND table = 'keeper_logs' \
             AND active AND max_time >= {since}"
        )
    };
    for (window, amount) in [
        ("now() - 3600", keeper.last_hour),
        ("now() - 86400", keeper.last_day),
        ("0", keeper.total),
    ] {
        assert_eq!(
            amount.compressed_bytes,
            one(&c, &bytes("data_compressed_bytes", window)).await,
            "{window}"
        );
        assert_eq!(
            amount.uncompressed_bytes,
            one(&c, &bytes("data_uncompressed_bytes", window)).await,
            "{window}"
        );
    }
    assert!(keeper.last_hour.compressed_bytes > 0);
    assert!(keeper.last_hour.uncompressed_bytes > keeper.last_hour.compressed_bytes);
    assert_eq!(keeper.active_parts, 6);
    assert_eq!(keeper.max_parts_in_partition, today_parts);
    assert_eq!(
        (
            keeper.limits.parts_to_delay_insert,
            keeper.limits.parts_to_throw_insert
        ),
        (delay, throw)
    );

    let server = &figures["server_logs"];
    assert_eq!(server.time_range, TimeRange::Day);
    assert_eq!(server.total.rows, 200);
    assert_eq!(server.active_parts, 6);
    assert_eq!(server.max_parts_in_partition, today_parts);
    if same_day {
        // Today's partition whole in the last day (yesterday's is empty, the older one is out);
        // the last hour is today's hourly average.
        assert_eq!(server.last_day.rows, 160);
        let expected = 160.0 * 3600.0 / since_midnight as f64;
        assert!(
            (server.last_hour.rows as f64 - expected).abs() <= 1.5,
            "{} vs {expected}",
            server.last_hour.rows
        );
    } else {
        assert!((100..=160).contains(&server.last_day.rows), "{server:?}");
    }

    // The usage records: a price that makes a day's uncompressed byte cost a unit a month.
    let pricing = Pricing {
        per_tib_ingested: (1u64 << 40) as f64 / 30.0,
        per_tib_month_stored: 0.0,
    };
    let records: Vec<_> = figures
        .iter()
        .map(|(t, f)| usage::table_usage("us-east-1", t, f, None, &pricing))
        .collect();
    let k = records.iter().find(|r| r.table == "keeper_logs").unwrap();
    assert_eq!(
        k.cost_per_month,
        format!("{}.00", keeper.last_day.uncompressed_bytes)
    );
    assert_eq!(k.bytes_last_day, keeper.last_day.uncompressed_bytes);
    let v = usage::volume(records.clone(), &pricing);
    let day = keeper.last_day.uncompressed_bytes + server.last_day.uncompressed_bytes;
    assert_eq!(v.cost_per_month, format!("{day}.00"));
    assert_eq!(v.rows, 400);
    assert_eq!(v.tables.len(), 2);
    // At the source's $23.76 per TiB ingested: a few KiB a day cost nothing.
    let v = usage::volume(records, &Pricing::default());
    assert_eq!(v.cost_per_month, "0.00");
    let tenants = usage::tenants([("otelhouse-system", &v)], &Pricing::default());
    assert_eq!(tenants[0].volume.rows_last_day, v.rows_last_day);
    // Far from the server's limits.
    let c0 = usage::too_many_parts(
        &v.tables,
        &Default::default(),
        &[],
        Some(1),
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-12-02T08:00:00Z".parse().unwrap(),
        ),
    );
    assert_eq!(c0.status, "False", "{c0:?}");
}

/// A table whose `parts_to_delay_insert` is lowered (a table SETTING, which the engine
/// honours: it refuses the insert past `parts_to_throw_insert`) is reported at risk before the
/// limit, delayed at it, and refused past the other.
#[tokio::test]
async fn too_many_parts_before_the_servers_limit() {
    let db = kit::unique_database("parts");
    let c = client();
    let mut p = sample_pipeline();
    p.spec.tables.retain(|t| t.name == "keeper_logs");
    let layouts = installed(&p, &db, &c).await;
    c.query(&format!(
        "ALTER TABLE `{db}`.keeper_logs MODIFY SETTING parts_to_delay_insert = 10, \
         parts_to_throw_insert = 14, max_delay_to_insert = 1"
    ))
    .execute()
    .await
    .unwrap();
    c.query(&format!("SYSTEM STOP MERGES `{db}`.keeper_logs"))
        .execute()
        .await
        .unwrap();
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-12-02T08:00:00Z".parse().unwrap(),
    );
    let condition = async |old: &[_]| {
        let f: BTreeMap<String, Figures> = usage::read(&c, &db, &targets(&layouts)).await.unwrap();
        let records: Vec<_> = f
            .iter()
            .map(|(t, f)| usage::table_usage("us-east-1", t, f, None, &Pricing::default()))
            .collect();
        usage::too_many_parts(&records, &Default::default(), old, Some(2), &now)
    };
    for i in 0..4 {
        insert(&c, &db, "keeper_logs", i * 10, 10, 0).await;
    }
    let below = condition(&[]).await;
    assert_eq!(
        (below.status.as_str(), below.reason.as_str()),
        ("False", "PartsBelowLimit"),
        "{below:?}"
    );
    insert(&c, &db, "keeper_logs", 40, 10, 0).await;
    let near = condition(std::slice::from_ref(&below)).await;
    assert_eq!(
        (near.status.as_str(), near.reason.as_str()),
        ("True", "PartsNearLimit"),
        "{near:?}"
    );
    assert!(
        near.message
            .starts_with("us-east-1/keeper_logs: 5 active parts in partition ")
            && near.message.contains(
                "(50% of parts_to_delay_insert 10; inserts are refused at parts_to_throw_insert 14)"
            ),
        "{}",
        near.message
    );
    assert_eq!(near.observed_generation, Some(2));
    for i in 5..10 {
        insert(&c, &db, "keeper_logs", i * 10, 10, 0).await;
    }
    assert_eq!(condition(&[]).await.reason, "InsertsDelayed");
    // Delayed inserts still land, up to the limit that refuses them.
    for i in 10..14 {
        insert(&c, &db, "keeper_logs", i * 10, 10, 0).await;
    }
    let refused = condition(&[]).await;
    assert_eq!(refused.reason, "InsertsRefused", "{refused:?}");
    let c2 = c.clone().with_database(&db);
    let mut ins = c2
        .insert::<ExporterRow>("keeper_logs_ingest")
        .await
        .unwrap();
    ins.write(&row(1000, 0)).await.unwrap();
    let err = ins
        .end()
        .await
        .expect_err("the server refuses the 15th part");
    assert!(err.to_string().contains("Too many parts"), "{err}");
}

/// chdb keeps no `system.query_log`: the last insert error is unknown (None), not "none".
#[tokio::test]
async fn no_query_log_no_insert_errors() {
    if std::env::var("CLICKHOUSE_URL").is_ok() {
        return; // A server keeps one: see the next test.
    }
    let db = kit::unique_database("qlog");
    let c = client();
    let layouts = installed(&sample_pipeline(), &db, &c).await;
    let errors = usage::insert_errors(&c, &db, &targets(&layouts), 3600)
        .await
        .unwrap();
    assert_eq!(errors, None);
}

/// On a real server (`CLICKHOUSE_URL`), an insert the store refuses is the table's last insert
/// error, with its code; another table has none. Skipped on chdb.
#[tokio::test]
async fn the_last_insert_error_from_the_query_log() {
    if std::env::var("CLICKHOUSE_URL").is_err() {
        eprintln!("skipped: CLICKHOUSE_URL is not set (chdb keeps no query_log)");
        return;
    }
    let db = kit::unique_database("qlog");
    let c = client();
    let layouts = installed(&sample_pipeline(), &db, &c).await;
    // Refused on every retry: rows over two days with at most one partition per insert.
    let strict = c
        .clone()
        .with_database(&db)
        .with_setting("max_partitions_per_insert_block", "1");
    let mut ins = strict
        .insert::<ExporterRow>("server_logs_ingest")
        .await
        .unwrap();
    ins.write(&row(0, 0)).await.unwrap();
    ins.write(&row(1, 72 * HOUR_NS)).await.unwrap();
    let err = ins.end().await.expect_err("two partitions, one allowed");
    assert!(err.to_string().contains("Too many partitions"), "{err}");
    c.query("SYSTEM FLUSH LOGS").execute().await.unwrap();
    let errors = usage::insert_errors(&c, &db, &targets(&layouts), 3600)
        .await
        .unwrap()
        .expect("the server keeps a query log");
    let e = errors.get("server_logs").expect("server_logs' error");
    // TOO_MANY_PARTS (252) is also the code of "Too many partitions".
    assert_eq!(e.code, 252, "{e:?}");
    assert!(e.message.contains("Too many partitions"), "{e:?}");
    assert!(!errors.contains_key("keeper_logs"), "{errors:?}");
}

/// The figures query over 200 tables of one store (a store of 100 two-table pipelines), with
/// a few parts each: one round trip; printed against 20 tables for how it scales.
#[tokio::test]
async fn one_query_for_two_hundred_tables() {
    let db = kit::unique_database("scale");
    let c = client();
    let base = sample_pipeline()
        .spec
        .tables
        .into_iter()
        .find(|t| t.name == "keeper_logs")
        .unwrap();
    let mut p = sample_pipeline();
    p.spec.tables = (0..200)
        .map(|i| {
            let mut t = base.clone();
            t.name = format!("t{i:03}");
            t
        })
        .collect();
    let started = std::time::Instant::now();
    let layouts = installed(&p, &db, &c).await;
    println!("installed 200 tables in {:?}", started.elapsed());
    for (i, l) in layouts.iter().enumerate() {
        insert(&c, &db, &l.table, 0, 10, 0).await;
        if i % 2 == 0 {
            insert(&c, &db, &l.table, 10, 10, 2 * HOUR_NS).await;
        }
    }
    let all = targets(&layouts);
    for n in [20, 200] {
        let mut best = std::time::Duration::MAX;
        let mut figures = BTreeMap::new();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            figures = usage::read(&c, &db, &all[..n]).await.unwrap();
            best = best.min(started.elapsed());
        }
        println!("usage::read of {n} tables: {best:?} (best of 3)");
        assert_eq!(figures.len(), n);
        assert_eq!(figures["t000"].total.rows, 20);
        assert_eq!(figures["t001"].last_day.rows, 10);
    }
}

/// The figures in status, through the operator's own usage round ([`controller::usage_step`])
/// on the controller's test world, its store the test ClickHouse: the pipeline's schema
/// installed by its reconcile, rows inserted as the exporter sends them; the round triggers the
/// pipeline and the store, whose reconciles write `status.volume` (printer columns
/// `Ingest/Day`, `Cost/Month`), `TooManyParts`, and the store's tenants. A round that finds
/// nothing material triggers nothing and a reconcile writes nothing; a 5% move does.
#[tokio::test]
async fn volume_and_cost_reach_status_and_only_material_changes_are_written() {
    use kit::world::{World, tenant_inputs};
    use otelhouse::controller;
    use otelhouse::model::ResourceId;

    let inputs = tenant_inputs();
    let db = inputs.stores[0].spec.database.clone();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    let p = w.pipeline("app");
    let table = p.spec.tables[0].name.clone();
    let pid = ResourceId::of(&*p);
    let sid = ResourceId::of(&*w.ctx.stores.state()[0]);
    assert!(
        p.status.as_ref().unwrap().volume.is_none(),
        "nothing read yet"
    );

    let c = client();
    insert(&c, &db, &table, 0, 1000, 0).await;
    insert(&c, &db, &table, 1000, 1000, 0).await;
    let changed = controller::usage_step(&w.ctx).await.unwrap();
    assert!(
        changed.contains(&pid) && changed.contains(&sid),
        "{changed:?}"
    );

    let reconcile = |w: &World| {
        let (ctx, p, s) = (
            w.ctx.clone(),
            w.pipeline("app"),
            w.ctx.stores.state()[0].clone(),
        );
        async move {
            controller::reconcile_pipeline(p, ctx.clone())
                .await
                .unwrap();
            controller::reconcile_store(s, ctx).await.unwrap();
        }
    };
    reconcile(&w).await;
    let writes: Vec<_> = w
        .api
        .take()
        .into_iter()
        .filter(|r| r.is_write() && r.path.ends_with("/status"))
        .collect();
    w.sync_status();
    assert_eq!(writes.len(), 2, "one status each: {writes:#?}");
    let st = w.pipeline("app").status.clone().unwrap();
    let v = st.volume.expect("status.volume");
    assert_eq!(
        (v.rows_last_hour, v.rows_last_day, v.rows),
        (2000, 2000, 2000)
    );
    assert!(v.bytes_last_day > 0 && v.compressed_bytes > 0, "{v:?}");
    assert_eq!(v.ingest_last_day, usage::human_bytes(v.bytes_last_day));
    let cost = Pricing::default().per_month(v.bytes_last_day, v.compressed_bytes);
    assert_eq!(v.cost_per_month, usage::money(cost));
    assert_eq!(v.tables.len(), 1);
    assert_eq!(
        (v.tables[0].store.as_str(), v.tables[0].table.as_str()),
        ("us", table.as_str())
    );
    assert_eq!(v.tables[0].active_parts, 2);
    let parts = st
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == "TooManyParts")
        .expect("TooManyParts");
    assert_eq!(
        (parts.status.as_str(), parts.reason.as_str()),
        ("False", "PartsBelowLimit")
    );
    let store = w.ctx.stores.state()[0].status.clone().unwrap();
    assert_eq!(store.tenant_count, Some(1));
    assert_eq!(store.tenants[0].namespace, "team-a");
    assert_eq!(store.tenants[0].pipelines, 1);
    assert_eq!(store.tenants[0].volume.rows_last_hour, 2000);
    assert_eq!(
        store.volume.as_ref().unwrap().cost_per_month,
        v.cost_per_month
    );

    // Nothing new: no trigger, and a reconcile (the periodic resync) writes nothing.
    assert!(controller::usage_step(&w.ctx).await.unwrap().is_empty());
    reconcile(&w).await;
    let writes: Vec<_> = w.api.take().into_iter().filter(|r| r.is_write()).collect();
    assert!(writes.is_empty(), "{writes:#?}");

    // 2% more rows: still not news; 10% more: it is.
    insert(&c, &db, &table, 2000, 40, 0).await;
    assert!(controller::usage_step(&w.ctx).await.unwrap().is_empty());
    reconcile(&w).await;
    assert!(w.api.take().iter().all(|r| !r.is_write()));
    insert(&c, &db, &table, 2040, 200, 0).await;
    let changed = controller::usage_step(&w.ctx).await.unwrap();
    assert!(
        changed.contains(&pid) && changed.contains(&sid),
        "{changed:?}"
    );
    reconcile(&w).await;
    w.api.take();
    w.sync_status();
    let v = w.pipeline("app").status.clone().unwrap().volume.unwrap();
    assert_eq!(v.rows_last_hour, 2240);
}
