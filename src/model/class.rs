//! AgentClasses, resolved, and the node coverage they give.

use super::coverage::{self, Coverage, Selection};
use super::{Problem, ProblemKind, Problems, ResourceId, Subject, cel, preview};
use crate::crd::AgentClass;
use crate::ident::is_label_value;
use crate::inventory::NodeFacts;
use crate::quantity::{parse_quantity, quantity_value};
use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet};

/// The smallest memory limit a collector runs in.
pub const MIN_AGENT_MEMORY: u64 = 64 * 1024 * 1024;

/// A resolved AgentClass.
#[derive(Clone, Debug, PartialEq)]
pub struct Class {
    pub id: ResourceId,
    pub name: String,
    pub default: bool,
    /// The nodes it selects (the catch-all's: everything no other class selects).
    pub selection: Selection,
    /// Its agents' tolerations (every taint unless it opts out, then its own).
    pub tolerations: Vec<Toleration>,
    pub resources: ResourceRequirements,
    pub memory_limit_bytes: u64,
    pub expected_lines_per_second: u32,
    pub image: Option<String>,
    pub priority_class_name: Option<String>,
    /// The owner reference its objects carry (objects read from a cluster have a uid; the
    /// manifests given to `render` may not).
    pub owner_ref: Option<OwnerReference>,
}

/// The classes, and which nodes they cover.
#[derive(Clone, Debug, Default)]
pub struct Classes {
    pub classes: Vec<Class>,
    pub coverage: Coverage,
}

/// A class's agents' tolerations: every taint (`operator: Exists` with no key), unless the class
/// opts out, then only its own.
pub fn tolerations(spec: &crate::crd::AgentClassSpec) -> Vec<Toleration> {
    let mut out = Vec::new();
    if spec.tolerate_all_taints {
        out.push(Toleration {
            operator: Some("Exists".to_string()),
            ..Default::default()
        });
    }
    out.extend(spec.tolerations.iter().cloned());
    out
}

/// Quantities of cpu, memory and ephemeral-storage only, each parseable.
pub(crate) fn check_quantities(r: &ResourceRequirements, field: &str, problems: &mut Problems<'_>) {
    for (which, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        for (k, q) in map.iter().flatten() {
            if k != "cpu" && k != "memory" && k != "ephemeral-storage" {
                problems.add(
                    format!("{field}.{which}.{k}"),
                    "only cpu, memory and ephemeral-storage are supported",
                );
            } else if let Err(e) = parse_quantity(&q.0) {
                problems.add(format!("{field}.{which}.{k}"), e);
            }
        }
    }
    // The API server refuses a pod whose request is over its limit ("must be less than or
    // equal to ... limit", ValidateResourceRequirements): its workload would never get pods.
    for (k, req) in r.requests.iter().flatten() {
        let limit = r.limits.as_ref().and_then(|l| l.get(k));
        if let (Some(lim), Ok(rv), Ok(lv)) = (
            limit,
            quantity_value(&req.0),
            limit.map_or(Ok(0.0), |l| quantity_value(&l.0)),
        ) && rv > lv
        {
            problems.add(
                format!("{field}.requests.{k}"),
                format!(
                    "{} is over the limit {}: Kubernetes refuses a request above its limit",
                    req.0, lim.0
                ),
            );
        }
    }
}

/// Tolerations as the API server validates them (Kubernetes 1.33,
/// pkg/apis/core/validation/validation.go, ValidateTolerations): a key is a qualified name; an
/// empty key needs `Exists`; `tolerationSeconds` needs `NoExecute`; `Exists` takes no value,
/// `Equal` (or none) a label value; operators Equal and Exists, effects NoSchedule,
/// PreferNoSchedule, NoExecute (or none). A DaemonSet with any other is refused whole.
pub(crate) fn check_tolerations(ts: &[Toleration], field: &str, p: &mut Problems<'_>) {
    for (i, t) in ts.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let key = t.key.as_deref().unwrap_or_default();
        let op = t.operator.as_deref().unwrap_or_default();
        let value = t.value.as_deref().unwrap_or_default();
        let effect = t.effect.as_deref().unwrap_or_default();
        if !key.is_empty() && !crate::ident::is_label_key(key) {
            p.add(
                format!("{f}.key"),
                format!("{key:?} is not a qualified name (a label key)"),
            );
        }
        if key.is_empty() && op != "Exists" {
            p.add(
                format!("{f}.operator"),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            );
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            p.add(
                format!("{f}.effect"),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        match op {
            "" | "Equal" if !is_label_value(value) => p.add(
                format!("{f}.value"),
                format!("{value:?} is not a valid label value"),
            ),
            "Exists" if !value.is_empty() => p.add(
                format!("{f}.value"),
                "value must be empty when `operator` is 'Exists'",
            ),
            "" | "Equal" | "Exists" => {}
            other => p.add(
                format!("{f}.operator"),
                format!("{other:?} is not supported: Equal or Exists"),
            ),
        }
        if !matches!(effect, "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            p.add(
                format!("{f}.effect"),
                format!("{effect:?} is not supported: NoSchedule, PreferNoSchedule or NoExecute"),
            );
        }
    }
}

