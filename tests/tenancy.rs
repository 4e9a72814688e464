//! Tenancy stays exact: a tenant pipeline receives its own namespace's logs and nothing else,
//! even when another tenant's pipeline matches the same labels.
//!
//! A platform is rendered from YAML, then one log line per container of a set of pods is walked
//! through the generated collector configs (the agent's, then the gateway ConfigMap of the pool
//! it is sent to) by an evaluator written from the OpenTelemetry collector's own rules
//! (collector-contrib v0.150), not from our builders: [`kit::ottl`] for confmap expansion,
//! doublestar globs and OTTL conditions, and [`Collector`] here for the components:
//!
//! - service pipelines (go.opentelemetry.io/collector service/internal/graph, and
//!   internal/fanoutconsumer): a pipeline's processors run in order, then every exporter of it
//!   gets its own copy (fan-out); a connector is the exporter of some pipelines and the
//!   receiver of others, and the collector refuses to start when one side is missing.
//! - filelog receiver (receiver/filelogreceiver, pkg/stanza/fileconsumer/matcher/internal/
//!   finder/finder.go): a file is read when it matches an include and no exclude; its entries
//!   carry `log.file.path` with `include_file_path`; the `container` operator with
//!   `add_metadata_from_filepath` (pkg/stanza/operator/parser/container/parser.go,
//!   `logpathPattern`) sets the resource's k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
//!   k8s.container.name and k8s.container.restart_count from the kubelet's path
//!   `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`; `remove` drops a field.
//! - k8sattributes processor (processor/k8sattributesprocessor, config.go `extract.labels`):
//!   the pod is found by its association (`resource_attribute` k8s.pod.uid), then only the
//!   listed label keys are added, as `tag_name` (default `k8s.pod.labels.<key>` /
//!   `k8s.namespace.labels.<key>`), from the pod or its namespace, when the label is set.
//! - routing connector (connector/routingconnector/logs.go, `ConsumeLogs`): routes are tried in
//!   order over what is left; a `resource` route moves the matching ResourceLogs, a `log` route
//!   the matching records, to all of its pipelines; what no route took goes to
//!   `default_pipelines`, and without them is dropped silently; an evaluation error is no match.
//!   Each line is walked alone: every route decides on one resource or one record, so what one
//!   line's resource or record does never depends on another's, and the first route whose
//!   condition is true takes it.
//! - filter processor (processor/filterprocessor/logs.go, internal/filter/filterottl): a record
//!   is dropped when any `logs.log_record` condition (log context) is true; with
//!   `error_mode: ignore` an error counts as false.
//! - forward connector: every pipeline it is the receiver of gets a copy.
//! - memory_limiter and transform drop nothing; what a transform writes is checked not to be
//!   read by any condition, so leaving it out changes no decision.
//!
//! What each pipeline should get is written by hand from the custom resources' meaning
//! ([`wanted`]: namespace, podSelector, containers, excludes, routes), and in the fixed
//! platform also literally, line by line.

mod kit;

use kit::ottl::{Condition, Ctx, Glob, Map, Record, expand};
use otelhouse::render::Rendered;
use proptest::prelude::*;
use regex::Regex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

// ---------------------------------------------------------------- the cluster

#[derive(Clone, Debug)]
struct Pod {
    namespace: String,
    name: String,
    uid: String,
    labels: BTreeMap<String, String>,
    containers: Vec<String>,
    node: String,
}

/// What the API server would tell the agents: pods, namespaces' labels, nodes' regions.
#[derive(Clone, Debug, Default)]
struct World {
    pods: Vec<Pod>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    regions: BTreeMap<String, String>,
}

impl World {
    fn namespace(&mut self, name: &str, labels: &[(&str, &str)]) {
        let mut l: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The API server sets it on every namespace.
        l.insert("kubernetes.io/metadata.name".into(), name.into());
        self.namespaces.insert(name.to_string(), l);
    }

    fn pod(&mut self, namespace: &str, name: &str, labels: &[(&str, &str)], containers: &[&str]) {
        assert!(self.namespaces.contains_key(namespace), "{namespace}");
        let n = self.pods.len();
        let nodes: Vec<&String> = self.regions.keys().collect();
        let node = nodes[n % nodes.len()].clone();
        self.pods.push(Pod {
            namespace: namespace.into(),
            name: name.into(),
            // Pod UIDs are lowercase hex and dashes (what the container parser's path pattern
            // accepts).
            uid: format!("{n:08x}-1111-2222-3333-{:012x}", n * 7919),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            node,
        });
    }

    fn pod_by_uid(&self, uid: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.uid == uid)
    }
}

/// One log line of one container.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    pod: &'a Pod,
    container: &'a str,
}

impl Line<'_> {
    fn path(&self) -> String {
        format!(
            "/var/log/pods/{}_{}_{}/{}/0.log",
            self.pod.namespace, self.pod.name, self.pod.uid, self.container
        )
    }

    fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.pod.namespace, self.pod.name, self.container
        )
    }
}

