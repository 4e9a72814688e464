use super::CommonStatus;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// One ClickHouse per region: where a region's gateways insert and where the operator keeps each
/// pipeline's schema.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "otelhouse.dev",
    version = "v1alpha1",
    kind = "ClickHouseStore",
    status = "ClickHouseStoreStatus",
    shortname = "chs",
    category = "otelhouse",
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.serverVersion"}"#,
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine","priority":1}"#,
    printcolumn = r#"{"name":"Tenants","type":"integer","jsonPath":".status.tenantCount"}"#,
    printcolumn = r#"{"name":"Ingest/Day","type":"string","jsonPath":".status.volume.ingestLastDay"}"#,
    printcolumn = r#"{"name":"Cost/Month","type":"string","jsonPath":".status.volume.costPerMonth"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClickHouseStoreSpec {
    /// The region this store serves (matched against nodes' `topology.kubernetes.io/region`).
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self) <= 63").message("region must be a lowercase DNS label, e.g. us-east-1"))]
    #[schemars(length(max = 63))]
    pub region: String,
    /// ClickHouse's HTTP(S) interface, used by the operator for schema work, e.g.
    /// `https://clickhouse.us-east-1.example:8443`.
    #[x_kube(validation = Rule::new("self.matches('^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$')").message("httpUrl must be http(s)://host[:port] with no path, query or credentials"))]
    #[schemars(length(max = 512))]
    pub http_url: String,
    /// The endpoint the gateways' ClickHouse exporter connects to: `tcp://host:port` (native
    /// protocol) or `http(s)://host:port`. Insert settings are added by the operator.
    #[x_kube(validation = Rule::new("self.matches('^(tcp|clickhouse|http|https)://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$')").message("exporterEndpoint must be tcp|clickhouse|http|https://host[:port] with no path, query or credentials"))]
    #[schemars(length(max = 512))]
    pub exporter_endpoint: String,
    /// The database the pipelines' tables live in.
    #[serde(default = "default_database")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]{0,62}$')").message("database must be a plain identifier: letters, digits, underscore, not starting with a digit"))]
    #[schemars(length(max = 63))]
    pub database: String,
    /// A cluster name for `ON CLUSTER` DDL (self-managed replicated clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]{0,62}$')").message("cluster must be a plain identifier"))]
    #[schemars(length(max = 63))]
    pub cluster: Option<String>,
    /// The MergeTree family of the target tables.
    #[serde(default)]
    pub engine: TableEngine,
    /// Where the credentials are: a Secret in the operator's namespace.
    pub credentials: SecretCredentials,
    /// TLS towards ClickHouse.
    #[serde(default)]
    pub tls: StoreTls,
    /// Namespaces whose LogPipelines may use this store; `*` allows every namespace. Empty: only
    /// the operator's trusted namespaces.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.all(n, n == '*' || (n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(n) <= 63))").message("allowedNamespaces holds namespace names or '*'"))]
    #[schemars(length(max = 256), inner(length(max = 63)))]
    pub allowed_namespaces: Vec<String>,
}

fn default_database() -> String {
    "otel".to_string()
}

/// The table engine family.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum TableEngine {
    #[default]
    MergeTree,
    ReplicatedMergeTree,
    SharedMergeTree,
}

/// A Secret in the operator's namespace holding the ClickHouse user and password. It is never
/// copied: gateway pods read it through `secretKeyRef`, and only in the operator's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretCredentials {
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$') && size(self) <= 253").message("secretName must be a Secret name"))]
    #[schemars(length(max = 253))]
    pub secret_name: String,
    #[serde(default = "default_username_key")]
    #[schemars(length(max = 253))]
    pub username_key: String,
    #[serde(default = "default_password_key")]
    #[schemars(length(max = 253))]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".to_string()
}
fn default_password_key() -> String {
    "password".to_string()
}

/// TLS settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreTls {
    /// Use TLS (also implied by an `https://` endpoint).
    #[serde(default)]
    pub enabled: bool,
    /// Skip certificate verification (test setups only).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// What the controller observed of a store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClickHouseStoreStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What every pipeline table in this store holds and costs (refreshed when a figure moves
    /// by 5% or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<crate::schema::usage::Volume>,
    /// The tenants (namespaces) with most ingest in the last day, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<crate::schema::usage::TenantVolume>,
    /// How many tenants have tables here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_count: Option<u32>,
}
