//! Node coverage: which class covers which node, computed, not hoped for.
//!
//! A non-default class selects nodes by its terms (ORed, as in node affinity). The catch-all's
//! affinity is the negation of every other class's terms, so the DaemonSets' affinities partition
//! the nodes: each node is matched by exactly one DaemonSet unless two non-default classes
//! overlap (reported) or there is no catch-all and no class selects it (reported). A node
//! counts as covered only where its class's agents tolerate its taints (else reported).

use crate::crd::AgentClass;
use crate::inventory::{INSTANCE_TYPE_LABEL, Labels, NodeFacts, NodeTaint};
use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Toleration,
};
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The most terms the catch-all's negation may expand to before it is refused as too complex.
pub const MAX_CATCH_ALL_TERMS: usize = 64;

/// A node selector requirement operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

impl Op {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            "Gt" => Op::Gt,
            "Lt" => Op::Lt,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::In => "In",
            Op::NotIn => "NotIn",
            Op::Exists => "Exists",
            Op::DoesNotExist => "DoesNotExist",
            Op::Gt => "Gt",
            Op::Lt => "Lt",
        }
    }
}

/// One requirement, values sorted and deduplicated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Req {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

impl Req {
    fn new(key: &str, op: Op, values: impl IntoIterator<Item = String>) -> Self {
        let values: BTreeSet<String> = values.into_iter().collect();
        Self {
            key: key.to_string(),
            op,
            values: values.into_iter().collect(),
        }
    }

    /// Kubernetes semantics: In/Gt/Lt need the label; NotIn and DoesNotExist match without it.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label(&self.key);
        let int = |v: &str| v.parse::<i64>().ok();
        match self.op {
            Op::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Gt => match (
                value.and_then(int),
                self.values.first().and_then(|v| int(v)),
            ) {
                (Some(v), Some(n)) => v > n,
                _ => false,
            },
            Op::Lt => match (
                value.and_then(int),
                self.values.first().and_then(|v| int(v)),
            ) {
                (Some(v), Some(n)) => v < n,
                _ => false,
            },
        }
    }

    /// The negation as alternatives (ORed). `Gt n` is negated as "absent, or `Lt n+1`", which is
    /// exact for integer label values (the only values Gt/Lt are meant for).
    fn negate(&self) -> Vec<Req> {
        let with = |op| Req {
            key: self.key.clone(),
            op,
            values: self.values.clone(),
        };
        let shifted = |op, delta: i64| {
            let n = self
                .values
                .first()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            Req::new(&self.key, op, [n.saturating_add(delta).to_string()])
        };
        match self.op {
            Op::In => vec![with(Op::NotIn)],
            Op::NotIn => vec![with(Op::In)],
            Op::Exists => vec![Req::new(&self.key, Op::DoesNotExist, [])],
            Op::DoesNotExist => vec![Req::new(&self.key, Op::Exists, [])],
            Op::Gt => vec![
                Req::new(&self.key, Op::DoesNotExist, []),
                shifted(Op::Lt, 1),
            ],
            Op::Lt => vec![
                Req::new(&self.key, Op::DoesNotExist, []),
                shifted(Op::Gt, -1),
            ],
        }
    }

    fn to_k8s(&self) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: self.key.clone(),
            operator: self.op.as_str().to_string(),
            values: if self.values.is_empty() {
                None
            } else {
                Some(self.values.clone())
            },
        }
    }
}

/// A conjunction of requirements (one node selector term). An empty term matches nothing in
/// Kubernetes, so it never appears in a class's terms.
pub type Term = Vec<Req>;

/// A class's node selection in disjunctive normal form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub terms: Vec<Term>,
}

impl Selection {
    /// Whether a node with these labels is selected. An empty conjunction only arises in the
    /// catch-all with no other class, which gets no affinity at all: it selects every node.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.terms
            .iter()
            .any(|t| t.iter().all(|r| r.matches(labels)))
    }

    /// As node affinity terms; `None` means "every node" (the catch-all with no other class).
    pub fn to_node_selector(&self) -> Option<NodeSelector> {
        if self.terms.iter().any(|t| t.is_empty()) {
            return None;
        }
        Some(NodeSelector {
            node_selector_terms: self
                .terms
                .iter()
                .map(|t| NodeSelectorTerm {
                    match_expressions: Some(t.iter().map(Req::to_k8s).collect()),
                    match_fields: None,
                })
                .collect(),
        })
    }
}

/// Why a class's selection could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionError {
    pub field: String,
    pub message: String,
}

