//! The controller against kube's tower-test mock API: every request a reconcile sends is
//! recorded and asserted. ClickHouse is the real engine (chdb) or `CLICKHOUSE_URL`.

mod common;

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use otelhouse::controller::{self, Context};
use otelhouse::crd::{AgentClass, ClickHouseStore, LogPipeline};
use otelhouse::inventory::Inputs;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request as the API server saw it.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

impl Recorded {
    fn short(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A scripted API server: records requests, answers applies by echoing the object (with a
/// resourceVersion), status patches likewise, Events with 201, deletes with 200, and GETs of
/// the stores' Secret with credentials.
struct FakeApi {
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Objects as the server holds them (path -> object), for statuses to flow back.
    objects: Arc<Mutex<BTreeMap<String, Value>>>,
}

fn fake_api() -> (Client, FakeApi) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let objects: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let (r, o) = (requests.clone(), objects.clone());
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes)
                .or_else(|_| serde_norway::from_slice(&bytes))
                .unwrap_or(Value::Null);
            let rec = Recorded {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: body.clone(),
            };
            r.lock().unwrap().push(rec.clone());
            let (status, answer) = match rec.method.as_str() {
                "PATCH" if rec.path.ends_with("/status") => {
                    let base = rec.path.trim_end_matches("/status").to_string();
                    let mut objs = o.lock().unwrap();
                    let obj = objs.entry(base).or_insert_with(|| json!({}));
                    obj["status"] = body["status"].clone();
                    (200, body)
                }
                "PATCH" => {
                    let mut obj = body.clone();
                    if obj.get("metadata").is_some() {
                        obj["metadata"]["resourceVersion"] = json!("1");
                        obj["metadata"]["generation"] = json!(1);
                    }
                    o.lock().unwrap().insert(rec.path.clone(), obj.clone());
                    (200, obj)
                }
                "POST" => (201, body),
                "DELETE" => {
                    o.lock().unwrap().remove(&rec.path);
                    (
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                    )
                }
                "GET" if rec.path.contains("/secrets/") => (
                    200,
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ch-us", "namespace": "otelhouse-system"},
                        "data": {"username": "ZGVmYXVsdA==", "pw": ""}}),
                ),
                _ => (
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "not found"}),
                ),
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    (
        Client::new(service, "default"),
        FakeApi { requests, objects },
    )
}

impl FakeApi {
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// The test world: the context and the writers of its caches.
struct World {
    ctx: Arc<Context>,
    api: FakeApi,
    classes: Writer<AgentClass>,
    pipelines: Writer<LogPipeline>,
    /// Kept so the stores' cache stays writable for the test's lifetime.
    _stores: Writer<ClickHouseStore>,
}

impl World {
    fn new(inputs: &Inputs) -> Self {
        let (client, api) = fake_api();
        let (cr, mut cw) = reflector::store::<AgentClass>();
        let (pr, mut pw) = reflector::store::<LogPipeline>();
        let (sr, mut sw) = reflector::store::<ClickHouseStore>();
        for c in &inputs.classes {
            cw.apply_watcher_event(&watcher::Event::Apply(c.clone()));
        }
        for p in &inputs.pipelines {
            pw.apply_watcher_event(&watcher::Event::Apply(p.clone()));
        }
        for s in &inputs.stores {
            sw.apply_watcher_event(&watcher::Event::Apply(s.clone()));
        }
        let ctx = Arc::new(Context::new(client, common::settings(), cr, pr, sr));
        for n in &inputs.nodes {
            ctx.nodes.write().unwrap().insert(n.name.clone(), n.clone());
        }
        World {
            ctx,
            api,
            classes: cw,
            pipelines: pw,
            _stores: sw,
        }
    }

