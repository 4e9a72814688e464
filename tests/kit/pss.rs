//! A Pod Security Standards checker for tests: the baseline and restricted levels as the
//! Pod Security admission plugin enforces them, so a test fails where a real cluster would
//! reject the pod. Depends on serde_json only; objects are plain JSON (as rendered).
//!
//! Written from the admission plugin's own source, kubernetes/kubernetes
//! `staging/src/k8s.io/pod-security-admission/` (paths below are relative to it), read at
//! master after the v1.34/v1.35 changes (PRs #125271, #132157, #130394, #138389):
//!
//! Evaluation (`policy/registry.go`, `policy/checks.go`, `api/helpers.go`):
//! - `privileged` evaluates nothing; `baseline` runs every baseline check; `restricted` runs
//!   every restricted check plus every baseline check not named in a restricted check's
//!   `OverrideCheckIDs` (restrictedVolumes overrides hostPathVolumes, capabilities_restricted
//!   overrides capabilities_baseline, seccompProfile_restricted overrides
//!   seccompProfile_baseline, procMount_restricted overrides procMount). Checks run baseline
//!   IDs first, then restricted IDs, each sorted, as `populate()` orders them.
//! - Each check has versioned implementations; policy version v1.N uses, per check, the newest
//!   one whose `MinimumVersion` is <= v1.N; a check whose first version is newer does not run.
//!   `latest`, and any version above the registry's maximum, is the maximum: v1.37 at master
//!   (the newest `MinimumVersion`, the v1.37 sysctls). An apiserver's own `latest` is the
//!   maximum of the registry it was built with (v1.33 on 1.33, v1.34 on 1.34, v1.35 on 1.35;
//!   nothing changed at 1.36). Use `check_version` to model an older cluster (the operator
//!   supports 1.33+) or a namespace pinned with `enforce-version`.
//! - Namespace labels (`api/constants.go`, `api/helpers.go` `PolicyToEvaluate`/`ParseLevel`/
//!   `ParseVersion`): `pod-security.kubernetes.io/enforce` absent is the admission default
//!   (`privileged`, from the default AdmissionConfiguration); an invalid value is `restricted`
//!   (fails closed). `enforce-version` absent or invalid is `latest`; valid is `v1.<minor>`.
//!
//! Pod extraction (`admission/admission.go`, `DefaultPodSpecExtractor`): Pod (its own
//! metadata and spec), PodTemplate `.template`, ReplicationController `.spec.template` (none
//! when absent: a pointer upstream), ReplicaSet/Deployment/DaemonSet/StatefulSet/Job
//! `.spec.template`, CronJob `.spec.jobTemplate.spec.template`; anything else has no pod.
//! Upstream *enforces* only on Pods; for workloads it only warns/audits, and the rejection
//! happens when the controller creates the pod from the template. Checking the template
//! here is checking that pod.
//!
//! Before checking, the API defaults that change a check's outcome or its findings are
//! applied, as the apiserver does before admission (`pkg/apis/core/v1/defaults.go`): a volume
//! with no source (only `name`) becomes `emptyDir: {}` (`SetDefaults_Volume`), and with
//! `hostNetwork: true` every container/initContainer port without a `hostPort` gets
//! `hostPort: containerPort` (`SetDefaults_Pod`, `defaultHostNetworkPorts`).
//!
//! Containers are visited as `policy/visitor.go` does: initContainers, containers,
//! ephemeralContainers (sidecars are init containers; nothing is exempt).
//!
//! Baseline checks (ID: source file; versions):
//! - `hostNamespaces`: `policy/check_hostNamespaces.go`; 1.0. hostNetwork/hostPID/hostIPC
//!   must be unset or false.
//! - `privileged`: `policy/check_privileged.go`; 1.0. securityContext.privileged unset/false.
//! - `capabilities_baseline`: `policy/check_capabilities_baseline.go`; 1.0. capabilities.add
//!   only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE,
//!   SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT (exact, case-sensitive strings).
//! - `hostPathVolumes`: `policy/check_hostPathVolumes.go`; 1.0. No `hostPath` volume.
//! - `hostPorts`: `policy/check_hostPorts.go`; 1.0. Every ports[].hostPort unset or 0.
//! - `appArmorProfile`: `policy/check_appArmorProfile.go`; 1.0 (fields and annotations, both
//!   patched into 1.0). Pod and container `appArmorProfile.type` RuntimeDefault or Localhost;
//!   annotations `container.apparmor.security.beta.kubernetes.io/*` empty, `runtime/default`
//!   or `localhost/*`.
//! - `seLinuxOptions`: `policy/check_seLinuxOptions.go`; 1.0, 1.31 (adds container_engine_t).
//!   type "", container_t, container_init_t, container_kvm_t (, container_engine_t); user and
//!   role empty; pod and containers.
//! - `procMount`: `policy/check_procMount_baseline.go`; 1.0 (only unset/"Default"), 1.35
//!   (anything when `hostUsers: false`).
//! - `seccompProfile_baseline`: `policy/check_seccompProfile_baseline.go`; 1.0 (the alpha
//!   annotations: runtime/default, docker/default, localhost/*), 1.19 (the fields: pod and
//!   container `seccompProfile.type` unset, RuntimeDefault or Localhost).
//! - `sysctls`: `policy/check_sysctls.go`; 1.0, 1.27, 1.29, 1.32, 1.37 (the safe list grows;
//!   see `SYSCTLS`). Only `spec.securityContext.sysctls[*].name` is checked.
//! - `windowsHostProcess`: `policy/check_windowsHostProcess.go`; 1.0. Pod and container
//!   `windowsOptions.hostProcess` unset/false.
//! - `hostProbesAndHostLifecycle`: `policy/check_hostProbesAndhostLifecycle.go`; 1.34.
//!   liveness/readiness/startup probes and postStart/preStop handlers: `httpGet.host` and
//!   `tcpSocket.host` unset or "". Loopback addresses are forbidden too: an earlier
//!   iteration of PR #125271 allowed 127.0.0.1 and ::1, the merged one does not (its fixture
//!   `test/testdata/baseline/v1.35/fail/hostprobesandhostlifecycle4.yaml` fails `::1`).
//!
//! Restricted checks:
//! - `restrictedVolumes`: `policy/check_restrictedVolumes.go`; 1.0 (overrides
//!   hostPathVolumes). Only configMap, csi, downwardAPI, emptyDir, ephemeral, image,
//!   persistentVolumeClaim, projected, secret (image: PR #130394, patched into 1.0).
//! - `allowPrivilegeEscalation`: `policy/check_allowPrivilegeEscalation.go`; 1.8, 1.25
//!   (`spec.os.name: windows` exempt). Every container must set it to false explicitly.
//! - `runAsNonRoot`: `policy/check_runAsNonRoot.go`; 1.0, 1.35 (skipped when `hostUsers:
//!   false`). Pod-level true covers containers that leave it unset; a container's false
//!   fails even under a pod-level true; a pod-level false fails even if every container
//!   sets true.
//! - `runAsUser`: `policy/check_runAsUser.go`; 1.23, 1.35 (skipped when `hostUsers: false`).
//!   No `runAsUser: 0` anywhere: a pod-level 0 fails even when every container sets a
//!   non-zero user (the code checks each setter on its own; there is no override here).
//! - `seccompProfile_restricted`: `policy/check_seccompProfile_restricted.go`; 1.19, 1.25
//!   (windows exempt; overrides seccompProfile_baseline). Pod-level RuntimeDefault/Localhost
//!   covers containers that leave it unset; a container's own bad type fails; a pod-level bad
//!   type fails even if every container sets a good one.
//! - `capabilities_restricted`: `policy/check_capabilities_restricted.go`; 1.22, 1.25 (windows
//!   exempt; overrides capabilities_baseline). drop must contain "ALL"; add only
//!   NET_BIND_SERVICE.
//! - `procMount_restricted`: `policy/check_procMount_restricted.go`; 1.35 (overrides
//!   procMount). Unset/"Default" only, even with `hostUsers: false`.
//!
//! Where the published rules (kubernetes/website
//! `content/en/docs/concepts/security/pod-security-standards.md`) differ from the code, this
//! follows the code. Known differences: the page's restricted volume list lacks `image`
//! (kubernetes/website #55370 and PRs #55441/#56341, open when read); the user-namespace
//! relaxations are documented on the user-namespaces page, not this one; earlier versions
//! of the page (the stored copies are 2020-era) list "non-root groups (optional)" and
//! restricted seccomp *annotations*, neither ever enforced by the plugin, and name the
//! volume field `cephFS` (the API field is `cephfs`). The stored copies of the current page
//! are partial; the code, not the page, is the reference here.
//!
//! Left out: exemptions configured in the AdmissionConfiguration (usernames, runtimeClasses,
//! namespaces), the cluster-wide default level (taken as privileged), audit/warn modes,
//! `isSignificantPodUpdate` (updates), emulated versions, and upstream work not merged at
//! the time of reading (securityContext.ulimits, securityContext.cgroupOptions). Messages
//! follow upstream's `ForbiddenReason (ForbiddenDetail)` but are not guaranteed to be
//! byte-identical. Wrongly typed fields (a string where a bool belongs) count as unset: the
//! apiserver would reject such an object before admission.
#![allow(dead_code)]

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// A label value, exactly as `api.ParseLevel` accepts it.
    pub fn parse(value: &str) -> Option<Level> {
        match value {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Latest,
    /// `v1.<minor>`
    Minor(u32),
}

/// The newest `MinimumVersion` of any check: what `latest` resolves to.
pub const LATEST_MINOR: u32 = 37;

impl Version {
    /// A label value, as `api.ParseVersion` accepts it (`latest`, or `v1.N` without leading
    /// zeros); None when invalid (the plugin then uses `latest`).
    pub fn parse(value: &str) -> Option<Version> {
        if value == "latest" {
            return Some(Version::Latest);
        }
        let digits = value.strip_prefix("v1.")?;
        let valid = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !valid {
            return None;
        }
        digits.parse().ok().map(Version::Minor)
    }

    /// The minor version evaluated: above the maximum, the maximum (`EvaluatePod`).
    pub fn resolve(self) -> u32 {
        match self {
            Version::Latest => LATEST_MINOR,
            Version::Minor(m) => m.min(LATEST_MINOR),
        }
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The upstream check ID (`runAsNonRoot`, `hostPathVolumes`, ...).
    pub check: &'static str,
    /// `reason (detail)`, as the admission plugin words it.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check, self.message)
    }
}

/// The pod template of a workload object (or the Pod itself); None for objects without pods.
/// Returns (pod metadata, pod spec); a missing template or part is `{}`, as the typed
/// extractor sees a zero-valued struct (except ReplicationController, whose template is
/// optional).
pub fn pod_of(obj: &Value) -> Option<(Value, Value)> {
    let kind = obj.get("kind")?.as_str()?;
    let group = match kind {
        "Pod" | "PodTemplate" | "ReplicationController" => "",
        "ReplicaSet" | "Deployment" | "DaemonSet" | "StatefulSet" => "apps",
        "Job" | "CronJob" => "batch",
        _ => return None,
    };
    if let Some(api_version) = obj.get("apiVersion").and_then(Value::as_str) {
        let actual = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if actual != group {
            return None;
        }
    }
    let part = |v: Option<&Value>, key: &str| -> Value {
        v.and_then(|v| field(v, key))
            .cloned()
            .unwrap_or_else(|| json!({}))
    };
    let template = match kind {
        "Pod" => return Some((part(Some(obj), "metadata"), part(Some(obj), "spec"))),
        "PodTemplate" => field(obj, "template"),
        "ReplicationController" => match field(obj, "spec").and_then(|s| field(s, "template")) {
            None => return None,
            template => template,
        },
        "CronJob" => field(obj, "spec")
            .and_then(|s| field(s, "jobTemplate"))
            .and_then(|j| field(j, "spec"))
            .and_then(|s| field(s, "template")),
        _ => field(obj, "spec").and_then(|s| field(s, "template")),
    };
    Some((part(template, "metadata"), part(template, "spec")))
}

/// Every violation of `level` (restricted includes baseline) at the latest policy version,
/// empty when admitted (and for objects without pods).
pub fn check(obj: &Value, level: Level) -> Vec<Violation> {
    check_version(obj, level, Version::Latest)
}

/// Every violation of `level` at policy `version`.
pub fn check_version(obj: &Value, level: Level, version: Version) -> Vec<Violation> {
    match pod_of(obj) {
        Some((metadata, spec)) => check_pod(&metadata, &spec, level, version),
        None => Vec::new(),
    }
}

/// Every violation of the enforce level and version of `namespace` (a Namespace object).
pub fn check_in_namespace(obj: &Value, namespace: &Value) -> Vec<Violation> {
    check_version(
        obj,
        namespace_level(namespace),
        namespace_version(namespace),
    )
}

/// The enforce level of a Namespace object from its labels (absent: privileged, as the
/// admission default; invalid: restricted, as `api.ParseLevel`).
pub fn namespace_level(ns: &Value) -> Level {
    match label(ns, "pod-security.kubernetes.io/enforce") {
        None => Level::Privileged,
        Some(value) => Level::parse(value).unwrap_or(Level::Restricted),
    }
}

/// The enforce version of a Namespace object from its labels (absent or invalid: latest).
pub fn namespace_version(ns: &Value) -> Version {
    label(ns, "pod-security.kubernetes.io/enforce-version")
        .and_then(Version::parse)
        .unwrap_or(Version::Latest)
}

/// Every violation of a pod's metadata and spec.
pub fn check_pod(metadata: &Value, spec: &Value, level: Level, version: Version) -> Vec<Violation> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let spec = defaulted(spec);
    let pod = Pod {
        meta: metadata,
        spec: &spec,
    };
    plan(level, version.resolve())
        .into_iter()
        .filter_map(|(id, v)| {
            (v.check)(&pod).map(|f| Violation {
                check: id,
                message: if f.detail.is_empty() {
                    f.reason
                } else {
                    format!("{} ({})", f.reason, f.detail)
                },
            })
        })
        .collect()
}

