use super::CommonStatus;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What to collect, how to parse it, which table each log goes to, and the gateways that insert
/// it into every region's ClickHouse.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "otelhouse.dev",
    version = "v1alpha1",
    kind = "LogPipeline",
    namespaced,
    status = "LogPipelineStatus",
    shortname = "lp",
    category = "otelhouse",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Flow","type":"string","jsonPath":".status.conditions[?(@.type==\"FlowHealthy\")].reason"}"#,
    printcolumn = r#"{"name":"Gateways","type":"integer","jsonPath":".status.gateways.planned"}"#,
    printcolumn = r#"{"name":"Gateways-Ready","type":"integer","jsonPath":".status.gateways.ready"}"#,
    printcolumn = r#"{"name":"Capped","type":"boolean","jsonPath":".status.gateways.capped"}"#,
    printcolumn = r#"{"name":"Buffer","type":"string","jsonPath":".status.gateways.bufferHolds","priority":1}"#,
    printcolumn = r#"{"name":"Pools","type":"string","jsonPath":".status.gateways.pools","priority":1}"#,
    printcolumn = r#"{"name":"Tables","type":"integer","jsonPath":".status.tables","priority":1}"#,
    printcolumn = r#"{"name":"Ingest/Day","type":"string","jsonPath":".status.volume.ingestLastDay"}"#,
    printcolumn = r#"{"name":"Cost/Month","type":"string","jsonPath":".status.volume.costPerMonth"}"#,
    printcolumn = r#"{"name":"Rows/Hour","type":"integer","jsonPath":".status.volume.rowsLastHour","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.routes.all(r, self.tables.exists(t, t.name == r.table))").message("every route names a table of spec.tables"))]
#[x_kube(validation = Rule::new("!has(self.defaultTable) || self.tables.exists(t, t.name == self.defaultTable)").message("defaultTable must name a table of spec.tables"))]
#[x_kube(validation = Rule::new("self.tables.all(t, self.tables.exists_one(u, u.name == t.name))").message("table names must be unique"))]
#[serde(rename_all = "camelCase")]
pub struct LogPipelineSpec {
    /// The ClickHouseStores (one per region) whose ClickHouse receives this pipeline's tables.
    #[x_kube(validation = Rule::new("size(self) > 0").message("at least one store is required"))]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub stores: Vec<String>,
    /// What to collect. Without namespaces or a namespaceSelector, the pipeline's own namespace.
    #[serde(default)]
    pub sources: Sources,
    /// How bodies are parsed (on the gateways).
    #[serde(default)]
    pub parse: Parse,
    /// The tables logs land in.
    #[x_kube(validation = Rule::new("size(self) > 0").message("at least one table is required"))]
    #[schemars(length(max = 64))]
    pub tables: Vec<TableSpec>,
    /// Which logs go to which table, first match wins.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub routes: Vec<Route>,
    /// Where logs that match no route go. Without it they are dropped (and counted by the
    /// gateway's metrics). A pipeline with one table and no routes sends everything there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 48))]
    pub default_table: Option<String>,
    /// Gateway sizing and batching.
    pub gateway: GatewaySpec,
    /// What happens to the tables when the pipeline is deleted: `Retain` (default) keeps them
    /// and their data; `Drop` drops the view, the ingest and the target table in every store
    /// (a finalizer holds the deletion until that is done).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// What deleting a LogPipeline does to its tables.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Drop,
}

/// Which pods' logs a pipeline collects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sources {
    /// Namespace names. Only a pipeline in a trusted namespace may name another namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    /// Namespaces by label (trusted namespaces only): collection across the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Container names; empty means every container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub containers: Vec<String>,
    /// What to leave out even when selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Excludes>,
}

/// Excluded namespaces and containers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Excludes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub containers: Vec<String>,
}

/// Body parsing, done on the gateways so agents stay light.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Parse {
    /// Bodies that are JSON objects are merged into LogAttributes.
    #[serde(default)]
    pub json: bool,
    /// A regular expression (RE2) whose named groups become LogAttributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub regex: Option<String>,
    /// Take the event time from a parsed attribute instead of the container runtime's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimestampParse>,
}

