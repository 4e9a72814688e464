//! The controller: reconciles AgentClasses, LogPipelines and ClickHouseStores into the cluster and
//! ClickHouse. Each reconcile is the same short pipeline as `render`: read facts (caches fed by
//! watches) -> validate and build (the [`snapshot`], pure, computed once per change of the facts)
//! -> apply (server-side apply, only what differs from the live object) -> delete orphans ->
//! status (only when it changed) and Events (only on transitions).

pub mod cleanup;
pub mod metrics;
pub mod run;
pub mod snapshot;
pub mod status;

use crate::crd::{AgentClass, ClickHouseStore, DeletionPolicy, LogPipeline, StoreSchemaStatus};
use crate::inventory::{Inputs, NodeFacts, Settings};
use crate::meta::FIELD_MANAGER;
use crate::schema::apply::{self as schema_apply, Connection, Outcome, Record};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use snapshot::{Owner, Snapshot, Wanted};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The finalizer a pipeline with `deletionPolicy: Drop` carries until its tables are dropped.
pub const DROP_FINALIZER: &str = "otelhouse.dev/drop-tables";
/// How often an unchanged resource is looked at again.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Why a reconcile failed. "Not ready yet" is a status, not an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("ClickHouse store {store}: {message}")]
    ClickHouse { store: String, message: String },
    #[error("credentials of store {store}: {message}")]
    Credentials { store: String, message: String },
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// A small fixed set of categories, for metrics and Events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kubernetes",
            Error::ClickHouse { .. } => "clickhouse",
            Error::Credentials { .. } => "credentials",
            Error::Internal(_) => "internal",
        }
    }
}

/// A live object's key: kind, namespace ("" for cluster-scoped), name.
pub type ObjKey = (String, String, String);

pub fn key_of(w: &Wanted) -> ObjKey {
    (
        w.kind.clone(),
        w.namespace.clone().unwrap_or_default(),
        w.name.clone(),
    )
}

/// What the operator keeps of an object it manages: enough to decide whether to write, to
/// delete orphans and to report readiness, not the object itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    pub api_version: String,
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
}

/// A hash of what an object is, apart from what others legitimately change: its metadata (the
/// Deployment controller's revision annotation), its status, and a Deployment's replicas (its
/// HorizontalPodAutoscaler's). A generation would move when the autoscaler scales, and the
/// operator would then fight it.
pub fn fingerprint(kind: &str, v: &Value) -> String {
    let mut content = v.clone();
    if let Some(m) = content.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    if kind == "Deployment"
        && let Some(spec) = content.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.remove("replicas");
    }
    crate::meta::config_hash(&content.to_string())[..16].to_string()
}

