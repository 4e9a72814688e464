//! `otelhouse render` end to end: the samples, every bad input, and the validity of every object
//! it prints.

mod kit;

use std::path::PathBuf;
use std::process::Command;

fn otelhouse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_otelhouse"))
}

fn render_samples() -> String {
    let out = otelhouse()
        .current_dir(kit::root())
        .arg("render")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn samples_render_the_whole_platform() {
    let yaml = render_samples();
    let kinds: Vec<String> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("kind: ").map(String::from))
        .collect();
    let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
    assert_eq!(count("DaemonSet"), 3, "one DaemonSet per AgentClass");
    // The tenant's pipeline joins the region's shared pool; the LogHouse one asks for its own.
    assert_eq!(count("Service"), 2, "one gateway Service per pool");
    // 3 zones for each of the 2 pools; both keep a 2h buffer, which is only held on disk.
    assert_eq!(count("StatefulSet"), 6);
    assert_eq!(count("Deployment"), 0);
    assert_eq!(count("HorizontalPodAutoscaler"), 6);
    assert_eq!(count("PodDisruptionBudget"), 6);
    assert_eq!(count("NetworkPolicy"), 2, "one NetworkPolicy per pool");
    // The same input renders the same bytes.
    assert_eq!(yaml, render_samples());
    insta::assert_snapshot!("samples", yaml);
}

#[test]
fn default_render_equals_explicit_samples() {
    let explicit = otelhouse()
        .args(["render", "-f"])
        .arg(kit::samples())
        .output()
        .unwrap();
    assert!(explicit.status.success());
    assert_eq!(
        String::from_utf8(explicit.stdout).unwrap(),
        render_samples()
    );
}

/// Each file in tests/bad starts with `# expect: <text>`: render must exit 1, print nothing on
/// stdout, and say that text on stderr.
#[test]
fn every_bad_input_is_refused_with_a_clear_error() {
    let dir = kit::root().join("tests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15, "at least 15 bad inputs");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", f.display()));
        let out = otelhouse()
            .args(["render", "-f"])
            .arg(&f)
            .arg("--nodes")
            .arg(kit::samples().join("nodes.yaml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", f.display());
        assert!(out.stdout.is_empty(), "{}: printed half-way", f.display());
        assert!(
            stderr.contains(expect),
            "{}: expected {expect:?} in:\n{stderr}",
            f.display()
        );
    }
}

/// Every object render prints passes `kubernetes-validate --strict` for our minimum Kubernetes
/// version, and every sample custom resource validates against the generated CRD schema.
#[test]
fn rendered_objects_and_samples_are_valid_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    let rendered = dir.path().join("rendered.yaml");
    std::fs::write(&rendered, render_samples()).unwrap();
    let mut args = vec![
        "--k8s-version".to_string(),
        otelhouse::MIN_KUBERNETES_VERSION.to_string(),
        "--crds".to_string(),
        kit::root().join("crds").display().to_string(),
        rendered.display().to_string(),
    ];
    for f in std::fs::read_dir(kit::samples()).unwrap() {
        args.push(f.unwrap().path().display().to_string());
    }
    let crds = dir.path().join("crds.yaml");
    let out = otelhouse().arg("crd").output().unwrap();
    std::fs::write(&crds, out.stdout).unwrap();
    args.push(crds.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, text) = kit::run_tool("k8s_validate.py", &args, None);
    assert!(
        ok,
        "{text}\n(install the tools: pip install -r tests/tools/requirements.txt)"
    );
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn a_missing_file_is_an_error() {
    let out = otelhouse()
        .args(["render", "-f", "/nonexistent/x.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file or directory"));
}

/// Classes named like the shared agent objects' suffixes (`pipelines`, `shared`) get objects of
/// their own: the shared pipelines ConfigMap's name is one no class's objects can have, and no
/// two built objects share kind, namespace and name (render would refuse them).
#[test]
fn classes_named_like_shared_objects_do_not_take_them_over() {
    let mut yaml = String::new();
    for (name, selector) in [
        ("pipelines", "instanceTypes: [m5.large]"),
        ("shared", "default: true"),
    ] {
        yaml.push_str(&format!(
            "apiVersion: otelhouse.dev/v1alpha1\nkind: AgentClass\nmetadata: {{name: {name}}}\nspec:\n  {selector}\n  expectedLinesPerSecond: 1000\n  resources: {{limits: {{memory: 256Mi}}}}\n---\n"
        ));
    }
    yaml.push_str(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {node.kubernetes.io/instance-type: m5.large, topology.kubernetes.io/zone: z1, topology.kubernetes.io/region: r1}}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {topology.kubernetes.io/zone: z1, topology.kubernetes.io/region: r1}}\n",
    );
    let r = otelhouse::render::render(&kit::inputs_from(&yaml), &kit::settings()).unwrap();
    let config_maps: Vec<&str> = r
        .objects
        .iter()
        .filter(|o| o.kind == "ConfigMap")
        .map(|o| o.name.as_str())
        .collect();
    let prefix = format!("{}-", otelhouse::agents::PIPELINES_CONFIG_MAP);
    assert!(
        config_maps.iter().any(|n| n.starts_with(&prefix)),
        "{config_maps:?}"
    );
    let shared = r
        .objects
        .iter()
        .find(|o| o.kind == "ConfigMap" && o.name.starts_with(&prefix))
        .unwrap();
    assert_eq!(shared.object["immutable"], true);
    assert_eq!(
        shared.object["metadata"]["annotations"]["otelhouse.dev/owner"], "agents",
        "the shared ConfigMap is the agents', not a class's"
    );
    let mut keys: Vec<_> = r
        .objects
        .iter()
        .map(|o| (o.kind.as_str(), o.namespace.clone(), o.name.clone()))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        n,
        "no two objects share kind, namespace and name"
    );
}
