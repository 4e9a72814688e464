//! The chart's RBAC is exactly what the operator uses: every request the operator sends in the
//! scenarios below is allowed by the RBAC objects the Helm chart renders for its ServiceAccount
//! (evaluated as kube-apiserver's RBAC authorizer does, `kit::rbac`), and every grant the chart
//! gives it is used by some request. The scenarios: `otelhouse run` with leader election from
//! start to shutdown, the reconcile scenarios (create, a change, an unreachable store twice,
//! deletion with `deletionPolicy: Drop`), and the uninstall cleanup.

mod kit;

use kit::api::{FakeApi, Recorded};
use kit::rbac::{Rbac, RequestInfo, request_info};
use kit::world::{World, tenant_inputs};
use kube::api::{Api, DeleteParams};
use otelhouse::controller::{self, run};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const NS: &str = "otelhouse-system";
/// The release is `otelhouse`: its ServiceAccount is the chart's full name.
const SA: &str = "otelhouse";

/// Requests of `otelhouse run` (with leader election) from start to a clean shutdown.
async fn run_requests() -> Vec<Recorded> {
    let api = FakeApi::new();
    for crd in otelhouse::crd::all_crds() {
        let mut v = serde_json::to_value(crd).unwrap();
        v["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
        api.seed("customresourcedefinitions", v);
    }
    drop(World::on(api.clone(), &tenant_inputs(), kit::settings()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stop = CancellationToken::new();
    let config = run::RunConfig {
        settings: kit::settings(),
        leader_elect: true,
        metrics_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        lease: run::LeaseTiming {
            duration: 3,
            grace: 1,
        },
    };
    let task = tokio::spawn(run::run_with(api.client(), config, stop.clone()));
    let start = std::time::Instant::now();
    // Until every kind's status was written once (the stores' too).
    while !api
        .requests()
        .iter()
        .any(|r| r.path.contains("/clickhousestores/") && r.path.ends_with("/status"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the operator never wrote a store's status"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    api.take()
}

/// Requests of the reconcile scenarios and the cleanup.
async fn scenario_requests() -> Vec<Recorded> {
    let mut out = Vec::new();
    // Create, then a change; one pool buffers in memory (Deployments), a dedicated one on disk
    // (StatefulSets).
    let mut inputs = tenant_inputs();
    let mut disk = inputs.pipelines[0].clone();
    disk.metadata.name = Some("audit".into());
    disk.spec.gateway.dedicated = true;
    disk.spec.gateway.buffer.duration =
        kube::core::Duration::from(std::time::Duration::from_secs(7200));
    disk.spec.tables[0].name = "audit_logs".into();
    inputs.pipelines.push(disk);
    let mut w = World::new(&inputs);
    out.extend(w.reconcile_all().await);
    // A change is checked first (a Job, its pod's message read when it fails), then rolled out
    // (and the check collected).
    // A pod selector changes the agents' config too (their checks run in their namespace).
    for (rows, app, refused) in [
        (20_000, None, true),
        (30_000, Some("web"), true),
        (30_000, Some("api"), false),
    ] {
        let mut p = (*w.pipeline("app")).clone();
        p.spec.gateway.batch.rows = rows;
        p.spec.sources.pod_selector =
            app.map(|a| serde_json::from_value(json!({"matchLabels": {"app": a}})).unwrap());
        w.update_pipeline(p);
        out.extend(w.reconcile_all().await);
        finish_checks(&w, refused).await;
        out.extend(w.reconcile_all().await);
    }

    // An unreachable store, twice: the same Warning is an Event patched, not a second one.
    let mut bad = tenant_inputs();
    bad.stores[0].spec.http_url = "http://127.0.0.1:9".into();
    let w2 = World::new(&bad);
    for _ in 0..2 {
        let _ = controller::reconcile_pipeline(w2.pipeline("app"), w2.ctx.clone()).await;
    }
    out.extend(w2.api.take());

    // Deletion with Drop: the finalizer, the tables, the gateways.
    let mut drop_inputs = tenant_inputs();
    drop_inputs.pipelines[0].spec.deletion_policy = otelhouse::crd::DeletionPolicy::Drop;
    let mut w3 = World::new(&drop_inputs);
    out.extend(w3.reconcile_all().await);
    let user: Api<otelhouse::crd::LogPipeline> =
        Api::namespaced(w3.api.client_as("user"), "team-a");
    user.delete("app", &DeleteParams::default()).await.unwrap();
    w3.api.take();
    w3.sync_status();
    controller::reconcile_pipeline(w3.pipeline("app"), w3.ctx.clone())
        .await
        .unwrap();
    out.extend(w3.api.take());

    // The uninstall hook: stop the operator, delete what it made (the first world's objects).
    w.api.seed(
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": SA, "namespace": NS},
               "spec": {"replicas": 2}, "status": {"replicas": 0}}),
    );
    w.api.take();
    let deleted = controller::cleanup::cleanup(w.api.client(), &kit::settings(), Some(SA))
        .await
        .unwrap();
    assert!(deleted >= 10, "{deleted}");
    out.extend(w.api.take());
    out
}

/// Every config check Job ends, failed (with its pod) or succeeded, as the Job controller ends
/// it; the operator's Job watch sees it (tests/controller.rs has the scenario in detail).
async fn finish_checks(w: &World, refused: bool) {
    use k8s_openapi::api::batch::v1::Job;
    use kube::api::{Patch, PatchParams};
    for job in w.api.list("batch/v1/jobs") {
        let name = job["metadata"]["name"].as_str().unwrap().to_string();
        let ns = job["metadata"]["namespace"].as_str().unwrap().to_string();
        let jobs: Api<Job> = Api::namespaced(w.api.client_as("kube-controller-manager"), &ns);
        let (type_, reason) = if refused {
            ("Failed", "BackoffLimitExceeded")
        } else {
            ("Complete", "CompletionsReached")
        };
        let status = json!({"status": {"conditions": [{"type": type_, "status": "True", "reason": reason}]}});
        jobs.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
        if refused {
            w.api.seed(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{name}-x7k2p"), "namespace": ns,
                                 "labels": {"batch.kubernetes.io/job-name": name}},
                    "status": {"phase": "Failed", "containerStatuses": [{"name": "validate",
                        "state": {"terminated": {"exitCode": 1, "message": "Error: refused"}}}]}}),
            );
        }
        w.observe("batch/v1/jobs", &ns, &name);
    }
    w.api.take();
}

