//! The gateway (Deployment) collector config: receive OTLP from agents, parse, route each log to
//! its table's ClickHouse exporter, batch and insert into this region's store.

use super::*;
use crate::crd::{Parse, Route};
use crate::ident::{escape_collector_value, quote_ottl_string};

/// Env vars the gateway pods get from the store's Secret (never written into a ConfigMap).
pub const USERNAME_ENV: &str = "CLICKHOUSE_USERNAME";
pub const PASSWORD_ENV: &str = "CLICKHOUSE_PASSWORD";

/// How long an agent's connection may live before the gateway closes it, so agents reconnect
/// and spread over the replicas (including new ones after a scale-up).
pub const MAX_CONNECTION_AGE: &str = "60s";

/// One table as the gateway sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayTable {
    /// The target table name (the exporter inserts into `<name>_ingest`).
    pub name: String,
    pub ingest_table: String,
}

/// The region's store, as the exporter needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterTarget {
    /// `scheme://host:port` (validated).
    pub endpoint: String,
    pub database: String,
    pub insecure_skip_verify: bool,
    /// The store's region, stamped on logs as `cloud.region` when they lack it.
    pub region: String,
}

/// Everything one region's gateway config is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayInput<'a> {
    pub memory_limit_bytes: u64,
    pub parse: &'a Parse,
    pub tables: Vec<GatewayTable>,
    pub routes: &'a [Route],
    pub default_table: Option<&'a str>,
    pub target: ExporterTarget,
    pub batch_rows: u32,
    pub batch_timeout: String,
    /// Events one exporter's queue holds (the buffer duration's share of this replica).
    pub queue_events: u64,
}

/// Build the gateway config.
pub fn config(input: &GatewayInput<'_>) -> Config {
    let mut cfg = Config::default();
    let (hc, hc_cfg) = health_check();
    cfg.extensions.insert(hc.clone(), hc_cfg);
    cfg.service.extensions.push(hc);
    cfg.receivers.insert(
        "otlp".to_string(),
        Receiver::Otlp(Otlp {
            protocols: OtlpProtocols {
                grpc: OtlpGrpcServer {
                    endpoint: format!("0.0.0.0:{OTLP_GRPC_PORT}"),
                    max_recv_msg_size_mib: 32,
                    keepalive: GrpcKeepalive {
                        server_parameters: GrpcServerParameters {
                            max_connection_age: MAX_CONNECTION_AGE.to_string(),
                            max_connection_age_grace: "10s".to_string(),
                        },
                    },
                },
            },
        }),
    );
    cfg.processors.insert(
        "memory_limiter".to_string(),
        Processor::MemoryLimiter(MemoryLimiter::for_memory_limit(input.memory_limit_bytes)),
    );
    cfg.processors.insert(
        "transform/parse".to_string(),
        Processor::Transform(Transform {
            error_mode: "ignore".to_string(),
            log_statements: vec![ContextStatements {
                context: "log".to_string(),
                statements: parse_statements(input.parse, &input.target.region),
            }],
        }),
    );
    let table_pipeline = |t: &str| format!("logs/{t}");
    // One table and no routes: everything goes there, no routing connector needed.
    let direct = input.tables.len() == 1 && input.routes.is_empty();
    let ingest_exporters = if direct {
        vec![format!("clickhouse/{}", input.tables[0].name)]
    } else {
        cfg.connectors.insert(
            "routing".to_string(),
            Connector::Routing(Routing {
                error_mode: "ignore".to_string(),
                default_pipelines: input
                    .default_table
                    .map(|t| vec![table_pipeline(t)])
                    .unwrap_or_default(),
                table: input
                    .routes
                    .iter()
                    .map(|r| RoutingRoute {
                        context: "resource".to_string(),
                        condition: escape_collector_value(&route_condition(r)),
                        pipelines: vec![table_pipeline(&r.table)],
                    })
                    .collect(),
            }),
        );
        vec!["routing".to_string()]
    };
    cfg.service.pipelines.insert(
        "logs/ingest".to_string(),
        Pipeline {
            receivers: vec!["otlp".to_string()],
            processors: vec!["memory_limiter".to_string(), "transform/parse".to_string()],
            exporters: ingest_exporters,
        },
    );
    for table in &input.tables {
        let exporter = format!("clickhouse/{}", table.name);
        cfg.exporters.insert(
            exporter.clone(),
            Exporter::ClickHouse(clickhouse_exporter(input, table)),
        );
        if !direct {
            cfg.service.pipelines.insert(
                table_pipeline(&table.name),
                Pipeline {
                    receivers: vec!["routing".to_string()],
                    processors: vec![],
                    exporters: vec![exporter],
                },
            );
        }
    }
    cfg
}

