//! The controller against the test kit's in-memory API server: every request a reconcile sends
//! is recorded and asserted. ClickHouse is the real engine (chdb) or `CLICKHOUSE_URL`.

mod kit;

use kit::api::Recorded;
use kit::world::{World, applies, tenant_inputs};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use otelhouse::controller;
use serde_json::json;
use std::collections::BTreeMap;

/// The API path of a rendered object.
fn path_of(d: &otelhouse::meta::Desired) -> String {
    let (group_path, plural) = match d.kind.as_str() {
        "ConfigMap" => ("/api/v1", "configmaps"),
        "Service" => ("/api/v1", "services"),
        "DaemonSet" => ("/apis/apps/v1", "daemonsets"),
        "Deployment" => ("/apis/apps/v1", "deployments"),
        "HorizontalPodAutoscaler" => ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
        "PodDisruptionBudget" => ("/apis/policy/v1", "poddisruptionbudgets"),
        "NetworkPolicy" => ("/apis/networking.k8s.io/v1", "networkpolicies"),
        k => panic!("{k}"),
    };
    match &d.namespace {
        Some(ns) => format!("{group_path}/namespaces/{ns}/{plural}/{}", d.name),
        None => format!("{group_path}/{plural}/{}", d.name),
    }
}

const NS: &str = "otelhouse-system";
const JOBS: &str = "batch/v1/jobs";

