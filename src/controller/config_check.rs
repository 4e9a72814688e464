//! A new collector config never replaces a working one before the pinned collector's own
//! `validate` accepted it, in the cluster. The typed configs and the key lists catch wrong
//! keys; the collector's `Validate()` also checks values and combinations (a memory_limiter
//! whose spike is not below its limit, a directory that must exist, an `${env:...}` that does
//! not resolve).
//!
//! How: a workload whose live pods run another config than the desired one (its pod template's
//! config-hash annotation) is held as it is, with the ConfigMaps it mounts, while a one-off Job
//! runs the workload's own image with `validate` over a copy of the new config (candidate
//! ConfigMaps, immutable and named by their content) with the workload's environment. The
//! workload and its ConfigMaps are applied only once the Job succeeded; a failed Job keeps
//! them as they are and its pod's termination message (the validator's error) is reported.
//! A workload that does not exist yet is not held (nothing works that a bad config could
//! replace: its pods fail to start, which status shows) unless it shares its ConfigMaps with
//! one that is: a new zone's gateways must not start on the config a check holds back.
//!
//! The Job's pod is restricted (non-root, no capability, read-only root, no service account
//! token) and mounts nothing of the node: every volume but the configs is an emptyDir, which is
//! all `file_storage`'s `Validate()` asks (its directories must exist).

