#!/usr/bin/env python3
"""Write every collector config in `otelhouse render` output to its own directory.

Usage: extract_configs.py RENDERED.yaml OUT_DIR

For each agent class: OUT_DIR/agent-<class>/pipelines.yaml (the shared ConfigMap
`otelhouse-agents-shared-<hash>`) and OUT_DIR/agent-<class>/class.yaml (the class's own ConfigMap),
the two files the agent's collector merges with two --config flags. For each gateway region:
OUT_DIR/gateway-<ConfigMap name>/config.yaml.

Prints one line per directory, "agent <dir>" or "gateway <dir>", for the caller to validate.
Exits 1 when the output has no agent config or no gateway config (nothing would be checked),
2 on a usage or setup error.
"""

import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    print("extract_configs: PyYAML is missing: pip install PyYAML", file=sys.stderr)
    sys.exit(2)

SHARED = "otelhouse-agents-shared"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    rendered, out = Path(sys.argv[1]), Path(sys.argv[2])
    with rendered.open(encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]

    shared = None
    classes = {}
    gateways = {}
    for doc in docs:
        if doc.get("kind") != "ConfigMap":
            continue
        meta = doc.get("metadata") or {}
        name = meta.get("name", "")
        data = doc.get("data") or {}
        component = (meta.get("labels") or {}).get("app.kubernetes.io/component")
        if name.startswith(SHARED + "-"):
            shared = data["pipelines.yaml"]
        elif component == "agent" and "class.yaml" in data:
            classes[name] = data["class.yaml"]
        elif component == "gateway" and "config.yaml" in data:
            gateways[name] = data["config.yaml"]

    problems = []
    if not classes:
        problems.append("no agent class ConfigMap (data key class.yaml)")
    elif shared is None:
        problems.append(f"agent class ConfigMaps but no {SHARED} ConfigMap")
    if not gateways:
        problems.append("no gateway ConfigMap (data key config.yaml)")
    if problems:
        for p in problems:
            print(f"extract_configs: {rendered}: {p}", file=sys.stderr)
        return 1

    for name, class_yaml in sorted(classes.items()):
        d = out / f"agent-{name.removeprefix('otelhouse-agent-')}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "pipelines.yaml").write_text(shared, encoding="utf-8")
        (d / "class.yaml").write_text(class_yaml, encoding="utf-8")
        print(f"agent {d}")
    for name, config in sorted(gateways.items()):
        d = out / f"gateway-{name}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.yaml").write_text(config, encoding="utf-8")
        print(f"gateway {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