/// The names of the config check Jobs on the server.
fn check_jobs(w: &World) -> Vec<String> {
    w.api
        .list(JOBS)
        .iter()
        .map(|j| j["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// A check Job ends as the Job controller and the kubelet end it, and the operator's watch of
/// Jobs sees it. The Job's status as batch/v1 documents it for `backoffLimit: 0` and one pod
/// (Kubernetes 1.31+: `FailureTarget` then `Failed`, reason `BackoffLimitExceeded`, once the
/// pod failed; `SuccessCriteriaMet` then `Complete` once it succeeded); its pod as the kubelet
/// leaves it: labelled with its Job's name, the container terminated with its exit code and,
/// by `terminationMessagePolicy: FallbackToLogsOnError`, the end of its log as the message
/// when it failed.
async fn finish_check(w: &World, name: &str, error: Option<&str>) {
    finish_check_in(w, NS, name, error).await
}

async fn finish_check_in(w: &World, ns: &str, name: &str, error: Option<&str>) {
    use k8s_openapi::api::batch::v1::Job;
    let t = "2026-01-01T00:00:00Z";
    let cond = |type_: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": "True", "reason": reason, "message": message,
               "lastProbeTime": t, "lastTransitionTime": t})
    };
    let status = match error {
        None => json!({"startTime": t, "completionTime": t, "active": 0, "ready": 0,
            "terminating": 0, "succeeded": 1, "uncountedTerminatedPods": {},
            "conditions": [
                cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods")]}),
        Some(_) => json!({"startTime": t, "active": 0, "ready": 0, "terminating": 0,
            "failed": 1, "uncountedTerminatedPods": {},
            "conditions": [
                cond("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]}),
    };
    let jobs: Api<Job> = Api::namespaced(w.api.client_as("kube-controller-manager"), ns);
    jobs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .unwrap();
    let job = w.api.get(JOBS, ns, name).unwrap();
    let mut terminated = json!({"exitCode": if error.is_some() { 1 } else { 0 },
        "reason": if error.is_some() { "Error" } else { "Completed" },
        "startedAt": t, "finishedAt": t, "containerID": "containerd://1"});
    if let Some(e) = error {
        terminated["message"] = json!(e);
    }
    w.api.seed(
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{name}-x7k2p"), "namespace": ns,
                "labels": {"batch.kubernetes.io/job-name": name, "job-name": name,
                           "batch.kubernetes.io/controller-uid": job["metadata"]["uid"]}},
            "spec": job["spec"]["template"]["spec"],
            "status": {"phase": if error.is_some() { "Failed" } else { "Succeeded" },
                "containerStatuses": [{"name": "validate", "ready": false, "restartCount": 0,
                    "image": job["spec"]["template"]["spec"]["containers"][0]["image"],
                    "imageID": "", "state": {"terminated": terminated}}]}}),
    );
    w.api.take();
    w.observe(JOBS, ns, name);
}

/// Every check Job on the server succeeds.
async fn pass_checks(w: &World) {
    pass_checks_in(w, NS).await
}

/// Every check Job in a namespace succeeds.
async fn pass_checks_in(w: &World, ns: &str) {
    let jobs: Vec<String> = w
        .api
        .list(JOBS)
        .iter()
        .filter(|j| j["metadata"]["namespace"] == ns)
        .map(|j| j["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!jobs.is_empty(), "no config check to pass in {ns}");
    for j in jobs {
        finish_check_in(w, ns, &j, None).await;
    }
}

/// What the collector's `validate` says of a refused config (its output as the real binary
/// prints it, tests/collector.rs).
const REFUSED: &str = "Error: processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'\n2026/01/01 00:00:00 collector server run finished with error: processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'\n";

fn condition(w: &World, pipeline: &str, type_: &str) -> (String, String, String) {
    let st = w.pipeline(pipeline).status.clone().unwrap();
    let c = st
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {st:?}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// A new gateway config reaches the gateways only once the collector's own `validate` passed
/// it in a one-off Job: (a) a change applies a candidate copy of the config and the Job, and
/// nothing of the running gateways; (b) a refused config stays refused (ConfigRejected with the
/// validator's message, Degraded, one Event) and the gateways keep theirs; (c) a next change
/// that passes rolls out, and the candidates and Jobs are collected; (d) then nothing is written.
#[tokio::test]
async fn a_new_gateway_config_rolls_out_only_once_the_collector_validated_it() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    assert!(w.reconcile_all().await.is_empty());
    assert!(check_jobs(&w).is_empty(), "a first install is not held");
    let cm = "otelhouse-gw-s0-us-east-1";
    let zones = ["otelhouse-gw-s0-us-east-1a", "otelhouse-gw-s0-us-east-1b"];
    let running = |w: &World| {
        let config = w.api.get("/v1/configmaps", NS, cm).unwrap()["data"].clone();
        let pods: Vec<serde_json::Value> = zones
            .iter()
            .map(|z| w.api.get("apps/v1/deployments", NS, z).unwrap()["spec"]["template"].clone())
            .collect();
        (config, pods)
    };
    let before = running(&w);

    // (a) A change: a candidate ConfigMap and its Job, the gateways as they were.
    let mut p = (*w.pipeline("app")).clone();
    p.spec.gateway.batch.rows = 20_000;
    w.update_pipeline(p.clone());
    let reqs = w.reconcile_all().await;
    let got = applies(&reqs);
    assert_eq!(got.len(), 2, "{got:#?}");
    let jobs = check_jobs(&w);
    assert_eq!(jobs.len(), 1);
    let job_name = jobs[0].clone();
    assert!(job_name.starts_with(&format!("{cm}-check-")), "{job_name}");
    assert!(got.contains(&format!("/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")));
    let job = w.api.get(JOBS, NS, &job_name).unwrap();
    let pod = &job["spec"]["template"]["spec"];
    let candidate = pod["volumes"][0]["configMap"]["name"].as_str().unwrap();
    assert!(got.contains(&format!("/api/v1/namespaces/{NS}/configmaps/{candidate}")));
    // The candidate is the new config, immutable; the Job runs it as the gateways would.
    let rendered = otelhouse::render::render(
        &otelhouse::inventory::Inputs {
            pipelines: vec![p],
            ..inputs.clone()
        },
        &kit::settings(),
    )
    .unwrap();
    let new_cm = rendered
        .objects
        .iter()
        .find(|o| o.kind == "ConfigMap" && o.name == cm)
        .unwrap();
    let new_zone = rendered
        .objects
        .iter()
        .find(|o| o.kind == "Deployment" && o.name == zones[0])
        .unwrap();
    let live_candidate = w.api.get("/v1/configmaps", NS, candidate).unwrap();
    assert_eq!(live_candidate["data"], new_cm.object["data"]);
    assert_ne!(live_candidate["data"], before.0);
    assert_eq!(live_candidate["immutable"], true);
    let gateway = &new_zone.object["spec"]["template"]["spec"]["containers"][0];
    let check = &pod["containers"][0];
    assert_eq!(check["image"], gateway["image"]);
    assert_eq!(
        check["env"], gateway["env"],
        "the same credentials to resolve"
    );
    assert_eq!(
        check["args"],
        json!(["validate", "--config=/etc/otelcol-contrib/config.yaml"])
    );
    assert_eq!(check["terminationMessagePolicy"], "FallbackToLogsOnError");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(running(&w), before, "the gateways keep their config");
    assert_eq!(
        condition(&w, "app", "ConfigRejected").1,
        "ValidatingConfig",
        "a check under way is a status"
    );
    assert!(
        w.reconcile_all().await.is_empty(),
        "nothing to write while the Job runs"
    );

    // (b) The collector refuses it.
    finish_check(&w, &job_name, Some(REFUSED)).await;
    let reqs = w.reconcile_all().await;
    assert!(applies(&reqs).is_empty(), "{:?}", applies(&reqs));
    assert!(!reqs.iter().any(|r| r.method == "DELETE"));
    let pod_reads: Vec<&Recorded> = reqs.iter().filter(|r| r.path.ends_with("/pods")).collect();
    assert_eq!(pod_reads.len(), 1, "the pod's message is read once");
    assert_eq!(
        pod_reads[0].param("labelSelector").as_deref(),
        Some(format!("batch.kubernetes.io/job-name={job_name}").as_str())
    );
    let (status, reason, message) = condition(&w, "app", "ConfigRejected");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ValidationFailed")
    );
    assert!(
        message.ends_with(
            ": processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'"
        ) && message.contains(cm),
        "{message}"
    );
    assert_eq!(
        condition(&w, "app", "Degraded"),
        ("True".into(), "ConfigRejected".into(), message.clone())
    );
    let events: Vec<&Recorded> = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/events"))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].body["reason"], "ConfigRejected");
    assert_eq!(events[0].body["type"], "Warning");
    assert!(
        events[0].body["note"]
            .as_str()
            .unwrap()
            .contains("must be smaller than 'limit_mib'")
    );
    assert_eq!(running(&w), before, "the gateways keep their config");
    let again = w.reconcile_all().await;
    assert!(
        again.is_empty(),
        "a refusal is reported once: {:?}",
        again.iter().map(Recorded::short).collect::<Vec<_>>()
    );

    // (c) A next change passes: it rolls out, the refused and the passed checks are collected.
    let mut p = (*w.pipeline("app")).clone();
    p.spec.gateway.batch.rows = 30_000;
    w.update_pipeline(p);
    let reqs = w.reconcile_all().await;
    let deleted: Vec<String> = reqs
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        deleted.len(),
        2,
        "the refused candidate and Job: {deleted:#?}"
    );
    assert!(
        deleted
            .iter()
            .any(|d| d.ends_with(&format!("/jobs/{job_name}")))
    );
    assert!(
        deleted
            .iter()
            .any(|d| d.ends_with(&format!("/configmaps/{candidate}")))
    );
    let jobs = check_jobs(&w);
    assert_eq!(jobs.len(), 1);
    assert_ne!(jobs[0], job_name);
    assert_eq!(running(&w), before);
    finish_check(&w, &jobs[0], None).await;
    let reqs = w.reconcile_all().await;
    let mut got = applies(&reqs);
    got.sort();
    assert_eq!(
        got,
        vec![
            format!("/api/v1/namespaces/{NS}/configmaps/{cm}"),
            format!("/apis/apps/v1/namespaces/{NS}/deployments/{}", zones[0]),
            format!("/apis/apps/v1/namespaces/{NS}/deployments/{}", zones[1]),
        ]
    );
    let deleted: Vec<&Recorded> = reqs.iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deleted.len(), 2, "the passed candidate and Job");
    assert!(check_jobs(&w).is_empty());
    assert!(
        w.api
            .list("/v1/configmaps")
            .iter()
            .all(|c| !c["metadata"]["name"].as_str().unwrap().contains("-check-"))
    );
    assert_ne!(running(&w), before, "the gateways run the new config");
    assert_eq!(
        condition(&w, "app", "ConfigRejected"),
        ("False".into(), "AsExpected".into(), String::new())
    );
    assert_eq!(condition(&w, "app", "Degraded").0, "False");

    // (d) Nothing else to do.
    let idle = w.reconcile_all().await;
    assert!(
        idle.is_empty(),
        "an idle pass sent: {:?}",
        idle.iter().map(Recorded::short).collect::<Vec<_>>()
    );
}

const AGENTS: &str = "otelhouse-agents";

fn class_condition(w: &World, class: &str, type_: &str) -> (String, String, String) {
    let st = w.class(class).status.clone().unwrap();
    let c = st
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {st:?}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// The agents' check: a pipeline that selects pods by label changes the agents' shared
/// pipelines (they extract the label): the new shared ConfigMap (named by its content) is
/// applied, the DaemonSet is not, and a Job in the agents' namespace checks the shared and
/// the class's config as the agents would run them (the checkpoint storage an emptyDir, never
/// the node's). Refused: the agents keep the config they read (its shared ConfigMap is kept),
/// ConfigRejected on the class, one Event. Passed: the DaemonSet rolls, the old shared
/// ConfigMap and the check go.
#[tokio::test]
async fn a_new_agent_config_rolls_out_only_once_the_collector_validated_it() {
    let mut w = World::new(&tenant_inputs());
    w.reconcile_all().await;
    assert!(w.reconcile_all().await.is_empty());
    let ds = "otelhouse-agent-all";
    let template = |w: &World| {
        w.api.get("apps/v1/daemonsets", AGENTS, ds).unwrap()["spec"]["template"].clone()
    };
    let shared_of = |t: &serde_json::Value| {
        t["spec"]["volumes"][0]["projected"]["sources"][0]["configMap"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = template(&w);
    let old_shared = shared_of(&before);

    let mut p = (*w.pipeline("app")).clone();
    p.spec.sources.pod_selector =
        Some(serde_json::from_value(json!({"matchLabels": {"app": "web"}})).unwrap());
    w.update_pipeline(p);
    w.reconcile_all().await;
    pass_checks_in(&w, NS).await;
    let reqs = w.reconcile_all().await;
    // The gateways rolled; the agents wait for their own check.
    assert!(applies(&reqs).iter().any(|p| p.contains("/deployments/")));
    assert_eq!(template(&w), before);
    let jobs: Vec<serde_json::Value> = w.api.list(JOBS);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["metadata"]["namespace"], AGENTS);
    let job_name = job["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        job_name.starts_with("otelhouse-agent-all-check-"),
        "{job_name}"
    );
    let pod = &job["spec"]["template"]["spec"];
    let sources = &pod["volumes"][0]["projected"]["sources"];
    let new_shared = sources[0]["configMap"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_shared, old_shared);
    assert!(w.api.get("/v1/configmaps", AGENTS, &new_shared).is_some());
    assert!(
        sources[1]["configMap"]["name"]
            .as_str()
            .unwrap()
            .starts_with("otelhouse-agent-all-check-"),
        "the class's config as a candidate"
    );
    assert_eq!(
        pod["containers"][0]["args"],
        json!([
            "validate",
            "--config=/etc/otelcol-contrib/pipelines.yaml",
            "--config=/etc/otelcol-contrib/class.yaml"
        ])
    );
    for v in pod["volumes"].as_array().unwrap() {
        assert!(v.get("hostPath").is_none(), "{v}");
    }
    assert_eq!(
        class_condition(&w, "all", "ConfigRejected").1,
        "ValidatingConfig"
    );

    // Refused.
    let mut reqs = Vec::new();
    finish_check_in(&w, AGENTS, &job_name, Some(REFUSED)).await;
    reqs.extend(w.reconcile_all().await);
    assert!(applies(&reqs).is_empty(), "{:?}", applies(&reqs));
    assert!(
        !reqs.iter().any(|r| r.method == "DELETE"),
        "the old shared ConfigMap is kept"
    );
    assert_eq!(template(&w), before);
    assert!(w.api.get("/v1/configmaps", AGENTS, &old_shared).is_some());
    let (status, reason, message) = class_condition(&w, "all", "ConfigRejected");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ValidationFailed")
    );
    assert!(
        message.contains("must be smaller than 'limit_mib'"),
        "{message}"
    );
    assert_eq!(class_condition(&w, "all", "Degraded").1, "ConfigRejected");
    let events: Vec<&Recorded> = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/events"))
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body["reason"], "ConfigRejected");
    assert!(w.reconcile_all().await.is_empty());

    // The next try passes (the check runs again when its Job is gone: its TTL, or by hand).
    w.api.take();
    let jobs_api: Api<k8s_openapi::api::batch::v1::Job> =
        Api::namespaced(w.api.client_as("kubectl"), AGENTS);
    jobs_api
        .delete(&job_name, &DeleteParams::background())
        .await
        .unwrap();
    let gone = w.api.get(JOBS, AGENTS, &job_name).is_none();
    assert!(gone);
    w.ctx
        .observe_owned(otelhouse::kinds::Managed::Job, &job.clone(), true);
    w.reconcile_all().await;
    pass_checks_in(&w, AGENTS).await;
    let reqs = w.reconcile_all().await;
    assert!(
        applies(&reqs)
            .iter()
            .any(|p| p.ends_with(&format!("/daemonsets/{ds}")))
    );
    assert_eq!(shared_of(&template(&w)), new_shared);
    assert_ne!(template(&w), before);
    // The old shared ConfigMap goes once no agent reads it, with the check.
    let deleted: Vec<String> = reqs
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert!(
        deleted
            .iter()
            .any(|d| d.ends_with(&format!("/configmaps/{old_shared}"))),
        "{deleted:#?}"
    );
    assert!(deleted.iter().any(|d| d.contains("/jobs/")), "{deleted:#?}");
    assert!(w.api.list(JOBS).is_empty());
    assert_eq!(class_condition(&w, "all", "ConfigRejected").0, "False");
    let idle = w.reconcile_all().await;
    assert!(
        idle.is_empty(),
        "an idle pass sent: {:?}",
        idle.iter().map(Recorded::short).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn create_applies_exactly_the_rendered_objects_then_an_idle_pass_writes_nothing() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    let reqs = w.reconcile_all().await;

    // Every write is server-side apply with our field manager, forced, but for each new gateway
    // Deployment's first size: an update of its scale subresource, which the HPA takes over.
    for r in reqs.iter().filter(|r| r.method == "PATCH") {
        assert!(r.query.contains("fieldManager=otelhouse"), "{r:?}");
        if r.path.ends_with("/scale") {
            assert_eq!(r.content_type, "application/merge-patch+json", "{r:?}");
            continue;
        }
        assert!(r.query.contains("force=true"), "{r:?}");
        assert_eq!(r.content_type, "application/apply-patch+yaml", "{r:?}");
    }
    // Exactly what render builds, in apply order per owner.
    let rendered = otelhouse::render::render(&inputs, &kit::settings()).unwrap();
    let mut want: Vec<String> = rendered.objects.iter().map(path_of).collect();
    let mut got = applies(&reqs);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Every body is the rendered object.
    for d in &rendered.objects {
        let r = reqs
            .iter()
            .find(|r| r.is_apply() && r.path == path_of(d))
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
        .filter(|r| r.is_apply())
        .map(|r| format!("---\n{}", serde_norway::to_string(&r.body).unwrap()))
        .collect();
    std::fs::write(&file, sent).unwrap();
    let crds = kit::root().join("crds");
    let (ok, text) = kit::run_tool(
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
    w.update_pipeline(p);
    // First its check (see a_new_gateway_config_rolls_out_only_once_the_collector_validated_it).
    w.reconcile_all().await;
    pass_checks(&w).await;
    let reqs = w.reconcile_all().await;
    let mut got = applies(&reqs);
    got.sort();
    assert_eq!(
        got,
        vec![
            "/api/v1/namespaces/otelhouse-system/configmaps/otelhouse-gw-s0-us-east-1",
            "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse-gw-s0-us-east-1a",
            "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse-gw-s0-us-east-1b",
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
    // The region's config changes with its plan: the new zone's gateways wait for its check
    // with the others (they share the ConfigMap).
    let reqs = w.reconcile_all().await;
    assert!(
        !applies(&reqs)
            .iter()
            .any(|p| p.ends_with("/deployments/otelhouse-gw-s0-us-east-1c"))
    );
    pass_checks(&w).await;
    let mut reqs = reqs;
    reqs.extend(w.reconcile_all().await);
    let got = applies(&reqs);
    for want in [
        "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse-gw-s0-us-east-1c",
        "/apis/autoscaling/v2/namespaces/otelhouse-system/horizontalpodautoscalers/otelhouse-gw-s0-us-east-1c",
        "/apis/policy/v1/namespaces/otelhouse-system/poddisruptionbudgets/otelhouse-gw-s0-us-east-1c",
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
    let extra = kit::inputs_from(
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
        .apply_watcher_event(&kube::runtime::watcher::Event::Delete((*p).clone()));
    w.ctx.touch();
    let deleted = controller::cleanup_pipeline(&w.ctx, "team-a", "app")
        .await
        .unwrap();
    let reqs = w.api.take();
    let deletes: Vec<&Recorded> = reqs.iter().filter(|r| r.method == "DELETE").collect();
    // Service, NetworkPolicy, region ConfigMap, and per zone (2) a Deployment, HPA and PDB.
    assert_eq!(deleted, 9);
    assert_eq!(deletes.len(), 9, "{reqs:?}");
    assert!(
        reqs.iter().all(|r| r.method == "DELETE"),
        "only deletes: {reqs:?}"
    );
    // The tables are still there (Retain).
    let db = inputs.stores[0].spec.database.clone();
    let client = clickhouse::Client::default().with_url(kit::clickhouse_url());
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
            .any(|p| p.contains("configmaps/otelhouse-agents-shared-"))
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
    // A user deletes it: the finalizer holds it, with a deletionTimestamp.
    let user: Api<otelhouse::crd::LogPipeline> = Api::namespaced(w.api.client_as("user"), "team-a");
    user.delete("app", &DeleteParams::default()).await.unwrap();
    w.api.take();
    w.sync_status();
    let p = w.pipeline("app");
    assert!(p.metadata.deletion_timestamp.is_some());
    controller::reconcile_pipeline(p, w.ctx.clone())
        .await
        .unwrap();
    let reqs = w.api.take();
    let db = inputs.stores[0].spec.database.clone();
    let client = clickhouse::Client::default().with_url(kit::clickhouse_url());
    let n: u64 = client
        .query(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE 'app_logs%'"
        ))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, 0, "tables dropped");
    assert_eq!(reqs.iter().filter(|r| r.method == "DELETE").count(), 9);
    let last = reqs.iter().rev().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(
        last.body["metadata"]["finalizers"],
        json!([]),
        "finalizer removed last"
    );
    // And the server let it go.
    assert!(w.api.get(kit::world::PIPELINES, "team-a", "app").is_none());
}

#[tokio::test]
async fn a_hand_edit_of_a_managed_object_is_reverted() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    assert!(w.reconcile_all().await.is_empty());
    // Someone changes a gateway Deployment's image by hand; the watch shows it.
    let name = "otelhouse-gw-s0-us-east-1a";
    let key = ("Deployment", "otelhouse-system", name);
    let kubectl: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(w.api.client_as("kubectl"), key.1);
    kubectl
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "collector", "image": "evil:latest"}]}}}})),
        )
        .await
        .unwrap();
    w.api.take();
    w.observe("apps/v1/deployments", key.1, name);
    let reqs = w.reconcile_all().await;
    assert_eq!(
        applies(&reqs),
        vec![format!(
            "/apis/apps/v1/namespaces/otelhouse-system/deployments/{name}"
        )]
    );
    let live = w.api.get("apps/v1/deployments", key.1, name).unwrap();
    assert_ne!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "evil:latest"
    );
}

