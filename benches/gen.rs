//! The synthetic platforms the benches use.
//! - `BASELINE`: 5,000 nodes in 3 zones, 20 agent classes (19 by instance type and a
//!   catch-all), 200 pipelines in 50 namespaces selecting pods by label, 2 tables each, 2 stores.
//! - `TENANTS`: the platform team's shape: 50,000 nodes, 20 classes, 2,000 pipelines in 1,000
//!   tenant namespaces (two each: one takes the whole namespace, one a labelled app's main
//!   container), 500 to 10,000 events/s each, one store; plus 4 dedicated pipelines and 2
//!   cluster-wide ones (namespace selectors) from the operator's namespace.
#![allow(dead_code)]

use std::path::Path;

#[derive(Clone, Copy, Debug)]
pub struct Platform {
    pub name: &'static str,
    pub nodes: usize,
    pub classes: usize,
    pub tenants: Tenants,
}

#[derive(Clone, Copy, Debug)]
pub enum Tenants {
    /// Pipelines selecting pods by label, two stores.
    Baseline { pipelines: usize, namespaces: usize },
    /// One namespace per tenant, two pipelines each, one store.
    Namespaces { namespaces: usize },
}

pub const BASELINE: Platform = Platform {
    name: "baseline",
    nodes: 5_000,
    classes: 20,
    tenants: Tenants::Baseline {
        pipelines: 200,
        namespaces: 50,
    },
};

pub const TENANTS: Platform = Platform {
    name: "tenants",
    nodes: 50_000,
    classes: 20,
    tenants: Tenants::Namespaces { namespaces: 1_000 },
};

/// The dedicated and the cluster-wide pipelines of `TENANTS`.
pub const DEDICATED: usize = 4;
pub const CLUSTER_WIDE: usize = 2;

pub const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

impl Platform {
    pub fn pipelines(&self) -> usize {
        match self.tenants {
            Tenants::Baseline { pipelines, .. } => pipelines,
            Tenants::Namespaces { namespaces } => 2 * namespaces + DEDICATED + CLUSTER_WIDE,
        }
    }

    /// Events/s of a tenant pipeline `i` of `TENANTS` (500 to 10,000).
    pub fn tenant_rate(i: usize) -> u64 {
        500 * (i as u64 % 20 + 1)
    }

    /// Events/s of dedicated pipeline `d`.
    pub fn dedicated_rate(d: usize) -> u64 {
        100_000 * (d as u64 + 1)
    }

    /// Events/s of each cluster-wide pipeline.
    pub const CLUSTER_WIDE_RATE: u64 = 50_000;
}

/// Write classes.yaml, stores.yaml, pipelines.yaml and nodes.yaml into `dir`; the stores'
/// HTTP endpoint is `store_url`.
pub fn generate_with(p: &Platform, dir: &Path, store_url: &str) {
    let mut classes = String::new();
    for c in 0..p.classes - 1 {
        classes.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: AgentClass\nmetadata: {{name: class-{c}}}\nspec:\n  instanceTypes: [type-{c}.xlarge, type-{c}.2xlarge]\n  expectedLinesPerSecond: {}\n  resources: {{requests: {{cpu: 500m, memory: 512Mi}}, limits: {{memory: 512Mi}}}}\n",
            1000 * (c + 1)
        ));
    }
    classes.push_str("---\napiVersion: otelhouse.dev/v1alpha1\nkind: AgentClass\nmetadata: {name: default}\nspec:\n  default: true\n  expectedLinesPerSecond: 1000\n  resources: {limits: {memory: 256Mi}}\n");
    std::fs::write(dir.join("classes.yaml"), classes).expect("write");

    let store = |name: &str, db: &str| {
        format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: ClickHouseStore\nmetadata: {{name: {name}}}\nspec: {{region: {name}, httpUrl: '{store_url}', exporterEndpoint: 'tcp://ch-{name}:9440', database: {db}, credentials: {{secretName: ch-{name}}}, allowedNamespaces: ['*']}}\n"
        )
    };
    let (stores, pipelines) = match p.tenants {
        Tenants::Baseline {
            pipelines,
            namespaces,
        } => (
            store("us-east-1", "bench_us") + &store("eu-west-1", "bench_eu"),
            baseline_pipelines(pipelines, namespaces),
        ),
        Tenants::Namespaces { namespaces } => {
            (store("us-east-1", "bench_us"), tenant_pipelines(namespaces))
        }
    };
    std::fs::write(dir.join("stores.yaml"), stores).expect("write");
    std::fs::write(dir.join("pipelines.yaml"), pipelines).expect("write");

    write_nodes(p, dir, false);
}