/// The terms of a non-default class: its instance types as one `In` term, plus its own terms.
pub fn class_selection(class: &AgentClass) -> Result<Selection, SelectionError> {
    let spec = &class.spec;
    let mut terms = Vec::new();
    if !spec.instance_types.is_empty() {
        terms.push(vec![Req::new(
            INSTANCE_TYPE_LABEL,
            Op::In,
            spec.instance_types.iter().cloned(),
        )]);
    }
    for (i, term) in spec.node_selector_terms.iter().enumerate() {
        let field = format!("spec.nodeSelectorTerms[{i}]");
        if term.match_fields.as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(SelectionError {
                field: format!("{field}.matchFields"),
                message: "matchFields is not supported: select nodes by labels".to_string(),
            });
        }
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        if exprs.is_empty() {
            return Err(SelectionError {
                field: format!("{field}.matchExpressions"),
                message: "an empty term matches no node".to_string(),
            });
        }
        let mut t = Vec::new();
        for (j, e) in exprs.iter().enumerate() {
            let efield = format!("{field}.matchExpressions[{j}]");
            t.push(requirement(e).map_err(|message| SelectionError {
                field: efield,
                message,
            })?);
        }
        t.sort();
        t.dedup();
        terms.push(t);
    }
    Ok(Selection { terms })
}

/// Check one requirement against the Kubernetes rules for node selectors.
fn requirement(e: &NodeSelectorRequirement) -> Result<Req, String> {
    if !crate::ident::is_label_key(&e.key) {
        return Err(format!("key {:?} is not a valid label key", e.key));
    }
    let Some(op) = Op::parse(&e.operator) else {
        return Err(format!(
            "operator {:?} is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt",
            e.operator
        ));
    };
    let values = e.values.clone().unwrap_or_default();
    match op {
        Op::In | Op::NotIn if values.is_empty() => {
            return Err(format!("{} needs at least one value", op.as_str()));
        }
        Op::Exists | Op::DoesNotExist if !values.is_empty() => {
            return Err(format!("{} takes no values", op.as_str()));
        }
        Op::Gt | Op::Lt if values.len() != 1 || values[0].parse::<i64>().is_err() => {
            return Err(format!("{} takes exactly one integer value", op.as_str()));
        }
        _ => {}
    }
    if let Some(v) = values.iter().find(|v| !crate::ident::is_label_value(v)) {
        return Err(format!("value {v:?} is not a valid label value"));
    }
    Ok(Req::new(&e.key, op, values))
}

/// The catch-all's selection: no term of any other class. `Ok(terms = [[]])` (every node) when
/// there are no other classes.
pub fn catch_all_selection(others: &[&Selection]) -> Result<Selection, SelectionError> {
    // Start from "true" (one empty conjunction) and AND in the negation of every term.
    let mut dnf: Vec<Term> = vec![Vec::new()];
    for term in others.iter().flat_map(|s| s.terms.iter()) {
        // NOT (a AND b) = NOT a OR NOT b.
        let alternatives: Vec<Req> = term.iter().flat_map(Req::negate).collect();
        let mut next = Vec::new();
        for conj in &dnf {
            for alt in &alternatives {
                let mut c = conj.clone();
                c.push(alt.clone());
                c.sort();
                c.dedup();
                if !contradictory(&c) && !next.contains(&c) {
                    next.push(c);
                }
            }
        }
        if next.len() > MAX_CATCH_ALL_TERMS {
            return Err(SelectionError {
                field: "spec.default".to_string(),
                message: format!(
                    "the catch-all would need more than {MAX_CATCH_ALL_TERMS} node affinity terms to exclude the other classes; give the other classes simpler selectors (one expression per term)"
                ),
            });
        }
        dnf = next;
    }
    Ok(Selection { terms: dnf })
}

/// A conjunction no node can satisfy (key both required and absent, or `In` and `NotIn` of the
/// same single value). Dropping these keeps the catch-all's terms short; it is an optimisation,
/// not needed for correctness.
fn contradictory(c: &[Req]) -> bool {
    c.iter().any(|a| {
        c.iter().any(|b| {
            a.key == b.key
                && match (a.op, b.op) {
                    (Op::In | Op::Exists | Op::Gt | Op::Lt, Op::DoesNotExist) => true,
                    (Op::In, Op::NotIn) => a.values.iter().all(|v| b.values.contains(v)),
                    _ => false,
                }
        })
    })
}

/// Which nodes each class covers, and what is wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Class name -> node names it covers (overlapping nodes are listed under every class that
    /// selects them).
    /// selects them). Names are the node cache's own strings, not copies.
    pub by_class: BTreeMap<String, Vec<Arc<str>>>,
    /// Node -> the non-default classes that all select it.
    pub overlaps: BTreeMap<Arc<str>, Vec<String>>,
    /// Nodes no class covers.
    pub uncovered: Vec<Arc<str>>,
    /// Class name -> nodes it selects whose taints its agents do not tolerate: no agent runs
    /// there, so they are not covered.
    pub untolerated: BTreeMap<String, Vec<Arc<str>>>,
}

