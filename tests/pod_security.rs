//! Tests of the Pod Security Standards checker (`tests/kit/pss.rs`), modelled on the
//! admission plugin's own tests in kubernetes/kubernetes
//! `staging/src/k8s.io/pod-security-admission/`: the per-check unit tests
//! (`policy/check_*_test.go`) and the per-level fixtures (`test/fixtures_*.go`, rendered in
//! `test/testdata/{baseline,restricted}/v1.N/{pass,fail}/*.yaml`). Each test cites its source.
//! The fixtures start from the minimal valid pod of a level (`test/fixtures.go`
//! `minimalValidPods`): `baseline()` and `restricted()` below.

#[path = "kit/pss.rs"]
mod pss;

use pss::{
    Level, Version, check, check_ids, check_version, namespace_level, namespace_version, pod_of,
};
use serde_json::{Value, json};

// -----------------------------------------------------------------------------------------
// Helpers

/// test/fixtures.go `baseline_1_0`: one init container and one container, nothing set.
fn baseline() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "test"},
        "spec": {
            "initContainers": [{"name": "initcontainer1", "image": "registry.k8s.io/pause"}],
            "containers": [{"name": "container1", "image": "registry.k8s.io/pause"}]
        }
    })
}

/// test/fixtures.go `restricted_1_22` and later: runAsNonRoot and seccomp RuntimeDefault at
/// pod level, allowPrivilegeEscalation=false and drop ALL on each container.
fn restricted() -> Value {
    let sc = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "test"},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "initcontainer1", "image": "registry.k8s.io/pause", "securityContext": sc}],
            "containers": [{"name": "container1", "image": "registry.k8s.io/pause", "securityContext": sc}]
        }
    })
}

/// A copy of `pod` changed by `f` (the fixtures' `tweak`).
fn tweak(pod: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut pod = pod.clone();
    f(&mut pod);
    pod
}

/// Sets `value` at a JSON pointer, creating objects on the way.
fn set(pod: &mut Value, pointer: &str, value: Value) {
    let mut cur = pod;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            Value::Array(a) => &mut a[part.parse::<usize>().expect("index")],
            Value::Object(m) => {
                if last {
                    m.insert((*part).to_string(), value);
                    return;
                }
                m.entry((*part).to_string()).or_insert_with(|| json!({}))
            }
            _ => panic!("{pointer}: not a container at {part}"),
        };
        if last {
            *cur = value;
            return;
        }
    }
}

fn with(pod: &Value, pointer: &str, value: Value) -> Value {
    tweak(pod, |p| set(p, pointer, value))
}

fn ids(obj: &Value, level: Level) -> Vec<&'static str> {
    check(obj, level).into_iter().map(|v| v.check).collect()
}

fn ids_at(obj: &Value, level: Level, minor: u32) -> Vec<&'static str> {
    check_version(obj, level, Version::Minor(minor))
        .into_iter()
        .map(|v| v.check)
        .collect()
}

#[track_caller]
fn admitted(obj: &Value, level: Level) {
    let v = check(obj, level);
    assert!(
        v.is_empty(),
        "expected {level:?} to admit, got {v:#?}\n{obj:#}"
    );
}

#[track_caller]
fn rejected_by(obj: &Value, level: Level, expected: &[&str]) {
    assert_eq!(ids(obj, level), expected, "{obj:#}");
}

#[track_caller]
fn message(obj: &Value, level: Level, check_id: &str) -> String {
    check(obj, level)
        .into_iter()
        .find(|v| v.check == check_id)
        .unwrap_or_else(|| panic!("no {check_id} violation for {obj:#}"))
        .message
}

const INIT: &str = "/spec/initContainers/0";
const CTR: &str = "/spec/containers/0";

// -----------------------------------------------------------------------------------------
// Levels, the registry, the minimal pods

#[test]
fn minimal_pods_pass_their_level() {
    // test/testdata/baseline/v1.35/pass/base.yaml, restricted/*/pass/base.yaml
    admitted(&baseline(), Level::Privileged);
    admitted(&baseline(), Level::Baseline);
    admitted(&restricted(), Level::Restricted);
    rejected_by(
        &baseline(),
        Level::Restricted,
        &[
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "runAsNonRoot",
            "seccompProfile_restricted",
        ],
    );
}

#[test]
fn privileged_level_checks_nothing() {
    // policy/registry.go EvaluatePod: LevelPrivileged returns no results.
    let pod = tweak(&baseline(), |p| {
        set(p, "/spec/hostNetwork", json!(true));
        set(p, &format!("{CTR}/securityContext/privileged"), json!(true));
        set(
            p,
            "/spec/volumes",
            json!([{"name": "h", "hostPath": {"path": "/"}}]),
        );
    });
    admitted(&pod, Level::Privileged);
    assert!(check_ids(Level::Privileged, Version::Latest).is_empty());
}

#[test]
fn registry_orders_checks_and_applies_overrides() {
    // policy/registry.go populate(): baseline IDs sorted, then restricted IDs sorted, minus
    // the baseline checks named in OverrideCheckIDs.
    assert_eq!(
        check_ids(Level::Baseline, Version::Latest),
        [
            "appArmorProfile",
            "capabilities_baseline",
            "hostNamespaces",
            "hostPathVolumes",
            "hostPorts",
            "hostProbesAndHostLifecycle",
            "privileged",
            "procMount",
            "seLinuxOptions",
            "seccompProfile_baseline",
            "sysctls",
            "windowsHostProcess",
        ]
    );
    assert_eq!(
        check_ids(Level::Restricted, Version::Latest),
        [
            "appArmorProfile",
            "hostNamespaces",
            "hostPorts",
            "hostProbesAndHostLifecycle",
            "privileged",
            "seLinuxOptions",
            "sysctls",
            "windowsHostProcess",
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "procMount_restricted",
            "restrictedVolumes",
            "runAsNonRoot",
            "runAsUser",
            "seccompProfile_restricted",
        ]
    );
}

#[test]
fn registry_versions() {
    // Checks whose first MinimumVersion is newer do not run (inflateVersions).
    let v = |minor| check_ids(Level::Restricted, Version::Minor(minor));
    assert!(!v(33).contains(&"hostProbesAndHostLifecycle"));
    assert!(v(34).contains(&"hostProbesAndHostLifecycle"));
    assert!(!v(22).contains(&"runAsUser"));
    assert!(v(23).contains(&"runAsUser"));
    assert!(!v(21).contains(&"capabilities_restricted"));
    // Below 1.22 there is no restricted capabilities check, so baseline's is not overridden.
    assert!(v(21).contains(&"capabilities_baseline"));
    assert!(v(18).contains(&"seccompProfile_baseline"));
    assert!(!v(18).contains(&"seccompProfile_restricted"));
    // procMount_restricted (1.35) overrides the baseline procMount check.
    assert!(v(34).contains(&"procMount") && !v(34).contains(&"procMount_restricted"));
    assert!(!v(35).contains(&"procMount") && v(35).contains(&"procMount_restricted"));
    // Versions past the newest MinimumVersion evaluate as the newest (EvaluatePod clamps).
    assert_eq!(v(99), check_ids(Level::Restricted, Version::Latest));
    assert_eq!(Version::Minor(99).resolve(), pss::LATEST_MINOR);
}

#[test]
fn violations_carry_upstream_reason_and_detail() {
    // policy/checks.go AggregateCheckResult.ForbiddenDetail: "reason (detail)".
    let pod = with(&baseline(), "/spec/hostPID", json!(true));
    let v = check(&pod, Level::Baseline);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].check, "hostNamespaces");
    assert_eq!(v[0].message, "host namespaces (hostPID)");
    assert_eq!(
        v[0].to_string(),
        "hostNamespaces: host namespaces (hostPID)"
    );
}

// -----------------------------------------------------------------------------------------
// Namespaces (api/helpers.go PolicyToEvaluate, ParseLevel, ParseVersion)

fn namespace(labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "labels": labels}})
}