    /// Let the statuses the server now holds flow back into the caches, as the watches would.
    fn sync_status(&mut self) {
        let objects = self.api.objects.lock().unwrap().clone();
        for c in self.ctx.classes.state() {
            let path = format!("/apis/otelhouse.dev/v1alpha1/agentclasses/{}", c.name_any());
            if let Some(st) = objects.get(&path).map(|o| o["status"].clone()) {
                let mut c = (*c).clone();
                c.status = serde_json::from_value(st).ok();
                self.classes.apply_watcher_event(&watcher::Event::Apply(c));
            }
        }
        for p in self.ctx.pipelines.state() {
            let path = format!(
                "/apis/otelhouse.dev/v1alpha1/namespaces/{}/logpipelines/{}",
                p.namespace().unwrap(),
                p.name_any()
            );
            if let Some(st) = objects.get(&path).map(|o| o["status"].clone()) {
                let mut p = (*p).clone();
                p.status = serde_json::from_value(st).ok();
                self.pipelines
                    .apply_watcher_event(&watcher::Event::Apply(p));
            }
        }
    }

    fn class(&self, name: &str) -> Arc<AgentClass> {
        self.ctx
            .classes
            .state()
            .into_iter()
            .find(|c| c.name_any() == name)
            .unwrap()
    }

    fn pipeline(&self, name: &str) -> Arc<LogPipeline> {
        self.ctx
            .pipelines
            .state()
            .into_iter()
            .find(|p| p.name_any() == name)
            .unwrap()
    }