/// The node inventory as `kubectl get nodes -o yaml` prints it (nodes.yaml), or as
/// `-o json` (nodes.json, and no nodes.yaml).
pub fn write_nodes(p: &Platform, dir: &Path, json: bool) {
    let ty = |n: usize| {
        // Every 25th node has an instance type no class names: the catch-all covers it.
        if n % 25 == 24 {
            "other.large".to_string()
        } else {
            format!("type-{}.xlarge", n % (p.classes - 1))
        }
    };
    if json {
        let items: Vec<serde_json::Value> = (0..p.nodes)
            .map(|n| {
                serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": format!("node-{n}"),
                "labels": {
                    "kubernetes.io/hostname": format!("node-{n}"),
                    "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": ty(n),
                    "topology.kubernetes.io/region": "us-east-1",
                    "topology.kubernetes.io/zone": ZONES[n % 3],
                }}})
            })
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        std::fs::write(
            dir.join("nodes.json"),
            serde_json::to_vec(&list).expect("json"),
        )
        .expect("write");
        let _ = std::fs::remove_file(dir.join("nodes.yaml"));
        return;
    }
    let mut nodes = String::with_capacity(p.nodes * 300);
    nodes.push_str("apiVersion: v1\nkind: List\nitems:\n");
    for n in 0..p.nodes {
        nodes.push_str(&format!(
            "- apiVersion: v1\n  kind: Node\n  metadata:\n    name: node-{n}\n    labels:\n      kubernetes.io/hostname: node-{n}\n      kubernetes.io/os: linux\n      node.kubernetes.io/instance-type: {}\n      topology.kubernetes.io/region: us-east-1\n      topology.kubernetes.io/zone: {}\n",
            ty(n),
            ZONES[n % 3]
        ));
    }
    std::fs::write(dir.join("nodes.yaml"), nodes).expect("write");
    let _ = std::fs::remove_file(dir.join("nodes.json"));
}

fn baseline_pipelines(count: usize, namespaces: usize) -> String {
    let mut out = String::new();
    for p in 0..count {
        out.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: app-{p}, namespace: team-{}}}\nspec:\n  stores: [us-east-1, eu-west-1]\n  sources:\n    podSelector: {{matchLabels: {{app: app-{p}}}}}\n    containers: [main, sidecar]\n  parse: {{json: true, regex: '^(?P<level>[A-Z]+) (?P<msg>.*)$'}}\n  routes:\n    - {{table: app_{p}, containers: [main]}}\n    - {{table: audit_{p}, containers: [sidecar]}}\n  tables:\n    - {{name: app_{p}, retentionDays: 30}}\n    - {{name: audit_{p}, retentionDays: 365, columns: [{{name: user, from: LogAttributes, key: user.id}}]}}\n  gateway: {{expectedEventsPerSecond: {}}}\n",
            p % namespaces,
            5_000 * (p % 20 + 1)
        ));
    }
    out
}

fn tenant_pipelines(namespaces: usize) -> String {
    let mut out = String::with_capacity(namespaces * 1200);
    for t in 0..namespaces {
        // The whole namespace, JSON parsed, a 2 h buffer (the default): disk.
        out.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: app, namespace: tenant-{t}}}\nspec:\n  stores: [us-east-1]\n  parse: {{json: true}}\n  tables: [{{name: app_logs_{t}, retentionDays: 30}}]\n  gateway: {{expectedEventsPerSecond: {}}}\n",
            Platform::tenant_rate(2 * t)
        ));
        // One labelled app's main container, routed to two tables by container.
        out.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: checkout, namespace: tenant-{t}}}\nspec:\n  stores: [us-east-1]\n  sources:\n    podSelector: {{matchLabels: {{app: checkout}}}}\n    containers: [main, audit]\n  routes:\n    - {{table: audit_{t}, containers: [audit]}}\n  tables:\n    - {{name: checkout_{t}, retentionDays: 14}}\n    - {{name: audit_{t}, retentionDays: 365}}\n  gateway: {{expectedEventsPerSecond: {}}}\n",
            Platform::tenant_rate(2 * t + 1)
        ));
    }
    for d in 0..DEDICATED {
        out.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: big-{d}, namespace: big-{d}}}\nspec:\n  stores: [us-east-1]\n  parse: {{json: true}}\n  tables: [{{name: big_{d}, retentionDays: 7}}]\n  gateway: {{dedicated: true, expectedEventsPerSecond: {}, maxReplicas: 64}}\n",
            Platform::dedicated_rate(d)
        ));
    }
    for c in 0..CLUSTER_WIDE {
        out.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: platform-{c}, namespace: otelhouse-system}}\nspec:\n  stores: [us-east-1]\n  sources:\n    namespaceSelector: {{matchExpressions: [{{key: platform.example.com/tier-{c}, operator: Exists}}]}}\n    containers: [envoy]\n  tables: [{{name: platform_{c}, retentionDays: 30}}]\n  gateway: {{expectedEventsPerSecond: {}}}\n",
            Platform::CLUSTER_WIDE_RATE
        ));
    }
    out
}

/// The platform with stores at a placeholder endpoint (render does not connect).
pub fn generate(p: &Platform, dir: &Path) {
    generate_with(p, dir, "https://ch:8443")
}