#[test]
fn namespace_level_from_enforce_label() {
    let l = |labels| namespace_level(&namespace(labels));
    assert_eq!(l(json!({})), Level::Privileged);
    assert_eq!(
        namespace_level(&json!({"kind": "Namespace", "metadata": {"name": "ns"}})),
        Level::Privileged
    );
    assert_eq!(
        l(json!({"pod-security.kubernetes.io/enforce": "privileged"})),
        Level::Privileged
    );
    assert_eq!(
        l(json!({"pod-security.kubernetes.io/enforce": "baseline"})),
        Level::Baseline
    );
    assert_eq!(
        l(json!({"pod-security.kubernetes.io/enforce": "restricted"})),
        Level::Restricted
    );
    // Warn and audit do not enforce.
    assert_eq!(
        l(
            json!({"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"})
        ),
        Level::Privileged
    );
    // ParseLevel: an invalid level is restricted (fail closed); values are case-sensitive.
    assert_eq!(
        l(json!({"pod-security.kubernetes.io/enforce": "Baseline"})),
        Level::Restricted
    );
    assert_eq!(
        l(json!({"pod-security.kubernetes.io/enforce": ""})),
        Level::Restricted
    );
}

#[test]
fn namespace_version_from_enforce_version_label() {
    let v = |labels| namespace_version(&namespace(labels));
    let key = "pod-security.kubernetes.io/enforce-version";
    assert_eq!(v(json!({})), Version::Latest);
    assert_eq!(v(json!({key: "latest"})), Version::Latest);
    assert_eq!(v(json!({key: "v1.33"})), Version::Minor(33));
    assert_eq!(v(json!({key: "v1.0"})), Version::Minor(0));
    // ParseVersion: `^v1\.([0-9]|[1-9][0-9]*)$`, anything else is latest.
    assert_eq!(v(json!({key: "v1.033"})), Version::Latest);
    assert_eq!(v(json!({key: "1.33"})), Version::Latest);
    assert_eq!(v(json!({key: "v2.1"})), Version::Latest);
    assert_eq!(v(json!({key: "v1.33.1"})), Version::Latest);
}

#[test]
fn check_in_namespace_uses_level_and_version() {
    let ns = namespace(json!({
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "v1.33"
    }));
    // The probe-host check starts at 1.34: a namespace pinned to v1.33 admits the pod.
    let pod = with(
        &baseline(),
        &format!("{CTR}/livenessProbe"),
        json!({"httpGet": {"host": "example.com", "port": 80}}),
    );
    assert!(pss::check_in_namespace(&pod, &ns).is_empty());
    let latest = namespace(json!({"pod-security.kubernetes.io/enforce": "baseline"}));
    assert_eq!(
        pss::check_in_namespace(&pod, &latest)
            .into_iter()
            .map(|v| v.check)
            .collect::<Vec<_>>(),
        ["hostProbesAndHostLifecycle"]
    );
    assert!(pss::check_in_namespace(&pod, &namespace(json!({}))).is_empty());
}

// -----------------------------------------------------------------------------------------
// Pod extraction (admission/admission.go DefaultPodSpecExtractor)

fn template_of(pod: &Value) -> Value {
    json!({"metadata": pod["metadata"], "spec": pod["spec"]})
}

#[test]
fn pod_templates_of_every_workload_kind() {
    let bad = with(&baseline(), "/spec/hostIPC", json!(true));
    let t = template_of(&bad);
    let objects = [
        json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}, "template": t}),
        json!({"apiVersion": "v1", "kind": "ReplicationController", "spec": {"template": t}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": t}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": t}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": t}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": t}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": t}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": t}}}}),
        bad.clone(),
    ];
    for obj in &objects {
        let (meta, spec) = pod_of(obj).unwrap_or_else(|| panic!("no pod in {obj}"));
        assert_eq!(spec["hostIPC"], json!(true), "{obj}");
        assert_eq!(meta["name"], json!("test"), "{obj}");
        rejected_by(obj, Level::Baseline, &["hostNamespaces"]);
    }
}

#[test]
fn objects_without_pods() {
    for obj in [
        json!({"apiVersion": "v1", "kind": "Service", "spec": {"template": {"spec": {"hostPID": true}}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
        // Kind names from another API group are not the built-in workloads.
        json!({"apiVersion": "example.com/v1", "kind": "Deployment", "spec": {"template": {"spec": {"hostPID": true}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Job", "spec": {"template": {"spec": {"hostPID": true}}}}),
        // ReplicationController.spec.template is a pointer: absent means no pod.
        json!({"apiVersion": "v1", "kind": "ReplicationController", "spec": {}}),
        json!({"not": "an object"}),
    ] {
        assert!(pod_of(&obj).is_none(), "{obj}");
        assert!(check(&obj, Level::Restricted).is_empty(), "{obj}");
    }
    // A typed template is a struct: an absent one is an empty pod, which passes baseline.
    let empty = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}});
    assert_eq!(pod_of(&empty), Some((json!({}), json!({}))));
    admitted(&empty, Level::Restricted);
}

#[test]
fn template_metadata_is_the_pod_metadata() {
    // AppArmor annotations live on the pod template's metadata, not the workload's.
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
        "spec": {"template": {
            "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "runtime/default"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}
        }}
    });
    admitted(&deployment, Level::Baseline);
    let mut bad = deployment.clone();
    bad["spec"]["template"]["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/c"] =
        json!("unconfined");
    rejected_by(&bad, Level::Baseline, &["appArmorProfile"]);
}

// -----------------------------------------------------------------------------------------
// The classic examples

/// A collector-agent-shaped DaemonSet: hostPath mounts, root.
fn agent_daemonset() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "otel"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "securityContext": {"runAsUser": 0},
                    "containers": [{
                        "name": "otelcol",
                        "image": "otel/opentelemetry-collector-contrib",
                        "volumeMounts": [{"name": "varlog", "mountPath": "/var/log", "readOnly": true}]
                    }],
                    "volumes": [
                        {"name": "varlog", "hostPath": {"path": "/var/log"}},
                        {"name": "config", "configMap": {"name": "agent"}}
                    ]
                }
            }
        }
    })
}

#[test]
fn daemonset_with_hostpath_and_root_passes_privileged_only() {
    let ds = agent_daemonset();
    admitted(&ds, Level::Privileged);
    rejected_by(&ds, Level::Baseline, &["hostPathVolumes"]);
    assert_eq!(
        message(&ds, Level::Baseline, "hostPathVolumes"),
        r#"hostPath volumes (volume "varlog")"#
    );
    // restricted: restrictedVolumes replaces hostPathVolumes, and runAsUser=0 is forbidden.
    rejected_by(
        &ds,
        Level::Restricted,
        &[
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "restrictedVolumes",
            "runAsNonRoot",
            "runAsUser",
            "seccompProfile_restricted",
        ],
    );
    assert_eq!(
        message(&ds, Level::Restricted, "runAsUser"),
        "runAsUser=0 (pod must not set runAsUser=0)"
    );
}

/// A gateway-shaped Deployment that satisfies restricted.
fn hardened_deployment() -> Value {
    let sc = json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]}
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gateway"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "gateway"}},
            "template": {
                "metadata": {"labels": {"app": "gateway"}},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"}
                    },
                    "initContainers": [{"name": "init", "image": "busybox", "securityContext": sc}],
                    "containers": [{
                        "name": "otelcol",
                        "image": "otel/opentelemetry-collector-contrib",
                        "ports": [{"containerPort": 4317}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 13133}},
                        "securityContext": sc
                    }],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "gateway"}},
                        {"name": "creds", "secret": {"secretName": "clickhouse"}},
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
                    ]
                }
            }
        }
    })
}

#[test]
fn hardened_deployment_passes_restricted() {
    let d = hardened_deployment();
    admitted(&d, Level::Restricted);
    admitted(&d, Level::Baseline);
    for minor in [23, 25, 30, 33, 34, 35, 36, 37] {
        assert!(
            ids_at(&d, Level::Restricted, minor).is_empty(),
            "v1.{minor}"
        );
    }
}

#[test]
fn missing_allow_privilege_escalation_fails_restricted() {
    // Unset is not false (check_allowPrivilegeEscalation.go: nil fails).
    let mut d = hardened_deployment();
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"]
        .as_object_mut()
        .unwrap()
        .remove("allowPrivilegeEscalation");
    rejected_by(&d, Level::Restricted, &["allowPrivilegeEscalation"]);
    assert_eq!(
        message(&d, Level::Restricted, "allowPrivilegeEscalation"),
        r#"allowPrivilegeEscalation != false (container "otelcol" must set securityContext.allowPrivilegeEscalation=false)"#
    );
    admitted(&d, Level::Baseline);
}