/// One class on its own: its CEL rules, instance types, memory limit and quantities. The
/// selection of a non-default class comes with it (the catch-all's needs the others).
fn resolve_one(
    class: &AgentClass,
    cel: Vec<Problem>,
) -> Result<(u64, Option<Selection>), Vec<Problem>> {
    let id = ResourceId::of(class);
    let mut p = Problems::new(&id);
    p.extend(cel);
    super::check_metadata(&class.metadata, &mut p);
    for (i, t) in class.spec.instance_types.iter().enumerate() {
        if !is_label_value(t) || t.is_empty() {
            p.add(
                format!("spec.instanceTypes[{i}]"),
                format!("{t:?} is not a valid label value"),
            );
        }
    }
    let limit = class
        .spec
        .resources
        .limits
        .as_ref()
        .and_then(|l| l.get("memory"));
    let memory = match limit.map(|q| parse_quantity(&q.0)) {
        Some(Ok(b)) if b >= MIN_AGENT_MEMORY => b,
        Some(Ok(_)) => {
            p.add(
                "spec.resources.limits.memory",
                "must be at least 64Mi for a collector",
            );
            0
        }
        Some(Err(e)) => {
            p.add("spec.resources.limits.memory", e);
            0
        }
        // Reported by the CEL rule.
        None => 0,
    };
    check_quantities(&class.spec.resources, "spec.resources", &mut p);
    check_tolerations(&class.spec.tolerations, "spec.tolerations", &mut p);
    let selection = if class.spec.default {
        None
    } else {
        match coverage::class_selection(class) {
            Ok(s) => Some(s),
            Err(e) => {
                p.add(e.field, e.message);
                None
            }
        }
    };
    p.result(|| (memory, selection))
}

