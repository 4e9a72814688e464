//! `render` at scale: 5,000 nodes, 20 agent classes, 200 pipelines. Runs the release binary
//! (`otelhouse render -f DIR`) and prints its wall time and peak memory.
//!
//! Run: `cargo bench --bench render`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: usize = 5_000;
const CLASSES: usize = 20;
const PIPELINES: usize = 200;
const RUNS: usize = 11;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path());
    if let Ok(keep) = std::env::var("OTELHOUSE_BENCH_KEEP") {
        for f in [
            "classes.yaml",
            "stores.yaml",
            "pipelines.yaml",
            "nodes.yaml",
        ] {
            std::fs::copy(dir.path().join(f), Path::new(&keep).join(f)).expect("copy");
        }
    }
    let mut times = Vec::new();
    let mut output = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_otelhouse"))
            .arg("render")
            .arg("-f")
            .arg(dir.path())
            .output()
            .expect("otelhouse runs");
        times.push(start.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        output = out.stdout;
    }
    // The largest resident set of any child so far: the render processes.
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    let text = String::from_utf8_lossy(&output);
    let objects = text.lines().filter(|l| *l == "---").count();
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "otelhouse render of {NODES} nodes, {CLASSES} agent classes, {PIPELINES} pipelines ({RUNS} runs of the release binary)"
    );
    println!(
        "  objects rendered:  {objects} ({:.1} MiB of YAML)",
        output.len() as f64 / 1048576.0
    );
    println!(
        "  wall time:         median {} ms, min {} ms, max {} ms",
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    println!("  peak memory (RSS): {:.1} MiB", peak_kib as f64 / 1024.0);
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn generate(dir: &Path) {
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

    let stores = "---\napiVersion: otelhouse.dev/v1alpha1\nkind: ClickHouseStore\nmetadata: {name: us-east-1}\nspec: {region: us-east-1, httpUrl: 'https://ch-us:8443', exporterEndpoint: 'tcp://ch-us:9440', credentials: {secretName: ch-us}, allowedNamespaces: ['*']}\n---\napiVersion: otelhouse.dev/v1alpha1\nkind: ClickHouseStore\nmetadata: {name: eu-west-1}\nspec: {region: eu-west-1, httpUrl: 'https://ch-eu:8443', exporterEndpoint: 'tcp://ch-eu:9440', credentials: {secretName: ch-eu}, allowedNamespaces: ['*']}\n";
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
