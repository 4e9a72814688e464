//! `render` at scale, on the two synthetic platforms of gen.rs. Runs the release binary
//! (`otelhouse render -f DIR`) and prints its wall time and peak memory; for the tenants'
//! platform also the largest object and the gateway replicas against what throughput and zone
//! floors need, computed here from each pool's members (read from the pool's routing) and the
//! generator's rates, not from the planner.
//!
//! Run: `cargo bench --bench render`.

#[path = "gen.rs"]
mod generator;

use generator::{BASELINE, Platform, TENANTS, Tenants, ZONES};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
/// Kubernetes' object size limit (etcd's request limit).
const OBJECT_LIMIT: usize = 1024 * 1024;

fn main() {
    // Generation runs in a child of its own, so this process stays small (see below).
    if let Ok(job) = std::env::var("OTELHOUSE_BENCH_GENERATE") {
        let mut parts = job.splitn(3, ':');
        let (name, json, dir) = (parts.next(), parts.next(), parts.next());
        let p = [BASELINE, TENANTS]
            .into_iter()
            .find(|p| Some(p.name) == name)
            .expect("platform");
        let dir = Path::new(dir.expect("dir"));
        generator::generate(&p, dir);
        if json == Some("json") {
            generator::write_nodes(&p, dir, true);
        }
        return;
    }
    // A 50,000-node inventory is read faster as JSON (`kubectl get nodes -o json`) than as
    // YAML: both are measured. Every render runs before any output is analysed: a child's peak
    // RSS counts the memory of this process when it was spawned (the pre-exec address space).
    let measured: Vec<Measured> = [(BASELINE, false), (TENANTS, true), (TENANTS, false)]
        .into_iter()
        .map(|(p, json)| measure(p, json))
        .collect();
    for m in &measured {
        report(m);
    }
}

/// One platform's renders: the inputs and last output stay in `dir`.
struct Measured {
    platform: Platform,
    nodes_json: bool,
    dir: tempfile::TempDir,
    times: Vec<Duration>,
    peaks: Vec<f64>,
}

/// One render in a child process: its stdout, wall time and peak RSS (wait4's rusage: this
/// child's own, not the largest of all children so far).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, for its rusage"
)]
fn render_once(dir: &Path, out: &Path) -> (Duration, f64) {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_otelhouse"))
        .arg("render")
        .arg("-f")
        .arg(dir)
        .stdout(Stdio::from(
            std::fs::File::create(out).expect("output file"),
        ))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("otelhouse runs");
    let mut status = 0;
    // SAFETY: rusage is plain data; the pid is our child, reaped here and never waited on again.
    let rss_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        usage.ru_maxrss
    };
    let elapsed = start.elapsed();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "render failed"
    );
    (elapsed, rss_kib as f64 / 1024.0)
}

fn measure(p: Platform, nodes_json: bool) -> Measured {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input");
    std::fs::create_dir(&input).expect("mkdir");
    let job = format!(
        "{}:{}:{}",
        p.name,
        if nodes_json { "json" } else { "yaml" },
        input.display()
    );
    let status = Command::new(std::env::current_exe().expect("exe"))
        .env("OTELHOUSE_BENCH_GENERATE", job)
        .status()
        .expect("generator runs");
    assert!(status.success());
    if let Ok(keep) = std::env::var("OTELHOUSE_BENCH_KEEP") {
        for f in [
            "classes.yaml",
            "stores.yaml",
            "pipelines.yaml",
            "nodes.yaml",
            "nodes.json",
        ] {
            let to = Path::new(&keep).join(format!("{}-{f}", p.name));
            let _ = std::fs::copy(input.join(f), to);
        }
    }
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..RUNS {
        let (t, rss) = render_once(&input, &dir.path().join("out.yaml"));
        times.push(t);
        peaks.push(rss);
    }
    times.sort();
    peaks.sort_by(f64::total_cmp);
    Measured {
        platform: p,
        nodes_json,
        dir,
        times,
        peaks,
    }
}

