use clap::{Parser, Subcommand};
use otelhouse::inventory::Settings;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

// render and the controller allocate many small objects; glibc malloc was a quarter of render.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "otelhouse",
    version,
    about = "OpenTelemetry-to-ClickHouse log platform operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every CRD as multi-document YAML (the source of crds/*.yaml).
    Crd,
    /// Validate custom resources and a node inventory offline, and print every object the
    /// operator would apply, in apply order.
    Render {
        /// Custom resource files or directories (multi-document YAML). Default: config/samples.
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Node inventory (`kubectl get nodes -o yaml`, or multi-document Node YAML).
        #[arg(long)]
        nodes: Vec<PathBuf>,
        /// The operator's namespace (gateways and store Secrets live there).
        #[arg(long, default_value = "otelhouse-system")]
        namespace: String,
        #[command(flatten)]
        agents: AgentArgs,
        #[command(flatten)]
        pools: PoolArgs,
        /// Namespaces whose pipelines may collect cluster-wide (default: the operator's).
        #[arg(long = "trusted-namespace")]
        trusted_namespaces: Vec<String>,
        /// Print the gateway plan per pipeline and region on stderr.
        #[arg(long)]
        explain: bool,
        /// Leave out the pipelines' DDL (printed as YAML comments after the objects).
        #[arg(long)]
        no_ddl: bool,
    },
    /// Run the operator in a cluster.
    Run {
        /// The operator's namespace (gateways and store Secrets live there).
        #[arg(long, env = "POD_NAMESPACE", default_value = "otelhouse-system")]
        namespace: String,
        #[command(flatten)]
        agents: AgentArgs,
        #[command(flatten)]
        pools: PoolArgs,
        /// Namespaces whose pipelines may collect cluster-wide (default: the operator's).
        #[arg(long = "trusted-namespace")]
        trusted_namespaces: Vec<String>,
        /// Take a Lease before reconciling, so several replicas are safe.
        #[arg(long)]
        leader_elect: bool,
        /// Where /metrics, /healthz and /readyz are served.
        #[arg(long, default_value = "0.0.0.0:8080")]
        metrics_addr: std::net::SocketAddr,
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// The collector-contrib image for agents and gateways.
        #[arg(long, default_value = otelhouse::collector::DEFAULT_IMAGE)]
        collector_image: String,
        /// How often the collectors' metrics are read for the FlowHealthy condition (`30s`,
        /// `2m`, or seconds); `0` turns it off.
        #[arg(long, default_value = "30s", value_parser = parse_interval)]
        flow_interval: std::time::Duration,
        /// The agents scraped per AgentClass each round (the same ones from round to round);
        /// `0` scrapes every agent.
        #[arg(long, default_value_t = otelhouse::inventory::DEFAULT_FLOW_AGENTS_PER_CLASS)]
        flow_agents_per_class: u32,
        /// How often the stores' system tables are read for volume, cost and TooManyParts in
        /// status (`5m`, `30s`, or seconds); `0` turns it off.
        #[arg(long, default_value = "5m", value_parser = parse_interval)]
        usage_interval: std::time::Duration,
        /// The price of a TiB of uncompressed logs ingested per month, for costPerMonth
        /// (the source documents' LogHouse figure: 23.76, gateways and ClickHouse included).
        #[arg(long, default_value_t = 23.76, value_parser = parse_price)]
        price_per_tib_ingested: f64,
        /// The price of a TiB of compressed data stored per month (e.g. 21.504 for S3's
        /// $0.021/GiB; then lower the ingest price by the storage it included).
        #[arg(long, default_value_t = 0.0, value_parser = parse_price)]
        price_per_tib_stored: f64,
    },
    /// Stop the operator and delete every object it made (the Helm chart's uninstall hook).
    /// Custom resources, CRDs and ClickHouse tables stay.
    Cleanup {
        #[arg(long, env = "POD_NAMESPACE", default_value = "otelhouse-system")]
        namespace: String,
        #[command(flatten)]
        agents: AgentArgs,
        /// The operator's Deployment, scaled to 0 first so it makes nothing again.
        #[arg(long)]
        operator_deployment: Option<String>,
    },
    /// ClickHouse schemas: print, plan (dry run against the live schema) or apply.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
}

