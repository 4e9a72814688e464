#!/usr/bin/env python3
"""Test the Helm chart charts/otelhouse offline, with Helm v4's own library.

Uses PyPI ``helm-python-sdk`` (import name ``helm_python``: ctypes bindings to
``libhelm_c``, Helm's Go SDK built as a C library and shipped inside the wheel;
no ``helm`` binary). Checks:

* ``helm lint --strict`` (no errors, no warnings), with default and override values;
* the chart's ``crds/`` are byte-for-byte the repository's ``crds/`` (and the
  comparison itself notices a changed, missing or extra file);
* rendering with default values and with overrides (``replicas: 1`` has no
  PodDisruptionBudget; ``trustedNamespaces: [a, b]`` gives two
  ``--trusted-namespace`` arguments; ``serviceMonitor.enabled`` adds a
  ServiceMonitor), each in a release namespace other than the usual one;
* every rendered object, and the chart's CRDs, against the Kubernetes 1.33
  schemas with ``k8s_validate.py`` (strict). The ServiceMonitor is a Prometheus
  Operator custom resource that kubernetes-validate has no schema for: it is
  left out of that validation and checked field by field here instead;
* the operator Deployment's arguments (``run --namespace <release namespace>
  --agent-namespace otelhouse-agents --leader-elect --metrics-addr 0.0.0.0:8080
  ...``), probes, ports, security contexts, labels and selectors; the RBAC's
  structure (no wildcards, no RBAC rights, bindings resolve; which rules the
  operator needs is tested against its requests in tests/rbac.rs), the agents'
  privileged namespace and the uninstall cleanup hook;
* values.schema.json rejects bad values.

Usage: python3 tests/tools/chart_test.py (from anywhere; paths are relative to
this file). Prints ``ok <check>`` or ``FAIL <check>: <reason>`` per check and
``chart_test: N passed, M failed``; exits 1 if any failed, 2 if the tools are
missing.
"""

import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "otelhouse"
CRDS = REPO / "crds"
K8S_VALIDATE = Path(__file__).resolve().parent / "k8s_validate.py"
K8S_VERSION = "1.33.0"
RELEASE = "otelhouse"
NAMESPACE = "logs-system"  # not the README's otelhouse-system: the chart must not hard-code it

try:
    import helm_python as helm
    import yaml
except ImportError as err:
    print(f"chart_test: {err}; install with: pip install -r tests/tools/requirements.txt "
          "(helm-python-sdk, PyYAML, kubernetes-validate, jsonschema)", file=sys.stderr)
    print("chart_test: 0 passed, 1 failed")
    sys.exit(2)

STANDARD_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart")

AGENT_NAMESPACE = "otelhouse-agents"
READ = ["get", "list", "watch"]
# The agents' ClusterRole: what the collector's k8sattributes processor reads, read-only. The
# operator's own RBAC is checked against the requests it really sends in tests/rbac.rs.
AGENT_RULES = {
    ("", "pods"): READ,
    ("", "namespaces"): READ,
    ("apps", "replicasets"): READ,
    ("batch", "jobs"): READ,
}

# Scenarios: name -> values. Each renders in NAMESPACE as release RELEASE.
SCENARIOS = {
    "default": None,
    "no-namespace-no-cleanup": {"agents": {"createNamespace": False}, "cleanup": {"enabled": False}},
    "replicas-1": {"replicas": 1},
    "trusted-namespaces": {"trustedNamespaces": ["a", "b"]},
    "service-monitor": {"serviceMonitor": {"enabled": True}},
}


class Failed(Exception):
    """A check's assertion failed."""


def expect(condition, message):
    if not condition:
        raise Failed(message)


class Runner:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, func, *args):
        try:
            func(*args)
        except Failed as err:
            self._fail(name, str(err))
        except helm.HelmError as err:
            self._fail(name, f"{type(err).__name__}: {err}")
        except Exception as err:  # a broken check is a failed check, not a crash
            self._fail(name, f"{type(err).__name__}: {err}")
        else:
            self.passed += 1
            print(f"ok {name}", flush=True)

    def _fail(self, name, reason):
        self.failed += 1
        reason = reason.strip().replace("\n", "\n    ")
        print(f"FAIL {name}: {reason}", flush=True)


