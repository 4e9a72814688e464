//! The ClickHouse schema against the real engine (chdb 26.9 in-process, or `CLICKHOUSE_URL`).

mod common;

use clickhouse::Client;
use otelhouse::crd::{LogPipeline, TableEngine};
use otelhouse::schema::apply::{self, Connection, Outcome, Record};
use otelhouse::schema::ddl::{self, TableLayout};

fn client() -> Client {
    Connection {
        url: common::clickhouse_url(),
        user: std::env::var("CLICKHOUSE_USER").ok(),
        password: std::env::var("CLICKHOUSE_PASSWORD").ok(),
    }
    .client()
}

fn sample_pipeline() -> LogPipeline {
    common::sample_inputs()
        .pipelines
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some("clickhouse"))
        .unwrap()
}

fn layouts_in(p: &LogPipeline, database: &str) -> Vec<TableLayout> {
    p.spec
        .tables
        .iter()
        .map(|t| ddl::layout(t, database, None, TableEngine::MergeTree))
        .collect()
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
    let db = common::unique_database("samples");
    let layouts = layouts_in(&sample_pipeline(), &db);
    let c = client();
    let out = apply::apply(&c, &layouts, &record(), false).await;
    let Outcome::Applied { statements } = &out else { panic!("{out:?}") };
    // database, history, and target + ingest + view per table.
    assert_eq!(statements.len(), 2 + 3 * layouts.len(), "{statements:#?}");
    let again = apply::plan(&c, &layouts).await.unwrap();
    assert!(again.is_empty(), "second plan: {again:#?}");
    assert_eq!(apply::apply(&c, &layouts, &record(), false).await, Outcome::UpToDate);
    let history: u64 = c
        .query(&format!("SELECT count() FROM `{db}`.otelhouse_schema_history"))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(history, 1, "one recorded run");
}
