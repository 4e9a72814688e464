//! Gateways: pools of them ([`pool`]), each one Service and NetworkPolicy ([`netpol`]), a config
//! per region, and per zone one
//! Deployment (a StatefulSet with a queue volume per replica when its buffer is on disk) with its
//! HPA and PDB.
//!
//! One workload per zone (not one with spread constraints) because it is the only way to
//! *guarantee* a zone's floor: an HPA or a rollout of a single Deployment may leave a zone
//! empty, a per-zone workload with a per-zone HPA floor cannot. It also lets each zone's
//! gateways carry their region's stores and lets zones be sized by their own nodes' log rate.

pub mod netpol;
pub mod plan;
pub mod pool;

use crate::collector::gateway::{
    self as gateway_config, ExporterTarget, GatewayTable, Member, PoolInput, QUEUE_DIR,
    credential_env,
};
use crate::collector::{CONFIG_DIR, METRICS_PORT, OTLP_GRPC_PORT};
use crate::inventory::{Settings, ZONE_LABEL};
use crate::meta::{self, Desired, Owner};
use crate::model::{Model, Pipeline, ResourceId, Store};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
    EnvVarSource, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec,
    SeccompProfile, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pool::{Medium, Pool, PoolId, PoolRegion};
use std::collections::BTreeMap;

/// The label naming a gateway object's pool.
pub const LABEL_POOL: &str = "otelhouse.dev/pool";

/// A zone as a part of an object name: the zone itself when it is a DNS label, else a hash (zone
/// labels are label values: dots and capitals would make invalid or colliding names).
pub fn zone_part(zone: &str) -> String {
    if crate::ident::is_dns_label(zone) {
        zone.to_string()
    } else {
        format!("z{}", meta::short_hash(zone))
    }
}

/// The Service the agents send a pool's logs to.
pub fn service_name(pool: &Pool) -> String {
    pool.name.clone()
}

/// The per-zone workload of a pool (at most 52 characters: a StatefulSet's pods get `-<n>` and
/// a controller-revision-hash label).
pub fn workload_name(pool: &Pool, zone: &str) -> String {
    meta::shorten(&format!("{}-{}", pool.name, zone_part(zone)), 52)
}

/// The ConfigMap of a pool's gateways in one region.
pub fn config_map_name(pool: &Pool, region: &str) -> String {
    meta::shorten(&format!("{}-{region}", pool.name), 63)
}

/// The labels every object of a pool carries.
fn pool_labels(pool: &Pool) -> BTreeMap<String, String> {
    let mut l = meta::labels("otelhouse-gateway", "gateway", &pool.name);
    l.insert(LABEL_POOL.to_string(), pool.name.clone());
    if let PoolId::Dedicated(id) = &pool.id {
        l.insert(
            meta::LABEL_PIPELINE_NAMESPACE.into(),
            id.namespace.clone().unwrap_or_default(),
        );
        l.insert(
            meta::LABEL_PIPELINE_NAME.into(),
            meta::shorten(&id.name, 63),
        );
    }
    l
}

fn exporter_target(store: &Store) -> ExporterTarget {
    ExporterTarget {
        endpoint: store.exporter_endpoint.clone(),
        database: store.database.clone(),
        insecure_skip_verify: store.insecure_skip_verify,
        store: store.name.clone(),
        region: store.region.clone(),
    }
}

/// A pipeline's selection within its namespaces, for its branch of a pool (the namespace
/// router has already picked its namespaces; a label-selected pool's agents send only what
/// matches, so its one member needs none).
fn selection(p: &Pipeline, by_namespace: bool) -> Option<String> {
    if !by_namespace {
        return None;
    }
    crate::collector::agent::selection_condition(&p.sources)
}

