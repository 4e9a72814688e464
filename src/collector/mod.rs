//! Typed OpenTelemetry collector configs for the pinned collector-contrib version.
//!
//! Every struct here mirrors a component's config keys in collector-contrib **v0.150.0** (the
//! `mapstructure` tags of each component's `config.go`); `keys.rs` lists those keys and a test
//! checks every key the builders emit against it. The image that runs them is the **0.150.1**
//! distribution ([`DEFAULT_IMAGE`]): the releases repository's re-cut of 0.150.0, built from the
//! same v0.150.0 components. Values that come from custom resources pass through
//! [`crate::ident::escape_collector_value`] so `${...}` is never expanded.

pub mod agent;
pub mod gateway;
pub mod keys;

use serde::Serialize;
use std::collections::BTreeMap;

/// The pinned collector-contrib distribution: open-telemetry/opentelemetry-collector-releases
/// `v0.150.1`, whose manifest builds every component at v0.150.0 (the sources `keys.rs` follows).
/// That repository's `v0.150.0` tag still named the distribution 0.149.0; the release was re-cut
/// as 0.150.1, the version the upstream Helm charts ship (they skip 0.150.0).
pub const CONTRIB_VERSION: &str = "0.150.1";
/// Its image.
pub const DEFAULT_IMAGE: &str = "otel/opentelemetry-collector-contrib:0.150.1";
/// Where the image reads its config.
pub const CONFIG_DIR: &str = "/etc/otelcol-contrib";
/// The health_check extension's port (probes).
pub const HEALTH_PORT: u16 = 13133;
/// The collector's own Prometheus metrics port.
pub const METRICS_PORT: u16 = 8888;
/// OTLP gRPC.
pub const OTLP_GRPC_PORT: u16 = 4317;

/// A whole collector config.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Config {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Extension>,
    pub receivers: BTreeMap<String, Receiver>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub processors: BTreeMap<String, Processor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub connectors: BTreeMap<String, Connector>,
    pub exporters: BTreeMap<String, Exporter>,
    pub service: Service,
}

impl Config {
    /// The YAML the collector reads.
    pub fn to_yaml(&self) -> String {
        // Serializing plain structs of strings, numbers and maps cannot fail.
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

// ---------------------------------------------------------------- extensions

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Extension {
    HealthCheck(HealthCheck),
    FileStorage(FileStorage),
}

/// `health_check` (extension/healthcheckextension).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct HealthCheck {
    pub endpoint: String,
}

/// `file_storage` (extension/storage/filestorage).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FileStorage {
    pub directory: String,
    pub create_directory: bool,
    pub timeout: String,
    pub compaction: FileStorageCompaction,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FileStorageCompaction {
    pub on_start: bool,
    pub directory: String,
}

// ---------------------------------------------------------------- receivers

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Receiver {
    Filelog(Filelog),
    Otlp(Otlp),
    Nop(Empty),
}

/// An empty component config (`nop`, `forward`).
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Empty {}

/// `filelog` (receiver/filelogreceiver, pkg/stanza/fileconsumer).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Filelog {
    pub include: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    pub start_at: String,
    pub include_file_path: bool,
    pub include_file_name: bool,
    pub preserve_trailing_whitespaces: bool,
    pub storage: String,
    pub max_log_size: String,
    pub retry_on_failure: FilelogRetry,
    pub operators: Vec<Operator>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FilelogRetry {
    pub enabled: bool,
    pub initial_interval: String,
    pub max_interval: String,
    /// 0: retry until the gateway takes the data (files stay on the node meanwhile).
    pub max_elapsed_time: String,
}

/// A stanza operator.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Operator {
    /// pkg/stanza/operator/parser/container.
    Container {
        id: String,
        /// `docker`, `crio`, `containerd`, or unset to detect per line.
        #[serde(skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        add_metadata_from_filepath: bool,
    },
    /// pkg/stanza/operator/transformer/remove.
    Remove { id: String, field: String },
}

