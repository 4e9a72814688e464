//! The ClickHouseStore reconciler: can the operator reach it, which version, its status.

use super::pipeline::connection;
use super::{Context, Error, Timer, now, status};
use crate::crd::ClickHouseStore;
use crate::model::ResourceId;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// Reconcile one ClickHouseStore: can we reach it, which version, status.
pub async fn reconcile_store(
    store: Arc<ClickHouseStore>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if !ctx.is_active() {
        return Ok(Action::await_change());
    }
    let _timer = Timer::start(&ctx, "clickhousestore");
    let id = ResourceId::of(&*store);
    let snapshot = ctx.snapshot();
    let health = if snapshot.excluded(&id) {
        Err("invalid".to_string())
    } else {
        match connection(&ctx, &store).await {
            Err(e) => Err(e.to_string()),
            Ok(conn) => ctx
                .clickhouse_client(&conn)
                .query("SELECT version()")
                .fetch_one::<String>()
                .await
                .map_err(|e| e.to_string()),
        }
    };
    let failed = health.is_err() && !snapshot.excluded(&id);
    let old = store.status.clone();
    let mut new = status::store_status(
        &id,
        store.metadata.generation,
        &snapshot,
        health.clone(),
        old.as_ref(),
        &now(),
    );
    status::with_tenants(&mut new, ctx.tenants_of(&store.name_any()), old.as_ref());
    ctx.write_status(&*store, old.as_ref(), &new).await?;
    Ok(Action::requeue(ctx.backoff(&id, failed)))
}
