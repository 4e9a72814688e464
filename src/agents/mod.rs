//! Agents: one collector DaemonSet per AgentClass, with its ConfigMap, in the agents' namespace.
//! Their ServiceAccount, ClusterRole and binding are the Helm chart's (one for every class): the
//! operator writes no RBAC, so it holds no right to grant any.

use crate::collector::agent::{
    self as agent_config, AgentPool, CHECKPOINT_MOUNT, CHECKPOINT_ROOT, ClassOverlay, LabelKeys,
    NODE_NAME_ENV,
};
use crate::collector::{CONFIG_DIR, METRICS_PORT};
use crate::gateway::pool::Pool;
use crate::inventory::Settings;
use crate::meta::{self, Desired};
use crate::model::{Class, Model};
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapProjection, Container, ContainerPort, EnvVar,
    EnvVarSource, HostPathVolumeSource, NodeAffinity, ObjectFieldSelector, PodSecurityContext,
    PodSpec, PodTemplateSpec, ProjectedVolumeSource, SeccompProfile, SecurityContext, Volume,
    VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// `otelhouse-agent-<class>`, at most 63 characters (DaemonSet pod names get a suffix).
pub fn agent_name(class: &str) -> String {
    meta::shorten(&format!("otelhouse-agent-{class}"), 57)
}

/// What every agent sends where: one destination per gateway pool (with the namespaces it
/// hosts, or the selection of its one label-selecting pipeline), and the label keys the
/// pipelines read, so the agents attach only those.
pub fn agent_pools(m: &Model, pools: &[Pool], settings: &Settings) -> (Vec<AgentPool>, LabelKeys) {
    let mut keys = LabelKeys::default();
    for p in &m.pipelines {
        let sources = &p.sources;
        if let Some(sel) = &sources.pod_selector {
            agent_config::selector_keys(sel, &mut keys.pod);
        }
        if let Some(sel) = &sources.namespace_selector {
            agent_config::selector_keys(sel, &mut keys.namespace);
        }
        for r in &p.routes {
            keys.pod.extend(r.pod_labels.keys().cloned());
        }
        // Columns may extract pod or namespace labels: the agents must attach them.
        for t in &p.tables {
            for c in &t.columns {
                if let Some(k) = c.key.strip_prefix(agent_config::POD_LABEL_PREFIX) {
                    keys.pod.insert(k.to_string());
                } else if let Some(k) = c.key.strip_prefix(agent_config::NAMESPACE_LABEL_PREFIX) {
                    keys.namespace.insert(k.to_string());
                }
            }
        }
    }
    let destinations = pools
        .iter()
        .filter(|pool| !pool.regions.is_empty())
        .map(|pool| {
            let condition = match &pool.namespaces {
                Some(_) => None,
                None => pool
                    .members()
                    .into_iter()
                    .next()
                    .and_then(|id| m.pipeline(id))
                    .map(|p| agent_config::sources_condition(&p.namespace, &p.sources)),
            };
            AgentPool {
                id: pool.name.clone(),
                endpoint: format!(
                    "{}.{}.svc:{}",
                    crate::gateway::service_name(pool),
                    settings.namespace,
                    crate::collector::OTLP_GRPC_PORT
                ),
                namespaces: pool
                    .namespaces
                    .as_ref()
                    .map(|n| n.iter().cloned().collect()),
                condition,
            }
        })
        .collect();
    (destinations, keys)
}

/// The ConfigMap every agent reads its pipelines from (the union of all LogPipelines, the same
/// for every class: one copy, not one per class) is this, then `-` and its content's hash.
/// `otelhouse-agents-` is a prefix no class's objects can have (theirs are
/// `otelhouse-agent-<class>`), so a class named `shared` or `pipelines` cannot take it over.
pub const PIPELINES_CONFIG_MAP: &str = "otelhouse-agents-shared";

/// The shared pipelines ConfigMap's name: named by its content and immutable, so that a new
/// one can be checked (controller::config_check) and rolled out class by class while the
/// agents of a class whose check failed keep reading the one they have.
pub fn pipelines_config_map_name(config: &str) -> String {
    format!(
        "{PIPELINES_CONFIG_MAP}-{}",
        &meta::config_hash(config)[..10]
    )
}

/// The shared pipelines ConfigMap and the text it holds.
pub fn build_shared(
    settings: &Settings,
    pools: &[AgentPool],
    keys: &LabelKeys,
) -> (Desired, String) {
    let config = agent_config::pipelines_config(&settings.agent_namespace, pools, keys).to_yaml();
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(pipelines_config_map_name(&config)),
            namespace: Some(settings.agent_namespace.clone()),
            labels: Some(meta::labels("otelhouse-agent", "agent", "shared")),
            annotations: Some(meta::Owner::Agents.annotations()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "pipelines.yaml".to_string(),
            config.clone(),
        )])),
        immutable: Some(true),
        ..Default::default()
    };
    (Desired::new(&cm), config)
}