fn clickhouse_exporter(input: &GatewayInput<'_>, table: &GatewayTable) -> ClickHouseExporter {
    let rows = u64::from(input.batch_rows);
    ClickHouseExporter {
        endpoint: input.target.endpoint.clone(),
        username: format!("${{env:{USERNAME_ENV}}}"),
        password: format!("${{env:{PASSWORD_ENV}}}"),
        database: input.target.database.clone(),
        logs_table_name: table.ingest_table.clone(),
        // The operator owns the schema (Null ingest table, view, target).
        create_schema: false,
        // Async inserts absorb the small batches of quiet periods; waiting for them makes a
        // success mean "stored", and deduplication makes a retried batch land once.
        async_insert: true,
        compress: "lz4".to_string(),
        connection_params: [
            ("wait_for_async_insert", "1"),
            ("async_insert_deduplicate", "1"),
            ("insert_deduplicate", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        tls: input.target.insecure_skip_verify.then_some(ClientTls {
            insecure: false,
            insecure_skip_verify: true,
        }),
        timeout: "30s".to_string(),
        sending_queue: SendingQueue {
            enabled: true,
            sizer: "items".to_string(),
            queue_size: input.queue_events.max(rows * 2),
            num_consumers: 4,
            block_on_overflow: false,
            batch: Some(QueueBatch {
                sizer: "items".to_string(),
                min_size: rows,
                max_size: rows,
                flush_timeout: input.batch_timeout.clone(),
            }),
        },
        retry_on_failure: retry_forever(),
    }
}

/// The route's OTTL condition in the resource context.
fn route_condition(r: &Route) -> String {
    let attr_eq = |k: &str, v: &str| {
        format!(
            "attributes[{}] == {}",
            quote_ottl_string(k),
            quote_ottl_string(v)
        )
    };
    let mut all = vec![
        ottl_any(
            r.namespaces
                .iter()
                .map(|n| attr_eq("k8s.namespace.name", n))
                .collect(),
        ),
        ottl_any(
            r.containers
                .iter()
                .map(|c| attr_eq("k8s.container.name", c))
                .collect(),
        ),
    ];
    all.extend(
        r.pod_labels
            .iter()
            .map(|(k, v)| attr_eq(&format!("{}{k}", super::agent::POD_LABEL_PREFIX), v)),
    );
    ottl_all(all)
}

/// OTTL statements (log context) for the pipeline's parsing, each value quoted and escaped.
fn parse_statements(parse: &Parse, region: &str) -> Vec<String> {
    let mut out = Vec::new();
    if parse.json {
        out.push(
            r#"merge_maps(attributes, ParseJSON(body), "upsert") where IsString(body) and IsMatch(body, "^\\s*\\{")"#
                .to_string(),
        );
    }
    if let Some(re) = &parse.regex {
        let re = quote_ottl_string(re);
        out.push(format!(
            r#"merge_maps(attributes, ExtractPatterns(body, {re}), "upsert") where IsString(body) and IsMatch(body, {re})"#
        ));
    }
    if let Some(ts) = &parse.timestamp {
        let key = quote_ottl_string(&ts.attribute);
        let layout = quote_ottl_string(&ts.layout);
        out.push(format!(
            "set(time, Time(attributes[{key}], {layout})) where attributes[{key}] != nil"
        ));
    }
    // ServiceName: the exporter reads `service.name`; Kubernetes logs rarely carry it.
    out.push(
        r#"set(resource.attributes["service.name"], resource.attributes["k8s.container.name"]) where resource.attributes["service.name"] == nil"#
            .to_string(),
    );
    out.push(format!(
        r#"set(resource.attributes["cloud.region"], {}) where resource.attributes["cloud.region"] == nil"#,
        quote_ottl_string(region)
    ));
    out.into_iter()
        .map(|s| escape_collector_value(&s))
        .collect()
}
