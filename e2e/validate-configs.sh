#!/usr/bin/env bash
# Validate every collector config the operator renders with the real collector.
#
# Renders the samples (config/samples/ and its node inventory) and the e2e resources
# (e2e/resources/ on e2e/nodes.yaml), extracts each collector config from the ConfigMaps
# (agents: the shared otelhouse-agents-shared-<hash> pipelines.yaml merged with the class's
# class.yaml, as the agent's two --config flags do; gateways: config.yaml), and runs
# `otelcol-contrib validate` on each in the pinned collector-contrib image.
#
# Needs: cargo, python3 with PyYAML, docker.
# Environment: COLLECTOR_IMAGE (default: the image the operator pins), PYTHON (default: the
# repo's .venv if present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

COLLECTOR_IMAGE="${COLLECTOR_IMAGE:-otel/opentelemetry-collector-contrib:0.150.1}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== building otelhouse"
cargo build --quiet --locked --bin otelhouse
otelhouse=target/debug/otelhouse

echo "== rendering"
"$otelhouse" render > "$work/samples.yaml"
"$otelhouse" render -f e2e/resources --nodes e2e/nodes.yaml > "$work/e2e.yaml"

: > "$work/list"
for set in samples e2e; do
  "$PYTHON" e2e/extract_configs.py "$work/$set.yaml" "$work/configs/$set" >> "$work/list"
done
# The collector image runs as a non-root user (10001): let it read the bind-mounted files.
chmod a+rx "$work"
chmod -R a+rX "$work/configs"

echo "== pulling $COLLECTOR_IMAGE"
docker pull --quiet "$COLLECTOR_IMAGE" >/dev/null

passed=0
failed=0
while read -r kind dir; do
  case "$kind" in
    agent) configs=(--config=/cfg/pipelines.yaml --config=/cfg/class.yaml) ;;
    gateway) configs=(--config=/cfg/config.yaml) ;;
    *) echo "unexpected line from extract_configs.py: $kind $dir" >&2; exit 2 ;;
  esac
  name="${dir#"$work/configs/"}"
  # The variables the configs reference as ${env:...}; the pods get them from the Downward
  # API (K8S_NODE_NAME) and the store's Secret (CLICKHOUSE_*).
  if out="$(docker run --rm -v "$dir:/cfg:ro" \
      -e CLICKHOUSE_USERNAME=x -e CLICKHOUSE_PASSWORD=y -e K8S_NODE_NAME=n \
      "$COLLECTOR_IMAGE" validate "${configs[@]}" 2>&1 </dev/null)"; then
    echo "ok    $name"
    passed=$((passed + 1))
  else
    echo "FAIL  $name"
    printf '%s\n' "$out" | sed 's/^/      /'
    failed=$((failed + 1))
  fi
done < "$work/list"

echo "validate-configs: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
