//! Validation (pure): every input checked, every problem named by resource and field, before
//! anything is built. The result is the validated model the builders take.

use crate::agents::coverage::{self, Coverage, Selection};
use crate::crd::{AgentClass, ClickHouseStore, ColumnType, IndexType, LogPipeline, TableSpec};
use crate::ident::{
    ColumnExpr, INDEX_FUNCTIONS, KEY_FUNCTIONS, is_attribute_key, is_dns_label, is_identifier,
    is_label_key, is_label_value,
};
use crate::inventory::{Inputs, NodeFacts, Settings};
use crate::quantity::parse_quantity;
use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use kube::{CustomResourceExt, Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

/// One problem with an input: which resource, which field, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub resource: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.resource, self.message)
        } else {
            write!(f, "{}: {}: {}", self.resource, self.field, self.message)
        }
    }
}

/// `Kind name` or `Kind namespace/name`.
pub fn resource_ref<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!("{} {ns}/{}", K::kind(&()), obj.name_any()),
        None => format!("{} {}", K::kind(&()), obj.name_any()),
    }
}

/// Columns every target table has (the exporter's columns and the derived time columns).
pub const BASE_COLUMNS: &[&str] = &[
    "Timestamp",
    "EventDate",
    "EventTime",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
    "EventName",
];

/// The map columns (for `mapKeys`/`mapValues` indexes).
pub const MAP_COLUMNS: &[&str] = &["ResourceAttributes", "LogAttributes", "ScopeAttributes"];

/// A validated class.
#[derive(Clone, Debug)]
pub struct ValidClass<'a> {
    pub class: &'a AgentClass,
    pub selection: Selection,
    pub memory_limit_bytes: u64,
}

/// A zone of the cluster and what its nodes are expected to log.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub region: Option<String>,
    /// Sum of the expected lines/s of the zone's nodes (by their class).
    pub lines_per_second: f64,
}

/// A validated pipeline.
#[derive(Clone, Debug)]
pub struct ValidPipeline<'a> {
    pub pipeline: &'a LogPipeline,
    pub namespace: String,
    pub name: String,
    /// Component- and label-safe id: `<namespace>.<name>`.
    pub id: String,
    pub stores: Vec<&'a ClickHouseStore>,
    pub gateway_memory_limit_bytes: u64,
    /// Region -> (the store there, the zones of that region).
    pub regions: BTreeMap<String, (&'a ClickHouseStore, Vec<Zone>)>,
}

/// Everything validated, ready to build from.
#[derive(Clone, Debug)]
pub struct Validated<'a> {
    pub classes: Vec<ValidClass<'a>>,
    pub coverage: Coverage,
    pub zones: Vec<Zone>,
    pub pipelines: Vec<ValidPipeline<'a>>,
    /// Not errors, but worth telling (uncovered nodes, zones without labels, capped plans).
    pub warnings: Vec<Problem>,
}

/// The CEL rules of each CRD, compiled once.
fn compiled<K: CustomResourceExt>(
    cell: &'static OnceLock<CompiledSchema>,
) -> &'static CompiledSchema {
    cell.get_or_init(|| {
        let crd = K::crd();
        let schema = crd
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_default();
        compile_schema(&schema)
    })
}

