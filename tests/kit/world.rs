//! The controller's test world: the operator's context on the in-memory API server, its caches
//! filled as the watches would fill them, and the custom resources, Nodes and Secrets in place.

use super::api::{FakeApi, Recorded};
use kube::ResourceExt;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use otelhouse::controller::{self, Context};
use otelhouse::crd::{AgentClass, ClickHouseStore, LogPipeline};
use otelhouse::inventory::{Inputs, NodeFacts, Settings};
use serde_json::{Value, json};
use std::sync::Arc;

pub const CLASSES: &str = "otelhouse.dev/v1alpha1/agentclasses";
pub const PIPELINES: &str = "otelhouse.dev/v1alpha1/logpipelines";
pub const STORES: &str = "otelhouse.dev/v1alpha1/clickhousestores";

pub struct World {
    pub ctx: Arc<Context>,
    pub api: FakeApi,
    pub classes: Writer<AgentClass>,
    pub pipelines: Writer<LogPipeline>,
    pub stores: Writer<ClickHouseStore>,
}

/// A Secret of ClickHouse credentials, as a store names it (user `default`, empty password).
pub fn credentials_secret(namespace: &str, store: &ClickHouseStore) -> Value {
    let c = &store.spec.credentials;
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": c.secret_name, "namespace": namespace},
           "data": {c.username_key.clone(): "ZGVmYXVsdA==", c.password_key.clone(): ""}})
}

impl World {
    pub fn new(inputs: &Inputs) -> Self {
        Self::with_settings(inputs, super::settings())
    }

    pub fn with_settings(inputs: &Inputs, settings: Settings) -> Self {
        let api = FakeApi::new();
        Self::on(api, inputs, settings)
    }

    /// A world on an API server shared with others (several operators, one cluster).
    pub fn on(api: FakeApi, inputs: &Inputs, settings: Settings) -> Self {
        let mut w = Self::empty(api, settings);
        for c in &inputs.classes {
            w.add_class(c);
        }
        for p in &inputs.pipelines {
            w.add_pipeline(p);
        }
        for s in &inputs.stores {
            w.add_store(s);
        }
        for n in &inputs.nodes {
            w.add_node(n.clone());
        }
        w.api.take();
        w
    }

    /// A world with empty caches, to fill object by object as the watches' pages would (the
    /// controller bench, whose peak memory must be the operator's, not a whole platform's input).
    pub fn empty(api: FakeApi, settings: Settings) -> Self {
        let (cr, cw) = reflector::store::<AgentClass>();
        let (pr, pw) = reflector::store::<LogPipeline>();
        let (sr, sw) = reflector::store::<ClickHouseStore>();
        let ctx = Arc::new(Context::new(api.client(), settings, cr, pr, sr));
        World {
            ctx,
            api,
            classes: cw,
            pipelines: pw,
            stores: sw,
        }
    }

    pub fn add_class(&mut self, c: &AgentClass) {
        let v = self.api.seed("agentclasses", with_kind(c, "AgentClass"));
        self.classes
            .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
    }

    pub fn add_pipeline(&mut self, p: &LogPipeline) {
        let v = self.api.seed("logpipelines", with_kind(p, "LogPipeline"));
        self.pipelines
            .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
    }

    /// A store and the Secret of its credentials.
    pub fn add_store(&mut self, s: &ClickHouseStore) {
        let v = self
            .api
            .seed("clickhousestores", with_kind(s, "ClickHouseStore"));
        self.stores
            .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
        let secret = credentials_secret(&self.ctx.settings.namespace, s);
        self.api.seed("secrets", secret);
    }

    /// A Node on the server and in the operator's node cache.
    pub fn add_node(&mut self, n: NodeFacts) {
        self.api.seed(
            "nodes",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": &*n.name, "labels": n.labels.to_map()}}),
        );
        self.ctx.nodes.write().unwrap().insert(n.name.clone(), n);
    }

    /// Let the statuses (and finalizers) the server now holds flow back into the caches, as the
    /// watches would.
    pub fn sync_status(&mut self) {
        // The watches rebuild the snapshot when a spec or a deletion changes; doing it on every
        // sync is the conservative stand-in (the snapshot is a pure function of the facts).
        self.ctx.touch();
        self.sync_lean_statuses();
        for v in self.api.list(CLASSES) {
            self.classes
                .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
        }
        for v in self.api.list(PIPELINES) {
            self.pipelines
                .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
        }
        for v in self.api.list(STORES) {
            self.stores
                .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
        }
    }