#[test]
fn pod_level_seccomp_satisfies_containers() {
    // fixtures_seccompProfile_restricted.go: set at pod level only passes.
    let pod = restricted();
    assert_eq!(
        pod["spec"]["containers"][0]["securityContext"].get("seccompProfile"),
        None
    );
    admitted(&pod, Level::Restricted);
}

#[test]
fn container_run_as_non_root_false_overrides_pod_true() {
    // check_runAsNonRoot_test.go "containers runAsNonRoot=false".
    let pod = with(
        &restricted(),
        &format!("{CTR}/securityContext/runAsNonRoot"),
        json!(false),
    );
    rejected_by(&pod, Level::Restricted, &["runAsNonRoot"]);
    assert_eq!(
        message(&pod, Level::Restricted, "runAsNonRoot"),
        r#"runAsNonRoot != true (container "container1" must not set securityContext.runAsNonRoot=false)"#
    );
}

// -----------------------------------------------------------------------------------------
// hostNamespaces (check_hostNamespaces.go, fixtures_hostNamespaces.go)

#[test]
fn host_namespaces() {
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        let pod = with(&baseline(), &format!("/spec/{key}"), json!(true));
        rejected_by(&pod, Level::Baseline, &["hostNamespaces"]);
        admitted(
            &with(&baseline(), &format!("/spec/{key}"), json!(false)),
            Level::Baseline,
        );
    }
    let all = tweak(&baseline(), |p| {
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            set(p, &format!("/spec/{key}"), json!(true));
        }
    });
    assert_eq!(
        message(&all, Level::Baseline, "hostNamespaces"),
        "host namespaces (hostIPC, hostNetwork, hostPID)"
    );
}

#[test]
fn host_network_defaults_host_ports() {
    // pkg/apis/core/v1/defaults.go SetDefaults_Pod: with hostNetwork every containerPort
    // becomes a hostPort, so the created pod also fails hostPorts.
    let pod = tweak(&baseline(), |p| {
        set(p, "/spec/hostNetwork", json!(true));
        set(p, &format!("{CTR}/ports"), json!([{"containerPort": 8888}]));
    });
    rejected_by(&pod, Level::Baseline, &["hostNamespaces", "hostPorts"]);
    assert!(message(&pod, Level::Baseline, "hostPorts").contains("8888"));
}

// -----------------------------------------------------------------------------------------
// privileged (check_privileged.go, check_privileged_test.go, fixtures_privileged.go)

#[test]
fn privileged_containers() {
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/securityContext/privileged"),
            json!(false),
        ),
        Level::Baseline,
    );
    for c in [CTR, INIT, "/spec/ephemeralContainers/0"] {
        let pod = tweak(&baseline(), |p| {
            if c.contains("ephemeral") {
                set(
                    p,
                    "/spec/ephemeralContainers",
                    json!([{"name": "debug", "image": "busybox"}]),
                );
            }
            set(p, &format!("{c}/securityContext/privileged"), json!(true));
        });
        rejected_by(&pod, Level::Baseline, &["privileged"]);
    }
    let both = tweak(&baseline(), |p| {
        set(p, &format!("{CTR}/securityContext/privileged"), json!(true));
        set(
            p,
            &format!("{INIT}/securityContext/privileged"),
            json!(true),
        );
    });
    assert_eq!(
        message(&both, Level::Baseline, "privileged"),
        r#"privileged (containers "initcontainer1", "container1" must not set securityContext.privileged=true)"#
    );
}

// -----------------------------------------------------------------------------------------
// capabilities (check_capabilities_baseline.go, check_capabilities_restricted.go and their
// tests, fixtures_capabilities_baseline.go, fixtures_capabilities_restricted.go)

#[test]
fn capabilities_baseline_allowed_list() {
    let all_allowed = json!([
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT"
    ]);
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/securityContext/capabilities/add"),
            all_allowed,
        ),
        Level::Baseline,
    );
    for cap in [
        "NET_RAW",
        "SYS_ADMIN",
        "NET_ADMIN",
        "chown",
        "CAP_CHOWN",
        "ALL",
    ] {
        let pod = with(
            &baseline(),
            &format!("{INIT}/securityContext/capabilities/add"),
            json!([cap]),
        );
        rejected_by(&pod, Level::Baseline, &["capabilities_baseline"]);
    }
    // Dropping is never a baseline concern.
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/securityContext/capabilities/drop"),
            json!(["ALL"]),
        ),
        Level::Baseline,
    );
}

#[test]
fn capabilities_baseline_message() {
    // check_capabilities_baseline_test.go "multiple containers".
    let pod = tweak(&baseline(), |p| {
        set(
            p,
            "/spec/containers",
            json!([
                {"name": "a", "securityContext": {"capabilities": {"add": ["FOO", "BAR"]}}},
                {"name": "b", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"]}}},
                {"name": "c", "securityContext": {"capabilities": {"add": ["NET_RAW", "CHOWN"]}}}
            ]),
        );
    });
    assert_eq!(
        message(&pod, Level::Baseline, "capabilities_baseline"),
        r#"non-default capabilities (containers "a", "b", "c" must not include "BAR", "BAZ", "FOO", "NET_RAW" in securityContext.capabilities.add)"#
    );
}

#[test]
fn capabilities_restricted_drop_all_add_net_bind_service() {
    admitted(&restricted(), Level::Restricted);
    let net_bind = with(
        &restricted(),
        &format!("{CTR}/securityContext/capabilities/add"),
        json!(["NET_BIND_SERVICE"]),
    );
    admitted(&net_bind, Level::Restricted);
    // Baseline's default set is not enough for restricted (and baseline's check is overridden).
    let chown = with(
        &restricted(),
        &format!("{CTR}/securityContext/capabilities/add"),
        json!(["CHOWN"]),
    );
    rejected_by(&chown, Level::Restricted, &["capabilities_restricted"]);
    admitted(&chown, Level::Baseline);
    // NET_RAW fails both checks, but restricted reports only its own.
    let net_raw = with(
        &restricted(),
        &format!("{CTR}/securityContext/capabilities/add"),
        json!(["NET_RAW"]),
    );
    rejected_by(&net_raw, Level::Restricted, &["capabilities_restricted"]);
    rejected_by(&net_raw, Level::Baseline, &["capabilities_baseline"]);
}

#[test]
fn capabilities_restricted_requires_drop_all() {
    let base = restricted();
    for drop in [
        json!([]),
        json!(["NET_RAW"]),
        json!(["all"]),
        json!(["CHOWN", "KILL"]),
    ] {
        let pod = with(
            &base,
            &format!("{INIT}/securityContext/capabilities/drop"),
            drop.clone(),
        );
        rejected_by(&pod, Level::Restricted, &["capabilities_restricted"]);
    }
    admitted(
        &with(
            &base,
            &format!("{INIT}/securityContext/capabilities/drop"),
            json!(["NET_RAW", "ALL"]),
        ),
        Level::Restricted,
    );
    // No capabilities object at all, or no securityContext.
    let no_caps = tweak(&base, |p| {
        p["spec"]["containers"][0]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("capabilities");
    });
    rejected_by(&no_caps, Level::Restricted, &["capabilities_restricted"]);
    // check_capabilities_restricted_test.go "multiple containers".
    let pod = tweak(&base, |p| {
        set(p, "/spec/initContainers", json!([]));
        set(
            p,
            "/spec/containers",
            json!([
                {"name": "a", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["BAR", "BAZ"], "drop": ["ALL"]}}},
                {"name": "b", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_BIND_SERVICE"]}}},
                {"name": "c", "securityContext": {"allowPrivilegeEscalation": false}}
            ]),
        );
    });
    assert_eq!(
        message(&pod, Level::Restricted, "capabilities_restricted"),
        r#"unrestricted capabilities (containers "b", "c" must set securityContext.capabilities.drop=["ALL"]; container "a" must not include "BAR", "BAZ" in securityContext.capabilities.add)"#
    );
}

