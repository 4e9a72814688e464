//! Server-side apply of what the snapshot wants, and deletion of what it no longer wants: one
//! place that writes objects (as operator-rs's `cluster_resources`), with a compact record of each
//! live object to tell without the object whether a write is needed.

use super::snapshot::{self, Owner, Snapshot, Wanted};
use super::{Context, Error, metrics};
use crate::kinds::Managed;
use crate::meta::FIELD_MANAGER;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A live object's key: kind, namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub kind: Managed,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(kind: Managed, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

pub fn key_of(w: &Wanted) -> ObjKey {
    ObjKey::new(w.kind, w.namespace.as_deref().unwrap_or_default(), &w.name)
}

/// What the operator keeps of an object it manages: enough to decide whether to write, to
/// delete orphans and to report readiness, not the object itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub owner: Option<Owner>,
    /// The applied-hash annotation: the hash of what was last applied.
    pub applied_hash: Option<String>,
    /// A hash of the live object's content (see [`fingerprint`]).
    pub fingerprint: String,
    /// The fingerprint our own last apply produced (unknown after a restart): a different live
    /// one means someone else changed the object, and it is applied again.
    pub applied_fingerprint: Option<String>,
    /// Labels and the few status fields status reports read, at their usual paths.
    pub summary: Value,
    /// A workload's config: what its pods run and the ConfigMaps they mount (see
    /// [`super::snapshot::ConfigRef`]).
    pub config: Option<snapshot::ConfigRef>,
}

/// A hash of what an object is, apart from what others legitimately change: its metadata (the
/// Deployment controller's revision annotation), its status, and what another controller owns
/// (a Deployment's replicas are its HorizontalPodAutoscaler's: a generation would move when the
/// autoscaler scales, and the operator would then fight it).
pub fn fingerprint(kind: Managed, v: &Value) -> String {
    let mut content = v.clone();
    if let Some(m) = content.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    let owned_by_others: &[&str] = match kind {
        Managed::Deployment | Managed::StatefulSet => &["replicas"],
        Managed::ConfigMap
        | Managed::Job
        | Managed::Service
        | Managed::NetworkPolicy
        | Managed::DaemonSet
        | Managed::HorizontalPodAutoscaler
        | Managed::PodDisruptionBudget => &[],
    };
    if let Some(spec) = content.get_mut("spec").and_then(Value::as_object_mut) {
        for f in owned_by_others {
            spec.remove(*f);
        }
    }
    crate::meta::config_hash(&content.to_string())[..16].to_string()
}

/// The status fields status reports read, per kind.
fn status_fields(kind: Managed) -> &'static [&'static str] {
    match kind {
        Managed::DaemonSet => &["desiredNumberScheduled", "numberReady"],
        Managed::Deployment | Managed::StatefulSet => &["readyReplicas", "replicas"],
        // Whether a config check finished, and how (the Job API's documented status).
        Managed::Job => &["succeeded", "failed", "conditions"],
        Managed::ConfigMap
        | Managed::Service
        | Managed::NetworkPolicy
        | Managed::HorizontalPodAutoscaler
        | Managed::PodDisruptionBudget => &[],
    }
}

impl Live {
    pub fn from_value(kind: Managed, v: &Value) -> Self {
        let status: serde_json::Map<String, Value> = status_fields(kind)
            .iter()
            .filter_map(|f| {
                v.pointer(&format!("/status/{f}"))
                    .map(|x| (f.to_string(), x.clone()))
            })
            .collect();
        let mut summary = json!({"metadata": {"labels": v.pointer("/metadata/labels").cloned().unwrap_or(Value::Null)}});
        if v.get("status").is_some() {
            summary["status"] = Value::Object(status);
        }
        Self {
            owner: Owner::of(v),
            applied_hash: v
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(snapshot::APPLIED_HASH_ANNOTATION))
                .and_then(Value::as_str)
                .map(String::from),
            fingerprint: fingerprint(kind, v),
            applied_fingerprint: None,
            summary,
            config: snapshot::ConfigRef::of(kind, v),
        }
    }

    /// Whether applying `w` would change nothing.
    fn is(&self, w: &Wanted) -> bool {
        self.applied_hash.as_deref() == Some(w.hash.as_str())
            && self
                .applied_fingerprint
                .as_ref()
                .is_none_or(|f| *f == self.fingerprint)
    }
}

