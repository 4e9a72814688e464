//! LogPipelines, resolved: tenancy checked, parsing and tables resolved, the gateway's sizing
//! with its defaults, and the region (store and zones) each of its gateways serves.

use super::class::{Class, check_quantities};
use super::coverage::Coverage;
use super::{Problem, Problems, ResourceId, Store, Subject, Table, cel, preview, table};
use crate::crd::{DeletionPolicy, LogPipeline, Parse, Route, Sources};
use crate::ident::{is_attribute_key, is_dns_label, is_label_key, is_label_value};
use crate::inventory::{NodeFacts, Settings};
use crate::quantity::parse_quantity;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// A zone of the cluster and what its nodes are expected to log.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub region: Option<String>,
    /// Sum of the expected lines/s of the zone's nodes (by their class).
    pub lines_per_second: f64,
}

/// The store a region's gateways insert into, and the zones they run in.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub store: Arc<Store>,
    pub zones: Vec<Zone>,
}

/// A pipeline's gateways: what it adds to its pool, and, for dedicated gateways, their shape
/// (defaults: the operator's pool settings).
#[derive(Clone, Debug, PartialEq)]
pub struct Gateway {
    pub events_per_second: u64,
    pub dedicated: bool,
    pub capacity_per_replica: u64,
    /// The resources the spec gives (dedicated only); None: sized from the plan.
    pub explicit_resources: Option<ResourceRequirements>,
    /// Their memory limit, parsed (0 without explicit resources).
    pub memory_limit_bytes: u64,
    pub buffer: Duration,
    pub bytes_per_event: Option<u64>,
    pub min_replicas_per_zone: u32,
    pub max_replicas: Option<u32>,
    pub batch_rows: u32,
    pub batch_timeout: Duration,
    pub image: Option<String>,
}

/// A resolved LogPipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub id: ResourceId,
    pub namespace: String,
    pub name: String,
    /// Component- and label-safe id: `<namespace>.<name>`.
    pub component_id: String,
    pub generation: Option<i64>,
    pub sources: Sources,
    pub parse: Parse,
    pub tables: Vec<Table>,
    pub routes: Vec<Route>,
    pub default_table: Option<String>,
    pub gateway: Gateway,
    pub deletion_policy: DeletionPolicy,
    /// The stores it targets, in the order it names them.
    pub stores: Vec<Arc<Store>>,
    /// Region -> its store and the zones of this cluster in it.
    pub regions: BTreeMap<String, Region>,
}