/// The HorizontalPodAutoscaler owns a gateway Deployment's replicas: the operator sets the
/// plan once, at creation, then never writes them again, whatever the autoscaler does.
#[tokio::test]
async fn the_autoscaler_owns_gateway_replicas() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    let reqs = w.reconcile_all().await;
    let name = "otelhouse-gw-s0-us-east-1a";
    let ns = "otelhouse-system";
    // Created without replicas; the plan (1 per zone here) set once through the scale subresource.
    for r in reqs
        .iter()
        .filter(|r| r.is_apply() && r.path.contains("/deployments/"))
    {
        assert!(r.body.pointer("/spec/replicas").is_none(), "{}", r.path);
    }
    let scales: Vec<&Recorded> = reqs.iter().filter(|r| r.path.ends_with("/scale")).collect();
    assert_eq!(scales.len(), 2, "one per zone");
    assert_eq!(scales[0].body, json!({"spec": {"replicas": 1}}));
    assert!(w.reconcile_all().await.is_empty());
    // The autoscaler scales the zone up (an update of the scale subresource, as the HPA
    // controller does): the Deployment's generation moves, its watch shows it.
    let hpa: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(w.api.client_as("hpa"), ns);
    hpa.patch_scale(
        name,
        &PatchParams {
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    w.api.take();
    w.observe("apps/v1/deployments", ns, name);
    assert!(
        w.reconcile_all().await.is_empty(),
        "no write after the HPA scaled"
    );
    // A change of the pipeline rolls the gateways: the applies still leave replicas alone.
    let mut p = (*w.pipeline("app")).clone();
    p.spec.gateway.batch.rows = 20_000;
    w.update_pipeline(p);
    w.reconcile_all().await;
    pass_checks(&w).await;
    let reqs = w.reconcile_all().await;
    assert!(applies(&reqs).iter().any(|p| p.ends_with(name)));
    assert!(!reqs.iter().any(|r| r.path.ends_with("/scale")));
    for r in reqs.iter().filter(|r| r.is_apply()) {
        assert!(r.body.pointer("/spec/replicas").is_none(), "{}", r.path);
    }
    let live = w.api.get("apps/v1/deployments", ns, name).unwrap();
    assert_eq!(live["spec"]["replicas"], 4, "the autoscaler's size stands");
    assert_eq!(
        w.api
            .owners("apps/v1/deployments", ns, name, "spec.replicas"),
        vec!["kube-controller-manager/Update/scale"]
    );
}

/// A class whose agents do not tolerate a node's taints says so in status (Degraded,
/// TaintedNodes, and the count), and the node does not count as covered.
#[tokio::test]
async fn untolerated_nodes_are_reported_in_the_class_status() {
    let mut inputs = tenant_inputs();
    inputs.classes[0].spec.tolerate_all_taints = false;
    let extra = kit::inputs_from(
        r#"
apiVersion: v1
kind: Node
metadata: {name: n-gpu, labels: {topology.kubernetes.io/zone: us-east-1a, topology.kubernetes.io/region: us-east-1}}
spec: {taints: [{key: nvidia.com/gpu, effect: NoSchedule}]}
"#,
    );
    inputs.nodes.extend(extra.nodes);
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    let st = w.class("all").status.clone().unwrap();
    assert_eq!(st.nodes, Some(2));
    assert_eq!(st.nodes_untolerated, Some(1));
    let degraded = st
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "TaintedNodes")
    );
    assert!(degraded.message.contains("n-gpu"), "{}", degraded.message);
}

