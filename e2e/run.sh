#!/usr/bin/env bash
# The kind end-to-end test: operator (Helm chart) + ClickHouse + the e2e custom resources on a
# 3-node kind cluster, 500 numbered log lines in, exactly 500 rows out, still exactly 500 after
# the agents and gateways restart, and the table kept when the pipeline is deleted.
# See e2e/README.md.
#
# Needs: docker, kind, kubectl, helm. Environment (all optional):
#   CLUSTER           kind cluster name (default otelhouse-e2e; must not exist yet)
#   KIND_NODE_IMAGE   node image (default: Kubernetes 1.33.1, the image kind v0.29.0 ships)
#   IMAGE_REPOSITORY  operator image repository (default otelhouse/otelhouse), tag IMAGE_TAG (e2e)
#   SKIP_BUILD=1      use an already built $IMAGE_REPOSITORY:$IMAGE_TAG
#   PRELOAD_IMAGES=0  let the nodes pull collector, ClickHouse and busybox themselves
#   KEEP_CLUSTER=1    keep the cluster afterwards (kubeconfig: kind export kubeconfig --name ...)
#   E2E_LOGS_DIR      on failure, `kind export logs` into this directory
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-otelhouse-e2e}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f}"
IMAGE_REPOSITORY="${IMAGE_REPOSITORY:-otelhouse/otelhouse}"
IMAGE_TAG="${IMAGE_TAG:-e2e}"
IMAGE="$IMAGE_REPOSITORY:$IMAGE_TAG"
COLLECTOR_IMAGE="${COLLECTOR_IMAGE:-otel/opentelemetry-collector-contrib:0.150.1}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PRELOAD_IMAGES="${PRELOAD_IMAGES:-1}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
E2E_LOGS_DIR="${E2E_LOGS_DIR:-}"

NS=otelhouse-system             # the operator's namespace (trusted), gateways and agents run here
APPS_NS=e2e-apps                # what the LogPipeline collects (e2e/log-generator.yaml)
PIPELINE=e2e                    # e2e/resources/pipeline.yaml
CLASS=e2e                       # e2e/resources/agentclass.yaml
TABLE=otel.app_logs
EXPECTED=500                    # lines the log generator prints
ZONES=(local-a local-b)         # one per worker; one gateway Deployment per zone
AGENT_SELECTOR="app.kubernetes.io/name=otelhouse-agent,otelhouse.dev/agent-class=$CLASS"
GATEWAY_SELECTOR="app.kubernetes.io/name=otelhouse-gateway,otelhouse.dev/pipeline-namespace=$NS,otelhouse.dev/pipeline-name=$PIPELINE"

work="$(mktemp -d)"
export KUBECONFIG="$work/kubeconfig"   # never touches ~/.kube/config
cluster_created=0

log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for WHAT SECONDS COMMAND...: run COMMAND every 3 s until it succeeds, or fail.
wait_for() {
  local what=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "timed out after ${timeout}s waiting for $what"
    fi
    sleep 3
  done
  echo "ok: $what"
}

