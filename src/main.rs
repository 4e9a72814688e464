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
        /// The operator's namespace (agents, gateways and store Secrets live there).
        #[arg(long, default_value = "otelhouse-system")]
        namespace: String,
        /// Namespaces whose pipelines may collect cluster-wide (default: the operator's).
        #[arg(long = "trusted-namespace")]
        trusted_namespaces: Vec<String>,
        /// Print the gateway plan per pipeline and region on stderr.
        #[arg(long)]
        explain: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
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
            trusted_namespaces,
            explain,
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
                        for (id, plans) in &r.plans {
                            for (region, p) in plans {
                                eprintln!(
                                    "plan {id} {region}: {} gateways (throughput {}, buffer {}, zones {}){}: {}",
                                    p.total,
                                    p.by_throughput,
                                    p.by_buffer,
                                    p.by_zones,
                                    if p.capped { ", capped" } else { "" },
                                    p.zones
                                        .iter()
                                        .map(|z| format!("{}={}", z.zone, z.replicas))
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                );
                            }
                        }
                    }
                    print_all(&otelhouse::render::to_yaml(&r.objects))
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

/// `config/samples` of the working directory, else of the source tree.
fn default_samples() -> PathBuf {
    let local = PathBuf::from("config/samples");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/samples")
    }
}

/// Print everything at once: all or nothing reaches stdout.
fn print_all(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
