//! otelhouse: a Kubernetes operator for an OpenTelemetry-to-ClickHouse log platform.
//!
//! Reconcile is a short pipeline: read facts ([`inventory`]) -> validate ([`validate`], pure)
//! -> build ([`agents`], [`gateway`], [`collector`], pure) -> apply -> status. `render` runs
//! the first three offline.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// The oldest Kubernetes the rendered objects are validated against (trafficDistribution is GA
/// in 1.33).
pub const MIN_KUBERNETES_VERSION: &str = "1.33.0";

pub mod agents;
pub mod collector;
pub mod controller;
pub mod crd;
pub mod gateway;
pub mod ident;
pub mod inventory;
pub mod kinds;
pub mod meta;
pub mod par;
pub mod quantity;
pub mod render;
pub mod schema;
pub mod validate;
