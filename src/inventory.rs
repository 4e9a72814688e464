//! The facts a reconcile reads: the custom resources and the cluster's nodes (only what the
//! operator needs of a Node: its name and labels).

use crate::crd::{AgentClass, ClickHouseStore, LogPipeline};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

/// The well-known node labels the operator reads.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Set by the kubelet to the node's name (usually): the one label every node has its own value of.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What the operator knows of a node: its name, labels and the taints that keep pods off it
/// (the full Node with status and images is tens of KiB; this is a few hundred bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    /// Shared with the node cache's key and the coverage lists: one copy per node.
    pub name: Arc<str>,
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
    pub fn new(name: impl Into<Arc<str>>, labels: BTreeMap<String, String>) -> Self {
        let name = name.into();
        Self {
            labels: NodeLabels::of_node(&name, &labels),
            name,
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

/// A node's labels. A cluster's nodes share all their labels but the hostname (instance types,
/// zones, pools, OS): the rest is one interned set per distinct combination, so 50,000 nodes
/// hold a pointer each to a few dozen sets, and the hostname, when it is the node's name (as the
/// kubelet sets it), is the name itself.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeLabels {
    /// Sorted by key; never the hostname label.
    shared: LabelSet,
    hostname: Option<Arc<str>>,
}

impl NodeLabels {
    /// A node's labels; its hostname label shares the name's string when they are equal.
    fn of_node(name: &Arc<str>, m: &BTreeMap<String, String>) -> Self {
        Self::with_hostname(m, |h| {
            if h == &**name {
                name.clone()
            } else {
                Arc::from(h)
            }
        })
    }

    /// The labels, the hostname's string made by `hostname` (allocated once, or shared).
    fn with_hostname(
        m: &BTreeMap<String, String>,
        hostname: impl FnOnce(&str) -> Arc<str>,
    ) -> Self {
        // A BTreeMap iterates in key order: the set is sorted.
        let shared: Vec<(&str, &str)> = m
            .iter()
            .filter(|(k, _)| k.as_str() != HOSTNAME_LABEL)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        NodeLabels {
            shared: intern_set(&shared),
            hostname: m.get(HOSTNAME_LABEL).map(|h| hostname(h)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        if key == HOSTNAME_LABEL {
            return self.hostname.as_deref();
        }
        self.shared
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.shared[i].1)
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let at = self.shared.partition_point(|(k, _)| &**k < HOSTNAME_LABEL);
        fn pair((k, v): &(Arc<str>, Arc<str>)) -> (&str, &str) {
            (k, v)
        }
        self.shared[..at]
            .iter()
            .map(pair)
            .chain(self.hostname.as_deref().map(|h| (HOSTNAME_LABEL, h)))
            .chain(self.shared[at..].iter().map(pair))
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl From<&BTreeMap<String, String>> for NodeLabels {
    fn from(m: &BTreeMap<String, String>) -> Self {
        Self::with_hostname(m, |h| Arc::from(h))
    }
}

impl Labels for NodeLabels {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

/// The process's interned label strings and label sets. Those no node holds any more (a
/// replaced node pool's) are swept whenever a set has doubled since its last sweep, so each
/// stays within twice what live nodes use.
struct Interner {
    strings: HashSet<Arc<str>>,
    /// By the hash of their content.
    sets: HashMap<u64, Vec<LabelSet>>,
    set_count: usize,
    sweep_strings_at: usize,
    sweep_sets_at: usize,
}

static INTERNER: LazyLock<Mutex<Interner>> = LazyLock::new(|| {
    Mutex::new(Interner {
        strings: HashSet::new(),
        sets: HashMap::new(),
        set_count: 0,
        sweep_strings_at: 1024,
        sweep_sets_at: 1024,
    })
});

type LabelSet = Arc<[(Arc<str>, Arc<str>)]>;

fn intern_set(pairs: &[(&str, &str)]) -> LabelSet {
    let mut hasher = std::hash::DefaultHasher::new();
    pairs.hash(&mut hasher);
    let hash = hasher.finish();
    let mut i = INTERNER.lock().unwrap_or_else(|e| e.into_inner());
    let same = |s: &LabelSet| {
        s.len() == pairs.len()
            && s.iter()
                .zip(pairs)
                .all(|((k, v), (k2, v2))| &**k == *k2 && &**v == *v2)
    };
    if let Some(s) = i.sets.get(&hash).and_then(|b| b.iter().find(|s| same(s))) {
        return s.clone();
    }
    let set: LabelSet = pairs
        .iter()
        .map(|(k, v)| (i.string(k), i.string(v)))
        .collect();
    if i.set_count >= i.sweep_sets_at {
        i.sets.retain(|_, bucket| {
            bucket.retain(|a| Arc::strong_count(a) > 1);
            !bucket.is_empty()
        });
        i.set_count = i.sets.values().map(Vec::len).sum();
        i.sweep_sets_at = (2 * i.set_count).max(1024);
    }
    i.sets.entry(hash).or_default().push(set.clone());
    i.set_count += 1;
    set
}

impl Interner {
    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        if self.strings.len() >= self.sweep_strings_at {
            self.strings.retain(|a| Arc::strong_count(a) > 1);
            self.sweep_strings_at = (2 * self.strings.len()).max(1024);
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
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
    /// How often the operator scrapes the collectors' metrics for the `FlowHealthy` condition
    /// (src/controller/flow.rs); zero turns it off (and the condition with it).
    pub flow_interval: std::time::Duration,
    /// The agents the flow loop scrapes per AgentClass each round (the first in the API's
    /// order, so the same ones from round to round); zero scrapes every agent.
    pub flow_agents_per_class: u32,
    /// Who may reach the gateways (a NetworkPolicy per pool, src/gateway/netpol.rs).
    pub gateway_network_policy: crate::gateway::netpol::NetworkPolicySettings,
    /// How often the stores' system tables are read for volume and cost in status
    /// (src/controller/usage.rs); zero turns it off.
    pub usage_interval: std::time::Duration,
    /// What a month of ingest and storage costs, for `costPerMonth`.
    pub pricing: crate::schema::usage::Pricing,
    /// What one pipeline outside the trusted namespaces may declare (with a ResourceQuota on
    /// `count/logpipelines.otelhouse.dev` in its namespace, a bound on the whole tenant).
    pub tenant_limits: TenantLimits,
}

/// Per-pipeline caps for tenants: each table is a Null table, a view and a MergeTree table in
/// every store, and each extracted column a key in the attribute maps every gateway reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantLimits {
    pub max_tables: u32,
    pub max_columns_per_table: u32,
}

impl TenantLimits {
    /// The defaults of `--tenant-max-tables` and `--tenant-max-columns`: room for a tenant's
    /// tables and rollups (a default table extracts 3 columns), not for a store's worth.
    pub const DEFAULT: Self = Self {
        max_tables: 8,
        max_columns_per_table: 32,
    };
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
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
            flow_interval: DEFAULT_FLOW_INTERVAL,
            flow_agents_per_class: DEFAULT_FLOW_AGENTS_PER_CLASS,
            gateway_network_policy: Default::default(),
            usage_interval: DEFAULT_USAGE_INTERVAL,
            pricing: Default::default(),
            tenant_limits: Default::default(),
        }
    }
}

/// The usage loop's default interval: parts and volumes move slowly, and each round is one
/// query per store.
pub const DEFAULT_USAGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// The flow loop's default interval.
pub const DEFAULT_FLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Agents scraped per class each round by default. Agents of a class run one config on like
/// nodes, so a sample shows a class-wide fault (a dead gateway, a refused config, a memory
/// limit too low) as well as all of them would; what it can miss is one node's own trouble.
/// The cost stays bounded: at 50,000 nodes every agent would be ~100,000 scrapes a minute
/// (~2.5 cores of parsing), a sample of 16 in 20 classes is 640.
pub const DEFAULT_FLOW_AGENTS_PER_CLASS: u32 = 16;

impl Settings {
    pub fn is_trusted(&self, namespace: &str) -> bool {
        self.trusted_namespaces.iter().any(|n| n == namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, zone: &str, hostname: &str) -> NodeFacts {
        let labels = BTreeMap::from([
            (HOSTNAME_LABEL.to_string(), hostname.to_string()),
            ("a".to_string(), "1".to_string()),
            ("z/last".to_string(), "2".to_string()),
            (ZONE_LABEL.to_string(), zone.to_string()),
        ]);
        NodeFacts::new(name, labels)
    }

    #[test]
    fn labels_read_back_as_given_and_nodes_share_what_they_have_in_common() {
        let (a, b) = (node("n1", "z1", "n1"), node("n2", "z1", "n2"));
        for n in [&a, &b] {
            assert_eq!(n.labels.get(HOSTNAME_LABEL), Some(&*n.name));
            assert_eq!(n.zone(), Some("z1"));
            assert_eq!(n.labels.get("a"), Some("1"));
            assert_eq!(n.labels.get("missing"), None);
            // In key order, the hostname among the others.
            let keys: Vec<&str> = n.labels.iter().map(|(k, _)| k).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            assert_eq!(keys.len(), 4);
        }
        // One set for both, and the hostname is the name's own string.
        assert!(Arc::ptr_eq(&a.labels.shared, &b.labels.shared));
        assert!(Arc::ptr_eq(a.labels.hostname.as_ref().unwrap(), &a.name));
        // Another zone: another set; a hostname that is not the name is kept as it is.
        let c = node("n3", "z2", "other");
        assert!(!Arc::ptr_eq(&a.labels.shared, &c.labels.shared));
        assert_eq!(c.labels.get(HOSTNAME_LABEL), Some("other"));
        assert_eq!(c.labels.to_map().len(), 4);
        // No hostname label at all.
        let d = NodeFacts::new("n4", BTreeMap::from([("a".to_string(), "1".to_string())]));
        assert_eq!(d.labels.get(HOSTNAME_LABEL), None);
        assert_eq!(d.labels.iter().count(), 1);
    }
}