    /// A lean server keeps only statuses: put them on the cached objects.
    fn sync_lean_statuses(&mut self) {
        for c in self.ctx.classes.state() {
            let path = format!("/apis/otelhouse.dev/v1alpha1/agentclasses/{}", c.name_any());
            if let Some(st) = self.api.status_at(&path) {
                let mut c = (*c).clone();
                c.status = serde_json::from_value(st).ok();
                self.classes.apply_watcher_event(&watcher::Event::Apply(c));
            }
        }
        for p in self.ctx.pipelines.state() {
            let path = format!(
                "/apis/otelhouse.dev/v1alpha1/namespaces/{}/logpipelines/{}",
                p.namespace().unwrap_or_default(),
                p.name_any()
            );
            if let Some(st) = self.api.status_at(&path) {
                let mut p = (*p).clone();
                p.status = serde_json::from_value(st).ok();
                self.pipelines
                    .apply_watcher_event(&watcher::Event::Apply(p));
            }
        }
        for s in self.ctx.stores.state() {
            let path = format!(
                "/apis/otelhouse.dev/v1alpha1/clickhousestores/{}",
                s.name_any()
            );
            if let Some(st) = self.api.status_at(&path) {
                let mut s = (*s).clone();
                s.status = serde_json::from_value(st).ok();
                self.stores.apply_watcher_event(&watcher::Event::Apply(s));
            }
        }
    }

    /// Change a pipeline as a user would (`kubectl apply`): the server moves its generation and
    /// the cache sees it.
    pub fn update_pipeline(&mut self, p: LogPipeline) {
        let v = self.api.seed("logpipelines", with_kind(&p, "LogPipeline"));
        self.pipelines
            .apply_watcher_event(&watcher::Event::Apply(serde_json::from_value(v).unwrap()));
        self.ctx.touch();
    }

    /// Feed the live object at `collection`/`namespace`/`name` to the operator as its watch of
    /// owned objects would.
    pub fn observe(&self, collection: &str, namespace: &str, name: &str) {
        let v = self
            .api
            .get(collection, namespace, name)
            .expect("object exists");
        let kind = otelhouse::kinds::Managed::from_kind(v["kind"].as_str().unwrap_or_default())
            .expect("a managed kind");
        self.ctx.observe_owned(kind, &v, false);
    }

    pub fn class(&self, name: &str) -> Arc<AgentClass> {
        self.ctx
            .classes
            .state()
            .into_iter()
            .find(|c| c.name_any() == name)
            .unwrap()
    }

    pub fn pipeline(&self, name: &str) -> Arc<LogPipeline> {
        self.ctx
            .pipelines
            .state()
            .into_iter()
            .find(|p| p.name_any() == name)
            .unwrap()
    }

    /// Reconcile every class, then every pipeline; return the requests and let statuses flow
    /// back.
    pub async fn reconcile_all(&mut self) -> Vec<Recorded> {
        for c in self.ctx.classes.state() {
            controller::reconcile_class(c, self.ctx.clone())
                .await
                .unwrap();
        }
        for p in self.ctx.pipelines.state() {
            controller::reconcile_pipeline(p, self.ctx.clone())
                .await
                .unwrap();
        }
        let out = self.api.take();
        self.sync_status();
        out
    }
}

/// A custom resource as JSON with apiVersion and kind (kube's derive serializes them).
pub fn with_kind<K: serde::Serialize>(obj: &K, kind: &str) -> Value {
    let mut v = serde_json::to_value(obj).unwrap();
    v["apiVersion"] = json!(otelhouse::crd::API_VERSION);
    v["kind"] = json!(kind);
    v
}

/// The server-side applies among requests (paths), not status patches or scale updates.
pub fn applies(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.is_apply())
        .map(|r| r.path.clone())
        .collect()
}

/// The tenant fixture with its store pointing at the test ClickHouse, in a fresh database.
pub fn tenant_inputs() -> Inputs {
    let url = super::clickhouse_url();
    let db = super::unique_database("ctl");
    let text = std::fs::read_to_string(super::root().join("tests/fixtures/tenant.yaml"))
        .unwrap()
        .replace(
            "httpUrl: http://ch:8123",
            &format!("httpUrl: {url}\n  database: {db}"),
        );
    let mut inputs = super::inputs_from(&text);
    for p in &mut inputs.pipelines {
        p.metadata.uid = Some("uid-p".into());
        p.metadata.generation = Some(1);
    }
    for c in &mut inputs.classes {
        c.metadata.uid = Some(format!("uid-{}", c.name_any()));
        c.metadata.generation = Some(1);
    }
    inputs
}
