//! The desired state of the whole platform, computed from the facts with the same validation and
//! builders as `render` (pure). Unlike `render`, one bad resource does not stop the others: it is
//! set aside with its problems, and the objects it already has are left as they are.

use crate::agents::coverage::Coverage;
use crate::gateway::plan::Plan;
use crate::inventory::{Inputs, Settings};
use crate::meta::Desired;
use crate::render;
use crate::schema::ddl::TableLayout;
use crate::validate::{self, Problem};
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet};

/// Who an object belongs to (from its `otelhouse.dev/owner` annotation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// Shared by every agent class (the pipelines ConfigMap).
    Agents,
    Class(String),
    Pipeline {
        namespace: String,
        name: String,
    },
}

impl Owner {
    pub fn annotation(&self) -> String {
        match self {
            Owner::Agents => "agents".to_string(),
            Owner::Class(n) => format!("AgentClass/{n}"),
            Owner::Pipeline { namespace, name } => format!("LogPipeline/{namespace}/{name}"),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("agents"), None, None) => Some(Owner::Agents),
            (Some("AgentClass"), Some(n), None) => Some(Owner::Class(n.to_string())),
            (Some("LogPipeline"), Some(ns), Some(n)) => Some(Owner::Pipeline {
                namespace: ns.to_string(),
                name: n.to_string(),
            }),
            _ => None,
        }
    }

    /// The owner of a desired or live object, from its annotation.
    pub fn of(object: &serde_json::Value) -> Option<Self> {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(OWNER_ANNOTATION))
            .and_then(|v| v.as_str())
            .and_then(Owner::parse)
    }
}

/// Names the owner of every object the operator manages. Gateways live in the operator's
/// namespace, so a namespaced LogPipeline cannot be their ownerReference.
pub const OWNER_ANNOTATION: &str = "otelhouse.dev/owner";

/// Carries the hash of what the operator applied, so a later reconcile can tell without the
/// whole object whether the live one is already it.
pub const APPLIED_HASH_ANNOTATION: &str = "otelhouse.dev/applied-hash";

/// An object to apply, kept compact: its JSON text and its hash (the Values of thousands of
/// objects would be most of the operator's memory).
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub hash: String,
    /// The object, with the applied-hash annotation, as JSON.
    pub json: std::sync::Arc<str>,
    /// Replicas set once at creation (see [`Desired::initial_replicas`]).
    pub initial_replicas: Option<u32>,
}

impl Wanted {
    pub fn new(d: &Desired) -> Self {
        let mut object = d.object.clone();
        let hash = crate::meta::config_hash(&object.to_string())[..16].to_string();
        if let Some(meta) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            let annotations = meta
                .entry("annotations")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(APPLIED_HASH_ANNOTATION.into(), hash.clone().into());
            }
        }
        Self {
            api_version: d.api_version.clone(),
            kind: d.kind.clone(),
            namespace: d.namespace.clone(),
            name: d.name.clone(),
            hash,
            json: object.to_string().into(),
            initial_replicas: d.initial_replicas,
        }
    }
}

/// Everything the reconcilers need, computed once per change of the facts.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub objects: Vec<(Owner, Wanted)>,
    /// Resource (`AgentClass x`, `LogPipeline ns/n`, `ClickHouseStore s`) -> its problems.
    pub problems: BTreeMap<String, Vec<Problem>>,
    /// Resources set aside for their problems.
    pub excluded: BTreeSet<String>,
    pub warnings: Vec<Problem>,
    pub coverage: Coverage,
    /// Pipeline `ns/name` -> plans per region.
    pub plans: BTreeMap<String, Vec<(String, Plan)>>,
    /// Pipeline `ns/name` -> (store name, its layouts).
    pub layouts: BTreeMap<String, Vec<(String, Vec<TableLayout>)>>,
    /// Kind -> why its installed CRD is stale.
    pub stale_crds: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn objects_of<'a>(&'a self, owner: &'a Owner) -> impl Iterator<Item = &'a Wanted> + 'a {
        self.objects
            .iter()
            .filter(move |(o, _)| o == owner)
            .map(|(_, d)| d)
    }
}

/// The resources a problem names (`AgentClass a, b` names two).
fn named(p: &Problem) -> Vec<String> {
    let Some((kind, names)) = p.resource.split_once(' ') else {
        return Vec::new();
    };
    if !matches!(kind, "AgentClass" | "LogPipeline" | "ClickHouseStore") {
        return Vec::new();
    }
    names.split(", ").map(|n| format!("{kind} {n}")).collect()
}

fn key_of<K: kube::Resource<DynamicType = ()>>(obj: &K) -> String {
    validate::resource_ref(obj)
}

/// Compute the snapshot: validate, set aside what is invalid (a few rounds, as setting aside a
/// store can make its pipelines invalid), build the rest.
pub fn build(inputs: Inputs, settings: &Settings) -> Snapshot {
    let mut snapshot = Snapshot::default();
    let mut current = inputs;
    for _ in 0..4 {
        match validate::validate(&current, settings) {
            Ok(v) => {
                // Each object is made compact as soon as it is built: the full objects of a
                // large platform would otherwise all be in memory at once.
                let mut objects = Vec::new();
                let built = render::build_each(&v, settings, |d| {
                    if let Some(o) = Owner::of(&d.object) {
                        objects.push((o, Wanted::new(&d)));
                    }
                });
                snapshot.objects = objects;
                snapshot.warnings = built.warnings;
                snapshot.coverage = v.coverage.clone();
                for (id, plans) in built.plans {
                    let key = id.replacen('.', "/", 1);
                    snapshot.plans.insert(key, plans);
                }
                for p in &v.pipelines {
                    let layouts = p
                        .stores
                        .iter()
                        .map(|s| (s.name_any(), crate::schema::layouts(&p.pipeline.spec, s)))
                        .collect();
                    snapshot
                        .layouts
                        .insert(format!("{}/{}", p.namespace, p.name), layouts);
                }
                return snapshot;
            }
            Err(problems) => {
                let mut removed = false;
                for p in problems {
                    let names = named(&p);
                    for n in &names {
                        snapshot
                            .problems
                            .entry(n.clone())
                            .or_default()
                            .push(p.clone());
                        removed |= snapshot.excluded.insert(n.clone());
                    }
                }
                if !removed {
                    break;
                }
                let excluded = &snapshot.excluded;
                current.classes.retain(|c| !excluded.contains(&key_of(c)));
                current.pipelines.retain(|p| !excluded.contains(&key_of(p)));
                current.stores.retain(|s| !excluded.contains(&key_of(s)));
            }
        }
    }
    snapshot
}
