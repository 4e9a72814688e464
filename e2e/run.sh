#!/usr/bin/env bash
# The kind end-to-end test: operator (Helm chart, 2 replicas behind a Lease) + ClickHouse + the
# e2e custom resources on a 3-node kind cluster. See e2e/README.md for every step. It checks:
# - Pod Security: the release namespace otelhouse-system is created first, enforcing
#   `restricted`; the chart's agents' namespace otelhouse-agents is `privileged`; the operator,
#   gateway and agent pods are all admitted and Running, and no pod in otelhouse-system mounts a
#   hostPath;
# - leader election: both operator replicas Ready, exactly one leading (Lease otelhouse-leader),
#   also after `kubectl rollout restart`; a leader that stops releases the Lease;
# - FlowHealthy (the operator scrapes the gateways through their NetworkPolicy) and
#   status.volume (the stores' system tables) on the pipeline once its rows are in;
# - 500 numbered log lines in, exactly 500 rows out, still exactly 500 after the agents and
#   gateways restart; 3000 more lines written WHILE they restart, exactly 3000 rows out;
# - the HorizontalPodAutoscaler, not the operator, owns gateway replicas: a manual scale above
#   the plan survives a reconcile, an operator restart and a pipeline change;
# - deletion: a `deletionPolicy: Drop` pipeline's finalizer drops its tables and deletes its
#   gateways before the pipeline goes; a Retain pipeline's table stays;
# - `helm uninstall`: its cleanup hook leaves no object the operator made in either namespace,
#   while the ClickHouse table stays.
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

NS=otelhouse-system             # the release namespace (restricted): operator, gateways, Secrets, ClickHouse
AGENTS_NS=otelhouse-agents      # the agents' namespace (privileged), made by the chart (agents.namespace)
RELEASE=otelhouse
OPERATOR=otelhouse              # the operator Deployment (the chart's fullname)
OPERATOR_REPLICAS=2             # the chart's default `replicas`, with leader election
OPERATOR_SELECTOR="app.kubernetes.io/name=otelhouse,app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=operator,!batch.kubernetes.io/job-name"
LEASE=otelhouse-leader          # the leader-election Lease, in $NS
METRICS_PORT=8080               # the chart's metrics.port: /metrics of each operator pod
CLEANUP_JOB=otelhouse-cleanup   # the chart's pre-delete hook (otelhouse cleanup)
MANAGED="app.kubernetes.io/managed-by=otelhouse"   # the label of every object the operator makes
MANAGED_KINDS=deployments,statefulsets,daemonsets,configmaps,services,horizontalpodautoscalers,poddisruptionbudgets
APPS_NS=e2e-apps                # what the LogPipeline `e2e` collects (log-generator.yaml, log-stream.yaml)
DROP_NS=e2e-drop                # what the LogPipeline `drop` collects (drop-generator.yaml)
PIPELINE=e2e                    # e2e/resources/pipeline.yaml (deletionPolicy: Retain)
DROP_PIPELINE=drop              # e2e/resources/drop-pipeline.yaml (deletionPolicy: Drop)
DROP_FINALIZER=otelhouse.dev/drop-tables
CLASS=e2e                       # e2e/resources/agentclass.yaml
TABLE=otel.app_logs
DROP_TABLES="'drop_logs', 'drop_logs_ingest', 'drop_logs_mv'"   # database otel: target, ingest, view
MARKER="e2e line"               # log-generator.yaml: "e2e line 1" .. "e2e line 500"
EXPECTED=500
STREAM_MARKER="e2e stream line" # log-stream.yaml: "e2e stream line 1" .. "e2e stream line 3000"
STREAM_EXPECTED=3000
ZONES=(local-a local-b)         # one per worker; one gateway Deployment per zone and pipeline
AGENT_SELECTOR="app.kubernetes.io/name=otelhouse-agent,otelhouse.dev/agent-class=$CLASS"

# A pod that mounts a hostPath as root: `restricted` must refuse it, `privileged` admit it.
PSS_PROBE='apiVersion: v1
kind: Pod
metadata:
  name: e2e-pss-probe
spec:
  containers:
    - name: probe
      image: busybox:1.37
      command: [sleep, "1"]
      volumeMounts:
        - {name: pods, mountPath: /var/log/pods, readOnly: true}
  volumes:
    - name: pods
      hostPath: {path: /var/log/pods, type: Directory}'

work="$(mktemp -d)"
export KUBECONFIG="$work/kubeconfig"   # never touches ~/.kube/config
cluster_created=0
follow_pid=""
leader=""                       # the operator pod that leads (set by one_leader)

oneline() { tr '\n' ' ' <<<"$1"; }
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

# The Pod Security level a namespace enforces (its label).
pss_level() {
  kubectl get namespace "$1" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}'
}

# A server-side dry run of PSS_PROBE in namespace $1: admission runs, nothing is created.
pss_probe() { kubectl -n "$1" create --dry-run=server -f - <<<"$PSS_PROBE" 2>&1; }

# ---------------------------------------------------------------- gateways and agents