/// `helm uninstall`'s hook: the operator is stopped first (scaled to 0, so it makes nothing
/// again), then everything it made is deleted, in both namespaces; the custom resources and the
/// tables stay.
#[tokio::test]
async fn cleanup_stops_the_operator_and_deletes_what_it_made() {
    let inputs = tenant_inputs();
    let mut w = World::new(&inputs);
    w.reconcile_all().await;
    let managed = |api: &kit::api::FakeApi| {
        otelhouse::kinds::Managed::ALL
            .iter()
            .flat_map(|m| {
                let ar = m.api_resource();
                let group = if ar.group.is_empty() {
                    String::new()
                } else {
                    ar.group.clone()
                };
                api.list(&format!("{group}/{}/{}", ar.version, ar.plural))
            })
            .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "otelhouse")
            .count()
    };
    let before = managed(&w.api);
    assert!(before >= 10, "{before}");
    w.api.seed(
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "otelhouse", "namespace": "otelhouse-system"},
               "spec": {"replicas": 2}, "status": {"replicas": 0}}),
    );
    w.api.take();
    let deleted = controller::cleanup::cleanup(w.api.client(), &kit::settings(), Some("otelhouse"))
        .await
        .unwrap();
    assert_eq!(deleted as usize, before);
    assert_eq!(managed(&w.api), 0, "nothing the operator made is left");
    let reqs = w.api.take();
    assert_eq!(
        reqs[0].path,
        "/apis/apps/v1/namespaces/otelhouse-system/deployments/otelhouse/scale"
    );
    assert_eq!(reqs[0].body, json!({"spec": {"replicas": 0}}));
    // The operator's own Deployment (the chart's) and the custom resources stay.
    assert!(
        w.api
            .get("apps/v1/deployments", "otelhouse-system", "otelhouse")
            .is_some()
    );
    assert!(w.api.get(kit::world::PIPELINES, "team-a", "app").is_some());
}

