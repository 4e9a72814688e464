//! Gateways: per pipeline, one Deployment per zone (with its HPA and PDB), a config per region,
//! and one topology-aware Service in front of them all.
//!
//! One Deployment per zone (not one with spread constraints) because it is the only way to
//! *guarantee* a zone's floor: an HPA or a rollout of a single Deployment may leave a zone
//! empty, a per-zone Deployment with a per-zone HPA floor cannot. It also lets each zone's
//! gateways carry its region's store and lets zones be sized by their own nodes' log rate.

pub mod plan;

use crate::collector::gateway::{
    self as gateway_config, ExporterTarget, GatewayInput, GatewayTable, PASSWORD_ENV, USERNAME_ENV,
};
use crate::collector::{CONFIG_DIR, METRICS_PORT, OTLP_GRPC_PORT};
use crate::inventory::{Settings, ZONE_LABEL};
use crate::meta::{self, Desired};
use crate::model::{Pipeline, Store, Zone};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
    EnvVarSource, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use plan::{Plan, PlanInput};
use std::collections::BTreeMap;

/// The pipeline's gateway base name, `otelhouse-gw-<namespace>-<name>`, short enough for a
/// Service (a DNS label) and for `-<zone>` suffixes.
pub fn base_name(p: &Pipeline) -> String {
    meta::shorten(&format!("otelhouse-gw-{}-{}", p.namespace, p.name), 40)
}

/// The Service agents send to.
pub fn service_name(p: &Pipeline) -> String {
    base_name(p)
}

/// The labels every gateway object of a pipeline carries.
fn pipeline_labels(p: &Pipeline) -> BTreeMap<String, String> {
    let mut l = meta::labels(
        "otelhouse-gateway",
        "gateway",
        &meta::shorten(&p.component_id, 63),
    );
    l.insert(meta::LABEL_PIPELINE_NAMESPACE.into(), p.namespace.clone());
    l.insert(meta::LABEL_PIPELINE_NAME.into(), meta::shorten(&p.name, 63));
    l
}

/// The plan of one region of a pipeline.
pub fn region_plan(p: &Pipeline, zones: &[Zone]) -> Plan {
    let g = &p.gateway;
    plan::plan(&PlanInput {
        events_per_second: g.events_per_second,
        capacity_per_replica: g.capacity_per_replica,
        buffer_seconds: g.buffer.as_secs(),
        bytes_per_event: g.bytes_per_event,
        memory_limit_bytes: g.memory_limit_bytes,
        min_per_zone: g.min_replicas_per_zone,
        max_replicas: g.max_replicas,
        zones: zones
            .iter()
            .map(|z| (z.name.clone(), z.lines_per_second))
            .collect(),
    })
}

/// The exporter's view of a store.
fn exporter_target(store: &Store) -> ExporterTarget {
    ExporterTarget {
        endpoint: store.exporter_endpoint.clone(),
        database: store.database.clone(),
        insecure_skip_verify: store.insecure_skip_verify,
        region: store.region.clone(),
    }
}

/// The gateway config of one region.
pub fn region_config(p: &Pipeline, store: &Store, plan: &Plan) -> String {
    gateway_config::config(&GatewayInput {
        memory_limit_bytes: p.gateway.memory_limit_bytes,
        parse: &p.parse,
        tables: p
            .tables
            .iter()
            .map(|t| GatewayTable {
                name: t.name.clone(),
                ingest_table: t.ingest_name(),
            })
            .collect(),
        routes: &p.routes,
        default_table: p.default_table.as_deref(),
        target: exporter_target(store),
        batch_rows: p.gateway.batch_rows,
        batch_timeout: format!("{}ms", p.gateway.batch_timeout.as_millis()),
        queue_events: plan.queue_events_per_replica,
    })
    .to_yaml()
}