// -----------------------------------------------------------------------------------------
// hostPathVolumes (check_hostPathVolumes.go, fixtures_hostPathVolumes.go)

#[test]
fn host_path_volumes_fail_baseline() {
    let pod = with(
        &baseline(),
        "/spec/volumes",
        json!([
            {"name": "volume-hostpath", "hostPath": {"path": "/a", "type": "Directory"}},
            {"name": "ok", "emptyDir": {}}
        ]),
    );
    rejected_by(&pod, Level::Baseline, &["hostPathVolumes"]);
    // `hostPath: null` is an unset pointer.
    admitted(
        &with(
            &baseline(),
            "/spec/volumes",
            json!([{"name": "v", "hostPath": null, "emptyDir": {}}]),
        ),
        Level::Baseline,
    );
    // Any other volume type is baseline's business only through hostPath.
    admitted(
        &with(
            &baseline(),
            "/spec/volumes",
            json!([{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
        ),
        Level::Baseline,
    );
}

// -----------------------------------------------------------------------------------------
// hostPorts (check_hostPorts.go, check_hostPorts_test.go, fixtures_hostPorts.go)

#[test]
fn host_ports() {
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/ports"),
            json!([{"containerPort": 12345, "hostPort": 0}]),
        ),
        Level::Baseline,
    );
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/ports"),
            json!([{"containerPort": 12345}]),
        ),
        Level::Baseline,
    );
    for c in [CTR, INIT] {
        let pod = with(
            &baseline(),
            &format!("{c}/ports"),
            json!([{"containerPort": 12345, "hostPort": 12345}]),
        );
        rejected_by(&pod, Level::Baseline, &["hostPorts"]);
    }
    // check_hostPorts_test.go "multiple containers"
    let pod = with(
        &baseline(),
        "/spec/containers",
        json!([
            {"name": "a", "ports": [{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 20}]},
            {"name": "b", "ports": [{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 30}]},
            {"name": "c", "ports": [{"hostPort": 0}]}
        ]),
    );
    assert_eq!(
        message(&pod, Level::Baseline, "hostPorts"),
        r#"hostPort (containers "a", "b" use hostPorts 10, 20, 30)"#
    );
}

// -----------------------------------------------------------------------------------------
// appArmorProfile (check_appArmorProfile.go, check_appArmorProfile_test.go,
// fixtures_appArmorProfile.go)

#[test]
fn app_armor_annotations() {
    let annotate = |key: &str, value: &str| {
        with(
            &baseline(),
            "/metadata/annotations",
            json!({format!("container.apparmor.security.beta.kubernetes.io/{key}"): value, "env": "prod"}),
        )
    };
    for ok in [
        "runtime/default",
        "localhost/sec-profile01",
        "localhost/",
        "",
    ] {
        admitted(&annotate("container1", ok), Level::Baseline);
    }
    // Any key with the prefix counts, even one naming no container.
    for bad in ["unconfined", "unknown", "Runtime/Default"] {
        rejected_by(
            &annotate("container1", bad),
            Level::Baseline,
            &["appArmorProfile"],
        );
        rejected_by(
            &annotate("nosuchcontainer", bad),
            Level::Baseline,
            &["appArmorProfile"],
        );
    }
    // check_appArmorProfile_test.go "multiple containers": the detail lists key="value".
    let pod = with(
        &baseline(),
        "/metadata/annotations",
        json!({
            "container.apparmor.security.beta.kubernetes.io/": "bogus",
            "container.apparmor.security.beta.kubernetes.io/a": "",
            "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/e": "unconfined"
        }),
    );
    let m = message(&pod, Level::Baseline, "appArmorProfile");
    assert!(
        m.starts_with(
            "forbidden AppArmor profiles (annotations must not set AppArmor profile type to "
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"container.apparmor.security.beta.kubernetes.io/e="unconfined""#),
        "{m}"
    );
    assert!(
        m.contains(r#"container.apparmor.security.beta.kubernetes.io/="bogus""#),
        "{m}"
    );
}

#[test]
fn app_armor_fields() {
    for ok in ["RuntimeDefault", "Localhost"] {
        let pod = tweak(&baseline(), |p| {
            set(
                p,
                "/spec/securityContext/appArmorProfile",
                json!({"type": ok, "localhostProfile": "p"}),
            );
            set(
                p,
                &format!("{CTR}/securityContext/appArmorProfile/type"),
                json!(ok),
            );
        });
        admitted(&pod, Level::Baseline);
    }
    let pod_level = with(
        &baseline(),
        "/spec/securityContext/appArmorProfile",
        json!({"type": "Unconfined"}),
    );
    rejected_by(&pod_level, Level::Baseline, &["appArmorProfile"]);
    assert_eq!(
        message(&pod_level, Level::Baseline, "appArmorProfile"),
        r#"forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")"#
    );
    for c in [CTR, INIT] {
        let pod = with(
            &baseline(),
            &format!("{c}/securityContext/appArmorProfile/type"),
            json!("Unconfined"),
        );
        rejected_by(&pod, Level::Baseline, &["appArmorProfile"]);
    }
    // Container RuntimeDefault does not excuse a pod-level Unconfined.
    let mixed = tweak(&pod_level, |p| {
        set(
            p,
            &format!("{CTR}/securityContext/appArmorProfile/type"),
            json!("RuntimeDefault"),
        )
    });
    rejected_by(&mixed, Level::Baseline, &["appArmorProfile"]);
    // AppArmor is a baseline check and stays in restricted.
    let r = with(
        &restricted(),
        &format!("{CTR}/securityContext/appArmorProfile/type"),
        json!("Unconfined"),
    );
    rejected_by(&r, Level::Restricted, &["appArmorProfile"]);
}

// -----------------------------------------------------------------------------------------
// seLinuxOptions (check_seLinuxOptions.go, check_seLinuxOptions_test.go,
// fixtures_seLinuxOptions.go)

#[test]
fn selinux_allowed_types() {
    for t in [
        "",
        "container_t",
        "container_init_t",
        "container_kvm_t",
        "container_engine_t",
    ] {
        let pod = tweak(&baseline(), |p| {
            set(
                p,
                "/spec/securityContext/seLinuxOptions",
                json!({"type": t, "level": "s0:c1,c2"}),
            );
            set(
                p,
                &format!("{INIT}/securityContext/seLinuxOptions/type"),
                json!(t),
            );
        });
        admitted(&pod, Level::Baseline);
    }
    // container_engine_t: v1.31+ only (PR #126165).
    let engine = with(
        &baseline(),
        &format!("{CTR}/securityContext/seLinuxOptions/type"),
        json!("container_engine_t"),
    );
    assert_eq!(ids_at(&engine, Level::Baseline, 30), ["seLinuxOptions"]);
    assert!(ids_at(&engine, Level::Baseline, 31).is_empty());
    // The level is free.
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/securityContext/seLinuxOptions/level"),
            json!("s0:c123,c456"),
        ),
        Level::Baseline,
    );
}

