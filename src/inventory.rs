//! The facts a reconcile reads: the custom resources and the cluster's nodes (only what the
//! operator needs of a Node: its name and labels).

use crate::crd::{AgentClass, ClickHouseStore, LogPipeline};
use std::collections::BTreeMap;

/// The well-known node labels the operator reads.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// What the operator knows of a node: its name and labels (a metadata-only watch gives exactly
/// this; the full Node with status and images is tens of KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl NodeFacts {
    pub fn new(name: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            name: name.into(),
            labels,
        }
    }

    pub fn zone(&self) -> Option<&str> {
        self.labels.get(ZONE_LABEL).map(String::as_str)
    }

    pub fn region(&self) -> Option<&str> {
        self.labels.get(REGION_LABEL).map(String::as_str)
    }
}

/// Everything the builders are computed from.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub classes: Vec<AgentClass>,
    pub pipelines: Vec<LogPipeline>,
    pub stores: Vec<ClickHouseStore>,
    pub nodes: Vec<NodeFacts>,
}

/// How the operator itself is configured (Helm values / flags of `otelhouse run`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where agents, gateways and the stores' credential Secrets live.
    pub namespace: String,
    /// Namespaces whose LogPipelines may collect across the cluster and use any store.
    pub trusted_namespaces: Vec<String>,
    /// The collector image (collector-contrib, pinned).
    pub collector_image: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: "otelhouse-system".to_string(),
            trusted_namespaces: vec!["otelhouse-system".to_string()],
            collector_image: crate::collector::DEFAULT_IMAGE.to_string(),
        }
    }
}

impl Settings {
    pub fn is_trusted(&self, namespace: &str) -> bool {
        self.trusted_namespaces.iter().any(|n| n == namespace)
    }
}
