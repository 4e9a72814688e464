//! The test kit's in-memory API server behaves as the real one does where the operator relies on
//! it (server-side apply ownership, defaults, subresources, watches, finalizers).

#[path = "kit/api.rs"]
mod api;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn deployment(replicas: Option<i32>) -> serde_json::Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "gw", "namespace": "ns", "labels": {"app": "gw"}},
        "spec": {"selector": {"matchLabels": {"app": "gw"}},
                 "template": {"metadata": {"labels": {"app": "gw"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = json!(r);
    }
    d
}

#[tokio::test]
async fn apply_without_replicas_defaults_to_one_and_a_removed_field_goes() {
    let fake = api::FakeApi::new();
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "ns");
    let pp = PatchParams::apply("op").force();
    let d = deployments
        .patch("gw", &pp, &Patch::Apply(deployment(Some(5))))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(5));
    assert_eq!(
        fake.owners("apps/v1/deployments", "ns", "gw", "spec.replicas"),
        vec!["op/Apply"]
    );
    // The applier drops replicas and is its only owner: the field goes, and the default is 1.
    let d = deployments
        .patch("gw", &pp, &Patch::Apply(deployment(None)))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(1));
    assert_eq!(d.metadata.generation, Some(2));
}

#[tokio::test]
async fn a_scale_update_takes_replicas_and_a_later_apply_without_them_keeps_them() {
    let fake = api::FakeApi::new();
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "ns");
    let pp = PatchParams::apply("op").force();
    deployments
        .patch("gw", &pp, &Patch::Apply(deployment(None)))
        .await
        .unwrap();
    let hpa: Api<Deployment> = Api::namespaced(fake.client_as("hpa"), "ns");
    hpa.patch_scale(
        "gw",
        &PatchParams {
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 7}})),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.owners("apps/v1/deployments", "ns", "gw", "spec.replicas"),
        vec!["kube-controller-manager/Update/scale"]
    );
    let mut changed = deployment(None);
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("j");
    let d = deployments
        .patch("gw", &pp, &Patch::Apply(changed))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(7));
    // An apply that sets replicas without force conflicts with the HPA's ownership.
    let err = deployments
        .patch(
            "gw",
            &PatchParams::apply("op"),
            &Patch::Apply(deployment(Some(3))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
}

#[tokio::test]
async fn status_changes_do_not_move_the_generation() {
    let fake = api::FakeApi::new();
    let deployments: Api<Deployment> = Api::namespaced(fake.client(), "ns");
    deployments
        .patch(
            "gw",
            &PatchParams::apply("op").force(),
            &Patch::Apply(deployment(None)),
        )
        .await
        .unwrap();
    let d = deployments
        .patch_status(
            "gw",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    assert_eq!(d.status.unwrap().ready_replicas, Some(1));
}

#[tokio::test]
async fn watches_stream_changes_and_finalizers_hold_deletion() {
    let fake = api::FakeApi::new();
    let cms: Api<ConfigMap> = Api::namespaced(fake.client(), "ns");
    let mut events = watcher(cms.clone(), watcher::Config::default().labels("app=x"))
        .applied_objects()
        .boxed();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "x"}, "finalizers": ["f"]}, "data": {"k": "v"}});
    cms.patch("a", &PatchParams::apply("op"), &Patch::Apply(cm))
        .await
        .unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen.data.unwrap()["k"], "v");
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let held = cms.get("a").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch_metadata(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": []}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("a").await.unwrap().is_none());
    let kinds: Vec<String> = fake.requests().iter().map(|r| r.short()).collect();
    assert!(
        kinds
            .iter()
            .any(|k| k == "GET /api/v1/namespaces/ns/configmaps"),
        "{kinds:?}"
    );
}
