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
    let mut held = Vec::new();
    if !snapshot.excluded(&id) {
        // The shared pipelines by content: a new one is applied at once (nothing reads it
        // until a class's check passed), the ones live agents still read are kept.
        ctx.sync_keeping_mounted(&Owner::Agents, &snapshot).await?;
        let (writes, h) = ctx
            .sync_checked(&Owner::Class(name.clone()), &snapshot)
            .await?;
        held.extend(h.into_iter().map(|h| (name.clone(), h)));
        // A DaemonSet moved to the new shared pipelines: the old ones may be unread now.
        if writes > 0 {
            ctx.sync_keeping_mounted(&Owner::Agents, &snapshot).await?;
        }
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
        &held,
        &ctx.flow_of(&id),
        old.as_ref(),
        &now(),
    );
    ctx.write_status(&*class, old.as_ref(), &new).await?;
    let old_conditions = old.as_ref().map(|o| o.common.conditions.as_slice());
    if let Some(c) = status::flow_transition(old_conditions.unwrap_or_default(), &new.common) {
        ctx.event(&*class, c.status == "False", &c.reason, c.message.clone())
            .await;
    }
    // One Event when a config is refused (not on every pass while it stays refused).
    if let Some(message) = status::newly_rejected(old.as_ref().map(|o| &o.common), &new.common) {
        ctx.event(&*class, true, "ConfigRejected", message).await;
    }
    // A check's Job finishing triggers the class (its watch); this is the backstop.
    if held
        .iter()
        .any(|(_, h)| h.gate == super::config_check::Gate::Validating)
    {
        ctx.backoff(&id, false);
        return Ok(Action::requeue(std::time::Duration::from_secs(30)));
    }
    Ok(Action::requeue(ctx.backoff(&id, false)))
}
