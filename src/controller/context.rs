//! What the reconcilers share: the caches the watches fill, the snapshot of the current facts,
//! ClickHouse clients, the per-object backoff, metrics, Events and status writes.

use super::apply::{Live, ObjKey};
use super::snapshot::{self, Snapshot};
use super::{Error, metrics, status};
use crate::crd::{AgentClass, ClickHouseStore, LogPipeline, StoreSchemaStatus};
use crate::inventory::{Facts, NodeFacts, Settings};
use crate::meta::FIELD_MANAGER;
use crate::model::ResourceId;
use crate::schema::apply::Connection;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// What the reconcilers share.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub classes: Store<AgentClass>,
    pub pipelines: Store<LogPipeline>,
    pub stores: Store<ClickHouseStore>,
    /// Node name -> its facts (labels, taints).
    pub nodes: RwLock<BTreeMap<Arc<str>, NodeFacts>>,
    /// The objects we manage, as the API server last showed them.
    pub owned: RwLock<BTreeMap<ObjKey, Live>>,
    /// Bumped on every change of the facts the snapshot is built from.
    pub facts_version: AtomicU64,
    /// The facts version the last complete sweep of orphaned gateways ran at.
    swept_version: AtomicU64,
    snapshot: Mutex<Option<(u64, Arc<Snapshot>)>>,
    /// (pipeline, store) -> (fingerprint of what was applied, its status), so an unchanged
    /// pipeline does not talk to ClickHouse again.
    pub(crate) schema_done: Mutex<HashMap<(ResourceId, String), (String, StoreSchemaStatus)>>,
    /// One ClickHouse client (and its connection pool) per store endpoint and credentials.
    clickhouse: Mutex<HashMap<String, clickhouse::Client>>,
    /// Consecutive failures per resource, for the backoff.
    failures: Mutex<HashMap<ResourceId, u32>>,
    pub metrics: metrics::Metrics,
    pub recorder: Recorder,
    /// This replica holds the Lease (always, without leader election).
    leading: AtomicBool,
    /// Every cache holds its first list: before that, an object missing from a cache may
    /// exist, and applying it as new would reset what others own.
    synced: AtomicBool,
    /// Kind -> why its installed CRD is stale (see [`run::check_crds`]).
    stale_crds: RwLock<BTreeMap<String, String>>,
    /// One lock per pool: its members reconcile concurrently and all sync it.
    pool_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Config check Job -> why it failed (its pod's termination message, read once).
    check_messages: Mutex<HashMap<String, String>>,
    /// The flow loop's last scrape per collector pod and evaluation per resource
    /// ([`super::flow`]).
    pub(crate) flow: Mutex<super::flow::FlowState>,
    /// The usage loop's last figures per store and table ([`super::usage`]).
    pub(crate) usage: Mutex<super::usage::UsageState>,
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
            swept_version: AtomicU64::new(0),
            snapshot: Mutex::default(),
            schema_done: Mutex::default(),
            clickhouse: Mutex::default(),
            failures: Mutex::default(),
            metrics: metrics::Metrics::default(),
            recorder,
            leading: AtomicBool::new(true),
            synced: AtomicBool::new(true),
            stale_crds: RwLock::default(),
            pool_locks: Mutex::default(),
            check_messages: Mutex::default(),
            flow: Mutex::default(),
            usage: Mutex::default(),
        }
    }

    /// What the status says of a resource's flow health: nothing when the flow loop is off,
    /// else its last evaluation (None before the first).
    pub fn flow_of(&self, id: &ResourceId) -> status::Flow {
        if self.settings.flow_interval.is_zero() {
            return status::Flow::Off;
        }
        status::Flow::Watched(
            self.flow
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .health
                .get(id)
                .cloned()
                .map(Box::new),
        )
    }

    pub(crate) fn usage_state(&self) -> std::sync::MutexGuard<'_, super::usage::UsageState> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pipeline's tables' usage as last read (None before the first read, or with the usage
    /// loop off: the status keeps what it had).
    pub fn usage_of(&self, id: &ResourceId) -> Option<Vec<crate::schema::usage::TableUsage>> {
        super::usage::pipeline_tables(&self.usage_state(), &self.snapshot(), id)
    }

    /// A store's total and tenants as last read.
    pub fn tenants_of(
        &self,
        store: &str,
    ) -> Option<(
        crate::schema::usage::Volume,
        Vec<crate::schema::usage::TenantVolume>,
        u32,
    )> {
        super::usage::store_tenants(
            &self.usage_state(),
            &self.snapshot(),
            store,
            &self.settings.pricing,
        )
    }

    /// Why a config check Job failed, if already read.
    pub fn check_message(&self, job: &str) -> Option<String> {
        self.check_messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(job)
            .cloned()
    }

    pub fn set_check_message(&self, job: &str, message: &str) {
        let mut m = self
            .check_messages
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Jobs are named by their config: a few rejected ones at a time, not a growing set.
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(job.to_string(), message.to_string());
    }

    /// The lock of a pool's sync.
    pub fn pool_lock(&self, pool: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.pool_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(pool.to_string())
            .or_default()
            .clone()
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

    /// Whether the orphan sweep has not yet completed for this facts version.
    pub fn sweep_due(&self, version: u64) -> bool {
        self.swept_version.load(Ordering::SeqCst) != version
    }

    /// The orphan sweep completed for this facts version.
    pub fn swept(&self, version: u64) {
        self.swept_version.store(version, Ordering::SeqCst);
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
        // The old snapshot goes first (reconciles still running keep theirs): two at once
        // would be the operator's peak on a large platform.
        *cached = None;
        // The caches' own objects, borrowed: a copy of every pipeline and node per build would
        // be most of the build's peak.
        let classes = self.classes.state();
        let pipelines = self.pipelines.state();
        let stores = self.stores.state();
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        let facts = Facts {
            classes: classes.iter().map(|c| &**c).collect(),
            pipelines: pipelines
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| &**p)
                .collect(),
            stores: stores.iter().map(|s| &**s).collect(),
            nodes: nodes.values().collect(),
        };
        self.metrics.snapshot_builds.inc();
        let mut s = snapshot::build(&facts, &self.settings);
        drop(nodes);
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
}

impl Context {
    /// The requeue after a reconcile of `id`: the resync when it went well (and the failure
    /// count starts again), else 10 s doubling per consecutive failure up to 5 min.
    pub fn backoff(&self, id: &ResourceId, failed: bool) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if !failed {
            f.remove(id);
            return super::RESYNC;
        }
        let n = f.entry(id.clone()).or_insert(0);
        *n = (*n + 1).min(6);
        Duration::from_secs(5 << *n).min(super::RESYNC)
    }

    /// Record an Event on a resource; failing to record one never fails a reconcile.
    pub(crate) async fn event<K: Resource<DynamicType = ()>>(
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
    pub(crate) async fn write_status<K, S>(
        &self,
        obj: &K,
        old: Option<&S>,
        new: &S,
    ) -> Result<bool, Error>
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
