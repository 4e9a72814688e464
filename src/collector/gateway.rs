//! The gateway collector config of one pool in one region: receive OTLP from agents, route each
//! resource's logs by its namespace to the pipelines that collect it, and in each pipeline's
//! branch select, parse, route to its tables' ClickHouse exporters, batch and insert.
//!
//! The namespace router is the one place every record passes: one route per namespace of the
//! pool (a resource's namespace is stamped by the agent from the kubelet's log path), each route
//! naming every pipeline of that namespace, so two pipelines of one namespace each get their
//! copy and nothing else is copied. A pool of one pipeline that selects namespaces by label has
//! no router: the agents send it only what its selection matches.

use super::*;
use crate::crd::{Parse, Route};
use crate::ident::{escape_collector_value, quote_ottl_string};

/// How long an agent's connection may live before the gateway closes it, so agents reconnect
/// and spread over the replicas (including new ones after a scale-up).
pub const MAX_CONNECTION_AGE: &str = "60s";

/// The largest message a gateway accepts from an agent; agents cut their batches in bytes
/// below it (`super::agent::MAX_BATCH_BYTES`), so a batch is never refused for its size.
pub const MAX_RECV_MSG_MIB: u64 = 16;

/// The extension holding a pool's persistent queues when its buffer is on disk.
pub const QUEUE_STORAGE: &str = "file_storage/queue";
/// Where the queue volume is mounted.
pub const QUEUE_DIR: &str = "/var/lib/otelhouse/queue";

/// Env vars a gateway pod gets from one store's Secret (never written into a ConfigMap); one
/// pair per store the pool inserts into.
pub fn credential_env(store: &str) -> (String, String) {
    let h = crate::meta::short_hash(store).to_uppercase();
    (
        format!("CLICKHOUSE_USERNAME_{h}"),
        format!("CLICKHOUSE_PASSWORD_{h}"),
    )
}

/// One table as the gateway sees it: where it inserts.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayTable {
    pub name: String,
    /// The exporter inserts into the Null ingest table.
    pub ingest_table: String,
    pub target: ExporterTarget,
    /// Its TTL in days: how old a record's timestamp may be before it is clamped.
    pub retention_days: u32,
    /// Partitioned by a day or coarser of the clamped timestamp (the default `toDate(Timestamp)`,
    /// `EventDate`, `toYYYYMM(Timestamp)`, ...): the partitions one insert can span follow from
    /// the clamped window.
    pub daily_partitions: bool,
}

/// How far ahead of the gateway's clock a record's timestamp may be before it is clamped.
pub const MAX_FUTURE: &str = "24h";
/// The attribute a clamped record keeps its original timestamp in (nanoseconds since the epoch).
pub const ORIGINAL_TIME_ATTRIBUTE: &str = "otelhouse.original_time_unix_nano";
/// The shortest time an insert is retried before its batch is given up (and counted as
/// `otelcol_exporter_send_failed_log_records`); a pipeline's buffer lengthens it.
pub const MIN_RETRY_SECONDS: u64 = 300;
/// ClickHouse's default `max_partitions_per_insert_block`.
const SERVER_MAX_PARTITIONS_PER_INSERT: u32 = 100;