/// An event time taken from a parsed attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimestampParse {
    /// The LogAttributes key holding the time.
    #[schemars(length(max = 256))]
    pub attribute: String,
    /// Its layout in strptime notation, e.g. `%Y-%m-%d %H:%M:%S.%f`.
    #[schemars(length(max = 64))]
    pub layout: String,
}

/// One table: the MergeTree target, fed by a Null ingest table through a materialized view.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableSpec {
    /// The target table's name; the ingest table and view are named after it.
    #[x_kube(validation = Rule::new("self.matches('^[a-z_][a-z0-9_]{0,47}$')").message("table name must be lowercase letters, digits and underscores (at most 48), not starting with a digit"))]
    #[schemars(length(max = 48))]
    pub name: String,
    /// Days rows are kept (whole parts are dropped: ttl_only_drop_parts).
    #[x_kube(validation = Rule::new("self >= 1 && self <= 3650").message("retentionDays must be between 1 and 3650"))]
    pub retention_days: u32,
    /// ORDER BY: column names, or a column wrapped in one allowed function
    /// (e.g. `toStartOfHour(Timestamp)`). Default: `[Namespace, PodName, Timestamp]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(max = 256)))]
    pub order_by: Vec<String>,
    /// PARTITION BY, same grammar. Default: `toDate(Timestamp)` (daily, and a plain filter on
    /// Timestamp then skips whole parts, which it does not with `EventDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub partition_by: Option<String>,
    /// Columns extracted from the attribute maps. Default: Namespace, PodName, ContainerName.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub columns: Vec<ColumnSpec>,
    /// Skip indexes. Default: full-text indexes on Body and TraceId (ClickHouse 26.2+) and a
    /// bloom filter on PodName; see the README for the measurements behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub indexes: Option<Vec<IndexSpec>>,
    /// Rows per granule. Default 1024: a point lookup (a trace id, a rare token) reads 1024 rows
    /// per hit instead of 8192.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 256 && self <= 65536").message("indexGranularity must be between 256 and 65536"))]
    pub index_granularity: Option<u32>,
    /// Pre-aggregated counts of this table (rows and body bytes per window and keys), each an
    /// AggregatingMergeTree table `<table>_rollup_<name>` fed from the same ingest table: the
    /// common aggregate questions read these instead of the raw rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(s, s.name == r.name))").message("rollup names must be unique within a table"))]
    #[schemars(length(max = 4))]
    pub rollups: Vec<RollupSpec>,
}

/// A rollup: `Rows` (count) and `BodyBytes` (sum of the bodies' lengths) per tumbling window
/// and key values.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollupSpec {
    /// The rollup's name: its table is `<table>_rollup_<name>`, its view `<table>_rollup_<name>_mv`.
    #[x_kube(validation = Rule::new("self.matches('^[a-z][a-z0-9_]{0,15}$')").message("rollup name must be a lowercase letter, then lowercase letters, digits and underscores (at most 16)"))]
    #[schemars(length(max = 16))]
    pub name: String,
    /// The tumbling window the counts are kept per.
    pub window: RollupWindow,
    /// Columns the counts are grouped by: extracted columns of the table, or ServiceName,
    /// SeverityText, SeverityNumber. Default: `[Namespace, ServiceName, SeverityText]`
    /// (Namespace only where the table has it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, self.exists_one(j, j == k))").message("rollup keys must be unique"))]
    #[schemars(length(max = 8), inner(length(max = 63)))]
    pub keys: Vec<String>,
    /// Days the rollup keeps. Default: the table's retentionDays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 3650").message("rollup retentionDays must be between 1 and 3650"))]
    pub retention_days: Option<u32>,
}

/// Tumbling windows a rollup may use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum RollupWindow {
    #[serde(rename = "1m")]
    OneMinute,
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "15m")]
    FifteenMinutes,
    #[serde(rename = "1h")]
    OneHour,
    #[serde(rename = "1d")]
    OneDay,
}

impl RollupWindow {
    /// The window's length.
    pub fn seconds(self) -> u32 {
        match self {
            RollupWindow::OneMinute => 60,
            RollupWindow::FiveMinutes => 300,
            RollupWindow::FifteenMinutes => 900,
            RollupWindow::OneHour => 3600,
            RollupWindow::OneDay => 86400,
        }
    }

