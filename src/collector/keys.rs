//! The config keys each component accepts in collector-contrib v0.150.0, read from that
//! version's `config.go` files (mapstructure tags) and the core v0.150.0 tag: the checklist the
//! generated configs are tested against. The pinned image, the 0.150.1 distribution
//! (`super::DEFAULT_IMAGE`), builds every one of these components at v0.150.0: the patch release
//! only renumbered the distribution, no key changed. A key path is dotted; `*` stands for a map key
//! or a list item. Only the keys otelhouse may emit are listed, each verified at the source.

use serde_json::Value;

/// (component type, accepted key paths below the component).
pub const KEYS: &[(&str, &[&str])] = &[
    // extension/healthcheckextension (confighttp.ServerConfig squashed)
    ("health_check", &["endpoint"]),
    // extension/storage/filestorage/config.go
    (
        "file_storage",
        &[
            "directory",
            "create_directory",
            "timeout",
            "compaction",
            "compaction.on_start",
            "compaction.directory",
        ],
    ),
    // receiver/filelogreceiver + pkg/stanza/fileconsumer/config.go + adapter retry
    (
        "filelog",
        &[
            "include",
            "include.*",
            "exclude",
            "exclude.*",
            "start_at",
            "include_file_path",
            "include_file_name",
            // pkg/stanza/fileconsumer/config.go
            "preserve_trailing_whitespaces",
            "storage",
            "max_log_size",
            "retry_on_failure",
            "retry_on_failure.enabled",
            "retry_on_failure.initial_interval",
            "retry_on_failure.max_interval",
            "retry_on_failure.max_elapsed_time",
            "operators",
            "operators.*",
            // pkg/stanza/operator/parser/container/config.go
            "operators.*.type",
            "operators.*.id",
            "operators.*.format",
            "operators.*.add_metadata_from_filepath",
            // pkg/stanza/operator/transformer/remove/config.go
            "operators.*.field",
        ],
    ),
    // receiver/otlpreceiver/config.go + config/configgrpc (core v0.150.0)
    (
        "otlp",
        &[
            "protocols",
            "protocols.grpc",
            "protocols.grpc.endpoint",
            "protocols.grpc.max_recv_msg_size_mib",
            "protocols.grpc.keepalive",
            "protocols.grpc.keepalive.server_parameters",
            "protocols.grpc.keepalive.server_parameters.max_connection_age",
            "protocols.grpc.keepalive.server_parameters.max_connection_age_grace",
        ],
    ),
    ("nop", &[]),
    ("forward", &[]),
    // internal/memorylimiter/config.go (core v0.150.0)
    (
        "memory_limiter",
        &["check_interval", "limit_mib", "spike_limit_mib"],
    ),
    // processor/batchprocessor/config.go (core v0.150.0)
    ("batch", &["timeout"]),
    // processor/k8sattributesprocessor/config.go (type `k8s_attributes` in v0.150)
    (
        "k8s_attributes",
        &[
            "auth_type",
            "passthrough",
            "wait_for_metadata",
            "wait_for_metadata_timeout",
            "filter",
            "filter.node_from_env_var",
            "extract",
            "extract.metadata",
            "extract.metadata.*",
            "extract.labels",
            "extract.labels.*",
            "extract.labels.*.tag_name",
            "extract.labels.*.key",
            "extract.labels.*.from",
            "pod_association",
            "pod_association.*",
            "pod_association.*.sources",
            "pod_association.*.sources.*",
            "pod_association.*.sources.*.from",
            "pod_association.*.sources.*.name",
        ],
    ),
    // processor/filterprocessor/config.go
    (
        "filter",
        &["error_mode", "logs", "logs.log_record", "logs.log_record.*"],
    ),
    // processor/transformprocessor/config.go
    (
        "transform",
        &[
            "error_mode",
            "log_statements",
            "log_statements.*",
            "log_statements.*.context",
            "log_statements.*.statements",
            "log_statements.*.statements.*",
        ],
    ),
    // connector/routingconnector/config.go
    (
        "routing",
        &[
            "error_mode",
            "default_pipelines",
            "default_pipelines.*",
            "table",
            "table.*",
            "table.*.context",
            "table.*.condition",
            "table.*.pipelines",
            "table.*.pipelines.*",
        ],
    ),
    // exporter/otlpexporter/config.go (core v0.150.0) + exporterhelper queue/retry
    (
        "otlp_grpc",
        &[
            "endpoint",
            "tls",
            "tls.insecure",
            "tls.insecure_skip_verify",
            "compression",
            "sending_queue",
            "sending_queue.enabled",
            "sending_queue.sizer",
            "sending_queue.queue_size",
            "sending_queue.num_consumers",
            "sending_queue.block_on_overflow",
            // exporter/exporterhelper/internal/queuebatch/config.go (core v0.150.0): the
            // persistent queue's storage extension.
            "sending_queue.storage",
            "sending_queue.batch",
            "sending_queue.batch.sizer",
            "sending_queue.batch.min_size",
            "sending_queue.batch.max_size",
            "sending_queue.batch.flush_timeout",
            "retry_on_failure",
            "retry_on_failure.enabled",
            "retry_on_failure.initial_interval",
            "retry_on_failure.max_interval",
            "retry_on_failure.max_elapsed_time",
        ],
    ),
    // exporter/clickhouseexporter/config.go
    (
        "clickhouse",
        &[
            "endpoint",
            "username",
            "password",
            "database",
            "logs_table_name",
            "create_schema",
            "async_insert",
            "compress",
            "connection_params",
            "connection_params.*",
            "tls",
            "tls.insecure",
            "tls.insecure_skip_verify",
            "timeout",
            "sending_queue",
            "sending_queue.enabled",
            "sending_queue.sizer",
            "sending_queue.queue_size",
            "sending_queue.num_consumers",
            "sending_queue.block_on_overflow",
            // exporter/exporterhelper/internal/queuebatch/config.go (core v0.150.0): the
            // persistent queue's storage extension.
            "sending_queue.storage",
            "sending_queue.batch",
            "sending_queue.batch.sizer",
            "sending_queue.batch.min_size",
            "sending_queue.batch.max_size",
            "sending_queue.batch.flush_timeout",
            "retry_on_failure",
            "retry_on_failure.enabled",
            "retry_on_failure.initial_interval",
            "retry_on_failure.max_interval",
            "retry_on_failure.max_elapsed_time",
        ],
    ),
];