    async fn reconcile_all(&mut self) -> Vec<Recorded> {
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

/// The tenant fixture with its store pointing at the test ClickHouse, in a fresh database.
fn tenant_inputs() -> Inputs {
    let url = common::clickhouse_url();
    let db = common::unique_database("ctl");
    let text = std::fs::read_to_string(common::root().join("tests/fixtures/tenant.yaml"))
        .unwrap()
        .replace(
            "httpUrl: http://ch:8123",
            &format!("httpUrl: {url}\n  database: {db}"),
        );
    let mut inputs = common::inputs_from(&text);
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

fn applies(reqs: &[Recorded]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.method == "PATCH" && !r.path.ends_with("/status"))
        .map(|r| r.path.clone())
        .collect()
}

#[tokio::test]
async fn create_applies_exactly_the_rendered_objects_then_an_idle_pass_writes_nothing() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    let reqs = w.reconcile_all().await;

    // Every apply is server-side apply with our field manager, forced, as YAML-or-JSON apply.
    for r in reqs.iter().filter(|r| r.method == "PATCH") {
        assert!(
            r.query.contains("fieldManager=otelhouse") && r.query.contains("force=true"),
            "{r:?}"
        );
        assert_eq!(r.content_type, "application/apply-patch+yaml", "{r:?}");
    }
    // Exactly what render builds, in apply order per owner.
    let rendered = otelhouse::render::render(&inputs, &common::settings()).unwrap();
    let mut want: Vec<String> = rendered
        .objects
        .iter()
        .map(|d| {
            let (group_path, plural) = match d.kind.as_str() {
                "ClusterRole" => ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"),
                "ClusterRoleBinding" => {
                    ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings")
                }
                "ServiceAccount" => ("/api/v1", "serviceaccounts"),
                "ConfigMap" => ("/api/v1", "configmaps"),
                "Service" => ("/api/v1", "services"),
                "DaemonSet" => ("/apis/apps/v1", "daemonsets"),
                "Deployment" => ("/apis/apps/v1", "deployments"),
                "HorizontalPodAutoscaler" => ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
                "PodDisruptionBudget" => ("/apis/policy/v1", "poddisruptionbudgets"),
                k => panic!("{k}"),
            };
            match &d.namespace {
                Some(ns) => format!("{group_path}/namespaces/{ns}/{plural}/{}", d.name),
                None => format!("{group_path}/{plural}/{}", d.name),
            }
        })
        .collect();
    let mut got = applies(&reqs);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Every body is the rendered object.
    for d in &rendered.objects {
        let r = reqs
            .iter()
            .find(|r| {
                r.method == "PATCH"
                    && r.path.ends_with(&format!("/{}", d.name))
                    && r.body["kind"] == d.kind.as_str()
            })
            .unwrap();
        let mut body = r.body.clone();
        let annotations = body["metadata"]["annotations"].as_object_mut().unwrap();
        // The controller adds the hash of what it applied, nothing else.
        assert!(annotations.remove("otelhouse.dev/applied-hash").is_some());
        assert_eq!(body, d.object, "{}", d.name);
    }
    // Statuses: one per resource, and an Event for each Ready transition.
    let statuses: Vec<String> = reqs
        .iter()
        .filter(|r| r.path.ends_with("/status"))
        .map(Recorded::short)
        .collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(
        reqs.iter()
            .any(|r| r.method == "POST" && r.path.contains("/events"))
    );
    // The schema was applied in the store.
    let status = w.pipeline("app").status.clone().unwrap();
    assert_eq!(status.stores[0].state, "Applied", "{status:?}");

    // Every object the controller sent passes the same schema validation as render's output.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sent.yaml");
    let sent: String = reqs
        .iter()
        .filter(|r| r.method == "PATCH" && !r.path.ends_with("/status"))
        .map(|r| format!("---\n{}", serde_norway::to_string(&r.body).unwrap()))
        .collect();
    std::fs::write(&file, sent).unwrap();
    let crds = common::root().join("crds");
    let (ok, text) = common::run_tool(
        "k8s_validate.py",
        &[
            "--k8s-version",
            otelhouse::MIN_KUBERNETES_VERSION,
            "--crds",
            crds.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok && text.contains(" 0 failed"), "{text}");

    // Nothing changed: no patch, no status, no Event, no read of the Secret.
    let idle = w.reconcile_all().await;
    assert!(
        idle.is_empty(),
        "an idle pass sent: {:?}",
        idle.iter().map(Recorded::short).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_change_applies_only_the_changed_objects() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    w.reconcile_all().await;
    // Bigger batches: the region's gateway ConfigMap and, through the config hash, the zones'
    // Deployments change; nothing else.
    let mut p = (*w.pipeline("app")).clone();
    p.spec.gateway.batch.rows = 20_000;
    p.metadata.generation = Some(2);
    w.pipelines.apply_watcher_event(&watcher::Event::Apply(p));
    w.ctx.touch();
    let reqs = w.reconcile_all().await;
    let mut got = applies(&reqs);
    got.sort();
    assert_eq!(
        got,
        vec![
            "/api/v1/namespaces/otelhouse-system/configmaps/otelhouse-gw-team-a-app-us-east-1",
            "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse-gw-team-a-app-us-east-1a",
            "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse-gw-team-a-app-us-east-1b",
        ]
    );
    // The new generation is observed in status.
    let status = w.pipeline("app").status.clone().unwrap();
    assert_eq!(status.common.observed_generation, Some(2));
}

#[tokio::test]
async fn a_node_in_a_new_zone_gets_a_gateway_and_agent_coverage() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    w.reconcile_all().await;
    let mut labels = BTreeMap::new();
    labels.insert(
        "topology.kubernetes.io/zone".to_string(),
        "us-east-1c".to_string(),
    );
    labels.insert(
        "topology.kubernetes.io/region".to_string(),
        "us-east-1".to_string(),
    );
    w.ctx.nodes.write().unwrap().insert(
        "n3".into(),
        otelhouse::inventory::NodeFacts::new("n3", labels),
    );
    w.ctx.touch();
    let reqs = w.reconcile_all().await;
    let got = applies(&reqs);
    for want in [
        "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse-gw-team-a-app-us-east-1c",
        "/apis/autoscaling/v2/namespaces/otelhouse-system/horizontalpodautoscalers/otelhouse-gw-team-a-app-us-east-1c",
        "/apis/policy/v1/namespaces/otelhouse-system/poddisruptionbudgets/otelhouse-gw-team-a-app-us-east-1c",
    ] {
        assert!(got.contains(&want.to_string()), "{want} not in {got:#?}");
    }
    // The class now covers three nodes.
    assert_eq!(w.class("all").status.clone().unwrap().nodes, Some(3));
    let z: Vec<String> = w
        .pipeline("app")
        .status
        .clone()
        .unwrap()
        .gateways
        .unwrap()
        .zones
        .iter()
        .map(|z| z.zone.clone())
        .collect();
    assert_eq!(z, vec!["us-east-1a", "us-east-1b", "us-east-1c"]);
}

#[tokio::test]
async fn overlapping_classes_get_a_condition_on_both_and_keep_their_agents() {
    let mut inputs = tenant_inputs();
    let extra = common::inputs_from(
        r#"
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: pool-a}
spec: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [a]}]}], expectedLinesPerSecond: 1, resources: {limits: {memory: 128Mi}}}
---
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: pool-b}
spec: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: Exists}]}], expectedLinesPerSecond: 1, resources: {limits: {memory: 128Mi}}}
---
apiVersion: v1
kind: Node
metadata: {name: n9, labels: {pool: a, topology.kubernetes.io/zone: us-east-1a, topology.kubernetes.io/region: us-east-1}}
"#,
    );
    inputs.classes.extend(extra.classes);
    inputs.nodes.extend(extra.nodes);
    let mut w = World::new(&inputs);
    let reqs = w.reconcile_all().await;
    for class in ["pool-a", "pool-b"] {
        let st = w.class(class).status.clone().unwrap();
        let degraded = st
            .common
            .conditions
            .iter()
            .find(|c| c.type_ == "Degraded")
            .unwrap();
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "Overlap"),
            "{class}"
        );
        assert!(
            degraded
                .message
                .contains("node n9 is selected by pool-a and pool-b"),
            "{}",
            degraded.message
        );
        let other = if class == "pool-a" {
            "pool-b"
        } else {
            "pool-a"
        };
        assert_eq!(st.overlaps_with, vec![other.to_string()]);
        // No DaemonSet is created for an invalid class.
        assert!(
            !applies(&reqs)
                .iter()
                .any(|p| p.ends_with(&format!("otelhouse-agent-{class}")))
        );
    }
    // The valid class is unaffected.
    assert!(
        applies(&reqs)
            .iter()
            .any(|p| p.ends_with("daemonsets/otelhouse-agent-all"))
    );
    // A Warning Event names the problem.
    assert!(reqs.iter().any(|r| r.method == "POST"
        && r.body["type"] == "Warning"
        && r.body["reason"] == "Overlap"));
}