# The Ready condition of a custom resource is True.
ready() {
  [ "$(kubectl get "$@" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

gateway_deployments() {
  kubectl -n "$NS" get deployments -l "$GATEWAY_SELECTOR" -o name 2>/dev/null
}
gateways_exist() { [ "$(gateway_deployments | grep -c .)" -eq "${#ZONES[@]}" ]; }
gateways_gone() { [ -z "$(gateway_deployments)" ]; }

agent_daemonsets() {
  kubectl -n "$NS" get daemonsets -l "$AGENT_SELECTOR" -o name 2>/dev/null
}
agents_exist() { [ -n "$(agent_daemonsets)" ]; }

# Wait until every agent DaemonSet and gateway Deployment has rolled out.
rollouts_done() {
  local obj
  for obj in $(agent_daemonsets) $(gateway_deployments); do
    kubectl -n "$NS" rollout status "$obj" --timeout=300s
  done
}

# Run a query in the ClickHouse pod as the e2e user (its own env has the credentials).
ch_query() {
  # shellcheck disable=SC2016 # expanded by the pod's shell, from the pod's environment
  kubectl -n "$NS" exec deploy/clickhouse -c clickhouse -- \
    sh -c 'exec clickhouse-client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --query "$1"' sh "$1"
}

# The e2e lines in the table: total, distinct bodies, JSON-parsed (LogAttributes.msg) and with
# the pod's namespace (k8s metadata from the log path), tab-separated.
COUNT_SQL="SELECT count(), uniqExact(Body), countIf(LogAttributes['msg'] LIKE 'e2e line %'), countIf(Namespace = '$APPS_NS') FROM $TABLE WHERE Body LIKE '%e2e line %'"
counts() { ch_query "$COUNT_SQL" 2>/dev/null || echo "0	0	0	0"; }
total_rows() { counts | cut -f1; }
at_least_expected() {
  local n
  n="$(total_rows)"
  echo "  rows so far: ${n:-0}"
  [ "${n:-0}" -ge "$EXPECTED" ]
}

# Which lines are duplicated or missing (on failure).
explain_counts() {
  echo "duplicated lines (first 20):"
  ch_query "SELECT Body, count() AS n FROM $TABLE WHERE Body LIKE '%e2e line %' GROUP BY Body HAVING n > 1 ORDER BY Body LIMIT 20" || true
  echo "missing line numbers:"
  ch_query "SELECT arrayFilter(i -> NOT has(seen, i), range(1, $((EXPECTED + 1)))) FROM (SELECT groupUniqArray(toUInt32OrZero(extract(Body, 'e2e line ([0-9]+)'))) AS seen FROM $TABLE WHERE Body LIKE '%e2e line %')" || true
}

# Exactly EXPECTED rows, all distinct, all parsed, all with their namespace.
assert_exact() {
  local when=$1 total uniq parsed ns
  IFS=$'\t' read -r total uniq parsed ns <<<"$(counts)"
  echo "$when: rows=$total distinct=$uniq json-parsed=$parsed namespace=$ns (expected $EXPECTED each)"
  if [ "$total" != "$EXPECTED" ] || [ "$uniq" != "$EXPECTED" ]; then
    explain_counts
  fi
  [ "$total" = "$EXPECTED" ] || fail "$when: $total rows, expected exactly $EXPECTED (loss or duplicates)"
  [ "$uniq" = "$EXPECTED" ] || fail "$when: $uniq distinct lines, expected $EXPECTED"
  [ "$parsed" = "$EXPECTED" ] || fail "$when: $parsed rows with LogAttributes['msg'], expected $EXPECTED (parse.json)"
  [ "$ns" = "$EXPECTED" ] || fail "$when: $ns rows with Namespace=$APPS_NS, expected $EXPECTED"
}

diagnostics() {
  set +e
  echo
  echo "################ diagnostics ################"
  kubectl get nodes -L topology.kubernetes.io/region -L topology.kubernetes.io/zone
  kubectl get agentclass,logpipeline,clickhousestore -A -o wide
  kubectl describe agentclass,logpipeline,clickhousestore -A
  kubectl get pods -A -o wide
  kubectl -n "$NS" get deployments,daemonsets,services,configmaps,hpa,pdb
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 60
  echo "---- operator logs"
  kubectl -n "$NS" logs deployment/otelhouse --all-containers --tail=400
  echo "---- agent logs"
  kubectl -n "$NS" logs -l "$AGENT_SELECTOR" --all-containers --prefix --tail=100
  echo "---- gateway logs"
  kubectl -n "$NS" logs -l "$GATEWAY_SELECTOR" --all-containers --prefix --tail=100
  echo "---- clickhouse"
  kubectl -n "$NS" logs deployment/clickhouse --tail=100
  ch_query "SELECT database, name, engine FROM system.tables WHERE database = 'otel'"
  ch_query "$COUNT_SQL"
  if [ -n "$E2E_LOGS_DIR" ]; then
    kind export logs "$E2E_LOGS_DIR" --name "$CLUSTER" >/dev/null && echo "kind logs: $E2E_LOGS_DIR"
  fi
}

on_exit() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && [ "$cluster_created" = 1 ]; then
    diagnostics
  fi
  if [ "$cluster_created" = 1 ]; then
    if [ "$KEEP_CLUSTER" = 1 ]; then
      echo "kept cluster $CLUSTER: kind export kubeconfig --name $CLUSTER"
    else
      kind delete cluster --name "$CLUSTER" >/dev/null 2>&1
    fi
  fi
  rm -rf "$work"
  if [ "$rc" -eq 0 ]; then echo "e2e: PASSED"; else echo "e2e: FAILED ($rc)" >&2; fi
  exit "$rc"
}
trap on_exit EXIT

# kind load, robust to Docker's containerd image store (multi-platform images there make
# `kind load docker-image` fail with "content digest not found"): save this platform only.
load_image() {
  local image=$1 tar
  tar="$work/image-$(printf '%s' "$image" | tr -c 'A-Za-z0-9._-' '_').tar"
  if docker image save --platform "$platform" -o "$tar" "$image" 2>/dev/null; then
    kind load image-archive "$tar" --name "$CLUSTER"
  else
    kind load docker-image "$image" --name "$CLUSTER"
  fi
  rm -f "$tar"
}
image_in() { sed -n 's/^ *image: *//p' "$1" | head -n 1; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (see e2e/README.md)"
done
platform="linux/$(docker version -f '{{.Server.Arch}}')"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  fail "a kind cluster named $CLUSTER exists: delete it (kind delete cluster --name $CLUSTER) or set CLUSTER"
fi

if [ "$SKIP_BUILD" != 1 ]; then
  log "building $IMAGE"
  docker build -t "$IMAGE" .
fi

log "creating kind cluster $CLUSTER ($KIND_NODE_IMAGE): 1 control plane, 2 workers"
cat > "$work/kind.yaml" <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
EOF
cluster_created=1
kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" --config "$work/kind.yaml" \
  --kubeconfig "$KUBECONFIG" --wait 180s
kubectl wait --for=condition=Ready nodes --all --timeout=180s

log "labelling workers: region local, zones ${ZONES[*]}"
mapfile -t workers < <(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' -o name | sort)
[ "${#workers[@]}" -eq "${#ZONES[@]}" ] || fail "expected ${#ZONES[@]} workers, found ${#workers[@]}"
for i in "${!workers[@]}"; do
  kubectl label --overwrite "${workers[$i]}" \
    topology.kubernetes.io/region=local "topology.kubernetes.io/zone=${ZONES[$i]}"
done
kubectl get nodes -L topology.kubernetes.io/region -L topology.kubernetes.io/zone

log "loading images into the nodes"
load_image "$IMAGE"
if [ "$PRELOAD_IMAGES" = 1 ]; then
  # One pull on the host instead of one per node; on any failure the nodes pull themselves.
  for image in "$COLLECTOR_IMAGE" "$(image_in e2e/clickhouse.yaml)" "$(image_in e2e/log-generator.yaml)"; do
    { docker pull --quiet "$image" >/dev/null && load_image "$image"; } \
      || echo "warning: could not preload $image; the nodes will pull it"
  done
fi

log "installing the operator (Helm chart)"
helm install otelhouse charts/otelhouse -n "$NS" --create-namespace \
  --set image.repository="$IMAGE_REPOSITORY" --set image.tag="$IMAGE_TAG" \
  --set image.pullPolicy=Never --set replicas=1 --set collectorImage="$COLLECTOR_IMAGE"
kubectl -n "$NS" rollout status deployment/otelhouse --timeout=180s

log "starting ClickHouse"
kubectl apply -f e2e/clickhouse.yaml
kubectl -n "$NS" rollout status deployment/clickhouse --timeout=300s
wait_for "ClickHouse answers queries" 120 ch_query "SELECT 1"

log "applying the e2e resources"
kubectl apply -f e2e/resources/
wait_for "ClickHouseStore e2e Ready" 180 ready clickhousestore/e2e
wait_for "agent DaemonSet created" 180 agents_exist
wait_for "${#ZONES[@]} gateway Deployments created (one per zone)" 180 gateways_exist
rollouts_done
wait_for "AgentClass $CLASS Ready" 180 ready "agentclass/$CLASS"
wait_for "LogPipeline $NS/$PIPELINE Ready" 300 ready -n "$NS" "logpipeline/$PIPELINE"
kubectl get agentclass,logpipeline,clickhousestore -A
[ "$(ch_query "EXISTS TABLE $TABLE")" = 1 ] || fail "$TABLE was not created"

log "starting the log generator ($EXPECTED lines)"
kubectl apply -f e2e/log-generator.yaml
kubectl -n "$APPS_NS" rollout status deployment/log-generator --timeout=180s
wait_for "$EXPECTED rows in $TABLE" 300 at_least_expected
sleep 15 # anything late (a duplicate) lands now
assert_exact "after ingest"

log "restarting the agents and the gateways"
for obj in $(agent_daemonsets) $(gateway_deployments); do
  kubectl -n "$NS" rollout restart "$obj"
done
rollouts_done
wait_for "LogPipeline $NS/$PIPELINE Ready" 180 ready -n "$NS" "logpipeline/$PIPELINE"
sleep 30 # restarted agents resume from their checkpoints; a re-read would land by now
assert_exact "after restarts"

log "deleting the LogPipeline (deletionPolicy: Retain)"
kubectl -n "$NS" delete "logpipeline/$PIPELINE" --timeout=120s
wait_for "gateway Deployments deleted" 180 gateways_gone
[ "$(ch_query "EXISTS TABLE $TABLE")" = 1 ] || fail "$TABLE was dropped; deletionPolicy Retain keeps it"
assert_exact "after deleting the pipeline (data retained)"
kubectl get agentclass,logpipeline,clickhousestore -A
