//! The synthetic platform both benches use: 5,000 nodes in 3 zones, 20 agent classes (19 by
//! instance type and a catch-all), 200 pipelines in 50 namespaces with 2 tables each, 2 stores.
#![allow(dead_code)]

use std::path::Path;

pub const NODES: usize = 5_000;
pub const CLASSES: usize = 20;
pub const PIPELINES: usize = 200;

/// Write classes.yaml, stores.yaml, pipelines.yaml and nodes.yaml into `dir`; the stores'
/// HTTP endpoint is `store_url`.
pub fn generate_with(dir: &Path, store_url: &str) {
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut classes = String::new();
    for c in 0..CLASSES - 1 {
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
    let stores = store("us-east-1", "bench_us") + &store("eu-west-1", "bench_eu");
    std::fs::write(dir.join("stores.yaml"), stores).expect("write");

    let mut pipelines = String::new();
    for p in 0..PIPELINES {
        pipelines.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: app-{p}, namespace: team-{}}}\nspec:\n  stores: [us-east-1, eu-west-1]\n  sources:\n    podSelector: {{matchLabels: {{app: app-{p}}}}}\n    containers: [main, sidecar]\n  parse: {{json: true, regex: '^(?P<level>[A-Z]+) (?P<msg>.*)$'}}\n  routes:\n    - {{table: app_{p}, containers: [main]}}\n    - {{table: audit_{p}, containers: [sidecar]}}\n  tables:\n    - {{name: app_{p}, retentionDays: 30}}\n    - {{name: audit_{p}, retentionDays: 365, columns: [{{name: user, from: LogAttributes, key: user.id}}]}}\n  gateway: {{expectedEventsPerSecond: {}}}\n",
            p % 50,
            5_000 * (p % 20 + 1)
        ));
    }
    std::fs::write(dir.join("pipelines.yaml"), pipelines).expect("write");

    let mut nodes = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for n in 0..NODES {
        // Every 25th node has an instance type no class names: the catch-all covers it.
        let ty = if n % 25 == 24 {
            "other.large".to_string()
        } else {
            format!("type-{}.xlarge", n % (CLASSES - 1))
        };
        nodes.push_str(&format!(
            "- apiVersion: v1\n  kind: Node\n  metadata:\n    name: node-{n}\n    labels:\n      kubernetes.io/hostname: node-{n}\n      kubernetes.io/os: linux\n      node.kubernetes.io/instance-type: {ty}\n      topology.kubernetes.io/region: us-east-1\n      topology.kubernetes.io/zone: {}\n",
            zones[n % 3]
        ));
    }
    std::fs::write(dir.join("nodes.yaml"), nodes).expect("write");
}

/// The platform with stores at a placeholder endpoint (render does not connect).
pub fn generate(dir: &Path) {
    generate_with(dir, "https://ch:8443")
}