#[test]
fn selinux_forbidden_values() {
    for (pointer, value) in [
        ("/spec/securityContext/seLinuxOptions/type", "spc_t"),
        ("/spec/securityContext/seLinuxOptions/user", "sysadm_u"),
        ("/spec/securityContext/seLinuxOptions/role", "sysadm_r"),
        (
            "/spec/containers/0/securityContext/seLinuxOptions/type",
            "foo",
        ),
        (
            "/spec/initContainers/0/securityContext/seLinuxOptions/user",
            "bar",
        ),
        (
            "/spec/initContainers/0/securityContext/seLinuxOptions/role",
            "baz",
        ),
    ] {
        rejected_by(
            &with(&baseline(), pointer, json!(value)),
            Level::Baseline,
            &["seLinuxOptions"],
        );
    }
    // check_seLinuxOptions_test.go "invalid pod and containers", "bad user".
    let pod = tweak(&baseline(), |p| {
        set(
            p,
            "/spec/securityContext/seLinuxOptions",
            json!({"type": "foo", "user": "bar", "role": "baz"}),
        );
        set(p, "/spec/initContainers", json!([]));
        set(
            p,
            "/spec/containers",
            json!([
                {"name": "a", "securityContext": {"seLinuxOptions": {"type": "container_t"}}},
                {"name": "d", "securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}},
                {"name": "e", "securityContext": {"seLinuxOptions": {"type": "bar"}}},
                {"name": "f", "securityContext": {"seLinuxOptions": {"user": "bar"}}},
                {"name": "g", "securityContext": {"seLinuxOptions": {"role": "baz"}}}
            ]),
        );
    });
    assert_eq!(
        message(&pod, Level::Baseline, "seLinuxOptions"),
        r#"seLinuxOptions (pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set)"#
    );
    let user = with(
        &baseline(),
        "/spec/securityContext/seLinuxOptions",
        json!({"user": "bad"}),
    );
    assert_eq!(
        message(&user, Level::Baseline, "seLinuxOptions"),
        "seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: user may not be set)"
    );
}

// -----------------------------------------------------------------------------------------
// procMount (check_procMount_baseline.go, check_procMount_restricted.go,
// fixtures_procMount.go, testdata/{baseline,restricted}/v1.35)

#[test]
fn proc_mount_baseline() {
    admitted(
        &with(
            &baseline(),
            &format!("{CTR}/securityContext/procMount"),
            json!("Default"),
        ),
        Level::Baseline,
    );
    for c in [CTR, INIT] {
        let pod = with(
            &baseline(),
            &format!("{c}/securityContext/procMount"),
            json!("Unmasked"),
        );
        rejected_by(&pod, Level::Baseline, &["procMount"]);
        // hostUsers: true is no user namespace.
        rejected_by(
            &with(&pod, "/spec/hostUsers", json!(true)),
            Level::Baseline,
            &["procMount"],
        );
    }
    assert_eq!(
        message(
            &with(
                &baseline(),
                &format!("{CTR}/securityContext/procMount"),
                json!("Unmasked")
            ),
            Level::Baseline,
            "procMount"
        ),
        r#"procMount (container "container1" must not set securityContext.procMount to "Unmasked")"#
    );
}

#[test]
fn proc_mount_user_namespaces() {
    // testdata/baseline/v1.35/pass/procmount_baseline1.yaml: Unmasked with hostUsers: false.
    let pod = tweak(&baseline(), |p| {
        set(
            p,
            &format!("{CTR}/securityContext/procMount"),
            json!("Unmasked"),
        );
        set(
            p,
            &format!("{INIT}/securityContext/procMount"),
            json!("Unmasked"),
        );
        set(p, "/spec/hostUsers", json!(false));
        set(p, "/spec/securityContext", json!({}));
    });
    admitted(&pod, Level::Baseline);
    // Before v1.35 the relaxation does not exist (it was behind a perma-alpha gate).
    assert_eq!(ids_at(&pod, Level::Baseline, 34), ["procMount"]);
    // testdata/restricted/v1.35/fail/procmount_restricted0.yaml: restricted still forbids it.
    let r = tweak(&restricted(), |p| {
        set(
            p,
            &format!("{CTR}/securityContext/procMount"),
            json!("Unmasked"),
        );
        set(p, "/spec/hostUsers", json!(false));
    });
    rejected_by(&r, Level::Restricted, &["procMount_restricted"]);
    assert_eq!(ids_at(&r, Level::Restricted, 34), ["procMount"]);
}

// -----------------------------------------------------------------------------------------
// seccompProfile (check_seccompProfile_baseline.go, check_seccompProfile_restricted.go and
// their tests, fixtures_seccompProfile_*.go)

#[test]
fn seccomp_baseline() {
    for t in ["RuntimeDefault", "Localhost"] {
        let pod = tweak(&baseline(), |p| {
            set(
                p,
                "/spec/securityContext/seccompProfile",
                json!({"type": t, "localhostProfile": "p.json"}),
            );
            set(
                p,
                &format!("{CTR}/securityContext/seccompProfile/type"),
                json!(t),
            );
        });
        admitted(&pod, Level::Baseline);
    }
    // Unset is fine at baseline.
    admitted(&baseline(), Level::Baseline);
    for pointer in [
        "/spec/securityContext/seccompProfile/type",
        "/spec/containers/0/securityContext/seccompProfile/type",
        "/spec/initContainers/0/securityContext/seccompProfile/type",
    ] {
        rejected_by(
            &with(&baseline(), pointer, json!("Unconfined")),
            Level::Baseline,
            &["seccompProfile_baseline"],
        );
    }
    let both = tweak(&baseline(), |p| {
        set(
            p,
            "/spec/securityContext/seccompProfile/type",
            json!("Unconfined"),
        );
        set(
            p,
            &format!("{CTR}/securityContext/seccompProfile/type"),
            json!("Unconfined"),
        );
    });
    assert_eq!(
        message(&both, Level::Baseline, "seccompProfile_baseline"),
        r#"seccompProfile (pod and container "container1" must not set securityContext.seccompProfile.type to "Unconfined")"#
    );
}

#[test]
fn seccomp_annotations_only_before_1_19() {
    // seccompProfileBaseline_1_0 checks the alpha annotations; 1.19+ checks the fields only.
    let pod = with(
        &baseline(),
        "/metadata/annotations",
        json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
    );
    assert_eq!(
        ids_at(&pod, Level::Baseline, 18),
        ["seccompProfile_baseline"]
    );
    admitted(&pod, Level::Baseline);
    let ctr = with(
        &baseline(),
        "/metadata/annotations",
        json!({"container.seccomp.security.alpha.kubernetes.io/container1": "unconfined"}),
    );
    assert_eq!(
        ids_at(&ctr, Level::Baseline, 18),
        ["seccompProfile_baseline"]
    );
    for ok in [
        "runtime/default",
        "docker/default",
        "localhost/profile.json",
    ] {
        let pod = with(
            &baseline(),
            "/metadata/annotations",
            json!({"seccomp.security.alpha.kubernetes.io/pod": ok}),
        );
        assert!(ids_at(&pod, Level::Baseline, 18).is_empty(), "{ok}");
    }
}

#[test]
fn seccomp_restricted_pod_and_container_levels() {
    // fixtures_seccompProfile_restricted.go pass: pod level; containers only.
    let containers_only = tweak(&restricted(), |p| {
        p["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("seccompProfile");
        set(
            p,
            &format!("{CTR}/securityContext/seccompProfile/type"),
            json!("RuntimeDefault"),
        );
        set(
            p,
            &format!("{INIT}/securityContext/seccompProfile"),
            json!({"type": "Localhost", "localhostProfile": "p.json"}),
        );
    });
    admitted(&containers_only, Level::Restricted);
    // Unset everywhere.
    let unset = tweak(&restricted(), |p| {
        p["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("seccompProfile");
    });
    rejected_by(&unset, Level::Restricted, &["seccompProfile_restricted"]);
    assert_eq!(
        message(&unset, Level::Restricted, "seccompProfile_restricted"),
        r#"seccompProfile (pod or containers "initcontainer1", "container1" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
    );
    // One container left uncovered.
    let one_missing = with(
        &unset,
        &format!("{CTR}/securityContext/seccompProfile/type"),
        json!("RuntimeDefault"),
    );
    rejected_by(
        &one_missing,
        Level::Restricted,
        &["seccompProfile_restricted"],
    );
    // A container's Unconfined overrides a good pod level.
    let container_bad = with(
        &restricted(),
        &format!("{INIT}/securityContext/seccompProfile/type"),
        json!("Unconfined"),
    );
    rejected_by(
        &container_bad,
        Level::Restricted,
        &["seccompProfile_restricted"],
    );
    // A bad pod level fails even when every container sets a good one.
    let pod_bad = tweak(&containers_only, |p| {
        set(
            p,
            "/spec/securityContext/seccompProfile/type",
            json!("Unconfined"),
        )
    });
    rejected_by(&pod_bad, Level::Restricted, &["seccompProfile_restricted"]);
    // A profile object without a type is not RuntimeDefault.
    rejected_by(
        &with(
            &restricted(),
            "/spec/securityContext/seccompProfile",
            json!({}),
        ),
        Level::Restricted,
        &["seccompProfile_restricted"],
    );
}

// -----------------------------------------------------------------------------------------
// sysctls (check_sysctls.go, check_sysctls_test.go, fixtures_sysctls.go)

#[test]
fn sysctls_safe_list() {
    let sysctls = |names: &[&str]| {
        with(
            &baseline(),
            "/spec/securityContext/sysctls",
            names
                .iter()
                .map(|n| json!({"name": n, "value": "0"}))
                .collect(),
        )
    };
    let all: Vec<&str> = pss::SYSCTLS.iter().map(|(_, n)| *n).collect();
    admitted(&sysctls(&all), Level::Baseline);
    admitted(&sysctls(&all), Level::Privileged);
    for bad in [
        "kernel.msgmax",
        "net.core.somaxconn",
        "vm.max_map_count",
        "kernel.shm_rmid_forced.x",
        "",
    ] {
        rejected_by(&sysctls(&[bad]), Level::Baseline, &["sysctls"]);
    }
    // check_sysctls_test.go "forbidden sysctls"
    assert_eq!(
        message(&sysctls(&["a", "b"]), Level::Baseline, "sysctls"),
        "forbidden sysctls (a, b)"
    );
}

#[test]
fn sysctls_by_policy_version() {
    // check_sysctls_test.go TestSysctls vs TestSysctls_1_27, and the 1.29, 1.32, 1.37 sets.
    let one = |n: &str| {
        with(
            &baseline(),
            "/spec/securityContext/sysctls",
            json!([{"name": n, "value": "1"}]),
        )
    };
    let cases = [
        ("net.ipv4.ip_unprivileged_port_start", 0),
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_keepalive_time", 29),
        ("net.ipv4.tcp_fin_timeout", 29),
        ("net.ipv4.tcp_keepalive_intvl", 29),
        ("net.ipv4.tcp_keepalive_probes", 29),
        ("net.ipv4.tcp_rmem", 32),
        ("net.ipv4.tcp_wmem", 32),
        ("net.ipv4.tcp_slow_start_after_idle", 37),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ];
    for (name, since) in cases {
        let pod = one(name);
        if since > 0 {
            assert_eq!(
                ids_at(&pod, Level::Baseline, since - 1),
                ["sysctls"],
                "{name}"
            );
        }
        assert!(ids_at(&pod, Level::Baseline, since).is_empty(), "{name}");
        admitted(&pod, Level::Baseline);
    }
}

// -----------------------------------------------------------------------------------------
// windowsHostProcess (check_windowsHostProcess.go, check_windowsHostProcess_test.go,
// fixtures_windowsHostProcess.go)

#[test]
fn windows_host_process() {
    for pointer in [
        "/spec/securityContext/windowsOptions/hostProcess",
        "/spec/containers/0/securityContext/windowsOptions/hostProcess",
        "/spec/initContainers/0/securityContext/windowsOptions/hostProcess",
    ] {
        rejected_by(
            &with(&baseline(), pointer, json!(true)),
            Level::Baseline,
            &["windowsHostProcess"],
        );
        admitted(&with(&baseline(), pointer, json!(false)), Level::Baseline);
    }
    let pod = tweak(&baseline(), |p| {
        set(
            p,
            "/spec/securityContext/windowsOptions/hostProcess",
            json!(true),
        );
        set(
            p,
            &format!("{CTR}/securityContext/windowsOptions/hostProcess"),
            json!(true),
        );
    });
    assert_eq!(
        message(&pod, Level::Baseline, "windowsHostProcess"),
        r#"hostProcess (pod and container "container1" must not set securityContext.windowsOptions.hostProcess=true)"#
    );
}

// -----------------------------------------------------------------------------------------
// hostProbesAndHostLifecycle (check_hostProbesAndhostLifecycle.go,
// fixtures_hostProbesAndHostLifecycle.go, testdata/baseline/v1.35/*/hostprobesandhostlifecycle*.yaml)

#[test]
fn probes_without_host_pass() {
    let pod = tweak(&baseline(), |p| {
        set(
            p,
            &format!("{CTR}/livenessProbe"),
            json!({"httpGet": {"port": 8080, "path": "/"}}),
        );
        set(
            p,
            &format!("{CTR}/readinessProbe"),
            json!({"tcpSocket": {"port": 8080, "host": ""}}),
        );
        set(
            p,
            &format!("{CTR}/startupProbe"),
            json!({"exec": {"command": ["true"]}}),
        );
        set(
            p,
            &format!("{CTR}/lifecycle"),
            json!({"preStop": {"sleep": {"seconds": 5}}, "postStart": {"httpGet": {"port": 80}}}),
        );
        set(
            p,
            &format!("{INIT}/readinessProbe"),
            json!({"grpc": {"port": 9090}}),
        );
    });
    admitted(&pod, Level::Baseline);
}

#[test]
fn probe_and_lifecycle_hosts_fail_baseline() {
    let cases = [
        (
            format!("{CTR}/livenessProbe"),
            json!({"httpGet": {"host": "bad.host", "port": 8080}}),
        ),
        (
            format!("{CTR}/readinessProbe"),
            json!({"tcpSocket": {"host": "8.8.8.8", "port": 8080}}),
        ),
        (
            format!("{CTR}/startupProbe"),
            json!({"httpGet": {"host": "2001:4860:4860::8888", "port": 8080}}),
        ),
        (
            format!("{CTR}/lifecycle"),
            json!({"postStart": {"httpGet": {"host": "bad.host", "port": 8080}}}),
        ),
        (
            format!("{CTR}/lifecycle"),
            json!({"preStop": {"tcpSocket": {"host": "bad.host", "port": 8080}}}),
        ),
        (
            format!("{INIT}/readinessProbe"),
            json!({"tcpSocket": {"host": "8.8.8.8", "port": 8080}}),
        ),
        // The merged check forbids loopback too (baseline/v1.35/fail/hostprobesandhostlifecycle4.yaml).
        (
            format!("{CTR}/livenessProbe"),
            json!({"httpGet": {"host": "127.0.0.1", "port": 8080}}),
        ),
        (
            format!("{CTR}/readinessProbe"),
            json!({"tcpSocket": {"host": "::1", "port": 8080}}),
        ),
        (
            format!("{CTR}/lifecycle"),
            json!({"preStop": {"httpGet": {"host": "localhost", "port": 9091, "path": "/quitquitquit"}}}),
        ),
    ];
    for (pointer, value) in cases {
        let pod = with(&baseline(), &pointer, value);
        rejected_by(&pod, Level::Baseline, &["hostProbesAndHostLifecycle"]);
        assert_eq!(
            ids_at(&pod, Level::Baseline, 33),
            Vec::<&str>::new(),
            "{pointer}"
        );
    }
    let pod = with(
        &baseline(),
        "/spec/containers",
        json!([
            {"name": "valid"},
            {"name": "invalid1", "livenessProbe": {"httpGet": {"host": "a.com"}}},
            {"name": "invalid2", "lifecycle": {"preStop": {"tcpSocket": {"host": "b.com"}}}, "startupProbe": {"httpGet": {"host": "a.com"}}}
        ]),
    );
    assert_eq!(
        message(&pod, Level::Baseline, "hostProbesAndHostLifecycle"),
        r#"probe or lifecycle host (containers "invalid1", "invalid2" use probe or lifecycle hosts "a.com", "b.com")"#
    );
}

// -----------------------------------------------------------------------------------------
// restrictedVolumes (check_restrictedVolumes.go, check_restrictedVolumes_test.go,
// fixtures_restrictedVolumes.go)

#[test]
fn restricted_volume_types_allowed() {
    let pod = with(
        &restricted(),
        "/spec/volumes",
        json!([
            {"name": "volume0"},
            {"name": "volume1", "emptyDir": {}},
            {"name": "volume2", "secret": {"secretName": "test"}},
            {"name": "volume3", "persistentVolumeClaim": {"claimName": "test"}},
            {"name": "volume4", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"name": "volume5", "configMap": {"name": "test"}},
            {"name": "volume6", "projected": {"sources": []}},
            {"name": "volume7", "csi": {"driver": "inline.storage.kubernetes.io"}},
            {"name": "volume8", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "volume9", "image": {"reference": "registry.k8s.io/pause"}}
        ]),
    );
    admitted(&pod, Level::Restricted);
}

#[test]
fn restricted_volume_types_forbidden() {
    let sources = [
        ("gcePersistentDisk", json!({"pdName": "test"})),
        ("awsElasticBlockStore", json!({"volumeID": "test"})),
        (
            "gitRepo",
            json!({"repository": "github.com/kubernetes/kubernetes"}),
        ),
        ("nfs", json!({"server": "test", "path": "/test"})),
        (
            "iscsi",
            json!({"targetPortal": "test", "iqn": "iqn.2001-04.com.example:storage.kube.sys1.xyz", "lun": 0}),
        ),
        ("glusterfs", json!({"path": "test", "endpoints": "test"})),
        ("rbd", json!({"monitors": ["test"], "image": "test"})),
        ("flexVolume", json!({"driver": "test"})),
        ("cinder", json!({"volumeID": "test"})),
        ("cephfs", json!({"monitors": ["test"]})),
        ("flocker", json!({"datasetName": "test"})),
        ("fc", json!({"wwids": ["test"]})),
        (
            "azureFile",
            json!({"secretName": "test", "shareName": "test"}),
        ),
        ("vsphereVolume", json!({"volumePath": "test"})),
        (
            "quobyte",
            json!({"registry": "localhost:1234", "volume": "test"}),
        ),
        (
            "azureDisk",
            json!({"diskName": "test", "diskURI": "https://test.blob.core.windows.net/test/test.vhd"}),
        ),
        (
            "portworxVolume",
            json!({"volumeID": "test", "fsType": "ext4"}),
        ),
        ("photonPersistentDisk", json!({"pdID": "test"})),
        (
            "scaleIO",
            json!({"volumeName": "test", "gateway": "localhost", "system": "test"}),
        ),
        ("storageos", json!({"volumeName": "test"})),
        ("hostPath", json!({"path": "/dev/null"})),
    ];
    for (key, source) in sources {
        let pod = with(
            &restricted(),
            "/spec/volumes",
            json!([{"name": "volume1", key: source}]),
        );
        rejected_by(&pod, Level::Restricted, &["restrictedVolumes"]);
        assert_eq!(
            message(&pod, Level::Restricted, "restrictedVolumes"),
            format!(
                r#"restricted volume types (volume "volume1" uses restricted volume type "{key}")"#
            )
        );
        let at_baseline: &[&str] = if key == "hostPath" {
            &["hostPathVolumes"]
        } else {
            &[]
        };
        assert_eq!(ids(&pod, Level::Baseline), at_baseline, "{key}");
    }
    // A source the checker does not know is "unknown" (the upstream switch's default).
    let unknown = with(
        &restricted(),
        "/spec/volumes",
        json!([{"name": "x", "someFutureSource": {}}]),
    );
    assert_eq!(
        message(&unknown, Level::Restricted, "restrictedVolumes"),
        r#"restricted volume types (volume "x" uses restricted volume type "unknown")"#
    );
    // Several at once: names in order, types sorted.
    let many = with(
        &restricted(),
        "/spec/volumes",
        json!([
            {"name": "ok", "emptyDir": {}},
            {"name": "b1", "hostPath": {"path": "/"}},
            {"name": "b2", "nfs": {"server": "s", "path": "/"}}
        ]),
    );
    assert_eq!(
        message(&many, Level::Restricted, "restrictedVolumes"),
        r#"restricted volume types (volumes "b1", "b2" use restricted volume types "hostPath", "nfs")"#
    );
}

// -----------------------------------------------------------------------------------------
// allowPrivilegeEscalation (check_allowPrivilegeEscalation.go,
// check_allowPrivilegeEscalation_test.go, fixtures_allowPrivilegeEscalation.go)

#[test]
fn allow_privilege_escalation_must_be_false() {
    // TestAllowPrivilegeEscalation_1_25 "multiple containers"
    let pod = tweak(&restricted(), |p| {
        set(p, "/spec/initContainers", json!([]));
        set(
            p,
            "/spec/containers",
            json!([
                {"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"]}}},
                {"name": "b", "securityContext": {"allowPrivilegeEscalation": null, "capabilities": {"drop": ["ALL"]}}},
                {"name": "c", "securityContext": {"allowPrivilegeEscalation": true, "capabilities": {"drop": ["ALL"]}}},
                {"name": "d", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}
            ]),
        );
    });
    assert_eq!(
        message(&pod, Level::Restricted, "allowPrivilegeEscalation"),
        r#"allowPrivilegeEscalation != false (containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false)"#
    );
    // An init container without it fails too; baseline does not care.
    let init = with(
        &restricted(),
        &format!("{INIT}/securityContext/allowPrivilegeEscalation"),
        json!(true),
    );
    rejected_by(&init, Level::Restricted, &["allowPrivilegeEscalation"]);
    admitted(&init, Level::Baseline);
    // Ephemeral containers are visited as well.
    let debug = with(
        &restricted(),
        "/spec/ephemeralContainers",
        json!([
            {"name": "debug", "securityContext": {"capabilities": {"drop": ["ALL"]}}}
        ]),
    );
    rejected_by(&debug, Level::Restricted, &["allowPrivilegeEscalation"]);
}

