//! The builders over the resolved model: every object the operator wants, and every pipeline's
//! DDL. `render` and the controller call the same functions.

use crate::agents;
use crate::gateway::{self, pool::Pool};
use crate::inventory::Settings;
use crate::kinds::Managed;
use crate::meta::{Desired, Owner};
use crate::model::{Model, Problem, ProblemKind, Subject};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// What the builders produce besides the objects.
pub struct Built {
    pub warnings: Vec<Problem>,
    /// Objects another object of the same kind, namespace and name was built before: never
    /// handed on (one would overwrite the other), each a problem of its owner.
    pub clashes: Vec<Problem>,
    /// The gateway pools and their plans.
    pub pools: Vec<Pool>,
}

/// Build every object of the model, handing each to `sink` as it is built (the controller keeps
/// them compact; `render` collects them).
pub fn build_each(m: &Model, settings: &Settings, mut sink: impl FnMut(Desired)) -> Built {
    let mut warnings = Vec::new();
    let mut unique = Unique::default();
    let mut sink = |d: Desired| {
        if unique.admit(&d) {
            sink(d);
        }
    };
    let pools = gateway::pools(m, settings);
    if !m.classes.is_empty() {
        let (destinations, keys) = agents::agent_pools(m, &pools, settings);
        let (shared, text) = agents::build_shared(settings, &destinations, &keys);
        let bytes = config_bytes(&shared);
        if bytes > gateway::MAX_CONFIG_BYTES {
            // Its size follows the label keys the pipelines read (each one extracted on every
            // node), not their number: many distinct keys are what can push it over.
            warnings.push(Problem::warning(
                Subject::Document(format!("ConfigMap {}", shared.name)),
                "data",
                format!(
                    "the agents' shared ConfigMap {} holds {} KiB of collector config ({} pod and {} namespace label keys extracted), over what fits in a Kubernetes object (1 MiB): the API server will refuse it and no agent config can change; select by fewer distinct label keys",
                    shared.name,
                    bytes / 1024,
                    keys.pod.len(),
                    keys.namespace.len()
                ),
            ));
        }
        sink(shared);
        for class in &m.classes {
            agents::build(class, settings, &text)
                .into_iter()
                .for_each(&mut sink);
        }
    }
    for pool in &pools {
        for (region, r) in &pool.regions {
            if r.plan.capped {
                for member in &r.members {
                    warnings.push(Problem::warning(
                        Subject::Resource(member.pipeline.clone()),
                        "spec.gateway.maxReplicas",
                        format!(
                            "pool {} in region {region}: the plan wants {} replicas for throughput but maxReplicas caps it at {}",
                            pool.name, r.plan.by_throughput, r.plan.total
                        ),
                    ));
                }
            }
        }
        for d in gateway::build(pool, m, settings) {
            let bytes = config_bytes(&d);
            if bytes > gateway::MAX_CONFIG_BYTES {
                for member in pool.members() {
                    warnings.push(Problem::warning(
                        Subject::Resource(member.clone()),
                        "spec",
                        format!(
                            "pool {}: ConfigMap {} holds {} KiB of collector config, over what fits in a Kubernetes object (1 MiB): the API server will refuse it; give some of these pipelines dedicated gateways (spec.gateway.dedicated) or fewer tables",
                            pool.name,
                            d.name,
                            bytes / 1024
                        ),
                    ));
                }
            }
            sink(d);
        }
    }
    Built {
        warnings,
        clashes: unique.clashes,
        pools,
    }
}

/// Names are built to be unambiguous; this is the check that they are, whatever the inputs:
/// the first object of a kind, namespace and name is admitted, a later one is a clash.
#[derive(Default)]
struct Unique {
    /// The owner (annotation) of each admitted object.
    seen: HashMap<(Managed, Option<String>, String), String>,
    clashes: Vec<Problem>,
}

impl Unique {
    fn admit(&mut self, d: &Desired) -> bool {
        let owner = Owner::of(&d.object)
            .map(|o| o.annotation())
            .unwrap_or_default();
        match self
            .seen
            .entry((d.kind, d.namespace.clone(), d.name.clone()))
        {
            Entry::Occupied(first) => {
                self.clashes.push(clash(d, &owner, first.get()));
                false
            }
            Entry::Vacant(v) => {
                v.insert(owner);
                true
            }
        }
    }
}

/// The problem of an object whose kind, namespace and name another owner's object has.
fn clash(d: &Desired, owner: &str, first: &str) -> Problem {
    let what = format!(
        "{} {}{}",
        d.kind.as_str(),
        d.namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        d.name
    );
    let subject = Owner::parse(owner)
        .and_then(|o| o.resource())
        .map(Subject::Resource)
        .unwrap_or_else(|| Subject::Document(owner.to_string()));
    Problem {
        subject,
        field: "metadata.name".to_string(),
        message: format!("{what} is already built for {first}: not applied"),
        kind: ProblemKind::Invalid,
    }
}

/// The bytes of a ConfigMap's data (0 for other kinds).
fn config_bytes(d: &Desired) -> usize {
    if d.kind != "ConfigMap" {
        return 0;
    }
    d.object["data"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_str()).map(str::len).sum())
        .unwrap_or(0)
}

/// Each pipeline's fresh-install DDL in every store it targets, as YAML comments (so the stream
/// still applies with kubectl), in the order of the pipelines and their stores.
pub fn ddl_comments(m: &Model) -> String {
    crate::par::map(&m.pipelines, |p| {
        let mut out = String::new();
        for store in &p.stores {
            out.push_str(&format!(
                "# --- ClickHouse DDL: LogPipeline {}/{} in ClickHouseStore {} (region {}) ---\n",
                p.namespace, p.name, store.name, store.region
            ));
            let layouts = crate::schema::layouts(&p.tables, crate::schema::Placement::of(store));
            for sql in crate::schema::ddl::fresh_install(&layouts) {
                for line in sql.lines() {
                    out.push_str("# ");
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("# ;\n");
            }
        }
        out
    })
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(name: &str, owner: &Owner) -> Desired {
        Desired {
            api_version: "v1".into(),
            kind: Managed::ConfigMap,
            namespace: Some("otelhouse".into()),
            name: name.into(),
            object: json!({"metadata": {"name": name, "annotations": owner.annotations()}}),
            initial_replicas: None,
        }
    }

    #[test]
    fn a_second_object_of_one_kind_namespace_and_name_is_a_clash_of_its_owner() {
        let mut u = Unique::default();
        let a = Owner::Class("a".into());
        let b = Owner::Pipeline {
            namespace: "team".into(),
            name: "b".into(),
        };
        assert!(u.admit(&config_map("x", &a)));
        assert!(u.admit(&config_map("y", &b)));
        assert!(!u.admit(&config_map("x", &b)));
        assert_eq!(u.clashes.len(), 1);
        let p = &u.clashes[0];
        assert_eq!(
            p.subject,
            Subject::Resource(crate::model::ResourceId::pipeline("team", "b"))
        );
        assert_eq!(p.kind, ProblemKind::Invalid);
        assert!(
            p.message.contains("ConfigMap otelhouse/x") && p.message.contains("AgentClass/a"),
            "{}",
            p.message
        );
    }
}
