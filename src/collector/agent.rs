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
/// The receiver's component ID. v0.150 names the type `file_log` and keeps `filelog` as an
/// alias; the ID is kept because it keys the checkpoints: file_storage names each client's
/// database `<kind>_<type>_<name>` (extension/storage/filestorage/extension.go), so a new type
/// name would be a new, empty database and every node would read all its retained logs again.
/// Later contrib code strips `_` from the type for storage (the workaround for collector issue
/// 14988); switch once the pinned release is checked to have it.
pub const FILELOG: &str = "filelog";
/// The enrichment processor, under v0.150's name (`k8sattributes` is its alias); it keeps no
/// state, so the rename costs one agent rollout.
pub const K8S_ATTRIBUTES: &str = "k8s_attributes";
/// Prefix under which pod labels become resource attributes.
pub const POD_LABEL_PREFIX: &str = "k8s.pod.labels.";
/// Prefix under which namespace labels become resource attributes.
pub const NAMESPACE_LABEL_PREFIX: &str = "k8s.namespace.labels.";

/// A pool of gateways as the agents see it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentPool {
    /// Component-safe id (the pool's name).
    pub id: String,
    /// Its Service, `host:port`.
    pub endpoint: String,
    /// The namespaces whose logs go there; None for a pool whose one pipeline selects
    /// namespaces by label: then `condition` says what it takes.
    pub namespaces: Option<Vec<String>>,
    /// OTTL condition (log context, resource paths) of a label-selected pool.
    pub condition: Option<String>,
}

/// The largest batch an agent sends, in uncompressed OTLP bytes (what exporterhelper's byte
/// sizer and the gateway's receiver both measure): half of what the gateway accepts, so the
/// splitter's estimate never crosses it. A single record is at most `MAX_LOG_SIZE`.
pub const MAX_BATCH_BYTES: u64 = super::gateway::MAX_RECV_MSG_MIB * 1024 * 1024 / 2;
/// The longest line the agents read (longer ones are split).
pub const MAX_LOG_SIZE: &str = "1MiB";
/// Bytes each pool's persistent queue may hold on the node before reading waits.
pub const QUEUE_BYTES: u64 = 128 * 1024 * 1024;

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

/// The agent config every class shares. It names `memory_limiter`, which each class's
/// [`ClassOverlay`] defines.
///
/// One filelog receiver reads the files of the namespaces some pipeline selects (a file glob
/// per namespace: the kubelet's path encodes it), or every file when a pipeline selects
/// namespaces by label; one router sends each resource to its pool by namespace (a regex per
/// pool: constant work per line whatever the number of pipelines); one exporter per pool. No
/// per-pipeline component: tenancy is exact at the gateways.
/// The most namespaces the agents read by file glob; more, and they read every pod's files.
pub const MAX_NAMESPACE_GLOBS: usize = 32;