# --- lint -----------------------------------------------------------------


def check_lint(values=None):
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE,
                       kube_version=f"v{K8S_VERSION}")
    expect(report.get("total_charts_linted") == 1,
           f"linted {report.get('total_charts_linted')} charts, expected 1")
    expect(not report.get("errors"), "lint errors: " + "; ".join(report["errors"]))
    # severity 2 = warning, 3 = error (strict: warnings count)
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    expect(not bad, "lint: " + "; ".join(f"{m['path']}: {m['error']}" for m in bad))


# --- CRDs -----------------------------------------------------------------


def crd_differences(chart_crds, repo_crds):
    """What differs between the chart's crds/ and the repository's crds/ (empty: same)."""
    ours = {p.name for p in Path(chart_crds).glob("*") if p.is_file()}
    theirs = {p.name for p in Path(repo_crds).glob("*.yaml")}
    problems = [f"missing in chart: {n}" for n in sorted(theirs - ours)]
    problems += [f"not in {repo_crds}: {n}" for n in sorted(ours - theirs)]
    problems += [f"differs: {n}" for n in sorted(ours & theirs)
                 if not filecmp.cmp(Path(chart_crds) / n, Path(repo_crds) / n, shallow=False)]
    return problems


def check_crds_equal():
    expect(any(CRDS.glob("*.yaml")), f"no CRDs in {CRDS}")
    problems = crd_differences(CHART / "crds", CRDS)
    expect(not problems, "; ".join(problems) + f" (fix: cp {CRDS}/*.yaml {CHART}/crds/)")


def check_crds_loaded_by_helm(chart):
    names = sorted(Path(c["filename"]).name for c in chart.crds)
    expect(names == sorted(p.name for p in CRDS.glob("*.yaml")),
           f"Helm sees CRDs {names}")
    for crd in chart.crds:
        expect(crd["data"] == (CRDS / Path(crd["filename"]).name).read_text(),
               f"{crd['filename']}: content Helm loads differs from {CRDS}")


def check_crd_comparison_detects_drift():
    """The comparison must notice an edited, a missing and an extra CRD file."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "crds"
        shutil.copytree(CRDS, copy)
        expect(not crd_differences(copy, CRDS), "an exact copy was reported as different")
        first = sorted(copy.glob("*.yaml"))[0]
        first.write_text(first.read_text() + "# edited\n")
        expect(crd_differences(copy, CRDS) == [f"differs: {first.name}"],
               f"an edited file was not reported: {crd_differences(copy, CRDS)}")
        first.unlink()
        expect(crd_differences(copy, CRDS) == [f"missing in chart: {first.name}"],
               "a missing file was not reported")
        shutil.copy(CRDS / first.name, copy / first.name)
        (copy / "extra.yaml").write_text("{}\n")
        expect(crd_differences(copy, CRDS) == [f"not in {CRDS}: extra.yaml"],
               "an extra file was not reported")


# --- rendering ------------------------------------------------------------


def render(chart, values):
    """{template path: [objects]} for the chart's manifests (NOTES.txt left out)."""
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    objects = {}
    for path, text in out.items():
        if path.endswith("NOTES.txt"):
            continue
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        if docs:
            objects[path] = docs
    return out, objects


def by_kind(objects):
    kinds = {}
    for docs in objects.values():
        for obj in docs:
            kinds.setdefault(obj["kind"], []).append(obj)
    return kinds


def one(kinds, kind):
    found = kinds.get(kind, [])
    expect(len(found) == 1, f"{len(found)} {kind} objects, expected 1")
    return found[0]


def deployment_args(kinds):
    deploy = one(kinds, "Deployment")
    containers = deploy["spec"]["template"]["spec"]["containers"]
    expect(len(containers) == 1, f"{len(containers)} containers, expected 1")
    return containers[0].get("args") or []


def flag_values(args, flag):
    """Every value of `flag` (`--flag value` or `--flag=value`)."""
    values = []
    for i, arg in enumerate(args):
        if arg == flag:
            expect(i + 1 < len(args), f"{flag} has no value")
            values.append(args[i + 1])
        elif arg.startswith(flag + "="):
            values.append(arg[len(flag) + 1:])
    return values


