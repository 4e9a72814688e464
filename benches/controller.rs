//! A full reconcile pass of 200 pipelines on 5,000 nodes against kube's tower-test mock API (and
//! the in-process ClickHouse for the schemas), then an idle pass. Prints wall time, requests by
//! verb, writes of the idle pass, and the peak RSS of this process (the operator's caches and
//! reconcilers; the mock API keeps only the statuses it must hand back).
//!
//! Run: `cargo bench --bench controller` (needs the Python tools: tests/tools/requirements.txt).

#[path = "gen.rs"]
mod generator;

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use otelhouse::controller::{self, Context};
use otelhouse::crd::{AgentClass, ClickHouseStore, LogPipeline};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Default)]
struct Counts {
    by_verb: BTreeMap<String, u64>,
    statuses: BTreeMap<String, Value>,
}

fn fake_api(counts: Arc<Mutex<Counts>>) -> Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes)
                .or_else(|_| serde_norway::from_slice(&bytes))
                .unwrap_or(Value::Null);
            let path = parts.uri.path().to_string();
            let verb = match parts.method.as_str() {
                "PATCH" if path.ends_with("/status") => "PATCH status",
                "PATCH" => "PATCH (apply)",
                "POST" => "POST (events)",
                "GET" => "GET",
                "DELETE" => "DELETE",
                _ => "other",
            };
            let (status, answer) = {
                let mut c = counts.lock().unwrap();
                *c.by_verb.entry(verb.to_string()).or_default() += 1;
                match verb {
                    "PATCH status" => {
                        c.statuses.insert(
                            path.trim_end_matches("/status").to_string(),
                            body["status"].clone(),
                        );
                        (200, body)
                    }
                    "PATCH (apply)" => {
                        let mut obj = body;
                        obj["metadata"]["resourceVersion"] = json!("1");
                        (200, obj)
                    }
                    "POST (events)" => (201, body),
                    "GET" => (
                        200,
                        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "otelhouse-system"}, "data": {"username": "ZGVmYXVsdA==", "password": ""}}),
                    ),
                    _ => (
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                    ),
                }
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    Client::new(service, "default")
}

// The server lives as long as the bench and exits with it (--exit-with-parent).
#[allow(clippy::zombie_processes)]
fn start_clickhouse() -> (String, std::process::Child) {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let port_file = dir.join("port");
    let python = std::env::var("OTELHOUSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = std::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tools/chdb_http.py"
        ))
        .arg("--path")
        .arg(dir.join("data"))
        .arg("--port-file")
        .arg(&port_file)
        .arg("--exit-with-parent")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs chdb_http.py");
    for _ in 0..600 {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            return (format!("http://127.0.0.1:{}", p.trim()), child);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("chdb_http.py did not start");
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn pass(ctx: &Arc<Context>) {
    for c in ctx.classes.state() {
        controller::reconcile_class(c, ctx.clone())
            .await
            .expect("class");
    }
    for p in ctx.pipelines.state() {
        controller::reconcile_pipeline(p, ctx.clone())
            .await
            .expect("pipeline");
    }
    for s in ctx.stores.state() {
        controller::reconcile_store(s, ctx.clone())
            .await
            .expect("store");
    }
}

/// Statuses the server now holds flow back into the caches, as the watches would deliver them.
fn sync(
    ctx: &Context,
    counts: &Mutex<Counts>,
    cw: &mut Writer<AgentClass>,
    pw: &mut Writer<LogPipeline>,
    sw: &mut Writer<ClickHouseStore>,
) {
    let c = counts.lock().unwrap();
    for class in ctx.classes.state() {
        let mut class = (*class).clone();
        class.status = c
            .statuses
            .get(&format!(
                "/apis/otelhouse.dev/v1alpha1/agentclasses/{}",
                class.name_any()
            ))
            .and_then(|s| serde_json::from_value(s.clone()).ok());
        cw.apply_watcher_event(&watcher::Event::Apply(class));
    }
    for p in ctx.pipelines.state() {
        let mut p = (*p).clone();
        let path = format!(
            "/apis/otelhouse.dev/v1alpha1/namespaces/{}/logpipelines/{}",
            p.namespace().unwrap_or_default(),
            p.name_any()
        );
        p.status = c
            .statuses
            .get(&path)
            .and_then(|s| serde_json::from_value(s.clone()).ok());
        pw.apply_watcher_event(&watcher::Event::Apply(p));
    }
    for s in ctx.stores.state() {
        let mut s = (*s).clone();
        s.status = c
            .statuses
            .get(&format!(
                "/apis/otelhouse.dev/v1alpha1/clickhousestores/{}",
                s.name_any()
            ))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        sw.apply_watcher_event(&watcher::Event::Apply(s));
    }
}

fn writes(c: &Counts) -> u64 {
    c.by_verb
        .iter()
        .filter(|(v, _)| *v != "GET")
        .map(|(_, n)| n)
        .sum()
}

/// The facts as the watches deliver them: typed objects from JSON (no YAML, no Values).
#[derive(serde::Serialize, serde::Deserialize)]
struct Facts {
    classes: Vec<AgentClass>,
    pipelines: Vec<LogPipeline>,
    stores: Vec<ClickHouseStore>,
    nodes: Vec<(String, BTreeMap<String, String>)>,
}

fn main() {
    // The operator runs in a child process of its own, so its peak memory is its own.
    if let Ok(file) = std::env::var("OTELHOUSE_BENCH_FACTS") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(operator(&file));
        return;
    }
    let (url, _server) = start_clickhouse();
    let dir = tempfile::tempdir().expect("tempdir");
    generator::generate_with(dir.path(), &url);
    let inputs = otelhouse::render::load(&[dir.path().to_path_buf()], &[]).expect("load");
    let facts = Facts {
        classes: inputs.classes,
        pipelines: inputs.pipelines,
        stores: inputs.stores,
        nodes: inputs
            .nodes
            .into_iter()
            .map(|n| (n.name, n.labels))
            .collect(),
    };
    let file = dir.path().join("facts.json");
    std::fs::write(&file, serde_json::to_vec(&facts).expect("json")).expect("write");
    // The allocator settings the chart gives the operator's pod.
    let status = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("OTELHOUSE_BENCH_FACTS", &file)
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .env("MIMALLOC_PURGE_DELAY", "0")
        .status()
        .expect("child");
    assert!(status.success());
}

