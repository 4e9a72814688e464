//! Node coverage as a property: for random classes and nodes, every node is matched by exactly
//! one DaemonSet's node affinity, or it is reported (uncovered, or an overlap).

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use otelhouse::crd::{AgentClass, AgentClassSpec};
use otelhouse::inventory::NodeFacts;
use otelhouse::model::coverage;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Kubernetes' node affinity semantics, written independently of the coverage module: terms are
/// ORed, expressions ANDed, an empty term matches nothing, no affinity matches everything.
fn affinity_matches(sel: Option<&NodeSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(sel) = sel else { return true };
    sel.node_selector_terms.iter().any(|t: &NodeSelectorTerm| {
        let exprs = t.match_expressions.as_deref().unwrap_or_default();
        !exprs.is_empty() && exprs.iter().all(|e: &NodeSelectorRequirement| {
            let v = labels.get(&e.key);
            let vals = e.values.as_deref().unwrap_or_default();
            let num = |s: &str| s.parse::<i64>().ok();
            match e.operator.as_str() {
                "In" => v.is_some_and(|v| vals.contains(v)),
                "NotIn" => !v.is_some_and(|v| vals.contains(v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                "Gt" => {
                    matches!((v.and_then(|v| num(v)), num(&vals[0])), (Some(a), Some(b)) if a > b)
                }
                "Lt" => {
                    matches!((v.and_then(|v| num(v)), num(&vals[0])), (Some(a), Some(b)) if a < b)
                }
                other => panic!("operator {other}"),
            }
        })
    })
}

const KEYS: &[&str] = &["pool", "gpu", "size"];
const VALUES: &[&str] = &["a", "b", "c", "1", "5"];
const TYPES: &[&str] = &["m5d.2xlarge", "m5d.8xlarge", "m5d.16xlarge", "c5.large"];

fn expr() -> impl Strategy<Value = NodeSelectorRequirement> {
    (
        0..KEYS.len(),
        0..6usize,
        proptest::collection::btree_set(0..VALUES.len(), 1..3),
    )
        .prop_map(|(k, op, vals)| {
            let (operator, values) = match op {
                0 => (
                    "In",
                    Some(vals.iter().map(|i| VALUES[*i].to_string()).collect()),
                ),
                1 => (
                    "NotIn",
                    Some(vals.iter().map(|i| VALUES[*i].to_string()).collect()),
                ),
                2 => ("Exists", None),
                3 => ("DoesNotExist", None),
                4 => ("Gt", Some(vec!["2".to_string()])),
                _ => ("Lt", Some(vec!["3".to_string()])),
            };
            NodeSelectorRequirement {
                key: KEYS[k].to_string(),
                operator: operator.to_string(),
                values,
            }
        })
}

fn class(name: String, default: bool) -> impl Strategy<Value = AgentClass> {
    (
        proptest::collection::btree_set(0..TYPES.len(), 0..2),
        proptest::collection::vec(proptest::collection::vec(expr(), 1..3), 0..2),
    )
        .prop_filter(
            "a non-default class selects something",
            move |(t, terms)| default || !t.is_empty() || !terms.is_empty(),
        )
        .prop_map(move |(types, terms)| {
            let spec = AgentClassSpec {
                default,
                tolerate_all_taints: true,
                instance_types: if default {
                    vec![]
                } else {
                    types.iter().map(|i| TYPES[*i].to_string()).collect()
                },
                node_selector_terms: if default {
                    vec![]
                } else {
                    terms
                        .into_iter()
                        .map(|e| NodeSelectorTerm {
                            match_expressions: Some(e),
                            match_fields: None,
                        })
                        .collect()
                },
                resources: k8s_openapi::api::core::v1::ResourceRequirements {
                    limits: Some(BTreeMap::from([(
                        "memory".to_string(),
                        Quantity("128Mi".into()),
                    )])),
                    ..Default::default()
                },
                expected_lines_per_second: 1,
                tolerations: vec![],
                image: None,
                priority_class_name: None,
            };
            AgentClass::new(&name, spec)
        })
}

fn classes() -> impl Strategy<Value = Vec<AgentClass>> {
    (0..4usize, any::<bool>()).prop_flat_map(|(n, with_default)| {
        let mut v: Vec<BoxedStrategy<AgentClass>> = (0..n)
            .map(|i| class(format!("c{i}"), false).boxed())
            .collect();
        if with_default || n == 0 {
            v.push(class("catch-all".to_string(), true).boxed());
        }
        v
    })
}

fn nodes() -> impl Strategy<Value = Vec<NodeFacts>> {
    proptest::collection::vec(
        (
            proptest::option::of(0..TYPES.len()),
            proptest::collection::btree_map(0..KEYS.len(), 0..VALUES.len() + 1, 0..3),
        ),
        1..30,
    )
    .prop_map(|ns| {
        ns.into_iter()
            .enumerate()
            .map(|(i, (t, labels))| {
                let mut l: BTreeMap<String, String> = labels
                    .into_iter()
                    // VALUES.len() stands for a non-numeric value that Gt/Lt cannot compare.
                    .map(|(k, v)| {
                        (
                            KEYS[k].to_string(),
                            VALUES.get(v).copied().unwrap_or("x").to_string(),
                        )
                    })
                    .collect();
                if let Some(t) = t {
                    l.insert(
                        "node.kubernetes.io/instance-type".to_string(),
                        TYPES[t].to_string(),
                    );
                }
                NodeFacts::new(format!("n{i}"), l)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_node_is_covered_by_exactly_one_daemonset_or_reported(classes in classes(), nodes in nodes()) {
        let Ok(selections) = coverage::selections(&classes) else {
            // The catch-all's negation grew past its bound: refused with a reason, not built.
            return Ok(());
        };
        // Every class tolerates every taint here (the default): the partition is about labels.
        let tolerations = selections
            .keys()
            .map(|n| (n.clone(), vec![k8s_openapi::api::core::v1::Toleration { operator: Some("Exists".into()), ..Default::default() }]))
            .collect();
        let cov = coverage::compute(&selections, &tolerations, &nodes.iter().collect::<Vec<_>>());
        let affinities: Vec<(String, Option<NodeSelector>)> =
            selections.iter().map(|(n, s)| (n.clone(), s.to_node_selector())).collect();
        for node in &nodes {
            let matching: Vec<&str> = affinities
                .iter()
                .filter(|(_, a)| affinity_matches(a.as_ref(), &node.labels.to_map()))
                .map(|(n, _)| n.as_str())
                .collect();
            let uncovered = cov.uncovered.contains(&node.name);
            let overlap = cov.overlaps.contains_key(&node.name);
            match matching.len() {
                0 => prop_assert!(uncovered, "{} matched by no DaemonSet but not reported", node.name),
                1 => {
                    prop_assert!(!uncovered && !overlap);
                    prop_assert!(cov.by_class[matching[0]].contains(&node.name));
                }
                _ => prop_assert!(overlap, "{} matched by {matching:?} but not reported", node.name),
            }
            // The catch-all never overlaps: it is exactly the complement of the others.
            if let Some(o) = cov.overlaps.get(&node.name) {
                prop_assert!(!o.iter().any(|c| c == "catch-all"), "{o:?}");
            }
        }
    }
}