/// The IDs of the checks that run at `level` and `version` (overridden baseline checks
/// removed), in evaluation order.
pub fn check_ids(level: Level, version: Version) -> Vec<&'static str> {
    plan(level, version.resolve())
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

// ---------------------------------------------------------------------------------------
// The registry

struct Pod<'a> {
    meta: &'a Value,
    spec: &'a Value,
}

struct Fail {
    reason: String,
    detail: String,
}

struct Versioned {
    min: u32,
    check: fn(&Pod) -> Option<Fail>,
    overrides: &'static [&'static str],
}

struct Check {
    id: &'static str,
    level: Level,
    versions: &'static [Versioned],
}

const fn v(min: u32, check: fn(&Pod) -> Option<Fail>) -> Versioned {
    Versioned {
        min,
        check,
        overrides: &[],
    }
}

const fn vo(
    min: u32,
    check: fn(&Pod) -> Option<Fail>,
    overrides: &'static [&'static str],
) -> Versioned {
    Versioned {
        min,
        check,
        overrides,
    }
}

static CHECKS: &[Check] = &[
    // Baseline
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[v(0, host_namespaces)],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        versions: &[v(0, privileged)],
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        versions: &[v(0, capabilities_baseline)],
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        versions: &[v(0, host_path_volumes)],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[v(0, host_ports)],
    },
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[v(0, app_armor_profile)],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[v(0, se_linux_options_1_0), v(31, se_linux_options_1_31)],
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        versions: &[v(0, proc_mount_1_0), v(35, proc_mount_1_35_baseline)],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        versions: &[v(0, seccomp_baseline_1_0), v(19, seccomp_baseline_1_19)],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            v(0, sysctls_1_0),
            v(27, sysctls_1_27),
            v(29, sysctls_1_29),
            v(32, sysctls_1_32),
            v(37, sysctls_1_37),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[v(0, windows_host_process)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[v(34, host_probes_and_host_lifecycle)],
    },
    // Restricted
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[vo(0, restricted_volumes, &["hostPathVolumes"])],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[
            v(8, allow_privilege_escalation_1_8),
            v(25, allow_privilege_escalation_1_25),
        ],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[v(0, run_as_non_root_1_0), v(35, run_as_non_root_1_35)],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[v(23, run_as_user_1_23), v(35, run_as_user_1_35)],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[
            vo(19, seccomp_restricted_1_19, &["seccompProfile_baseline"]),
            vo(25, seccomp_restricted_1_25, &["seccompProfile_baseline"]),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            vo(22, capabilities_restricted_1_22, &["capabilities_baseline"]),
            vo(25, capabilities_restricted_1_25, &["capabilities_baseline"]),
        ],
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        versions: &[vo(35, proc_mount_1_0, &["procMount"])],
    },
];