/// Top-level service keys (service/config.go, otelconftelemetry v0.150.0: `metrics.address` is
/// gone, readers replace it).
pub const SERVICE_KEYS: &[&str] = &[
    "extensions",
    "extensions.*",
    "pipelines",
    "pipelines.*",
    "pipelines.*.receivers",
    "pipelines.*.receivers.*",
    "pipelines.*.processors",
    "pipelines.*.processors.*",
    "pipelines.*.exporters",
    "pipelines.*.exporters.*",
    "telemetry",
    "telemetry.logs",
    "telemetry.logs.level",
    "telemetry.logs.encoding",
    "telemetry.metrics",
    "telemetry.metrics.level",
    "telemetry.metrics.readers",
    "telemetry.metrics.readers.*",
    "telemetry.metrics.readers.*.pull",
    "telemetry.metrics.readers.*.pull.exporter",
    "telemetry.metrics.readers.*.pull.exporter.prometheus",
    "telemetry.metrics.readers.*.pull.exporter.prometheus.host",
    "telemetry.metrics.readers.*.pull.exporter.prometheus.port",
];

/// Every key path in `config` that the pinned version would not accept, plus components of an
/// unknown type and pipelines naming components that are not defined.
pub fn unknown_keys(config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = config.as_object() else {
        return vec!["<config is not a map>".to_string()];
    };
    for (section, comps) in top {
        if section == "service" {
            let mut paths = Vec::new();
            walk(comps, "", &mut paths);
            out.extend(
                paths
                    .into_iter()
                    .filter(|p| !SERVICE_KEYS.contains(&p.as_str()))
                    .map(|p| format!("service.{p}")),
            );
            continue;
        }
        if !matches!(
            section.as_str(),
            "extensions" | "receivers" | "processors" | "connectors" | "exporters"
        ) {
            out.push(section.clone());
            continue;
        }
        for (id, body) in comps.as_object().into_iter().flatten() {
            let ty = id.split('/').next().unwrap_or_default();
            let Some((_, keys)) = KEYS.iter().find(|(t, _)| *t == ty) else {
                out.push(format!("{section}.{id}: unknown component type {ty}"));
                continue;
            };
            let mut paths = Vec::new();
            walk(body, "", &mut paths);
            out.extend(
                paths
                    .into_iter()
                    .filter(|p| !keys.contains(&p.as_str()))
                    .map(|p| format!("{section}.{id}.{p}")),
            );
        }
    }
    // Every component a pipeline names must be defined.
    let pipelines = config
        .pointer("/service/pipelines")
        .and_then(Value::as_object);
    for (name, p) in pipelines.into_iter().flatten() {
        for (role, sections) in [
            ("receivers", &["receivers", "connectors"][..]),
            ("processors", &["processors"][..]),
            ("exporters", &["exporters", "connectors"][..]),
        ] {
            for id in p.get(role).and_then(Value::as_array).into_iter().flatten() {
                let id = id.as_str().unwrap_or_default();
                if !sections
                    .iter()
                    .any(|s| config.get(*s).and_then(|m| m.get(id)).is_some())
                {
                    out.push(format!(
                        "service.pipelines.{name}.{role}: {id} is not defined"
                    ));
                }
            }
        }
    }
    out
}

fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                // Maps keyed by user data (pipelines, connection params) use `*`.
                let key = if prefix.ends_with("pipelines") || prefix.ends_with("connection_params")
                {
                    "*"
                } else {
                    k.as_str()
                };
                let path = join(key);
                out.push(path.clone());
                walk(child, &path, out);
            }
        }
        Value::Array(items) => {
            let path = join("*");
            if !items.is_empty() {
                out.push(path.clone());
            }
            for item in items {
                walk(item, &path, out);
            }
        }
        _ => {}
    }
    out.sort();
    out.dedup();
}

/// Merge collector configs as the collector merges several `--config` files: maps merge key by
/// key, anything else (lists, scalars) is replaced by the later file.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}