def check_default(chart, defaults, kinds):
    expected = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                "RoleBinding", "Deployment", "Service", "PodDisruptionBudget", "Job"}
    expect(set(kinds) == expected, f"kinds {sorted(kinds)}, expected {sorted(expected)}")
    meta = chart.metadata
    expect(meta.get("apiVersion") == "v2", f"Chart.yaml apiVersion {meta.get('apiVersion')}")
    for key, want in (("name", "otelhouse"), ("version", "0.1.0"), ("appVersion", "0.1.0"),
                      ("kubeVersion", ">=1.33.0-0")):
        expect(meta.get(key) == want, f"Chart.yaml {key} {meta.get(key)!r}, expected {want!r}")
    expect(defaults.get("replicas") == 2, "default replicas is not 2")
    expect(defaults.get("trustedNamespaces") == [], "default trustedNamespaces is not []")
    expect(defaults.get("serviceMonitor", {}).get("enabled") is False,
           "serviceMonitor is enabled by default")


def check_args(kinds, trusted=()):
    args = deployment_args(kinds)
    expect(args[:1] == ["run"], f"args do not start with run: {args}")
    expect(flag_values(args, "--namespace") == [NAMESPACE],
           f"--namespace is {flag_values(args, '--namespace')}, expected [{NAMESPACE}] "
           f"(the release namespace): {args}")
    expect("--leader-elect" in args, f"no --leader-elect: {args}")
    expect(flag_values(args, "--metrics-addr") == ["0.0.0.0:8080"],
           f"--metrics-addr {flag_values(args, '--metrics-addr')}")
    expect(flag_values(args, "--log-format") == ["json"],
           f"--log-format {flag_values(args, '--log-format')}")
    image = yaml.safe_load((CHART / "values.yaml").read_text())["collectorImage"]
    expect(flag_values(args, "--collector-image") == [image],
           f"--collector-image {flag_values(args, '--collector-image')}, expected [{image}]")
    expect(flag_values(args, "--agent-namespace") == [AGENT_NAMESPACE],
           f"--agent-namespace {flag_values(args, '--agent-namespace')}")
    expect(flag_values(args, "--agent-service-account") == ["otelhouse-agent"],
           f"--agent-service-account {flag_values(args, '--agent-service-account')}")
    expect(flag_values(args, "--trusted-namespace") == list(trusted),
           f"--trusted-namespace {flag_values(args, '--trusted-namespace')}, expected {list(trusted)}")


