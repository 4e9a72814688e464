//! Every pod the operator and its chart make is admitted by Pod Security admission in the
//! namespace it runs in (`kit::pss`, written from the pod-security-admission sources): the
//! operator, its uninstall Job and the gateways under `restricted` (the README has the release
//! namespace labelled so), the agents under `privileged` in a namespace of their own, which the
//! chart creates labelled so. Checked at policy version 1.33, our minimum Kubernetes, and latest.

mod kit;

use kit::pss::{self, Level, Version};
use serde_json::{Value, json};

const NS: &str = "otelhouse-system";

/// The release namespace as the README's install steps label it.
fn release_namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": NS, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
}

fn pods(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| pss::pod_of(o).is_some())
        .collect()
}

fn admitted(obj: &Value, namespaces: &[Value]) -> Result<(), String> {
    let ns_name = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let ns = namespaces
        .iter()
        .find(|n| n["metadata"]["name"] == ns_name)
        .ok_or_else(|| format!("no Namespace {ns_name} for {}", obj["metadata"]["name"]))?;
    let level = pss::namespace_level(ns);
    for version in [Version::Minor(33), pss::namespace_version(ns)] {
        let v = pss::check_version(obj, level, version);
        if !v.is_empty() {
            return Err(format!(
                "{} {}/{} refused at {level:?} ({version:?}): {}",
                obj["kind"].as_str().unwrap_or_default(),
                ns_name,
                obj["metadata"]["name"].as_str().unwrap_or_default(),
                v.iter()
                    .map(|v| format!("{}: {}", v.check, v.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    Ok(())
}

#[test]
fn every_pod_is_admitted_in_its_namespace() {
    let chart = kit::render_chart(NS, &json!({}));
    let mut namespaces: Vec<Value> = chart
        .iter()
        .filter(|o| o["kind"] == "Namespace")
        .cloned()
        .collect();
    namespaces.push(release_namespace());
    let agents_ns = namespaces
        .iter()
        .find(|n| n["metadata"]["name"] == otelhouse::inventory::DEFAULT_AGENT_NAMESPACE)
        .expect("the chart creates the agents' namespace");
    assert_eq!(pss::namespace_level(agents_ns), Level::Privileged);

    let rendered = otelhouse::render::render(&kit::sample_inputs(), &kit::settings()).unwrap();
    let objects: Vec<Value> = rendered.objects.iter().map(|d| d.object.clone()).collect();
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for obj in pods(&objects).into_iter().chain(pods(&chart)) {
        seen.insert((
            obj["kind"].as_str().unwrap_or_default().to_string(),
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
        if let Err(e) = admitted(obj, &namespaces) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // What was checked: agents, gateways, the operator and its uninstall Job.
    for want in [
        ("DaemonSet", otelhouse::inventory::DEFAULT_AGENT_NAMESPACE),
        ("Deployment", NS),
        ("Job", NS),
    ] {
        assert!(
            seen.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} not checked: {seen:?}"
        );
    }
}

/// Why the agents need a namespace of their own: no namespace that enforces even `baseline`
/// admits them, while the gateways pass `restricted`.
#[test]
fn agents_need_privileged_and_gateways_fit_restricted() {
    let rendered = otelhouse::render::render(&kit::sample_inputs(), &kit::settings()).unwrap();
    for d in &rendered.objects {
        match d.kind.as_str() {
            "DaemonSet" => {
                let v = pss::check(&d.object, Level::Baseline);
                assert!(v.iter().any(|v| v.check == "hostPathVolumes"), "{v:?}");
                assert!(pss::check(&d.object, Level::Privileged).is_empty());
            }
            "Deployment" => {
                let v = pss::check(&d.object, Level::Restricted);
                assert!(v.is_empty(), "{}: {v:?}", d.name);
            }
            _ => {}
        }
    }
}

/// The README tells users to label the release namespace `restricted` before installing.
#[test]
fn the_readme_labels_the_release_namespace_restricted() {
    let readme = std::fs::read_to_string(kit::root().join("README.md")).unwrap();
    assert!(
        readme.contains("pod-security.kubernetes.io/enforce=restricted"),
        "README's install section must label the release namespace"
    );
}
