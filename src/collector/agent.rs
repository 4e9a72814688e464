//! The agent (DaemonSet) collector config: tail the node's pod logs, checkpoint on the node,
//! enrich with this node's pods' metadata, and send each pipeline's share to its gateways.

use super::*;
use crate::crd::Sources;
use crate::ident::escape_collector_value;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Where the agent keeps its file offsets on the node (a hostPath, one directory per class so a
/// class change on a node never shares a checkpoint database).
pub const CHECKPOINT_ROOT: &str = "/var/lib/otelhouse";
/// Mount path of the checkpoint hostPath inside the pod.
pub const CHECKPOINT_MOUNT: &str = "/var/lib/otelhouse/checkpoints";
/// The env var holding the node name (downward API).
pub const NODE_NAME_ENV: &str = "K8S_NODE_NAME";
/// Prefix under which pod labels become resource attributes.
pub const POD_LABEL_PREFIX: &str = "k8s.pod.labels.";
/// Prefix under which namespace labels become resource attributes.
pub const NAMESPACE_LABEL_PREFIX: &str = "k8s.namespace.labels.";

/// One pipeline as the agents see it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentRoute {
    /// Component-safe pipeline id (`<namespace>.<name>`).
    pub id: String,
    /// OTTL condition (resource context paths) selecting this pipeline's logs.
    pub keep: String,
    /// The gateway Service, `host:port`.
    pub endpoint: String,
}

/// Label keys the routes read, so the agents extract only those.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelKeys {
    pub pod: BTreeSet<String>,
    pub namespace: BTreeSet<String>,
}

/// The part of the agent config that differs per class: the memory_limiter, derived from the
/// class's memory limit. The collector merges it over [`pipelines_config`] (two `--config`s).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ClassOverlay {
    pub processors: BTreeMap<String, Processor>,
}