impl Live {
    pub fn from_value(v: &Value) -> Self {
        let status_fields = [
            "desiredNumberScheduled",
            "numberReady",
            "readyReplicas",
            "replicas",
        ];
        let status: serde_json::Map<String, Value> = status_fields
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
            api_version: v["apiVersion"].as_str().unwrap_or_default().to_string(),
            owner: Owner::of(v),
            applied_hash: v
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(snapshot::APPLIED_HASH_ANNOTATION))
                .and_then(Value::as_str)
                .map(String::from),
            fingerprint: fingerprint(v["kind"].as_str().unwrap_or_default(), v),
            applied_fingerprint: None,
            summary,
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

/// What the reconcilers share.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub classes: Store<AgentClass>,
    pub pipelines: Store<LogPipeline>,
    pub stores: Store<ClickHouseStore>,
    /// Node name -> labels (a metadata-only watch, stripped to labels).
    pub nodes: RwLock<BTreeMap<String, NodeFacts>>,
    /// The objects we manage, as the API server last showed them.
    pub owned: RwLock<BTreeMap<ObjKey, Live>>,
    /// Bumped on every change of the facts the snapshot is built from.
    pub facts_version: AtomicU64,
    snapshot: Mutex<Option<(u64, Arc<Snapshot>)>>,
    /// (pipeline, store) -> (fingerprint of what was applied, its status), so an unchanged
    /// pipeline does not talk to ClickHouse again.
    schema_done: Mutex<HashMap<(String, String), (String, StoreSchemaStatus)>>,
    /// One ClickHouse client (and its connection pool) per store endpoint and credentials.
    clickhouse: Mutex<HashMap<String, clickhouse::Client>>,
    /// Consecutive failures per object, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
    pub metrics: metrics::Metrics,
    pub recorder: Recorder,
    /// This replica holds the Lease (always, without leader election).
    leading: AtomicBool,
    /// Every cache holds its first list: before that, an object missing from a cache may
    /// exist, and applying it as new would reset what others own.
    synced: AtomicBool,
    /// Kind -> why its installed CRD is stale (see [`run::check_crds`]).
    stale_crds: RwLock<BTreeMap<String, String>>,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        classes: Store<AgentClass>,
        pipelines: Store<LogPipeline>,
        stores: Store<ClickHouseStore>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "otelhouse".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Self {
            client,
            settings,
            classes,
            pipelines,
            stores,
            nodes: RwLock::default(),
            owned: RwLock::default(),
            facts_version: AtomicU64::new(1),
            snapshot: Mutex::default(),
            schema_done: Mutex::default(),
            clickhouse: Mutex::default(),
            failures: Mutex::default(),
            metrics: metrics::Metrics::default(),
            recorder,
            leading: AtomicBool::new(true),
            synced: AtomicBool::new(true),
            stale_crds: RwLock::default(),
        }
    }

    /// Record which installed CRDs are stale; returns whether that changed (then statuses
    /// change too: the snapshot is rebuilt).
    pub fn set_stale_crds(&self, stale: BTreeMap<String, String>) -> bool {
        for crd in crate::crd::all_crds() {
            let kind = &crd.spec.names.kind;
            let value = i64::from(stale.contains_key(kind));
            if value == 1 {
                tracing::error!(kind = %kind, message = %stale[kind], "stale CRD");
            }
            self.metrics
                .stale_crds
                .get_or_create(&metrics::CrdLabel {
                    crd: crd.metadata.name.clone().unwrap_or_default(),
                })
                .set(value);
        }
        let mut current = self.stale_crds.write().unwrap_or_else(|e| e.into_inner());
        if *current == stale {
            return false;
        }
        *current = stale;
        drop(current);
        self.touch();
        true
    }

    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }

    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::SeqCst);
    }

    /// Whether this replica reconciles: it leads and its caches are synced. The others return
    /// from a reconcile at once and are triggered for everything when they start to lead.
    pub fn is_active(&self) -> bool {
        self.leading.load(Ordering::SeqCst) && self.synced.load(Ordering::SeqCst)
    }

    /// The facts changed: the next reconcile rebuilds the snapshot.
    pub fn touch(&self) {
        self.facts_version.fetch_add(1, Ordering::SeqCst);
    }

    /// The snapshot of the current facts (built once per change).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let version = self.facts_version.load(Ordering::SeqCst);
        let mut cached = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, s)) = cached.as_ref()
            && *v == version
        {
            return s.clone();
        }
        let inputs = Inputs {
            classes: self.classes.state().iter().map(|c| (**c).clone()).collect(),
            pipelines: self
                .pipelines
                .state()
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| (**p).clone())
                .collect(),
            stores: self.stores.state().iter().map(|s| (**s).clone()).collect(),
            nodes: self
                .nodes
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect(),
        };
        let mut s = snapshot::build(inputs, &self.settings);
        s.stale_crds = self
            .stale_crds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let s = Arc::new(s);
        *cached = Some((version, s.clone()));
        s
    }

    /// The client for a connection, reused across reconciles (a client per call would keep a
    /// pool and a TLS configuration per call alive).
    pub fn clickhouse_client(&self, conn: &Connection) -> clickhouse::Client {
        let key = crate::meta::config_hash(&format!(
            "{}\n{}\n{}",
            conn.url,
            conn.user.as_deref().unwrap_or_default(),
            conn.password.as_deref().unwrap_or_default()
        ));
        let mut clients = self.clickhouse.lock().unwrap_or_else(|e| e.into_inner());
        clients.entry(key).or_insert_with(|| conn.client()).clone()
    }

    /// A managed object as a watch showed it (with apiVersion and kind): update the cache of
    /// live objects, keeping what our own apply learnt, and return its owner.
    pub fn observe_owned(&self, value: &Value, deleted: bool) -> Option<Owner> {
        let key: ObjKey = (
            value["kind"].as_str().unwrap_or_default().to_string(),
            value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        );
        let live = Live::from_value(value);
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

    fn owned_value(&self, key: &ObjKey) -> Option<Live> {
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
        let api = self.dynamic_api(&d.api_version, &d.kind, d.namespace.as_deref())?;
        let obj: DynamicObject = serde_json::from_str(&d.json)
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
                kind: d.kind.clone(),
            })
            .inc();
        if let Ok(mut v) = serde_json::to_value(&applied) {
            v["apiVersion"] = d.api_version.clone().into();
            v["kind"] = d.kind.clone().into();
            let mut live = Live::from_value(&v);
            live.applied_fingerprint = Some(live.fingerprint.clone());
            self.owned
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, live);
        }
        Ok(writes)
    }

    fn dynamic_api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, Error> {
        let ar = crate::kinds::Managed::from_kind(kind)
            .map(|m| m.api_resource())
            .filter(|ar| ar.api_version == api_version)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "{api_version} {kind} is not a kind the operator manages"
                ))
            })?;
        Ok(match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Delete the objects of `owner` that are not in `keep`.
    pub async fn delete_orphans(&self, owner: &Owner, keep: &[ObjKey]) -> Result<u32, Error> {
        let orphans: Vec<(ObjKey, String)> = self
            .owned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, v)| v.owner.as_ref() == Some(owner) && !keep.contains(k))
            .map(|(k, v)| (k.clone(), v.api_version.clone()))
            .collect();
        let mut deleted = 0;
        for ((kind, ns, name), api_version) in orphans {
            let api =
                self.dynamic_api(&api_version, &kind, (!ns.is_empty()).then_some(ns.as_str()))?;
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => {}
                // Already gone is what we wanted.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            self.owned
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(kind.clone(), ns, name));
            self.metrics
                .deleted
                .get_or_create(&metrics::KindLabel { kind })
                .inc();
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Apply an owner's desired objects and delete its orphans. Returns the writes.
    async fn sync_owner(&self, owner: &Owner, snapshot: &Snapshot) -> Result<u32, Error> {
        let desired: Vec<&Wanted> = snapshot.objects_of(owner).collect();
        let mut writes = 0;
        for d in &desired {
            writes += self.apply(d).await?;
        }
        let keep: Vec<ObjKey> = desired.iter().map(|d| key_of(d)).collect();
        writes += self.delete_orphans(owner, &keep).await?;
        Ok(writes)
    }

    fn backoff(&self, key: &str, failed: bool) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if !failed {
            f.remove(key);
            return RESYNC;
        }
        let n = f.entry(key.to_string()).or_insert(0);
        *n = (*n + 1).min(6);
        Duration::from_secs(5 << *n).min(RESYNC)
    }

    /// Record an Event on a resource; failing to record one never fails a reconcile.
    async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "could not record an Event");
        }
    }

    /// Patch the status subresource when it differs; an Event when Ready changed.
    async fn write_status<K, S>(&self, obj: &K, old: Option<&S>, new: &S) -> Result<bool, Error>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        S: serde::Serialize + AsRef<crate::crd::CommonStatus>,
    {
        let ready_changed = ready_transition(
            old.map(|o| o.as_ref().conditions.as_slice()),
            &new.as_ref().conditions,
        );
        let (old, new) = (old.map(status_value), status_value(new));
        if old.as_ref() == Some(&new) {
            return Ok(false);
        }
        let ar = ApiResource::erase::<K>(&());
        let api: Api<DynamicObject> = match obj.meta().namespace.as_deref() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": new,
        });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        if let Some((ready, reason, message)) = ready_changed {
            self.event(obj, !ready, &reason, message).await;
        }
        Ok(true)
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// A status as JSON (what is compared to decide whether to write).
fn status_value<S: serde::Serialize>(s: &S) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Whether Ready changed between two statuses, as (ready, reason, message) of the new one.
fn ready_transition(
    old: Option<&[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]>,
    new: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> Option<(bool, String, String)> {
    let before = old.and_then(status::ready_of);
    let after = status::ready_of(new)?;
    if before.as_ref() == Some(&after) {
        return None;
    }
    let message = new
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    Some((after.0 == "True", after.1, message))
}

// ------------------------------------------------------------------ AgentClass

/// Reconcile one AgentClass: the shared agent objects, the class's own, its status.
pub async fn reconcile_class(class: Arc<AgentClass>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.is_active() {
        return Ok(Action::await_change());
    }
    let _timer = Timer::start(&ctx, "agentclass");
    let name = class.name_any();
    let snapshot = ctx.snapshot();
    let key = format!("AgentClass {name}");
    if !snapshot.excluded.contains(&key) {
        ctx.sync_owner(&Owner::Agents, &snapshot).await?;
        ctx.sync_owner(&Owner::Class(name.clone()), &snapshot)
            .await?;
    }
    let ds_key = (
        "DaemonSet".to_string(),
        ctx.settings.agent_namespace.clone(),
        crate::agents::agent_name(&name),
    );
    let ds = ctx.owned_value(&ds_key).map(|l| l.summary);
    let overlaps: Vec<String> = snapshot
        .problems
        .get(&key)
        .into_iter()
        .flatten()
        .filter(|p| p.message.starts_with("classes overlap"))
        .flat_map(|p| {
            p.resource
                .trim_start_matches("AgentClass ")
                .split(", ")
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|c| *c != name)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let old = class.status.clone();
    let new = status::class_status(
        &name,
        class.metadata.generation,
        &snapshot,
        ds.as_ref(),
        overlaps,
        old.as_ref(),
        &now(),
    );
    ctx.write_status(&*class, old.as_ref(), &new).await?;
    Ok(Action::requeue(ctx.backoff(&key, false)))
}

// ------------------------------------------------------------------ LogPipeline

/// Reconcile one LogPipeline: its gateways, its schema in every store, its status.
pub async fn reconcile_pipeline(p: Arc<LogPipeline>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.is_active() {
        return Ok(Action::await_change());
    }
    let _timer = Timer::start(&ctx, "logpipeline");
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let pkey = format!("{ns}/{name}");
    if p.metadata.deletion_timestamp.is_some() {
        return finalize_pipeline(&p, &ctx).await;
    }
    ensure_finalizer(&p, &ctx).await?;
    let snapshot = ctx.snapshot();
    let owner = Owner::Pipeline {
        namespace: ns.clone(),
        name: name.clone(),
    };
    let res = format!("LogPipeline {pkey}");
    // A pipeline that is invalid keeps the gateways it has: a typo must not stop ingest.
    if !snapshot.excluded.contains(&res) {
        ctx.sync_owner(&owner, &snapshot).await?;
    }
    // Deleted pipelines' gateways (missed while the operator was down).
    sweep_deleted_pipelines(&ctx).await?;

    let mut schema = Vec::new();
    let mut failed = None;
    for (store_name, layouts) in snapshot.layouts.get(&pkey).into_iter().flatten() {
        let (st, err) = schema_for(&ctx, &p, &pkey, store_name, layouts).await;
        schema.push(st);
        failed = failed.or(err);
    }
    let deployments: Vec<Value> = ctx
        .owned
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|((kind, _, _), v)| kind == "Deployment" && v.owner.as_ref() == Some(&owner))
        .map(|(_, v)| v.summary.clone())
        .collect();
    let refs: Vec<&Value> = deployments.iter().collect();
    let old = p.status.clone();
    let new = status::pipeline_status(
        &pkey,
        p.metadata.generation,
        &snapshot,
        &refs,
        schema,
        p.spec.tables.len() as u32,
        old.as_ref(),
        &now(),
    );
    ctx.write_status(&*p, old.as_ref(), &new).await?;
    match failed {
        Some(e) => {
            ctx.event(&*p, true, e.category(), e.to_string()).await;
            Err(e)
        }
        None => Ok(Action::requeue(ctx.backoff(&res, false))),
    }
}

/// The store's connection, with the credentials from its Secret (read when needed, never
/// cached in a ConfigMap or copied).
async fn connection(ctx: &Context, store: &ClickHouseStore) -> Result<Connection, Error> {
    let creds = &store.spec.credentials;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let secret = secrets
        .get(&creds.secret_name)
        .await
        .map_err(|e| Error::Credentials {
            store: store.name_any(),
            message: format!(
                "Secret {}/{}: {e}",
                ctx.settings.namespace, creds.secret_name
            ),
        })?;
    let read = |key: &str| -> Result<String, Error> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .ok_or_else(|| Error::Credentials {
                store: store.name_any(),
                message: format!("Secret {} has no key {key}", creds.secret_name),
            })
    };
    Ok(Connection {
        url: store.spec.http_url.trim_end_matches('/').to_string(),
        user: Some(read(&creds.username_key)?),
        password: Some(read(&creds.password_key)?),
    })
}

