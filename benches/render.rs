//! `render` at scale: 5,000 nodes, 20 agent classes, 200 pipelines. Runs the release binary
//! (`otelhouse render -f DIR`) and prints its wall time and peak memory.
//!
//! Run: `cargo bench --bench render`.

#[path = "gen.rs"]
mod generator;

use generator::{CLASSES, NODES, PIPELINES, generate};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 11;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path());
    if let Ok(keep) = std::env::var("OTELHOUSE_BENCH_KEEP") {
        for f in [
            "classes.yaml",
            "stores.yaml",
            "pipelines.yaml",
            "nodes.yaml",
        ] {
            std::fs::copy(dir.path().join(f), Path::new(&keep).join(f)).expect("copy");
        }
    }
    let mut times = Vec::new();
    let mut output = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_otelhouse"))
            .arg("render")
            .arg("-f")
            .arg(dir.path())
            .output()
            .expect("otelhouse runs");
        times.push(start.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        output = out.stdout;
    }
    // The largest resident set of any child so far: the render processes.
    let peak_kib = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    let text = String::from_utf8_lossy(&output);
    let objects = text.lines().filter(|l| *l == "---").count();
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "otelhouse render of {NODES} nodes, {CLASSES} agent classes, {PIPELINES} pipelines ({RUNS} runs of the release binary)"
    );
    println!(
        "  objects rendered:  {objects} ({:.1} MiB of YAML)",
        output.len() as f64 / 1048576.0
    );
    println!(
        "  wall time:         median {} ms, min {} ms, max {} ms",
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    println!("  peak memory (RSS): {:.1} MiB", peak_kib as f64 / 1024.0);
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}