# gateway_selector [PIPELINE]: every gateway object of a pipeline of $NS.
gateway_selector() {
  echo "app.kubernetes.io/name=otelhouse-gateway,otelhouse.dev/pipeline-namespace=$NS,otelhouse.dev/pipeline-name=${1:-$PIPELINE}"
}
gateway_deployments() {
  kubectl -n "$NS" get deployments -l "$(gateway_selector "${1:-$PIPELINE}")" -o name 2>/dev/null
}
gateways_exist() { [ "$(gateway_deployments "${1:-$PIPELINE}" | grep -c .)" -eq "${#ZONES[@]}" ]; }
# Nothing of a pipeline's gateways is left: Deployments, HPAs, PDBs, Service, ConfigMap.
gateways_gone() {
  local left
  left="$(kubectl -n "$NS" get deployments,horizontalpodautoscalers,poddisruptionbudgets,services,configmaps \
    -l "$(gateway_selector "${1:-$PIPELINE}")" -o name)" || return 1
  [ -z "$left" ] || { echo "  left: $(oneline "$left")"; return 1; }
}

agent_daemonsets() {
  kubectl -n "$AGENTS_NS" get daemonsets -l "$AGENT_SELECTOR" -o name 2>/dev/null
}
agents_exist() { [ -n "$(agent_daemonsets)" ]; }
agents_desired() {
  kubectl -n "$AGENTS_NS" get daemonsets -l "$AGENT_SELECTOR" \
    -o jsonpath='{range .items[*]}{.status.desiredNumberScheduled}{"\n"}{end}' | awk '{n += $1} END {print n + 0}'
}

# rollouts_done [PIPELINE...]: every agent DaemonSet and these pipelines' gateway Deployments
# (default: the e2e pipeline's) have rolled out.
rollouts_done() {
  local obj p
  for obj in $(agent_daemonsets); do
    kubectl -n "$AGENTS_NS" rollout status "$obj" --timeout=300s
  done
  for p in "${@:-$PIPELINE}"; do
    for obj in $(gateway_deployments "$p"); do
      kubectl -n "$NS" rollout status "$obj" --timeout=300s
    done
  done
}

restart_agents_and_gateways() {
  local obj
  for obj in $(agent_daemonsets); do
    kubectl -n "$AGENTS_NS" rollout restart "$obj"
  done
  for obj in $(gateway_deployments); do
    kubectl -n "$NS" rollout restart "$obj"
  done
}

# pods_running WHAT NAMESPACE SELECTOR COUNT: exactly COUNT pods (terminating ones aside), all
# Running and Ready. Pod Security refuses a pod when it is created: a refused pod never exists,
# its controller reports FailedCreate instead.
pods_running() {
  local out live ok
  out="$(kubectl -n "$2" get pods -l "$3" \
    -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\t"}{.status.conditions[?(@.type=="Ready")].status}{"\t"}{.metadata.deletionTimestamp}{"\n"}{end}')" || return 1
  live="$(awk -F'\t' '$1 != "" && $4 == ""' <<<"$out" | grep -c . || true)"
  ok="$(awk -F'\t' '$4 == "" && $2 == "Running" && $3 == "True"' <<<"$out" | grep -c . || true)"
  echo "  $1 in $2: $ok of $4 Running and Ready ($live not terminating)"
  [ "$ok" -eq "$4" ] && [ "$live" -eq "$4" ]
}

# hostpath_pods NAMESPACE: "pod: volume..." for every pod there with a hostPath volume.
hostpath_pods() {
  local out
  out="$(kubectl -n "$1" get pods \
    -o jsonpath='{range .items[*]}{.metadata.name}{":"}{range .spec.volumes[?(@.hostPath)]}{" "}{.name}{end}{"\n"}{end}')" \
    || fail "could not list the pods of $1"
  grep ' ' <<<"$out" || true
}

# ---------------------------------------------------------------- the operator and its Lease

# The operator's pods that are not terminating, "name<TAB>Ready" a line.
operator_pods() {
  kubectl -n "$NS" get pods -l "$OPERATOR_SELECTOR" \
    -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.status.conditions[?(@.type=="Ready")].status}{"\t"}{.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null \
    | awk -F'\t' '$1 != "" && $3 == "" {print $1 "\t" $2}'
}
operator_pod_names() { operator_pods | cut -f1; }

# Exactly OPERATOR_REPLICAS operator pods, none terminating, all Ready: a standby is Ready as
# soon as its caches are synced, like the leader (else a rolling update could never finish).
operators_ready() {
  local all pods
  all="$(kubectl -n "$NS" get pods -l "$OPERATOR_SELECTOR" -o name 2>/dev/null | grep -c . || true)"
  pods="$(operator_pods)"
  echo "  operator pods: $(tr '\n\t' ' =' <<<"$pods")($all with terminating ones)"
  [ "$all" -eq "$OPERATOR_REPLICAS" ] && [ "$(grep -c $'\tTrue$' <<<"$pods" || true)" -eq "$OPERATOR_REPLICAS" ]
}
operators_gone() { [ -z "$(kubectl -n "$NS" get pods -l "$OPERATOR_SELECTOR" -o name 2>/dev/null)" ]; }

lease_holder() { kubectl -n "$NS" get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}'; }

# The operator pods whose log says they lead: "leading" is logged once the Lease is acquired.
# (The Lease's holderIdentity is a random id per process, not the pod's name.)
leading_pods() {
  local pod
  for pod in $(operator_pod_names); do
    if kubectl -n "$NS" logs "$pod" -c operator 2>/dev/null | grep -q '"message":"leading"'; then
      echo "$pod"
    fi
  done
}