fn report(m: &Measured) {
    let (p, times, peaks) = (&m.platform, &m.times, &m.peaks);
    let output = std::fs::read(m.dir.path().join("out.yaml")).expect("output");
    let text = String::from_utf8_lossy(&output);
    let docs: Vec<&str> = text.split("\n---\n").collect();
    println!(
        "otelhouse render, {} platform: {} nodes ({}), {} agent classes, {} pipelines ({RUNS} runs of the release binary)",
        p.name,
        p.nodes,
        if m.nodes_json { "JSON" } else { "YAML" },
        p.classes,
        p.pipelines()
    );
    println!(
        "  objects rendered:  {} ({:.1} MiB of YAML)",
        docs.len(),
        output.len() as f64 / 1048576.0
    );
    println!(
        "  wall time:         median {} ms, min {} ms, max {} ms",
        times[RUNS / 2].as_millis(),
        times[0].as_millis(),
        times[RUNS - 1].as_millis()
    );
    println!(
        "  peak memory (RSS): median {:.1} MiB, max {:.1} MiB",
        peaks[RUNS / 2],
        peaks[RUNS - 1]
    );
    let objects: Vec<Value> = docs
        .iter()
        .map(|d| serde_norway::from_str(d).expect("rendered YAML parses"))
        .collect();
    // The largest object as the API server stores it (JSON).
    let (largest, name) = objects
        .iter()
        .map(|o| {
            (
                serde_json::to_vec(o).expect("json").len(),
                format!(
                    "{} {}",
                    o["kind"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                ),
            )
        })
        .max()
        .expect("objects");
    println!(
        "  largest object:    {name}, {:.0} KiB of JSON ({:.1}% of the 1 MiB limit){}",
        largest as f64 / 1024.0,
        100.0 * largest as f64 / OBJECT_LIMIT as f64,
        if largest < OBJECT_LIMIT {
            ""
        } else {
            "  OVER THE LIMIT"
        }
    );
    let agent = objects
        .iter()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && (o["metadata"]["name"].as_str())
                    .is_some_and(|n| n.starts_with("otelhouse-agents-shared-"))
        })
        .map(|o| serde_json::to_vec(o).expect("json").len())
        .unwrap_or(0);
    println!(
        "  agent pipelines ConfigMap: {:.1} KiB",
        agent as f64 / 1024.0
    );
    if matches!(p.tenants, Tenants::Namespaces { .. }) {
        gateways(p, &objects);
    }
    println!();
}

/// Each tenant pipeline's rate by (namespace, name), from the generator.
fn rates(p: &Platform) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    let Tenants::Namespaces { namespaces } = p.tenants else {
        return out;
    };
    for t in 0..namespaces {
        out.insert(
            (format!("tenant-{t}"), "app".into()),
            Platform::tenant_rate(2 * t),
        );
        out.insert(
            (format!("tenant-{t}"), "checkout".into()),
            Platform::tenant_rate(2 * t + 1),
        );
    }
    for d in 0..generator::DEDICATED {
        out.insert(
            (format!("big-{d}"), format!("big-{d}")),
            Platform::dedicated_rate(d),
        );
    }
    for c in 0..generator::CLUSTER_WIDE {
        out.insert(
            ("otelhouse-system".into(), format!("platform-{c}")),
            Platform::CLUSTER_WIDE_RATE,
        );
    }
    out
}