#[test]
fn windows_pods_are_exempt_from_linux_only_restricted_checks() {
    // 1.25+: spec.os.name windows skips allowPrivilegeEscalation, capabilities and seccomp
    // (TestAllowPrivilegeEscalation_1_25 "windows pod", capabilitiesRestrictedV1Dot25,
    // seccompProfileRestrictedV1Dot25); runAsNonRoot still applies.
    let pod = tweak(&baseline(), |p| {
        set(p, "/spec/os", json!({"name": "windows"}));
        set(p, "/spec/securityContext/runAsNonRoot", json!(true));
    });
    admitted(&pod, Level::Restricted);
    assert_eq!(
        ids_at(&pod, Level::Restricted, 24),
        [
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "seccompProfile_restricted"
        ]
    );
    let linux = with(&pod, "/spec/os/name", json!("linux"));
    rejected_by(
        &linux,
        Level::Restricted,
        &[
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "seccompProfile_restricted",
        ],
    );
    rejected_by(
        &with(&pod, "/spec/securityContext/runAsNonRoot", json!(false)),
        Level::Restricted,
        &["runAsNonRoot"],
    );
}

// -----------------------------------------------------------------------------------------
// runAsNonRoot (check_runAsNonRoot.go, check_runAsNonRoot_test.go, fixtures_runAsNonRoot.go)

