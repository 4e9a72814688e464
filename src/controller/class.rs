//! The AgentClass reconciler: the shared agent objects and the class's own, then its status.

use super::snapshot::Owner;
use super::{Context, Error, Timer, now, status};
use crate::crd::AgentClass;
use crate::kinds::Managed;
use crate::model::ResourceId;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// Reconcile one AgentClass: the shared agent objects, the class's own, its status.
pub async fn reconcile_class(class: Arc<AgentClass>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.is_active() {
        return Ok(Action::await_change());
    }
    let _timer = Timer::start(&ctx, "agentclass");
    let name = class.name_any();
    let id = ResourceId::of(&*class);
    let snapshot = ctx.snapshot();
    // A class set aside keeps the agents it has: a typo must not stop collection.
    if !snapshot.excluded(&id) {
        ctx.sync_owner(&Owner::Agents, &snapshot).await?;
        ctx.sync_owner(&Owner::Class(name.clone()), &snapshot)
            .await?;
    }
    let ds = ctx
        .owned_summaries(Managed::DaemonSet, &Owner::Class(name.clone()))
        .into_iter()
        .next();
    let old = class.status.clone();
    let new = status::class_status(
        &id,
        class.metadata.generation,
        &snapshot,
        ds.as_ref(),
        snapshot.overlaps_of(&id),
        old.as_ref(),
        &now(),
    );
    ctx.write_status(&*class, old.as_ref(), &new).await?;
    Ok(Action::requeue(ctx.backoff(&id, false)))
}
