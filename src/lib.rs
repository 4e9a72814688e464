//! otelhouse: a Kubernetes operator for an OpenTelemetry-to-ClickHouse log platform.
//!
//! Reconcile is a short pipeline: read facts ([`inventory`]) -> resolve and validate into the
//! model ([`model`], pure) -> build ([`build`]: [`agents`], [`gateway`], [`collector`],
//! [`schema`], pure) -> apply -> status ([`controller`]). `render` runs the first three offline.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// The oldest Kubernetes the rendered objects are validated against (trafficDistribution is GA
/// in 1.33).
pub const MIN_KUBERNETES_VERSION: &str = "1.33.0";

pub mod agents;
pub mod build;
pub mod collector;
pub mod controller;
pub mod crd;
pub mod flow;
pub mod gateway;
pub mod ident;
pub mod inventory;
pub mod kinds;
pub mod meta;
pub mod model;
pub mod par;
pub mod quantity;
pub mod render;
pub mod schema;