use super::apply::{ObjKey, key_of};
use super::snapshot::{Owner, Snapshot, Wanted};
use super::{Context, Error};
use crate::kinds::Managed;
use crate::meta::{self, Desired};
use crate::model::ResourceId;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, Container, EmptyDirVolumeSource, Pod, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The label every check object carries (its check's id).
pub const CHECK_LABEL: &str = "otelhouse.dev/config-check";
/// The Job's container.
pub const CONTAINER: &str = "validate";
/// A check that has not finished by then failed (an image that does not pull, a Secret that
/// does not exist: the pod never starts).
pub const ACTIVE_DEADLINE_SECONDS: i64 = 600;
/// A finished Job is deleted by the operator when its config is applied or replaced; this is
/// the backstop, and how often a rejected config is checked again.
pub const TTL_SECONDS_AFTER_FINISHED: i32 = 86_400;
/// The Job controller's label on a Job's pods (Kubernetes 1.27+).
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Bumped when the Job's shape changes: a Job's pod template is immutable, so a changed Job
/// must have a new name.
const CHECK_FORMAT: &str = "1";

/// What a check applies: a candidate copy of each config, and the Job over them.
#[derive(Clone, Debug)]
pub struct Check {
    pub id: String,
    pub config_maps: Vec<Desired>,
    pub job: Desired,
}

/// The check of a workload's new config (pure): `workload` is the desired workload object,
/// `config_maps` the desired ConfigMaps its pods mount. None when the workload has no config
/// to check (no config-hash annotation, no container).
pub fn check_objects(workload: &Value, config_maps: &[&Value]) -> Option<Check> {
    let template: PodTemplateSpec =
        serde_json::from_value(workload.pointer("/spec/template")?.clone()).ok()?;
    let key = template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(meta::CONFIG_HASH_ANNOTATION)?
        .clone();
    let spec = template.spec?;
    let source = spec.containers.first()?.clone();
    let namespace = workload
        .pointer("/metadata/namespace")?
        .as_str()?
        .to_string();
    let labels_of = |v: &Value| -> BTreeMap<String, String> {
        v.pointer("/metadata/labels")
            .cloned()
            .and_then(|l| serde_json::from_value(l).ok())
            .unwrap_or_default()
    };
    let workload_labels = labels_of(workload);
    let owner = Owner::of(workload)?;
    // An agent class's objects go with it (owner references); a pool's are the operator's to
    // delete (its owner annotation).
    let owner_references: Option<Vec<OwnerReference>> = workload
        .pointer("/metadata/ownerReferences")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok());

    // The id covers everything the Job is made of, so a different Job has a different name.
    let mut basis = format!("{CHECK_FORMAT}\n{key}\n");
    for cm in config_maps {
        basis.push_str(&cm.get("data").map(Value::to_string).unwrap_or_default());
        basis.push('\n');
    }
    basis.push_str(
        &serde_json::to_string(&(
            &source.image,
            &source.args,
            &source.env,
            &source.env_from,
            &source.volume_mounts,
            &spec.volumes,
        ))
        .unwrap_or_default(),
    );
    let id = meta::config_hash(&basis)[..10].to_string();
    let check_name = |base: &str| meta::shorten(&format!("{base}-check-{id}"), 63);

    let mut candidates = BTreeMap::new();
    let mut out_maps = Vec::new();
    for cm in config_maps {
        let name = cm.pointer("/metadata/name")?.as_str()?;
        // Named by its content already: nothing running changes when it is applied, the Job
        // mounts it as it is.
        if cm.get("immutable") == Some(&Value::Bool(true)) {
            continue;
        }
        let candidate = check_name(name);
        let mut labels = labels_of(cm);
        labels.insert(CHECK_LABEL.to_string(), id.clone());
        let data: Option<BTreeMap<String, String>> = cm
            .get("data")
            .cloned()
            .and_then(|d| serde_json::from_value(d).ok());
        out_maps.push(Desired::new(&ConfigMap {
            metadata: ObjectMeta {
                name: Some(candidate.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(labels),
                annotations: Some(owner.annotations()),
                owner_references: owner_references.clone(),
                ..Default::default()
            },
            data,
            // Named by its content: never changed, only replaced.
            immutable: Some(true),
            ..Default::default()
        }));
        candidates.insert(name.to_string(), candidate);
    }

    // The configs from their candidates; everything else the collector might stat is empty.
    let mut volumes: Vec<Volume> = Vec::new();
    for v in spec.volumes.unwrap_or_default() {
        let mut v = v;
        let is_config = v.config_map.is_some() || v.projected.is_some();
        if let Some(cm) = v.config_map.as_mut()
            && let Some(c) = candidates.get(&cm.name)
        {
            cm.name = c.clone();
        }
        if let Some(p) = v.projected.as_mut() {
            for s in p.sources.iter_mut().flatten() {
                if let Some(cm) = s.config_map.as_mut()
                    && let Some(c) = candidates.get(&cm.name)
                {
                    cm.name = c.clone();
                }
            }
        }
        volumes.push(if is_config { v } else { empty_dir(&v.name) });
    }
    let mounts = source.volume_mounts.clone().unwrap_or_default();
    for m in &mounts {
        // A StatefulSet's claim templates are volumes the pod spec does not list.
        if !volumes.iter().any(|v| v.name == m.name) {
            volumes.push(empty_dir(&m.name));
        }
    }
    let mut args = vec!["validate".to_string()];
    args.extend(source.args.clone().unwrap_or_default());
    let container = Container {
        name: CONTAINER.to_string(),
        image: source.image.clone(),
        image_pull_policy: source.image_pull_policy.clone(),
        command: source.command.clone(),
        args: Some(args),
        env: source.env.clone(),
        env_from: source.env_from.clone(),
        volume_mounts: Some(mounts),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("50m".to_string())),
                ("memory".to_string(), Quantity("64Mi".to_string())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("512Mi".to_string()),
            )])),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(10001),
            run_as_group: Some(10001),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            ..Default::default()
        }),
        // The validator's error is on stderr: the kubelet makes its last lines the message.
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };
    // Not the workload's labels: its Service, PDB and spread constraints select on those.
    let instance = workload_labels
        .get("app.kubernetes.io/instance")
        .cloned()
        .unwrap_or_default();
    let mut labels = meta::labels("otelhouse-config-check", "config-check", &instance);
    for k in [
        crate::gateway::LABEL_POOL,
        meta::LABEL_REGION,
        meta::LABEL_CLASS,
    ] {
        if let Some(v) = workload_labels.get(k) {
            labels.insert(k.to_string(), v.clone());
        }
    }
    labels.insert(CHECK_LABEL.to_string(), id.clone());
    // Named after the config it checks (a gateway region's, shared by its zones) or else its
    // workload (an agent class's).
    let job_base = candidates
        .keys()
        .next()
        .map(String::as_str)
        .or_else(|| workload.pointer("/metadata/name").and_then(Value::as_str))?;
    let job = Job {
        metadata: ObjectMeta {
            name: Some(check_name(job_base)),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            annotations: Some(owner.annotations()),
            owner_references,
            ..Default::default()
        },
        spec: Some(JobSpec {
            // One run: the config is what is checked, a retry would say the same.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(ACTIVE_DEADLINE_SECONDS),
            ttl_seconds_after_finished: Some(TTL_SECONDS_AFTER_FINISHED),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_string()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    containers: vec![container],
                    volumes: Some(volumes),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    termination_grace_period_seconds: Some(5),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    Some(Check {
        id,
        config_maps: out_maps,
        job: Desired::new(&job),
    })
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

/// Where a check's Job is, from its status (the Job API's documented conditions: `Complete`
/// or `SuccessCriteriaMet`, `Failed` or `FailureTarget`; the counts as a fallback).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    /// With the Job's own reason and message (used when its pod's message cannot be read).
    Failed(String),
}

pub fn job_state(summary: &Value) -> JobState {
    let status = summary.get("status");
    let conditions = status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let holds = |types: &[&str]| {
        conditions.iter().find(|c| {
            c.get("status").and_then(Value::as_str) == Some("True")
                && c.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
        })
    };
    if holds(&["Complete", "SuccessCriteriaMet"]).is_some() {
        return JobState::Succeeded;
    }
    if let Some(c) = holds(&["Failed", "FailureTarget"]) {
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
        return JobState::Failed(
            format!(
                "the config check failed: {} {}",
                field("reason"),
                field("message")
            )
            .trim()
            .to_string(),
        );
    }
    let count = |k: &str| {
        status
            .and_then(|s| s.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    if count("succeeded") > 0 {
        JobState::Succeeded
    } else if count("failed") > 0 {
        JobState::Failed("the config check failed".to_string())
    } else {
        JobState::Running
    }
}

/// The validator's error in a check pod's termination message: its `Error:` line (the
/// collector prints it, then the same again as a log line), else the message as it is.
pub fn termination_message(pod: &Value) -> Option<String> {
    let statuses = pod.pointer("/status/containerStatuses")?.as_array()?;
    let status = statuses
        .iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(CONTAINER))?;
    let message = ["/state/terminated/message", "/lastState/terminated/message"]
        .iter()
        .find_map(|p| status.pointer(p).and_then(Value::as_str))?
        .trim();
    if message.is_empty() {
        return None;
    }
    let error = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("Error: "))
        .unwrap_or(message);
    Some(error.chars().take(2000).collect())
}

/// Whether a group of workloads must wait for a check: some of them run already, and not all
/// of those run the desired config. `live` is, per workload, its live config key (None: no
/// live workload; Some(None): a live one without a key, from an older operator).
pub fn needs_check(live: &[Option<Option<&str>>], desired: &str) -> bool {
    let running: Vec<Option<&str>> = live.iter().flatten().copied().collect();
    !running.is_empty() && running.iter().any(|k| *k != Some(desired))
}

/// A workload group's new config is not applied yet: being checked, or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Validating,
    Rejected(String),
}

/// A held config: the ConfigMaps the check is of, its Job, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub config_maps: Vec<String>,
    pub job: String,
    pub gate: Gate,
}