#[tokio::test]
async fn an_unreachable_store_is_a_condition_and_a_requeue_not_a_panic() {
    let mut inputs = tenant_inputs();
    inputs.stores[0].spec.http_url = "http://127.0.0.1:9".into();
    let w = World::new(&inputs);
    let p = w.pipeline("app");
    let err = controller::reconcile_pipeline(p.clone(), w.ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(err.category(), "clickhouse");
    let action = controller::error_policy(p, &err, w.ctx.clone());
    assert!(
        format!("{action:?}").contains("requeue_after: Some(10s)"),
        "{action:?}"
    );
    let reqs = w.api.take();
    let status = reqs.iter().find(|r| r.path.ends_with("/status")).unwrap();
    assert_eq!(status.body["status"]["stores"][0]["state"], "Unreachable");
    let degraded = status.body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Degraded")
        .unwrap();
    assert_eq!(degraded["reason"], "SchemaUnreachable");
    // The gateways were still applied: ingest does not wait for the schema store.
    assert!(applies(&reqs).iter().any(|p| p.contains("/deployments/")));
    // The store's own status says unreachable too.
    let s = w.ctx.stores.state()[0].clone();
    controller::reconcile_store(s, w.ctx.clone()).await.unwrap();
    let reqs = w.api.take();
    let st = reqs.iter().find(|r| r.path.ends_with("/status")).unwrap();
    assert_eq!(st.body["status"]["reachable"], false);
    assert!(
        st.body["status"]["lastError"]
            .as_str()
            .unwrap()
            .contains("network error")
    );
}

#[tokio::test]
async fn deletion_removes_the_gateways_and_keeps_the_tables_by_default() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    let p = w.pipeline("app");
    w.pipelines
        .apply_watcher_event(&watcher::Event::Delete((*p).clone()));
    w.ctx.touch();
    let deleted = controller::cleanup_pipeline(&w.ctx, "team-a", "app")
        .await
        .unwrap();
    let reqs = w.api.take();
    let deletes: Vec<&Recorded> = reqs.iter().filter(|r| r.method == "DELETE").collect();
    // Service, region ConfigMap, and per zone (2) a Deployment, HPA and PDB.
    assert_eq!(deleted, 8);
    assert_eq!(deletes.len(), 8, "{reqs:?}");
    assert!(
        reqs.iter().all(|r| r.method == "DELETE"),
        "only deletes: {reqs:?}"
    );
    // The tables are still there (Retain).
    let db = inputs.stores[0].spec.database.clone();
    let client = clickhouse::Client::default().with_url(common::clickhouse_url());
    let n: u64 = client
        .query(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE 'app_logs%'"
        ))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 3);
    // The agents no longer route to it (the shared config changes on the next class pass).
    let reqs = w.reconcile_all().await;
    assert!(
        applies(&reqs)
            .iter()
            .any(|p| p.ends_with("configmaps/otelhouse-agent-pipelines"))
    );
}