# one_leader [NOT_HOLDER]: the Lease has a holder (other than NOT_HOLDER) and exactly one
# operator pod leads; it is then $leader.
one_leader() {
  local holder pods
  holder="$(lease_holder 2>/dev/null || true)"
  mapfile -t pods < <(leading_pods)
  echo "  Lease $LEASE holder: ${holder:-<none>}; leading: ${pods[*]:-<none>}"
  [ -n "$holder" ] && [ "$holder" != "${1:-}" ] && [ "${#pods[@]}" -eq 1 ] || return 1
  leader="${pods[0]}"
}

# reconciles_of POD [CONTROLLER]: the reconciles a pod has run (its /metrics through the API
# server's pod proxy), of one controller or all. A standby returns before counting one.
reconciles_of() {
  kubectl get --raw "/api/v1/namespaces/$NS/pods/$1:$METRICS_PORT/proxy/metrics" \
    | awk -v ctl="${2:-}" '$1 ~ /^otelhouse_reconciles_total/ && (ctl == "" || index($1, "controller=\"" ctl "\"")) {n += $2} END {print n + 0}'
}
# The leader has reconciled more than $1 times (logpipeline controller with $2=logpipeline).
leader_reconciled() {
  local n
  n="$(reconciles_of "$leader" "${2:-}")" || return 1
  echo "  $leader: $n reconciles${2:+ ($2)}"
  [ "$n" -gt "${1:-0}" ]
}
# Only the leader reconciles: every other operator pod has run none.
assert_standby_idle() {
  local pod n
  for pod in $(operator_pod_names); do
    if [ "$pod" != "$leader" ]; then
      n="$(reconciles_of "$pod")" || fail "could not read the metrics of $pod"
      echo "standby $pod: $n reconciles"
      [ "$n" = 0 ] || fail "the standby $pod ran $n reconciles: only the leader may reconcile"
    fi
  done
}

# ---------------------------------------------------------------- ClickHouse

# Run a query in the ClickHouse pod as the e2e user (its own env has the credentials).
ch_query() {
  # shellcheck disable=SC2016 # expanded by the pod's shell, from the pod's environment
  kubectl -n "$NS" exec deploy/clickhouse -c clickhouse -- \
    sh -c 'exec clickhouse-client --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" --query "$1"' sh "$1"
}

# count_sql MARKER: the lines "MARKER N" in the table: total, distinct bodies, JSON-parsed
# (LogAttributes.msg) and with the pod's namespace (k8s metadata from the log path),
# tab-separated.
count_sql() {
  echo "SELECT count(), uniqExact(Body), countIf(LogAttributes['msg'] LIKE '$1 %'), countIf(Namespace = '$APPS_NS') FROM $TABLE WHERE Body LIKE '%$1 %'"
}
counts() { ch_query "$(count_sql "${1:-$MARKER}")" 2>/dev/null || echo "0	0	0	0"; }
total_rows() { counts "${1:-$MARKER}" | cut -f1; }
# at_least [MARKER EXPECTED]: that many rows have arrived (default: the 500 lines).
at_least() {
  local n
  n="$(total_rows "${1:-$MARKER}")"
  echo "  rows so far: ${n:-0}"
  [ "${n:-0}" -ge "${2:-$EXPECTED}" ]
}

# explain_counts [MARKER EXPECTED]: which lines are duplicated or missing (on failure).
explain_counts() {
  local marker=${1:-$MARKER} expected=${2:-$EXPECTED}
  echo "duplicated lines (first 20):"
  ch_query "SELECT Body, count() AS n FROM $TABLE WHERE Body LIKE '%$marker %' GROUP BY Body HAVING n > 1 ORDER BY Body LIMIT 20" || true
  echo "missing line numbers:"
  ch_query "SELECT arrayFilter(i -> NOT has(seen, i), range(1, $((expected + 1)))) FROM (SELECT groupUniqArray(toUInt32OrZero(extract(Body, '$marker ([0-9]+)'))) AS seen FROM $TABLE WHERE Body LIKE '%$marker %')" || true
}

# assert_exact WHEN [MARKER EXPECTED]: exactly EXPECTED rows, all distinct, all parsed, all with
# their namespace (default: the 500 lines).
assert_exact() {
  local when=$1 marker=${2:-$MARKER} expected=${3:-$EXPECTED} total uniq parsed ns
  IFS=$'\t' read -r total uniq parsed ns <<<"$(counts "$marker")"
  echo "$when: \"$marker N\" rows=$total distinct=$uniq json-parsed=$parsed namespace=$ns (expected $expected each)"
  if [ "$total" != "$expected" ] || [ "$uniq" != "$expected" ]; then
    explain_counts "$marker" "$expected"
  fi
  [ "$total" = "$expected" ] || fail "$when: $total rows, expected exactly $expected (loss or duplicates)"
  [ "$uniq" = "$expected" ] || fail "$when: $uniq distinct lines, expected $expected"
  [ "$parsed" = "$expected" ] || fail "$when: $parsed rows with LogAttributes['msg'], expected $expected (parse.json)"
  [ "$ns" = "$expected" ] || fail "$when: $ns rows with Namespace=$APPS_NS, expected $expected"
}

