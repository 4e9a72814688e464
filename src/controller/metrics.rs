//! Prometheus metrics with fixed, bounded labels.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// The operator's metrics.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ControllerLabel, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Family<ControllerLabel, Histogram>,
    pub applied: Family<KindLabel, Counter>,
    pub deleted: Family<KindLabel, Counter>,
    /// 1 for each installed CRD whose schema differs from the operator's (Helm never upgrades
    /// CRDs).
    pub stale_crds: Family<CrdLabel, Gauge>,
    /// How often the snapshot was rebuilt (once per change of the facts).
    pub snapshot_builds: Counter,
    /// Compressed bytes each pipeline table holds (the usage loop's last read).
    pub table_bytes: Family<TableLabels, Gauge>,
    /// Rows each pipeline table received in the last hour.
    pub table_rows_last_hour: Family<TableLabels, Gauge>,
}

/// One pipeline table in one store. As many series as tables: the usage loop removes a
/// table's series when it is no longer read.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct TableLabels {
    pub namespace: String,
    pub pipeline: String,
    pub store: String,
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CrdLabel {
    pub crd: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("otelhouse");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        let applied = Family::<KindLabel, Counter>::default();
        let deleted = Family::<KindLabel, Counter>::default();
        let stale_crds = Family::<CrdLabel, Gauge>::default();
        let snapshot_builds = Counter::default();
        let table_bytes = Family::<TableLabels, Gauge>::default();
        let table_rows_last_hour = Family::<TableLabels, Gauge>::default();
        registry.register(
            "table_bytes",
            "Compressed bytes each pipeline table holds per store (read every --usage-interval)",
            table_bytes.clone(),
        );
        registry.register(
            "table_rows_last_hour",
            "Rows each pipeline table received in the last hour per store (by event time)",
            table_rows_last_hour.clone(),
        );
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconcile errors by category",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "objects_applied",
            "Objects written by server-side apply",
            applied.clone(),
        );
        registry.register(
            "objects_deleted",
            "Orphaned objects deleted",
            deleted.clone(),
        );
        registry.register(
            "crd_stale",
            "Installed CRDs whose schema differs from the operator's (apply crds/)",
            stale_crds.clone(),
        );
        registry.register(
            "snapshot_builds",
            "Rebuilds of the desired state (once per change of the custom resources or nodes)",
            snapshot_builds.clone(),
        );
        // Every controller's series exists from the start (at 0), so dashboards see it.
        for controller in ["agentclass", "logpipeline", "clickhousestore"] {
            let _ = reconciles.get_or_create(&ControllerLabel { controller });
        }
        Self {
            registry,
            reconciles,
            errors,
            duration,
            applied,
            deleted,
            stale_crds,
            snapshot_builds,
            table_bytes,
            table_rows_last_hour,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_exist_from_the_start() {
        let m = super::Metrics::default();
        let text = m.encode();
        assert!(
            text.contains("otelhouse_reconciles_total{controller=\"logpipeline\"} 0"),
            "{text}"
        );
    }
}
