//! The Helm chart: lint, render with several values, validate every object for Kubernetes 1.33,
//! and its CRDs equal crds/ (tests/tools/chart_test.py, Helm v4's library through PyPI
//! helm-python-sdk).

mod kit;

#[test]
fn chart_lints_renders_and_validates() {
    let out = kit::python()
        .current_dir(kit::root())
        .arg("tests/tools/chart_test.py")
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{text}\n(install the tools: pip install -r tests/tools/requirements.txt)"
    );
    assert!(text.contains(" 0 failed"), "{text}");
}