/// The most bytes a pool's config may have: its ConfigMap must stay under the API server's
/// 1 MiB object limit (etcd's request size), with room for the object around it.
pub const MAX_CONFIG_BYTES: usize = 960 * 1024;
/// Shards beyond this are not made: a single namespace whose pipelines need more is reported.
pub const MAX_SHARDS: u32 = 1024;

/// The model's pools: the shared pool's shards doubled until every shard's config fits in a
/// ConfigMap (namespaces by hash, so a doubling splits each shard in two and moves no
/// namespace to a third).
pub fn pools(m: &Model, settings: &Settings) -> Vec<Pool> {
    let mut min_shards = 1;
    loop {
        let (pools, shards) = pool::assign(m, settings, min_shards);
        let too_big = pools
            .iter()
            .filter(|p| matches!(p.id, pool::PoolId::Shard(_)) && p.members().len() > 1)
            .any(|p| {
                p.regions
                    .iter()
                    .any(|(region, r)| region_config(p, region, r, m).len() > MAX_CONFIG_BYTES)
            });
        if !too_big || shards >= MAX_SHARDS {
            return pools;
        }
        min_shards = shards * 2;
    }
}

/// The gateway config of a pool in one region.
pub fn region_config(pool: &Pool, region: &str, r: &PoolRegion, m: &Model) -> String {
    let by_namespace = pool.namespaces.is_some();
    let members: Vec<Member<'_>> = r
        .members
        .iter()
        .filter_map(|mem| {
            let p = m.pipeline(&mem.pipeline)?;
            let store = pool::store_of(p, region)?;
            let namespaces = match &pool.namespaces {
                Some(ns) => pool::namespaces_of(p)
                    .unwrap_or_default()
                    .intersection(ns)
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let replicas = u64::from(r.plan.total.max(1));
            Some(Member {
                id: p.component_id.clone(),
                namespaces,
                selection: selection(p, by_namespace),
                parse: &p.parse,
                tables: p
                    .tables
                    .iter()
                    .map(|t| GatewayTable {
                        name: t.name.clone(),
                        ingest_table: t.ingest_name(),
                        target: exporter_target(store),
                        retention_days: t.retention_days,
                        daily_partitions: t.partitions_follow_timestamp(),
                    })
                    .collect(),
                routes: &p.routes,
                default_table: p.default_table.as_deref(),
                batch_rows: p.gateway.batch_rows,
                batch_timeout: format!("{}ms", p.gateway.batch_timeout.as_millis()),
                queue_events: ((p.gateway.events_per_second as f64
                    * mem.share
                    * p.gateway.buffer.as_secs_f64())
                    / replicas as f64)
                    .ceil() as u64,
                retry_seconds: p.gateway.buffer.as_secs(),
            })
        })
        .collect();
    gateway_config::config(&PoolInput {
        memory_limit_bytes: r.sizing.memory_limit_bytes,
        members,
        by_namespace,
        persistent: matches!(r.sizing.medium, Medium::Disk { .. }),
    })
    .to_yaml()
}

/// Everything one pool is, in every region it serves.
pub fn build(pool: &Pool, m: &Model, settings: &Settings) -> Vec<Desired> {
    let ns = settings.namespace.clone();
    let labels = pool_labels(pool);
    let selector: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| {
            k.as_str() == "app.kubernetes.io/name" || k.as_str() == "app.kubernetes.io/instance"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let owner = Owner::Pool(pool.name.clone());
    let meta_with = |name: &str, extra: &[(&str, &str)]| {
        let mut l = labels.clone();
        l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.clone()),
            labels: Some(l),
            annotations: Some(owner.annotations()),
            ..Default::default()
        }
    };
    let mut out = Vec::new();
    if pool.regions.is_empty() {
        return out;
    }
    out.push(Desired::new(&Service {
        // trafficDistribution alone: the older topology-mode annotation would override it
        // where both are set, and every supported cluster (1.33+) has it GA.
        metadata: meta_with(&service_name(pool), &[]),
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
    if settings.gateway_network_policy.enabled {
        out.push(Desired::new(&netpol::network_policy(
            meta_with(&service_name(pool), &[]),
            selector.clone(),
            settings,
        )));
    }
    let owner_pipeline = match &pool.id {
        PoolId::Dedicated(id) => m.pipeline(id),
        PoolId::Shard(_) => None,
    };
    let image = owner_pipeline
        .and_then(|p| p.gateway.image.as_deref())
        .unwrap_or(&settings.collector_image);
    for (region, r) in &pool.regions {
        let cm_name = config_map_name(pool, region);
        let config = region_config(pool, region, r, m);
        let hash = meta::config_hash(&config);
        out.push(Desired::new(&ConfigMap {
            metadata: meta_with(&cm_name, &[(meta::LABEL_REGION, region)]),
            data: Some(BTreeMap::from([("config.yaml".to_string(), config)])),
            ..Default::default()
        }));
        // Every store this region's members insert into, each with its own credentials.
        let mut stores: BTreeMap<&str, &Store> = BTreeMap::new();
        for mem in &r.members {
            if let Some(s) = m
                .pipeline(&mem.pipeline)
                .and_then(|p| pool::store_of(p, region))
            {
                stores.insert(s.name.as_str(), s);
            }
        }
        for zp in &r.plan.zones {
            let name = workload_name(pool, &zp.zone);
            let zone_label = meta::shorten(&zp.zone, 63);
            let extra = [
                (meta::LABEL_REGION, region.as_str()),
                (meta::LABEL_ZONE, zone_label.as_str()),
            ];
            let mut pod_selector = selector.clone();
            pod_selector.insert(meta::LABEL_ZONE.to_string(), zone_label.clone());
            let mut pod_labels = labels.clone();
            pod_labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let template = pod_template(
                &zp.zone,
                selector.clone(),
                pod_labels,
                &hash,
                &cm_name,
                &stores,
                r,
                image,
            );
            let (mut workload, kind) = match r.sizing.medium {
                Medium::Memory => (
                    Desired::new(&deployment(
                        meta_with(&name, &extra),
                        pod_selector.clone(),
                        template,
                    )),
                    "Deployment",
                ),
                Medium::Disk { volume_bytes } => (
                    Desired::new(&stateful_set(
                        meta_with(&name, &extra),
                        &service_name(pool),
                        pod_selector.clone(),
                        template,
                        volume_bytes,
                        settings.pools.storage_class.clone(),
                    )),
                    "StatefulSet",
                ),
            };
            workload.initial_replicas = Some(zp.replicas);
            out.push(workload);
            out.push(Desired::new(&HorizontalPodAutoscaler {
                metadata: meta_with(&name, &extra),
                spec: Some(HorizontalPodAutoscalerSpec {
                    scale_target_ref: CrossVersionObjectReference {
                        api_version: Some("apps/v1".to_string()),
                        kind: kind.to_string(),
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
                                average_utilization: Some(
                                    (pool::HPA_TARGET_UTILIZATION * 100.0) as i32,
                                ),
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
                metadata: meta_with(&name, &extra),
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
    }
    out
}

/// The gateways' pod: the collector with its config, credentials from each store's Secret,
/// pinned to its zone, spread over the zone's nodes.
#[allow(clippy::too_many_arguments)]
fn pod_template(
    zone: &str,
    selector: BTreeMap<String, String>,
    pod_labels: BTreeMap<String, String>,
    config_hash: &str,
    config_map: &str,
    stores: &BTreeMap<&str, &Store>,
    r: &PoolRegion,
    image: &str,
) -> PodTemplateSpec {
    let secret_env = |env: String, secret: &str, key: &str| EnvVar {
        name: env,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut env = Vec::new();
    for s in stores.values() {
        let (user, password) = credential_env(&s.name);
        let c = &s.credentials;
        env.push(secret_env(user, &c.secret_name, &c.username_key));
        env.push(secret_env(password, &c.secret_name, &c.password_key));
    }
    env.push(EnvVar {
        // The Go runtime collects before the kernel's OOM killer would act.
        name: "GOMEMLIMIT".to_string(),
        value: Some(format!(
            "{}MiB",
            r.sizing.memory_limit_bytes / (1024 * 1024) * 9 / 10
        )),
        ..Default::default()
    });
    let mut mounts = vec![VolumeMount {
        name: "config".to_string(),
        mount_path: CONFIG_DIR.to_string(),
        read_only: Some(true),
        ..Default::default()
    }];
    if matches!(r.sizing.medium, Medium::Disk { .. }) {
        mounts.push(VolumeMount {
            name: "queue".to_string(),
            mount_path: QUEUE_DIR.to_string(),
            ..Default::default()
        });
    }
    let container = Container {
        name: "collector".to_string(),
        image: Some(image.to_string()),
        args: Some(vec![format!("--config={CONFIG_DIR}/config.yaml")]),
        env: Some(env),
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
        resources: Some(r.sizing.resources.clone()),
        volume_mounts: Some(mounts),
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
    // What the pods run: the config, and the image and environment it is run with (a new
    // image may refuse an old config, a credential must resolve). The operator validates
    // each new value before a workload gets it (controller::config_check).
    let run_hash = meta::config_hash(&format!(
        "{config_hash}\n{}\n{}",
        container.image.as_deref().unwrap_or_default(),
        serde_json::to_string(&container.env).unwrap_or_default()
    ));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(BTreeMap::from([(
                meta::CONFIG_HASH_ANNOTATION.to_string(),
                run_hash,
            )])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            automount_service_account_token: Some(false),
            affinity: pinned_to_zone.then(|| Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: ZONE_LABEL.to_string(),
                                operator: "In".to_string(),
                                values: Some(vec![zone.to_string()]),
                            }]),
                            match_fields: None,
                        }],
                    }),
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
                // The queue volume is writable by the collector's group.
                fs_group: matches!(r.sizing.medium, Medium::Disk { .. }).then_some(10001),
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
    }
}

fn deployment(
    metadata: ObjectMeta,
    selector: BTreeMap<String, String>,
    template: PodTemplateSpec,
) -> Deployment {
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            // No replicas: the HPA owns them (its floor is the plan). A Deployment applied with
            // replicas would be scaled back on every apply, fighting the autoscaler.
            replicas: None,
            selector: LabelSelector {
                match_labels: Some(selector),
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
            template,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A zone's gateways with their queue on a volume each: a restart or an outage keeps what was
/// queued, and a replica removed by a scale-down keeps its volume (and its data) until a
/// scale-up brings that ordinal back and drains it.
fn stateful_set(
    metadata: ObjectMeta,
    service: &str,
    selector: BTreeMap<String, String>,
    template: PodTemplateSpec,
    volume_bytes: u64,
    storage_class: Option<String>,
) -> StatefulSet {
    let size = Quantity(format!("{}Gi", volume_bytes.div_ceil(1024 * 1024 * 1024)));
    StatefulSet {
        metadata,
        spec: Some(StatefulSetSpec {
            replicas: None,
            service_name: Some(service.to_string()),
            // Replicas are interchangeable; they start and stop together.
            pod_management_policy: Some("Parallel".to_string()),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    max_unavailable: Some(IntOrString::Int(1)),
                    ..Default::default()
                }),
            }),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".to_string()),
                    when_scaled: Some("Retain".to_string()),
                },
            ),
            template,
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("queue".to_string()),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                    storage_class_name: storage_class,
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([("storage".to_string(), size)])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The pools serving a pipeline.
pub fn pools_of<'a>(pools: &'a [Pool], id: &'a ResourceId) -> impl Iterator<Item = &'a Pool> + 'a {
    pools.iter().filter(move |p| p.members().contains(id))
}