/// Group nodes into zones, weighted by the lines/s of their class.
pub(crate) fn zones(
    nodes: &[&NodeFacts],
    classes: &[Class],
    coverage: &Coverage,
    warnings: &mut Vec<Problem>,
) -> Vec<Zone> {
    let rate: BTreeMap<&str, f64> = classes
        .iter()
        .map(|c| (c.name.as_str(), f64::from(c.expected_lines_per_second)))
        .collect();
    let mut node_rate: BTreeMap<&str, f64> = BTreeMap::new();
    for (class, names) in &coverage.by_class {
        for n in names {
            node_rate.insert(&**n, rate.get(class.as_str()).copied().unwrap_or(0.0));
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
        z.lines_per_second += node_rate.get(&*node.name).copied().unwrap_or(0.0);
    }
    if !unlabelled.is_empty() {
        warnings.push(Problem::warning(
            Subject::Nodes,
            "",
            format!(
                "{} node(s) without topology.kubernetes.io/zone are left out of the gateways' zone plan: {}",
                unlabelled.len(),
                preview(&unlabelled)
            ),
        ));
    }
    zones.into_values().collect()
}

/// Pattern -> its capture group names, or why it does not compile (many pipelines share one).
type RegexCache = BTreeMap<String, Result<Vec<String>, String>>;

fn check_selector(sel: &LabelSelector, field: &str, p: &mut Problems<'_>) {
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_label_key(k) || !is_label_value(v) {
            p.add(
                format!("{field}.matchLabels"),
                format!("{k:?}: {v:?} is not a valid label"),
            );
        }
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let f = format!("{field}.matchExpressions[{i}]");
        if !is_label_key(&e.key) {
            p.add(
                format!("{f}.key"),
                format!("{:?} is not a valid label key", e.key),
            );
        }
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => p.add(
                format!("{f}.values"),
                format!("{} needs at least one value", e.operator),
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => p.add(
                format!("{f}.values"),
                format!("{} takes no values", e.operator),
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => p.add(
                format!("{f}.operator"),
                format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
            ),
        }
        for v in values {
            if !is_label_value(v) {
                p.add(
                    format!("{f}.values"),
                    format!("{v:?} is not a valid label value"),
                );
            }
        }
    }
}

fn dns_labels(items: &[String], field: &str, what: &str, p: &mut Problems<'_>) {
    for (i, n) in items.iter().enumerate() {
        if !is_dns_label(n) {
            p.add(
                format!("{field}[{i}]"),
                format!("{n:?} is not a {what} name"),
            );
        }
    }
}

/// The tables of a pipeline on their own (its CEL rules and every table's names, keys and
/// expressions), for the schema CLI, which works on pipelines without their cluster.
pub fn resolve_tables(p: &LogPipeline) -> Result<Vec<Table>, Vec<Problem>> {
    let id = ResourceId::of(p);
    let mut problems = Problems::new(&id);
    problems.extend(cel::problems(p));
    let tables = tables_of(p, &mut problems);
    let mut out = problems.into_vec();
    if out.is_empty() {
        return Ok(tables);
    }
    out.sort();
    out.dedup();
    Err(out)
}

fn tables_of(p: &LogPipeline, problems: &mut Problems<'_>) -> Vec<Table> {
    let owner = table::Owner {
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
        uid: p.metadata.uid.clone(),
    };
    let mut names = BTreeSet::new();
    p.spec
        .tables
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            if !names.insert(t.name.as_str()) {
                problems.add(
                    format!("spec.tables[{i}].name"),
                    format!("table {:?} is defined twice in this pipeline", t.name),
                );
            }
            table::resolve(t, &format!("spec.tables[{i}]"), problems)
        })
        .map(|t| Table {
            owner: Some(owner.clone()),
            ..t
        })
        .collect()
}

/// One pipeline on its own and against the stores and zones.
fn resolve_one(
    p: &LogPipeline,
    cel: Vec<Problem>,
    settings: &Settings,
    stores: &BTreeMap<String, Arc<Store>>,
    set_aside: &BTreeSet<String>,
    zones: &[Zone],
    regexes: &mut RegexCache,
) -> Result<Pipeline, Vec<Problem>> {
    let id = ResourceId::of(p);
    let mut e = Problems::new(&id);
    e.extend(cel);
    super::check_metadata(&p.metadata, &mut e);
    let namespace = p.namespace().unwrap_or_default();
    let name = p.name_any();
    if namespace.is_empty() {
        e.add(
            "metadata.namespace",
            "a LogPipeline is namespaced: set metadata.namespace",
        );
    }
    let trusted = settings.is_trusted(&namespace);
    let spec = &p.spec;
    check_sources(&spec.sources, &namespace, trusted, settings, &mut e);
    check_parse(&spec.parse, regexes, &mut e);
    let tables = tables_of(p, &mut e);
    check_routes(spec, &mut e);
    let gateway = resolve_gateway(&spec.gateway, &settings.pools, &mut e);
    if spec.gateway.image.is_some() && !trusted {
        // The gateways run in the operator's namespace with the stores' credentials in their
        // environment: choosing their image is running code with those credentials.
        e.add(
            "spec.gateway.image",
            format!(
                "only pipelines in the operator's trusted namespaces ({}) may choose the gateways' image: gateways run in the operator's namespace with the stores' credentials",
                settings.trusted_namespaces.join(", ")
            ),
        );
    }
    let targets = resolve_stores(&spec.stores, &namespace, trusted, stores, set_aside, &mut e);
    let regions = regions_of(&targets, zones, &mut e);
    if !trusted {
        check_tenant_capacity(&gateway, &regions, &settings.pools, &mut e);
        check_tenant_tables(spec, &settings.tenant_limits, &mut e);
    }
    e.result(|| Pipeline {
        id: id.clone(),
        component_id: format!("{namespace}.{name}"),
        namespace,
        name,
        generation: p.metadata.generation,
        sources: spec.sources.clone(),
        parse: spec.parse.clone(),
        tables,
        routes: spec.routes.clone(),
        default_table: spec.default_table.clone(),
        gateway,
        deletion_policy: spec.deletion_policy,
        stores: targets,
        regions,
    })
}