def check_pod(kinds):
    deploy = one(kinds, "Deployment")
    spec = deploy["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    expect(container["image"] == "ghcr.io/otelhouse/otelhouse:0.1.0",
           f"image {container['image']} (the tag must default to appVersion)")
    ports = container.get("ports") or []
    expect([(p.get("name"), p.get("containerPort")) for p in ports] == [("metrics", 8080)],
           f"ports {ports}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        expect(get.get("path") == path and get.get("port") in ("metrics", 8080),
               f"{probe} {container.get(probe)}")
    resources = container.get("resources") or {}
    expect(resources == {"requests": {"cpu": "50m", "memory": "64Mi"},
                         "limits": {"memory": "128Mi"}}, f"resources {resources}")
    psc, sc = pod.get("securityContext") or {}, container.get("securityContext") or {}
    expect(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot is not true")
    expect(psc.get("seccompProfile") == {"type": "RuntimeDefault"}, "pod seccomp not RuntimeDefault")
    expect(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    expect(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    expect(sc.get("runAsNonRoot") is True, "container runAsNonRoot is not true")
    expect((sc.get("capabilities") or {}).get("drop") == ["ALL"], "capabilities do not drop ALL")
    expect(sc.get("seccompProfile") == {"type": "RuntimeDefault"}, "container seccomp not RuntimeDefault")
    sa = operator_sa(kinds)
    expect(pod.get("serviceAccountName") == sa, f"serviceAccountName {pod.get('serviceAccountName')}")
    selector = spec["selector"]["matchLabels"]
    labels = spec["template"]["metadata"]["labels"]
    expect(selector.items() <= labels.items(), f"selector {selector} does not match pod labels")
    service = one(kinds, "Service")
    expect(service["spec"]["selector"].items() <= labels.items(), "Service does not select the pods")
    sports = service["spec"]["ports"]
    expect(len(sports) == 1 and sports[0].get("name") == "metrics"
           and sports[0].get("targetPort") in ("metrics", 8080), f"Service ports {sports}")


def operator_sa(kinds):
    """The operator's ServiceAccount (the other one is the agents')."""
    found = [sa for sa in kinds.get("ServiceAccount", []) if sa["metadata"].get("namespace") == NAMESPACE]
    expect(len(found) == 1, f"{len(found)} ServiceAccounts in {NAMESPACE}, expected 1")
    return found[0]["metadata"]["name"]


def check_labels_and_namespaces(objects):
    for path, docs in objects.items():
        for obj in docs:
            meta = obj["metadata"]
            where = f"{obj['kind']} {meta.get('name')} ({path})"
            labels = meta.get("labels") or {}
            missing = [k for k in STANDARD_LABELS if k not in labels]
            expect(not missing, f"{where}: missing labels {missing}")
            expect(labels["app.kubernetes.io/managed-by"] == "Helm", f"{where}: managed-by")
            expect(labels["app.kubernetes.io/instance"] == RELEASE, f"{where}: instance")
            cluster_scoped = obj["kind"] in ("ClusterRole", "ClusterRoleBinding", "Namespace")
            expect(("namespace" in meta) != cluster_scoped and
                   meta.get("namespace", NAMESPACE) in (NAMESPACE, AGENT_NAMESPACE),
                   f"{where}: namespace {meta.get('namespace')!r}")


def rules_table(rules, where):
    table = {}
    for rule in rules:
        expect(not rule.get("nonResourceURLs"), f"{where}: unexpected nonResourceURLs in {rule}")
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = (group, resource, ",".join(rule.get("resourceNames") or []))
                expect(key not in table, f"{where}: {key} appears twice")
                expect("*" not in rule["verbs"] and "*" not in (group, resource),
                       f"{where}: wildcard in {rule}")
                table[key] = sorted(rule["verbs"])
    return table


def compare_rules(got, want, where):
    want = {k: sorted(v) for k, v in want.items()}
    problems = [f"missing {k}" for k in want if k not in got]
    problems += [f"extra {k} {got[k]}" for k in got if k not in want]
    problems += [f"{k}: verbs {got[k]}, expected {want[k]}"
                 for k in want if k in got and got[k] != want[k]]
    expect(not problems, f"{where}: " + "; ".join(problems))


def check_rbac(kinds):
    """Structure only: no wildcards, every binding names a role the chart has and the right
    ServiceAccount, no RBAC or Pod rights for the operator, the agents read-only. Which rules
    the operator needs is tested against its requests (tests/rbac.rs)."""
    sa = operator_sa(kinds)
    roles = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]): r
             for kind in ("Role", "ClusterRole") for r in kinds.get(kind, [])}
    for key, role in roles.items():
        table = rules_table(role["rules"], f"{key[0]} {key[2]}")
        for group, resource, _ in table:
            expect(group != "rbac.authorization.k8s.io", f"{key}: grants RBAC rights ({resource})")
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in kinds.get(kind, []):
            ref = b["roleRef"]
            ns = b["metadata"].get("namespace") if ref["kind"] == "Role" else None
            expect((ref["kind"], ns, ref["name"]) in roles, f"{kind} {b['metadata']['name']}: roleRef {ref}")
            for subject in b["subjects"]:
                expect(subject in ({"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE},
                                   {"kind": "ServiceAccount", "name": "otelhouse-agent",
                                    "namespace": AGENT_NAMESPACE}),
                       f"{kind} {b['metadata']['name']}: subject {subject}")
    agent = roles[("ClusterRole", None, f"{RELEASE}-agent")]
    got = {(g, r): v for (g, r, _), v in rules_table(agent["rules"], "agent ClusterRole").items()}
    compare_rules(got, AGENT_RULES, "agent ClusterRole")
    operator_rules = [rule for (kind, _, name), r in roles.items() if name == RELEASE
                      for rule in r["rules"]]
    expect(all(rule["verbs"] == ["list"] for rule in operator_rules if "pods" in rule["resources"]),
           "the operator only lists pods (its config checks' termination messages)")


def check_agent_namespace(kinds, created=True):
    namespaces = kinds.get("Namespace", [])
    if not created:
        expect(not namespaces, "a Namespace is rendered with agents.createNamespace false")
        return
    ns = one(kinds, "Namespace")
    labels = ns["metadata"]["labels"]
    expect(ns["metadata"]["name"] == AGENT_NAMESPACE, f"agents' namespace {ns['metadata']['name']}")
    expect(labels.get("pod-security.kubernetes.io/enforce") == "privileged",
           f"agents' namespace labels {labels}")


def check_cleanup_hook(kinds, present=True):
    jobs = kinds.get("Job", [])
    if not present:
        expect(not jobs, "a cleanup Job is rendered with cleanup.enabled false")
        return
    job = one(kinds, "Job")
    ann = job["metadata"].get("annotations") or {}
    expect(ann.get("helm.sh/hook") == "pre-delete", f"cleanup Job hook {ann}")
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    expect(args[:1] == ["cleanup"] and flag_values(args, "--operator-deployment") == [RELEASE]
           and flag_values(args, "--agent-namespace") == [AGENT_NAMESPACE], f"cleanup args {args}")
    expect(job["spec"]["template"]["spec"]["serviceAccountName"] == operator_sa(kinds),
           "cleanup runs as the operator's ServiceAccount")


def check_pdb(kinds, expected):
    pdbs = kinds.get("PodDisruptionBudget", [])
    if not expected:
        expect(not pdbs, "a PodDisruptionBudget is rendered with replicas 1")
        return
    pdb = one(kinds, "PodDisruptionBudget")
    expect(pdb["spec"].get("maxUnavailable") == 1, f"PDB maxUnavailable {pdb['spec']}")
    deploy = one(kinds, "Deployment")
    expect(pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"],
           "PDB selector differs from the Deployment's")


def check_replicas_1(kinds):
    expect(one(kinds, "Deployment")["spec"]["replicas"] == 1, "Deployment replicas is not 1")
    check_pdb(kinds, expected=False)


def check_service_monitor(kinds, present):
    monitors = kinds.get("ServiceMonitor", [])
    if not present:
        expect(not monitors, "a ServiceMonitor is rendered although disabled")
        return
    sm = one(kinds, "ServiceMonitor")
    expect(sm["apiVersion"] == "monitoring.coreos.com/v1", f"apiVersion {sm['apiVersion']}")
    expect(sm["metadata"].get("name") and sm["metadata"].get("namespace") == NAMESPACE,
           f"metadata {sm['metadata']}")
    service = one(kinds, "Service")
    selector = sm["spec"]["selector"]["matchLabels"]
    expect(selector.items() <= service["metadata"]["labels"].items(),
           f"selector {selector} does not select the metrics Service")
    endpoints = sm["spec"]["endpoints"]
    expect(len(endpoints) == 1 and endpoints[0].get("port") == "metrics"
           and endpoints[0].get("path") == "/metrics", f"endpoints {endpoints}")
    expect(set(sm["spec"]) <= {"selector", "endpoints", "namespaceSelector"},
           f"unexpected spec fields {sorted(sm['spec'])}")


def check_notes(out):
    notes = [text for path, text in out.items() if path.endswith("NOTES.txt")]
    expect(notes and NAMESPACE in notes[0], "NOTES.txt missing or without the release namespace")


def check_validate(rendered):
    """Every rendered object (but ServiceMonitors) and the chart's CRDs, through k8s_validate.py."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, objects in rendered.items():
            docs = [obj for docs in objects.values() for obj in docs
                    if obj.get("kind") != "ServiceMonitor"]
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            files.append(str(path))
        files += [str(p) for p in sorted((CHART / "crds").glob("*.yaml"))]
        proc = subprocess.run([sys.executable, str(K8S_VALIDATE), "--k8s-version", K8S_VERSION,
                               *files], capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip()
    expect(proc.returncode == 0, f"k8s_validate exit {proc.returncode}:\n{output}")
    last = output.splitlines()[-1] if output else ""
    expect(last.startswith("k8s_validate: ") and last.endswith(" 0 failed"), output)
    print(f"  {last}")


def check_rejected(chart, values, message):
    try:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    except helm.HelmValuesError as err:
        expect(message in str(err), f"rejected for another reason: {err}")
        return
    raise Failed(f"values {values} were accepted")


def main():
    run = Runner()
    print(f"chart_test: {CHART.relative_to(REPO)} with helm-python-sdk {helm.__version__} "
          f"(Helm {helm.helm_sdk_version()}), Kubernetes {K8S_VERSION}", flush=True)

    run.check("lint (default values)", check_lint)
    run.check("lint (replicas 1, trustedNamespaces, serviceMonitor)", check_lint,
              {"replicas": 1, "trustedNamespaces": ["a", "b"], "serviceMonitor": {"enabled": True}})
    run.check("crds/ equal the repository's crds/", check_crds_equal)
    run.check("the CRD comparison detects drift", check_crd_comparison_detects_drift)

    try:
        chart = helm.Chart.load(CHART)
    except helm.HelmError as err:
        run._fail("load chart", f"{type(err).__name__}: {err}")
        print(f"chart_test: {run.passed} passed, {run.failed} failed")
        return 1

    with chart:
        run.check("Helm loads the CRDs from crds/", check_crds_loaded_by_helm, chart)
        rendered, kinds_of = {}, {}
        for name, values in SCENARIOS.items():
            try:
                out, objects = render(chart, values)
            except helm.HelmError as err:
                run._fail(f"render {name}", f"{type(err).__name__}: {err}")
                continue
            rendered[name], kinds_of[name] = objects, by_kind(objects)
            run.check(f"render {name}", lambda: None)
            if name == "default":
                run.check("NOTES.txt", check_notes, out)

        if "default" in kinds_of:
            kinds = kinds_of["default"]
            run.check("default: chart metadata, defaults and kinds", check_default,
                      chart, chart.values, kinds)
            run.check("default: args (--namespace <release ns>, --leader-elect, ...)",
                      check_args, kinds)
            run.check("default: pod (image, probes, ports, resources, security)", check_pod, kinds)
            run.check("default: labels and namespaces", check_labels_and_namespaces,
                      rendered["default"])
            run.check("default: RBAC structure (the rules themselves: tests/rbac.rs)", check_rbac, kinds)
            run.check("default: the agents' namespace is privileged", check_agent_namespace, kinds)
            run.check("default: the uninstall cleanup hook", check_cleanup_hook, kinds)
            run.check("default: PodDisruptionBudget maxUnavailable 1", check_pdb, kinds, True)
            run.check("default: no ServiceMonitor", check_service_monitor, kinds, False)
        if "no-namespace-no-cleanup" in kinds_of:
            k = kinds_of["no-namespace-no-cleanup"]
            run.check("agents.createNamespace false: no Namespace", check_agent_namespace, k, False)
            run.check("cleanup.enabled false: no Job", check_cleanup_hook, k, False)
        if "replicas-1" in kinds_of:
            run.check("replicas 1: no PodDisruptionBudget", check_replicas_1, kinds_of["replicas-1"])
        if "trusted-namespaces" in kinds_of:
            run.check("trustedNamespaces [a, b]: two --trusted-namespace", check_args,
                      kinds_of["trusted-namespaces"], ("a", "b"))
        if "service-monitor" in kinds_of:
            run.check("serviceMonitor.enabled: ServiceMonitor", check_service_monitor,
                      kinds_of["service-monitor"], True)
            run.check("serviceMonitor.enabled: labels and namespaces", check_labels_and_namespaces,
                      rendered["service-monitor"])
        if rendered:
            run.check(f"k8s_validate --k8s-version {K8S_VERSION} (every rendered object, CRDs; "
                      "not the ServiceMonitor)", check_validate, rendered)

        run.check("schema rejects logFormat xml", check_rejected, chart,
                  {"logFormat": "xml"}, "/logFormat")
        run.check("schema rejects replicas 3 without leader election", check_rejected, chart,
                  {"replicas": 3, "leaderElection": {"enabled": False}}, "/leaderElection/enabled")
        run.check("schema rejects unknown keys", check_rejected, chart,
                  {"replica": 3}, "replica")
        run.check("schema rejects an invalid trusted namespace", check_rejected, chart,
                  {"trustedNamespaces": ["Not_A_Namespace"]}, "/trustedNamespaces/0")

    print(f"chart_test: {run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