/// The CEL rule violations of each object (in parallel: evaluation is the costly part of
/// validating many pipelines).
fn cel_problems<K>(objs: &[K], cell: &'static OnceLock<CompiledSchema>) -> Vec<Vec<Problem>>
where
    K: CustomResourceExt + Resource<DynamicType = ()> + serde::Serialize + Sync,
{
    let schema = compiled::<K>(cell);
    crate::par::map(objs, |obj| {
        let Ok(value) = serde_json::to_value(obj) else {
            return Vec::new();
        };
        match Validator::new().validate_compiled(schema, &value, None) {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .into_vec()
                .into_iter()
                .map(|e| Problem {
                    resource: resource_ref(obj),
                    field: e.field_path.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    })
}

static CLASS_SCHEMA: OnceLock<CompiledSchema> = OnceLock::new();
static STORE_SCHEMA: OnceLock<CompiledSchema> = OnceLock::new();
static PIPELINE_SCHEMA: OnceLock<CompiledSchema> = OnceLock::new();

/// Validate all inputs. Errors are sorted and deduplicated; nothing is built unless there are
/// none.
pub fn validate<'a>(
    inputs: &'a Inputs,
    settings: &Settings,
) -> Result<Validated<'a>, Vec<Problem>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let classes = validate_classes(&inputs.classes, &mut errors);
    let selections: BTreeMap<String, Selection> = classes
        .iter()
        .map(|c| (c.class.name_any(), c.selection.clone()))
        .collect();
    let tolerations: BTreeMap<String, Vec<Toleration>> = classes
        .iter()
        .map(|c| {
            (
                c.class.name_any(),
                crate::agents::tolerations(&c.class.spec),
            )
        })
        .collect();
    let coverage = coverage::compute(&selections, &tolerations, &inputs.nodes);
    if errors.is_empty() {
        for (node, classes) in &coverage.overlaps {
            errors.push(Problem {
                resource: format!("AgentClass {}", classes.join(", ")),
                field: "spec".to_string(),
                message: format!(
                    "classes overlap: node {node} is selected by {}; every node must be covered by exactly one class",
                    classes.join(" and ")
                ),
            });
        }
        for (class, nodes) in &coverage.untolerated {
            warnings.push(Problem {
                resource: format!("AgentClass {class}"),
                field: "spec.tolerations".to_string(),
                message: format!(
                    "{} node(s) selected but tainted so that its agents cannot run there (no logs collected): {}; tolerate their taints, or leave tolerateAllTaints at its default (true)",
                    nodes.len(),
                    preview(nodes)
                ),
            });
        }
        if !coverage.uncovered.is_empty() {
            warnings.push(Problem {
                resource: "Nodes".to_string(),
                field: String::new(),
                message: format!(
                    "{} node(s) covered by no AgentClass (add a class with default: true): {}",
                    coverage.uncovered.len(),
                    preview(&coverage.uncovered)
                ),
            });
        }
    }
    let zones = zones(&inputs.nodes, &classes, &coverage, &mut warnings);

    errors.extend(
        cel_problems(&inputs.stores, &STORE_SCHEMA)
            .into_iter()
            .flatten(),
    );
    let mut pipelines = Vec::new();
    let cel = cel_problems(&inputs.pipelines, &PIPELINE_SCHEMA);
    // Many pipelines share a parse regex; compile each once.
    let mut regexes = RegexCache::new();
    for (p, cel) in inputs.pipelines.iter().zip(cel) {
        let has_cel_problems = !cel.is_empty();
        errors.extend(cel);
        if let Some(v) = validate_pipeline(p, inputs, settings, &zones, &mut regexes, &mut errors)
            && !has_cel_problems
        {
            pipelines.push(v);
        }
    }
    let mut ids = BTreeSet::new();
    for p in &pipelines {
        if !ids.insert(p.id.clone()) {
            errors.push(Problem {
                resource: resource_ref(p.pipeline),
                field: "metadata.name".to_string(),
                message: "defined twice".to_string(),
            });
        }
    }

    if errors.is_empty() {
        Ok(Validated {
            classes,
            coverage,
            zones,
            pipelines,
            warnings,
        })
    } else {
        errors.sort();
        errors.dedup();
        Err(errors)
    }
}

fn preview(items: &[String]) -> String {
    let mut s = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 5 {
        s.push_str(&format!(" and {} more", items.len() - 5));
    }
    s
}

fn validate_classes<'a>(
    classes: &'a [AgentClass],
    errors: &mut Vec<Problem>,
) -> Vec<ValidClass<'a>> {
    let mut names = BTreeSet::new();
    let before = errors.len();
    errors.extend(cel_problems(classes, &CLASS_SCHEMA).into_iter().flatten());
    for class in classes {
        if !names.insert(class.name_any()) {
            errors.push(Problem {
                resource: resource_ref(class),
                field: "metadata.name".to_string(),
                message: "defined twice".to_string(),
            });
        }
        for (i, t) in class.spec.instance_types.iter().enumerate() {
            if !is_label_value(t) || t.is_empty() {
                errors.push(Problem {
                    resource: resource_ref(class),
                    field: format!("spec.instanceTypes[{i}]"),
                    message: format!("{t:?} is not a valid label value"),
                });
            }
        }
    }
    let defaults: Vec<String> = classes
        .iter()
        .filter(|c| c.spec.default)
        .map(|c| c.name_any())
        .collect();
    if defaults.len() > 1 {
        errors.push(Problem {
            resource: format!("AgentClass {}", defaults.join(", ")),
            field: "spec.default".to_string(),
            message: format!(
                "{} classes are the catch-all (default: true); at most one may be",
                defaults.len()
            ),
        });
    }
    // Two classes naming the same instance type overlap on every such node, nodes given or not.
    let mut by_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in classes {
        for t in &c.spec.instance_types {
            by_type.entry(t.as_str()).or_default().push(c.name_any());
        }
    }
    for (t, owners) in by_type {
        let mut owners = owners;
        owners.dedup();
        if owners.len() > 1 {
            errors.push(Problem {
                resource: format!("AgentClass {}", owners.join(", ")),
                field: "spec.instanceTypes".to_string(),
                message: format!(
                    "classes overlap: instance type {t} is in {}",
                    owners.join(" and ")
                ),
            });
        }
    }
    let selections = match coverage::selections(classes) {
        Ok(s) => s,
        Err(errs) => {
            for (class, e) in errs {
                errors.push(Problem {
                    resource: format!("AgentClass {class}"),
                    field: e.field,
                    message: e.message,
                });
            }
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for class in classes {
        let limit = class
            .spec
            .resources
            .limits
            .as_ref()
            .and_then(|l| l.get("memory"));
        let memory = match limit.map(|q| parse_quantity(&q.0)) {
            Some(Ok(b)) if b >= 64 * 1024 * 1024 => b,
            Some(Ok(_)) => {
                errors.push(Problem {
                    resource: resource_ref(class),
                    field: "spec.resources.limits.memory".to_string(),
                    message: "must be at least 64Mi for a collector".to_string(),
                });
                continue;
            }
            Some(Err(e)) => {
                errors.push(Problem {
                    resource: resource_ref(class),
                    field: "spec.resources.limits.memory".to_string(),
                    message: e,
                });
                continue;
            }
            // Reported by the CEL rule.
            None => continue,
        };
        check_quantities(class, &class.spec.resources, "spec.resources", errors);
        if let Some(sel) = selections.get(&class.name_any()) {
            out.push(ValidClass {
                class,
                selection: sel.clone(),
                memory_limit_bytes: memory,
            });
        }
    }
    if errors.len() > before {
        return Vec::new();
    }
    out
}

fn check_quantities<K: Resource<DynamicType = ()>>(
    obj: &K,
    r: &k8s_openapi::api::core::v1::ResourceRequirements,
    field: &str,
    errors: &mut Vec<Problem>,
) {
    for (which, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        for (k, q) in map.iter().flatten() {
            if k != "cpu" && k != "memory" && k != "ephemeral-storage" {
                errors.push(Problem {
                    resource: resource_ref(obj),
                    field: format!("{field}.{which}.{k}"),
                    message: "only cpu, memory and ephemeral-storage are supported".to_string(),
                });
            } else if let Err(e) = parse_quantity(&q.0) {
                errors.push(Problem {
                    resource: resource_ref(obj),
                    field: format!("{field}.{which}.{k}"),
                    message: e,
                });
            }
        }
    }
}

/// Group nodes into zones, weighted by the lines/s of their class.
fn zones(
    nodes: &[NodeFacts],
    classes: &[ValidClass<'_>],
    coverage: &Coverage,
    warnings: &mut Vec<Problem>,
) -> Vec<Zone> {
    let rate: BTreeMap<String, f64> = classes
        .iter()
        .map(|c| {
            (
                c.class.name_any(),
                f64::from(c.class.spec.expected_lines_per_second),
            )
        })
        .collect();
    let mut node_rate: BTreeMap<&str, f64> = BTreeMap::new();
    for (class, names) in &coverage.by_class {
        for n in names {
            node_rate.insert(n.as_str(), rate.get(class).copied().unwrap_or(0.0));
        }
    }
    let mut zones: BTreeMap<String, Zone> = BTreeMap::new();
    let mut unlabelled = Vec::new();
    for node in nodes {
        let Some(zone) = node.zone() else {
            unlabelled.push(node.name.clone());
            continue;
        };
        let z = zones.entry(zone.to_string()).or_insert_with(|| Zone {
            name: zone.to_string(),
            region: node.region().map(str::to_string),
            lines_per_second: 0.0,
        });
        z.lines_per_second += node_rate.get(node.name.as_str()).copied().unwrap_or(0.0);
    }
    if !unlabelled.is_empty() {
        warnings.push(Problem {
            resource: "Nodes".to_string(),
            field: String::new(),
            message: format!(
                "{} node(s) without topology.kubernetes.io/zone are left out of the gateways' zone plan: {}",
                unlabelled.len(),
                preview(&unlabelled)
            ),
        });
    }
    zones.into_values().collect()
}

/// Pattern -> its capture group names, or why it does not compile.
type RegexCache = BTreeMap<String, Result<Vec<String>, String>>;

fn validate_pipeline<'a>(
    p: &'a LogPipeline,
    inputs: &'a Inputs,
    settings: &Settings,
    zones: &[Zone],
    regexes: &mut RegexCache,
    errors: &mut Vec<Problem>,
) -> Option<ValidPipeline<'a>> {
    let before = errors.len();
    let res = resource_ref(p);
    let mut err = |field: String, message: String| {
        errors.push(Problem {
            resource: res.clone(),
            field,
            message,
        })
    };
    let namespace = p.namespace().unwrap_or_default();
    let name = p.name_any();
    if namespace.is_empty() {
        err(
            "metadata.namespace".into(),
            "a LogPipeline is namespaced: set metadata.namespace".into(),
        );
    }
    let trusted = settings.is_trusted(&namespace);
    let spec = &p.spec;

    // Tenancy: what a pipeline may collect.
    let src = &spec.sources;
    for (i, n) in src.namespaces.iter().enumerate() {
        if !is_dns_label(n) {
            err(
                format!("spec.sources.namespaces[{i}]"),
                format!("{n:?} is not a namespace name"),
            );
        } else if !trusted && *n != namespace {
            err(
                format!("spec.sources.namespaces[{i}]"),
                format!(
                    "a pipeline in namespace {namespace} may only collect its own namespace, not {n}; cluster-wide collection is for the operator's trusted namespaces ({})",
                    settings.trusted_namespaces.join(", ")
                ),
            );
        }
    }
    if let Some(sel) = &src.namespace_selector {
        if !trusted {
            err(
                "spec.sources.namespaceSelector".into(),
                format!(
                    "a pipeline in namespace {namespace} may only collect its own namespace; namespaceSelector is for the operator's trusted namespaces ({})",
                    settings.trusted_namespaces.join(", ")
                ),
            );
        }
        check_selector(sel, "spec.sources.namespaceSelector", &mut err);
    }
    if let Some(sel) = &src.pod_selector {
        check_selector(sel, "spec.sources.podSelector", &mut err);
    }
    for (i, c) in src.containers.iter().enumerate() {
        if !is_dns_label(c) {
            err(
                format!("spec.sources.containers[{i}]"),
                format!("{c:?} is not a container name"),
            );
        }
    }
    if let Some(ex) = &src.exclude {
        for (i, n) in ex.namespaces.iter().enumerate() {
            if !is_dns_label(n) {
                err(
                    format!("spec.sources.exclude.namespaces[{i}]"),
                    format!("{n:?} is not a namespace name"),
                );
            }
        }
        for (i, c) in ex.containers.iter().enumerate() {
            if !is_dns_label(c) {
                err(
                    format!("spec.sources.exclude.containers[{i}]"),
                    format!("{c:?} is not a container name"),
                );
            }
        }
    }

    // Parsing.
    if let Some(re) = &spec.parse.regex {
        let compiled = regexes.entry(re.clone()).or_insert_with(|| {
            regex::Regex::new(re)
                .map(|r| r.capture_names().flatten().map(String::from).collect())
                .map_err(|e| e.to_string())
        });
        match compiled {
            Err(e) => err("spec.parse.regex".into(), format!("does not compile: {e}")),
            Ok(names) => {
                if names.is_empty() {
                    err(
                        "spec.parse.regex".into(),
                        "has no named group (?P<name>...): nothing would be extracted".into(),
                    );
                }
                for n in names.iter() {
                    if !is_attribute_key(n) {
                        err(
                            "spec.parse.regex".into(),
                            format!("group name {n:?} is not a valid attribute key"),
                        );
                    }
                }
            }
        }
    }
    if let Some(ts) = &spec.parse.timestamp {
        if !is_attribute_key(&ts.attribute) {
            err(
                "spec.parse.timestamp.attribute".into(),
                format!("{:?} is not a valid attribute key", ts.attribute),
            );
        }
        if ts.layout.is_empty()
            || ts.layout.len() > 64
            || !ts
                .layout
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " %-:.,/TZ+_".contains(c))
        {
            err(
                "spec.parse.timestamp.layout".into(),
                format!(
                    "{:?} is not a strptime layout (letters, digits, % and - : . , / + _ space)",
                    ts.layout
                ),
            );
        }
    }

    // Tables, routes.
    let table_names: BTreeSet<&str> = spec.tables.iter().map(|t| t.name.as_str()).collect();
    for (i, t) in spec.tables.iter().enumerate() {
        check_table(t, &format!("spec.tables[{i}]"), &mut err);
    }
    for (i, r) in spec.routes.iter().enumerate() {
        let f = format!("spec.routes[{i}]");
        if !table_names.contains(r.table.as_str()) {
            err(
                format!("{f}.table"),
                format!("names no table of spec.tables: {:?}", r.table),
            );
        }
        for (j, n) in r.namespaces.iter().enumerate() {
            if !is_dns_label(n) {
                err(
                    format!("{f}.namespaces[{j}]"),
                    format!("{n:?} is not a namespace name"),
                );
            }
        }
        for (j, c) in r.containers.iter().enumerate() {
            if !is_dns_label(c) {
                err(
                    format!("{f}.containers[{j}]"),
                    format!("{c:?} is not a container name"),
                );
            }
        }
        for (k, v) in &r.pod_labels {
            if !is_label_key(k) || !is_label_value(v) {
                err(
                    format!("{f}.podLabels"),
                    format!("{k:?}: {v:?} is not a valid label"),
                );
            }
        }
    }
    if let Some(d) = &spec.default_table
        && !table_names.contains(d.as_str())
    {
        err(
            "spec.defaultTable".into(),
            format!("names no table of spec.tables: {d:?}"),
        );
    }
    if spec.tables.len() > 1 && spec.routes.is_empty() && spec.default_table.is_none() {
        err(
            "spec.routes".into(),
            "with several tables, routes or a defaultTable must say where logs go".into(),
        );
    }

    // Gateway.
    let g = &spec.gateway;
    let memory = match &g.resources {
        None => crate::gateway::DEFAULT_MEMORY_BYTES,
        Some(r) => {
            check_quantities(p, r, "spec.gateway.resources", errors);
            match r
                .limits
                .as_ref()
                .and_then(|l| l.get("memory"))
                .map(|q| parse_quantity(&q.0))
            {
                Some(Ok(b)) => b,
                _ => {
                    errors.push(Problem {
                        resource: resource_ref(p),
                        field: "spec.gateway.resources.limits.memory".into(),
                        message: "is required when resources are given: the memory_limiter and the buffer plan are derived from it".into(),
                    });
                    0
                }
            }
        }
    };
    let mut err = |field: String, message: String| {
        errors.push(Problem {
            resource: resource_ref(p),
            field,
            message,
        })
    };
    let timeout = std::time::Duration::from(g.batch.timeout);
    if g.batch.timeout.is_negative()
        || timeout.is_zero()
        || timeout > std::time::Duration::from_secs(60)
    {
        err(
            "spec.gateway.batch.timeout".into(),
            "must be between 1ms and 60s: data must be queryable within 2 minutes".into(),
        );
    }
    if g.buffer.duration.is_negative()
        || std::time::Duration::from(g.buffer.duration) > std::time::Duration::from_secs(24 * 3600)
    {
        err(
            "spec.gateway.buffer.duration".into(),
            "must be between 0 and 24h".into(),
        );
    }

    // Stores: exist, granted, one per region.
    let mut stores = Vec::new();
    let mut regions_seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, s) in spec.stores.iter().enumerate() {
        let Some(store) = inputs.stores.iter().find(|st| st.name_any() == *s) else {
            err(
                format!("spec.stores[{i}]"),
                format!("ClickHouseStore {s:?} does not exist"),
            );
            continue;
        };
        let granted = trusted
            || store
                .spec
                .allowed_namespaces
                .iter()
                .any(|n| n == "*" || *n == namespace);
        if !granted {
            err(
                format!("spec.stores[{i}]"),
                format!(
                    "ClickHouseStore {s} is not granted to namespace {namespace} (its spec.allowedNamespaces)"
                ),
            );
            continue;
        }
        if let Some(other) = regions_seen.insert(store.spec.region.as_str(), s.as_str()) {
            err(
                format!("spec.stores[{i}]"),
                format!(
                    "stores {other} and {s} are both in region {}: one store per region",
                    store.spec.region
                ),
            );
            continue;
        }
        stores.push(store);
    }

    // Which store each zone's gateways insert into: the store of the zone's region.
    let mut regions: BTreeMap<String, (&ClickHouseStore, Vec<Zone>)> = BTreeMap::new();
    let mut homeless = Vec::new();
    for zone in zones {
        let store = match &zone.region {
            Some(r) => stores.iter().find(|s| s.spec.region == *r).copied(),
            // Nodes without a region label: only unambiguous with a single store.
            None if stores.len() == 1 => stores.first().copied(),
            None => None,
        };
        match store {
            Some(s) => regions
                .entry(s.spec.region.clone())
                .or_insert((s, Vec::new()))
                .1
                .push(zone.clone()),
            None => homeless.push(zone),
        }
    }
    if !homeless.is_empty() && !stores.is_empty() {
        let z: Vec<String> = homeless
            .iter()
            .map(|z| {
                format!(
                    "{} (region {})",
                    z.name,
                    z.region.as_deref().unwrap_or("unlabelled")
                )
            })
            .collect();
        err(
            "spec.stores".into(),
            format!(
                "no store for the region of zone(s) {}: gateways insert into their own region's store (no cross-region ingest)",
                z.join(", ")
            ),
        );
    }

    if errors.len() > before {
        return None;
    }
    Some(ValidPipeline {
        pipeline: p,
        id: format!("{namespace}.{name}"),
        namespace,
        name,
        stores,
        gateway_memory_limit_bytes: memory,
        regions,
    })
}