pub fn pipelines_config(agent_namespace: &str, pools: &[AgentPool], labels: &LabelKeys) -> Config {
    let mut cfg = Config::default();
    let (hc, hc_cfg) = health_check();
    cfg.extensions.insert(hc.clone(), hc_cfg);
    cfg.service.extensions.push(hc);
    if pools.is_empty() {
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
    // Offsets and the exporters' persistent queues, on the node: a restart resends what was
    // queued and reads on from where it was.
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
    // One destination's trouble stays its own. The service hands each batch to every route in
    // turn, and an exporter whose queue is full either blocks (stalling every pool's lines) or
    // refuses ("sending queue is full"), which the receiver's retry answers by sending the whole
    // batch again to every pool (duplicates in the healthy ones; measured with the real
    // collector in tests/collector.rs). So with one pool its queue blocks (nobody else to stall;
    // lines wait in their files); with several, each pool's exporter sits behind
    // [`isolation`] and its queue drops when full, counted as its
    // `otelcol_exporter_enqueue_failed_log_records`, and the refusal never reaches the receiver.
    // The receiver retries either way: what it is refused is then the memory_limiter's, before
    // any route, so a retry duplicates nothing.
    let isolate = pools.len() > 1;
    let namespaces: BTreeSet<&str> = pools
        .iter()
        .flat_map(|p| p.namespaces.iter().flatten())
        .map(String::as_str)
        .collect();
    // Each include is its own directory walk every poll (fileconsumer's finder runs
    // doublestar.FilepathGlob per pattern; `{a,b}` alternatives expand to one glob each), so
    // past a few dozen namespaces reading everything and letting the router drop the rest
    // (counted as unrouted) costs the node less than the globs.
    let everything =
        pools.iter().any(|p| p.namespaces.is_none()) || namespaces.len() > MAX_NAMESPACE_GLOBS;
    let include = if everything {
        vec!["/var/log/pods/*/*/*.log".to_string()]
    } else {
        namespaces
            .into_iter()
            .map(|n| format!("/var/log/pods/{n}_*/*/*.log"))
            .collect()
    };
    cfg.receivers.insert(
        FILELOG.to_string(),
        Receiver::Filelog(Filelog {
            include,
            // The agents' own logs would loop back through themselves.
            exclude: vec![format!(
                "/var/log/pods/{agent_namespace}_otelhouse-agent-*/*/*.log"
            )],
            // With checkpoints, `beginning` only applies to files never seen: lines written
            // before the agent started on a node are read, not lost.
            start_at: "beginning".to_string(),
            include_file_path: true,
            include_file_name: false,
            // The kubelet splits long lines at 16 KiB wherever it falls: trimming each piece
            // (the default) would drop a space at the cut when the parser joins them.
            preserve_trailing_whitespaces: true,
            storage: "file_storage".to_string(),
            max_log_size: MAX_LOG_SIZE.to_string(),
            retry_on_failure: FilelogRetry {
                enabled: true,
                initial_interval: "1s".to_string(),
                max_interval: "30s".to_string(),
                max_elapsed_time: "0s".to_string(),
            },
            // Detects CRI (containerd, CRI-O) and docker JSON lines, takes the timestamp from
            // the line and the namespace/pod/container from the file path.
            operators: vec![
                Operator::Container {
                    id: "container-parser".to_string(),
                    format: None,
                    add_metadata_from_filepath: true,
                },
                // The parser needed the path; past it, it is ~100 bytes on every record on
                // the wire and ~200 in a gateway's queue (benches/queue_bench.py) for nothing:
                // namespace, pod and container are resource attributes by now.
                Operator::Remove {
                    id: "drop-file-path".to_string(),
                    field: "attributes[\"log.file.path\"]".to_string(),
                },
                // F or P: how the kubelet cut the line, which the parser has already undone.
                Operator::Remove {
                    id: "drop-logtag".to_string(),
                    field: "attributes[\"logtag\"]".to_string(),
                },
            ],
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
    // Pipelines that select by label must not see a pod's first lines before its labels are
    // known: the agent waits for the metadata at start.
    let wait = !extract_labels.is_empty();
    cfg.processors.insert(
        K8S_ATTRIBUTES.to_string(),
        Processor::K8sAttributes(K8sAttributes {
            auth_type: "serviceAccount".to_string(),
            passthrough: false,
            wait_for_metadata: wait,
            wait_for_metadata_timeout: wait.then(|| "30s".to_string()),
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
    let to = |p: &AgentPool| format!("logs/to.{}", p.id);
    let by_namespace: Vec<&AgentPool> = pools.iter().filter(|p| p.namespaces.is_some()).collect();
    let by_label: Vec<&AgentPool> = pools.iter().filter(|p| p.namespaces.is_none()).collect();
    let mut intake_exporters = Vec::new();
    let mut routers: BTreeMap<String, String> = BTreeMap::new();
    if by_namespace.len() == 1 && by_label.is_empty() && !everything {
        // One pool whose namespaces the globs already picked: no routing at all.
        intake_exporters.push(exporter_name(by_namespace[0]));
    } else {
        // Routes move what they match (first match wins), so every label-selected pool has a
        // router of its own (one route, no default): a line that several pools want reaches each
        // as a copy. `routing/pools` routes by namespace and counts: what it sends to
        // `logs/unrouted` (the nop exporter's sent records) is exactly the lines no pool takes,
        // since it also claims, into an uncounted sink, what a label-selected pool takes.
        let label_route = |p: &AgentPool, pipeline: String| RoutingRoute {
            context: "log".to_string(),
            condition: escape_collector_value(p.condition.as_deref().unwrap_or("false")),
            pipelines: vec![pipeline],
        };
        let claimed = "logs/claimed".to_string();
        let mut table: Vec<RoutingRoute> = by_namespace
            .iter()
            .map(|p| RoutingRoute {
                context: "resource".to_string(),
                condition: escape_collector_value(&namespace_match(
                    p.namespaces.as_deref().unwrap_or_default(),
                )),
                pipelines: vec![to(p)],
            })
            .collect();
        table.extend(by_label.iter().map(|p| label_route(p, claimed.clone())));
        cfg.connectors.insert(
            "routing/pools".to_string(),
            Connector::Routing(Routing {
                error_mode: "ignore".to_string(),
                default_pipelines: vec!["logs/unrouted".to_string()],
                table,
            }),
        );
        intake_exporters.push("routing/pools".to_string());
        for p in &by_namespace {
            routers.insert(to(p), "routing/pools".to_string());
        }
        for p in &by_label {
            let router = format!("routing/select.{}", p.id);
            cfg.connectors.insert(
                router.clone(),
                Connector::Routing(Routing {
                    error_mode: "ignore".to_string(),
                    default_pipelines: vec![],
                    table: vec![label_route(p, to(p))],
                }),
            );
            intake_exporters.push(router.clone());
            routers.insert(to(p), router);
        }
        cfg.exporters
            .insert("nop/unrouted".to_string(), Exporter::Nop(Empty {}));
        cfg.service.pipelines.insert(
            "logs/unrouted".to_string(),
            Pipeline {
                receivers: vec!["routing/pools".to_string()],
                processors: vec![],
                exporters: vec!["nop/unrouted".to_string()],
            },
        );
        if !by_label.is_empty() {
            cfg.exporters
                .insert("nop/claimed".to_string(), Exporter::Nop(Empty {}));
            cfg.service.pipelines.insert(
                claimed,
                Pipeline {
                    receivers: vec!["routing/pools".to_string()],
                    processors: vec![],
                    exporters: vec!["nop/claimed".to_string()],
                },
            );
        }
    }
    cfg.service.pipelines.insert(
        "logs/intake".to_string(),
        Pipeline {
            receivers: vec![FILELOG.to_string()],
            processors: vec!["memory_limiter".to_string(), K8S_ATTRIBUTES.to_string()],
            exporters: intake_exporters,
        },
    );
    if isolate {
        let (name, processor) = isolation();
        cfg.processors.insert(name, processor);
    }
    for p in pools {
        let exporter = exporter_name(p);
        cfg.exporters.insert(
            exporter.clone(),
            Exporter::OtlpGrpc(OtlpGrpcExporter {
                endpoint: p.endpoint.clone(),
                tls: ClientTls {
                    insecure: true,
                    insecure_skip_verify: false,
                },
                compression: "zstd".to_string(),
                // On the node's disk: a restart resends what was queued. Full, it blocks
                // (one pool) or drops and counts (several; see `isolate`).
                sending_queue: SendingQueue {
                    enabled: true,
                    sizer: "bytes".to_string(),
                    queue_size: QUEUE_BYTES,
                    num_consumers: 4,
                    block_on_overflow: !isolate,
                    storage: Some("file_storage".to_string()),
                    batch: Some(QueueBatch {
                        sizer: "bytes".to_string(),
                        min_size: MAX_BATCH_BYTES / 8,
                        max_size: MAX_BATCH_BYTES,
                        flush_timeout: "1s".to_string(),
                    }),
                },
                retry_on_failure: retry_forever(),
            }),
        );
        if let Some(router) = routers.get(&to(p)) {
            cfg.service.pipelines.insert(
                to(p),
                Pipeline {
                    receivers: vec![router.clone()],
                    processors: isolated(isolate),
                    exporters: vec![exporter],
                },
            );
        }
    }
    cfg
}

fn exporter_name(p: &AgentPool) -> String {
    format!("otlp_grpc/{}", p.id)
}

/// One regex for a pool's namespaces: RE2 matches it in time linear in the name, however many
/// namespaces the pool has. Namespace names are DNS labels: nothing in them needs escaping.
pub fn namespace_match(namespaces: &[String]) -> String {
    let alternatives = namespaces.join("|");
    format!(
        "IsMatch(attributes[\"k8s.namespace.name\"], {})",
        crate::ident::quote_ottl_string(&format!("^(?:{alternatives})$"))
    )
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

/// A pipeline's selection within its namespaces (pods, containers, excludes), for its branch
/// of a pool whose router has already picked the namespaces; None when it takes them whole.
pub fn selection_condition(sources: &Sources) -> Option<String> {
    let mut all = Vec::new();
    if let Some(sel) = &sources.pod_selector {
        all.push(selector_condition(POD_LABEL_PREFIX, sel));
    }
    if !sources.containers.is_empty() {
        all.push(ottl_any(
            sources
                .containers
                .iter()
                .map(|c| ottl_attr_eq("k8s.container.name", c))
                .collect(),
        ));
    }
    if let Some(ex) = &sources.exclude {
        let mut none: Vec<String> = ex
            .namespaces
            .iter()
            .map(|n| ottl_attr_eq("k8s.namespace.name", n))
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
    (!all.is_empty()).then(|| ottl_all(all))
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