    /// As written in a spec (`1h`).
    pub fn as_str(self) -> &'static str {
        match self {
            RollupWindow::OneMinute => "1m",
            RollupWindow::FiveMinutes => "5m",
            RollupWindow::FifteenMinutes => "15m",
            RollupWindow::OneHour => "1h",
            RollupWindow::OneDay => "1d",
        }
    }
}

/// A column extracted from an attribute map.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnSpec {
    /// Column name (an identifier).
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]{0,62}$')").message("column name must be letters, digits and underscores, not starting with a digit"))]
    #[schemars(length(max = 63))]
    pub name: String,
    /// The map it comes from.
    pub from: AttributeMap,
    /// The attribute key, e.g. `k8s.pod.name`.
    #[schemars(length(min = 1, max = 256))]
    pub key: String,
    /// The column type.
    #[serde(default, rename = "type")]
    pub type_: ColumnType,
    /// `LowCardinality(String)`: for string columns with under ~10k distinct values.
    #[serde(default)]
    pub low_cardinality: bool,
}

/// An OTLP attribute map.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum AttributeMap {
    ResourceAttributes,
    LogAttributes,
    ScopeAttributes,
}

/// Types an extracted column may have.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ColumnType {
    #[default]
    String,
    Int64,
    UInt64,
    Float64,
    Bool,
}

/// A skip index.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'bloom_filter' || !has(self.falsePositive)").message("falsePositive applies to bloom_filter only"))]
#[x_kube(validation = Rule::new("self.type == 'tokenbf_v1' || self.type == 'ngrambf_v1' || (!has(self.sizeBytes) && !has(self.hashes))").message("sizeBytes and hashes apply to tokenbf_v1 and ngrambf_v1 only"))]
#[x_kube(validation = Rule::new("self.type == 'text' || !has(self.tokenizer)").message("tokenizer applies to the text index only"))]
pub struct IndexSpec {
    /// Index name; default derived from the expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]{0,62}$')").message("index name must be an identifier"))]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// A column, or `mapKeys(Map)` / `mapValues(Map)` / `lower(Column)`.
    #[schemars(length(min = 1, max = 128))]
    pub expression: String,
    #[serde(rename = "type")]
    pub type_: IndexType,
    /// bloom_filter false-positive rate, in (0, 1). Default 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_positive: Option<f64>,
    /// tokenbf_v1 / ngrambf_v1 filter size in bytes. Default 32768.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u32>,
    /// tokenbf_v1 / ngrambf_v1 hash functions. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<u32>,
    /// ngram size for ngrambf_v1. Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngram: Option<u32>,
    /// GRANULARITY. Default 1 (text indexes always work per part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<u32>,
    /// The text index's tokenizer: `splitByNonAlpha` (words, the default) or `array` (the whole
    /// value as one token: exact ids such as TraceId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TextTokenizer>,
}

/// Tokenizers of the `text` index.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum TextTokenizer {
    #[serde(rename = "splitByNonAlpha")]
    SplitByNonAlpha,
    #[serde(rename = "array")]
    Array,
}

/// Skip index types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[allow(non_camel_case_types)]
pub enum IndexType {
    bloom_filter,
    tokenbf_v1,
    ngrambf_v1,
    /// The full-text index (ClickHouse 26.2+).
    text,
    minmax,
    set,
}

/// A route: logs matching every given field go to `table`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    #[schemars(length(max = 48))]
    pub table: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub containers: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = pod_labels_bounds)]
    pub pod_labels: BTreeMap<String, String>,
}

/// At most 32 pod labels per route, each value a label value (at most 63 characters); a CRD
/// schema cannot bound map keys.
fn pod_labels_bounds(schema: &mut schemars::Schema) {
    schema.insert("maxProperties".into(), 32.into());
    if let Some(values) = schema
        .get_mut("additionalProperties")
        .and_then(|v| v.as_object_mut())
    {
        values.insert("maxLength".into(), 63.into());
    }
}

