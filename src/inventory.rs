//! The facts a reconcile reads: the custom resources and the cluster's nodes (only what the
//! operator needs of a Node: its name and labels).

use crate::crd::{AgentClass, ClickHouseStore, LogPipeline};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

/// The well-known node labels the operator reads.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// What the operator knows of a node: its name, labels and the taints that keep pods off it
/// (the full Node with status and images is tens of KiB; this is a few hundred bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub labels: NodeLabels,
    /// Only `NoSchedule` and `NoExecute` taints: `PreferNoSchedule` never keeps a pod off.
    pub taints: Vec<NodeTaint>,
}

/// A taint that keeps pods without a matching toleration off a node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeTaint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

impl NodeFacts {
    pub fn new(name: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            name: name.into(),
            labels: NodeLabels::from(&labels),
            taints: Vec::new(),
        }
    }

    /// With the node's taints (those that keep pods off; others are dropped).
    pub fn with_taints(mut self, taints: &[k8s_openapi::api::core::v1::Taint]) -> Self {
        self.taints = taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .map(|t| NodeTaint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            })
            .collect();
        self.taints.sort();
        self
    }

    pub fn zone(&self) -> Option<&str> {
        self.labels.get(ZONE_LABEL)
    }

    pub fn region(&self) -> Option<&str> {
        self.labels.get(REGION_LABEL)
    }
}

/// Something labels can be looked up in: a node's labels, or a plain map (tests, selectors).
pub trait Labels {
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A node's labels, sorted by key, keys and values interned: a cluster's nodes share their
/// label keys and most values (instance types, zones, pools), so 50,000 nodes of 20 labels
/// hold a few hundred bytes each instead of several KiB of maps and strings.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeLabels(Box<[(Arc<str>, Arc<str>)]>);

impl NodeLabels {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl From<&BTreeMap<String, String>> for NodeLabels {
    fn from(m: &BTreeMap<String, String>) -> Self {
        // A BTreeMap iterates in key order: the slice is sorted.
        NodeLabels(m.iter().map(|(k, v)| (intern(k), intern(v))).collect())
    }
}

impl Labels for NodeLabels {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

/// The process's interned label strings. Strings no node holds any more (a replaced node's
/// hostname) are swept whenever the set has doubled since the last sweep, so it stays within
/// twice what live nodes use.
struct Interner {
    set: HashSet<Arc<str>>,
    sweep_at: usize,
}

static INTERNER: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        set: HashSet::new(),
        sweep_at: 1024,
    })
});

fn intern(s: &str) -> Arc<str> {
    let mut i = INTERNER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = i.set.get(s) {
        return a.clone();
    }
    if i.set.len() >= i.sweep_at {
        i.set.retain(|a| Arc::strong_count(a) > 1);
        i.sweep_at = (2 * i.set.len()).max(1024);
    }
    let a: Arc<str> = Arc::from(s);
    i.set.insert(a.clone());
    a
}

/// Everything the builders are computed from.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub classes: Vec<AgentClass>,
    pub pipelines: Vec<LogPipeline>,
    pub stores: Vec<ClickHouseStore>,
    pub nodes: Vec<NodeFacts>,
}

/// The same facts, borrowed: what the model is resolved from.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub classes: Vec<&'a AgentClass>,
    pub pipelines: Vec<&'a LogPipeline>,
    pub stores: Vec<&'a ClickHouseStore>,
    pub nodes: Vec<&'a NodeFacts>,
}

impl Inputs {
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            classes: self.classes.iter().collect(),
            pipelines: self.pipelines.iter().collect(),
            stores: self.stores.iter().collect(),
            nodes: self.nodes.iter().collect(),
        }
    }
}

/// How the operator itself is configured (Helm values / flags of `otelhouse run`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where the operator, the gateways and the stores' credential Secrets live (a namespace that
    /// can enforce the `restricted` Pod Security level).
    pub namespace: String,
    /// Where the agents live: they read the node's log files through hostPath volumes as root,
    /// which only the `privileged` Pod Security level admits, so they get a namespace of their own.
    pub agent_namespace: String,
    /// The agents' ServiceAccount in `agent_namespace`, with its ClusterRole and binding, made by
    /// the Helm chart: the operator writes no RBAC.
    pub agent_service_account: String,
    /// Namespaces whose LogPipelines may collect across the cluster and use any store.
    pub trusted_namespaces: Vec<String>,
    /// The collector image (collector-contrib, pinned).
    pub collector_image: String,
    /// How the shared gateway pools are sharded and sized.
    pub pools: crate::gateway::pool::PoolSettings,
}

/// The agents' namespace and ServiceAccount unless configured (the chart's defaults).
pub const DEFAULT_AGENT_NAMESPACE: &str = "otelhouse-agents";
pub const DEFAULT_AGENT_SERVICE_ACCOUNT: &str = "otelhouse-agent";

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: "otelhouse-system".to_string(),
            agent_namespace: DEFAULT_AGENT_NAMESPACE.to_string(),
            agent_service_account: DEFAULT_AGENT_SERVICE_ACCOUNT.to_string(),
            trusted_namespaces: vec!["otelhouse-system".to_string()],
            collector_image: crate::collector::DEFAULT_IMAGE.to_string(),
            pools: Default::default(),
        }
    }
}

impl Settings {
    pub fn is_trusted(&self, namespace: &str) -> bool {
        self.trusted_namespaces.iter().any(|n| n == namespace)
    }
}