/// The settings every insert sends, so what they guarantee holds on any server, whatever its
/// defaults:
/// - `wait_for_async_insert`: a success means stored, so a lost flush is retried;
/// - `insert_deduplicate`, `async_insert_deduplicate`: a retried batch lands once;
/// - `deduplicate_blocks_in_dependent_materialized_views`: the batch goes through the Null
///   table's view, and it is the view's insert into the target that must be deduplicated (on
///   by default only in recent releases; 0 before 24.x);
/// - `max_partitions_per_insert_block` (given for daily partitions): one batch spans at most the
///   clamped window, retention plus two days, which may pass the server's default of 100; over
///   the limit the whole batch is refused every time.
pub fn insert_settings(max_partitions: Option<u32>) -> BTreeMap<String, String> {
    let mut s: BTreeMap<String, String> = [
        ("wait_for_async_insert", "1"),
        ("async_insert_deduplicate", "1"),
        ("insert_deduplicate", "1"),
        ("deduplicate_blocks_in_dependent_materialized_views", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(n) = max_partitions.filter(|n| *n > SERVER_MAX_PARTITIONS_PER_INSERT) {
        s.insert("max_partitions_per_insert_block".to_string(), n.to_string());
    }
    s
}

/// The partitions a batch of a table can span once its timestamps are clamped: every day of
/// its retention, today and tomorrow (`MAX_FUTURE`). None when the key is not daily.
pub fn max_partitions(t: &GatewayTable, clamp_days: u32) -> Option<u32> {
    t.daily_partitions.then(|| clamp_days.saturating_add(2))
}

/// A store, as the exporter needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExporterTarget {
    /// `scheme://host:port` (validated).
    pub endpoint: String,
    pub database: String,
    pub insecure_skip_verify: bool,
    /// The store's name: its credentials' env vars.
    pub store: String,
    /// The store's region, stamped on logs as `cloud.region` when they lack it.
    pub region: String,
}

/// One pipeline a pool serves.
#[derive(Clone, Debug, PartialEq)]
pub struct Member<'a> {
    /// Component-safe id (`<namespace>.<name>`).
    pub id: String,
    /// The namespaces of this pool it collects (the router's keys).
    pub namespaces: Vec<String>,
    /// Its selection within those namespaces (pods, containers, excludes), as an OTTL
    /// condition in the resource context; None when it takes every record of its namespaces.
    pub selection: Option<String>,
    pub parse: &'a Parse,
    pub tables: Vec<GatewayTable>,
    pub routes: &'a [Route],
    pub default_table: Option<&'a str>,
    pub batch_rows: u32,
    pub batch_timeout: String,
    /// Events its exporters' queues hold together (its share of the buffer, per replica).
    pub queue_events: u64,
    /// How long a failing insert is retried: its buffer (what the plan promises to hold
    /// through an outage), at least [`MIN_RETRY_SECONDS`]. Past it the batch is dropped and
    /// counted: a batch the server refuses every time must not hold a worker for ever.
    pub retry_seconds: u64,
}

impl Member<'_> {
    /// The window its timestamps are clamped to: its longest-lived table's retention (a
    /// record older than a shorter table's retention lands in a partition TTL removes).
    pub fn clamp_days(&self) -> u32 {
        self.tables
            .iter()
            .map(|t| t.retention_days)
            .max()
            .unwrap_or(1)
    }
}

/// Everything one pool's gateway config is made of in one region.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolInput<'a> {
    pub memory_limit_bytes: u64,
    pub members: Vec<Member<'a>>,
    /// Route by namespace (false: one pipeline, selecting namespaces by label).
    pub by_namespace: bool,
    /// The queues persist on the pool's volume.
    pub persistent: bool,
}

fn branch(id: &str) -> String {
    format!("logs/{id}")
}

fn table_branch(id: &str, table: &str) -> String {
    format!("logs/{id}.{table}")
}