/// The checks of a pipeline's tables alone (its CEL rules and every table's names, keys and
/// expressions), for the schema CLI, which works on pipelines without their cluster.
pub fn table_problems(p: &LogPipeline) -> Vec<Problem> {
    let mut out: Vec<Problem> = cel_problems(std::slice::from_ref(p), &PIPELINE_SCHEMA)
        .into_iter()
        .flatten()
        .collect();
    for (i, t) in p.spec.tables.iter().enumerate() {
        check_table(t, &format!("spec.tables[{i}]"), &mut |field, message| {
            out.push(Problem {
                resource: resource_ref(p),
                field,
                message,
            })
        });
    }
    out.sort();
    out.dedup();
    out
}

fn check_selector(sel: &LabelSelector, field: &str, err: &mut impl FnMut(String, String)) {
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_label_key(k) || !is_label_value(v) {
            err(
                format!("{field}.matchLabels"),
                format!("{k:?}: {v:?} is not a valid label"),
            );
        }
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let f = format!("{field}.matchExpressions[{i}]");
        if !is_label_key(&e.key) {
            err(
                format!("{f}.key"),
                format!("{:?} is not a valid label key", e.key),
            );
        }
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => err(
                format!("{f}.values"),
                format!("{} needs at least one value", e.operator),
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => err(
                format!("{f}.values"),
                format!("{} takes no values", e.operator),
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => err(
                format!("{f}.operator"),
                format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
            ),
        }
        for v in values {
            if !is_label_value(v) {
                err(
                    format!("{f}.values"),
                    format!("{v:?} is not a valid label value"),
                );
            }
        }
    }
}