/// Everything one pipeline's gateways are, in every region with nodes in this cluster.
pub fn build(p: &Pipeline, settings: &Settings) -> (Vec<Desired>, Vec<(String, Plan)>) {
    let ns = settings.namespace.clone();
    let base = base_name(p);
    let labels = pipeline_labels(p);
    let selector: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| {
            k.as_str() == "app.kubernetes.io/name" || k.as_str() == "app.kubernetes.io/instance"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let meta_with =
        |name: &str, extra: &[(&str, &str)], annotations: Option<BTreeMap<String, String>>| {
            let mut l = labels.clone();
            l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let mut a = meta::Owner::Pipeline {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
            }
            .annotations();
            a.extend(annotations.unwrap_or_default());
            ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.clone()),
                labels: Some(l),
                annotations: Some(a),
                ..Default::default()
            }
        };
    let mut out = Vec::new();
    let mut plans = Vec::new();
    if p.regions.is_empty() {
        return (out, plans);
    }
    out.push(Desired::new(&Service {
        // trafficDistribution alone: the older topology-mode annotation would override it
        // where both are set, and every supported cluster (1.33+) has it GA.
        metadata: meta_with(&base, &[], None),
        spec: Some(ServiceSpec {
            selector: Some(selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("otlp-grpc".to_string()),
                port: i32::from(OTLP_GRPC_PORT),
                target_port: Some(IntOrString::String("otlp-grpc".to_string())),
                app_protocol: Some("grpc".to_string()),
                ..Default::default()
            }]),
            traffic_distribution: Some("PreferClose".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let resources = &p.gateway.resources;
    for (region, r) in &p.regions {
        let store = &r.store;
        let plan = region_plan(p, &r.zones);
        let cm_name = meta::shorten(&format!("{base}-{region}"), 63);
        let config = region_config(p, store, &plan);
        let hash = meta::config_hash(&config);
        out.push(Desired::new(&ConfigMap {
            metadata: meta_with(&cm_name, &[(meta::LABEL_REGION, region)], None),
            data: Some(BTreeMap::from([("config.yaml".to_string(), config)])),
            ..Default::default()
        }));
        for zp in &plan.zones {
            let name = meta::shorten(&format!("{base}-{}", zp.zone), 52);
            let zone_label = meta::shorten(&zp.zone, 63);
            let extra = [
                (meta::LABEL_REGION, region.as_str()),
                (meta::LABEL_ZONE, zone_label.as_str()),
            ];
            let mut pod_selector = selector.clone();
            pod_selector.insert(meta::LABEL_ZONE.to_string(), zone_label.clone());
            let mut pod_labels = labels.clone();
            pod_labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let mut d = Desired::new(&deployment(
                meta_with(&name, &extra, None),
                &zp.zone,
                pod_selector.clone(),
                pod_labels,
                &hash,
                &cm_name,
                store,
                resources,
                p.gateway.memory_limit_bytes,
                p.gateway
                    .image
                    .as_deref()
                    .unwrap_or(&settings.collector_image),
            ));
            d.initial_replicas = Some(zp.replicas);
            out.push(d);
            out.push(Desired::new(&HorizontalPodAutoscaler {
                metadata: meta_with(&name, &extra, None),
                spec: Some(HorizontalPodAutoscalerSpec {
                    scale_target_ref: CrossVersionObjectReference {
                        api_version: Some("apps/v1".to_string()),
                        kind: "Deployment".to_string(),
                        name: name.clone(),
                    },
                    // The floor is the plan: the autoscaler may add, never go below it.
                    min_replicas: Some(i32::try_from(zp.replicas).unwrap_or(i32::MAX)),
                    max_replicas: i32::try_from(zp.max_replicas).unwrap_or(i32::MAX),
                    metrics: Some(vec![MetricSpec {
                        type_: "Resource".to_string(),
                        resource: Some(ResourceMetricSource {
                            name: "cpu".to_string(),
                            target: MetricTarget {
                                type_: "Utilization".to_string(),
                                average_utilization: Some(70),
                                ..Default::default()
                            },
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }));
            out.push(Desired::new(&PodDisruptionBudget {
                metadata: meta_with(&name, &extra, None),
                spec: Some(PodDisruptionBudgetSpec {
                    // One at a time per zone: a drain never takes a zone's gateways at once.
                    max_unavailable: Some(IntOrString::Int(1)),
                    selector: Some(LabelSelector {
                        match_labels: Some(pod_selector),
                        ..Default::default()
                    }),
                    unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }));
        }
        plans.push((region.clone(), plan));
    }
    (out, plans)
}

#[allow(clippy::too_many_arguments)]
fn deployment(
    metadata: ObjectMeta,
    zone: &str,
    selector: BTreeMap<String, String>,
    pod_labels: BTreeMap<String, String>,
    config_hash: &str,
    config_map: &str,
    store: &Store,
    resources: &ResourceRequirements,
    memory: u64,
    image: &str,
) -> Deployment {
    let creds = &store.credentials;
    let secret_env = |env: &str, key: &str| EnvVar {
        name: env.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: creds.secret_name.clone(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let container = Container {
        name: "collector".to_string(),
        image: Some(image.to_string()),
        args: Some(vec![format!("--config={CONFIG_DIR}/config.yaml")]),
        env: Some(vec![
            secret_env(USERNAME_ENV, &creds.username_key),
            secret_env(PASSWORD_ENV, &creds.password_key),
            EnvVar {
                name: "GOMEMLIMIT".to_string(),
                value: Some(format!("{}MiB", memory / (1024 * 1024) * 9 / 10)),
                ..Default::default()
            },
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some("otlp-grpc".to_string()),
                container_port: i32::from(OTLP_GRPC_PORT),
                ..Default::default()
            },
            ContainerPort {
                name: Some("metrics".to_string()),
                container_port: i32::from(METRICS_PORT),
                ..Default::default()
            },
        ]),
        resources: Some(resources.clone()),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".to_string(),
            mount_path: CONFIG_DIR.to_string(),
            read_only: Some(true),
            ..Default::default()
        }]),
        liveness_probe: Some(crate::collector::health_probe()),
        readiness_probe: Some(crate::collector::health_probe()),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(10001),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pinned_to_zone = !zone.is_empty();
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            // No replicas: the HPA owns them (its floor is the plan). A Deployment applied with
            // replicas would be scaled back on every apply, fighting the autoscaler.
            replicas: None,
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..Default::default()
            },
            // Surge first: a rollout never takes the zone below its planned count.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        meta::CONFIG_HASH_ANNOTATION.to_string(),
                        config_hash.to_string(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    affinity: pinned_to_zone.then(|| Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(
                                NodeSelector {
                                    node_selector_terms: vec![NodeSelectorTerm {
                                        match_expressions: Some(vec![NodeSelectorRequirement {
                                            key: ZONE_LABEL.to_string(),
                                            operator: "In".to_string(),
                                            values: Some(vec![zone.to_string()]),
                                        }]),
                                        match_fields: None,
                                    }],
                                },
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    // Spread a zone's replicas over its nodes.
                    topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                        max_skew: 1,
                        topology_key: "kubernetes.io/hostname".to_string(),
                        when_unsatisfiable: "ScheduleAnyway".to_string(),
                        label_selector: Some(LabelSelector {
                            match_labels: Some(selector),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    containers: vec![container],
                    security_context: Some(PodSecurityContext {
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    termination_grace_period_seconds: Some(60),
                    volumes: Some(vec![Volume {
                        name: "config".to_string(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: config_map.to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}