/// Build the config.
pub fn config(input: &PoolInput<'_>) -> Config {
    let mut cfg = Config::default();
    let (hc, hc_cfg) = health_check();
    cfg.extensions.insert(hc.clone(), hc_cfg);
    cfg.service.extensions.push(hc);
    if input.persistent {
        cfg.extensions.insert(
            QUEUE_STORAGE.to_string(),
            Extension::FileStorage(FileStorage {
                directory: QUEUE_DIR.to_string(),
                create_directory: true,
                timeout: "10s".to_string(),
                compaction: FileStorageCompaction {
                    on_start: true,
                    directory: QUEUE_DIR.to_string(),
                },
            }),
        );
        cfg.service.extensions.push(QUEUE_STORAGE.to_string());
    }
    cfg.receivers.insert(
        "otlp".to_string(),
        Receiver::Otlp(Otlp {
            protocols: OtlpProtocols {
                grpc: OtlpGrpcServer {
                    endpoint: format!("0.0.0.0:{OTLP_GRPC_PORT}"),
                    max_recv_msg_size_mib: MAX_RECV_MSG_MIB as u32,
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
    let intake_exporters = if input.by_namespace {
        // Namespace -> the pipelines that collect it.
        let mut by_ns: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for m in &input.members {
            for n in &m.namespaces {
                by_ns.entry(n.as_str()).or_default().push(branch(&m.id));
            }
        }
        cfg.connectors.insert(
            "routing/namespaces".to_string(),
            Connector::Routing(Routing {
                error_mode: "ignore".to_string(),
                // What no pipeline here collects (agents send only what the pool hosts): a
                // counted drop, not a silent one.
                default_pipelines: vec!["logs/unmatched".to_string()],
                table: by_ns
                    .into_iter()
                    .map(|(ns, pipelines)| RoutingRoute {
                        context: "resource".to_string(),
                        condition: escape_collector_value(&format!(
                            "attributes[\"k8s.namespace.name\"] == {}",
                            quote_ottl_string(ns)
                        )),
                        pipelines,
                    })
                    .collect(),
            }),
        );
        cfg.exporters
            .insert("nop/unmatched".to_string(), Exporter::Nop(Empty {}));
        cfg.service.pipelines.insert(
            "logs/unmatched".to_string(),
            Pipeline {
                receivers: vec!["routing/namespaces".to_string()],
                processors: vec![],
                exporters: vec!["nop/unmatched".to_string()],
            },
        );
        vec!["routing/namespaces".to_string()]
    } else {
        vec!["forward/intake".to_string()]
    };
    if !input.by_namespace {
        cfg.connectors
            .insert("forward/intake".to_string(), Connector::Forward(Empty {}));
    }
    let intake = intake_exporters[0].clone();
    cfg.service.pipelines.insert(
        "logs/intake".to_string(),
        Pipeline {
            receivers: vec!["otlp".to_string()],
            processors: vec!["memory_limiter".to_string()],
            exporters: intake_exporters,
        },
    );
    // Several tables' exporters: each behind the isolation processor, so one table's full queue
    // is not refused back to the agents, whose retry would send every table the batch again.
    // One table alone: its refusal is the agents' backpressure (their queues hold on the node).
    let destinations: usize = input.members.iter().map(|m| m.tables.len()).sum();
    let isolate = destinations > 1;
    if isolate {
        let (name, processor) = isolation();
        cfg.processors.insert(name, processor);
    }
    for m in &input.members {
        member(&mut cfg, m, &intake, input.persistent, isolate);
    }
    cfg
}

/// One pipeline's branch: its selection, parsing, table routing and exporters.
fn member(cfg: &mut Config, m: &Member<'_>, intake: &str, persistent: bool, isolate: bool) {
    let mut processors = Vec::new();
    if let Some(sel) = &m.selection {
        let name = format!("filter/{}", m.id);
        cfg.processors.insert(
            name.clone(),
            Processor::Filter(Filter {
                error_mode: "ignore".to_string(),
                logs: FilterLogs {
                    log_record: vec![escape_collector_value(&format!("not ({sel})"))],
                },
            }),
        );
        processors.push(name);
    }
    let region = m
        .tables
        .first()
        .map(|t| t.target.region.clone())
        .unwrap_or_default();
    let transform = format!("transform/{}", m.id);
    cfg.processors.insert(
        transform.clone(),
        Processor::Transform(Transform {
            error_mode: "ignore".to_string(),
            log_statements: vec![ContextStatements {
                context: "log".to_string(),
                statements: parse_statements(m.parse, &region, m.clamp_days()),
            }],
        }),
    );
    processors.push(transform);
    let exporter_of = |t: &str| format!("clickhouse/{}.{t}", m.id);
    // One table and no routes: everything goes there, no routing connector needed.
    let direct = m.tables.len() == 1 && m.routes.is_empty();
    let exporters = if direct {
        processors.extend(isolated(isolate));
        vec![exporter_of(&m.tables[0].name)]
    } else {
        let routing = format!("routing/{}", m.id);
        cfg.connectors.insert(
            routing.clone(),
            Connector::Routing(Routing {
                error_mode: "ignore".to_string(),
                default_pipelines: m
                    .default_table
                    .map(|t| vec![table_branch(&m.id, t)])
                    .unwrap_or_else(|| vec![format!("logs/{}.unrouted", m.id)]),
                table: m
                    .routes
                    .iter()
                    .map(|r| RoutingRoute {
                        context: "resource".to_string(),
                        condition: escape_collector_value(&route_condition(r)),
                        pipelines: vec![table_branch(&m.id, &r.table)],
                    })
                    .collect(),
            }),
        );
        if m.default_table.is_none() {
            // Routes and no default table: what matches no route is dropped, and counted.
            let nop = format!("nop/{}.unrouted", m.id);
            cfg.exporters.insert(nop.clone(), Exporter::Nop(Empty {}));
            cfg.service.pipelines.insert(
                format!("logs/{}.unrouted", m.id),
                Pipeline {
                    receivers: vec![routing.clone()],
                    processors: vec![],
                    exporters: vec![nop],
                },
            );
        }
        vec![routing]
    };
    cfg.service.pipelines.insert(
        branch(&m.id),
        Pipeline {
            receivers: vec![intake.to_string()],
            processors,
            exporters: exporters.clone(),
        },
    );
    let per_table = (m.queue_events / m.tables.len().max(1) as u64).max(1);
    for table in &m.tables {
        let exporter = exporter_of(&table.name);
        cfg.exporters.insert(
            exporter.clone(),
            Exporter::ClickHouse(clickhouse_exporter(m, table, per_table, persistent)),
        );
        if !direct {
            cfg.service.pipelines.insert(
                table_branch(&m.id, &table.name),
                Pipeline {
                    receivers: vec![exporters[0].clone()],
                    processors: isolated(isolate),
                    exporters: vec![exporter],
                },
            );
        }
    }
}

fn clickhouse_exporter(
    m: &Member<'_>,
    table: &GatewayTable,
    queue_events: u64,
    persistent: bool,
) -> ClickHouseExporter {
    let rows = u64::from(m.batch_rows);
    let (user, password) = credential_env(&table.target.store);
    ClickHouseExporter {
        endpoint: table.target.endpoint.clone(),
        username: format!("${{env:{user}}}"),
        password: format!("${{env:{password}}}"),
        database: table.target.database.clone(),
        logs_table_name: table.ingest_table.clone(),
        // The operator owns the schema (Null ingest table, view, target).
        create_schema: false,
        // Async inserts absorb the small batches of quiet periods; waiting for them makes a
        // success mean "stored", and deduplication makes a retried batch land once.
        async_insert: true,
        compress: "lz4".to_string(),
        connection_params: insert_settings(max_partitions(table, m.clamp_days())),
        tls: table.target.insecure_skip_verify.then_some(ClientTls {
            insecure: false,
            insecure_skip_verify: true,
        }),
        timeout: "30s".to_string(),
        sending_queue: SendingQueue {
            enabled: true,
            sizer: "items".to_string(),
            queue_size: queue_events.max(rows * 2),
            // With `batch` set, exporterhelper reads the queue with one consumer but flushes
            // batches through a pool of this many workers (queuebatch/queue_batch.go and
            // partition_batcher.go, v0.150.0): up to 4 inserts at a time per table.
            num_consumers: 4,
            block_on_overflow: false,
            storage: persistent.then(|| QUEUE_STORAGE.to_string()),
            batch: Some(QueueBatch {
                sizer: "items".to_string(),
                min_size: rows,
                max_size: rows,
                flush_timeout: m.batch_timeout.clone(),
            }),
        },
        retry_on_failure: Retry {
            max_elapsed_time: format!("{}s", m.retry_seconds.max(MIN_RETRY_SECONDS)),
            ..retry_forever()
        },
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

/// OTTL statements (log context) for the pipeline's parsing, each value quoted and escaped;
/// timestamps outside the window its tables keep are clamped last (after any parsed timestamp).
pub fn parse_statements(parse: &Parse, region: &str, clamp_days: u32) -> Vec<String> {
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
    // A timestamp older than the retention (an old backlog, a zero or bogus clock: 1970) or
    // more than a day ahead (2099) would make a batch span more partitions than one insert may
    // (refused whole, every retry) and land where TTL drops it or nobody looks: it becomes the
    // time the agent read the line, the original kept in an attribute. Both statements test the
    // original time, so the flag is set before the time moves.
    let outside = format!(
        r#"time < Now() - Duration("{}h") or time > Now() + Duration("{MAX_FUTURE}")"#,
        u64::from(clamp_days) * 24
    );
    let flag = quote_ottl_string(ORIGINAL_TIME_ATTRIBUTE);
    out.push(format!(
        "set(attributes[{flag}], time_unix_nano) where {outside}"
    ));
    out.push(format!("set(time, observed_time) where {outside}"));
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
