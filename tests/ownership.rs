//! A table is its pipeline's, through the controller (the test kit's API server, ClickHouse real:
//! chdb): a squatter, in a cluster whose operator cannot see the owner (another cluster on the
//! same store), gets its schema refused naming the owner, and its `deletionPolicy: Drop` leaves
//! the owner's table where it is. The model refuses a squatter the operator can see
//! (src/model/tests.rs, tests/hostile/02-tables.yaml); this is the store's own record.

mod kit;

use kit::world::{PIPELINES, World, tenant_inputs};
use kube::api::{Api, DeleteParams};
use otelhouse::controller;
use otelhouse::crd::{DeletionPolicy, LogPipeline};

async fn tables(db: &str) -> u64 {
    clickhouse::Client::default()
        .with_url(kit::clickhouse_url())
        .query("SELECT count() FROM system.tables WHERE database = ? AND name LIKE 'app_logs%'")
        .bind(db)
        .fetch_one()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_squatters_schema_is_refused_and_its_drop_keeps_the_owners_table() {
    // The owner's cluster: team-a/app makes app_logs (target, ingest, view), with its record.
    let inputs = tenant_inputs();
    let db = inputs.stores[0].spec.database.clone();
    let mut owner = World::new(&inputs);
    owner.reconcile_all().await;
    assert_eq!(tables(&db).await, 3);
    let comment: String = clickhouse::Client::default()
        .with_url(kit::clickhouse_url())
        .query("SELECT comment FROM system.tables WHERE database = ? AND name = 'app_logs'")
        .bind(&db)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(comment, "otelhouse owner: LogPipeline team-a/app uid uid-p");

    // Another cluster on the same store: team-b/squatter names app_logs, deletionPolicy: Drop,
    // a shorter retention and no indexes.
    let mut theirs = inputs.clone();
    theirs.stores[0]
        .spec
        .allowed_namespaces
        .push("team-b".into());
    let mut squatter: LogPipeline = inputs.pipelines[0].clone();
    squatter.metadata.namespace = Some("team-b".into());
    squatter.metadata.name = Some("squatter".into());
    squatter.metadata.uid = Some("uid-squatter".into());
    squatter.spec.deletion_policy = DeletionPolicy::Drop;
    squatter.spec.tables[0].retention_days = 1;
    squatter.spec.tables[0].indexes = Some(Vec::new());
    theirs.pipelines = vec![squatter];
    let mut w = World::new(&theirs);
    w.reconcile_all().await;
    let status = serde_json::to_string(&w.pipeline("squatter").status).unwrap();
    assert!(
        status.contains("Refused") && status.contains("belongs to LogPipeline team-a/app"),
        "{status}"
    );
    assert_eq!(tables(&db).await, 3);
    assert!(
        w.pipeline("squatter")
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "otelhouse.dev/drop-tables"),
        "the squatter holds a drop finalizer"
    );

    // The squatter is deleted: its finalizer runs and drops nothing of the owner's.
    let user: Api<LogPipeline> = Api::namespaced(w.api.client_as("user"), "team-b");
    user.delete("squatter", &DeleteParams::default())
        .await
        .unwrap();
    w.sync_status();
    controller::reconcile_pipeline(w.pipeline("squatter"), w.ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        tables(&db).await,
        3,
        "the owner's table, ingest and view stay"
    );
    assert!(
        w.api.get(PIPELINES, "team-b", "squatter").is_none(),
        "the squatter is let go"
    );
    // And the owner still plans nothing: its table is as it was.
    assert!(
        owner.reconcile_all().await.is_empty(),
        "the owner's pass writes nothing"
    );
}