# The tables of the Drop pipeline that exist, one a line.
drop_tables() {
  ch_query "SELECT name FROM system.tables WHERE database = 'otel' AND name IN ($DROP_TABLES) ORDER BY name"
}
drop_rows() { ch_query "SELECT count() FROM otel.drop_logs" 2>/dev/null || echo 0; }
drop_rows_arrived() {
  local n
  n="$(drop_rows)"
  echo "  rows in otel.drop_logs: ${n:-0}"
  [ "${n:-0}" -gt 0 ]
}

# ---------------------------------------------------------------- diagnostics and exit

diagnostics() {
  set +e
  echo
  echo "################ diagnostics ################"
  kubectl get nodes -L topology.kubernetes.io/region -L topology.kubernetes.io/zone
  kubectl get namespaces --show-labels
  kubectl get agentclass,logpipeline,clickhousestore -A -o wide
  kubectl describe agentclass,logpipeline,clickhousestore -A
  kubectl get pods -A -o wide
  for ns in "$NS" "$AGENTS_NS"; do
    echo "---- $ns"
    kubectl -n "$ns" get deployments,daemonsets,services,configmaps,hpa,pdb,jobs,leases -o wide
  done
  echo "---- lease $LEASE"
  kubectl -n "$NS" get lease "$LEASE" -o yaml
  echo "---- horizontal pod autoscalers"
  kubectl -n "$NS" describe hpa
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 80
  echo "---- operator logs"
  kubectl -n "$NS" logs -l "$OPERATOR_SELECTOR" --all-containers --prefix --tail=400
  echo "---- cleanup hook"
  [ -s "$work/cleanup.log" ] && cat "$work/cleanup.log"
  kubectl -n "$NS" logs "job/$CLEANUP_JOB" --tail=100 2>/dev/null
  echo "---- agent logs"
  kubectl -n "$AGENTS_NS" logs -l "$AGENT_SELECTOR" --all-containers --prefix --tail=100 --max-log-requests=10
  echo "---- gateway logs"
  kubectl -n "$NS" logs -l app.kubernetes.io/name=otelhouse-gateway --all-containers --prefix --tail=100 --max-log-requests=20
  echo "---- clickhouse"
  kubectl -n "$NS" logs deployment/clickhouse --tail=100
  ch_query "SELECT database, name, engine FROM system.tables WHERE database = 'otel'"
  ch_query "$(count_sql "$MARKER")"
  ch_query "$(count_sql "$STREAM_MARKER")"
  ch_query "SELECT Namespace, count() FROM otel.drop_logs GROUP BY Namespace"
  if [ -n "$E2E_LOGS_DIR" ]; then
    kind export logs "$E2E_LOGS_DIR" --name "$CLUSTER" >/dev/null && echo "kind logs: $E2E_LOGS_DIR"
  fi
}