/// Plan and apply a pipeline's schema in one store, unless that exact schema was applied there
/// already. Returns the status and, for an unreachable or failing store, the error to back off.
async fn schema_for(
    ctx: &Context,
    p: &LogPipeline,
    pkey: &str,
    store_name: &str,
    layouts: &[crate::schema::ddl::TableLayout],
) -> (StoreSchemaStatus, Option<Error>) {
    let fingerprint = crate::meta::config_hash(&format!("{layouts:?}"));
    let done_key = (pkey.to_string(), store_name.to_string());
    if let Some((fp, st)) = ctx
        .schema_done
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&done_key)
        && *fp == fingerprint
    {
        return (st.clone(), None);
    }
    let Some(store) = ctx
        .stores
        .state()
        .into_iter()
        .find(|s| s.name_any() == store_name)
    else {
        return (
            status_of(store_name, "Pending", None, Some("store not found".into())),
            None,
        );
    };
    let conn = match connection(ctx, &store).await {
        Ok(c) => c,
        Err(e) => {
            return (
                status_of(store_name, "Unreachable", None, Some(e.to_string())),
                Some(e),
            );
        }
    };
    let record = Record {
        pipeline: pkey.to_string(),
        generation: p.metadata.generation.unwrap_or(0),
        spec_hash: fingerprint.chars().take(16).collect(),
    };
    let outcome = schema_apply::apply(&ctx.clickhouse_client(&conn), layouts, &record, false).await;
    let generation = p.metadata.generation;
    let (st, err) = match &outcome {
        Outcome::UpToDate | Outcome::Applied { .. } => {
            (status_of(store_name, "Applied", generation, None), None)
        }
        Outcome::Pending { statements } => (
            status_of(
                store_name,
                "Pending",
                None,
                Some(format!("{} statements", statements.len())),
            ),
            None,
        ),
        Outcome::Refused { reasons, .. } => (
            status_of(store_name, "Refused", None, Some(reasons.join("; "))),
            None,
        ),
        Outcome::Unreachable { error } => (
            status_of(store_name, "Unreachable", None, Some(error.clone())),
            Some(Error::ClickHouse {
                store: store_name.to_string(),
                message: error.clone(),
            }),
        ),
        Outcome::Failed { error, .. } => (
            status_of(store_name, "Failed", None, Some(error.clone())),
            Some(Error::ClickHouse {
                store: store_name.to_string(),
                message: error.clone(),
            }),
        ),
    };
    if let Outcome::Applied { statements } = &outcome {
        ctx.event(
            p,
            false,
            "SchemaApplied",
            format!(
                "{} statement(s) applied in store {store_name}",
                statements.len()
            ),
        )
        .await;
    }
    if let Outcome::Refused { reasons, .. } = &outcome {
        ctx.event(
            p,
            true,
            "SchemaRefused",
            format!("store {store_name}: {}", reasons.join("; ")),
        )
        .await;
    }
    if err.is_none() && !matches!(outcome, Outcome::Refused { .. }) {
        ctx.schema_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(done_key, (fingerprint, st.clone()));
    }
    (st, err)
}