/// Compute coverage from every class's selection (the catch-all's included) and tolerations: a
/// node matched by no selection is uncovered, by several is an overlap, by one whose agents do
/// not tolerate its taints is untolerated. Because the catch-all's selection is the one its
/// DaemonSet's affinity carries, this is exactly what the scheduler will do.
pub fn compute(
    selections: &BTreeMap<String, Selection>,
    tolerations: &BTreeMap<String, Vec<Toleration>>,
    nodes: &[&NodeFacts],
) -> Coverage {
    let mut cov = Coverage::default();
    for name in selections.keys() {
        cov.by_class.insert(name.clone(), Vec::new());
    }
    let none = Vec::new();
    for node in nodes {
        let matching: Vec<&String> = selections
            .iter()
            .filter(|(_, s)| s.matches(&node.labels))
            .map(|(n, _)| n)
            .collect();
        match matching.as_slice() {
            [] => cov.uncovered.push(node.name.clone()),
            [one] if !schedulable(tolerations.get(*one).unwrap_or(&none), &node.taints) => {
                push(&mut cov.untolerated, one, &node.name)
            }
            [one] => push(&mut cov.by_class, one, &node.name),
            many => {
                for c in many {
                    push(&mut cov.by_class, c, &node.name);
                }
                cov.overlaps.insert(
                    node.name.clone(),
                    many.iter().map(|c| c.to_string()).collect(),
                );
            }
        }
    }
    cov
}

/// The tolerations the DaemonSet controller adds to every daemon pod
/// (`pkg/controller/daemon/util/daemonset_util.go`, `AddOrUpdateDaemonPodTolerations`; the
/// network-unavailable one only for hostNetwork pods, which agents are not).
pub fn daemon_tolerations() -> Vec<Toleration> {
    [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    .map(|(key, effect)| Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".to_string()),
        effect: Some(effect.to_string()),
        ..Default::default()
    })
    .to_vec()
}

/// Kubernetes' `Toleration.ToleratesTaint` (`staging/src/k8s.io/api/core/v1/toleration.go`):
/// an empty effect matches every effect, an empty key (with `Exists`) every key; `Exists`
/// matches every value, `Equal` (or no operator) the same value, `Lt`/`Gt` compare integers.
pub fn tolerates(t: &Toleration, taint: &NodeTaint) -> bool {
    let effect = t.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    let value = t.value.as_deref().unwrap_or_default();
    let int = |v: &str| v.parse::<i64>().ok();
    match t.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => value == taint.value,
        "Exists" => true,
        "Lt" => matches!((int(value), int(&taint.value)), (Some(t), Some(n)) if n < t),
        "Gt" => matches!((int(value), int(&taint.value)), (Some(t), Some(n)) if n > t),
        _ => false,
    }
}

/// Whether a daemon pod with `tolerations` can run on a node with `taints`: the scheduler's
/// TaintToleration filter refuses a node with a `NoSchedule` or `NoExecute` taint that no
/// toleration (the pod's, or the DaemonSet controller's) tolerates.
pub fn schedulable(tolerations: &[Toleration], taints: &[NodeTaint]) -> bool {
    let automatic = daemon_tolerations();
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|taint| {
            tolerations
                .iter()
                .chain(automatic.iter())
                .any(|t| tolerates(t, taint))
        })
}

fn push(map: &mut BTreeMap<String, Vec<Arc<str>>>, class: &str, node: &Arc<str>) {
    map.entry(class.to_string()).or_default().push(node.clone());
}

