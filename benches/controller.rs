//! A full reconcile pass of a platform of gen.rs (the baseline: 200 pipelines on 5,000 nodes;
//! `OTELHOUSE_BENCH_PLATFORM=tenants`: 2,006 pipelines on 50,000 nodes) against the test kit's
//! API server (and the in-process ClickHouse for the schemas), then an idle pass. Prints wall time, requests by
//! verb, writes of the idle pass, and the peak RSS of this process (the operator's caches and
//! reconcilers; the mock API keeps only the statuses it must hand back).
//!
//! Run: `cargo bench --bench controller` (needs the Python tools: tests/tools/requirements.txt).

#[path = "gen.rs"]
mod generator;

#[path = "../tests/kit/mod.rs"]
mod kit;

use kit::api::{FakeApi, Recorded};
use kit::world::World;
use otelhouse::controller;
use otelhouse::crd::{AgentClass, ClickHouseStore, LogPipeline};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Requests by kind of request: applies, status patches, scale updates, Events, reads.
fn by_verb(reqs: &[Recorded]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in reqs {
        let verb = match r.method.as_str() {
            "PATCH" if r.path.ends_with("/status") => "PATCH status",
            "PATCH" if r.path.ends_with("/scale") => "PATCH scale",
            "PATCH" if r.path.contains("/events/") => "PATCH (event series)",
            "PATCH" if r.content_type == "application/apply-patch+yaml" => "PATCH (apply)",
            "PATCH" => "PATCH (other)",
            "POST" => "POST (events)",
            "GET" => "GET",
            "DELETE" => "DELETE",
            _ => "other",
        };
        *out.entry(verb.to_string()).or_default() += 1;
    }
    out
}

/// The resident set now (VmRSS) and at its highest so far (VmHWM), in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Where the memory goes: the resident set and its high-water mark after each stage.
fn stage(name: &str) {
    let (now, peak) = rss_mib();
    eprintln!("  [{name}] rss {now:.1} MiB, peak so far {peak:.1} MiB");
}

async fn pass(w: &World) {
    let ctx = &w.ctx;
    for c in ctx.classes.state() {
        controller::reconcile_class(c, ctx.clone())
            .await
            .expect("class");
    }
    stage("classes reconciled");
    for (i, p) in ctx.pipelines.state().into_iter().enumerate() {
        controller::reconcile_pipeline(p, ctx.clone())
            .await
            .expect("pipeline");
        if i % 250 == 249 {
            stage(&format!("{} pipelines reconciled", i + 1));
        }
    }
    for s in ctx.stores.state() {
        controller::reconcile_store(s, ctx.clone())
            .await
            .expect("store");
    }
}

fn writes(c: &BTreeMap<String, u64>) -> u64 {
    c.iter().filter(|(v, _)| *v != "GET").map(|(_, n)| n).sum()
}

/// One fact per line of the facts file, as the watches deliver them: typed objects from JSON
/// (no YAML, no Values), read one at a time so the child never holds the whole platform's input.
#[derive(serde::Serialize, serde::Deserialize)]
enum Fact {
    Class(Box<AgentClass>),
    Pipeline(Box<LogPipeline>),
    Store(Box<ClickHouseStore>),
    Node(String, BTreeMap<String, String>),
}

/// `OTELHOUSE_BENCH_PLATFORM=tenants` for gen.rs's tenants' platform; the baseline otherwise.
fn platform() -> generator::Platform {
    match std::env::var("OTELHOUSE_BENCH_PLATFORM").as_deref() {
        Ok("tenants") => generator::TENANTS,
        _ => generator::BASELINE,
    }
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
    let url = kit::clickhouse_url();
    let dir = tempfile::tempdir().expect("tempdir");
    generator::generate_with(&platform(), dir.path(), &url);
    let inputs = otelhouse::render::load(&[dir.path().to_path_buf()], &[]).expect("load");
    let file = dir.path().join("facts.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
    let facts = (inputs.classes.into_iter().enumerate())
        .map(|(i, mut c)| {
            c.metadata.uid = Some(format!("uid-c{i}"));
            Fact::Class(Box::new(c))
        })
        .chain(inputs.pipelines.into_iter().enumerate().map(|(i, mut p)| {
            p.metadata.uid = Some(format!("uid-p{i}"));
            Fact::Pipeline(Box::new(p))
        }))
        .chain(inputs.stores.into_iter().map(|s| Fact::Store(Box::new(s))))
        .chain(
            (inputs.nodes.into_iter()).map(|n| Fact::Node(n.name.to_string(), n.labels.to_map())),
        );
    for fact in facts {
        serde_json::to_writer(&mut out, &fact).expect("json");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("flush");
    drop(out);
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
    // The test kit's API server, lean: it keeps only the statuses it hands back.
    let mut w = World::empty(FakeApi::lean(), otelhouse::inventory::Settings::default());
    let reader = std::io::BufReader::new(std::fs::File::open(file).expect("open"));
    for line in reader.lines() {
        match serde_json::from_str(&line.expect("read")).expect("fact") {
            Fact::Class(c) => w.add_class(&c),
            Fact::Pipeline(p) => w.add_pipeline(&p),
            Fact::Store(s) => w.add_store(&s),
            Fact::Node(name, labels) => {
                w.add_node(otelhouse::inventory::NodeFacts::new(name, labels))
            }
        }
    }
    w.api.take();
    let rss_before = rss_mib().1;
    stage("facts cached");
    drop(w.ctx.snapshot());
    stage("first snapshot built");

    let start = Instant::now();
    pass(&w).await;
    let full = start.elapsed();
    let full_counts = by_verb(&w.api.take());
    w.sync_status();

    let start = Instant::now();
    pass(&w).await;
    let idle = start.elapsed();
    let idle_counts = by_verb(&w.api.take());
    let idle_writes = writes(&idle_counts);

    println!(
        "controller: full reconcile pass of {} pipelines, {} agent classes, {} nodes (mock API, schemas on chdb)",
        platform().pipelines(),
        platform().classes,
        platform().nodes
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
        "  peak RSS:            {:.1} MiB (the operator process: caches, snapshot, reconcilers; {rss_before:.1} MiB with the facts cached, before the first pass)",
        rss_mib().1
    );
}