/// Each resource backs off on its own: 10 s after a failure, 20 s after the second in a row, and
/// a success starts again at 10 s; a pipeline of the same name in another namespace counts apart.
#[tokio::test]
async fn the_backoff_grows_per_resource_and_a_success_resets_it() {
    let mut inputs = tenant_inputs();
    let reachable = inputs.stores[0].spec.http_url.clone();
    inputs.stores[0].spec.http_url = "http://127.0.0.1:9".into();
    inputs.stores[0]
        .spec
        .allowed_namespaces
        .push("team-b".into());
    let mut twin = inputs.pipelines[0].clone();
    twin.metadata.namespace = Some("team-b".into());
    // Its own table: a table belongs to one pipeline.
    twin.spec.tables[0].name = "twin_logs".into();
    inputs.pipelines.push(twin);
    let mut w = World::new(&inputs);
    let pipeline = |w: &World, ns: &str| {
        w.ctx
            .pipelines
            .state()
            .into_iter()
            .find(|p| p.namespace().as_deref() == Some(ns))
            .unwrap()
    };
    let fail = |w: &World, ns: &str| {
        let p = pipeline(w, ns);
        let ctx = w.ctx.clone();
        async move {
            let err = controller::reconcile_pipeline(p.clone(), ctx.clone())
                .await
                .unwrap_err();
            format!("{:?}", controller::error_policy(p, &err, ctx))
        }
    };
    assert!(fail(&w, "team-a").await.contains("Some(10s)"));
    assert!(
        fail(&w, "team-a").await.contains("Some(20s)"),
        "the second failure waits longer"
    );
    assert!(
        fail(&w, "team-b").await.contains("Some(10s)"),
        "another namespace counts apart"
    );
    // The store comes back: a success resets the count.
    let mut store = (*w.ctx.stores.state()[0]).clone();
    store.spec.http_url = reachable;
    w.stores
        .apply_watcher_event(&kube::runtime::watcher::Event::Apply(store.clone()));
    w.ctx.touch();
    controller::reconcile_pipeline(pipeline(&w, "team-a"), w.ctx.clone())
        .await
        .unwrap();
    store.spec.http_url = "http://127.0.0.1:9".into();
    w.stores
        .apply_watcher_event(&kube::runtime::watcher::Event::Apply(store));
    w.ctx.touch();
    w.sync_status();
    // The schema is cached as applied; a different layout forces ClickHouse again.
    let mut p = (*pipeline(&w, "team-a")).clone();
    p.spec.tables[0].retention_days = 30;
    w.update_pipeline(p);
    assert!(
        fail(&w, "team-a").await.contains("Some(10s)"),
        "a success resets the backoff"
    );
}