/// `otlp` (receiver/otlpreceiver).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Otlp {
    pub protocols: OtlpProtocols,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct OtlpProtocols {
    pub grpc: OtlpGrpcServer,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct OtlpGrpcServer {
    pub endpoint: String,
    pub max_recv_msg_size_mib: u32,
    pub keepalive: GrpcKeepalive,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct GrpcKeepalive {
    pub server_parameters: GrpcServerParameters,
}

/// Closing connections after a maximum age makes agents reconnect, and so rebalance, instead of
/// pinning one gateway for ever (LogHouse's hot-spot problem).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct GrpcServerParameters {
    pub max_connection_age: String,
    pub max_connection_age_grace: String,
}

// ---------------------------------------------------------------- processors

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Processor {
    MemoryLimiter(MemoryLimiter),
    K8sAttributes(K8sAttributes),
    Filter(Filter),
    Transform(Transform),
    Batch(Batch),
}

/// `batch` (processor/batchprocessor), used only as [`isolation`].
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Batch {
    pub timeout: String,
}

/// The processor that keeps one destination's refusal its own, by name and config.
///
/// The service hands a batch to every consumer in turn and returns their errors joined
/// (core v0.150 internal/fanoutconsumer/logs.go, routingconnector/logs.go): a full queue's
/// "sending queue is full" reaches the sender, whose retry sends the whole batch again, to
/// every destination (duplicates in the healthy ones), and a blocking queue stalls them all.
/// The batch processor hands data on from a goroutine of its own and only logs a failure
/// ("Sender failed", processor/batchprocessor/batch_processor.go `sendItems`); with `timeout:
/// 0s` it passes each batch on at once (its README), so nothing is held. Put before each of
/// several destinations' exporters (queues that drop, counted as the exporter's
/// `otelcol_exporter_enqueue_failed_log_records`), not before a single one, whose refusals are
/// the backpressure its sender should see.
pub fn isolation() -> (String, Processor) {
    (
        "batch/isolate".to_string(),
        Processor::Batch(Batch {
            timeout: "0s".to_string(),
        }),
    )
}

/// A pipeline's processors for the isolation stage: it, or nothing.
pub fn isolated(isolate: bool) -> Vec<String> {
    if isolate { vec![isolation().0] } else { vec![] }
}

/// `memory_limiter` (processor/memorylimiterprocessor).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct MemoryLimiter {
    pub check_interval: String,
    pub limit_mib: u64,
    pub spike_limit_mib: u64,
}

impl MemoryLimiter {
    /// Limit at 80% of the container's memory limit, spikes at 20% of that: the Go runtime and
    /// in-flight data keep the rest below the kernel's OOM line.
    pub fn for_memory_limit(bytes: u64) -> Self {
        let mib = bytes / (1024 * 1024);
        let limit = mib * 8 / 10;
        Self {
            check_interval: "1s".to_string(),
            limit_mib: limit.max(1),
            spike_limit_mib: (limit / 5).max(1),
        }
    }
}

