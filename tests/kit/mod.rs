//! The test kit every integration test and bench shares: paths and fixtures, the Python tools,
//! the ClickHouse to test against, the in-memory API server ([`api`]), the controller's test
//! world ([`world`]), and the stand-ins for what a real cluster enforces, each written from that
//! component's source: Pod Security admission ([`pss`]) and RBAC ([`rbac`]).
#![allow(dead_code)]

pub mod api;
pub mod collector;
pub mod exporter;
pub mod ottl;
pub mod pss;
pub mod rbac;
pub mod world;

use otelhouse::inventory::{Inputs, Settings};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    root().join("config/samples")
}

/// The samples as inputs.
pub fn sample_inputs() -> Inputs {
    otelhouse::render::load(&[samples()], &[]).expect("samples load")
}

/// Inputs from YAML text.
pub fn inputs_from(yaml: &str) -> Inputs {
    let mut inputs = Inputs::default();
    let mut problems = Vec::new();
    let docs = otelhouse::render::documents(yaml, "test").expect("yaml");
    otelhouse::render::add_documents(&mut inputs, docs, "test", &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    inputs
}

pub fn settings() -> Settings {
    Settings::default()
}

/// The Python interpreter the test tools run with (`OTELHOUSE_PYTHON`, else python3).
pub fn python() -> Command {
    Command::new(std::env::var("OTELHOUSE_PYTHON").unwrap_or_else(|_| "python3".to_string()))
}

/// Run a tool from tests/tools and return (success, stdout+stderr).
pub fn run_tool(tool: &str, args: &[&str], stdin: Option<&Path>) -> (bool, String) {
    let mut cmd = python();
    cmd.arg(root().join("tests/tools").join(tool)).args(args);
    if let Some(f) = stdin {
        cmd.stdin(std::fs::File::open(f).expect("stdin file"));
    }
    let out = cmd.output().expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A ClickHouse to test against: `CLICKHOUSE_URL` when set (a real server), else the in-process
/// engine (chdb) behind tests/tools/chdb_http.py, started once per test binary.
// The server outlives this function on purpose: it serves the whole test binary and exits with
// it (--exit-with-parent).
#[allow(clippy::zombie_processes)]
pub fn clickhouse_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("CLICKHOUSE_URL") {
            return url;
        }
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let port_file = dir.join("port");
        let mut cmd = python();
        cmd.arg(root().join("tests/tools/chdb_http.py"))
            .arg("--path")
            .arg(dir.join("data"))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--exit-with-parent")
            .stdout(std::process::Stdio::null());
        let mut child = cmd.spawn().expect("python3 starts chdb_http.py");
        let start = std::time::Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                return format!("http://127.0.0.1:{}", p.trim());
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chdb_http.py exited ({status}): pip install -r tests/tools/requirements.txt"
                );
            }
            assert!(
                start.elapsed().as_secs() < 60,
                "chdb_http.py did not start in 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
    .clone()
}

/// A client of [`clickhouse_url`], as `CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD` say.
pub fn clickhouse_client() -> clickhouse::Client {
    otelhouse::schema::apply::Connection {
        url: clickhouse_url(),
        user: std::env::var("CLICKHOUSE_USER").ok(),
        password: std::env::var("CLICKHOUSE_PASSWORD").ok(),
    }
    .client()
}

/// A LogPipeline of config/samples by name.
pub fn sample_pipeline(name: &str) -> otelhouse::crd::LogPipeline {
    sample_inputs()
        .pipelines
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no sample pipeline {name}"))
}

/// A database name no other test uses (tests share one server).
pub fn unique_database(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Helm chart rendered by Helm v4's library (tests/tools/helm_render.py), every object.
pub fn render_chart(namespace: &str, values: &serde_json::Value) -> Vec<serde_json::Value> {
    let out = python()
        .arg(root().join("tests/tools/helm_render.py"))
        .args(["--namespace", namespace, "--values", &values.to_string()])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helm_render.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = otelhouse::render::documents(&text, "chart").expect("the chart renders YAML");
    docs.into_iter().filter(|d| d.is_object()).collect()
}

/// A free local port on which nothing listens once this returns (a client sending there gets
/// "connection refused" until something binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