async fn operator(file: &str) {
    let facts: Facts = serde_json::from_slice(&std::fs::read(file).expect("read")).expect("facts");
    let inputs = otelhouse::inventory::Inputs {
        classes: facts.classes,
        pipelines: facts.pipelines,
        stores: facts.stores,
        nodes: facts
            .nodes
            .into_iter()
            .map(|(n, l)| otelhouse::inventory::NodeFacts::new(n, l))
            .collect(),
    };
    let rss_before = peak_rss_mib();

    let counts: Arc<Mutex<Counts>> = Arc::default();
    let client = fake_api(counts.clone());
    let (cr, mut cw) = reflector::store::<AgentClass>();
    let (pr, mut pw) = reflector::store::<LogPipeline>();
    let (sr, mut sw) = reflector::store::<ClickHouseStore>();
    for (i, mut c) in inputs.classes.clone().into_iter().enumerate() {
        c.metadata.uid = Some(format!("uid-c{i}"));
        c.metadata.generation = Some(1);
        cw.apply_watcher_event(&watcher::Event::Apply(c));
    }
    for (i, mut p) in inputs.pipelines.clone().into_iter().enumerate() {
        p.metadata.uid = Some(format!("uid-p{i}"));
        p.metadata.generation = Some(1);
        pw.apply_watcher_event(&watcher::Event::Apply(p));
    }
    for mut s in inputs.stores.clone() {
        s.metadata.generation = Some(1);
        sw.apply_watcher_event(&watcher::Event::Apply(s));
    }
    let ctx = Arc::new(Context::new(
        client,
        otelhouse::inventory::Settings::default(),
        cr,
        pr,
        sr,
    ));
    for n in &inputs.nodes {
        ctx.nodes.write().unwrap().insert(n.name.clone(), n.clone());
    }
    drop(inputs);

    let start = Instant::now();
    pass(&ctx).await;
    let full = start.elapsed();
    let full_counts = std::mem::take(&mut counts.lock().unwrap().by_verb);
    sync(&ctx, &counts, &mut cw, &mut pw, &mut sw);

    let start = Instant::now();
    pass(&ctx).await;
    let idle = start.elapsed();
    let idle_counts = std::mem::take(&mut counts.lock().unwrap().by_verb);
    let idle_writes = writes(&Counts {
        by_verb: idle_counts.clone(),
        ..Default::default()
    });

    println!(
        "controller: full reconcile pass of {} pipelines, {} agent classes, {} nodes (mock API, schemas on chdb)",
        generator::PIPELINES,
        generator::CLASSES,
        generator::NODES
    );
    println!("  full pass wall time: {:.2} s", full.as_secs_f64());
    println!("  full pass requests:  {full_counts:?}");
    println!(
        "  idle pass wall time: {:.0} ms",
        idle.as_secs_f64() * 1000.0
    );
    println!("  idle pass requests:  {idle_counts:?}");
    println!("  idle pass writes:    {idle_writes}");
    println!(
        "  peak RSS:            {:.1} MiB (the operator process: caches, snapshot, reconcilers; {rss_before:.1} MiB after reading the facts)",
        peak_rss_mib()
    );
}