/// The checks of `level` at policy version v1.`minor`, as `populate()` builds them: per
/// check the newest version at or below `minor`; baseline IDs sorted, then (restricted)
/// restricted IDs sorted, without the baseline checks they override.
fn plan(level: Level, minor: u32) -> Vec<(&'static str, &'static Versioned)> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let of = |wanted: Level| -> Vec<(&'static str, &'static Versioned)> {
        let mut found: Vec<_> = CHECKS
            .iter()
            .filter(|c| c.level == wanted)
            .filter_map(|c| {
                c.versions
                    .iter()
                    .rev()
                    .find(|v| v.min <= minor)
                    .map(|v| (c.id, v))
            })
            .collect();
        found.sort_by_key(|(id, _)| *id);
        found
    };
    let mut run = of(Level::Baseline);
    if level == Level::Restricted {
        let restricted = of(Level::Restricted);
        let overridden: BTreeSet<&str> = restricted
            .iter()
            .flat_map(|(_, v)| v.overrides.iter().copied())
            .collect();
        run.retain(|(id, _)| !overridden.contains(id));
        run.extend(restricted);
    }
    run
}

// ---------------------------------------------------------------------------------------
// JSON helpers

/// A field that is present and not null (Go decodes `null` as unset).
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| field(v, k))
}