on_exit() {
  local rc=$?
  set +e
  if [ -n "$follow_pid" ]; then
    kill "$follow_pid" 2>/dev/null
  fi
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

# ---------------------------------------------------------------- 1. image and cluster

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

# ---------------------------------------------------------------- 2. namespaces and the chart

log "creating $NS, enforcing Pod Security restricted, before installing"
kubectl create namespace "$NS"
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/warn=restricted

log "installing the operator (Helm chart: $OPERATOR_REPLICAS replicas, leader election)"
helm install "$RELEASE" charts/otelhouse -n "$NS" \
  --set image.repository="$IMAGE_REPOSITORY" --set image.tag="$IMAGE_TAG" \
  --set image.pullPolicy=Never --set collectorImage="$COLLECTOR_IMAGE" \
  --set flow.interval=10s --set usage.interval=20s
kubectl -n "$NS" rollout status "deployment/$OPERATOR" --timeout=180s
replicas="$(kubectl -n "$NS" get deployment "$OPERATOR" -o jsonpath='{.spec.replicas}')"
[ "$replicas" = "$OPERATOR_REPLICAS" ] || fail "the chart runs $replicas operator replicas, expected $OPERATOR_REPLICAS"
wait_for "all $OPERATOR_REPLICAS operator replicas Ready, leader or not" 120 operators_ready
wait_for "exactly one operator replica leads (Lease $LEASE)" 120 one_leader
echo "leader: $leader"

log "Pod Security levels: $NS restricted, $AGENTS_NS (made by the chart) privileged"
[ "$(pss_level "$NS")" = restricted ] || fail "$NS does not enforce restricted"
level="$(pss_level "$AGENTS_NS")" || fail "the chart did not create the namespace $AGENTS_NS"
[ "$level" = privileged ] || fail "$AGENTS_NS enforces '${level:-<none>}', expected privileged (the agents mount hostPaths as root)"
if out="$(pss_probe "$NS")"; then
  fail "a root pod with a hostPath is admitted in $NS: the namespace does not enforce restricted"
fi
grep -q 'violates PodSecurity "restricted' <<<"$out" || fail "the probe pod was refused in $NS, but not by Pod Security: $out"
echo "ok: $NS refuses a hostPath pod ($(grep -o 'violates PodSecurity "[^"]*"' <<<"$out"))"
out="$(pss_probe "$AGENTS_NS")" || fail "$AGENTS_NS refuses a hostPath pod, the agents could not run there: $out"
echo "ok: $AGENTS_NS admits a hostPath pod"

# ---------------------------------------------------------------- 3. ClickHouse

log "starting ClickHouse (restricted: non-root, no capabilities)"
kubectl apply -f e2e/clickhouse.yaml
kubectl -n "$NS" rollout status deployment/clickhouse --timeout=300s
wait_for "ClickHouse answers queries" 120 ch_query "SELECT 1"

# ---------------------------------------------------------------- 4. the e2e resources

log "applying the e2e resources (pipelines $PIPELINE and $DROP_PIPELINE) and the $DROP_NS generator"
kubectl apply -f e2e/resources/
kubectl apply -f e2e/drop-generator.yaml
wait_for "ClickHouseStore e2e Ready" 180 ready clickhousestore/e2e
wait_for "agent DaemonSet created in $AGENTS_NS" 180 agents_exist
wait_for "${#ZONES[@]} gateway Deployments of $PIPELINE created (one per zone)" 180 gateways_exist
wait_for "${#ZONES[@]} gateway Deployments of $DROP_PIPELINE created" 180 gateways_exist "$DROP_PIPELINE"
rollouts_done "$PIPELINE" "$DROP_PIPELINE"
wait_for "AgentClass $CLASS Ready" 180 ready "agentclass/$CLASS"
wait_for "LogPipeline $NS/$PIPELINE Ready" 300 ready -n "$NS" "logpipeline/$PIPELINE"
wait_for "LogPipeline $NS/$DROP_PIPELINE Ready" 300 ready -n "$NS" "logpipeline/$DROP_PIPELINE"
kubectl get agentclass,logpipeline,clickhousestore -A
[ "$(ch_query "EXISTS TABLE $TABLE")" = 1 ] || fail "$TABLE was not created"

log "admission: operator, gateway and agent pods Running; no hostPath in $NS"
planned="$(kubectl -n "$NS" get "logpipeline/$PIPELINE" -o jsonpath='{.status.gateways.planned}')"
drop_planned="$(kubectl -n "$NS" get "logpipeline/$DROP_PIPELINE" -o jsonpath='{.status.gateways.planned}')"
agents="$(agents_desired)"
[ "${planned:-0}" -gt 0 ] && [ "${drop_planned:-0}" -gt 0 ] || fail "no gateways planned ($planned, $drop_planned)"
[ "$agents" -gt 0 ] || fail "the agent DaemonSet schedules no pod"
wait_for "operator pods Running" 60 pods_running operator "$NS" "$OPERATOR_SELECTOR" "$OPERATOR_REPLICAS"
wait_for "gateway pods of $PIPELINE Running" 120 pods_running gateways "$NS" "$(gateway_selector)" "$planned"
wait_for "gateway pods of $DROP_PIPELINE Running" 120 pods_running gateways "$NS" "$(gateway_selector "$DROP_PIPELINE")" "$drop_planned"
wait_for "agent pods Running (one per node)" 120 pods_running agents "$AGENTS_NS" "$AGENT_SELECTOR" "$agents"
bad="$(hostpath_pods "$NS")"
[ -z "$bad" ] || fail "pods in $NS mount a hostPath (restricted forbids it; agents belong in $AGENTS_NS): $bad"
[ -n "$(hostpath_pods "$AGENTS_NS")" ] || fail "no pod in $AGENTS_NS has a hostPath: the hostPath check finds nothing"
echo "ok: no pod in $NS mounts a hostPath; the agents' do:"
hostpath_pods "$AGENTS_NS"

# ---------------------------------------------------------------- 5. 500 lines, then restarts

log "starting the log generator ($EXPECTED lines)"
kubectl apply -f e2e/log-generator.yaml
kubectl -n "$APPS_NS" rollout status deployment/log-generator --timeout=180s
wait_for "$EXPECTED rows in $TABLE" 300 at_least
sleep 15 # anything late (a duplicate) lands now
assert_exact "after ingest"

# FlowHealthy from the gateways' own metrics, read by the operator through the pool's
# NetworkPolicy (kindnet enforces it): Healthy while lines flow, NoData once the generator
# sleeps; Unknown would mean the operator cannot reach the metrics port.
flow_reason() {
  kubectl -n "$NS" get logpipeline "$PIPELINE" \
    -o jsonpath='{.status.conditions[?(@.type=="FlowHealthy")].reason}' 2>/dev/null
}
flow_ok() { case "$(flow_reason)" in Healthy | NoData) return 0 ;; *) return 1 ;; esac; }
# The usage loop's rows of the pipeline's tables, from the store's system.parts.
volume_rows_ok() {
  local n
  n="$(kubectl -n "$NS" get logpipeline "$PIPELINE" -o jsonpath='{.status.volume.rows}' 2>/dev/null)"
  [ "${n:-0}" -ge "$EXPECTED" ]
}
log "flow health and volume in status"
wait_for "FlowHealthy Healthy or NoData on LogPipeline $PIPELINE" 180 flow_ok
wait_for "status.volume.rows >= $EXPECTED on LogPipeline $PIPELINE" 180 volume_rows_ok

log "restarting the agents and the gateways"
restart_agents_and_gateways
rollouts_done
wait_for "LogPipeline $NS/$PIPELINE Ready" 180 ready -n "$NS" "logpipeline/$PIPELINE"
sleep 30 # restarted agents resume from their checkpoints; a re-read would land by now
assert_exact "after restarts"

# ---------------------------------------------------------------- 6. lines written during restarts