impl ClassOverlay {
    pub fn for_memory_limit(memory_limit_bytes: u64) -> Self {
        Self {
            processors: BTreeMap::from([(
                "memory_limiter".to_string(),
                Processor::MemoryLimiter(MemoryLimiter::for_memory_limit(memory_limit_bytes)),
            )]),
        }
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

/// The agent config every class shares: the union of all pipelines. It names `memory_limiter`,
/// which each class's [`ClassOverlay`] defines.
pub fn pipelines_config(
    operator_namespace: &str,
    routes: &[AgentRoute],
    labels: &LabelKeys,
) -> Config {
    let mut cfg = Config::default();
    let (hc, hc_cfg) = health_check();
    cfg.extensions.insert(hc.clone(), hc_cfg);
    cfg.service.extensions.push(hc);
    if routes.is_empty() {
        // No pipeline wants logs: read nothing (so nothing is checkpointed and lost).
        cfg.receivers
            .insert("nop".to_string(), Receiver::Nop(Empty {}));
        cfg.exporters
            .insert("nop".to_string(), Exporter::Nop(Empty {}));
        cfg.service.pipelines.insert(
            "logs".to_string(),
            Pipeline {
                receivers: vec!["nop".to_string()],
                processors: vec![],
                exporters: vec!["nop".to_string()],
            },
        );
        return cfg;
    }
    cfg.extensions.insert(
        "file_storage".to_string(),
        Extension::FileStorage(FileStorage {
            directory: CHECKPOINT_MOUNT.to_string(),
            create_directory: true,
            timeout: "1s".to_string(),
            compaction: FileStorageCompaction {
                on_start: true,
                directory: CHECKPOINT_MOUNT.to_string(),
            },
        }),
    );
    cfg.service.extensions.push("file_storage".to_string());
    cfg.receivers.insert(
        "filelog".to_string(),
        Receiver::Filelog(Filelog {
            include: vec!["/var/log/pods/*/*/*.log".to_string()],
            // The agents' own logs would loop back through themselves.
            exclude: vec![format!(
                "/var/log/pods/{operator_namespace}_otelhouse-agent-*/*/*.log"
            )],
            // With checkpoints, `beginning` only applies to files never seen: lines written
            // before the agent started on a node are read, not lost.
            start_at: "beginning".to_string(),
            include_file_path: true,
            include_file_name: false,
            storage: "file_storage".to_string(),
            max_log_size: "1MiB".to_string(),
            retry_on_failure: FilelogRetry {
                enabled: true,
                initial_interval: "1s".to_string(),
                max_interval: "30s".to_string(),
                max_elapsed_time: "0s".to_string(),
            },
            // Detects CRI (containerd, CRI-O) and docker JSON lines, takes the timestamp from
            // the line and the namespace/pod/container from the file path.
            operators: vec![Operator {
                type_: "container".to_string(),
                id: "container-parser".to_string(),
                format: None,
                add_metadata_from_filepath: true,
            }],
        }),
    );
    let mut extract_labels: Vec<K8sLabel> = labels
        .pod
        .iter()
        .map(|k| K8sLabel {
            tag_name: format!("{POD_LABEL_PREFIX}{k}"),
            key: k.clone(),
            from: "pod".to_string(),
        })
        .collect();
    extract_labels.extend(labels.namespace.iter().map(|k| K8sLabel {
        tag_name: format!("{NAMESPACE_LABEL_PREFIX}{k}"),
        key: k.clone(),
        from: "namespace".to_string(),
    }));
    cfg.processors.insert(
        "k8sattributes".to_string(),
        Processor::K8sAttributes(K8sAttributes {
            auth_type: "serviceAccount".to_string(),
            passthrough: false,
            filter: K8sFilter {
                node_from_env_var: NODE_NAME_ENV.to_string(),
            },
            extract: K8sExtract {
                metadata: [
                    "k8s.deployment.name",
                    "k8s.statefulset.name",
                    "k8s.daemonset.name",
                    "k8s.job.name",
                    "k8s.cronjob.name",
                    "k8s.node.name",
                    "k8s.pod.start_time",
                ]
                .map(String::from)
                .to_vec(),
                labels: extract_labels,
            },
            pod_association: vec![PodAssociation {
                sources: vec![AssociationSource {
                    from: "resource_attribute".to_string(),
                    name: "k8s.pod.uid".to_string(),
                }],
            }],
        }),
    );
    cfg.connectors
        .insert("forward/fanout".to_string(), Connector::Forward(Empty {}));
    cfg.service.pipelines.insert(
        "logs/intake".to_string(),
        Pipeline {
            receivers: vec!["filelog".to_string()],
            processors: vec!["memory_limiter".to_string(), "k8sattributes".to_string()],
            exporters: vec!["forward/fanout".to_string()],
        },
    );
    for route in routes {
        let filter = format!("filter/{}", route.id);
        let exporter = format!("otlp_grpc/{}", route.id);
        cfg.processors.insert(
            filter.clone(),
            Processor::Filter(Filter {
                error_mode: "ignore".to_string(),
                logs: FilterLogs {
                    log_record: vec![escape_collector_value(&format!("not ({})", route.keep))],
                },
            }),
        );
        cfg.exporters.insert(
            exporter.clone(),
            Exporter::OtlpGrpc(OtlpGrpcExporter {
                endpoint: route.endpoint.clone(),
                tls: ClientTls {
                    insecure: true,
                    insecure_skip_verify: false,
                },
                compression: "zstd".to_string(),
                // Agents block instead of dropping: the filelog receiver then stops reading and
                // the lines wait in their files on the node.
                sending_queue: SendingQueue {
                    enabled: true,
                    sizer: "requests".to_string(),
                    queue_size: 100,
                    num_consumers: 4,
                    block_on_overflow: true,
                    batch: Some(QueueBatch {
                        sizer: "items".to_string(),
                        min_size: 2_000,
                        max_size: 10_000,
                        flush_timeout: "1s".to_string(),
                    }),
                },
                retry_on_failure: retry_forever(),
            }),
        );
        cfg.service.pipelines.insert(
            format!("logs/{}", route.id),
            Pipeline {
                receivers: vec!["forward/fanout".to_string()],
                processors: vec![filter],
                exporters: vec![exporter],
            },
        );
    }
    cfg
}

/// The OTTL condition selecting a pipeline's sources: (namespaces) and (pods) and (containers)
/// and not (excludes). `own_namespace` is used when the sources name none.
pub fn sources_condition(own_namespace: &str, sources: &Sources) -> String {
    let mut all = Vec::new();
    let ns_attr = "k8s.namespace.name";
    if sources.namespaces.is_empty() && sources.namespace_selector.is_none() {
        all.push(ottl_attr_eq(ns_attr, own_namespace));
    } else {
        let mut any: Vec<String> = sources
            .namespaces
            .iter()
            .map(|n| ottl_attr_eq(ns_attr, n))
            .collect();
        if let Some(sel) = &sources.namespace_selector {
            any.push(selector_condition(NAMESPACE_LABEL_PREFIX, sel));
        }
        all.push(ottl_any(any));
    }
    if let Some(sel) = &sources.pod_selector {
        all.push(selector_condition(POD_LABEL_PREFIX, sel));
    }
    all.push(ottl_any(
        sources
            .containers
            .iter()
            .map(|c| ottl_attr_eq("k8s.container.name", c))
            .collect(),
    ));
    if let Some(ex) = &sources.exclude {
        let mut none: Vec<String> = ex
            .namespaces
            .iter()
            .map(|n| ottl_attr_eq(ns_attr, n))
            .collect();
        none.extend(
            ex.containers
                .iter()
                .map(|c| ottl_attr_eq("k8s.container.name", c)),
        );
        if !none.is_empty() {
            all.push(format!("not ({})", ottl_any(none)));
        }
    }
    ottl_all(all)
}

/// A label selector as OTTL over the attributes `k8s.*.labels.<key>`.
pub fn selector_condition(prefix: &str, sel: &LabelSelector) -> String {
    let attr = |k: &str| {
        format!(
            "resource.attributes[{}]",
            crate::ident::quote_ottl_string(&format!("{prefix}{k}"))
        )
    };
    let mut all: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| ottl_attr_eq(&format!("{prefix}{k}"), v))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let a = attr(&e.key);
        let values = e.values.clone().unwrap_or_default();
        let eq = |v: &String| format!("{a} == {}", crate::ident::quote_ottl_string(v));
        all.push(match e.operator.as_str() {
            "In" => ottl_any(values.iter().map(eq).collect()),
            "NotIn" => format!("not ({})", ottl_any(values.iter().map(eq).collect())),
            "Exists" => format!("{a} != nil"),
            // DoesNotExist (validated: no other operator reaches here).
            _ => format!("{a} == nil"),
        });
    }
    ottl_all(all)
}

/// The label keys a set of selectors reads.
pub fn selector_keys(sel: &LabelSelector, into: &mut BTreeSet<String>) {
    into.extend(sel.match_labels.iter().flatten().map(|(k, _)| k.clone()));
    into.extend(
        sel.match_expressions
            .iter()
            .flatten()
            .map(|e| e.key.clone()),
    );
}