/// Resolve every class; the coverage is computed from the valid ones, and classes that overlap
/// are set aside (both, each naming the other).
pub(crate) fn resolve_all(
    classes: &[&AgentClass],
    nodes: &[&NodeFacts],
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Classes {
    let cels = cel::problems_each(classes);
    let mut bad: BTreeSet<String> = BTreeSet::new();
    let mut alone: BTreeMap<String, (u64, Option<Selection>)> = BTreeMap::new();
    // Every non-default class's selection that parses, valid or not: the catch-all excludes
    // them all, so a class set aside keeps its nodes (and its agents) to itself.
    let mut carved: Vec<Selection> = Vec::new();
    for (&class, cel) in classes.iter().zip(cels) {
        if !class.spec.default
            && let Ok(s) = coverage::class_selection(class)
        {
            carved.push(s);
        }
        match resolve_one(class, cel) {
            Ok(v) => {
                if alone.insert(class.name_any(), v).is_some() {
                    bad.insert(class.name_any());
                    problems.push(Problem::invalid(
                        &ResourceId::of(class),
                        "metadata.name",
                        "defined twice",
                    ));
                }
            }
            Err(p) => {
                bad.insert(class.name_any());
                problems.extend(p);
            }
        }
    }
    let defaults: Vec<String> = classes
        .iter()
        .filter(|c| c.spec.default)
        .map(|c| c.name_any())
        .collect();
    if defaults.len() > 1 {
        for d in &defaults {
            bad.insert(d.clone());
            problems.push(Problem::invalid(
                &ResourceId::class(d),
                "spec.default",
                format!(
                    "{} classes are the catch-all (default: true); at most one may be",
                    defaults.len()
                ),
            ));
        }
    }
    // Two classes naming the same instance type overlap on every such node, nodes given or not.
    let mut by_type: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in classes {
        for t in &c.spec.instance_types {
            by_type.entry(t.as_str()).or_default().insert(c.name_any());
        }
    }
    for (t, owners) in by_type.into_iter().filter(|(_, o)| o.len() > 1) {
        let names: Vec<String> = owners.iter().cloned().collect();
        for c in &names {
            bad.insert(c.clone());
            problems.push(overlap(
                c,
                &names,
                "spec.instanceTypes",
                format!(
                    "classes overlap: instance type {t} is in {}",
                    names.join(" and ")
                ),
            ));
        }
    }
    // The selections: each valid non-default class's, and the catch-all's.
    let mut selections: BTreeMap<String, Selection> = BTreeMap::new();
    for class in classes
        .iter()
        .filter(|c| !c.spec.default && !bad.contains(&c.name_any()))
    {
        if let Some((_, Some(s))) = alone.get(&class.name_any()) {
            selections.insert(class.name_any(), s.clone());
        }
    }
    if let Some(&default) = classes
        .iter()
        .find(|c| c.spec.default && !bad.contains(&c.name_any()))
    {
        let others: Vec<&Selection> = carved.iter().collect();
        match coverage::catch_all_selection(&others) {
            Ok(s) => {
                selections.insert(default.name_any(), s);
            }
            Err(e) => {
                bad.insert(default.name_any());
                problems.push(Problem::invalid(
                    &ResourceId::of(default),
                    e.field,
                    e.message,
                ));
            }
        }
    }
    let tolerations_of: BTreeMap<String, Vec<Toleration>> = classes
        .iter()
        .filter(|c| selections.contains_key(&c.name_any()))
        .map(|c| (c.name_any(), tolerations(&c.spec)))
        .collect();
    let coverage = coverage::compute(&selections, &tolerations_of, nodes);
    for (node, owners) in &coverage.overlaps {
        for c in owners {
            bad.insert(c.clone());
            problems.push(overlap(
                c,
                owners,
                "spec",
                format!(
                    "classes overlap: node {node} is selected by {}; every node must be covered by exactly one class",
                    owners.join(" and ")
                ),
            ));
        }
    }
    for (class, untolerated) in &coverage.untolerated {
        warnings.push(Problem::warning(
            Subject::Resource(ResourceId::class(class)),
            "spec.tolerations",
            format!(
                "{} node(s) selected but tainted so that its agents cannot run there (no logs collected): {}; tolerate their taints, or leave tolerateAllTaints at its default (true)",
                untolerated.len(),
                preview(untolerated)
            ),
        ));
    }
    if !coverage.uncovered.is_empty() {
        warnings.push(Problem::warning(
            Subject::Nodes,
            "",
            format!(
                "{} node(s) covered by no AgentClass (add a class with default: true): {}",
                coverage.uncovered.len(),
                preview(&coverage.uncovered)
            ),
        ));
    }
    let resolved = classes
        .iter()
        .copied()
        .filter(|c| !bad.contains(&c.name_any()))
        .filter_map(|c| {
            let selection = selections.get(&c.name_any())?.clone();
            let (memory, _) = alone.get(&c.name_any())?;
            Some(Class {
                id: ResourceId::of(c),
                name: c.name_any(),
                default: c.spec.default,
                selection,
                tolerations: tolerations(&c.spec),
                resources: c.spec.resources.clone(),
                memory_limit_bytes: *memory,
                expected_lines_per_second: c.spec.expected_lines_per_second,
                image: c.spec.image.clone(),
                priority_class_name: c.spec.priority_class_name.clone(),
                owner_ref: crate::meta::owner_ref(c),
            })
        })
        .collect();
    Classes {
        classes: resolved,
        coverage,
    }
}

fn overlap(class: &str, all: &[String], field: &str, message: String) -> Problem {
    Problem {
        subject: Subject::Resource(ResourceId::class(class)),
        field: field.to_string(),
        message,
        kind: ProblemKind::Overlap {
            with: all.iter().filter(|c| *c != class).cloned().collect(),
        },
    }
}