fn status_of(
    store: &str,
    state: &str,
    generation: Option<i64>,
    message: Option<String>,
) -> StoreSchemaStatus {
    StoreSchemaStatus {
        store: store.to_string(),
        state: state.to_string(),
        applied_generation: generation,
        message,
    }
}

/// Only `deletionPolicy: Drop` needs a finalizer (external state to remove); add or remove it.
async fn ensure_finalizer(p: &LogPipeline, ctx: &Context) -> Result<(), Error> {
    let has = p.finalizers().iter().any(|f| f == DROP_FINALIZER);
    let wants = p.spec.deletion_policy == DeletionPolicy::Drop;
    if has == wants {
        return Ok(());
    }
    let mut finalizers: Vec<String> = p
        .finalizers()
        .iter()
        .filter(|f| *f != DROP_FINALIZER)
        .cloned()
        .collect();
    if wants {
        finalizers.push(DROP_FINALIZER.to_string());
    }
    let api: Api<LogPipeline> =
        Api::namespaced(ctx.client.clone(), &p.namespace().unwrap_or_default());
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": p.resource_version()}});
    api.patch_metadata(
        &p.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// A pipeline being deleted with `deletionPolicy: Drop`: drop its tables in every store, remove
/// its gateways, then let it go.
async fn finalize_pipeline(p: &LogPipeline, ctx: &Context) -> Result<Action, Error> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    if p.spec.deletion_policy == DeletionPolicy::Drop
        && p.finalizers().iter().any(|f| f == DROP_FINALIZER)
    {
        for store_name in &p.spec.stores {
            let Some(store) = ctx
                .stores
                .state()
                .into_iter()
                .find(|s| s.name_any() == *store_name)
            else {
                continue;
            };
            let conn = connection(ctx, &store).await?;
            let client = ctx.clickhouse_client(&conn);
            for l in crate::schema::layouts(&p.spec, &store) {
                for sql in l.drop_all() {
                    client
                        .query(&sql)
                        .execute()
                        .await
                        .map_err(|e| Error::ClickHouse {
                            store: store_name.clone(),
                            message: e.to_string(),
                        })?;
                }
            }
            ctx.event(
                p,
                false,
                "TablesDropped",
                format!(
                    "dropped the tables of {ns}/{name} in store {store_name} (deletionPolicy: Drop)"
                ),
            )
            .await;
        }
    }
    cleanup_pipeline(ctx, &ns, &name).await?;
    if p.finalizers().iter().any(|f| f == DROP_FINALIZER) {
        let rest: Vec<String> = p
            .finalizers()
            .iter()
            .filter(|f| *f != DROP_FINALIZER)
            .cloned()
            .collect();
        let api: Api<LogPipeline> = Api::namespaced(ctx.client.clone(), &ns);
        let patch =
            json!({"metadata": {"finalizers": rest, "resourceVersion": p.resource_version()}});
        api.patch_metadata(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(Action::await_change())
}

/// A deleted pipeline: delete its gateway objects (its tables stay unless the policy drops
/// them, which the finalizer did before).
pub async fn cleanup_pipeline(ctx: &Context, namespace: &str, name: &str) -> Result<u32, Error> {
    ctx.schema_done
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(p, _), _| p != &format!("{namespace}/{name}"));
    let owner = Owner::Pipeline {
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    ctx.delete_orphans(&owner, &[]).await
}

/// Gateways of pipelines that no longer exist (deleted while nobody watched).
async fn sweep_deleted_pipelines(ctx: &Context) -> Result<(), Error> {
    let live: Vec<(String, String)> = ctx
        .pipelines
        .state()
        .iter()
        .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
        .collect();
    let gone: std::collections::BTreeSet<(String, String)> = ctx
        .owned
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter_map(|v| match v.owner.clone() {
            Some(Owner::Pipeline { namespace, name })
                if !live.contains(&(namespace.clone(), name.clone())) =>
            {
                Some((namespace, name))
            }
            _ => None,
        })
        .collect();
    for (ns, name) in gone {
        cleanup_pipeline(ctx, &ns, &name).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ ClickHouseStore

/// Reconcile one ClickHouseStore: can we reach it, which version, status.
pub async fn reconcile_store(
    store: Arc<ClickHouseStore>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if !ctx.is_active() {
        return Ok(Action::await_change());
    }
    let _timer = Timer::start(&ctx, "clickhousestore");
    let name = store.name_any();
    let snapshot = ctx.snapshot();
    let res = format!("ClickHouseStore {name}");
    let health = if snapshot.excluded.contains(&res) {
        Err("invalid".to_string())
    } else {
        match connection(&ctx, &store).await {
            Err(e) => Err(e.to_string()),
            Ok(conn) => ctx
                .clickhouse_client(&conn)
                .query("SELECT version()")
                .fetch_one::<String>()
                .await
                .map_err(|e| e.to_string()),
        }
    };
    let failed = health.is_err() && !snapshot.excluded.contains(&res);
    let old = store.status.clone();
    let new = status::store_status(
        &name,
        store.metadata.generation,
        &snapshot,
        health.clone(),
        old.as_ref(),
        &now(),
    );
    ctx.write_status(&*store, old.as_ref(), &new).await?;
    Ok(Action::requeue(ctx.backoff(&res, failed)))
}

/// Errors requeue with a growing backoff per object, are counted and become an Event.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let controller = match K::kind(&()).as_ref() {
        "AgentClass" => "agentclass",
        "LogPipeline" => "logpipeline",
        _ => "clickhousestore",
    };
    ctx.metrics
        .errors
        .get_or_create(&metrics::ErrorLabels {
            controller,
            category: error.category(),
        })
        .inc();
    tracing::warn!(kind = %K::kind(&()), name = %obj.name_any(), category = error.category(), error = %error, "reconcile failed");
    Action::requeue(ctx.backoff(&format!("{} {}", K::kind(&()), obj.name_any()), true))
}

/// Counts a reconcile and observes its duration when dropped.
struct Timer<'a> {
    ctx: &'a Context,
    controller: &'static str,
    start: std::time::Instant,
}

impl<'a> Timer<'a> {
    fn start(ctx: &'a Context, controller: &'static str) -> Self {
        ctx.metrics
            .reconciles
            .get_or_create(&metrics::ControllerLabel { controller })
            .inc();
        Self {
            ctx,
            controller,
            start: std::time::Instant::now(),
        }
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.ctx
            .metrics
            .duration
            .get_or_create(&metrics::ControllerLabel {
                controller: self.controller,
            })
            .observe(self.start.elapsed().as_secs_f64());
    }
}