/// How the shared gateway pools are sharded and sized.
#[derive(clap::Args)]
struct PoolArgs {
    /// Namespaces per shard of the shared pool (the shard count is the next power of two).
    #[arg(long, default_value_t = 64)]
    pool_namespaces_per_shard: usize,
    /// Events/s one replica of a shared pool takes.
    #[arg(long, default_value_t = 60_000)]
    pool_capacity_per_replica: u64,
    /// Events/s one gateway core parses and inserts (CPU requests follow from it).
    #[arg(long, default_value_t = 20_000)]
    pool_events_per_core: u64,
    /// Memory one queued event costs (measured: benches/queue_bench.py).
    #[arg(long, default_value_t = otelhouse::gateway::pool::DEFAULT_MEMORY_BYTES_PER_EVENT)]
    pool_memory_bytes_per_event: u64,
    /// Disk one queued event costs in a persistent queue (measured likewise).
    #[arg(long, default_value_t = otelhouse::gateway::pool::DEFAULT_DISK_BYTES_PER_EVENT)]
    pool_disk_bytes_per_event: u64,
    /// The StorageClass of the gateways' queue volumes (default: the cluster's default).
    #[arg(long)]
    pool_storage_class: Option<String>,
    /// The most gateway replicas a pipeline outside the trusted namespaces may plan.
    #[arg(long, default_value_t = 64)]
    pool_max_tenant_replicas: u32,
    /// The most tables a pipeline outside the trusted namespaces may declare.
    #[arg(long, default_value_t = otelhouse::inventory::TenantLimits::DEFAULT.max_tables)]
    tenant_max_tables: u32,
    /// The most extracted columns a table of a pipeline outside the trusted namespaces may
    /// declare.
    #[arg(long, default_value_t = otelhouse::inventory::TenantLimits::DEFAULT.max_columns_per_table)]
    tenant_max_columns: u32,
    /// A NetworkPolicy per gateway pool: only the agents reach its OTLP port, only the operator
    /// (and `--gateway-metrics-namespace`) its metrics port. `=false` deletes them.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    gateway_network_policy: bool,
    /// A namespace whose pods (Prometheus) may also scrape the gateways' metrics port.
    #[arg(long = "gateway-metrics-namespace")]
    gateway_metrics_namespaces: Vec<String>,
}

impl PoolArgs {
    fn tenant_limits(&self) -> otelhouse::inventory::TenantLimits {
        otelhouse::inventory::TenantLimits {
            max_tables: self.tenant_max_tables,
            max_columns_per_table: self.tenant_max_columns,
        }
    }

    fn network_policy(&self) -> otelhouse::gateway::netpol::NetworkPolicySettings {
        otelhouse::gateway::netpol::NetworkPolicySettings {
            enabled: self.gateway_network_policy,
            metrics_namespaces: self.gateway_metrics_namespaces.clone(),
        }
    }

    fn settings(self) -> otelhouse::gateway::pool::PoolSettings {
        otelhouse::gateway::pool::PoolSettings {
            namespaces_per_shard: self.pool_namespaces_per_shard,
            capacity_per_replica: self.pool_capacity_per_replica,
            events_per_core: self.pool_events_per_core,
            memory_bytes_per_event: self.pool_memory_bytes_per_event,
            disk_bytes_per_event: self.pool_disk_bytes_per_event,
            storage_class: self.pool_storage_class,
            max_tenant_replicas: self.pool_max_tenant_replicas,
            ..Default::default()
        }
    }
}

/// Where the agents run (a namespace of their own, which admits their hostPath volumes), and as
/// whom (a ServiceAccount the Helm chart makes, with the agents' read-only ClusterRole).
#[derive(clap::Args)]
struct AgentArgs {
    #[arg(long, default_value = otelhouse::inventory::DEFAULT_AGENT_NAMESPACE)]
    agent_namespace: String,
    #[arg(long, default_value = otelhouse::inventory::DEFAULT_AGENT_SERVICE_ACCOUNT)]
    agent_service_account: String,
}

#[derive(Subcommand)]
enum SchemaAction {
    /// Print the statements that would run against the store (a dry run).
    Plan(SchemaArgs),
    /// Run them (idempotent; safe to re-run after a failure).
    Apply(SchemaArgs),
    /// Print the statements of a fresh install (offline, no store).
    Ddl(SchemaArgs),
}

#[derive(clap::Args)]
struct SchemaArgs {
    /// Files or directories with LogPipelines (other kinds are ignored).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// ClickHouse's HTTP interface, e.g. http://localhost:8123 (plan and apply). User and
    /// password come from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD.
    #[arg(long)]
    store: Option<String>,
    #[arg(long, default_value = "otel")]
    database: String,
    #[arg(long, value_enum, default_value = "merge-tree")]
    engine: Engine,
    /// Run DDL ON CLUSTER this cluster.
    #[arg(long)]
    cluster: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The names match ClickHouse's engines.
#[derive(Clone, Copy, clap::ValueEnum)]
#[allow(clippy::enum_variant_names)]
enum Engine {
    MergeTree,
    ReplicatedMergeTree,
    SharedMergeTree,
}

/// An interval as `<n>s`, `<n>m` or plain seconds.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let (n, unit) = match s.strip_suffix('m') {
        Some(n) => (n, 60),
        None => (s.strip_suffix('s').unwrap_or(s), 1),
    };
    n.parse::<u64>()
        .map(|n| std::time::Duration::from_secs(n * unit))
        .map_err(|_| format!("{s:?} is not an interval (30s, 2m, or seconds)"))
}