/// Gateway replicas planned (the HPAs' floors) against the need: per pool and zone,
/// max(1, ceil(pool rate x zone's share of nodes / 60,000 per replica)).
fn gateways(p: &Platform, objects: &[Value]) {
    const CAPACITY: f64 = 60_000.0;
    let rates = rates(p);
    let total: u64 = rates.values().sum();
    let mut planned: BTreeMap<String, u64> = BTreeMap::new();
    let mut workloads: BTreeMap<&str, usize> = BTreeMap::new();
    let mut cpu_millis = 0u64;
    let mut memory_mib = 0u64;
    let mut disk_gib = 0u64;
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or("");
        let pool = o["metadata"]["labels"]["otelhouse.dev/pool"].as_str();
        match (kind, pool) {
            ("HorizontalPodAutoscaler", Some(pool)) => {
                let min = o["spec"]["minReplicas"].as_u64().unwrap_or(1);
                *planned.entry(pool.to_string()).or_default() += min;
            }
            ("Deployment" | "StatefulSet", Some(_)) => {
                *workloads
                    .entry(if kind == "Deployment" {
                        "Deployment"
                    } else {
                        "StatefulSet"
                    })
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    // Per replica resources times the HPA floor of its workload.
    let floors: BTreeMap<&str, u64> = objects
        .iter()
        .filter(|o| o["kind"] == "HorizontalPodAutoscaler")
        .filter_map(|o| {
            Some((
                o["metadata"]["name"].as_str()?,
                o["spec"]["minReplicas"].as_u64()?,
            ))
        })
        .collect();
    for o in objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
    {
        let Some(n) = o["metadata"]["name"].as_str().and_then(|n| floors.get(n)) else {
            continue;
        };
        let req = &o["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"];
        cpu_millis += n * quantity_millis(req["cpu"].as_str().unwrap_or("0"));
        memory_mib += n * quantity_mib(req["memory"].as_str().unwrap_or("0"));
        if let Some(v) =
            o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
                .as_str()
        {
            disk_gib += n * quantity_mib(v) / 1024;
        }
    }
    // Each pool's members, from its routing: the namespaces its router sends to member
    // branches `logs/<namespace>.<name>`.
    let mut need: BTreeMap<String, u64> = BTreeMap::new();
    let mut members = 0usize;
    for o in objects.iter().filter(|o| o["kind"] == "ConfigMap") {
        let Some(pool) = o["metadata"]["labels"]["otelhouse.dev/pool"].as_str() else {
            continue;
        };
        let text = o["data"]["config.yaml"].as_str().expect("gateway config");
        let cfg: Value = serde_norway::from_str(text).expect("config parses");
        let branches: BTreeSet<(String, String)> = cfg["service"]["pipelines"]
            .as_object()
            .expect("pipelines")
            .keys()
            .filter_map(|k| k.strip_prefix("logs/"))
            .filter_map(|k| {
                let (ns, name) = k.split_once('.')?;
                rates
                    .contains_key(&(ns.to_string(), name.to_string()))
                    .then(|| (ns.to_string(), name.to_string()))
            })
            .collect();
        members += branches.len();
        let rate: u64 = branches.iter().map(|b| rates[b]).sum();
        let per_zone = ((rate as f64 / ZONES.len() as f64) / CAPACITY)
            .ceil()
            .max(1.0) as u64;
        need.insert(pool.to_string(), per_zone * ZONES.len() as u64);
    }
    let planned_total: u64 = planned.values().sum();
    let need_total: u64 = need.values().sum();
    let throughput_only = (total as f64 / CAPACITY).ceil() as u64;
    println!(
        "  gateway pools:     {} ({} shared shards), {} members of {} pipelines, workloads {workloads:?}",
        planned.len(),
        planned
            .keys()
            .filter(|k| k.starts_with("otelhouse-gw-s"))
            .count(),
        members,
        rates.len()
    );
    println!(
        "  gateway replicas:  {planned_total} planned; {need_total} needed by throughput and zone floors ({:+.1}%); {throughput_only} by throughput alone ({:.1} M events/s)",
        100.0 * (planned_total as f64 - need_total as f64) / need_total as f64,
        total as f64 / 1e6
    );
    println!(
        "  gateway requests:  {:.0} CPU, {:.0} GiB memory, {} GiB of queue volumes",
        cpu_millis as f64 / 1000.0,
        memory_mib as f64 / 1024.0,
        disk_gib
    );
    for (pool, n) in &planned {
        let want = need.get(pool).copied().unwrap_or(0);
        if want > 0 && (*n as f64) > want as f64 * 1.1 + 0.5 {
            println!("    {pool}: {n} planned, {want} needed");
        }
    }
}

fn quantity_millis(q: &str) -> u64 {
    if let Some(m) = q.strip_suffix('m') {
        m.parse().unwrap_or(0)
    } else {
        (q.parse::<f64>().unwrap_or(0.0) * 1000.0) as u64
    }
}

fn quantity_mib(q: &str) -> u64 {
    let (n, mult) = if let Some(v) = q.strip_suffix("Gi") {
        (v, 1024.0)
    } else if let Some(v) = q.strip_suffix("Mi") {
        (v, 1.0)
    } else if let Some(v) = q.strip_suffix("Ti") {
        (v, 1024.0 * 1024.0)
    } else {
        (q, 1.0 / 1048576.0)
    };
    (n.parse::<f64>().unwrap_or(0.0) * mult) as u64
}