fn lines(world: &World) -> Vec<Line<'_>> {
    world
        .pods
        .iter()
        .flat_map(|pod| {
            pod.containers.iter().map(move |c| Line {
                pod,
                container: c.as_str(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------- what the CRs mean

/// A Kubernetes label selector (apimachinery labels.Selector semantics).
#[derive(Clone, Debug, Default)]
struct Selector {
    labels: BTreeMap<String, String>,
    /// (key, operator, values)
    exprs: Vec<(String, String, Vec<String>)>,
}

impl Selector {
    fn from_json(v: &Value) -> Self {
        let labels = v["matchLabels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let exprs = v["matchExpressions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["key"].as_str().unwrap().to_string(),
                            e["operator"].as_str().unwrap().to_string(),
                            strings(&e["values"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { labels, exprs }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({});
        if !self.labels.is_empty() {
            v["matchLabels"] = json!(self.labels);
        }
        if !self.exprs.is_empty() {
            v["matchExpressions"] = self
                .exprs
                .iter()
                .map(|(k, op, values)| {
                    let mut e = json!({"key": k, "operator": op});
                    if !values.is_empty() {
                        e["values"] = json!(values);
                    }
                    e
                })
                .collect();
        }
        v
    }

    /// matchLabels and every expression; `NotIn` and `DoesNotExist` match an absent label.
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.exprs.iter().all(|(k, op, values)| {
                let got = labels.get(k);
                match op.as_str() {
                    "In" => got.is_some_and(|g| values.contains(g)),
                    "NotIn" => got.is_none_or(|g| !values.contains(g)),
                    "Exists" => got.is_some(),
                    "DoesNotExist" => got.is_none(),
                    other => panic!("operator {other}"),
                }
            })
    }
}

#[derive(Clone, Debug, Default)]
struct RouteSpec {
    table: String,
    namespaces: Vec<String>,
    containers: Vec<String>,
    pod_labels: BTreeMap<String, String>,
}

/// A LogPipeline, as its fields are documented.
#[derive(Clone, Debug, Default)]
struct Spec {
    namespace: String,
    name: String,
    namespaces: Vec<String>,
    namespace_selector: Option<Selector>,
    pod_selector: Option<Selector>,
    containers: Vec<String>,
    exclude_namespaces: Vec<String>,
    exclude_containers: Vec<String>,
    tables: Vec<String>,
    routes: Vec<RouteSpec>,
    default_table: Option<String>,
    dedicated: bool,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

impl Spec {
    fn from_cr(cr: &Value) -> Self {
        let spec = &cr["spec"];
        let src = &spec["sources"];
        Self {
            namespace: cr["metadata"]["namespace"].as_str().unwrap().into(),
            name: cr["metadata"]["name"].as_str().unwrap().into(),
            namespaces: strings(&src["namespaces"]),
            namespace_selector: Some(&src["namespaceSelector"])
                .filter(|v| !v.is_null())
                .map(Selector::from_json),
            pod_selector: Some(&src["podSelector"])
                .filter(|v| !v.is_null())
                .map(Selector::from_json),
            containers: strings(&src["containers"]),
            exclude_namespaces: strings(&src["exclude"]["namespaces"]),
            exclude_containers: strings(&src["exclude"]["containers"]),
            tables: spec["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect(),
            routes: spec["routes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| RouteSpec {
                            table: r["table"].as_str().unwrap().into(),
                            namespaces: strings(&r["namespaces"]),
                            containers: strings(&r["containers"]),
                            pod_labels: r["podLabels"]
                                .as_object()
                                .map(|m| {
                                    m.iter()
                                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().into()))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            default_table: spec["defaultTable"].as_str().map(String::from),
            dedicated: spec["gateway"]["dedicated"] == true,
        }
    }

    fn to_cr(&self) -> Value {
        let mut sources = json!({});
        if !self.namespaces.is_empty() {
            sources["namespaces"] = json!(self.namespaces);
        }
        if let Some(s) = &self.namespace_selector {
            sources["namespaceSelector"] = s.to_json();
        }
        if let Some(s) = &self.pod_selector {
            sources["podSelector"] = s.to_json();
        }
        if !self.containers.is_empty() {
            sources["containers"] = json!(self.containers);
        }
        if !self.exclude_namespaces.is_empty() || !self.exclude_containers.is_empty() {
            sources["exclude"] = json!({
                "namespaces": self.exclude_namespaces,
                "containers": self.exclude_containers,
            });
        }
        let routes: Vec<Value> = self
            .routes
            .iter()
            .map(|r| {
                json!({"table": r.table, "namespaces": r.namespaces, "containers": r.containers,
                    "podLabels": r.pod_labels})
            })
            .collect();
        let mut spec = json!({
            "stores": ["us"],
            "sources": sources,
            "tables": self.tables.iter().map(|t| json!({"name": t, "retentionDays": 7})).collect::<Vec<_>>(),
            "routes": routes,
            "gateway": {"expectedEventsPerSecond": 100, "dedicated": self.dedicated},
        });
        if let Some(d) = &self.default_table {
            spec["defaultTable"] = json!(d);
        }
        json!({
            "apiVersion": "otelhouse.dev/v1alpha1",
            "kind": "LogPipeline",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        })
    }

    fn id(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }

    /// Whether the pipeline collects the line (`spec.sources`): its namespaces (its own when it
    /// names none and selects none by label), its pods, its containers (none: all), minus the
    /// excludes.
    fn selects(&self, line: &Line<'_>, world: &World) -> bool {
        let ns = &line.pod.namespace;
        let in_scope = if self.namespaces.is_empty() && self.namespace_selector.is_none() {
            *ns == self.namespace
        } else {
            self.namespaces.contains(ns)
                || self
                    .namespace_selector
                    .as_ref()
                    .is_some_and(|s| s.matches(&world.namespaces[ns]))
        };
        in_scope
            && self
                .pod_selector
                .as_ref()
                .is_none_or(|s| s.matches(&line.pod.labels))
            && (self.containers.is_empty() || self.containers.iter().any(|c| c == line.container))
            && !self.exclude_namespaces.contains(ns)
            && !self.exclude_containers.iter().any(|c| c == line.container)
    }

    /// The table a selected line lands in (`spec.routes`, first match wins; then
    /// `defaultTable`; one table and no routes takes everything), None: dropped (and counted).
    fn table(&self, line: &Line<'_>) -> Option<&str> {
        let hit = self.routes.iter().find(|r| {
            (r.namespaces.is_empty() || r.namespaces.contains(&line.pod.namespace))
                && (r.containers.is_empty() || r.containers.iter().any(|c| c == line.container))
                && r.pod_labels
                    .iter()
                    .all(|(k, v)| line.pod.labels.get(k) == Some(v))
        });
        match hit {
            Some(r) => Some(&r.table),
            None if self.default_table.is_some() => self.default_table.as_deref(),
            None if self.tables.len() == 1 && self.routes.is_empty() => Some(&self.tables[0]),
            None => None,
        }
    }
}

/// What a line should reach: the ClickHouse exporters of the tables it lands in, and the
/// pipelines that select it but have no table for it (a counted drop).
#[derive(Debug, Default, PartialEq)]
struct Wanted {
    exporters: Vec<String>,
    tableless: BTreeSet<String>,
}

/// The agents never read their own logs (they would loop through themselves).
fn own_agent_logs(line: &Line<'_>) -> bool {
    let s = kit::settings();
    line.pod.namespace == s.agent_namespace && line.pod.name.starts_with("otelhouse-agent-")
}

fn wanted(specs: &[Spec], line: &Line<'_>, world: &World) -> Wanted {
    let mut w = Wanted::default();
    if own_agent_logs(line) {
        return w;
    }
    for s in specs.iter().filter(|s| s.selects(line, world)) {
        match s.table(line) {
            Some(t) => w.exporters.push(format!("clickhouse/{}.{t}", s.id())),
            None => {
                w.tableless.insert(s.id());
            }
        }
    }
    w.exporters.sort();
    w
}

/// Whether any pipeline's namespaces (listed, its own, or by label) hold the line's namespace.
fn scoped(specs: &[Spec], line: &Line<'_>, world: &World) -> bool {
    let ns = &line.pod.namespace;
    specs.iter().any(|s| {
        (s.namespaces.is_empty() && s.namespace_selector.is_none() && s.namespace == *ns)
            || s.namespaces.contains(ns)
            || s.namespace_selector
                .as_ref()
                .is_some_and(|sel| sel.matches(&world.namespaces[ns]))
    })
}

// ---------------------------------------------------------------- the collector

/// A value of a config, expanded by confmap.
fn text(v: &Value) -> String {
    expand(v.as_str().unwrap_or_else(|| panic!("{v} is not a string")))
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

/// The type of a component id `type[/name]`.
fn kind(id: &str) -> &str {
    id.split('/').next().unwrap_or_default()
}

fn keys_within(v: &Value, allowed: &[&str], what: &str) {
    for k in v.as_object().into_iter().flat_map(|m| m.keys()) {
        assert!(
            allowed.contains(&k.as_str()),
            "{what}: key {k} not modelled"
        );
    }
}

#[derive(Debug)]
struct Pipe {
    receivers: Vec<String>,
    processors: Vec<String>,
    exporters: Vec<String>,
}

struct Router {
    /// (condition, its pipelines)
    routes: Vec<(Condition, Vec<String>)>,
    default: Vec<String>,
}

struct Filelog {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
    include_file_path: bool,
    operators: Vec<Operator>,
}

enum Operator {
    /// `container` with add_metadata_from_filepath.
    Container,
    Remove(Map, String),
}

/// The container parser's path pattern (pkg/stanza/operator/parser/container/parser.go,
/// `logpathPattern`).
static LOG_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^.*(\/|\\)(?P<namespace>[^_]+)_(?P<pod_name>[^_]+)_(?P<uid>[a-f0-9\-]+)(\/|\\)(?P<container_name>[^\._]+)(\/|\\)(?P<restart_count>\d+)\.log$").unwrap()
});
/// A stanza field of a map: `attributes["k"]`, `resource["k"]`.
static FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^(attributes|resource)\["([^"]+)"\]$"#).unwrap());
/// An OTTL resource attribute path.
static RESOURCE_ATTRIBUTE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^resource\.attributes\["([^"]+)"\]$"#).unwrap());

impl Filelog {
    fn from(cfg: &Value) -> Self {
        // The modelled keys, and those that change neither which files are read nor the
        // attributes their entries carry (`attributes`, `resource`, `exclude_older_than`,
        // `ordering_criteria` would, and panic).
        keys_within(
            cfg,
            &[
                "include",
                "exclude",
                "include_file_path",
                "include_file_name",
                "operators",
                "start_at",
                "storage",
                "max_log_size",
                "max_concurrent_files",
                "max_batches",
                "poll_interval",
                "fingerprint_size",
                "encoding",
                "force_flush_period",
                "preserve_leading_whitespaces",
                "preserve_trailing_whitespaces",
                "retry_on_failure",
            ],
            "filelog",
        );
        let operators = cfg["operators"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|op| match op["type"].as_str() {
                Some("container") => {
                    keys_within(
                        op,
                        &["type", "id", "format", "add_metadata_from_filepath"],
                        "container operator",
                    );
                    // Without it the parser adds no metadata; these tests need it.
                    assert_eq!(op["add_metadata_from_filepath"], true);
                    Operator::Container
                }
                Some("remove") => {
                    keys_within(op, &["type", "id", "field"], "remove operator");
                    let field = text(&op["field"]);
                    let c = FIELD
                        .captures(&field)
                        .unwrap_or_else(|| panic!("field {field} not modelled"));
                    let map = if &c[1] == "resource" {
                        Map::Resource
                    } else {
                        Map::Record
                    };
                    Operator::Remove(map, c[2].to_string())
                }
                other => panic!("operator {other:?} not modelled"),
            })
            .collect();
        Self {
            include: texts(&cfg["include"])
                .iter()
                .map(|g| Glob::new(g))
                .collect(),
            exclude: texts(&cfg["exclude"])
                .iter()
                .map(|g| Glob::new(g))
                .collect(),
            include_file_path: cfg["include_file_path"] == true,
            operators,
        }
    }

    fn reads(&self, path: &str) -> bool {
        self.include.iter().any(|g| g.matches(path))
            && !self.exclude.iter().any(|g| g.matches(path))
    }

    /// The entry of a line of the file, after the operators.
    fn entry(&self, path: &str) -> Record {
        let mut r = Record::default();
        if self.include_file_path {
            r.attributes.insert("log.file.path".into(), path.into());
        }
        for op in &self.operators {
            match op {
                Operator::Container => {
                    let p = r
                        .attributes
                        .get("log.file.path")
                        .expect("the container parser reads log.file.path");
                    let c = LOG_PATH.captures(p).expect("a kubelet log path");
                    for (attr, group) in [
                        ("k8s.namespace.name", "namespace"),
                        ("k8s.pod.name", "pod_name"),
                        ("k8s.pod.uid", "uid"),
                        ("k8s.container.name", "container_name"),
                        ("k8s.container.restart_count", "restart_count"),
                    ] {
                        r.resource.insert(attr.into(), c[group].to_string());
                    }
                    // And from the CRI line: its stream and partial-line tag.
                    r.attributes.insert("log.iostream".into(), "stdout".into());
                    r.attributes.insert("logtag".into(), "F".into());
                }
                Operator::Remove(Map::Resource, k) => {
                    r.resource.remove(k);
                }
                Operator::Remove(Map::Record, k) => {
                    r.attributes.remove(k);
                }
            }
        }
        r
    }
}

/// k8sattributes: (tag, key, from namespace?) for each extracted label.
struct K8sAttributes {
    labels: Vec<(String, String, bool)>,
}

impl K8sAttributes {
    fn from(cfg: &Value) -> Self {
        assert_eq!(cfg["passthrough"], false, "passthrough adds no metadata");
        assert_eq!(
            cfg["pod_association"],
            json!([{"sources": [{"from": "resource_attribute", "name": "k8s.pod.uid"}]}]),
            "only the association by k8s.pod.uid is modelled"
        );
        let labels = cfg["extract"]["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                keys_within(l, &["tag_name", "key", "from"], "extract.labels");
                let key = text(&l["key"]);
                let from = l["from"].as_str().unwrap_or("pod");
                let namespace = match from {
                    "pod" => false,
                    "namespace" => true,
                    other => panic!("labels from {other} not modelled"),
                };
                let tag = l["tag_name"].as_str().map(expand).unwrap_or_else(|| {
                    format!(
                        "k8s.{}.labels.{key}",
                        if namespace { "namespace" } else { "pod" }
                    )
                });
                (tag, key, namespace)
            })
            .collect();
        Self { labels }
    }

    fn apply(&self, r: &mut Record, world: &World) {
        let Some(pod) = r
            .resource
            .get("k8s.pod.uid")
            .and_then(|u| world.pod_by_uid(u))
        else {
            return;
        };
        for (tag, key, namespace) in &self.labels {
            let from = if *namespace {
                &world.namespaces[&pod.namespace]
            } else {
                &pod.labels
            };
            if let Some(v) = from.get(key) {
                r.resource.insert(tag.clone(), v.clone());
            }
        }
    }
}

/// Where a copy of a line ended in one collector.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stop {
    /// Given to an exporter.
    Export(String),
    /// Dropped by a filter processor (counted by its metrics).
    Filtered(String),
    /// Taken by no route of a router without default pipelines: gone without a trace.
    Silent(String),
}

/// One collector's config, its conditions parsed.
struct Collector {
    name: String,
    pipelines: BTreeMap<String, Pipe>,
    routers: BTreeMap<String, Router>,
    forwards: BTreeSet<String>,
    filters: BTreeMap<String, Vec<Condition>>,
    k8s: Option<K8sAttributes>,
    filelog: Option<Filelog>,
    exporters: BTreeMap<String, Value>,
    /// Resource attributes some transform writes.
    written: BTreeSet<String>,
}

impl Collector {
    fn new(name: &str, cfg: &Value) -> Self {
        let mut c = Collector {
            name: name.to_string(),
            pipelines: BTreeMap::new(),
            routers: BTreeMap::new(),
            forwards: BTreeSet::new(),
            filters: BTreeMap::new(),
            k8s: None,
            filelog: None,
            exporters: cfg["exporters"]
                .as_object()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default(),
            written: BTreeSet::new(),
        };
        for (id, p) in cfg["service"]["pipelines"].as_object().unwrap() {
            assert_eq!(kind(id), "logs", "{name}: pipeline {id}");
            c.pipelines.insert(
                id.clone(),
                Pipe {
                    receivers: texts(&p["receivers"]),
                    processors: texts(&p["processors"]),
                    exporters: texts(&p["exporters"]),
                },
            );
        }
        for (id, r) in cfg["receivers"].as_object().unwrap() {
            match kind(id) {
                "filelog" => c.filelog = Some(Filelog::from(r)),
                "otlp" | "nop" => {}
                other => panic!("{name}: receiver {other} not modelled"),
            }
        }
        for (id, p) in cfg["processors"].as_object().into_iter().flatten() {
            match kind(id) {
                "memory_limiter" => {}
                "k8s_attributes" => c.k8s = Some(K8sAttributes::from(p)),
                "filter" => {
                    keys_within(p, &["error_mode", "logs"], id);
                    keys_within(&p["logs"], &["log_record"], id);
                    assert!(
                        matches!(p["error_mode"].as_str(), Some("ignore" | "silent")),
                        "{id}: an error would fail the whole batch"
                    );
                    let conditions = texts(&p["logs"]["log_record"])
                        .iter()
                        .map(|s| Condition::parse(s, Ctx::Log))
                        .collect();
                    c.filters.insert(id.clone(), conditions);
                }
                "transform" => {
                    for group in p["log_statements"].as_array().unwrap() {
                        assert_eq!(group["context"], "log", "{id}");
                        for s in texts(&group["statements"]) {
                            c.written.extend(transform_writes(&s));
                        }
                    }
                }
                // Only as the isolation stage: passes every batch on at once, unchanged.
                "batch" => {
                    keys_within(p, &["timeout"], id);
                    assert_eq!(
                        p["timeout"], "0s",
                        "{id}: a batch processor that holds data"
                    );
                }
                other => panic!("{name}: processor {other} not modelled"),
            }
        }
        for (id, r) in cfg["connectors"].as_object().into_iter().flatten() {
            match kind(id) {
                "forward" => {
                    c.forwards.insert(id.clone());
                }
                "routing" => {
                    keys_within(r, &["error_mode", "default_pipelines", "table"], id);
                    let routes = r["table"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|route| {
                            keys_within(route, &["context", "condition", "pipelines"], id);
                            let ctx = match route["context"].as_str().unwrap_or("resource") {
                                "resource" => Ctx::Resource,
                                "log" => Ctx::Log,
                                other => panic!("{id}: context {other} not modelled"),
                            };
                            (
                                Condition::parse(&text(&route["condition"]), ctx),
                                texts(&route["pipelines"]),
                            )
                        })
                        .collect();
                    c.routers.insert(
                        id.clone(),
                        Router {
                            routes,
                            default: texts(&r["default_pipelines"]),
                        },
                    );
                }
                other => panic!("{name}: connector {other} not modelled"),
            }
        }
        c.validate();
        c
    }

    /// What the collector checks at start: every component a pipeline names exists, every
    /// connector is the exporter of some pipeline and the receiver of another, and a router's
    /// pipelines are among those it is the receiver of.
    fn validate(&self) {
        let connectors: BTreeSet<&String> =
            self.routers.keys().chain(self.forwards.iter()).collect();
        for (id, p) in &self.pipelines {
            for e in &p.exporters {
                assert!(
                    connectors.contains(e) || self.exporters.contains_key(e),
                    "{}: {id} exports to unknown {e}",
                    self.name
                );
            }
            for proc in &p.processors {
                assert!(
                    self.filters.contains_key(proc)
                        || matches!(
                            kind(proc),
                            "memory_limiter" | "k8s_attributes" | "transform" | "batch"
                        ),
                    "{}: {id}: unknown processor {proc}",
                    self.name
                );
            }
        }
        for conn in &connectors {
            let fed = self.pipelines.values().any(|p| p.exporters.contains(conn));
            let feeds = self.pipelines.values().any(|p| p.receivers.contains(conn));
            assert!(fed && feeds, "{}: connector {conn} unconnected", self.name);
        }
        for (id, r) in &self.routers {
            for target in r.routes.iter().flat_map(|(_, p)| p).chain(&r.default) {
                let p = self
                    .pipelines
                    .get(target)
                    .unwrap_or_else(|| panic!("{}: {id} routes to unknown {target}", self.name));
                assert!(
                    p.receivers.contains(id),
                    "{}: {target} does not receive from {id}",
                    self.name
                );
            }
        }
    }

    /// Every condition, for the checks of what they read.
    fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.routers
            .values()
            .flat_map(|r| r.routes.iter().map(|(c, _)| c))
            .chain(self.filters.values().flatten())
    }

    /// A copy of `rec` entering at `receiver`: every pipeline receiving from it.
    fn run(&self, receiver: &str, rec: &Record, world: &World, out: &mut Vec<(Stop, Record)>) {
        let mut any = false;
        for (id, p) in &self.pipelines {
            if p.receivers.iter().any(|r| r == receiver) {
                any = true;
                self.pipeline(id, rec.clone(), world, out);
            }
        }
        assert!(any, "{}: nothing receives from {receiver}", self.name);
    }

    fn pipeline(&self, id: &str, mut rec: Record, world: &World, out: &mut Vec<(Stop, Record)>) {
        let p = &self.pipelines[id];
        for proc in &p.processors {
            match kind(proc) {
                // batch/isolate passes each batch on unchanged (`timeout: 0s`).
                "memory_limiter" | "transform" | "batch" => {}
                "k8s_attributes" => self.k8s.as_ref().unwrap().apply(&mut rec, world),
                "filter" => {
                    if self.filters[proc].iter().any(|c| c.eval(&rec)) {
                        out.push((Stop::Filtered(proc.clone()), rec));
                        return;
                    }
                }
                other => panic!("processor {other}"),
            }
        }
        // Fan-out: each exporter of the pipeline gets its own copy.
        for e in &p.exporters {
            if let Some(r) = self.routers.get(e) {
                let targets = r
                    .routes
                    .iter()
                    .find(|(c, _)| c.eval(&rec))
                    .map_or(&r.default, |(_, p)| p);
                if targets.is_empty() {
                    out.push((Stop::Silent(e.clone()), rec.clone()));
                }
                for t in targets {
                    self.pipeline(t, rec.clone(), world, out);
                }
            } else if self.forwards.contains(e) {
                self.run(e, &rec, world, out);
            } else {
                out.push((Stop::Export(e.clone()), rec.clone()));
            }
        }
    }
}

/// The resource attributes a transform statement may write (the editors our configs use; any
/// other panics).
fn transform_writes(statement: &str) -> Vec<String> {
    let target = |s: &str| {
        let open = s.find('(').unwrap();
        let comma = s.find(',').unwrap();
        s[open + 1..comma].trim().to_string()
    };
    if statement.starts_with("merge_maps(") {
        assert_eq!(target(statement), "attributes", "{statement}");
        return vec![];
    }
    assert!(
        statement.starts_with("set("),
        "editor not modelled: {statement}"
    );
    let t = target(statement);
    // The record's time and its own attributes (the clamp's flag): no resource attribute.
    if t == "time" || t.starts_with("attributes[") {
        return vec![];
    }
    let c = RESOURCE_ATTRIBUTE
        .captures(&t)
        .unwrap_or_else(|| panic!("target {t} not modelled"));
    vec![c[1].to_string()]
}

// ---------------------------------------------------------------- the platform, rendered

fn find<'a>(r: &'a Rendered, kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    r.objects
        .iter()
        .find(|o| {
            o.kind == kind && o.name == name && o.object["metadata"]["namespace"] == namespace
        })
        .map(|o| &o.object)
}

fn data(cm: &Value, key: &str) -> Value {
    serde_norway::from_str(cm["data"][key].as_str().unwrap()).unwrap()
}

/// confmap's merge of several `--config`s: maps merge key by key, anything else the later
/// one replaces.
fn merge(into: &mut Value, over: &Value) {
    match (into, over) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

/// The rendered collectors: each class's agent, each gateway ConfigMap.
struct Platform {
    agents: BTreeMap<String, Collector>,
    gateways: BTreeMap<String, Collector>,
    /// Gateway Services: (namespace, name) -> port.
    services: BTreeSet<(String, String, u64)>,
}

impl Platform {
    fn new(r: &Rendered) -> Self {
        let s = kit::settings();
        let mut agents = BTreeMap::new();
        for ds in r.objects.iter().filter(|o| o.kind == "DaemonSet") {
            let pod = &ds.object["spec"]["template"]["spec"];
            // The ConfigMaps its volume projects, by key, and its --config files in order.
            let mut files: BTreeMap<String, Value> = BTreeMap::new();
            for v in pod["volumes"].as_array().unwrap() {
                for src in v["projected"]["sources"].as_array().into_iter().flatten() {
                    let name = src["configMap"]["name"].as_str().unwrap();
                    let cm = find(r, "ConfigMap", &s.agent_namespace, name).unwrap();
                    for key in cm["data"].as_object().unwrap().keys() {
                        files.insert(key.clone(), data(cm, key));
                    }
                }
            }
            let mut cfg = Value::Null;
            for arg in texts(&pod["containers"][0]["args"]) {
                let file = arg.strip_prefix("--config=").unwrap();
                let key = file.rsplit('/').next().unwrap();
                merge(&mut cfg, &files[key]);
            }
            let class = ds.name.trim_start_matches("otelhouse-agent-").to_string();
            agents.insert(class, Collector::new(&ds.name, &cfg));
        }
        let mut gateways = BTreeMap::new();
        for cm in r.objects.iter().filter(|o| {
            o.kind == "ConfigMap"
                && o.name.starts_with("otelhouse-gw-")
                && o.namespace.as_deref() == Some(s.namespace.as_str())
        }) {
            gateways.insert(
                cm.name.clone(),
                Collector::new(&cm.name, &data(&cm.object, "config.yaml")),
            );
        }
        let services = r
            .objects
            .iter()
            .filter(|o| o.kind == "Service")
            .flat_map(|o| {
                let ns = o.namespace.clone().unwrap_or_default();
                let name = o.name.clone();
                o.object["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |p| (ns.clone(), name.clone(), p["port"].as_u64().unwrap()))
                    .collect::<Vec<_>>()
            })
            .collect();
        Platform {
            agents,
            gateways,
            services,
        }
    }

    /// The agent of the pod's node (one class covers every node in these platforms).
    fn agent(&self) -> &Collector {
        assert_eq!(self.agents.len(), 1);
        self.agents.values().next().unwrap()
    }

    /// The gateway config an OTLP exporter's endpoint reaches from a region: the Service
    /// `<pool>.<namespace>.svc:<port>`, and its pool's ConfigMap for that region.
    fn gateway(&self, endpoint: &str, region: &str) -> (&str, &Collector) {
        let (host, port) = endpoint.rsplit_once(':').unwrap();
        let parts: Vec<&str> = host.split('.').collect();
        let [svc, ns, "svc"] = parts.as_slice() else {
            panic!("endpoint {endpoint} is not a Service")
        };
        assert!(
            self.services
                .contains(&(ns.to_string(), svc.to_string(), port.parse().unwrap())),
            "no Service behind {endpoint}"
        );
        let cm = format!("{svc}-{region}");
        let gw = self
            .gateways
            .get(&cm)
            .unwrap_or_else(|| panic!("no gateway ConfigMap {cm} for {endpoint}"));
        (&gw.name, gw)
    }

    /// The attributes that exist on a line when a condition reads it: what the filelog
    /// receiver and k8sattributes set (nothing a transform writes).
    fn check_reads(&self) {
        let agent = self.agent();
        let mut known: BTreeSet<(Map, String)> = [
            "k8s.namespace.name",
            "k8s.pod.name",
            "k8s.pod.uid",
            "k8s.container.name",
            "k8s.container.restart_count",
        ]
        .iter()
        .map(|k| (Map::Resource, k.to_string()))
        .collect();
        known.extend(
            agent
                .k8s
                .iter()
                .flat_map(|k| &k.labels)
                .map(|(tag, _, _)| (Map::Resource, tag.clone())),
        );
        for c in self.agents.values().chain(self.gateways.values()) {
            for cond in c.conditions() {
                for read in &cond.reads {
                    assert!(
                        known.contains(read),
                        "{}: {} reads {read:?}, which the agents do not set",
                        c.name,
                        cond.source
                    );
                    assert!(
                        !c.written.contains(&read.1),
                        "{}: {} reads {read:?}, which a transform writes",
                        c.name,
                        cond.source
                    );
                }
            }
        }
    }
}

/// Where one line ended: (collector, stop) for every copy, and whether it was read at all.
#[derive(Debug, Default)]
struct Trace {
    read: bool,
    stops: Vec<(String, Stop)>,
}

impl Trace {
    fn count(&self, f: impl Fn(&str, &Stop) -> bool) -> usize {
        self.stops.iter().filter(|(c, s)| f(c, s)).count()
    }

    fn clickhouse(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .stops
            .iter()
            .filter_map(|(_, s)| match s {
                Stop::Export(e) if kind(e) == "clickhouse" => Some(e.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    fn reached_gateway(&self) -> bool {
        self.stops
            .iter()
            .any(|(c, _)| c.starts_with("otelhouse-gw-"))
    }
}

fn simulate(p: &Platform, world: &World, line: &Line<'_>) -> Trace {
    let agent = p.agent();
    let filelog = agent.filelog.as_ref().expect("the agent reads files");
    let path = line.path();
    let mut trace = Trace::default();
    if !filelog.reads(&path) {
        return trace;
    }
    trace.read = true;
    let mut out = Vec::new();
    agent.run("filelog", &filelog.entry(&path), world, &mut out);
    let region = &world.regions[&line.pod.node];
    for (stop, rec) in out {
        match &stop {
            Stop::Export(e) if matches!(kind(e), "otlp_grpc" | "otlp") => {
                let (name, gw) = p.gateway(&text(&agent.exporters[e]["endpoint"]), region);
                let mut at_gw = Vec::new();
                gw.run("otlp", &rec, world, &mut at_gw);
                trace
                    .stops
                    .extend(at_gw.into_iter().map(|(s, _)| (name.to_string(), s)));
            }
            Stop::Export(e) => {
                assert_eq!(kind(e), "nop", "the agent exports to {e}");
                trace.stops.push((agent.name.clone(), stop));
            }
            _ => trace.stops.push((agent.name.clone(), stop)),
        }
    }
    trace
}

/// Walk every line and check it ends exactly where the CRs say. Returns the traces by line.
fn check_exact(
    r: &Rendered,
    specs: &[Spec],
    world: &World,
) -> Result<BTreeMap<String, Trace>, String> {
    let p = Platform::new(r);
    p.check_reads();
    let agent = p.agent().name.clone();
    let mut traces = BTreeMap::new();
    for line in lines(world) {
        let t = simulate(&p, world, &line);
        let w = wanted(specs, &line, world);
        let key = line.key();
        let fail = |what: &str| Err(format!("{key}: {what}\nwanted {w:?}\ntrace {t:#?}"));
        // Exactly the tables the CRs send it to, each once: no other tenant, no duplicate.
        if t.clickhouse() != w.exporters {
            return fail("reached other ClickHouse exporters than its pipelines'");
        }
        let nop = |c: &str, s: &Stop, name: &str| {
            c == agent.as_str() && *s == Stop::Export(name.to_string())
        };
        let unrouted = t.count(|c, s| nop(c, s, "nop/unrouted"));
        if unrouted > 1 {
            return fail("counted more than once as unrouted");
        }
        if unrouted == 1 && t.reached_gateway() {
            return fail("counted as unrouted and sent to a gateway");
        }
        if !w.exporters.is_empty() && unrouted > 0 {
            return fail("a wanted line counted as unrouted");
        }
        if t.count(|c, s| c != agent && *s == Stop::Export("nop/unmatched".into())) > 0 {
            return fail("a gateway received a namespace it does not serve");
        }
        if t.count(|c, s| nop(c, s, "nop/claimed")) > 0 && !t.reached_gateway() {
            return fail("claimed for a label-selected pool that never got it");
        }
        // A pipeline that selects the line but has no table for it counts it, once; no other
        // pipeline's drop counter sees it.
        let mut tableless: Vec<String> = t
            .stops
            .iter()
            .filter_map(|(_, s)| match s {
                Stop::Export(e) if kind(e) == "nop" && e.ends_with(".unrouted") => Some(
                    e.trim_start_matches("nop/")
                        .trim_end_matches(".unrouted")
                        .to_string(),
                ),
                _ => None,
            })
            .collect();
        tableless.sort();
        if tableless != w.tableless.iter().cloned().collect::<Vec<_>>() {
            return fail("counted by other pipelines' unrouted counters than its own");
        }
        if t.read {
            // Never lost without a trace: some copy ends delivered or counted, and what stays
            // on the node is counted there.
            if t.count(|_, s| !matches!(s, Stop::Silent(_))) == 0 {
                return fail("silently lost");
            }
            if !t.reached_gateway() && unrouted != 1 {
                return fail("read, kept on the node, and not counted as unrouted");
            }
            if t.count(|c, s| c != agent && matches!(s, Stop::Silent(_))) > 0 {
                return fail("silently dropped at a gateway");
            }
        } else if !w.exporters.is_empty() {
            return fail("a wanted line is never read");
        }
        // A namespace no pipeline collects never leaves the node: unread, or counted once.
        if !scoped(specs, &line, world) && (t.reached_gateway() || (t.read && unrouted != 1)) {
            return fail("a line of a namespace no pipeline collects was not dropped on its node");
        }
        if own_agent_logs(&line) && t.read {
            return fail("the agents read their own logs");
        }
        traces.insert(key, t);
    }
    Ok(traces)
}

fn render(yaml: &str, per_shard: usize) -> Rendered {
    let mut settings = kit::settings();
    settings.pools.namespaces_per_shard = per_shard;
    otelhouse::render::render(&kit::inputs_from(yaml), &settings)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn specs_of(yaml: &str) -> Vec<Spec> {
    otelhouse::render::documents(yaml, "test")
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "LogPipeline")
        .map(Spec::from_cr)
        .collect()
}

// ---------------------------------------------------------------- the fixed platform

const CLUSTER: &str = r#"
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: all}
spec: {default: true, expectedLinesPerSecond: 1000, resources: {limits: {memory: 256Mi}}}
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Node
    metadata: {name: n1, labels: {topology.kubernetes.io/zone: us-east-1a, topology.kubernetes.io/region: us-east-1}}
  - apiVersion: v1
    kind: Node
    metadata: {name: n2, labels: {topology.kubernetes.io/zone: us-east-1b, topology.kubernetes.io/region: us-east-1}}
"#;

const PIPELINES: &str = r#"
apiVersion: otelhouse.dev/v1alpha1
kind: ClickHouseStore
metadata: {name: us}
spec:
  region: us-east-1
  httpUrl: http://ch:8123
  exporterEndpoint: tcp://ch:9000
  credentials: {secretName: ch-us}
  allowedNamespaces: [team-a, team-b, team-c, team-d, team-e, shop, payments]
---
# team-a and team-b select the same pod labels: each gets its own namespace's pods only (into
# tables of its own: a table belongs to one pipeline).
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: web, namespace: team-a}
spec:
  stores: [us]
  sources: {podSelector: {matchLabels: {app: web}}}
  tables: [{name: web_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: web, namespace: team-b}
spec:
  stores: [us]
  sources: {podSelector: {matchLabels: {app: web}}}
  tables: [{name: web_b_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# Two pipelines of one namespace: the backend's api and worker containers, and everything
# but the mesh's sidecars.
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: api, namespace: team-c}
spec:
  stores: [us]
  sources:
    podSelector: {matchExpressions: [{key: tier, operator: In, values: [backend]}]}
    containers: [api, worker]
  tables: [{name: api_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: all, namespace: team-c}
spec:
  stores: [us]
  sources: {exclude: {containers: [istio-proxy]}}
  tables: [{name: all_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# Routes to several tables (first match wins), the rest to a default table; next to it a
# pipeline whose routes leave some lines without a table.
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: multi, namespace: team-d}
spec:
  stores: [us]
  routes:
    - {table: access, containers: [nginx]}
    - {table: errors, podLabels: {app: web}}
  defaultTable: rest
  tables: [{name: access, retentionDays: 7}, {name: errors, retentionDays: 7}, {name: rest, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: strict, namespace: team-d}
spec:
  stores: [us]
  routes:
    - {table: alphas, containers: [alpha]}
    - {table: betas, containers: [beta]}
  tables: [{name: alphas, retentionDays: 7}, {name: betas, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# A namespace collected, but one of its pipelines selects no pod.
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: quiet, namespace: team-e}
spec:
  stores: [us]
  sources: {podSelector: {matchLabels: {app: never}}}
  tables: [{name: logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: unlabelled, namespace: team-e}
spec:
  stores: [us]
  sources: {podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}}
  tables: [{name: unlabelled_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# Gateways of its own, shared with the other pipeline of its namespace.
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: checkout, namespace: shop}
spec:
  stores: [us]
  tables: [{name: checkout_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100, dedicated: true}
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: cart, namespace: shop}
spec:
  stores: [us]
  sources: {containers: [cart]}
  tables: [{name: cart_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# The same labels again, and a NotIn (which an absent label satisfies).
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: app, namespace: payments}
spec:
  stores: [us]
  sources:
    podSelector:
      matchLabels: {app: web}
      matchExpressions: [{key: env, operator: NotIn, values: [dev]}]
  tables: [{name: app_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# Trusted: namespaces by label (a tenant's among them), two containers, a table each.
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: clickhouse, namespace: otelhouse-system}
spec:
  stores: [us]
  sources:
    namespaceSelector: {matchExpressions: [{key: clickhouse.com/cell, operator: Exists}]}
    containers: [clickhouse-server, clickhouse-keeper]
    exclude: {namespaces: [ch-staging]}
  routes:
    - {table: server_logs, containers: [clickhouse-server]}
    - {table: keeper_logs, containers: [clickhouse-keeper]}
  tables: [{name: server_logs, retentionDays: 7}, {name: keeper_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
---
# Trusted: named namespaces, a tenant's among them, routed by namespace.
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: platform, namespace: otelhouse-system}
spec:
  stores: [us]
  sources:
    namespaces: [kube-system, team-a]
    containers: [coredns, web]
  routes:
    - {table: team_a_logs, namespaces: [team-a]}
  defaultTable: platform_logs
  tables: [{name: platform_logs, retentionDays: 7}, {name: team_a_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
"#;

fn fixed_world() -> World {
    let mut w = World::default();
    w.regions.insert("n1".into(), "us-east-1".into());
    w.regions.insert("n2".into(), "us-east-1".into());
    let cell = "clickhouse.com/cell";
    for ns in [
        "team-a",
        "team-c",
        "team-d",
        "team-e",
        "shop",
        "payments",
        "kube-system",
        "other",
        "otelhouse-system",
        "otelhouse-agents",
    ] {
        w.namespace(ns, &[]);
    }
    w.namespace("team-b", &[(cell, "b")]);
    w.namespace("ch-cell-1", &[(cell, "c1")]);
    w.namespace("ch-staging", &[(cell, "staging")]);
    let web = [("app", "web")];
    w.pod("team-a", "web-1", &web, &["web", "istio-proxy"]);
    w.pod("team-a", "db-1", &[("app", "db")], &["postgres"]);
    w.pod("team-b", "web-1", &web, &["web", "clickhouse-server"]);
    w.pod(
        "team-b",
        "keeper-1",
        &[("app", "other")],
        &["clickhouse-keeper"],
    );
    w.pod(
        "team-c",
        "api-1",
        &[("tier", "backend")],
        &["api", "worker", "istio-proxy"],
    );
    w.pod(
        "team-c",
        "front-1",
        &[("tier", "frontend")],
        &["api", "istio-proxy"],
    );
    w.pod("team-d", "web-1", &web, &["nginx", "app"]);
    w.pod("team-d", "job-1", &[], &["nginx", "alpha", "beta", "gamma"]);
    w.pod("team-e", "web-1", &web, &["web"]);
    w.pod("team-e", "bare-1", &[], &["main"]);
    w.pod("shop", "checkout-1", &web, &["checkout", "cart"]);
    w.pod(
        "payments",
        "web-1",
        &[("app", "web"), ("env", "prod")],
        &["web"],
    );
    w.pod(
        "payments",
        "web-dev",
        &[("app", "web"), ("env", "dev")],
        &["web"],
    );
    w.pod("payments", "web-noenv", &web, &["web"]);
    w.pod(
        "ch-cell-1",
        "ch-0",
        &[],
        &["clickhouse-server", "clickhouse-keeper", "backup"],
    );
    w.pod("ch-staging", "ch-0", &[], &["clickhouse-server"]);
    w.pod("kube-system", "coredns-1", &[], &["coredns"]);
    w.pod("other", "web-1", &web, &["web"]);
    w.pod("otelhouse-system", "operator-1", &web, &["operator"]);
    w.pod(
        "otelhouse-agents",
        "otelhouse-agent-all-x1",
        &[],
        &["collector"],
    );
    w
}

/// Every line of the fixed world and the ClickHouse exporters it must reach, by hand.
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "team-a/web-1/web",
        &[
            "clickhouse/otelhouse-system.platform.team_a_logs",
            "clickhouse/team-a.web.web_logs",
        ],
    ),
    (
        "team-a/web-1/istio-proxy",
        &["clickhouse/team-a.web.web_logs"],
    ),
    ("team-a/db-1/postgres", &[]),
    ("team-b/web-1/web", &["clickhouse/team-b.web.web_b_logs"]),
    (
        "team-b/web-1/clickhouse-server",
        &[
            "clickhouse/otelhouse-system.clickhouse.server_logs",
            "clickhouse/team-b.web.web_b_logs",
        ],
    ),
    (
        "team-b/keeper-1/clickhouse-keeper",
        &["clickhouse/otelhouse-system.clickhouse.keeper_logs"],
    ),
    (
        "team-c/api-1/api",
        &[
            "clickhouse/team-c.all.all_logs",
            "clickhouse/team-c.api.api_logs",
        ],
    ),
    (
        "team-c/api-1/worker",
        &[
            "clickhouse/team-c.all.all_logs",
            "clickhouse/team-c.api.api_logs",
        ],
    ),
    ("team-c/api-1/istio-proxy", &[]),
    ("team-c/front-1/api", &["clickhouse/team-c.all.all_logs"]),
    ("team-c/front-1/istio-proxy", &[]),
    ("team-d/web-1/nginx", &["clickhouse/team-d.multi.access"]),
    ("team-d/web-1/app", &["clickhouse/team-d.multi.errors"]),
    ("team-d/job-1/nginx", &["clickhouse/team-d.multi.access"]),
    (
        "team-d/job-1/alpha",
        &[
            "clickhouse/team-d.multi.rest",
            "clickhouse/team-d.strict.alphas",
        ],
    ),
    (
        "team-d/job-1/beta",
        &[
            "clickhouse/team-d.multi.rest",
            "clickhouse/team-d.strict.betas",
        ],
    ),
    ("team-d/job-1/gamma", &["clickhouse/team-d.multi.rest"]),
    ("team-e/web-1/web", &[]),
    (
        "team-e/bare-1/main",
        &["clickhouse/team-e.unlabelled.unlabelled_logs"],
    ),
    (
        "shop/checkout-1/checkout",
        &["clickhouse/shop.checkout.checkout_logs"],
    ),
    (
        "shop/checkout-1/cart",
        &[
            "clickhouse/shop.cart.cart_logs",
            "clickhouse/shop.checkout.checkout_logs",
        ],
    ),
    ("payments/web-1/web", &["clickhouse/payments.app.app_logs"]),
    ("payments/web-dev/web", &[]),
    (
        "payments/web-noenv/web",
        &["clickhouse/payments.app.app_logs"],
    ),
    (
        "ch-cell-1/ch-0/clickhouse-server",
        &["clickhouse/otelhouse-system.clickhouse.server_logs"],
    ),
    (
        "ch-cell-1/ch-0/clickhouse-keeper",
        &["clickhouse/otelhouse-system.clickhouse.keeper_logs"],
    ),
    ("ch-cell-1/ch-0/backup", &[]),
    ("ch-staging/ch-0/clickhouse-server", &[]),
    (
        "kube-system/coredns-1/coredns",
        &["clickhouse/otelhouse-system.platform.platform_logs"],
    ),
    ("other/web-1/web", &[]),
    ("otelhouse-system/operator-1/operator", &[]),
    ("otelhouse-agents/otelhouse-agent-all-x1/collector", &[]),
];

#[test]
fn every_line_reaches_exactly_its_pipelines_tables() {
    let yaml = format!("{CLUSTER}---{PIPELINES}");
    let r = render(&yaml, 2);
    let specs = specs_of(&yaml);
    let world = fixed_world();
    // The hand-written table and the CRs' meaning agree, line by line.
    let all = lines(&world);
    assert_eq!(all.len(), EXPECTED.len());
    for (line, (key, exporters)) in all.iter().zip(EXPECTED) {
        assert_eq!(line.key(), *key);
        assert_eq!(wanted(&specs, line, &world).exporters, *exporters, "{key}");
    }
    let traces = check_exact(&r, &specs, &world).unwrap_or_else(|e| panic!("{e}"));

    // The platform has what the scenario needs: several shared shards, a dedicated pool, a
    // label-selected pool, and a tenant namespace that both a shard and that pool get.
    let shards: BTreeSet<&str> = r
        .pools
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| n.starts_with("otelhouse-gw-s"))
        .collect();
    assert!(shards.len() >= 2, "{shards:?}");
    assert_eq!(r.pools.len(), shards.len() + 2, "shop's and the label pool");
    let pools_of = |key: &str| -> BTreeSet<String> {
        traces[key]
            .stops
            .iter()
            .map(|(c, _)| c.clone())
            .filter(|c| c.starts_with("otelhouse-gw-"))
            .collect()
    };
    assert_eq!(pools_of("team-b/web-1/clickhouse-server").len(), 2);
    assert_eq!(pools_of("team-a/web-1/web").len(), 1);
    // What no pipeline selects of a collected namespace is dropped by its pipelines' filters
    // at the gateway; a namespace nobody collects is counted on the node.
    let t = &traces["team-e/web-1/web"];
    assert!(
        t.stops
            .iter()
            .all(|(_, s)| matches!(s, Stop::Filtered(_) | Stop::Silent(_))),
        "{t:?}"
    );
    let unrouted = |key: &str| {
        traces[key]
            .stops
            .iter()
            .any(|(_, s)| *s == Stop::Export("nop/unrouted".into()))
    };
    assert!(unrouted("other/web-1/web") && unrouted("ch-staging/ch-0/clickhouse-server"));
    assert!(!traces["otelhouse-agents/otelhouse-agent-all-x1/collector"].read);
    let strict: Vec<&String> = traces
        .iter()
        .filter(|(_, t)| {
            t.stops
                .iter()
                .any(|(_, s)| *s == Stop::Export("nop/team-d.strict.unrouted".into()))
        })
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        strict,
        [
            "team-d/job-1/gamma",
            "team-d/job-1/nginx",
            "team-d/web-1/app",
            "team-d/web-1/nginx"
        ]
    );
}

/// Without any label-selected pipeline the agents read only the collected namespaces' files
/// (and with one pool, send without routing): what is not collected is never read.
#[test]
fn without_label_selection_only_collected_namespaces_are_read() {
    let docs: Vec<&str> = PIPELINES
        .split("\n---\n")
        .filter(|d| !d.contains("namespaceSelector"))
        .collect();
    let world = fixed_world();
    for per_shard in [2, 64] {
        let yaml = format!("{CLUSTER}---{}", docs.join("\n---\n"));
        let r = render(&yaml, per_shard);
        let specs = specs_of(&yaml);
        let traces = check_exact(&r, &specs, &world).unwrap_or_else(|e| panic!("{e}"));
        for key in ["other/web-1/web", "ch-cell-1/ch-0/clickhouse-server"] {
            assert!(!traces[key].read, "{key}");
        }
        assert!(traces["kube-system/coredns-1/coredns"].read);
    }
}

/// Edit the config one of the rendered ConfigMaps holds (the first whose text has `needle`).
fn edit(r: &mut Rendered, needle: &str, f: impl FnOnce(&mut Value)) {
    let o = r
        .objects
        .iter_mut()
        .find(|o| {
            o.kind == "ConfigMap"
                && o.object["data"]
                    .as_object()
                    .is_some_and(|d| d.values().any(|t| t.as_str().unwrap().contains(needle)))
        })
        .unwrap_or_else(|| panic!("no ConfigMap holds {needle}"));
    let data = o.object["data"].as_object_mut().unwrap();
    let (_, text) = data
        .iter_mut()
        .find(|(_, t)| t.as_str().unwrap().contains(needle))
        .unwrap();
    let mut cfg: Value = serde_norway::from_str(text.as_str().unwrap()).unwrap();
    f(&mut cfg);
    *text = Value::String(serde_norway::to_string(&cfg).unwrap());
}

/// The check is not vacuous: a config that leaks a line to another pipeline, loses one at a
/// gateway, or leaves one unread on the node is caught.
#[test]
fn broken_configs_are_caught() {
    let yaml = format!("{CLUSTER}---{PIPELINES}");
    let specs = specs_of(&yaml);
    let world = fixed_world();
    let fresh = || render(&yaml, 2);
    let mut r = fresh();
    assert!(check_exact(&r, &specs, &world).is_ok());
    // team-a's web pipeline without its pod selection takes team-a's database's lines.
    edit(&mut r, "filter/team-a.web", |cfg| {
        let p = &mut cfg["service"]["pipelines"]["logs/team-a.web"]["processors"];
        p.as_array_mut()
            .unwrap()
            .retain(|x| x != "filter/team-a.web");
    });
    let e = check_exact(&r, &specs, &world).unwrap_err();
    assert!(e.starts_with("team-a/db-1/postgres: reached other"), "{e}");
    // The gateway routes team-b's namespace nowhere.
    let mut r = fresh();
    edit(&mut r, r#"== "team-b""#, |cfg| {
        for route in cfg["connectors"]["routing/namespaces"]["table"]
            .as_array_mut()
            .unwrap()
        {
            if route["condition"]
                .as_str()
                .unwrap()
                .ends_with(r#""team-b""#)
            {
                route["condition"] = json!(r#"attributes["k8s.namespace.name"] == "team-x""#);
            }
        }
    });
    let e = check_exact(&r, &specs, &world).unwrap_err();
    assert!(e.starts_with("team-b/web-1/web: reached other"), "{e}");
    // The agents skip team-c's files.
    let mut r = fresh();
    edit(&mut r, "receivers:\n  filelog:", |cfg| {
        let ex = &mut cfg["receivers"]["filelog"]["exclude"];
        ex.as_array_mut()
            .unwrap()
            .push(json!("/var/log/pods/team-c_*/*/*.log"));
    });
    let e = check_exact(&r, &specs, &world).unwrap_err();
    assert!(e.starts_with("team-c/api-1/api: reached other"), "{e}");
}

/// Two trusted pipelines select the same namespaces by label: each must get its copy.
#[test]
fn two_label_selected_pipelines_each_get_their_copy() {
    let mut yaml = format!("{CLUSTER}---{PIPELINES}");
    yaml.push_str(
        r#"
---
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {name: cells, namespace: otelhouse-system}
spec:
  stores: [us]
  sources:
    namespaceSelector: {matchExpressions: [{key: clickhouse.com/cell, operator: In, values: [c1]}]}
  tables: [{name: cell_logs, retentionDays: 7}]
  gateway: {expectedEventsPerSecond: 100}
"#,
    );
    let r = render(&yaml, 2);
    let specs = specs_of(&yaml);
    let world = fixed_world();
    let line = lines(&world)
        .into_iter()
        .find(|l| l.key() == "ch-cell-1/ch-0/clickhouse-server")
        .unwrap();
    assert_eq!(
        wanted(&specs, &line, &world).exporters,
        [
            "clickhouse/otelhouse-system.cells.cell_logs",
            "clickhouse/otelhouse-system.clickhouse.server_logs"
        ]
    );
    check_exact(&r, &specs, &world).unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------- random platforms

/// A pod of a random platform: its namespace's index, labels, containers.
type RandomPod = (usize, Vec<(String, String)>, Vec<String>);

/// A random platform: tenants whose selectors share a tiny vocabulary, at most one trusted
/// label-selecting pipeline (two are the fixed test above), maybe a trusted one naming
/// tenants' namespaces, random pods.
#[derive(Clone, Debug)]
struct Random {
    specs: Vec<Spec>,
    namespaces: Vec<(String, Option<String>)>,
    pods: Vec<RandomPod>,
    per_shard: usize,
}

const CONTAINERS: [&str; 3] = ["web", "db", "sidecar"];

fn subset(items: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(items, 0..=items.len())
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn selector() -> impl Strategy<Value = Selector> {
    let label = prop_oneof![Just(None), Just(Some("web")), Just(Some("db"))];
    let expr = proptest::option::of((
        prop_oneof![Just("app"), Just("tier")],
        prop_oneof![
            Just("In"),
            Just("NotIn"),
            Just("Exists"),
            Just("DoesNotExist")
        ],
        proptest::sample::subsequence(&["web", "db", "backend"][..], 1..=2),
    ));
    (label, expr).prop_map(|(label, expr)| Selector {
        labels: label
            .map(|v| BTreeMap::from([("app".to_string(), v.to_string())]))
            .unwrap_or_default(),
        exprs: expr
            .map(|(k, op, values)| {
                let values = if matches!(op, "Exists" | "DoesNotExist") {
                    vec![]
                } else {
                    values.into_iter().map(String::from).collect()
                };
                (k.to_string(), op.to_string(), values)
            })
            .into_iter()
            .collect(),
    })
}

/// Tables, routes and a default table that validate (several tables need somewhere to go).
fn tables() -> impl Strategy<Value = (Vec<String>, Vec<RouteSpec>, Option<String>)> {
    (1..=3usize).prop_flat_map(|n| {
        let names: Vec<String> = ["t_a", "t_b", "t_c"][..n]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Route namespaces: none, the pipeline's own ("<own>"), or another tenant's.
        let route = (
            0..n,
            prop_oneof![Just(vec![]), Just(vec!["<own>"]), Just(vec!["t0"])],
            subset(&CONTAINERS),
            proptest::option::of(prop_oneof![Just("web"), Just("db")]),
        );
        (
            Just(names),
            proptest::collection::vec(route, 0..=2),
            proptest::option::of(0..n),
        )
            .prop_map(|(names, routes, default)| {
                let routes: Vec<RouteSpec> = routes
                    .into_iter()
                    .map(|(t, namespaces, containers, app)| RouteSpec {
                        table: names[t].clone(),
                        namespaces: namespaces.into_iter().map(String::from).collect(),
                        containers,
                        pod_labels: app
                            .map(|a| BTreeMap::from([("app".to_string(), a.to_string())]))
                            .unwrap_or_default(),
                    })
                    .collect();
                let mut default = default.map(|d| names[d].clone());
                if names.len() > 1 && routes.is_empty() && default.is_none() {
                    default = Some(names[0].clone());
                }
                (names, routes, default)
            })
    })
}

fn tenant_pipeline() -> impl Strategy<Value = Spec> {
    (
        proptest::option::of(selector()),
        subset(&CONTAINERS),
        subset(&CONTAINERS),
        tables(),
        proptest::bool::weighted(0.15),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(
                pod_selector,
                containers,
                exclude,
                (tables, routes, default_table),
                dedicated,
                own,
            )| {
                Spec {
                    // A tenant may name its own namespace.
                    namespaces: if own { vec!["<own>".into()] } else { vec![] },
                    pod_selector,
                    containers,
                    exclude_containers: exclude,
                    tables,
                    routes,
                    default_table,
                    dedicated,
                    ..Spec::default()
                }
            },
        )
}

/// `trusted`: always a label-selecting trusted pipeline, maybe one naming tenants' namespaces;
/// else tenants only.
fn random(trusted: bool) -> impl Strategy<Value = Random> {
    (2..=6usize)
        .prop_flat_map(move |n| {
            let by_label = (
                prop_oneof![Just(None), Just(Some("a"))],
                proptest::collection::btree_set(0..=n, 0..=1),
                proptest::option::of(selector()),
                subset(&CONTAINERS),
                proptest::collection::vec(0..=n, 0..=1),
                tables(),
            );
            let listed = (
                proptest::collection::btree_set(0..=n, 1..=2),
                proptest::option::of(selector()),
                subset(&CONTAINERS),
                proptest::collection::vec(0..=n, 0..=1),
                proptest::bool::weighted(0.3),
            );
            let (by_label, listed) = if trusted {
                (
                    by_label.prop_map(Some).boxed(),
                    proptest::option::of(listed).boxed(),
                )
            } else {
                (Just(None).boxed(), Just(None).boxed())
            };
            (
                proptest::collection::vec(proptest::collection::vec(tenant_pipeline(), 1..=2), n),
                // Namespace labels: tenants plus a stranger namespace no tenant owns.
                proptest::collection::vec(
                    prop_oneof![Just(None), Just(Some("a")), Just(Some("b"))],
                    n + 1,
                ),
                by_label,
                listed,
                proptest::collection::vec(
                    (
                        0..=n,
                        proptest::option::of(prop_oneof![Just("web"), Just("db")]),
                        proptest::bool::ANY,
                        proptest::sample::subsequence(&CONTAINERS[..], 1..=3),
                    ),
                    1..=12,
                ),
                prop_oneof![Just(1usize), Just(2), Just(64)],
            )
        })
        .prop_map(|(tenants, labels, by_label, listed, pods, per_shard)| {
            let n = tenants.len();
            let ns = |i: usize| {
                if i < n {
                    format!("t{i}")
                } else {
                    "stranger".to_string()
                }
            };
            let mut specs = Vec::new();
            for (i, pipelines) in tenants.into_iter().enumerate() {
                for (j, mut s) in pipelines.into_iter().enumerate() {
                    s.namespace = ns(i);
                    s.name = format!("p{j}");
                    specs.push(s);
                }
            }
            if let Some((value, named, pod_selector, containers, exclude, tables)) = by_label {
                let (tables, routes, default_table) = tables;
                let exprs = vec![match value {
                    None => ("cell".to_string(), "Exists".to_string(), vec![]),
                    Some(v) => ("cell".to_string(), "In".to_string(), vec![v.to_string()]),
                }];
                specs.push(Spec {
                    namespace: "otelhouse-system".into(),
                    name: "by-label".into(),
                    namespaces: named.into_iter().map(ns).collect(),
                    namespace_selector: Some(Selector {
                        exprs,
                        ..Selector::default()
                    }),
                    pod_selector,
                    containers,
                    exclude_namespaces: exclude.into_iter().map(ns).collect(),
                    tables,
                    routes,
                    default_table,
                    ..Spec::default()
                });
            }
            if let Some((namespaces, pod_selector, containers, exclude, dedicated)) = listed {
                specs.push(Spec {
                    namespace: "otelhouse-system".into(),
                    name: "listed".into(),
                    namespaces: namespaces.into_iter().map(ns).collect(),
                    pod_selector,
                    containers,
                    exclude_namespaces: exclude.into_iter().map(ns).collect(),
                    dedicated,
                    tables: vec!["t_a".into()],
                    ..Spec::default()
                });
            }
            for s in &mut specs {
                let own = s.namespace.clone();
                let replace = |v: &mut Vec<String>| {
                    for n in v.iter_mut().filter(|n| n.as_str() == "<own>") {
                        *n = own.clone();
                    }
                };
                replace(&mut s.namespaces);
                s.routes.iter_mut().for_each(|r| replace(&mut r.namespaces));
                // A table belongs to one pipeline of a store: each pipeline's are its own.
                let suffix = format!("_{}_{}", s.namespace, s.name).replace('-', "_");
                let own = |t: &mut String| t.push_str(&suffix);
                s.tables.iter_mut().for_each(own);
                s.routes.iter_mut().for_each(|r| own(&mut r.table));
                s.default_table.iter_mut().for_each(own);
            }
            Random {
                specs,
                namespaces: labels
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| (ns(i), l.map(String::from)))
                    .collect(),
                pods: pods
                    .into_iter()
                    .map(|(i, app, backend, containers)| {
                        let mut l = Vec::new();
                        if let Some(a) = app {
                            l.push(("app".to_string(), a.to_string()));
                        }
                        if backend {
                            l.push(("tier".to_string(), "backend".to_string()));
                        }
                        (i, l, containers.into_iter().map(String::from).collect())
                    })
                    .collect(),
                per_shard,
            }
        })
}

impl Random {
    fn yaml(&self) -> String {
        let tenants: Vec<&String> = self
            .namespaces
            .iter()
            .map(|(n, _)| n)
            .filter(|n| n.as_str() != "stranger")
            .collect();
        let store = json!({
            "apiVersion": "otelhouse.dev/v1alpha1",
            "kind": "ClickHouseStore",
            "metadata": {"name": "us"},
            "spec": {"region": "us-east-1", "httpUrl": "http://ch:8123",
                "exporterEndpoint": "tcp://ch:9000", "credentials": {"secretName": "ch-us"},
                "allowedNamespaces": tenants},
        });
        let mut docs = vec![CLUSTER.to_string(), store.to_string()];
        docs.extend(self.specs.iter().map(|s| s.to_cr().to_string()));
        docs.join("\n---\n")
    }

    fn world(&self) -> World {
        let mut w = World::default();
        w.regions.insert("n1".into(), "us-east-1".into());
        w.regions.insert("n2".into(), "us-east-1".into());
        for (n, cell) in &self.namespaces {
            match cell {
                Some(c) => w.namespace(n, &[("cell", c)]),
                None => w.namespace(n, &[]),
            }
        }
        for (k, (i, labels, containers)) in self.pods.iter().enumerate() {
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let containers: Vec<&str> = containers.iter().map(String::as_str).collect();
            w.pod(
                &self.namespaces[*i].0,
                &format!("pod-{k}"),
                &labels,
                &containers,
            );
        }
        w
    }
}

fn random_platform_stays_exact(p: &Random) -> Result<(), TestCaseError> {
    let yaml = p.yaml();
    let r = render(&yaml, p.per_shard);
    check_exact(&r, &p.specs, &p.world())
        .map(|_| ())
        .map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))
}

// 64 cases in all, in two properties the harness runs side by side.
proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_tenant_platforms_stay_exact(p in random(false)) {
        random_platform_stays_exact(&p)?;
    }

    #[test]
    fn random_platforms_with_trusted_pipelines_stay_exact(p in random(true)) {
        random_platform_stays_exact(&p)?;
    }
}

// ---------------------------------------------------------------- the evaluator itself

#[test]
fn ottl_precedence_nil_and_escapes() {
    let r = Record {
        resource: [("a", "x"), ("q", "say \"hi\" \\o/")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        attributes: BTreeMap::new(),
    };
    let t = |s: &str, ctx| Condition::parse(s, ctx).eval(&r);
    // `not` binds tighter than `and`, `and` tighter than `or`.
    assert!(t(r#"not attributes["a"] == "y" and true"#, Ctx::Resource));
    assert!(t("true or false and false", Ctx::Resource));
    assert!(!t("(true or false) and false", Ctx::Resource));
    assert!(!t("not true or false", Ctx::Resource));
    assert!(t(r#"attributes["missing"] == nil"#, Ctx::Resource));
    assert!(!t(r#"attributes["missing"] == "x""#, Ctx::Resource));
    assert!(t(r#"attributes["missing"] != "x""#, Ctx::Resource));
    assert!(!t(r#""a" == nil"#, Ctx::Resource));
    assert!(t(r#"attributes["q"] == "say \"hi\" \\o/""#, Ctx::Resource));
    assert!(!t(r#"IsMatch(attributes["missing"], ".*")"#, Ctx::Resource));
    assert!(t(
        r#"IsMatch(resource.attributes["a"], "^(?:x|y)$")"#,
        Ctx::Log
    ));
    // In the log context `attributes` are the record's, not the resource's.
    assert!(t(r#"attributes["a"] == nil"#, Ctx::Log));
    assert_eq!(expand("^(?:a|b)$$"), "^(?:a|b)$");
    for unsupported in [
        r#"attributes["a"] > "b""#,
        r#"attributes["a"]"#,
        r#"Concat(attributes["a"], "x") == "y""#,
        r#"body == "x""#,
        r#"attributes["a"] == "\n""#,
        "1 == 1",
    ] {
        let caught = std::panic::catch_unwind(|| Condition::parse(unsupported, Ctx::Resource));
        assert!(caught.is_err(), "{unsupported} was accepted");
    }
}

#[test]
fn globs_follow_doublestar() {
    let g = Glob::new("/var/log/pods/team-a_*/*/*.log");
    assert!(g.matches("/var/log/pods/team-a_web-1_0a1b/web/0.log"));
    assert!(!g.matches("/var/log/pods/team-ab_web-1_0a1b/web/0.log"));
    assert!(!g.matches("/var/log/pods/team-a_web-1_0a1b/web/x/0.log"));
    let g = Glob::new("/var/log/**/{web,db}/[0-9].log");
    assert!(g.matches("/var/log/web/0.log"));
    assert!(g.matches("/var/log/pods/x/db/7.log"));
    assert!(!g.matches("/var/log/pods/x/api/7.log"));
    assert!(!Glob::new("/var/log/[!a-z]*").matches("/var/log/abc"));
}