/// A price: finite, not negative.
fn parse_price(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a price (a number, 0 or more)")),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Schema { action } => schema(action),
        Command::Cleanup {
            namespace,
            agents,
            operator_deployment,
        } => {
            let settings = Settings {
                namespace,
                agent_namespace: agents.agent_namespace,
                agent_service_account: agents.agent_service_account,
                ..Settings::default()
            };
            let run = async {
                let client = kube::Client::try_default()
                    .await
                    .map_err(|e| e.to_string())?;
                otelhouse::controller::cleanup::cleanup(
                    client,
                    &settings,
                    operator_deployment.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())
            };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| rt.block_on(run))
            {
                Ok(n) => {
                    println!("deleted {n} object(s) made by otelhouse");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            namespace,
            agents,
            pools,
            trusted_namespaces,
            leader_elect,
            metrics_addr,
            log_format,
            collector_image,
            flow_interval,
            flow_agents_per_class,
            usage_interval,
            price_per_tib_ingested,
            price_per_tib_stored,
        } => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
            let builder = tracing_subscriber::fmt().with_env_filter(filter);
            match log_format {
                LogFormat::Json => builder.json().init(),
                LogFormat::Text => builder.init(),
            }
            let config = otelhouse::controller::run::RunConfig {
                settings: Settings {
                    trusted_namespaces: if trusted_namespaces.is_empty() {
                        vec![namespace.clone()]
                    } else {
                        trusted_namespaces
                    },
                    namespace,
                    agent_namespace: agents.agent_namespace,
                    agent_service_account: agents.agent_service_account,
                    collector_image,
                    gateway_network_policy: pools.network_policy(),
                    tenant_limits: pools.tenant_limits(),
                    pools: pools.settings(),
                    flow_interval,
                    flow_agents_per_class,
                    usage_interval,
                    pricing: otelhouse::schema::usage::Pricing {
                        per_tib_ingested: price_per_tib_ingested,
                        per_tib_month_stored: price_per_tib_stored,
                    },
                },
                leader_elect,
                metrics_addr,
                lease: Default::default(),
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(otelhouse::controller::run::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "otelhouse stopped");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Crd => {
            let mut out = String::new();
            for crd in otelhouse::crd::all_crds() {
                match otelhouse::crd::crd_yaml(&crd) {
                    Ok(y) => {
                        out.push_str("---\n");
                        out.push_str(&y);
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            print_all(&out)
        }
        Command::Render {
            files,
            nodes,
            namespace,
            agents,
            pools,
            trusted_namespaces,
            explain,
            no_ddl,
        } => {
            let files = if files.is_empty() && nodes.is_empty() {
                vec![default_samples()]
            } else {
                files
            };
            let settings = Settings {
                trusted_namespaces: if trusted_namespaces.is_empty() {
                    vec![namespace.clone()]
                } else {
                    trusted_namespaces
                },
                namespace,
                agent_namespace: agents.agent_namespace,
                agent_service_account: agents.agent_service_account,
                gateway_network_policy: pools.network_policy(),
                tenant_limits: pools.tenant_limits(),
                pools: pools.settings(),
                ..Settings::default()
            };
            let rendered = otelhouse::render::load(&files, &nodes)
                .and_then(|inputs| otelhouse::render::render(&inputs, &settings));
            match rendered {
                Ok(r) => {
                    for w in &r.warnings {
                        eprintln!("warning: {w}");
                    }
                    if explain {
                        for pool in &r.pools {
                            for (region, pr) in &pool.regions {
                                eprintln!(
                                    "{}",
                                    otelhouse::gateway::pool::explain(pool, region, pr)
                                );
                            }
                        }
                    }
                    // Everything is built: write it out document by document (one big string
                    // would double the peak memory), the objects freed first.
                    let docs = otelhouse::render::yaml_documents(&r.objects);
                    drop(r.objects);
                    let mut parts: Vec<&str> = Vec::with_capacity(docs.len() * 2 + 1);
                    for d in &docs {
                        parts.push("---\n");
                        parts.push(d);
                    }
                    if !no_ddl {
                        parts.push(&r.ddl);
                    }
                    print_parts(&parts)
                }
                Err(e) => {
                    for line in e.to_string().lines() {
                        eprintln!("error: {line}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `otelhouse schema plan|apply`.
fn schema(action: SchemaAction) -> ExitCode {
    use otelhouse::crd::TableEngine;
    use otelhouse::schema::apply::{self, Connection, Outcome, Record};
    let (args, dry_run, offline) = match action {
        SchemaAction::Plan(a) => (a, true, false),
        SchemaAction::Apply(a) => (a, false, false),
        SchemaAction::Ddl(a) => (a, true, true),
    };
    // Other kinds (stores, classes, nodes) may sit beside the pipelines: they are skipped.
    let pipelines = match otelhouse::render::load_pipelines(&args.files) {
        Ok(p) => p,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            return ExitCode::FAILURE;
        }
    };
    let mut problems = Vec::new();
    let mut resolved = Vec::new();
    for p in &pipelines {
        match otelhouse::model::pipeline::resolve_tables(p) {
            Ok(tables) => resolved.push((p, tables)),
            Err(e) => problems.extend(e),
        }
    }
    if !problems.is_empty() || pipelines.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        if pipelines.is_empty() {
            eprintln!("error: no LogPipeline in the given files");
        }
        return ExitCode::FAILURE;
    }
    let for_ident = |what: &str, s: &str| {
        if otelhouse::ident::is_identifier(s) {
            Ok(())
        } else {
            Err(format!("--{what} {s:?} is not a plain identifier"))
        }
    };
    if let Err(e) = for_ident("database", &args.database).and_then(|_| {
        args.cluster
            .as_deref()
            .map_or(Ok(()), |c| for_ident("cluster", c))
    }) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let engine = match args.engine {
        Engine::MergeTree => TableEngine::MergeTree,
        Engine::ReplicatedMergeTree => TableEngine::ReplicatedMergeTree,
        Engine::SharedMergeTree => TableEngine::SharedMergeTree,
    };
    let at = otelhouse::schema::Placement {
        database: &args.database,
        cluster: args.cluster.as_deref(),
        engine,
    };
    if offline {
        let mut out = String::new();
        for (_, tables) in &resolved {
            let layouts = otelhouse::schema::layouts(tables, at);
            for s in otelhouse::schema::ddl::fresh_install(&layouts) {
                out.push_str(&s);
                out.push_str(";\n\n");
            }
        }
        return print_all(&out);
    }
    let Some(store) = args.store.clone() else {
        eprintln!("error: --store is required (the store's HTTP URL)");
        return ExitCode::FAILURE;
    };
    let client = Connection {
        url: store.clone(),
        user: std::env::var("CLICKHOUSE_USER").ok(),
        password: std::env::var("CLICKHOUSE_PASSWORD").ok(),
    }
    .client();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    let mut out = String::new();
    for (p, tables) in &resolved {
        let id = format!(
            "{}/{}",
            p.metadata.namespace.as_deref().unwrap_or_default(),
            p.metadata.name.as_deref().unwrap_or_default()
        );
        let layouts = otelhouse::schema::layouts(tables, at);
        let record = Record {
            pipeline: id.clone(),
            generation: p.metadata.generation.unwrap_or(0),
            spec_hash: otelhouse::schema::spec_hash(&layouts),
        };
        let outcome = runtime.block_on(apply::apply(&client, &layouts, &record, dry_run));
        out.push_str(&format!(
            "-- LogPipeline {id} on {}: {}\n",
            store,
            outcome.state()
        ));
        match outcome {
            Outcome::UpToDate => out.push_str("-- nothing to do\n"),
            Outcome::Pending { statements } | Outcome::Applied { statements } => {
                for s in statements {
                    out.push_str(&s);
                    out.push_str(";\n\n");
                }
            }
            Outcome::Refused { reasons, applied } => {
                for s in applied {
                    out.push_str(&s);
                    out.push_str(";\n\n");
                }
                for r in reasons {
                    eprintln!("error: LogPipeline {id}: refused: {r}");
                }
                failed = true;
            }
            Outcome::Unreachable { error } => {
                eprintln!("error: {}: unreachable: {error}", store);
                failed = true;
            }
            Outcome::Failed { error, applied } => {
                for s in applied {
                    out.push_str(&s);
                    out.push_str(";\n\n");
                }
                eprintln!("error: LogPipeline {id}: {error}");
                failed = true;
            }
        }
    }
    let printed = print_all(&out);
    if failed { ExitCode::FAILURE } else { printed }
}

/// `config/samples` of the working directory, else of the source tree.
fn default_samples() -> PathBuf {
    let local = PathBuf::from("config/samples");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/samples")
    }
}

/// Print what is complete (nothing is printed before the whole result is built).
fn print_all(text: &str) -> ExitCode {
    print_parts(&[text])
}

fn print_parts(parts: &[&str]) -> ExitCode {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = parts
        .iter()
        .try_for_each(|p| out.write_all(p.as_bytes()))
        .and_then(|_| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
