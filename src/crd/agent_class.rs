use super::CommonStatus;
use k8s_openapi::api::core::v1::{NodeSelectorTerm, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Which nodes get which agent size. Each class becomes one collector DaemonSet; every node is
/// covered by exactly one class.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "otelhouse.dev",
    version = "v1alpha1",
    kind = "AgentClass",
    status = "AgentClassStatus",
    shortname = "agc",
    category = "otelhouse",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Flow","type":"string","jsonPath":".status.conditions[?(@.type==\"FlowHealthy\")].reason"}"#,
    printcolumn = r#"{"name":"Default","type":"boolean","jsonPath":".spec.default"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.nodes"}"#,
    printcolumn = r#"{"name":"Agents-Ready","type":"integer","jsonPath":".status.agentsReady"}"#,
    printcolumn = r#"{"name":"Untolerated","type":"integer","jsonPath":".status.nodesUntolerated","priority":1}"#,
    printcolumn = r#"{"name":"Lines/s","type":"integer","jsonPath":".spec.expectedLinesPerSecond","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new(
    "self.default ? (size(self.instanceTypes) == 0 && size(self.nodeSelectorTerms) == 0) : (size(self.instanceTypes) > 0 || size(self.nodeSelectorTerms) > 0)"
).message("a class is either the catch-all (default: true, with no instanceTypes or nodeSelectorTerms) or selects nodes by instanceTypes and/or nodeSelectorTerms"))]
#[x_kube(validation = Rule::new(
    "has(self.resources.limits) && 'memory' in self.resources.limits"
).message("resources.limits.memory is required: the agent's memory_limiter is derived from it"))]
#[serde(rename_all = "camelCase")]
pub struct AgentClassSpec {
    /// The catch-all: covers every node that no other class covers. At most one class may be the
    /// default.
    #[serde(default)]
    pub default: bool,
    /// Shorthand for a `node.kubernetes.io/instance-type In [...]` term.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.all(t, size(t) > 0 && size(t) <= 63)").message("instance types are non-empty label values of at most 63 characters"))]
    #[schemars(length(max = 200), inner(length(max = 63)))]
    pub instance_types: Vec<String>,
    /// General node selector terms (ORed, as in node affinity), for pools keyed on other labels.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
    /// The agent container's resources. `limits.memory` is required.
    pub resources: ResourceRequirements,
    /// The log rate per node this size is meant for, in lines/s. Used to weigh zones when the
    /// gateways are spread and reported in status.
    #[x_kube(validation = Rule::new("self > 0").message("expectedLinesPerSecond must be positive"))]
    pub expected_lines_per_second: u32,
    /// Agents tolerate every taint (default), as log agents usually do: a node whose taints
    /// keep other pods off still has logs to collect. With `false`, only `tolerations` (and the
    /// DaemonSet controller's own, e.g. unschedulable and not-ready), and nodes whose taints
    /// they do not tolerate are reported uncovered in status.
    #[serde(default = "yes")]
    pub tolerate_all_taints: bool,
    /// Tolerations, so agents also run on tainted nodes of the class (needed only with
    /// `tolerateAllTaints: false`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub tolerations: Vec<Toleration>,
    /// Overrides the collector-contrib image the operator pins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub image: Option<String>,
    /// An optional PriorityClass for the agent pods (node agents usually run with a high one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub priority_class_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// What the controller observed of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentClassStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Nodes this class covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// The DaemonSet's desired pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_desired: Option<u32>,
    /// The DaemonSet's ready pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_ready: Option<u32>,
    /// Other classes that select some of the same nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlaps_with: Vec<String>,
    /// Nodes this class selects whose taints its agents do not tolerate: no agent runs there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_untolerated: Option<u32>,
}