#[tokio::test]
async fn deletion_policy_drop_uses_a_finalizer_and_drops_the_tables() {
    let mut inputs = tenant_inputs();
    inputs.pipelines[0].spec.deletion_policy = otelhouse::crd::DeletionPolicy::Drop;
    let mut w = World::new(&inputs);
    let reqs = w.reconcile_all().await;
    let fin = reqs
        .iter()
        .find(|r| r.method == "PATCH" && r.content_type == "application/merge-patch+json")
        .unwrap();
    assert_eq!(
        fin.body["metadata"]["finalizers"],
        json!(["otelhouse.dev/drop-tables"])
    );
    let mut p = (*w.pipeline("app")).clone();
    p.metadata.finalizers = Some(vec![controller::DROP_FINALIZER.into()]);
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    w.pipelines
        .apply_watcher_event(&watcher::Event::Apply(p.clone()));
    controller::reconcile_pipeline(Arc::new(p), w.ctx.clone())
        .await
        .unwrap();
    let reqs = w.api.take();
    let db = inputs.stores[0].spec.database.clone();
    let client = clickhouse::Client::default().with_url(common::clickhouse_url());
    let n: u64 = client
        .query(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE 'app_logs%'"
        ))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 0, "tables dropped");
    assert_eq!(reqs.iter().filter(|r| r.method == "DELETE").count(), 8);
    let last = reqs.iter().rev().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(
        last.body["metadata"]["finalizers"],
        json!([]),
        "finalizer removed last"
    );
}

#[tokio::test]
async fn a_hand_edit_of_a_managed_object_is_reverted() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    assert!(w.reconcile_all().await.is_empty());
    // Someone scales a gateway Deployment by hand: its generation moves past ours.
    let key = (
        "Deployment".to_string(),
        "otelhouse-system".to_string(),
        "otelhouse-gw-team-a-app-us-east-1a".to_string(),
    );
    {
        let mut owned = w.ctx.owned.write().unwrap();
        let live = owned.get_mut(&key).unwrap();
        live.generation = Some(live.generation.unwrap_or(1) + 1);
    }
    let reqs = w.reconcile_all().await;
    assert_eq!(
        applies(&reqs),
        vec![format!(
            "/apis/apps/v1/namespaces/otelhouse-system/deployments/{}",
            key.2
        )]
    );
}
