#!/usr/bin/env python3
"""The chart's opt-in monitoring objects: the collectors' PodMonitor, the PrometheusRule and the
Grafana dashboard ConfigMap (and the operator's ServiceMonitor beside them).

Checks, with Helm v4's library as tests/tools/chart_test.py does (its helpers are reused):

* ``helm lint --strict`` with every switch on, with the ClickHouse rules off, and all off;
* rendered with the switches off: none of these objects; on: one of each, with the chart's
  standard labels, in the release namespace (the dashboard in ``grafanaDashboard.namespace``
  when set), the dashboard ConfigMap labelled ``grafana_dashboard: "1"`` and holding
  charts/otelhouse/dashboards/otelhouse.json byte for byte;
* every rendered object through k8s_validate.py, strict: built-in kinds against the
  Kubernetes 1.33 schemas, the Prometheus Operator's kinds against its v0.93.0 CRDs
  (prometheus_operator_crds.py; unknown fields are errors, CEL rules are not evaluated);
* values.schema.json rejects bad values.

Which metric names and labels the rules and the dashboard use, and that they exist, is
tests/alerts.rs's job.

Usage: python3 tests/tools/monitoring_chart_test.py. Prints ``ok``/``FAIL`` per check and
``monitoring_chart_test: N passed, M failed``; exits 1 if any failed, 2 if tools are missing.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

import chart_test as ct  # noqa: E402  (exits 2 itself when helm/yaml are missing)
import prometheus_operator_crds  # noqa: E402

yaml = ct.yaml
helm = ct.helm
expect = ct.expect
Failed = ct.Failed

ON = {
    "collectorPodMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
    "serviceMonitor": {"enabled": True},
}
SCENARIOS = {
    "off": None,
    "on": ON,
    "on-no-clickhouse-dashboard-elsewhere": {
        **ON,
        "prometheusRule": {"enabled": True, "clickhouse": {"enabled": False}},
        "grafanaDashboard": {"enabled": True, "namespace": "grafana",
                             "labels": {"team": "logs"}, "annotations": {"grafana_folder": "otelhouse"}},
    },
}
MONITORING_KINDS = ("PrometheusRule", "PodMonitor", "ServiceMonitor")


def dashboards(kinds):
    return [cm for cm in kinds.get("ConfigMap", [])
            if (cm["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"]


def check_off(kinds):
    for kind in MONITORING_KINDS:
        expect(not kinds.get(kind), f"{kind} rendered with its switch off")
    expect(not dashboards(kinds), "a dashboard ConfigMap rendered with grafanaDashboard off")


def check_labels(obj, namespace):
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    missing = [k for k in ct.STANDARD_LABELS if k not in labels]
    expect(not missing, f"{obj['kind']} {meta.get('name')}: missing labels {missing}")
    expect(meta.get("namespace") == namespace,
           f"{obj['kind']} {meta.get('name')}: namespace {meta.get('namespace')!r}, expected {namespace!r}")


def check_on(kinds, dashboard_namespace=ct.NAMESPACE, clickhouse=True):
    for kind in MONITORING_KINDS:
        check_labels(ct.one(kinds, kind), ct.NAMESPACE)
    found = dashboards(kinds)
    expect(len(found) == 1, f"{len(found)} dashboard ConfigMaps, expected 1")
    cm = found[0]
    check_labels(cm, dashboard_namespace)
    want = (ct.CHART / "dashboards" / "otelhouse.json").read_text()
    got = (cm.get("data") or {}).get("otelhouse.json")
    expect(got is not None and got.strip() == want.strip(),
           "the ConfigMap does not hold dashboards/otelhouse.json as it is")
    json.loads(got)
    rule = ct.one(kinds, "PrometheusRule")
    groups = [g["name"] for g in rule["spec"]["groups"]]
    expect(("otelhouse.clickhouse" in groups) == clickhouse, f"groups {groups}")
    pm = ct.one(kinds, "PodMonitor")
    names = pm["spec"]["namespaceSelector"]["matchNames"]
    expect(names == [ct.NAMESPACE, ct.AGENT_NAMESPACE], f"PodMonitor namespaces {names}")


def check_dashboard_elsewhere(kinds):
    cm = dashboards(kinds)[0]
    expect(cm["metadata"]["labels"].get("team") == "logs", "extra dashboard labels missing")
    expect(cm["metadata"].get("annotations") == {"grafana_folder": "otelhouse"},
           f"annotations {cm['metadata'].get('annotations')}")
    check_on(kinds, dashboard_namespace="grafana", clickhouse=False)


def check_validate(rendered):
    with tempfile.TemporaryDirectory() as tmp:
        crds = Path(tmp) / "crds"
        prometheus_operator_crds.write(crds)
        files = []
        for name, objects in rendered.items():
            docs = [obj for docs in objects.values() for obj in docs]
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            files.append(str(path))
        proc = subprocess.run([sys.executable, str(ct.K8S_VALIDATE), "--k8s-version", ct.K8S_VERSION,
                               "--crds", str(crds), *files],
                              capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip()
    expect(proc.returncode == 0, f"k8s_validate exit {proc.returncode}:\n{output}")
    last = output.splitlines()[-1] if output else ""
    expect(last.startswith("k8s_validate: ") and last.endswith(" 0 failed"), output)
    print(f"  {last}")


def check_validation_catches_a_wrong_field():
    """The CRD validation is not vacuous: a misspelt and a mistyped field fail."""
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
           "metadata": {"name": "x", "namespace": "y"},
           "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "fro": "5m"}]}]}}
    bad_pm = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
              "metadata": {"name": "x", "namespace": "y"},
              "spec": {"selector": {}, "podMetricsEndpoints": [{"port": 8888}]}}
    with tempfile.TemporaryDirectory() as tmp:
        crds = Path(tmp) / "crds"
        prometheus_operator_crds.write(crds)
        for obj, what in ((bad, "fro"), (bad_pm, "port")):
            path = Path(tmp) / "bad.yaml"
            path.write_text(yaml.safe_dump(obj))
            proc = subprocess.run([sys.executable, str(ct.K8S_VALIDATE), "--k8s-version",
                                   ct.K8S_VERSION, "--crds", str(crds), str(path)],
                                  capture_output=True, text=True, check=False)
            expect(proc.returncode == 1 and what in proc.stdout,
                   f"{obj['kind']} with a bad {what!r} passed: {proc.stdout}{proc.stderr}")


def main():
    run = ct.Runner()
    print(f"monitoring_chart_test: {ct.CHART.relative_to(ct.REPO)}, Prometheus Operator CRDs "
          f"{prometheus_operator_crds.VERSION}", flush=True)
    run.check("lint (every monitoring switch on)", ct.check_lint, ON)
    run.check("lint (ClickHouse rules off, dashboard elsewhere)", ct.check_lint,
              SCENARIOS["on-no-clickhouse-dashboard-elsewhere"])
    run.check("lint (all off)", ct.check_lint,
              {k: {"enabled": False} for k in ON})
    with helm.Chart.load(ct.CHART) as chart:
        rendered, kinds_of = {}, {}
        for name, values in SCENARIOS.items():
            try:
                _, objects = ct.render(chart, values)
            except helm.HelmError as err:
                run._fail(f"render {name}", f"{type(err).__name__}: {err}")
                continue
            rendered[name], kinds_of[name] = objects, ct.by_kind(objects)
            run.check(f"render {name}", lambda: None)
        if "off" in kinds_of:
            run.check("off: no PodMonitor, PrometheusRule, ServiceMonitor or dashboard",
                      check_off, kinds_of["off"])
        if "on" in kinds_of:
            run.check("on: one of each, labelled, in place, the dashboard file as it is",
                      check_on, kinds_of["on"])
        if "on-no-clickhouse-dashboard-elsewhere" in kinds_of:
            run.check("clickhouse rules off, dashboard in another namespace",
                      check_dashboard_elsewhere, kinds_of["on-no-clickhouse-dashboard-elsewhere"])
        if rendered:
            run.check(f"k8s_validate --k8s-version {ct.K8S_VERSION} --crds <Prometheus Operator "
                      f"{prometheus_operator_crds.VERSION}> (every object, every scenario)",
                      check_validate, rendered)
        run.check("the CRD validation rejects a misspelt and a mistyped field",
                  check_validation_catches_a_wrong_field)
        run.check("schema rejects queueFillRatio 1.5", ct.check_rejected, chart,
                  {"prometheusRule": {"queueFillRatio": 1.5}}, "/prometheusRule/queueFillRatio")
        run.check("schema rejects an unknown prometheusRule key", ct.check_rejected, chart,
                  {"prometheusRule": {"enable": True}}, "enable")
        run.check("schema rejects a bad dashboard namespace", ct.check_rejected, chart,
                  {"grafanaDashboard": {"namespace": "Not_A_Namespace"}}, "/grafanaDashboard/namespace")
    print(f"monitoring_chart_test: {run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
