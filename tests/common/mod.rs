//! Helpers shared by the integration tests.
#![allow(dead_code)]

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