impl Context {
    /// A managed object as a watch showed it: update the cache of live objects, keeping what
    /// our own apply learnt, and return its owner.
    pub fn observe_owned(&self, kind: Managed, value: &Value, deleted: bool) -> Option<Owner> {
        let field = |p: &str| value.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let key = ObjKey::new(kind, field("/metadata/namespace"), field("/metadata/name"));
        let live = Live::from_value(kind, value);
        let owner = live.owner.clone();
        let mut owned = self.owned.write().unwrap_or_else(|e| e.into_inner());
        if deleted {
            owned.remove(&key);
        } else {
            let applied_fingerprint = owned.get(&key).and_then(|l| l.applied_fingerprint.clone());
            owned.insert(
                key,
                Live {
                    applied_fingerprint,
                    ..live
                },
            );
        }
        owner
    }

    /// The summaries of the live objects of one kind that `owner` owns.
    pub fn owned_summaries(&self, kind: Managed, owner: &Owner) -> Vec<Value> {
        self.owned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, v)| k.kind == kind && v.owner.as_ref() == Some(owner))
            .map(|(_, v)| v.summary.clone())
            .collect()
    }

    pub(crate) fn owned_value(&self, key: &ObjKey) -> Option<Live> {
        self.owned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Server-side apply `d` unless the live object already is it. Returns the writes.
    pub async fn apply(&self, d: &Wanted) -> Result<u32, Error> {
        let key = key_of(d);
        let existing = self.owned_value(&key);
        if existing.as_ref().is_some_and(|live| live.is(d)) {
            return Ok(0);
        }
        let api = self.dynamic_api(d.kind, d.namespace.as_deref());
        let obj: DynamicObject = serde_json::from_str(&d.json())
            .map_err(|e| Error::Internal(format!("{} {}: {e}", d.kind, d.name)))?;
        let mut applied = api
            .patch(
                &d.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&obj),
            )
            .await?;
        let mut writes = 1;
        // Created just now: set its first size once, as an update of the scale subresource. That
        // is not part of our apply, so our later applies never reset it and the autoscaler
        // takes the field over when it first scales.
        if existing.is_none()
            && let Some(replicas) = d.initial_replicas
        {
            api.patch_scale(
                &d.name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..Default::default()
                },
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await?;
            applied.data["spec"]["replicas"] = json!(replicas);
            writes += 1;
        }
        self.metrics
            .applied
            .get_or_create(&metrics::KindLabel {
                kind: d.kind.as_str(),
            })
            .inc();
        if let Ok(v) = serde_json::to_value(&applied) {
            let mut live = Live::from_value(d.kind, &v);
            live.applied_fingerprint = Some(live.fingerprint.clone());
            self.owned
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, live);
        }
        Ok(writes)
    }

    fn dynamic_api(&self, kind: Managed, namespace: Option<&str>) -> Api<DynamicObject> {
        let ar = kind.api_resource();
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }

    /// Delete the objects of `owner` that are not in `keep`.
    pub async fn delete_orphans(&self, owner: &Owner, keep: &[ObjKey]) -> Result<u32, Error> {
        let orphans: Vec<ObjKey> = self
            .owned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, v)| v.owner.as_ref() == Some(owner) && !keep.contains(k))
            .map(|(k, _)| k.clone())
            .collect();
        let mut deleted = 0;
        for key in orphans {
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            let api = self.dynamic_api(key.kind, ns);
            match api.delete(&key.name, &DeleteParams::background()).await {
                Ok(_) => {}
                // Already gone is what we wanted.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            self.owned
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            self.metrics
                .deleted
                .get_or_create(&metrics::KindLabel {
                    kind: key.kind.as_str(),
                })
                .inc();
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Apply an owner's desired objects and delete its orphans. Returns the writes.
    pub(crate) async fn sync_owner(
        &self,
        owner: &Owner,
        snapshot: &Snapshot,
    ) -> Result<u32, Error> {
        let desired: Vec<&Wanted> = snapshot.objects_of(owner).collect();
        self.sync_desired(owner, &desired, &BTreeSet::new(), |_| Vec::new())
            .await
    }

    /// Apply `desired` but what is in `hold` (left as it is), and delete the owner's objects
    /// that are neither desired nor what `keep` says once the applies are done. Returns the
    /// writes.
    pub(crate) async fn sync_desired(
        &self,
        owner: &Owner,
        desired: &[&Wanted],
        hold: &BTreeSet<ObjKey>,
        keep: impl FnOnce(&Self) -> Vec<ObjKey>,
    ) -> Result<u32, Error> {
        let mut writes = 0;
        let mut kept = Vec::with_capacity(desired.len());
        for d in desired {
            let k = key_of(d);
            if !hold.contains(&k) {
                writes += self.apply(d).await?;
            }
            kept.push(k);
        }
        kept.extend(keep(self));
        writes += self.delete_orphans(owner, &kept).await?;
        Ok(writes)
    }
}
