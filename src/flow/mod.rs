//! Flow health from the collectors' own metrics (issue 13): the operator reads each gateway's
//! and agent's `service.telemetry` Prometheus endpoint ([`crate::collector::METRICS_PORT`])
//! itself, keeps the last scrape of each pod, and turns two scrapes into a `FlowHealthy`
//! condition per pipeline (its exporters on its pool's pods) and per AgentClass (every
//! exporter of its agents).
//!
//! [`scrape`] fetches ([`Scraper::scrape_all`]), [`parse`] keeps the few series of
//! [`names`], [`health`] evaluates (pure) and builds the condition.

pub mod health;
pub mod names;
pub mod parse;
pub mod scrape;

pub use health::{
    CONDITION_TYPE, Exporters, FlowHealth, FlowReason, FlowStatus, FlowTotals, PodScrapes,
    QueueFill, Thresholds, changed, condition, evaluate, evaluate_each,
};
pub use parse::{CollectorMetrics, ExporterSeries, ParseError, parse};
pub use scrape::{ScrapeError, ScrapeOptions, Scraper, Target};

/// A pipeline's ClickHouse exporter for one of its tables on its pool's gateways, as
/// src/collector/gateway.rs names it (`clickhouse/<member id>.<table>`, member id
/// `<namespace>.<name>`).
pub fn gateway_exporter(member_id: &str, table: &str) -> String {
    format!("clickhouse/{member_id}.{table}")
}

/// The agents' exporter to one gateway pool, as src/collector/agent.rs names it.
pub fn agent_exporter(pool_id: &str) -> String {
    format!("otlp_grpc/{pool_id}")
}
