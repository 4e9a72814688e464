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
    /// The object, with the applied-hash annotation, as JSON ([`Wanted::json`]).
    body: Body,
    /// Replicas set once at creation (see [`Desired::initial_replicas`]).
    pub initial_replicas: Option<u32>,
    /// A workload's config: what its pods run and the ConfigMaps they mount (the config
    /// check holds a workload until a new one passed, [`super::config_check`]).
    pub config: Option<ConfigRef>,
}

/// What a workload's pods run: the pod template's config-hash annotation (the config, and for
/// gateways the image and environment it runs with) and the ConfigMaps its volumes mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRef {
    pub key: String,
    pub config_maps: Vec<String>,
}

impl ConfigRef {
    /// The config of a workload object (Deployment, StatefulSet, DaemonSet), if it has one.
    pub fn of(kind: Managed, object: &serde_json::Value) -> Option<Self> {
        if !matches!(
            kind,
            Managed::Deployment | Managed::StatefulSet | Managed::DaemonSet
        ) {
            return None;
        }
        let template = object.pointer("/spec/template")?;
        let key = template
            .pointer("/metadata/annotations")?
            .get(crate::meta::CONFIG_HASH_ANNOTATION)?
            .as_str()?
            .to_string();
        let mut config_maps = Vec::new();
        for v in template
            .pointer("/spec/volumes")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let direct = v.pointer("/configMap/name").and_then(|n| n.as_str());
            let projected = v
                .pointer("/projected/sources")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
                .filter_map(|s| s.pointer("/configMap/name").and_then(|n| n.as_str()));
            config_maps.extend(direct.into_iter().chain(projected).map(String::from));
        }
        Some(Self { key, config_maps })
    }
}

/// An object's JSON text; compressed when large. A platform's collector configs are most of
/// what the snapshot holds (7 MiB of 283 objects for 2,006 pipelines), and they compress
/// about tenfold; they are read back only to be applied.
#[derive(Clone, Debug, PartialEq)]
enum Body {
    Text(Arc<str>),
    Lz4(Arc<[u8]>),
}

impl Body {
    /// Objects from this size up are kept compressed.
    const COMPRESS_FROM: usize = 16 * 1024;

    fn of(text: String) -> Self {
        if text.len() < Self::COMPRESS_FROM {
            return Body::Text(text.into());
        }
        Body::Lz4(lz4_flex::compress_prepend_size(text.as_bytes()).into())
    }
}

impl Wanted {
    /// The object as JSON.
    pub fn json(&self) -> std::borrow::Cow<'_, str> {
        match &self.body {
            Body::Text(t) => std::borrow::Cow::Borrowed(t),
            // Our own compression of our own text: it cannot fail short of memory corruption.
            Body::Lz4(b) => std::borrow::Cow::Owned(
                lz4_flex::decompress_size_prepended(b)
                    .ok()
                    .and_then(|v| String::from_utf8(v).ok())
                    .unwrap_or_default(),
            ),
        }
    }

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
            body: Body::of(object.to_string()),
            initial_replicas: d.initial_replicas,
            config: ConfigRef::of(d.kind, &d.object),
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
    // Moved out of the model, not copied: the model goes now.
    let model = resolution.model;
    let schemas = (model.pipelines.into_iter())
        .map(|p| {
            (
                p.id,
                PipelineSchema {
                    tables: p.tables,
                    stores: p.stores,
                },
            )
        })
        .collect();
    Snapshot {
        objects,
        problems,
        warnings,
        coverage: model.coverage,
        pools: built.pools,
        schemas,
        stale_crds: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_objects_are_kept_compressed_and_read_back_as_they_were() {
        let config = "receivers: {}\n".repeat(4096);
        let d = Desired::new(&k8s_openapi::api::core::v1::ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some("big".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "config.yaml".to_string(),
                config.clone(),
            )])),
            ..Default::default()
        });
        let w = Wanted::new(&d);
        let Body::Lz4(bytes) = &w.body else {
            panic!("a {} KiB object is kept as text", config.len() / 1024)
        };
        assert!(bytes.len() * 10 < config.len(), "{} bytes", bytes.len());
        let back: serde_json::Value = serde_json::from_str(&w.json()).unwrap();
        assert_eq!(back["data"]["config.yaml"], config.as_str());
        assert_eq!(
            back["metadata"]["annotations"][APPLIED_HASH_ANNOTATION],
            w.hash.as_str()
        );
        // A small one stays text.
        let small = Wanted::new(&Desired::new(
            &k8s_openapi::api::core::v1::ConfigMap::default(),
        ));
        assert!(matches!(small.body, Body::Text(_)));
    }
}