/// What the API server authorizes for a request: its attributes, and `create` as well when a
/// patch created the object.
fn attributes(r: &Recorded) -> Vec<RequestInfo> {
    let info = request_info(&r.method, &r.path, &r.query);
    let mut out = vec![info.clone()];
    if r.status == 201
        && let Some(create) = info.create_on_update()
    {
        out.push(create);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_allowed_and_every_grant_is_used() {
    let mut requests = run_requests().await;
    requests.extend(scenario_requests().await);
    let ours: Vec<&Recorded> = requests.iter().filter(|r| r.client == "operator").collect();
    let infos: Vec<RequestInfo> = ours.iter().flat_map(|r| attributes(r)).collect();

    let chart = kit::render_chart(NS, &json!({}));
    let rbac = Rbac::from_objects_in(&chart, NS);
    assert!(
        rbac.dangling_role_refs().is_empty(),
        "{:?}",
        rbac.dangling_role_refs()
    );

    let denied: Vec<String> = ours
        .iter()
        .flat_map(|r| attributes(r).into_iter().map(move |i| (r, i)))
        .filter(|(_, i)| rbac.authorize(NS, SA, i).is_none())
        .map(|(r, i)| format!("{} {}?{} -> {i}", r.method, r.path, r.query))
        .collect();
    assert!(
        denied.is_empty(),
        "denied by the chart's RBAC:\n{}",
        denied.join("\n")
    );

    let unused: Vec<String> = rbac
        .unused_grants(NS, SA, &infos)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        unused.is_empty(),
        "granted but never used:\n{}",
        unused.join("\n")
    );

    // The operator writes no RBAC and reads nothing cluster-wide but its own resources, nodes and
    // its CRDs.
    assert!(
        !ours
            .iter()
            .any(|r| r.path.contains("rbac.authorization.k8s.io"))
    );
    assert!(
        !ours
            .iter()
            .any(|r| r.path.contains("/namespaces/") && r.path.ends_with("namespaces"))
    );
    // Pods only to read a config check's message: its own pods, in the gateways' and the
    // agents' namespaces.
    let pod_reads: Vec<&&Recorded> = ours.iter().filter(|r| r.path.contains("/pods")).collect();
    for ns in [NS, otelhouse::inventory::DEFAULT_AGENT_NAMESPACE] {
        assert!(
            pod_reads
                .iter()
                .any(|r| r.path == format!("/api/v1/namespaces/{ns}/pods"))
        );
    }
    for r in pod_reads {
        assert!(r.path.ends_with("/pods") && r.method == "GET", "{r:?}");
        assert!(
            r.param("labelSelector")
                .is_some_and(|s| s.starts_with("batch.kubernetes.io/job-name=")),
            "{r:?}"
        );
    }
}

/// The evaluation is not vacuous: a chart without the agents' Role denies the DaemonSet applies,
/// and an extra verb is reported as unused.
#[tokio::test]
async fn a_missing_or_extra_grant_is_caught() {
    let requests = scenario_requests().await;
    let ours: Vec<&Recorded> = requests.iter().filter(|r| r.client == "operator").collect();
    let chart = kit::render_chart(NS, &json!({}));
    let without_agents_role: Vec<serde_json::Value> = chart
        .iter()
        .filter(|o| !(o["kind"] == "Role" && o["metadata"]["namespace"] == "otelhouse-agents"))
        .cloned()
        .collect();
    let rbac = Rbac::from_objects_in(&without_agents_role, NS);
    assert!(ours.iter().any(|r| {
        r.path.contains("/daemonsets/")
            && attributes(r)
                .iter()
                .any(|i| rbac.authorize(NS, SA, i).is_none())
    }));
    let mut extra = chart.clone();
    for o in &mut extra {
        if o["kind"] == "ClusterRole" && o["metadata"]["name"] == SA {
            o["rules"]
                .as_array_mut()
                .unwrap()
                .push(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}));
        }
    }
    let rbac = Rbac::from_objects_in(&extra, NS);
    let infos: Vec<RequestInfo> = ours.iter().flat_map(|r| attributes(r)).collect();
    assert!(
        rbac.unused_grants(NS, SA, &infos)
            .iter()
            .any(|g| g.to_string().contains("pods"))
    );
}
