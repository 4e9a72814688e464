#!/usr/bin/env python3
"""Render the Helm chart charts/otelhouse with Helm v4's own library (PyPI helm-python-sdk) and
print every manifest, hooks included, as one multi-document YAML stream (NOTES.txt left out).

Usage: python3 tests/tools/helm_render.py [--namespace NS] [--release NAME] [--values JSON]
"""

import argparse
import json
import sys
from pathlib import Path

CHART = Path(__file__).resolve().parents[2] / "charts" / "otelhouse"

try:
    import helm_python as helm
except ImportError as err:
    print(f"helm_render: {err}; pip install -r tests/tools/requirements.txt", file=sys.stderr)
    sys.exit(2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespace", default="otelhouse-system")
    parser.add_argument("--release", default="otelhouse")
    parser.add_argument("--values", default="{}", help="values as JSON")
    args = parser.parse_args()
    with helm.Chart.load(CHART) as chart:
        out = chart.render(json.loads(args.values), name=args.release, namespace=args.namespace)
    for path in sorted(out):
        if path.endswith("NOTES.txt") or not out[path].strip():
            continue
        text = out[path]
        if not text.lstrip().startswith("---"):
            text = "---\n" + text
        sys.stdout.write(f"# Source: {path}\n{text.rstrip()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