/// Everything one class turns into; `pipelines_config` is the shared config's text (its hash
/// goes into the pod template so a pipeline change rolls the agents).
pub fn build(class: &Class, settings: &Settings, pipelines_config: &str) -> Vec<Desired> {
    let class_name = class.name.clone();
    let name = agent_name(&class_name);
    let ns = settings.agent_namespace.clone();
    let mut labels = meta::labels("otelhouse-agent", "agent", &class_name);
    labels.insert(
        meta::LABEL_CLASS.to_string(),
        meta::shorten(&class_name, 63),
    );
    let owner = class.owner_ref.clone().map(|o| vec![o]);
    let owner_annotation = meta::Owner::Class(class_name.clone()).annotations();
    let object_meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.clone()),
        labels: Some(labels.clone()),
        annotations: Some(owner_annotation.clone()),
        owner_references: owner.clone(),
        ..Default::default()
    };

    let config = ClassOverlay::for_memory_limit(class.memory_limit_bytes).to_yaml();
    let image = class
        .image
        .clone()
        .unwrap_or_else(|| settings.collector_image.clone());
    // What the agents run: both configs and the image (a new image may refuse an old config);
    // each new value is checked before the DaemonSet gets it (controller::config_check).
    let hash = meta::config_hash(&format!("{pipelines_config}\n---\n{config}\n---\n{image}"));
    let config_map = ConfigMap {
        metadata: object_meta(&name),
        data: Some(BTreeMap::from([("class.yaml".to_string(), config)])),
        ..Default::default()
    };
    let selector_labels: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| {
            k.as_str() == "app.kubernetes.io/name" || k.as_str() == "app.kubernetes.io/instance"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let host_path = |name: &str, path: &str, ty: &str| Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_string(),
            type_: Some(ty.to_string()),
        }),
        ..Default::default()
    };
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(read_only),
        ..Default::default()
    };
    let affinity = class.selection.to_node_selector().map(|ns| Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(ns),
            ..Default::default()
        }),
        ..Default::default()
    });
    let container = Container {
        name: "collector".to_string(),
        image: Some(image),
        // The collector merges the two: shared pipelines, then this class's memory_limiter.
        args: Some(vec![
            format!("--config={CONFIG_DIR}/pipelines.yaml"),
            format!("--config={CONFIG_DIR}/class.yaml"),
        ]),
        env: Some(vec![
            EnvVar {
                name: NODE_NAME_ENV.to_string(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "spec.nodeName".to_string(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            EnvVar {
                // The Go runtime collects before the kernel's OOM killer would act.
                name: "GOMEMLIMIT".to_string(),
                value: Some(format!(
                    "{}MiB",
                    class.memory_limit_bytes / (1024 * 1024) * 9 / 10
                )),
                ..Default::default()
            },
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".to_string()),
            container_port: i32::from(METRICS_PORT),
            ..Default::default()
        }]),
        resources: Some(class.resources.clone()),
        volume_mounts: Some(vec![
            mount("config", CONFIG_DIR, true),
            mount("varlogpods", "/var/log/pods", true),
            mount("dockercontainers", "/var/lib/docker/containers", true),
            mount("checkpoints", CHECKPOINT_MOUNT, false),
        ]),
        liveness_probe: Some(crate::collector::health_probe()),
        readiness_probe: Some(crate::collector::health_probe()),
        security_context: Some(SecurityContext {
            // Root (uid 0) only to read the kubelet's root-owned 0640 log files; every
            // capability is dropped, so it has no other privilege.
            run_as_user: Some(0),
            run_as_group: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut pod_annotations = BTreeMap::new();
    pod_annotations.insert(meta::CONFIG_HASH_ANNOTATION.to_string(), hash);
    let daemon_set = DaemonSet {
        metadata: object_meta(&name),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels),
                ..Default::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::String("10%".to_string())),
                    ..Default::default()
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    annotations: Some(pod_annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(settings.agent_service_account.clone()),
                    affinity,
                    tolerations: Some(class.tolerations.clone()).filter(|t| !t.is_empty()),
                    priority_class_name: class.priority_class_name.clone(),
                    containers: vec![container],
                    security_context: Some(PodSecurityContext {
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    termination_grace_period_seconds: Some(30),
                    volumes: Some(vec![
                        Volume {
                            name: "config".to_string(),
                            projected: Some(ProjectedVolumeSource {
                                sources: Some(vec![
                                    VolumeProjection {
                                        config_map: Some(ConfigMapProjection {
                                            name: pipelines_config_map_name(pipelines_config),
                                            ..Default::default()
                                        }),
                                        ..Default::default()
                                    },
                                    VolumeProjection {
                                        config_map: Some(ConfigMapProjection {
                                            name: name.clone(),
                                            ..Default::default()
                                        }),
                                        ..Default::default()
                                    },
                                ]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        host_path("varlogpods", "/var/log/pods", "Directory"),
                        // Docker's json-file logs, which /var/log/pods links to on docker nodes.
                        host_path(
                            "dockercontainers",
                            "/var/lib/docker/containers",
                            "DirectoryOrCreate",
                        ),
                        host_path(
                            "checkpoints",
                            &format!("{CHECKPOINT_ROOT}/{}", meta::shorten(&class_name, 63)),
                            "DirectoryOrCreate",
                        ),
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![Desired::new(&config_map), Desired::new(&daemon_set)]
}