# stream_written: how many lines the two stream generators have printed so far.
stream_written() {
  local d n total=0
  for d in log-stream-a log-stream-b; do
    n="$(kubectl -n "$APPS_NS" logs "deployment/$d" 2>/dev/null | grep -c "$STREAM_MARKER" || true)"
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

log "writing $STREAM_EXPECTED lines at 20/s (e2e/log-stream.yaml), restarting agents and gateways meanwhile"
kubectl apply -f e2e/log-stream.yaml
kubectl -n "$APPS_NS" rollout status deployment/log-stream-a --timeout=180s
kubectl -n "$APPS_NS" rollout status deployment/log-stream-b --timeout=180s
wait_for "the first streamed rows in $TABLE" 120 at_least "$STREAM_MARKER" 100
written="$(stream_written)"
[ "$written" -lt "$STREAM_EXPECTED" ] \
  || fail "the stream generators were done before the restarts began: nothing is written during them"
log "restarting the agents and the gateways mid-stream ($written of $STREAM_EXPECTED lines written)"
restart_agents_and_gateways
rollouts_done
written="$(stream_written)"
echo "restarts done: $written of $STREAM_EXPECTED lines written, $(total_rows "$STREAM_MARKER") rows in"
if [ "$written" -ge "$STREAM_EXPECTED" ]; then
  echo "warning: the generators finished before the rollouts did; only part of the restarts overlapped the writing"
fi
wait_for "$STREAM_EXPECTED streamed rows in $TABLE" 300 at_least "$STREAM_MARKER" "$STREAM_EXPECTED"
wait_for "LogPipeline $NS/$PIPELINE Ready" 180 ready -n "$NS" "logpipeline/$PIPELINE"
sleep 30 # retried batches and re-read lines (duplicates) land by now
assert_exact "lines written during restarts" "$STREAM_MARKER" "$STREAM_EXPECTED"
assert_exact "first lines, after the second restarts"

# ---------------------------------------------------------------- 7. the HPA owns gateway replicas

# assert_replicas DEPLOYMENT REPLICAS WHEN
assert_replicas() {
  local n
  n="$(kubectl -n "$NS" get deployment "$1" -o jsonpath='{.spec.replicas}')"
  echo "$3: $1 spec.replicas=$n (expected $2)"
  [ "$n" = "$2" ] || fail "$3: $1 was set back to $n replicas: the operator wrote replicas, which its HorizontalPodAutoscaler owns"
}
observed() {
  [ "$(kubectl -n "$NS" get "logpipeline/$PIPELINE" -o jsonpath='{.status.observedGeneration}')" = "$1" ]
}
config_hash_of() {
  kubectl -n "$NS" get deployment "$1" -o jsonpath='{.spec.template.metadata.annotations.otelhouse\.dev/config-hash}'
}
config_hash_changed() { [ "$(config_hash_of "$1")" != "$2" ]; }

log "the HorizontalPodAutoscaler owns gateway replicas: scaling one gateway above its plan"
gw="$(gateway_deployments | sort | head -n 1)"
gw="${gw#deployment.apps/}"
[ -n "$gw" ] || fail "no gateway Deployment of $PIPELINE"
zone="$(kubectl -n "$NS" get deployment "$gw" -o jsonpath='{.metadata.labels.otelhouse\.dev/zone}')"
plan="$(kubectl -n "$NS" get hpa "$gw" -o jsonpath='{.spec.minReplicas}')"
hpa_max="$(kubectl -n "$NS" get hpa "$gw" -o jsonpath='{.spec.maxReplicas}')"
zone_plan="$(kubectl -n "$NS" get "logpipeline/$PIPELINE" -o jsonpath="{.status.gateways.zones[?(@.zone==\"$zone\")].planned}")"
[ -n "$plan" ] && [ "$plan" = "$zone_plan" ] \
  || fail "the HPA $gw has floor '${plan:-<none>}', the plan for zone $zone is '${zone_plan:-<none>}'"
assert_replicas "$gw" "$plan" "at creation (the plan, set once through the scale subresource)"
want=$((plan + 1))
# kind has no metrics-server: the HPA cannot read CPU and leaves replicas between its floor and
# maxReplicas as they are, so only the operator could set them back.
[ "$want" -le "$hpa_max" ] \
  || fail "plan+1 ($want) is above the HPA's maxReplicas ($hpa_max): the HPA itself would scale it back"
kubectl -n "$NS" scale "deployment/$gw" --replicas="$want"
kubectl -n "$NS" rollout status "deployment/$gw" --timeout=180s
wait_for "one operator replica leads" 60 one_leader
n0="$(reconciles_of "$leader" logpipeline)" || fail "could not read the metrics of $leader"
kubectl -n "$NS" annotate "logpipeline/$PIPELINE" "e2e/poke=$(date +%s)" --overwrite
wait_for "the leader $leader reconciled $PIPELINE after the poke" 60 leader_reconciled "$n0" logpipeline
sleep 10 # the reconcile's applies are done by now
assert_replicas "$gw" "$want" "after a reconcile"

log "restarting the operator (kubectl rollout restart)"
holder="$(lease_holder)"
kubectl -n "$NS" rollout restart "deployment/$OPERATOR"
kubectl -n "$NS" rollout status "deployment/$OPERATOR" --timeout=300s
wait_for "all $OPERATOR_REPLICAS new operator replicas Ready, the old ones gone" 180 operators_ready
wait_for "exactly one new operator replica leads" 120 one_leader "$holder"
echo "leader: $leader"
wait_for "the new leader $leader reconciled" 120 leader_reconciled 0
assert_standby_idle
sleep 10 # the new leader reconciled everything once: its applies are done by now
assert_replicas "$gw" "$want" "after the operator restarted"

log "stopping the operator: the leader releases the Lease"
kubectl -n "$NS" scale "deployment/$OPERATOR" --replicas=0
wait_for "operator pods gone" 120 operators_gone
holder="$(lease_holder)" || fail "the Lease $LEASE is gone"
[ -z "$holder" ] || fail "the Lease $LEASE is still held by $holder after the operator stopped: the leader did not release it"
echo "ok: the Lease has no holder"
kubectl -n "$NS" scale "deployment/$OPERATOR" --replicas="$OPERATOR_REPLICAS"
kubectl -n "$NS" rollout status "deployment/$OPERATOR" --timeout=180s
wait_for "all $OPERATOR_REPLICAS operator replicas Ready" 180 operators_ready
wait_for "exactly one operator replica leads" 120 one_leader
wait_for "the leader $leader reconciled" 120 leader_reconciled 0

log "a pipeline change after the restarts: applied, and the manual scale stays"
generation="$(kubectl -n "$NS" get "logpipeline/$PIPELINE" -o jsonpath='{.metadata.generation}')"
hash="$(config_hash_of "$gw")"
kubectl -n "$NS" patch "logpipeline/$PIPELINE" --type merge -p '{"spec":{"gateway":{"batch":{"timeout":"2s"}}}}'
new_generation="$(kubectl -n "$NS" get "logpipeline/$PIPELINE" -o jsonpath='{.metadata.generation}')"
[ "$new_generation" -gt "$generation" ] || fail "the patch did not change $PIPELINE's spec"
wait_for "status.observedGeneration = $new_generation" 120 observed "$new_generation"
wait_for "the change applied to $gw (its config hash changed)" 60 config_hash_changed "$gw" "$hash"
rollouts_done
wait_for "LogPipeline $NS/$PIPELINE Ready" 180 ready -n "$NS" "logpipeline/$PIPELINE"
assert_replicas "$gw" "$want" "after the change re-applied the Deployment"
[ "$(kubectl -n "$NS" get hpa "$gw" -o jsonpath='{.spec.minReplicas}')" = "$plan" ] \
  || fail "the HPA $gw no longer has the plan ($plan) as its floor"
assert_exact "after the gateways rolled" "$STREAM_MARKER" "$STREAM_EXPECTED"
assert_exact "after the gateways rolled"

# ---------------------------------------------------------------- 8. deletionPolicy: Drop

log "LogPipeline $DROP_PIPELINE (deletionPolicy: Drop): rows arrive, then deleting it drops its tables"
finalizers="$(kubectl -n "$NS" get "logpipeline/$DROP_PIPELINE" -o jsonpath='{.metadata.finalizers}')"
grep -qF "$DROP_FINALIZER" <<<"$finalizers" || fail "$DROP_PIPELINE has no finalizer $DROP_FINALIZER (finalizers: ${finalizers:-none})"
tables="$(drop_tables)"
[ "$(grep -c . <<<"$tables" || true)" -eq 3 ] || fail "expected the 3 tables $DROP_TABLES, found: $tables"
wait_for "rows in otel.drop_logs" 180 drop_rows_arrived
[ "$(ch_query "SELECT countIf(Namespace != '$DROP_NS') FROM otel.drop_logs")" = 0 ] \
  || fail "otel.drop_logs has rows from outside $DROP_NS"
[ "$(ch_query "SELECT count() FROM $TABLE WHERE Namespace = '$DROP_NS'")" = 0 ] \
  || fail "$TABLE has rows from $DROP_NS, which only $DROP_PIPELINE collects"
kubectl -n "$NS" delete "logpipeline/$DROP_PIPELINE" --wait=false
echo "deleting: $(kubectl -n "$NS" get "logpipeline/$DROP_PIPELINE" --ignore-not-found \
  -o jsonpath='deletionTimestamp={.metadata.deletionTimestamp} finalizers={.metadata.finalizers}')"
pipeline_gone() {
  local out
  out="$(kubectl -n "$NS" get "logpipeline/$1" --ignore-not-found -o name)" && [ -z "$out" ]
}
wait_for "LogPipeline $DROP_PIPELINE gone (its finalizer removed)" 180 pipeline_gone "$DROP_PIPELINE"
# The finalizer goes last: once the object is gone, its tables and gateways must be gone already.
tables="$(drop_tables)"
[ -z "$tables" ] || fail "LogPipeline $DROP_PIPELINE is gone but its tables remain: $(oneline "$tables")"
echo "ok: no table of $DROP_TABLES left"
gateways_gone "$DROP_PIPELINE" || fail "LogPipeline $DROP_PIPELINE is gone but its gateway objects remain"
echo "ok: the gateways of $DROP_PIPELINE are gone"
[ "$(ch_query "EXISTS TABLE $TABLE")" = 1 ] || fail "dropping $DROP_PIPELINE's tables dropped $TABLE"

# ---------------------------------------------------------------- 9. deletionPolicy: Retain

log "deleting the LogPipeline $PIPELINE (deletionPolicy: Retain)"
kubectl -n "$NS" delete "logpipeline/$PIPELINE" --timeout=120s
wait_for "gateways of $PIPELINE deleted" 180 gateways_gone
[ "$(ch_query "EXISTS TABLE $TABLE")" = 1 ] || fail "$TABLE was dropped; deletionPolicy Retain keeps it"
assert_exact "after deleting the pipeline (data retained)"
assert_exact "after deleting the pipeline (data retained)" "$STREAM_MARKER" "$STREAM_EXPECTED"
kubectl get agentclass,logpipeline,clickhousestore -A

# ---------------------------------------------------------------- 10. helm uninstall

managed_objects() { kubectl -n "$1" get "$MANAGED_KINDS" -l "$MANAGED" -o name; }
# follow_cleanup_log FILE: the cleanup hook Job's log into FILE while `helm uninstall` runs (Helm
# deletes the Job once it succeeded), until FILE has it or $work/uninstalled exists.
follow_cleanup_log() {
  local deadline=$((SECONDS + 420))
  until [ -s "$1" ] || [ -e "$work/uninstalled" ] || [ "$SECONDS" -ge "$deadline" ]; do
    kubectl -n "$NS" logs -f "job/$CLEANUP_JOB" >"$1" 2>/dev/null || true
    sleep 1
  done
}

log "re-creating LogPipeline $PIPELINE: uninstalling must clean up gateways as well as agents"
kubectl apply -f e2e/resources/pipeline.yaml
wait_for "${#ZONES[@]} gateway Deployments of $PIPELINE created" 180 gateways_exist
rollouts_done
wait_for "LogPipeline $NS/$PIPELINE Ready" 300 ready -n "$NS" "logpipeline/$PIPELINE"
made_ns="$(managed_objects "$NS")"
made_agents="$(managed_objects "$AGENTS_NS")"
echo "made by the operator in $NS: $(oneline "$made_ns")"
echo "made by the operator in $AGENTS_NS: $(oneline "$made_agents")"
[ -n "$made_ns" ] && [ -n "$made_agents" ] || fail "nothing to clean up in $NS or $AGENTS_NS: the uninstall check would prove nothing"
made="$(( $(grep -c . <<<"$made_ns") + $(grep -c . <<<"$made_agents") ))"

log "helm uninstall (pre-delete hook: otelhouse cleanup)"
follow_cleanup_log "$work/cleanup.log" &
follow_pid=$!
helm uninstall "$RELEASE" -n "$NS" --timeout 5m
touch "$work/uninstalled"
wait "$follow_pid" || true
follow_pid=""
left_ns="$(managed_objects "$NS")"
[ -z "$left_ns" ] || fail "after uninstalling, objects made by the operator remain in $NS: $(oneline "$left_ns")"
# Helm deletes the agents' namespace (the chart made it) right after the hook, and with it
# whatever the hook left: this only catches leftovers the namespace deletion has not reached yet.
# The hook's own count below is what shows it cleaned up $AGENTS_NS too.
left_agents="$(managed_objects "$AGENTS_NS" 2>/dev/null || true)"
[ -z "$left_agents" ] || fail "after uninstalling, objects made by the operator remain in $AGENTS_NS: $(oneline "$left_agents")"
if [ -s "$work/cleanup.log" ]; then
  echo "cleanup hook: $(cat "$work/cleanup.log")"
  deleted="$(sed -n 's/.*deleted \([0-9][0-9]*\) object.*/\1/p' "$work/cleanup.log" | tail -n 1)"
  [ "${deleted:-0}" -eq "$made" ] \
    || fail "the cleanup hook deleted ${deleted:-no} object(s), the operator had made $made in $NS and $AGENTS_NS"
  echo "ok: the hook deleted all $made objects made by the operator, in both namespaces"
else
  echo "warning: could not read the cleanup hook's log (its Job is deleted once it succeeded)"
fi
wait_for "operator pods gone" 120 operators_gone
echo "namespace $AGENTS_NS: $(kubectl get namespace "$AGENTS_NS" --ignore-not-found -o jsonpath='{.status.phase}')"
echo "Lease $LEASE holder after uninstalling: '$(lease_holder 2>/dev/null || true)'"
[ "$(ch_query "EXISTS TABLE $TABLE")" = 1 ] || fail "uninstalling dropped $TABLE; tables stay"
# The lines are all there; $PIPELINE was re-created above, and re-reading files it had read
# before would show as duplicates: reported, not failed (not what this step checks).
for m in "$MARKER:$EXPECTED" "$STREAM_MARKER:$STREAM_EXPECTED"; do
  IFS=$'\t' read -r total uniq _ _ <<<"$(counts "${m%:*}")"
  echo "after uninstalling: \"${m%:*} N\" rows=$total distinct=$uniq (expected ${m##*:})"
  [ "$uniq" = "${m##*:}" ] || { explain_counts "${m%:*}" "${m##*:}"; fail "after uninstalling: $uniq distinct \"${m%:*} N\" lines, expected ${m##*:}"; }
  [ "$total" = "$uniq" ] || echo "warning: $((total - uniq)) duplicated \"${m%:*} N\" rows since $PIPELINE was re-created"
done
kubectl get crd logpipelines.otelhouse.dev >/dev/null || fail "uninstalling deleted the CRDs"
kubectl -n "$NS" get "logpipeline/$PIPELINE" >/dev/null || fail "uninstalling deleted the LogPipeline $PIPELINE; custom resources stay"
kubectl get agentclass,logpipeline,clickhousestore -A