#[test]
fn run_as_non_root_pod_or_every_container() {
    // fixtures_runAsNonRoot.go pass: set at pod level; set on all containers.
    admitted(&restricted(), Level::Restricted);
    let containers = tweak(&restricted(), |p| {
        p["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("runAsNonRoot");
        set(
            p,
            &format!("{CTR}/securityContext/runAsNonRoot"),
            json!(true),
        );
        set(
            p,
            &format!("{INIT}/securityContext/runAsNonRoot"),
            json!(true),
        );
    });
    admitted(&containers, Level::Restricted);
    // fail: unset everywhere; one container uncovered.
    let unset = tweak(&containers, |p| {
        p["spec"]["containers"][0]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("runAsNonRoot");
    });
    rejected_by(&unset, Level::Restricted, &["runAsNonRoot"]);
    assert_eq!(
        message(&unset, Level::Restricted, "runAsNonRoot"),
        r#"runAsNonRoot != true (pod or container "container1" must set securityContext.runAsNonRoot=true)"#
    );
}

#[test]
fn run_as_non_root_explicit_false() {
    // fixtures_runAsNonRoot.go fail: explicit false on pod, on containers.
    let pod_false = with(
        &restricted(),
        "/spec/securityContext/runAsNonRoot",
        json!(false),
    );
    assert_eq!(
        message(&pod_false, Level::Restricted, "runAsNonRoot"),
        "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
    );
    // A pod-level false is not rescued by every container setting true.
    let rescued = tweak(&pod_false, |p| {
        set(
            p,
            &format!("{CTR}/securityContext/runAsNonRoot"),
            json!(true),
        );
        set(
            p,
            &format!("{INIT}/securityContext/runAsNonRoot"),
            json!(true),
        );
    });
    rejected_by(&rescued, Level::Restricted, &["runAsNonRoot"]);
    let init_false = with(
        &restricted(),
        &format!("{INIT}/securityContext/runAsNonRoot"),
        json!(false),
    );
    rejected_by(&init_false, Level::Restricted, &["runAsNonRoot"]);
    // runAsNonRoot is not a baseline concern.
    admitted(
        &with(
            &baseline(),
            "/spec/securityContext/runAsNonRoot",
            json!(false),
        ),
        Level::Baseline,
    );
}

#[test]
fn run_as_non_root_and_run_as_user_relaxed_for_user_namespaces() {
    // check_runAsNonRoot_test.go / check_runAsUser_test.go "host users false allowed" (1.35).
    let pod = tweak(&restricted(), |p| {
        p["spec"]["securityContext"] =
            json!({"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 0});
        set(p, "/spec/hostUsers", json!(false));
    });
    admitted(&pod, Level::Restricted);
    // Not before 1.35: the relaxation was gated on a perma-alpha feature gate until PR #132157.
    assert_eq!(
        ids_at(&pod, Level::Restricted, 34),
        ["runAsNonRoot", "runAsUser"]
    );
    // hostUsers: true is not a user namespace.
    let host_users = with(&pod, "/spec/hostUsers", json!(true));
    rejected_by(
        &host_users,
        Level::Restricted,
        &["runAsNonRoot", "runAsUser"],
    );
}

// -----------------------------------------------------------------------------------------
// runAsUser (check_runAsUser.go, check_runAsUser_test.go, fixtures_runAsUser.go)

#[test]
fn run_as_user_zero_is_forbidden() {
    admitted(
        &with(
            &restricted(),
            "/spec/securityContext/runAsUser",
            json!(1000),
        ),
        Level::Restricted,
    );
    admitted(
        &with(
            &restricted(),
            &format!("{CTR}/securityContext/runAsUser"),
            json!(1),
        ),
        Level::Restricted,
    );
    for pointer in [
        "/spec/securityContext/runAsUser",
        "/spec/containers/0/securityContext/runAsUser",
        "/spec/initContainers/0/securityContext/runAsUser",
    ] {
        let pod = with(&restricted(), pointer, json!(0));
        rejected_by(&pod, Level::Restricted, &["runAsUser"]);
        admitted(&pod, Level::Baseline);
    }
    // check_runAsUser_test.go "containers runAsUser=0"
    let pod = tweak(&restricted(), |p| {
        set(p, "/spec/securityContext/runAsUser", json!(1000));
        set(p, "/spec/initContainers", json!([]));
        let sc = |u: Option<i64>| {
            let mut sc =
                json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
            if let Some(u) = u {
                sc["runAsUser"] = json!(u);
            }
            sc
        };
        set(
            p,
            "/spec/containers",
            json!([
                {"name": "a", "securityContext": sc(None)},
                {"name": "c", "securityContext": sc(Some(0))},
                {"name": "d", "securityContext": sc(Some(0))},
                {"name": "e", "securityContext": sc(Some(1))}
            ]),
        );
    });
    assert_eq!(
        message(&pod, Level::Restricted, "runAsUser"),
        r#"runAsUser=0 (containers "c", "d" must not set runAsUser=0)"#
    );
}

#[test]
fn run_as_user_pod_zero_is_not_overridden_by_containers() {
    // check_runAsUser.go checks the pod and each container as separate setters: containers
    // that all set a non-zero user do not excuse `runAsUser: 0` on the pod.
    let pod = tweak(&restricted(), |p| {
        set(p, "/spec/securityContext/runAsUser", json!(0));
        set(p, &format!("{CTR}/securityContext/runAsUser"), json!(1000));
        set(p, &format!("{INIT}/securityContext/runAsUser"), json!(1000));
    });
    rejected_by(&pod, Level::Restricted, &["runAsUser"]);
    // Below 1.23 there is no runAsUser check.
    assert!(ids_at(&pod, Level::Restricted, 22).is_empty());
}

// -----------------------------------------------------------------------------------------
// API defaulting before admission (pkg/apis/core/v1/defaults.go)

#[test]
fn volume_without_source_defaults_to_empty_dir() {
    // SetDefaults_Volume; fixtures_restrictedVolumes.go "implicit empty dir" passes.
    admitted(
        &with(&restricted(), "/spec/volumes", json!([{"name": "scratch"}])),
        Level::Restricted,
    );
    admitted(
        &with(
            &restricted(),
            "/spec/volumes",
            json!([{"name": "scratch", "hostPath": null}]),
        ),
        Level::Restricted,
    );
}

// -----------------------------------------------------------------------------------------
// Everything at once

#[test]
fn every_baseline_violation_at_once() {
    let pod = tweak(&baseline(), |p| {
        set(
            p,
            "/metadata/annotations",
            json!({"container.apparmor.security.beta.kubernetes.io/container1": "unconfined"}),
        );
        set(p, "/spec/hostPID", json!(true));
        set(
            p,
            "/spec/volumes",
            json!([{"name": "h", "hostPath": {"path": "/"}}]),
        );
        set(
            p,
            "/spec/securityContext",
            json!({
                "sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                "seLinuxOptions": {"type": "spc_t"},
                "seccompProfile": {"type": "Unconfined"},
                "windowsOptions": {"hostProcess": true}
            }),
        );
        set(
            p,
            &format!("{CTR}/securityContext"),
            json!({
                "privileged": true,
                "capabilities": {"add": ["SYS_ADMIN"]},
                "procMount": "Unmasked"
            }),
        );
        set(
            p,
            &format!("{CTR}/ports"),
            json!([{"containerPort": 80, "hostPort": 80}]),
        );
        set(
            p,
            &format!("{CTR}/livenessProbe"),
            json!({"tcpSocket": {"host": "10.0.0.1", "port": 80}}),
        );
    });
    rejected_by(
        &pod,
        Level::Baseline,
        &check_ids(Level::Baseline, Version::Latest),
    );
    admitted(&pod, Level::Privileged);
}

// -----------------------------------------------------------------------------------------
// The operator's own pods: its config check Jobs

/// The config check Job of every rendered workload (`controller::config_check`), the rendered
/// ConfigMaps it mounts as candidates: gateways in memory (the tenant fixture's Deployments)
/// and on disk (the samples' StatefulSets, whose queue volume becomes an emptyDir), and the
/// agents' DaemonSets, privileged as they are.
fn check_jobs() -> Vec<(String, Value)> {
    use otelhouse::controller::config_check::check_objects;
    use otelhouse::controller::snapshot::ConfigRef;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for source in ["config/samples", "tests/fixtures/tenant.yaml"] {
        let inputs = otelhouse::render::load(&[root.join(source)], &[]).unwrap();
        let r =
            otelhouse::render::render(&inputs, &otelhouse::inventory::Settings::default()).unwrap();
        for w in &r.objects {
            let Some(config) = ConfigRef::of(w.kind, &w.object) else {
                continue;
            };
            let cms: Vec<&Value> = config
                .config_maps
                .iter()
                .map(|n| {
                    &r.objects
                        .iter()
                        .find(|o| o.kind == "ConfigMap" && o.name == *n)
                        .unwrap()
                        .object
                })
                .collect();
            let check = check_objects(&w.object, &cms).unwrap();
            out.push((format!("{} {}", w.kind, w.name), check.job.object));
        }
    }
    out
}

/// A check Job runs in the operator's namespace, which enforces `restricted` (the README's
/// install steps): every one passes it at 1.33 and latest, also the agents', whose own pods
/// need `privileged` (the Job mounts nothing of the node and runs as non-root).
#[test]
fn config_check_jobs_pass_restricted() {
    let jobs = check_jobs();
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        assert!(
            jobs.iter().any(|(w, _)| w.starts_with(kind)),
            "no {kind} checked"
        );
    }
    for (workload, job) in &jobs {
        assert_eq!(job["kind"], "Job");
        for version in [Version::Minor(33), Version::Latest] {
            let v = check_version(job, Level::Restricted, version);
            assert!(v.is_empty(), "the check Job of {workload}: {v:?}");
        }
        let volumes = job["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        assert!(
            volumes
                .iter()
                .all(|v| v.get("hostPath").is_none() && v.get("persistentVolumeClaim").is_none()),
            "{workload}: {volumes:?}"
        );
    }
}
