//! The operator's periodic rounds (flow health, usage): each runs every interval while this
//! replica is active (leading, caches synced) and sends the resources whose status it would
//! change to their controllers, whose reconcile writes it.

use super::{Context, Error};
use crate::model::{ResourceId, ResourceKind};
use futures::future::BoxFuture;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Where the rounds send the resources to reconcile (the controllers' trigger channels).
#[derive(Clone)]
pub struct Triggers {
    pub pipelines: UnboundedSender<ObjectRef<crate::crd::LogPipeline>>,
    pub classes: UnboundedSender<ObjectRef<crate::crd::AgentClass>>,
    pub stores: UnboundedSender<ObjectRef<crate::crd::ClickHouseStore>>,
}

impl Triggers {
    /// A controller gone (shutting down) is not an error here.
    pub fn send(&self, id: ResourceId) {
        match (id.kind, id.namespace) {
            (ResourceKind::LogPipeline, Some(ns)) => {
                let _ = self.pipelines.send(ObjectRef::new(&id.name).within(&ns));
            }
            (ResourceKind::AgentClass, _) => {
                let _ = self.classes.send(ObjectRef::new(&id.name));
            }
            (ResourceKind::ClickHouseStore, _) => {
                let _ = self.stores.send(ObjectRef::new(&id.name));
            }
            _ => {}
        }
    }
}

/// One round: the resources whose status it would change.
pub type Round = for<'a> fn(&'a Context) -> BoxFuture<'a, Result<Vec<ResourceId>, Error>>;

/// Runs `round` every `interval` while this replica is active, until `shutdown`; nothing with
/// an interval of zero. A round that fails is logged and tried again at the next tick.
pub async fn every(
    ctx: Arc<Context>,
    interval: Duration,
    name: &'static str,
    round: Round,
    triggers: Triggers,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if interval.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    // A slow round delays the next one instead of bunching them up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !ctx.is_active() {
            continue;
        }
        match round(&ctx).await {
            Ok(changed) => changed.into_iter().for_each(|id| triggers.send(id)),
            Err(e) => tracing::warn!(error = %e, round = name, "periodic round failed"),
        }
    }
}