fn bool_at(v: &Value, keys: &[&str]) -> Option<bool> {
    path(v, keys).and_then(Value::as_bool)
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    path(v, keys).and_then(Value::as_str)
}

fn int_at(v: &Value, keys: &[&str]) -> Option<i64> {
    path(v, keys).and_then(Value::as_i64)
}

fn array<'a>(v: &'a Value, keys: &[&str]) -> &'a [Value] {
    path(v, keys)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    path(obj, &["metadata", "labels", key]).and_then(Value::as_str)
}

/// initContainers, containers, ephemeralContainers (`visitContainers`).
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |k| array(spec, &[k]).iter())
}

fn name(container: &Value) -> String {
    str_at(container, &["name"]).unwrap_or_default().to_string()
}

fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pluralize(singular: &'static str, plural: &'static str, n: usize) -> &'static str {
    if n == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`
fn containers_phrase(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

fn fail(reason: impl Into<String>, detail: impl Into<String>) -> Option<Fail> {
    Some(Fail {
        reason: reason.into(),
        detail: detail.into(),
    })
}

fn is_windows(spec: &Value) -> bool {
    str_at(spec, &["os", "name"]) == Some("windows")
}

/// `relaxPolicyForUserNamespacePod` (policy/helpers.go): `hostUsers` explicitly false.
fn user_namespaced(spec: &Value) -> bool {
    bool_at(spec, &["hostUsers"]) == Some(false)
}

/// The API defaults that matter to the checks (see the module documentation).
fn defaulted(spec: &Value) -> Value {
    let mut spec = spec.clone();
    let Some(obj) = spec.as_object_mut() else {
        return json!({});
    };
    if let Some(Value::Array(volumes)) = obj.get_mut("volumes") {
        for volume in volumes.iter_mut() {
            if let Value::Object(map) = volume {
                let has_source = map.iter().any(|(k, v)| k != "name" && !v.is_null());
                if !has_source {
                    map.insert("emptyDir".into(), Value::Object(Map::new()));
                }
            }
        }
    }
    if obj.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for key in ["containers", "initContainers"] {
            let Some(Value::Array(list)) = obj.get_mut(key) else {
                continue;
            };
            for container in list.iter_mut() {
                let Some(Value::Array(ports)) = container.get_mut("ports") else {
                    continue;
                };
                for port in ports.iter_mut() {
                    let host = port.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                    let container_port = port.get("containerPort").cloned();
                    if let (0, Some(cp), Value::Object(map)) = (host, container_port, port) {
                        map.insert("hostPort".into(), cp);
                    }
                }
            }
        }
    }
    spec
}

// ---------------------------------------------------------------------------------------
// Baseline checks

/// policy/check_hostNamespaces.go `hostNamespaces_1_0`
fn host_namespaces(pod: &Pod) -> Option<Fail> {
    let set: BTreeSet<&str> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|k| bool_at(pod.spec, &[*k]) == Some(true))
        .collect();
    if set.is_empty() {
        return None;
    }
    fail(
        "host namespaces",
        set.into_iter().collect::<Vec<_>>().join(", "),
    )
}

/// policy/check_privileged.go `privileged_1_0`
fn privileged(pod: &Pod) -> Option<Fail> {
    let bad: Vec<String> = containers(pod.spec)
        .filter(|c| bool_at(c, &["securityContext", "privileged"]) == Some(true))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    fail(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    )
}

const CAPABILITIES_BASELINE: &[&str] = &[
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
    "SYS_CHROOT",
];

fn capability_list<'a>(c: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    array(c, &["securityContext", "capabilities", key])
        .iter()
        .filter_map(Value::as_str)
}

/// policy/check_capabilities_baseline.go `capabilitiesBaseline_1_0`
fn capabilities_baseline(pod: &Pod) -> Option<Fail> {
    let mut bad = Vec::new();
    let mut caps = BTreeSet::new();
    for c in containers(pod.spec) {
        let mut valid = true;
        for cap in capability_list(c, "add") {
            if !CAPABILITIES_BASELINE.contains(&cap) {
                valid = false;
                caps.insert(cap.to_string());
            }
        }
        if !valid {
            bad.push(name(c));
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&caps)
        ),
    )
}

/// policy/check_hostPathVolumes.go `hostPathVolumes_1_0`
fn host_path_volumes(pod: &Pod) -> Option<Fail> {
    let bad: Vec<String> = array(pod.spec, &["volumes"])
        .iter()
        .filter(|v| field(v, "hostPath").is_some())
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    fail(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

/// policy/check_hostPorts.go `hostPorts_1_0`
fn host_ports(pod: &Pod) -> Option<Fail> {
    let mut bad = Vec::new();
    let mut ports = BTreeSet::new();
    for c in containers(pod.spec) {
        let mut valid = true;
        for port in array(c, &["ports"]) {
            let host = int_at(port, &["hostPort"]).unwrap_or(0);
            if host != 0 {
                valid = false;
                ports.insert(host.to_string());
            }
        }
        if !valid {
            bad.push(name(c));
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// policy/check_appArmorProfile.go `appArmorProfileV1Dot0`
fn app_armor_profile(pod: &Pod) -> Option<Fail> {
    let allowed_type = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(profile) = path(pod.spec, &["securityContext", "appArmorProfile"]) {
        let t = str_at(profile, &["type"]).unwrap_or_default();
        if !allowed_type(t) {
            setters.push("pod".to_string());
            values.insert(t.to_string());
        }
    }
    let mut bad = Vec::new();
    for c in containers(pod.spec) {
        if let Some(profile) = path(c, &["securityContext", "appArmorProfile"]) {
            let t = str_at(profile, &["type"]).unwrap_or_default();
            if !allowed_type(t) {
                bad.push(name(c));
                values.insert(t.to_string());
            }
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    let mut annotations: Vec<String> = path(pod.meta, &["annotations"])
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(APPARMOR_ANNOTATION_PREFIX))
        .filter_map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let allowed = v.is_empty() || v == "runtime/default" || v.starts_with("localhost/");
            (!allowed).then(|| format!("{k}=\"{v}\""))
        })
        .collect();
    annotations.sort();
    let mut value_list: Vec<String> = values.into_iter().collect();
    if !annotations.is_empty() {
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        value_list.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            value_list.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&value_list)
        ),
    )
}

const SELINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const SELINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// policy/check_seLinuxOptions.go `seLinuxOptions1_0`
fn se_linux_options_1_0(pod: &Pod) -> Option<Fail> {
    se_linux_options(pod, SELINUX_TYPES_1_0)
}

/// policy/check_seLinuxOptions.go `seLinuxOptions1_31`
fn se_linux_options_1_31(pod: &Pod) -> Option<Fail> {
    se_linux_options(pod, SELINUX_TYPES_1_31)
}

fn se_linux_options(pod: &Pod, allowed: &[&str]) -> Option<Fail> {
    let mut types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |opts: &Value| {
        let mut ok = true;
        let t = str_at(opts, &["type"]).unwrap_or_default();
        if !allowed.contains(&t) {
            ok = false;
            types.insert(t.to_string());
        }
        if !str_at(opts, &["user"]).unwrap_or_default().is_empty() {
            ok = false;
            set_user = true;
        }
        if !str_at(opts, &["role"]).unwrap_or_default().is_empty() {
            ok = false;
            set_role = true;
        }
        ok
    };
    let mut setters = Vec::new();
    if let Some(opts) = path(pod.spec, &["securityContext", "seLinuxOptions"])
        && !valid(opts)
    {
        setters.push("pod".to_string());
    }
    let mut bad = Vec::new();
    for c in containers(pod.spec) {
        if let Some(opts) = path(c, &["securityContext", "seLinuxOptions"])
            && !valid(opts)
        {
            bad.push(name(c));
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if set_user {
        data.push("user may not be set".to_string());
    }
    if set_role {
        data.push("role may not be set".to_string());
    }
    fail(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

/// policy/check_procMount_baseline.go `procMount_1_0` (also procMount_restricted's check)
fn proc_mount_1_0(pod: &Pod) -> Option<Fail> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(pod.spec) {
        if let Some(t) = path(c, &["securityContext", "procMount"]) {
            let t = t.as_str().unwrap_or_default();
            if t != "Default" {
                bad.push(name(c));
                types.insert(t.to_string());
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        ),
    )
}

/// policy/check_procMount_baseline.go `procMount1_35baseline`
fn proc_mount_1_35_baseline(pod: &Pod) -> Option<Fail> {
    if user_namespaced(pod.spec) {
        return None;
    }
    proc_mount_1_0(pod)
}

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// policy/check_seccompProfile_baseline.go `seccompProfileBaseline_1_0` (annotations)
fn seccomp_baseline_1_0(pod: &Pod) -> Option<Fail> {
    let valid =
        |v: &str| v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/");
    let annotation =
        |key: &str| path(pod.meta, &["annotations", key]).map(|v| v.as_str().unwrap_or_default());
    let mut forbidden = BTreeSet::new();
    if let Some(v) = annotation(SECCOMP_POD_ANNOTATION)
        && !valid(v)
    {
        forbidden.insert(format!("{SECCOMP_POD_ANNOTATION}=\"{v}\""));
    }
    for c in containers(pod.spec) {
        let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", name(c));
        if let Some(v) = annotation(&key)
            && !valid(v)
        {
            forbidden.insert(format!("{key}=\"{v}\""));
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    fail(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", forbidden.len()),
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

fn valid_seccomp(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

/// The `seccompProfile.type` of a security context that sets `seccompProfile` ("" when the
/// object has no type), or None when `seccompProfile` is unset.
fn seccomp_type<'a>(v: &'a Value, sc_path: &[&str]) -> Option<&'a str> {
    let mut keys = sc_path.to_vec();
    keys.push("seccompProfile");
    path(v, &keys).map(|p| str_at(p, &["type"]).unwrap_or_default())
}

/// policy/check_seccompProfile_baseline.go `seccompProfileBaseline_1_19` (fields)
fn seccomp_baseline_1_19(pod: &Pod) -> Option<Fail> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    if let Some(t) = seccomp_type(pod.spec, &["securityContext"])
        && !valid_seccomp(t)
    {
        setters.push("pod".to_string());
        values.insert(t.to_string());
    }
    let mut bad = Vec::new();
    for c in containers(pod.spec) {
        if let Some(t) = seccomp_type(c, &["securityContext"])
            && !valid_seccomp(t)
        {
            bad.push(name(c));
            values.insert(t.to_string());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    )
}

/// The safe sysctls by the policy version that added them (policy/check_sysctls.go
/// `sysctlsAllowedV1Dot0` .. `sysctlsAllowedV1Dot37`).
pub const SYSCTLS: &[(u32, &str)] = &[
    (0, "kernel.shm_rmid_forced"),
    (0, "net.ipv4.ip_local_port_range"),
    (0, "net.ipv4.tcp_syncookies"),
    (0, "net.ipv4.ping_group_range"),
    (0, "net.ipv4.ip_unprivileged_port_start"),
    (27, "net.ipv4.ip_local_reserved_ports"),
    (29, "net.ipv4.tcp_keepalive_time"),
    (29, "net.ipv4.tcp_fin_timeout"),
    (29, "net.ipv4.tcp_keepalive_intvl"),
    (29, "net.ipv4.tcp_keepalive_probes"),
    (32, "net.ipv4.tcp_rmem"),
    (32, "net.ipv4.tcp_wmem"),
    (37, "net.ipv4.tcp_slow_start_after_idle"),
    (37, "net.ipv4.tcp_notsent_lowat"),
];

fn sysctls(pod: &Pod, set: u32) -> Option<Fail> {
    let forbidden: Vec<&str> = array(pod.spec, &["securityContext", "sysctls"])
        .iter()
        .map(|s| str_at(s, &["name"]).unwrap_or_default())
        .filter(|n| !SYSCTLS.iter().any(|(min, safe)| *min <= set && safe == n))
        .collect();
    if forbidden.is_empty() {
        return None;
    }
    fail("forbidden sysctls", forbidden.join(", "))
}

fn sysctls_1_0(pod: &Pod) -> Option<Fail> {
    sysctls(pod, 0)
}

fn sysctls_1_27(pod: &Pod) -> Option<Fail> {
    sysctls(pod, 27)
}

fn sysctls_1_29(pod: &Pod) -> Option<Fail> {
    sysctls(pod, 29)
}

fn sysctls_1_32(pod: &Pod) -> Option<Fail> {
    sysctls(pod, 32)
}

fn sysctls_1_37(pod: &Pod) -> Option<Fail> {
    sysctls(pod, 37)
}

/// policy/check_windowsHostProcess.go `windowsHostProcess_1_0`
fn windows_host_process(pod: &Pod) -> Option<Fail> {
    let host_process =
        |v: &Value| bool_at(v, &["securityContext", "windowsOptions", "hostProcess"]) == Some(true);
    let bad: Vec<String> = containers(pod.spec)
        .filter(|c| host_process(c))
        .map(name)
        .collect();
    let mut setters = Vec::new();
    if host_process(pod.spec) {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

/// policy/check_hostProbesAndhostLifecycle.go `hostProbesAndHostLifecycleV1Dot34`
fn host_probes_and_host_lifecycle(pod: &Pod) -> Option<Fail> {
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(pod.spec) {
        let handlers = [
            path(c, &["livenessProbe"]),
            path(c, &["readinessProbe"]),
            path(c, &["startupProbe"]),
            path(c, &["lifecycle", "postStart"]),
            path(c, &["lifecycle", "preStop"]),
        ];
        for handler in handlers.into_iter().flatten() {
            for action in ["httpGet", "tcpSocket"] {
                let host = str_at(handler, &[action, "host"]).unwrap_or_default();
                if !host.is_empty() {
                    bad.insert(name(c));
                    hosts.insert(host.to_string());
                }
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "probe or lifecycle host",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Restricted checks

/// Inline volume sources restricted allows (policy/check_restrictedVolumes.go).
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The restricted sources, in the order of the upstream switch, by JSON field name.
const RESTRICTED_VOLUMES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

/// policy/check_restrictedVolumes.go `restrictedVolumes_1_0`
fn restricted_volumes(pod: &Pod) -> Option<Fail> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for volume in array(pod.spec, &["volumes"]) {
        if ALLOWED_VOLUMES.iter().any(|k| field(volume, k).is_some()) {
            continue;
        }
        bad.push(name(volume));
        let t = RESTRICTED_VOLUMES
            .iter()
            .find(|k| field(volume, k).is_some())
            .copied()
            .unwrap_or("unknown");
        types.insert(t);
    }
    if bad.is_empty() {
        return None;
    }
    fail(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

/// policy/check_allowPrivilegeEscalation.go `allowPrivilegeEscalation_1_8`
fn allow_privilege_escalation_1_8(pod: &Pod) -> Option<Fail> {
    let bad: Vec<String> = containers(pod.spec)
        .filter(|c| bool_at(c, &["securityContext", "allowPrivilegeEscalation"]) != Some(false))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    fail(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

/// policy/check_allowPrivilegeEscalation.go `allowPrivilegeEscalation_1_25`
fn allow_privilege_escalation_1_25(pod: &Pod) -> Option<Fail> {
    if is_windows(pod.spec) {
        return None;
    }
    allow_privilege_escalation_1_8(pod)
}

/// policy/check_runAsNonRoot.go `runAsNonRoot_1_0`
fn run_as_non_root_1_0(pod: &Pod) -> Option<Fail> {
    let reason = "runAsNonRoot != true";
    let mut setters = Vec::new();
    let mut pod_true = false;
    match bool_at(pod.spec, &["securityContext", "runAsNonRoot"]) {
        Some(false) => setters.push("pod".to_string()),
        Some(true) => pod_true = true,
        None => {}
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(pod.spec) {
        match bool_at(c, &["securityContext", "runAsNonRoot"]) {
            Some(false) => explicit.push(name(c)),
            Some(true) => {}
            None if !pod_true => implicit.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return fail(
            reason,
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return fail(
            reason,
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        );
    }
    None
}

/// policy/check_runAsNonRoot.go `runAsNonRoot1_35`
fn run_as_non_root_1_35(pod: &Pod) -> Option<Fail> {
    if user_namespaced(pod.spec) {
        return None;
    }
    run_as_non_root_1_0(pod)
}

/// policy/check_runAsUser.go `runAsUser_1_23`
fn run_as_user_1_23(pod: &Pod) -> Option<Fail> {
    let mut setters = Vec::new();
    if int_at(pod.spec, &["securityContext", "runAsUser"]) == Some(0) {
        setters.push("pod".to_string());
    }
    let bad: Vec<String> = containers(pod.spec)
        .filter(|c| int_at(c, &["securityContext", "runAsUser"]) == Some(0))
        .map(name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

/// policy/check_runAsUser.go `runAsUser1_35`
fn run_as_user_1_35(pod: &Pod) -> Option<Fail> {
    if user_namespaced(pod.spec) {
        return None;
    }
    run_as_user_1_23(pod)
}

/// policy/check_seccompProfile_restricted.go `seccompProfileRestricted_1_19`
fn seccomp_restricted_1_19(pod: &Pod) -> Option<Fail> {
    let mut setters = Vec::new();
    let mut values = BTreeSet::new();
    let mut pod_set = false;
    if let Some(t) = seccomp_type(pod.spec, &["securityContext"]) {
        if valid_seccomp(t) {
            pod_set = true;
        } else {
            setters.push("pod".to_string());
            values.insert(t.to_string());
        }
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(pod.spec) {
        match seccomp_type(c, &["securityContext"]) {
            Some(t) if !valid_seccomp(t) => {
                explicit.push(name(c));
                values.insert(t.to_string());
            }
            Some(_) => {}
            None if !pod_set => implicit.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return fail(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        );
    }
    if !implicit.is_empty() {
        return fail(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicit)
            ),
        );
    }
    None
}

/// policy/check_seccompProfile_restricted.go `seccompProfileRestrictedV1Dot25`
fn seccomp_restricted_1_25(pod: &Pod) -> Option<Fail> {
    if is_windows(pod.spec) {
        return None;
    }
    seccomp_restricted_1_19(pod)
}

/// policy/check_capabilities_restricted.go `capabilitiesRestricted_1_22`
fn capabilities_restricted_1_22(pod: &Pod) -> Option<Fail> {
    let mut missing_drop_all = Vec::new();
    let mut adding = Vec::new();
    let mut caps = BTreeSet::new();
    for c in containers(pod.spec) {
        if path(c, &["securityContext", "capabilities"]).is_none() {
            missing_drop_all.push(name(c));
            continue;
        }
        if !capability_list(c, "drop").any(|cap| cap == "ALL") {
            missing_drop_all.push(name(c));
        }
        let mut added_forbidden = false;
        for cap in capability_list(c, "add") {
            if cap != "NET_BIND_SERVICE" {
                added_forbidden = true;
                caps.insert(cap.to_string());
            }
        }
        if added_forbidden {
            adding.push(name(c));
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&caps)
        ));
    }
    if details.is_empty() {
        return None;
    }
    fail("unrestricted capabilities", details.join("; "))
}

/// policy/check_capabilities_restricted.go `capabilitiesRestrictedV1Dot25`
fn capabilities_restricted_1_25(pod: &Pod) -> Option<Fail> {
    if is_windows(pod.spec) {
        return None;
    }
    capabilities_restricted_1_22(pod)
}
