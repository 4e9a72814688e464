//! The desired state of the whole platform, computed from the facts with the same validation and
//! builders as `render` (pure). Unlike `render`, one bad resource does not stop the others: it is
//! set aside with its problems, and the objects it already has are left as they are.

use crate::gateway::pool::Pool;
use crate::inventory::{Facts, Settings};
use crate::kinds::Managed;
use crate::meta::Desired;
use crate::model::coverage::Coverage;
use crate::model::{self, Problem, ProblemKind, ResourceId, Store, Table};
use crate::schema::ddl::TableLayout;
use crate::{build, schema};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use crate::meta::{OWNER_ANNOTATION, Owner};

/// Carries the hash of what the operator applied, so a later reconcile can tell without the
/// whole object whether the live one is already it.
pub const APPLIED_HASH_ANNOTATION: &str = "otelhouse.dev/applied-hash";

/// An object to apply, kept compact: its JSON text and its hash (the Values of thousands of
/// objects would be most of the operator's memory).
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    pub api_version: String,
    pub kind: Managed,
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
            kind: d.kind,
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
    /// Each resource set aside, with its problems.
    pub problems: BTreeMap<ResourceId, Vec<Problem>>,
    pub warnings: Vec<Problem>,
    pub coverage: Coverage,
    /// The gateway pools, their members and plans.
    pub pools: Vec<Pool>,
    /// Pipeline -> its tables and stores, from which its schema in each store is laid out when
    /// it is reconciled (the layouts of thousands of tables, every base column spelled out, would
    /// be the snapshot's largest part).
    pub schemas: BTreeMap<ResourceId, PipelineSchema>,
    /// Kind -> why its installed CRD is stale.
    pub stale_crds: BTreeMap<String, String>,
}

/// What a pipeline's schema is laid out from.
#[derive(Clone, Debug, Default)]
pub struct PipelineSchema {
    pub tables: Vec<Table>,
    pub stores: Vec<Arc<Store>>,
}

impl PipelineSchema {
    /// (store name, its layouts) for every store the pipeline targets.
    pub fn layouts(&self) -> Vec<(String, Vec<TableLayout>)> {
        self.stores
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    schema::layouts(&self.tables, schema::Placement::of(s)),
                )
            })
            .collect()
    }
}

impl Snapshot {
    pub fn objects_of<'a>(&'a self, owner: &'a Owner) -> impl Iterator<Item = &'a Wanted> + 'a {
        self.objects
            .iter()
            .filter(move |(o, _)| o == owner)
            .map(|(_, d)| d)
    }

    /// Whether the resource was set aside for its problems.
    pub fn excluded(&self, id: &ResourceId) -> bool {
        self.problems.contains_key(id)
    }

    /// The classes a class overlaps with.
    pub fn overlaps_of(&self, id: &ResourceId) -> Vec<String> {
        let mut out: Vec<String> = self
            .problems
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|p| match &p.kind {
                ProblemKind::Overlap { with } => Some(with.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Compute the snapshot: resolve every resource on its own (one bad one sets aside only itself),
/// build what is valid.
pub fn build(facts: &Facts<'_>, settings: &Settings) -> Snapshot {
    let resolution = model::resolve_facts(facts, settings);
    let mut problems: BTreeMap<ResourceId, Vec<Problem>> = BTreeMap::new();
    for p in resolution.problems {
        if let Some(id) = p.resource().cloned() {
            problems.entry(id).or_default().push(p);
        }
    }
    let m = &resolution.model;
    // Each object is made compact as soon as it is built: the full objects of a large platform
    // would otherwise all be in memory at once.
    let mut objects = Vec::new();
    let built = build::build_each(m, settings, |d| {
        if let Some(o) = Owner::of(&d.object) {
            objects.push((o, Wanted::new(&d)));
        }
    });
    let mut warnings = resolution.warnings;
    warnings.extend(built.warnings);
    // An object that clashes is not applied; its owner's status says why.
    for p in built.clashes {
        match p.resource().cloned() {
            Some(id) => problems.entry(id).or_default().push(p),
            None => warnings.push(p),
        }
    }
    let schemas = m
        .pipelines
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                PipelineSchema {
                    tables: p.tables.clone(),
                    stores: p.stores.clone(),
                },
            )
        })
        .collect();
    Snapshot {
        objects,
        problems,
        warnings,
        coverage: m.coverage.clone(),
        pools: built.pools,
        schemas,
        stale_crds: BTreeMap::new(),
    }
}