/// `k8sattributes` (processor/k8sattributesprocessor).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct K8sAttributes {
    pub auth_type: String,
    pub passthrough: bool,
    /// Hold the pipeline at start until the pod and namespace metadata are loaded, so the
    /// first lines carry their labels (label-based selection would drop them otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wait_for_metadata: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for_metadata_timeout: Option<String>,
    pub filter: K8sFilter,
    pub extract: K8sExtract,
    pub pod_association: Vec<PodAssociation>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct K8sFilter {
    /// Watch only this node's pods: the env var holds the node name (downward API).
    pub node_from_env_var: String,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct K8sExtract {
    pub metadata: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<K8sLabel>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct K8sLabel {
    pub tag_name: String,
    pub key: String,
    pub from: String,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PodAssociation {
    pub sources: Vec<AssociationSource>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct AssociationSource {
    pub from: String,
    pub name: String,
}

/// `filter` (processor/filterprocessor): a record matching any condition is dropped.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Filter {
    pub error_mode: String,
    pub logs: FilterLogs,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct FilterLogs {
    pub log_record: Vec<String>,
}

/// `transform` (processor/transformprocessor).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Transform {
    pub error_mode: String,
    pub log_statements: Vec<ContextStatements>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ContextStatements {
    pub context: String,
    pub statements: Vec<String>,
}

// ---------------------------------------------------------------- connectors

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Connector {
    Routing(Routing),
    Forward(Empty),
}

/// `routing` (connector/routingconnector): first matching route wins.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Routing {
    pub error_mode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_pipelines: Vec<String>,
    pub table: Vec<RoutingRoute>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct RoutingRoute {
    pub context: String,
    pub condition: String,
    pub pipelines: Vec<String>,
}

// ---------------------------------------------------------------- exporters

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Exporter {
    OtlpGrpc(OtlpGrpcExporter),
    ClickHouse(ClickHouseExporter),
    Nop(Empty),
}

/// `otlp_grpc` (exporter/otlpexporter; `otlp` is its deprecated alias in v0.150.0).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct OtlpGrpcExporter {
    pub endpoint: String,
    pub tls: ClientTls,
    pub compression: String,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: Retry,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ClientTls {
    pub insecure: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

/// exporterhelper's `sending_queue`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct SendingQueue {
    pub enabled: bool,
    pub sizer: String,
    pub queue_size: u64,
    pub num_consumers: u32,
    pub block_on_overflow: bool,
    /// A storage extension: the queue persists there (a restart resends what was queued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<QueueBatch>,
}

/// exporterhelper's `sending_queue.batch`: the exporter-side batcher that replaces the batch
/// processor (the ClickHouse exporter's README recommends it).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct QueueBatch {
    pub sizer: String,
    pub min_size: u64,
    pub max_size: u64,
    pub flush_timeout: String,
}

/// configretry's `retry_on_failure`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Retry {
    pub enabled: bool,
    pub initial_interval: String,
    pub max_interval: String,
    pub max_elapsed_time: String,
}

/// `clickhouse` (exporter/clickhouseexporter).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ClickHouseExporter {
    pub endpoint: String,
    pub username: String,
    pub password: String,
    pub database: String,
    pub logs_table_name: String,
    pub create_schema: bool,
    pub async_insert: bool,
    pub compress: String,
    pub connection_params: BTreeMap<String, String>,
    /// configtls.ClientConfig, only to skip verification (test setups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    pub timeout: String,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: Retry,
}

// ---------------------------------------------------------------- service

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Service {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    pub pipelines: BTreeMap<String, Pipeline>,
    pub telemetry: Telemetry,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    pub receivers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<String>,
    pub exporters: Vec<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Telemetry {
    pub logs: TelemetryLogs,
    pub metrics: TelemetryMetrics,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            logs: TelemetryLogs {
                level: "info".to_string(),
                encoding: "json".to_string(),
            },
            metrics: TelemetryMetrics {
                level: "normal".to_string(),
                readers: vec![MetricReader {
                    pull: PullReader {
                        exporter: PullExporter {
                            prometheus: PrometheusEndpoint {
                                host: "0.0.0.0".to_string(),
                                port: METRICS_PORT,
                            },
                        },
                    },
                }],
            },
        }
    }
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct TelemetryLogs {
    pub level: String,
    pub encoding: String,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct TelemetryMetrics {
    pub level: String,
    pub readers: Vec<MetricReader>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct MetricReader {
    pub pull: PullReader,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PullReader {
    pub exporter: PullExporter,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PullExporter {
    pub prometheus: PrometheusEndpoint,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PrometheusEndpoint {
    pub host: String,
    pub port: u16,
}

/// The health_check extension every collector runs (probes).
pub fn health_check() -> (String, Extension) {
    (
        "health_check".to_string(),
        Extension::HealthCheck(HealthCheck {
            endpoint: format!("0.0.0.0:{HEALTH_PORT}"),
        }),
    )
}

/// Retries with backoff; `max_elapsed_time: 0` retries until the queue's own bound drops data.
pub fn retry_forever() -> Retry {
    Retry {
        enabled: true,
        initial_interval: "1s".to_string(),
        max_interval: "30s".to_string(),
        max_elapsed_time: "0s".to_string(),
    }
}

/// OTTL: a resource attribute compared with a literal from a custom resource.
pub(crate) fn ottl_attr_eq(attr: &str, value: &str) -> String {
    format!(
        "resource.attributes[{}] == {}",
        crate::ident::quote_ottl_string(attr),
        crate::ident::quote_ottl_string(value)
    )
}

/// OTTL: `(a or b or ...)`, or `true` for none.
pub(crate) fn ottl_any(parts: Vec<String>) -> String {
    match parts.len() {
        0 => "true".to_string(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" or ")),
    }
}

/// OTTL: `(a and b and ...)`, or `true` for none.
pub(crate) fn ottl_all(parts: Vec<String>) -> String {
    let parts: Vec<String> = parts.into_iter().filter(|p| p != "true").collect();
    match parts.len() {
        0 => "true".to_string(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" and ")),
    }
}

/// Liveness/readiness through the health_check extension.
pub fn health_probe() -> k8s_openapi::api::core::v1::Probe {
    k8s_openapi::api::core::v1::Probe {
        http_get: Some(k8s_openapi::api::core::v1::HTTPGetAction {
            path: Some("/".to_string()),
            port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i32::from(
                HEALTH_PORT,
            )),
            ..Default::default()
        }),
        period_seconds: Some(10),
        failure_threshold: Some(3),
        ..Default::default()
    }
}
