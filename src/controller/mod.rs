//! The controller: reconciles AgentClasses, LogPipelines and ClickHouseStores into the cluster and
//! ClickHouse. Each kind has one reconciler of the same shape ([`class`], [`pipeline`], [`store`]):
//! the facts (caches fed by watches, [`context`]) -> the resolved model and the objects built from
//! it (the [`snapshot`], pure, computed once per change of the facts, with `render`'s builders)
//! -> apply (server-side apply, only what differs from the live object) and orphan deletion
//! ([`apply`]) -> status (only when it changed, [`status`]) and Events (only on transitions).

pub mod apply;
pub mod class;
pub mod cleanup;
pub mod config_check;
pub mod context;
pub mod flow;
pub mod metrics;
pub mod periodic;
pub mod pipeline;
pub mod run;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod usage;

pub use class::reconcile_class;
pub use context::Context;
pub use flow::flow_step;
pub use pipeline::{cleanup_pipeline, reconcile_pipeline};
pub use store::reconcile_store;
pub use usage::usage_step;

use crate::model::ResourceId;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::runtime::controller::Action;
use std::sync::Arc;
use std::time::Duration;

/// The finalizer a pipeline with `deletionPolicy: Drop` carries until its tables are dropped.
pub const DROP_FINALIZER: &str = "otelhouse.dev/drop-tables";
/// How often an unchanged resource is looked at again.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Why a reconcile failed. "Not ready yet" is a status, not an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("ClickHouse store {store}: {message}")]
    ClickHouse { store: String, message: String },
    #[error("credentials of store {store}: {message}")]
    Credentials { store: String, message: String },
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// A small fixed set of categories, for metrics and Events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kubernetes",
            Error::ClickHouse { .. } => "clickhouse",
            Error::Credentials { .. } => "credentials",
            Error::Internal(_) => "internal",
        }
    }
}

pub(crate) fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Errors requeue with a growing backoff per object, are counted and become an Event.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let id = ResourceId::of(&*obj);
    let controller = controller_label(id.kind);
    ctx.metrics
        .errors
        .get_or_create(&metrics::ErrorLabels {
            controller,
            category: error.category(),
        })
        .inc();
    tracing::warn!(resource = %id, category = error.category(), error = %error, "reconcile failed");
    // The same key as a successful reconcile clears: a success resets the backoff.
    Action::requeue(ctx.backoff(&id, true))
}

/// The `controller` label of a kind's metrics.
pub fn controller_label(kind: crate::model::ResourceKind) -> &'static str {
    match kind {
        crate::model::ResourceKind::AgentClass => "agentclass",
        crate::model::ResourceKind::LogPipeline => "logpipeline",
        crate::model::ResourceKind::ClickHouseStore => "clickhousestore",
    }
}

/// Counts a reconcile and observes its duration when dropped.
struct Timer<'a> {
    ctx: &'a Context,
    controller: &'static str,
    start: std::time::Instant,
}

impl<'a> Timer<'a> {
    fn start(ctx: &'a Context, controller: &'static str) -> Self {
        ctx.metrics
            .reconciles
            .get_or_create(&metrics::ControllerLabel { controller })
            .inc();
        Self {
            ctx,
            controller,
            start: std::time::Instant::now(),
        }
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.ctx
            .metrics
            .duration
            .get_or_create(&metrics::ControllerLabel {
                controller: self.controller,
            })
            .observe(self.start.elapsed().as_secs_f64());
    }
}