/// What a member of a shared pool is told of a refusal: the validator's message names
/// components by pipeline (`<namespace>.<name>`), so a message that names another member is
/// not shown to a tenant (the Job in the operator's namespace keeps it for the platform's
/// operators).
pub fn for_member(gate: &Gate, me: &ResourceId, members: &[&ResourceId], job: &str) -> Gate {
    let Gate::Rejected(message) = gate else {
        return gate.clone();
    };
    let component = |id: &ResourceId| {
        format!(
            "{}.{}",
            id.namespace.as_deref().unwrap_or_default(),
            id.name
        )
    };
    let others = members
        .iter()
        .filter(|m| **m != me)
        .any(|m| message.contains(&component(m)));
    if others {
        Gate::Rejected(format!(
            "refused over another pipeline's part of the shared config (the Job {job} in the operator's namespace has the message)"
        ))
    } else {
        gate.clone()
    }
}

impl Context {
    /// Apply an owner's desired objects and delete its orphans like
    /// [`Context::sync_owner`], but hold each workload whose new config is not checked yet.
    /// Returns the writes and what is held.
    pub(crate) async fn sync_checked(
        &self,
        owner: &Owner,
        snapshot: &Snapshot,
    ) -> Result<(u32, Vec<Held>), Error> {
        let desired: Vec<&Wanted> = snapshot.objects_of(owner).collect();
        // Workloads by the ConfigMaps they mount: the zones of a region share theirs.
        let mut groups: BTreeMap<(String, Vec<String>), Vec<&Wanted>> = BTreeMap::new();
        for w in &desired {
            if let Some(c) = &w.config {
                let ns = w.namespace.clone().unwrap_or_default();
                groups
                    .entry((ns, c.config_maps.clone()))
                    .or_default()
                    .push(w);
            }
        }
        let mut writes = 0;
        let mut keep: Vec<ObjKey> = Vec::new();
        let mut hold: BTreeSet<ObjKey> = BTreeSet::new();
        let mut held = Vec::new();
        for ((ns, cms), workloads) in &groups {
            let Some(key) = workloads[0].config.as_ref().map(|c| c.key.as_str()) else {
                continue;
            };
            let lives: Vec<Option<Option<String>>> = workloads
                .iter()
                .map(|w| {
                    self.owned_value(&key_of(w))
                        .map(|l| l.config.map(|c| c.key))
                })
                .collect();
            let lives: Vec<Option<Option<&str>>> = lives
                .iter()
                .map(|l| l.as_ref().map(|k| k.as_deref()))
                .collect();
            if !needs_check(&lives, key) {
                continue;
            }
            let parse = |w: &Wanted| serde_json::from_str::<Value>(&w.json()).ok();
            // Another owner's too: the agents' shared pipelines.
            let cm_values: Vec<Value> = cms
                .iter()
                .filter_map(|name| {
                    snapshot
                        .objects
                        .iter()
                        .map(|(_, d)| d)
                        .find(|d| {
                            d.kind == Managed::ConfigMap
                                && d.name == *name
                                && d.namespace.as_deref() == Some(ns.as_str())
                        })
                        .and_then(parse)
                })
                .collect();
            let Some(workload) = parse(workloads[0]) else {
                continue;
            };
            let cm_refs: Vec<&Value> = cm_values.iter().collect();
            let Some(check) = check_objects(&workload, &cm_refs) else {
                continue;
            };
            let job_key = ObjKey::new(Managed::Job, ns, &check.job.name);
            let state = self
                .owned_value(&job_key)
                .map(|l| job_state(&l.summary))
                .unwrap_or(JobState::Running);
            // Passed: the workloads get it now, and the check's objects go with the orphans.
            if state == JobState::Succeeded {
                continue;
            }
            for d in check.config_maps.iter().chain([&check.job]) {
                let w = Wanted::new(d);
                writes += self.apply(&w).await?;
                keep.push(key_of(&w));
            }
            let gate = match state {
                JobState::Succeeded => continue,
                JobState::Running => Gate::Validating,
                JobState::Failed(fallback) => {
                    Gate::Rejected(self.rejection(&job_key, fallback).await?)
                }
            };
            // Held: the workloads and the ConfigMaps they mount stay as they are.
            hold.extend(workloads.iter().map(|w| key_of(w)));
            hold.extend(cms.iter().map(|n| ObjKey::new(Managed::ConfigMap, ns, n)));
            held.push(Held {
                config_maps: cms.clone(),
                job: check.job.name.clone(),
                gate,
            });
        }
        writes += self.sync_desired(owner, &desired, &hold, |_| keep).await?;
        Ok((writes, held))
    }