fn check_table(t: &TableSpec, field: &str, err: &mut impl FnMut(String, String)) {
    if !is_identifier(&t.name)
        || t.name.len() > 48
        || t.name.chars().any(|c| c.is_ascii_uppercase())
    {
        err(
            format!("{field}.name"),
            format!(
                "{:?} is not a safe table name (lowercase letters, digits, underscore; at most 48)",
                t.name
            ),
        );
    }
    if !(1..=3650).contains(&t.retention_days) {
        err(
            format!("{field}.retentionDays"),
            format!("{} is not between 1 and 3650", t.retention_days),
        );
    }
    let mut known: BTreeSet<String> = BASE_COLUMNS.iter().map(|s| s.to_string()).collect();
    for (i, c) in crate::schema::columns_of(t).iter().enumerate() {
        let f = format!("{field}.columns[{i}]");
        if !is_identifier(&c.name) {
            err(
                format!("{f}.name"),
                format!("{:?} is not a safe column name", c.name),
            );
        } else if !known.insert(c.name.clone()) {
            err(
                format!("{f}.name"),
                format!(
                    "column {} is defined twice or shadows a built-in column",
                    c.name
                ),
            );
        }
        if !is_attribute_key(&c.key) {
            err(
                format!("{f}.key"),
                format!(
                    "{:?} is not a valid attribute key (letters, digits, _ . - / : @)",
                    c.key
                ),
            );
        }
        if c.low_cardinality && c.type_ != ColumnType::String {
            err(
                format!("{f}.lowCardinality"),
                "applies to String columns only".into(),
            );
        }
    }
    let expr_ok = |s: &str, allowed: &[&'static str]| -> Result<ColumnExpr, String> {
        let e = ColumnExpr::parse(s, allowed)?;
        if !known.contains(&e.column) {
            return Err(format!("`{}` is not a column of this table", e.column));
        }
        Ok(e)
    };
    for (i, o) in crate::schema::order_by_of(t).iter().enumerate() {
        if let Err(e) = expr_ok(o, KEY_FUNCTIONS) {
            err(format!("{field}.orderBy[{i}]"), e);
        }
    }
    if let Err(e) = expr_ok(&crate::schema::partition_by_of(t), KEY_FUNCTIONS) {
        err(format!("{field}.partitionBy"), e);
    }
    let mut index_names = BTreeSet::new();
    for (i, ix) in crate::schema::indexes_of(t).iter().enumerate() {
        let f = format!("{field}.indexes[{i}]");
        match expr_ok(&ix.expression, INDEX_FUNCTIONS) {
            Err(e) => err(format!("{f}.expression"), e),
            Ok(e) => {
                let is_map = MAP_COLUMNS.contains(&e.column.as_str());
                match e.function {
                    Some("mapKeys" | "mapValues") if !is_map => err(
                        format!("{f}.expression"),
                        format!(
                            "{} applies to the map columns only",
                            e.function.unwrap_or_default()
                        ),
                    ),
                    None if is_map => err(
                        format!("{f}.expression"),
                        "index a map's mapKeys(...) or mapValues(...)".into(),
                    ),
                    _ => {}
                }
                let name = crate::schema::index_name(ix, &e);
                if !is_identifier(&name) || !index_names.insert(name.clone()) {
                    err(
                        format!("{f}.name"),
                        format!("index name {name:?} is not an identifier or is used twice"),
                    );
                }
            }
        }
        if let Some(fp) = ix.false_positive
            && !(fp > 0.0 && fp < 1.0)
        {
            err(
                format!("{f}.falsePositive"),
                format!("{fp} is not in (0, 1)"),
            );
        }
        if ix.size_bytes.is_some_and(|s| !(256..=1 << 24).contains(&s)) {
            err(
                format!("{f}.sizeBytes"),
                "must be between 256 and 16777216".into(),
            );
        }
        if ix.hashes.is_some_and(|h| !(1..=16).contains(&h)) {
            err(format!("{f}.hashes"), "must be between 1 and 16".into());
        }
        if ix.ngram.is_some_and(|n| !(1..=16).contains(&n))
            || (ix.ngram.is_some() && ix.type_ != IndexType::ngrambf_v1)
        {
            err(
                format!("{f}.ngram"),
                "applies to ngrambf_v1 only, between 1 and 16".into(),
            );
        }
        if ix.granularity.is_some_and(|g| !(1..=1000).contains(&g)) {
            err(
                format!("{f}.granularity"),
                "must be between 1 and 1000".into(),
            );
        }
    }
}