/// Tenancy: what a pipeline may collect, and that its selectors are well-formed.
fn check_sources(
    src: &Sources,
    namespace: &str,
    trusted: bool,
    settings: &Settings,
    e: &mut Problems<'_>,
) {
    for (i, n) in src.namespaces.iter().enumerate() {
        if !is_dns_label(n) {
            e.add(
                format!("spec.sources.namespaces[{i}]"),
                format!("{n:?} is not a namespace name"),
            );
        } else if !trusted && n != namespace {
            e.add(
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
            e.add(
                "spec.sources.namespaceSelector",
                format!(
                    "a pipeline in namespace {namespace} may only collect its own namespace; namespaceSelector is for the operator's trusted namespaces ({})",
                    settings.trusted_namespaces.join(", ")
                ),
            );
        }
        check_selector(sel, "spec.sources.namespaceSelector", e);
    }
    if let Some(sel) = &src.pod_selector {
        check_selector(sel, "spec.sources.podSelector", e);
    }
    dns_labels(&src.containers, "spec.sources.containers", "container", e);
    if let Some(ex) = &src.exclude {
        dns_labels(
            &ex.namespaces,
            "spec.sources.exclude.namespaces",
            "namespace",
            e,
        );
        dns_labels(
            &ex.containers,
            "spec.sources.exclude.containers",
            "container",
            e,
        );
    }
}

/// Body parsing: the regex compiles (as RE2 would), its groups are attribute keys.
fn check_parse(parse: &Parse, regexes: &mut RegexCache, e: &mut Problems<'_>) {
    if let Some(re) = &parse.regex {
        let compiled = regexes.entry(re.clone()).or_insert_with(|| {
            regex::Regex::new(re)
                .map(|r| r.capture_names().flatten().map(String::from).collect())
                .map_err(|e| e.to_string())
        });
        match compiled {
            Err(err) => e.add("spec.parse.regex", format!("does not compile: {err}")),
            Ok(names) => {
                if let Some(why) = crate::ident::re2_incompatibility(re) {
                    e.add("spec.parse.regex", why);
                }
                if names.is_empty() {
                    e.add(
                        "spec.parse.regex",
                        "has no named group (?P<name>...): nothing would be extracted",
                    );
                }
                for n in names.iter() {
                    if !is_attribute_key(n) {
                        e.add(
                            "spec.parse.regex",
                            format!("group name {n:?} is not a valid attribute key"),
                        );
                    }
                }
            }
        }
    }
    if let Some(ts) = &parse.timestamp {
        if !is_attribute_key(&ts.attribute) {
            e.add(
                "spec.parse.timestamp.attribute",
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
            e.add(
                "spec.parse.timestamp.layout",
                format!(
                    "{:?} is not a strptime layout (letters, digits, % and - : . , / + _ space)",
                    ts.layout
                ),
            );
        }
    }
}

/// Routes and the default table name tables of the pipeline.
fn check_routes(spec: &crate::crd::LogPipelineSpec, e: &mut Problems<'_>) {
    let table_names: BTreeSet<&str> = spec.tables.iter().map(|t| t.name.as_str()).collect();
    for (i, r) in spec.routes.iter().enumerate() {
        let f = format!("spec.routes[{i}]");
        if !table_names.contains(r.table.as_str()) {
            e.add(
                format!("{f}.table"),
                format!("names no table of spec.tables: {:?}", r.table),
            );
        }
        dns_labels(&r.namespaces, &format!("{f}.namespaces"), "namespace", e);
        dns_labels(&r.containers, &format!("{f}.containers"), "container", e);
        for (k, v) in &r.pod_labels {
            if !is_label_key(k) || !is_label_value(v) {
                e.add(
                    format!("{f}.podLabels"),
                    format!("{k:?}: {v:?} is not a valid label"),
                );
            }
        }
    }
    if let Some(d) = &spec.default_table
        && !table_names.contains(d.as_str())
    {
        e.add(
            "spec.defaultTable",
            format!("names no table of spec.tables: {d:?}"),
        );
    }
    if spec.tables.len() > 1 && spec.routes.is_empty() && spec.default_table.is_none() {
        e.add(
            "spec.routes",
            "with several tables, routes or a defaultTable must say where logs go",
        );
    }
}

/// A tenant's tables and extracted columns are bounded (`--tenant-max-tables`,
/// `--tenant-max-columns`); the CRD's own bounds are the ceiling for everyone.
fn check_tenant_tables(
    spec: &crate::crd::LogPipelineSpec,
    limits: &crate::inventory::TenantLimits,
    e: &mut Problems<'_>,
) {
    let hint = "for pipelines outside the trusted namespaces";
    // A rollup is a table and a view in every store like the others.
    let tables: usize = spec.tables.iter().map(|t| 1 + t.rollups.len()).sum();
    if tables > limits.max_tables as usize {
        e.add(
            "spec.tables",
            format!(
                "{tables} tables (rollups included), over the {} allowed {hint} (--tenant-max-tables)",
                limits.max_tables
            ),
        );
    }
    for (i, t) in spec.tables.iter().enumerate() {
        if t.columns.len() > limits.max_columns_per_table as usize {
            e.add(
                format!("spec.tables[{i}].columns"),
                format!(
                    "{} columns, over the {} allowed {hint} (--tenant-max-columns)",
                    t.columns.len(),
                    limits.max_columns_per_table
                ),
            );
        }
    }
}

/// A tenant's share of the gateways is bounded (`--pool-max-tenant-replicas`): the replicas its
/// rate needs, and for dedicated gateways their floor in every zone and their ceiling.
fn check_tenant_capacity(
    g: &Gateway,
    regions: &BTreeMap<String, Region>,
    pools: &crate::gateway::pool::PoolSettings,
    e: &mut Problems<'_>,
) {
    let cap = u64::from(pools.max_tenant_replicas);
    let hint = "for pipelines outside the trusted namespaces (--pool-max-tenant-replicas)";
    let by_rate = g.events_per_second.div_ceil(g.capacity_per_replica.max(1));
    if by_rate > cap {
        e.add(
            "spec.gateway.expectedEventsPerSecond",
            format!(
                "{} events/s at {} per replica needs {by_rate} gateway replicas, over the {cap} allowed {hint}",
                g.events_per_second, g.capacity_per_replica
            ),
        );
    }
    if !g.dedicated {
        return;
    }
    let zones: u64 = regions.values().map(|r| r.zones.len() as u64).sum();
    let floor = u64::from(g.min_replicas_per_zone).saturating_mul(zones);
    if floor > cap {
        e.add(
            "spec.gateway.minReplicasPerZone",
            format!(
                "{} per zone in {zones} zones is {floor} replicas, over the {cap} allowed {hint}",
                g.min_replicas_per_zone
            ),
        );
    }
    if let Some(max) = g.max_replicas.filter(|m| u64::from(*m) > cap) {
        e.add(
            "spec.gateway.maxReplicas",
            format!("{max} is over the {cap} replicas allowed {hint}"),
        );
    }
}

/// The smallest memory limit a gateway runs in (as for agents).
const MIN_GATEWAY_MEMORY: u64 = super::class::MIN_AGENT_MEMORY;

/// A dedicated gateway's memory limit gives its memory_limiter a `limit_mib` and a
/// `spike_limit_mib` the collector accepts: "`spike_limit_mib` must be smaller than
/// `limit_mib`" (internal/memorylimiter Config.Validate, v0.150.0: `MemoryLimitMiB > 0 &&
/// MemoryLimitMiB <= MemorySpikeLimitMiB` is refused), and at least what a collector runs in.
fn check_memory_limiter(bytes: u64, e: &mut Problems<'_>) {
    let ml = crate::collector::MemoryLimiter::for_memory_limit(bytes);
    if ml.limit_mib == 0 || ml.limit_mib <= ml.spike_limit_mib {
        e.add(
            "spec.gateway.resources.limits.memory",
            format!(
                "gives the memory_limiter limit_mib {} and spike_limit_mib {}, which the collector refuses (spike_limit_mib must be smaller than limit_mib); at least 64Mi",
                ml.limit_mib, ml.spike_limit_mib
            ),
        );
    } else if bytes < MIN_GATEWAY_MEMORY {
        e.add(
            "spec.gateway.resources.limits.memory",
            "must be at least 64Mi for a collector",
        );
    }
}

/// The gateway's sizing with its defaults, quantities parsed once.
fn resolve_gateway(
    g: &crate::crd::GatewaySpec,
    pools: &crate::gateway::pool::PoolSettings,
    e: &mut Problems<'_>,
) -> Gateway {
    let mut memory = 0;
    if let Some(r) = &g.resources {
        check_quantities(r, "spec.gateway.resources", e);
        match r
            .limits
            .as_ref()
            .and_then(|l| l.get("memory"))
            .map(|q| parse_quantity(&q.0))
        {
            Some(Ok(b)) => {
                memory = b;
                check_memory_limiter(b, e);
            }
            _ => e.add(
                "spec.gateway.resources.limits.memory",
                "is required when resources are given: the memory_limiter and the buffer plan are derived from it",
            ),
        }
    }
    let timeout = Duration::from(g.batch.timeout);
    if g.batch.timeout.is_negative() || timeout.is_zero() || timeout > Duration::from_secs(60) {
        e.add(
            "spec.gateway.batch.timeout",
            "must be between 1ms and 60s: data must be queryable within 2 minutes",
        );
    } else if !timeout.subsec_nanos().is_multiple_of(1_000_000) {
        // It is written in whole milliseconds as the exporter's `sending_queue.batch.
        // flush_timeout`: 500us would be 0ms, which the collector refuses ("`flush_timeout`
        // must be positive", exporterhelper queuebatch BatchConfig.Validate, v0.150.0).
        e.add(
            "spec.gateway.batch.timeout",
            format!(
                "{timeout:?} is not a whole number of milliseconds (the exporter's flush_timeout is written in ms)"
            ),
        );
    }
    if g.buffer.duration.is_negative()
        || Duration::from(g.buffer.duration) > Duration::from_secs(24 * 3600)
    {
        e.add("spec.gateway.buffer.duration", "must be between 0 and 24h");
    }
    Gateway {
        events_per_second: g.expected_events_per_second,
        dedicated: g.dedicated,
        capacity_per_replica: g.capacity_per_replica.unwrap_or(pools.capacity_per_replica),
        explicit_resources: g.resources.clone(),
        memory_limit_bytes: memory,
        buffer: Duration::from(g.buffer.duration),
        bytes_per_event: g.buffer.bytes_per_event.map(u64::from),
        min_replicas_per_zone: g
            .min_replicas_per_zone
            .unwrap_or(pools.min_replicas_per_zone),
        max_replicas: g.max_replicas,
        batch_rows: g.batch.rows,
        batch_timeout: timeout,
        image: g.image.clone(),
    }
}

/// The stores a pipeline names: they exist, are valid, granted to its namespace, one per region.
fn resolve_stores(
    names: &[String],
    namespace: &str,
    trusted: bool,
    stores: &BTreeMap<String, Arc<Store>>,
    set_aside: &BTreeSet<String>,
    e: &mut Problems<'_>,
) -> Vec<Arc<Store>> {
    let mut targets: Vec<Arc<Store>> = Vec::new();
    let mut regions_seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, s) in names.iter().enumerate() {
        let Some(store) = stores.get(s) else {
            if set_aside.contains(s) {
                e.add(
                    format!("spec.stores[{i}]"),
                    format!("ClickHouseStore {s} is invalid (see its status)"),
                );
            } else {
                e.add(
                    format!("spec.stores[{i}]"),
                    format!("ClickHouseStore {s:?} does not exist"),
                );
            }
            continue;
        };
        if !store.grants(namespace, trusted) {
            e.add(
                format!("spec.stores[{i}]"),
                format!(
                    "ClickHouseStore {s} is not granted to namespace {namespace} (its spec.allowedNamespaces)"
                ),
            );
            continue;
        }
        if let Some(other) = regions_seen.insert(store.region.as_str(), s.as_str()) {
            e.add(
                format!("spec.stores[{i}]"),
                format!(
                    "stores {other} and {s} are both in region {}: one store per region",
                    store.region
                ),
            );
            continue;
        }
        targets.push(store.clone());
    }

    targets
}

/// Which store each zone's gateways insert into: the store of the zone's region.
fn regions_of(
    targets: &[Arc<Store>],
    zones: &[Zone],
    e: &mut Problems<'_>,
) -> BTreeMap<String, Region> {
    let mut regions: BTreeMap<String, Region> = BTreeMap::new();
    let mut homeless = Vec::new();
    for zone in zones {
        let store = match &zone.region {
            Some(r) => targets.iter().find(|s| s.region == *r),
            // Nodes without a region label: only unambiguous with a single store.
            None if targets.len() == 1 => targets.first(),
            None => None,
        };
        match store {
            Some(s) => regions
                .entry(s.region.clone())
                .or_insert_with(|| Region {
                    store: s.clone(),
                    zones: Vec::new(),
                })
                .zones
                .push(zone.clone()),
            None => homeless.push(zone),
        }
    }
    if !homeless.is_empty() && !targets.is_empty() {
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
        e.add(
            "spec.stores",
            format!(
                "no store for the region of zone(s) {}: gateways insert into their own region's store (no cross-region ingest)",
                z.join(", ")
            ),
        );
    }

    regions
}

/// Resolve every pipeline against the valid stores (`set_aside`: the names of stores that exist
/// but are invalid) and the cluster's zones.
pub(crate) fn resolve_all(
    pipelines: &[&LogPipeline],
    settings: &Settings,
    stores: &BTreeMap<String, Arc<Store>>,
    set_aside: &BTreeSet<String>,
    zones: &[Zone],
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Vec<Pipeline> {
    let mut regexes = RegexCache::new();
    let mut out: Vec<Pipeline> = Vec::new();
    let mut seen = BTreeSet::new();
    let claimed = table_claims(pipelines, stores);
    for (p, cel) in pipelines.iter().zip(cel::problems_each(pipelines)) {
        let mut cel = cel;
        cel.extend(
            claimed
                .get(&ResourceId::of(*p))
                .cloned()
                .unwrap_or_default(),
        );
        match resolve_one(p, cel, settings, stores, set_aside, zones, &mut regexes) {
            Ok(v) => {
                if !seen.insert(v.id.clone()) {
                    problems.push(Problem::invalid(&v.id, "metadata.name", "defined twice"));
                    out.retain(|o| o.id != v.id);
                    continue;
                }
                if v.regions.is_empty() {
                    warnings.push(Problem::warning(
                        Subject::Resource(v.id.clone()),
                        "spec.stores",
                        "no node of this cluster is in a region of the pipeline's stores: no gateways here",
                    ));
                }
                out.push(v);
            }
            Err(e) => problems.extend(e),
        }
    }
    let over = over_label_keys(&out, settings);
    out.retain(|p| match over.get(&p.id) {
        Some(problem) => {
            problems.push(problem.clone());
            false
        }
        None => true,
    });
    out
}

/// Distinct label keys a tenant namespace's pipelines may make every agent attach.
pub const MAX_TENANT_LABEL_KEYS: usize = 32;

/// The pod and namespace label keys a pipeline makes the agents attach (selectors, routes,
/// extracted columns): each is an extraction rule in the one agent config every node reads.
fn label_keys(p: &Pipeline) -> BTreeSet<String> {
    use crate::collector::agent::{NAMESPACE_LABEL_PREFIX, POD_LABEL_PREFIX, selector_keys};
    let mut keys = BTreeSet::new();
    for sel in [&p.sources.pod_selector, &p.sources.namespace_selector]
        .into_iter()
        .flatten()
    {
        selector_keys(sel, &mut keys);
    }
    for r in &p.routes {
        keys.extend(r.pod_labels.keys().cloned());
    }
    for c in p.tables.iter().flat_map(|t| &t.columns) {
        if let Some(k) = c
            .key
            .strip_prefix(POD_LABEL_PREFIX)
            .or_else(|| c.key.strip_prefix(NAMESPACE_LABEL_PREFIX))
        {
            keys.insert(k.to_string());
        }
    }
    keys
}

/// A tenant's share of the shared agent config is bounded: the pipelines of a namespace outside
/// the trusted ones, in name order, may add up to [`MAX_TENANT_LABEL_KEYS`] distinct label keys;
/// the pipeline that passes it is refused (the ones before keep theirs).
fn over_label_keys(pipelines: &[Pipeline], settings: &Settings) -> BTreeMap<ResourceId, Problem> {
    let mut by_ns: BTreeMap<&str, Vec<&Pipeline>> = BTreeMap::new();
    for p in pipelines
        .iter()
        .filter(|p| !settings.is_trusted(&p.namespace))
    {
        by_ns.entry(p.namespace.as_str()).or_default().push(p);
    }
    let mut out = BTreeMap::new();
    for (ns, mut ps) in by_ns {
        ps.sort_by(|a, b| a.name.cmp(&b.name));
        let mut union = BTreeSet::new();
        for p in ps {
            let keys = label_keys(p);
            let with: BTreeSet<String> = union.union(&keys).cloned().collect();
            if with.len() > MAX_TENANT_LABEL_KEYS {
                out.insert(
                    p.id.clone(),
                    Problem::invalid(
                        &p.id,
                        "spec",
                        format!(
                            "namespace {ns}'s pipelines would make every agent attach {} distinct label keys (selectors, routes' podLabels and k8s.pod.labels.*/k8s.namespace.labels.* columns), over the {MAX_TENANT_LABEL_KEYS} a tenant namespace may: every node's one agent config carries them",
                            with.len()
                        ),
                    ),
                );
            } else {
                union = with;
            }
        }
    }
    out
}

/// Where a table lives: its server (a store's HTTP URL, so two stores naming one server share
/// its tables), database and name.
type TableKey = (String, String, String);

/// Each table belongs to one pipeline across all of them: (server, database, table) claimed by
/// several pipelines, valid or not, goes to the oldest (creationTimestamp, then namespace/name),
/// so an owner keeps its table when a newcomer arrives; the others are refused naming it. The
/// store's own record (the table's COMMENT, checked before any plan) has the last word.
fn table_claims(
    pipelines: &[&LogPipeline],
    stores: &BTreeMap<String, Arc<Store>>,
) -> BTreeMap<ResourceId, Vec<Problem>> {
    // Oldest first; without a timestamp (files given to `render`), after those with one.
    let mut order: Vec<&LogPipeline> = pipelines.to_vec();
    order.sort_by_key(|p| {
        (
            p.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .is_none(),
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.namespace().unwrap_or_default(),
            p.name_any(),
        )
    });
    let mut owners: BTreeMap<TableKey, (ResourceId, String)> = BTreeMap::new();
    let mut out: BTreeMap<ResourceId, Vec<Problem>> = BTreeMap::new();
    for p in order {
        let id = ResourceId::of(p);
        for store_name in &p.spec.stores {
            let Some(store) = stores.get(store_name) else {
                continue;
            };
            for (i, t) in p.spec.tables.iter().enumerate() {
                let key = (
                    store.http_url.clone(),
                    store.database.clone(),
                    t.name.clone(),
                );
                match owners.get(&key) {
                    None => {
                        owners.insert(key, (id.clone(), store_name.clone()));
                    }
                    Some((owner, _)) if *owner == id => {}
                    Some((owner, owner_store)) => {
                        let via = if owner_store == store_name {
                            String::new()
                        } else {
                            format!(" (through store {owner_store})")
                        };
                        out.entry(id.clone()).or_default().push(Problem::invalid(
                            &id,
                            format!("spec.tables[{i}].name"),
                            format!(
                                "table {}.{} in store {store_name} belongs to {owner}{via}: a table is owned by one pipeline; choose another name",
                                store.database, t.name
                            ),
                        ));
                    }
                }
            }
        }
    }
    out
}