    /// Apply an owner's desired objects and delete its orphans like
    /// [`Context::sync_owner`], but keep the ConfigMaps that live workloads still mount (the
    /// agents' shared pipelines: a class whose new config is held reads its old one).
    pub(crate) async fn sync_keeping_mounted(
        &self,
        owner: &Owner,
        snapshot: &Snapshot,
    ) -> Result<u32, Error> {
        let desired: Vec<&Wanted> = snapshot.objects_of(owner).collect();
        // Read after the applies: a workload applied now mounts its new ConfigMaps only.
        let mounted = |ctx: &Self| -> Vec<ObjKey> {
            ctx.owned
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter_map(|(k, v)| v.config.as_ref().map(|c| (k, c)))
                .flat_map(|(k, c)| {
                    c.config_maps
                        .iter()
                        .map(|n| ObjKey::new(Managed::ConfigMap, &k.namespace, n))
                })
                .collect()
        };
        self.sync_desired(owner, &desired, &BTreeSet::new(), mounted)
            .await
    }

    /// Why a check failed: its pod's termination message (read once per Job), else the Job's.
    async fn rejection(&self, job: &ObjKey, fallback: String) -> Result<String, Error> {
        if let Some(m) = self.check_message(&job.name) {
            return Ok(m);
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &job.namespace);
        let listed = pods
            .list(&ListParams::default().labels(&format!("{JOB_NAME_LABEL}={}", job.name)))
            .await;
        let items = match listed {
            Ok(list) => list.items,
            // Without the right to list pods the Job's own reason is still worth reporting.
            Err(kube::Error::Api(s)) if s.code == 403 => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let message = items
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .find_map(|p| termination_message(&p))
            .unwrap_or(fallback);
        self.set_check_message(&job.name, &message);
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_check_is_needed_only_when_a_running_workload_runs_another_config() {
        assert!(!needs_check(&[None, None], "b"), "first install");
        assert!(!needs_check(&[Some(Some("b")), None], "b"), "a new zone");
        assert!(needs_check(&[Some(Some("a")), None], "b"));
        assert!(needs_check(&[Some(Some("b")), Some(Some("a"))], "b"));
        assert!(needs_check(&[Some(None)], "b"), "an older operator's");
    }

    #[test]
    fn a_tenant_is_not_shown_another_tenants_error() {
        let (a, b) = (
            ResourceId::pipeline("team-a", "app"),
            ResourceId::pipeline("team-b", "web"),
        );
        let members = [&a, &b];
        let about_b = Gate::Rejected("exporters::clickhouse/team-b.web.logs: bad".into());
        assert_eq!(for_member(&about_b, &b, &members, "j"), about_b);
        let Gate::Rejected(m) = for_member(&about_b, &a, &members, "j") else {
            panic!()
        };
        assert!(!m.contains("team-b") && m.contains("Job j"), "{m}");
        let pool_wide = Gate::Rejected("processors::memory_limiter: bad".into());
        assert_eq!(for_member(&pool_wide, &a, &members, "j"), pool_wide);
    }

    #[test]
    fn job_states_follow_the_job_conditions() {
        assert_eq!(job_state(&json!({})), JobState::Running);
        assert_eq!(
            job_state(&json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})),
            JobState::Succeeded
        );
        assert_eq!(
            job_state(&json!({"status": {"conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}})),
            JobState::Failed(
                "the config check failed: BackoffLimitExceeded Job has reached the specified backoff limit".into()
            )
        );
        assert_eq!(
            job_state(
                &json!({"status": {"conditions": [{"type": "Failed", "status": "False"}], "active": 1}})
            ),
            JobState::Running
        );
    }

    #[test]
    fn the_termination_message_is_the_validators_error_line() {
        let pod = json!({"status": {"containerStatuses": [{"name": "validate", "state": {"terminated": {
            "exitCode": 1,
            "message": "Error: processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'\n2026/12/02 07:18:19 collector server run finished with error: processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'\n"}}}]}});
        assert_eq!(
            termination_message(&pod).as_deref(),
            Some("processors::memory_limiter: 'spike_limit_mib' must be smaller than 'limit_mib'")
        );
        assert_eq!(termination_message(&json!({"status": {}})), None);
    }
}