/// Every class's selection, the catch-all's derived from the others. Errors name the class.
pub fn selections(
    classes: &[AgentClass],
) -> Result<BTreeMap<String, Selection>, Vec<(String, SelectionError)>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for class in classes.iter().filter(|c| !c.spec.default) {
        match class_selection(class) {
            Ok(s) => {
                out.insert(class.name_any(), s);
            }
            Err(e) => errors.push((class.name_any(), e)),
        }
    }
    if let Some(default) = classes.iter().find(|c| c.spec.default) {
        let others: Vec<&Selection> = out.values().collect();
        match catch_all_selection(&others) {
            Ok(s) => {
                out.insert(default.name_any(), s);
            }
            Err(e) => errors.push((default.name_any(), e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: opt(key),
            operator: opt(op),
            value: opt(value),
            effect: opt(effect),
            ..Default::default()
        }
    }

    fn taint(key: &str, value: &str, effect: &str) -> NodeTaint {
        NodeTaint {
            key: key.to_string(),
            value: value.to_string(),
            effect: effect.to_string(),
        }
    }

    /// The cases of Kubernetes' `TestTolerationToleratesTaint`
    /// (staging/src/k8s.io/api/core/v1/toleration_test.go).
    #[test]
    fn toleration_matching_follows_kubernetes() {
        let cases = [
            (
                tol("foo", "Exists", "", "NoSchedule"),
                taint("foo", "", "NoSchedule"),
                true,
            ),
            (
                tol("foo", "Exists", "", "NoSchedule"),
                taint("foo", "bar", "NoSchedule"),
                true,
            ),
            (
                tol("", "Exists", "", "NoSchedule"),
                taint("foo", "bar", "NoSchedule"),
                true,
            ),
            (
                tol("foo", "Equal", "bar", "NoSchedule"),
                taint("foo", "bar", "NoSchedule"),
                true,
            ),
            (
                tol("foo", "Equal", "value1", "NoSchedule"),
                taint("foo", "value2", "NoSchedule"),
                false,
            ),
            (
                tol("foo", "Equal", "bar", "NoSchedule"),
                taint("foo", "bar", "NoExecute"),
                false,
            ),
            (
                tol("sla", "Gt", "950", "NoSchedule"),
                taint("sla", "800", "NoSchedule"),
                false,
            ),
            (
                tol("sla", "Gt", "750", "NoSchedule"),
                taint("sla", "950", "NoSchedule"),
                true,
            ),
            (
                tol("sla", "Lt", "800", "NoSchedule"),
                taint("sla", "950", "NoSchedule"),
                false,
            ),
            (
                tol("sla", "Lt", "950", "NoSchedule"),
                taint("sla", "800", "NoSchedule"),
                true,
            ),
            (
                tol("sla", "Gt", "950", "NoSchedule"),
                taint("sla", "950", "NoSchedule"),
                false,
            ),
            (
                tol("sla", "Gt", "950", "NoSchedule"),
                taint("sla", "high", "NoSchedule"),
                false,
            ),
            (
                tol("k", "Gt", "-100", "NoSchedule"),
                taint("k", "-200", "NoSchedule"),
                false,
            ),
            (
                tol("k", "Gt", "9223372036854775806", "NoSchedule"),
                taint("k", "100", "NoSchedule"),
                false,
            ),
            // No operator means Equal; an empty effect matches every effect.
            (
                tol("foo", "", "bar", ""),
                taint("foo", "bar", "NoExecute"),
                true,
            ),
            // The universal toleration log agents use.
            (
                tol("", "Exists", "", ""),
                taint("anything", "x", "NoExecute"),
                true,
            ),
        ];
        for (i, (t, n, want)) in cases.iter().enumerate() {
            assert_eq!(tolerates(t, n), *want, "case {i}: {t:?} vs {n:?}");
        }
    }

    #[test]
    fn daemon_pods_tolerate_what_the_daemonset_controller_adds() {
        // A cordoned node (kubectl drain) still runs its agent, as every DaemonSet pod.
        assert!(schedulable(
            &[],
            &[taint("node.kubernetes.io/unschedulable", "", "NoSchedule")]
        ));
        assert!(schedulable(
            &[],
            &[taint("node.kubernetes.io/not-ready", "", "NoExecute")]
        ));
        // A dedicated pool's taint keeps agents off unless tolerated.
        let dedicated = [taint("dedicated", "gpu", "NoSchedule")];
        assert!(!schedulable(&[], &dedicated));
        assert!(schedulable(
            &[tol("dedicated", "Equal", "gpu", "NoSchedule")],
            &dedicated
        ));
        // PreferNoSchedule never keeps a pod off.
        assert!(schedulable(&[], &[taint("soft", "", "PreferNoSchedule")]));
    }

    #[test]
    fn a_tainted_node_is_covered_only_if_tolerated() {
        let mut labels = BTreeMap::new();
        labels.insert("pool".to_string(), "gpu".to_string());
        let node = NodeFacts {
            name: "g1".into(),
            labels: (&labels).into(),
            taints: vec![taint("dedicated", "gpu", "NoSchedule")],
        };
        let selections = BTreeMap::from([(
            "gpu".to_string(),
            Selection {
                terms: vec![vec![Req::new("pool", Op::In, ["gpu".to_string()])]],
            },
        )]);
        let none = BTreeMap::from([("gpu".to_string(), vec![])]);
        let cov = compute(&selections, &none, &[&node]);
        assert_eq!(cov.untolerated["gpu"], vec![Arc::<str>::from("g1")]);
        assert!(cov.by_class["gpu"].is_empty());
        let all = BTreeMap::from([("gpu".to_string(), vec![tol("", "Exists", "", "")])]);
        let cov = compute(&selections, &all, &[&node]);
        assert_eq!(cov.by_class["gpu"], vec![Arc::<str>::from("g1")]);
        assert!(cov.untolerated.is_empty());
    }
}