/// Gateway sizing, buffering and batching. A region's pipelines share pools of gateways sized
/// by their summed throughput; `dedicated: true` gives this pipeline (and the other pipelines
/// of its namespaces) gateways of its own, which the sizing fields below then shape.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxReplicas) || !has(self.minReplicasPerZone) || self.maxReplicas >= self.minReplicasPerZone").message("maxReplicas must be at least minReplicasPerZone"))]
#[x_kube(validation = Rule::new("(has(self.dedicated) && self.dedicated) || (!has(self.resources) && !has(self.capacityPerReplica) && !has(self.minReplicasPerZone) && !has(self.maxReplicas) && !has(self.image))").message("resources, capacityPerReplica, minReplicasPerZone, maxReplicas and image shape dedicated gateways only: set dedicated: true, or leave them to the shared pool"))]
pub struct GatewaySpec {
    /// Expected peak events/s across the region: what this pipeline adds to its pool.
    #[x_kube(validation = Rule::new("self > 0").message("expectedEventsPerSecond must be positive"))]
    pub expected_events_per_second: u64,
    /// Gateways of its own instead of the region's shared pool (isolation, or a LogHouse-size
    /// source).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dedicated: bool,
    /// Events/s one dedicated replica handles (LogHouse: 60k at 3 CPU / 11 GiB). Default: the
    /// operator's pool setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("capacityPerReplica must be positive"))]
    pub capacity_per_replica: Option<u64>,
    /// The dedicated gateways' resources. Default: sized from the plan (CPU from the events per
    /// replica, memory from the buffer when it fits in memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Buffering for ClickHouse outages.
    #[serde(default)]
    pub buffer: BufferSpec,
    /// Dedicated replicas every zone always has. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("minReplicasPerZone must be between 1 and 100"))]
    pub min_replicas_per_zone: Option<u32>,
    /// The most dedicated replicas the plan may use in a region (the zone minimum still wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    /// Insert batches.
    #[serde(default)]
    pub batch: BatchSpec,
    /// Overrides the collector-contrib image of dedicated gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub image: Option<String>,
}

/// How long the gateways must be able to hold a region's logs while ClickHouse is away.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BufferSpec {
    /// Default 2h.
    #[serde(default = "default_buffer_duration")]
    #[schemars(length(max = 32))]
    pub duration: Duration,
    /// Memory one queued event costs. Default: the operator's, measured with the real
    /// collector (see the README); measure yours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0").message("bytesPerEvent must be positive"))]
    pub bytes_per_event: Option<u32>,
}

impl Default for BufferSpec {
    fn default() -> Self {
        Self {
            duration: default_buffer_duration(),
            bytes_per_event: None,
        }
    }
}

fn default_buffer_duration() -> Duration {
    Duration::from(std::time::Duration::from_secs(2 * 3600))
}

/// Batching towards ClickHouse (LogHouse: 15,000 rows or 5 s).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchSpec {
    #[serde(default = "default_rows")]
    #[x_kube(validation = Rule::new("self >= 1000 && self <= 1000000").message("batch rows must be between 1,000 and 1,000,000: smaller batches make too many parts"))]
    pub rows: u32,
    #[serde(default = "default_timeout")]
    #[schemars(length(max = 32))]
    pub timeout: Duration,
}

impl Default for BatchSpec {
    fn default() -> Self {
        Self {
            rows: default_rows(),
            timeout: default_timeout(),
        }
    }
}

fn default_rows() -> u32 {
    15_000
}
fn default_timeout() -> Duration {
    Duration::from(std::time::Duration::from_secs(5))
}

/// What the controller observed of a pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPipelineStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<GatewayStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<u32>,
    /// Each store's schema state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<StoreSchemaStatus>,
    /// What its tables hold and cost, from the stores' system tables (refreshed when a figure
    /// moves by 5% or more; absent until first read, or with `--usage-interval 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<crate::schema::usage::Volume>,
}

/// Planned and ready gateways of the pools that serve this pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// The pools (shared shards, or its own) its logs go through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<String>,
    pub planned: u32,
    #[serde(default)]
    pub ready: u32,
    /// The plan wanted more than maxReplicas.
    #[serde(default)]
    pub capped: bool,
    /// Where the buffer is kept (Memory, or Disk: a volume per replica), and how long it holds
    /// at the expected rate while ClickHouse is away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_holds: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneGatewayStatus>,
}

/// One zone's gateways.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneGatewayStatus {
    pub zone: String,
    pub planned: u32,
    #[serde(default)]
    pub ready: u32,
}

/// The schema state of one store for this pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSchemaStatus {
    pub store: String,
    /// Applied, Pending, Refused or Unreachable.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
