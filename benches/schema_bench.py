#!/usr/bin/env python3
"""Compare two ClickHouse log schemas on the same synthetic Kubernetes logs, in one chdb run.

    python3 benches/schema_bench.py                      # 5M rows, both schemas, table on stdout
    python3 benches/schema_bench.py --rows 1000000       # quick exploration
    python3 benches/schema_bench.py --ddl my_layout.sql  # schema B from the operator's own DDL

Schema A is the OpenTelemetry ClickHouse exporter's default logs table (rendered template in
benches/exporter_default_logs.sql); the bench inserts straight into it, as the exporter does.
Schema B is the otelhouse layout: a Null ingest table, a materialized view and a MergeTree target
(benches/otelhouse_default_logs.sql, what the operator generates for benches/app_logs_pipeline.yaml, unless --ddl is given); the bench inserts into the ingest table.

Both get the same rows, in the same order and the same batches. The rows are generated once inside
ClickHouse (INSERT ... SELECT from numbers(), deterministic hashes of the row number, no random
functions) into a staging table; each batch is then copied from the staging table into schema A
and into schema B in turn, and only those copies are timed. Background merges are stopped on both
targets, so both end with the same parts (one per batch and day), measured as inserted.

Each query runs once to warm up, then --runs times per schema (interleaved A, B, A, B, ...); the
table shows the median latency and the rows read (ClickHouse's own read_rows of the query, from
the FORMAT JSON statistics: chdb has no system.query_log), with the query condition cache and the
query result cache off. Both schemas must give the same answer to every query (checked).

The queries are the ones a user writes. A is queried as HyperDX queries the exporter's table: its
materialized `__otel_materialized_k8s.*` columns, a time range on both toStartOfFiveMinutes(Timestamp)
(the key's first column: a range on Timestamp alone does not use it) and Timestamp, and
hasToken(lower(Body), ...) (its text index is on lower(Body)). B is queried on Namespace, PodName
and Timestamp, and hasToken on whatever Body expression it indexes.

    --rows N      rows to generate (default 5,000,000; 1,000,000 with --batch 100000 gives the same
                  11 parts as the default and runs in ~30 s)
    --ddl FILE    schema B (statements ending with ';' at the end of a line; the one Null table is
                  the insert target, the one materialized view's TO table is queried; the views
                  named *_rollup_* feed rollups, and the hourly one answers the 24 h "severity by
                  service" again, compared with B's raw answer)
    --runs K      timed runs per query and schema (default 5)
    --cpu         also show the median process CPU time per query (steadier than wall time when
                  something else shares the cores; the header shows the load average)
    --optimize    robustness check, not the default: OPTIMIZE ... FINAL both targets first
    -v            per-index and per-column sizes, and the SQL of every query

A run at the default 5M rows takes about 2 minutes and ~3 GB of temporary disk on 2 cores.
Needs only the standard library and chdb (pip install chdb-core).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_A = HERE / "exporter_default_logs.sql"
DEFAULT_B = HERE / "otelhouse_default_logs.sql"

# The exporter's INSERT column list (logs_insert.sql plus the EventName feature column).
INSERT_COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber",
    "ServiceName", "Body", "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl",
    "ScopeName", "ScopeVersion", "ScopeAttributes", "LogAttributes", "EventName",
]

QUERY_SETTINGS = "use_query_condition_cache = 0, use_query_cache = 0"

START = "2026-11-01 06:00:00"  # the data spans 24 h from here (so it straddles one midnight)
SPAN_NS = 86_400 * 10**9
PODS = 2000


# --------------------------------------------------------------------------------------------
# SQL helpers


def split_sql(text: str) -> list[str]:
    """Statements of a DDL file: `--` comment lines dropped, split at `;` ending a line."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    out, cur = [], []
    for ln in lines:
        cur.append(ln)
        if ln.rstrip().endswith(";"):
            stmt = "\n".join(cur).strip().rstrip(";").strip()
            if stmt:
                out.append(stmt)
            cur = []
    rest = "\n".join(cur).strip()
    if rest:
        out.append(rest)
    return out


def arr(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


class DB:
    def __init__(self, path: str):
        from chdb.session import Session

        self.s = Session(path)

    def run(self, sql: str) -> str:
        r = self.s.query(sql, "TabSeparated")
        return r.bytes().decode() if r is not None else ""

    def rows(self, sql: str) -> list[list[str]]:
        out = self.run(sql)
        return [ln.split("\t") for ln in out.splitlines() if ln != ""]

    def value(self, sql: str) -> str:
        return self.rows(sql)[0][0]

    def json(self, sql: str) -> dict:
        r = self.s.query(sql, "JSON")
        return json.loads(r.bytes())

    def close(self):
        try:
            self.s.close()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# Synthetic Kubernetes logs

PFX = ["order", "payment", "user", "cart", "search", "inventory", "shipping", "billing", "auth",
       "catalog", "review", "notification", "recommendation", "pricing", "ledger", "fraud",
       "report", "media", "profile", "session"]
SFX = ["api", "worker", "service", "consumer", "scheduler", "gateway", "db", "cache", "indexer",
       "exporter", "frontend", "backend", "sync", "processor", "web", "cron", "proxy", "store",
       "engine", "manager", "controller", "handler", "agent", "bridge", "relay"]
NAMESPACES = ["default", "kube-system", "monitoring", "ingress-nginx", "cert-manager", "logging",
              "payments", "checkout", "search", "identity", "catalog", "orders", "shipping",
              "billing", "fraud", "media", "analytics", "data-pipeline", "ml-serving",
              "ml-training", "platform", "istio-system", "argocd", "vault", "kafka", "redis",
              "postgres", "clickhouse", "team-alpha", "team-beta", "team-gamma", "team-delta",
              "staging-web", "staging-api", "batch", "reporting", "notifications", "frontend",
              "backoffice", "partner-api"]
K8S_CHARS = "bcdfghjklmnpqrstvwxz2456789"
METHODS = ["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "GET"]
PATHS = ["/api/v1/orders/{id}", "/api/v1/users/{id}/profile", "/api/v1/cart/{id}/items",
         "/healthz", "/metrics", "/api/v2/search?q={w}&page={p}", "/static/js/app.{h}.js",
         "/api/v1/payments/{id}/capture", "/login", "/api/v1/inventory/sku-{id}",
         "/api/v1/shipments/{id}/track", "/api/v1/reviews?product={id}", "/readyz",
         "/api/v1/invoices/{id}.pdf", "/graphql", "/api/v1/sessions/{h}"]
WORDS = ["shoes", "laptop", "coffee", "headphones", "garden", "bike", "camera", "book", "watch",
         "tent", "jacket", "printer", "monitor", "kettle", "guitar", "stroller"]
UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
       "kube-probe/1.33", "Prometheus/3.1.0", "okhttp/4.12.0", "Go-http-client/2.0",
       "python-requests/2.32.3", "curl/8.11.0", "Apache-HttpClient/5.4 (Java/21.0.5)"]
INFO_MSGS = ["handled request", "cache hit", "cache miss", "connected to database",
             "order created", "payment authorized", "user logged in", "token refreshed",
             "published event to topic", "consumed message from topic", "health check ok",
             "scheduled job started", "scheduled job finished", "config reloaded",
             "file uploaded", "email sent", "invoice generated", "lease acquired",
             "shard rebalanced", "request completed", "fetched recommendations",
             "updated inventory count", "session created", "webhook delivered",
             "batch committed", "snapshot written", "feature flag evaluated", "price computed"]
DEBUG_MSGS = ["entering handler", "sql query prepared", "cache lookup", "serialized response",
              "acquired connection from pool", "released connection", "parsed headers",
              "resolved dns", "retry budget remaining", "span exported"]
WARN_MSGS = ["slow query detected", "retrying request", "rate limit approaching",
             "connection pool nearly exhausted", "deprecated api version used",
             "response size exceeds soft limit", "lease renewal late", "high gc pause",
             "upstream responded slowly", "certificate expires soon"]
ERROR_MSGS = ["upstream timeout", "failed to parse payload", "connection refused",
              "payment declined by processor", "database deadlock detected",
              "circuit breaker opened", "permission denied", "message handler panicked",
              "failed to acquire lease", "context deadline exceeded", "out of memory",
              "unexpected end of json input", "null pointer dereference", "disk quota exceeded"]
CLASSES = ["OrderService", "PaymentController", "UserRepository", "CartHandler", "KafkaListener",
           "HttpClientWrapper", "RetryTemplate", "JdbcTemplate", "SessionFilter", "PriceCalculator"]
METHODS_JAVA = ["handle", "process", "execute", "doFilter", "invoke", "apply", "lambda$run$0",
                "onMessage", "call", "save"]
EXCEPTIONS = ["java.lang.IllegalStateException", "java.lang.NullPointerException",
              "java.net.SocketTimeoutException", "java.sql.SQLTransientConnectionException",
              "org.springframework.dao.DeadlockLoserDataAccessException",
              "java.util.concurrent.TimeoutException"]
JSON_LOGGERS = ["handler", "repo", "client", "service", "consumer", "scheduler"]


def generate_sql(n_rows: int) -> str:
    """INSERT ... SELECT that fills bench.src with n_rows deterministic log rows, in time order."""
    step = SPAN_NS // n_rows
    return f"""
INSERT INTO bench.src
SELECT
    n,
    ts AS Timestamp,
    if(traced, concat(leftPad(lower(hex(cityHash64(g, 31))), 16, '0'),
                      leftPad(lower(hex(cityHash64(g, 32))), 16, '0')), '') AS TraceId,
    if(traced, leftPad(lower(hex(cityHash64(n, 33))), 16, '0'), '') AS SpanId,
    toUInt8(traced) AS TraceFlags,
    sev AS SeverityText,
    [5, 9, 13, 17, 21][sev_i + 1] AS SeverityNumber,
    svc AS ServiceName,
    body AS Body,
    '' AS ResourceSchemaUrl,
    mapFromArrays(
        ['cloud.region', 'host.name', 'k8s.cluster.name', 'k8s.container.name',
         'k8s.container.restart_count', if(sts, 'k8s.statefulset.name', 'k8s.deployment.name'),
         'k8s.namespace.name', 'k8s.node.name', 'k8s.pod.name', 'k8s.pod.uid', 'service.name'],
        ['eu-west-1', node, 'prod-eu-west-1', container, toString(restarts), svc,
         ns, node, pod_name, pod_uid, svc]) AS ResourceAttributes,
    '' AS ScopeSchemaUrl,
    '' AS ScopeName,
    '' AS ScopeVersion,
    CAST(map(), 'Map(String, String)') AS ScopeAttributes,
    mapFromArrays(
        arrayConcat(['log.iostream', 'log.file.path', 'level', 'logger', 'thread'],
                    if(has_rid AND (h2 % 5 < 3), ['request_id'], [])),
        arrayConcat([if(sev_i >= 2, 'stderr', 'stdout'),
                     concat('/var/log/pods/', ns, '_', pod_name, '_', pod_uid, '/', container, '/',
                            toString(restarts), '.log'),
                     lower(sev), logger, thread],
                    if(has_rid AND (h2 % 5 < 3), [rid], []))) AS LogAttributes,
    '' AS EventName
FROM
(
    SELECT
        number AS n,
        {START_NS_EXPR} AS start_ns,
        cityHash64(number, 10) AS h0,
        fromUnixTimestamp64Nano(toInt64(start_ns + n * {step} + (h0 % {step}))) AS ts,
        intDiv(number, 4) AS g,
        cityHash64(number, 11) AS h1,
        cityHash64(number, 12) AS h2,
        cityHash64(number, 13) AS h3,
        cityHash64(g, 21) AS gh,
        gh % 10 < 7 AS has_rid,
        gh % 10 < 4 AS traced,
        leftPad(lower(hex(cityHash64(g, 22))), 16, '0') AS rid,
        -- skewed per-pod rates: pod 0 is the chattiest (~5% of all lines)
        toUInt32(least({PODS - 1}, floor(pow(h1 / 18446744073709551616.0, 2.5) * {PODS}))) AS pod,
        intDiv(pod, 4) AS w,
        {arr(PFX)}[1 + w % {len(PFX)}] AS pfx,
        concat(pfx, '-', {arr(SFX)}[1 + intDiv(w, {len(PFX)}) % {len(SFX)}]) AS svc,
        {arr(NAMESPACES)}[1 + cityHash64(w, 41) % {len(NAMESPACES)}] AS ns,
        w % 7 = 3 AS sts,
        arrayStringConcat(arrayMap(i -> substring('{K8S_CHARS}', 1 + cityHash64(w, 42, i) % {len(K8S_CHARS)}, 1), range(10))) AS rs_hash,
        arrayStringConcat(arrayMap(i -> substring('{K8S_CHARS}', 1 + cityHash64(pod, 43, i) % {len(K8S_CHARS)}, 1), range(5))) AS pod_sfx,
        if(sts, concat(svc, '-', toString(pod % 4)), concat(svc, '-', rs_hash, '-', pod_sfx)) AS pod_name,
        concat(leftPad(lower(hex(cityHash64(pod, 44))), 16, '0'), leftPad(lower(hex(cityHash64(pod, 45))), 16, '0')) AS uidhex,
        concat(substring(uidhex, 1, 8), '-', substring(uidhex, 9, 4), '-4', substring(uidhex, 14, 3), '-a',
               substring(uidhex, 18, 3), '-', substring(uidhex, 21, 12)) AS pod_uid,
        cityHash64(pod, 46) % 120 AS node_i,
        concat('ip-10-0-', toString(intDiv(node_i, 16) + 16), '-', toString(node_i * 7 % 250 + 4),
               '.eu-west-1.compute.internal') AS node,
        if(cityHash64(pod, 47) % 10 = 0, cityHash64(pod, 48) % 4 + 1, 0) AS restarts,
        multiIf(w % 3 = 0 AND h1 % 100 < 15, 'istio-proxy',
                w % 5 = 1 AND h1 % 100 < 5, 'config-reloader', pfx) AS container,
        -- body format: istio sidecars and gateways/frontends write access logs
        multiIf(container = 'istio-proxy', 0, container = 'config-reloader', 1,
                cityHash64(w, 49) % 4) AS fmt,
        h2 % 1000 AS r,
        multiIf(r < 100, 0, r < 850, 1, r < 950, 2, r < 998, 3, 4) AS sev_i,
        ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'][sev_i + 1] AS sev,
        multiIf(sev_i = 0, {arr(DEBUG_MSGS)}[1 + h3 % {len(DEBUG_MSGS)}],
                sev_i = 1, {arr(INFO_MSGS)}[1 + h3 % {len(INFO_MSGS)}],
                sev_i = 2, {arr(WARN_MSGS)}[1 + h3 % {len(WARN_MSGS)}],
                {arr(ERROR_MSGS)}[1 + h3 % {len(ERROR_MSGS)}]) AS msg,
        toDateTime(ts) AS dt,
        formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ') AS iso,
        toString(1000000 + h3 % 9000000) AS oid,
        toString(h2 % 200000) AS uid,
        concat(toString(h1 % 900), '.', toString(h3 % 10)) AS dur,
        {arr(METHODS)}[1 + h3 % {len(METHODS)}] AS method,
        replaceOne(replaceOne(replaceOne(replaceOne({arr(PATHS)}[1 + h1 % {len(PATHS)}],
            '{{id}}', oid), '{{w}}', {arr(WORDS)}[1 + h2 % {len(WORDS)}]),
            '{{p}}', toString(h3 % 9 + 1)), '{{h}}', substring(lower(hex(h3)), 1, 8)) AS path,
        multiIf(sev_i >= 3, [500, 502, 503, 504][1 + h3 % 4], sev_i = 2, [400, 401, 403, 404, 409, 429][1 + h3 % 6],
                [200, 200, 200, 200, 201, 204, 301, 304][1 + h3 % 8]) AS status,
        multiIf(fmt = 3, concat('com.acme.', pfx, '.', {arr(CLASSES)}[1 + h1 % {len(CLASSES)}]),
                fmt = 0, 'access',
                concat(pfx, '.', {arr(JSON_LOGGERS)}[1 + h1 % {len(JSON_LOGGERS)}])) AS logger,
        multiIf(fmt = 3, concat('http-nio-8080-exec-', toString(h3 % 200)),
                fmt = 0, concat('worker-', toString(h3 % 8)),
                h3 % 3 = 0, 'main', concat('goroutine-', toString(h3 % 5000))) AS thread,
        if(fmt = 3 AND sev_i >= 3 AND h1 % 2 = 0,
           concat('\\n', {arr(EXCEPTIONS)}[1 + h1 % {len(EXCEPTIONS)}], ': ', msg,
                  arrayStringConcat(arrayMap(i -> concat('\\n\\tat com.acme.', pfx, '.',
                        {arr(CLASSES)}[1 + cityHash64(n, 51, i) % {len(CLASSES)}], '.',
                        {arr(METHODS_JAVA)}[1 + cityHash64(n, 52, i) % {len(METHODS_JAVA)}], '(',
                        {arr(CLASSES)}[1 + cityHash64(n, 51, i) % {len(CLASSES)}], '.java:',
                        toString(cityHash64(n, 53, i) % 900 + 12), ')'), range(4 + h2 % 6))),
                  '\\n\\tat java.base/java.lang.Thread.run(Thread.java:1583)'), '') AS stack,
        multiIf(
            fmt = 0,
            concat(IPv4NumToString(toUInt32(h3 % 4294967296)), ' - - [', formatDateTime(dt, '%d/%b/%Y:%H:%i:%S'),
                   ' +0000] "', method, ' ', path, ' HTTP/1.1" ', toString(status), ' ', toString(h1 % 50000 + 120),
                   ' "-" "', {arr(UAS)}[1 + h2 % {len(UAS)}], '" ', toString(h3 % 2000 / 1000.), ' ',
                   if(has_rid, rid, '-')),
            fmt = 1,
            concat('time="', iso, '" level=', lower(sev), ' msg="', msg, '" method=', method, ' path=', path,
                   ' status=', toString(status), ' duration=', dur, 'ms',
                   if(has_rid, concat(' request_id=', rid), ''), ' user_id=', uid),
            fmt = 2,
            concat('{{"ts":"', iso, '","level":"', lower(sev), '","logger":"', logger, '","msg":"', msg, '"',
                   if(has_rid, concat(',"request_id":"', rid, '"'), ''), ',"user_id":', uid,
                   ',"latency_ms":', dur, ',"order_id":', oid, ',"path":"', path, '"}}'),
            concat(formatDateTime(dt, '%Y-%m-%d %H:%i:%S'), '.', leftPad(toString(h3 % 1000), 3, '0'), ' ',
                   rightPad(sev, 5, ' '), ' [', thread, '] ', logger, ' - ', msg,
                   if(has_rid, concat(' [req=', rid, ']'), ''), ' orderId=', oid, ' userId=', uid,
                   ' took ', dur, 'ms', stack)) AS body
    FROM numbers({n_rows})
)
SETTINGS max_threads = 2, min_insert_block_size_rows = 1048576, min_insert_block_size_bytes = 0
"""


START_NS_EXPR = f"toInt64(toUnixTimestamp(toDateTime('{START}', 'UTC'))) * 1000000000"


def build_source(db: DB, n_rows: int) -> float:
    db.run("CREATE DATABASE IF NOT EXISTS bench")
    db.run("""
CREATE TABLE bench.src
(
    n UInt64,
    Timestamp DateTime64(9),
    TraceId String,
    SpanId String,
    TraceFlags UInt8,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    Body String,
    ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String),
    ScopeSchemaUrl LowCardinality(String),
    ScopeName String,
    ScopeVersion LowCardinality(String),
    ScopeAttributes Map(LowCardinality(String), String),
    LogAttributes Map(LowCardinality(String), String),
    EventName String
)
ENGINE = MergeTree ORDER BY n
SETTINGS index_granularity = 8192""")
    sql = generate_sql(n_rows).replace("{START_NS_EXPR}", START_NS_EXPR)
    t0 = time.perf_counter()
    db.run(sql)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# Schemas


class Schema:
    def __init__(self, label: str, insert_table: str, target: str, statements: list[str]):
        self.label = label
        self.insert_table = insert_table
        self.target = target
        self.statements = statements
        self.insert_seconds = 0.0
        self.inserted = 0
        # Rollup tables fed from the same ingest table: {window seconds: "db.table"}.
        self.rollups: dict[int, str] = {}


def objects_after(db: DB, before: set[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    rows = db.rows("SELECT database, name, engine, create_table_query FROM system.tables "
                   "WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema', 'bench')")
    return [tuple(r) for r in rows if (r[0], r[1]) not in before]


def existing(db: DB) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in db.rows("SELECT database, name FROM system.tables")}


def unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t").replace("\\'", "'").replace("\\\\", "\\")


def create_schema_a(db: DB, path: Path) -> Schema:
    stmts = split_sql(path.read_text())
    before = existing(db)
    for st in stmts:
        db.run(st)
    new = [o for o in objects_after(db, before) if o[2].endswith("MergeTree")]
    if len(new) != 1:
        sys.exit(f"{path}: expected one MergeTree table, found {[(o[0], o[1]) for o in new]}")
    name = f"{new[0][0]}.{new[0][1]}"
    return Schema("A", name, name, stmts)


def create_schema_b(db: DB, path: Path, ingest: str | None, target: str | None) -> Schema:
    stmts = split_sql(path.read_text())
    before = existing(db)
    for st in stmts:
        m = re.search(r"(?i)\bCREATE\s+(?:TABLE|MATERIALIZED\s+VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?\.", st)
        if m:
            db.run(f"CREATE DATABASE IF NOT EXISTS `{m.group(1)}`")
        db.run(st)
    new = objects_after(db, before)
    if ingest is None:
        nulls = [o for o in new if o[2] == "Null"]
        if len(nulls) != 1:
            sys.exit(f"{path}: expected one Null-engine ingest table, found {[(o[0], o[1]) for o in nulls]}")
        ingest = f"{nulls[0][0]}.{nulls[0][1]}"
    rollup_views = [o for o in new if o[2] == "MaterializedView" and "_rollup_" in o[1]]
    if target is None:
        views = [o for o in new if o[2] == "MaterializedView" and "_rollup_" not in o[1]]
        if len(views) != 1:
            sys.exit(f"{path}: expected one materialized view, found {[(o[0], o[1]) for o in views]}")
        m = re.search(r"\bTO\s+`?(\w+)`?\.`?(\w+)`?", unescape(views[0][3]))
        if not m:
            sys.exit(f"{path}: cannot find the view's TO table")
        target = f"{m.group(1)}.{m.group(2)}"
    schema = Schema("B", ingest, target, stmts)
    for v in rollup_views:
        m = re.search(r"\bTO\s+`?(\w+)`?\.`?(\w+)`?", unescape(v[3]))
        if not m:
            sys.exit(f"{path}: cannot find the TO table of {v[1]}")
        # The operator writes the window in the Window column's comment.
        comment = db.value(f"SELECT comment FROM system.columns WHERE database = '{m.group(1)}' "
                           f"AND table = '{m.group(2)}' AND name = 'Window'")
        w = re.search(r"tumbling window (\d+) s", comment)
        if not w:
            sys.exit(f"{path}: rollup {m.group(2)} has no window comment")
        schema.rollups[int(w.group(1))] = f"{m.group(1)}.{m.group(2)}"
    return schema


# --------------------------------------------------------------------------------------------
# Insert


def insert_all(db: DB, schemas: list[Schema], n_rows: int, batch: int) -> None:
    cols = ", ".join(INSERT_COLUMNS)
    for s in schemas:
        for t in [s.target, *s.rollups.values()]:
            db.run(f"SYSTEM STOP MERGES {t}")
    settings = (f"max_threads = 2, max_insert_threads = 1, max_insert_block_size = {batch}, "
                f"min_insert_block_size_rows = {batch}, min_insert_block_size_bytes = 0, "
                f"min_insert_block_size_rows_for_materialized_views = {batch}, "
                f"min_insert_block_size_bytes_for_materialized_views = 0")
    for lo in range(0, n_rows, batch):
        hi = min(n_rows, lo + batch)
        for s in schemas:
            sql = (f"INSERT INTO {s.insert_table} ({cols}) SELECT {cols} FROM bench.src "
                   f"WHERE n >= {lo} AND n < {hi} ORDER BY n SETTINGS {settings}")
            t0 = time.perf_counter()
            db.run(sql)
            s.insert_seconds += time.perf_counter() - t0
            s.inserted += hi - lo


# --------------------------------------------------------------------------------------------
# Storage


def storage(db: DB, target: str) -> dict:
    d, t = target.split(".")
    w = f"database = '{d}' AND table = '{t}'"
    parts = db.rows(f"SELECT count(), sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), "
                    f"sum(data_uncompressed_bytes), sum(secondary_indices_compressed_bytes), "
                    f"sum(primary_key_size), sum(marks_bytes) "
                    f"FROM system.parts WHERE active AND {w}")[0]
    cols = db.rows(f"SELECT column, sum(column_data_compressed_bytes), sum(column_data_uncompressed_bytes) "
                   f"FROM system.parts_columns WHERE active AND {w} GROUP BY column ORDER BY 2 DESC")
    idx = db.rows(f"SELECT name, type_full, granularity, data_compressed_bytes, data_uncompressed_bytes "
                  f"FROM system.data_skipping_indices WHERE {w}")
    col_c = sum(int(c[1]) for c in cols)
    col_u = sum(int(c[2]) for c in cols)
    return {
        "parts": int(parts[0]), "rows": int(parts[1]), "bytes_on_disk": int(parts[2]),
        "columns_compressed": col_c, "columns_uncompressed": col_u,
        "indexes_compressed": int(parts[5]), "primary_key": int(parts[6]), "marks": int(parts[7]),
        "ratio": col_u / col_c if col_c else 0.0,
        "per_column": [(c[0], int(c[1]), int(c[2])) for c in cols],
        "per_index": [(i[0], i[1], int(i[2]), int(i[3]), int(i[4])) for i in idx],
    }


# --------------------------------------------------------------------------------------------
# Queries


def pick_parameters(db: DB, n_rows: int) -> dict:
    """Deterministic query parameters, chosen from the staging table (the same for both)."""
    p = {}
    p["max_ts"] = db.value("SELECT toString(max(Timestamp)) FROM bench.src")
    # a namespace of median volume
    ns = db.rows("SELECT ResourceAttributes['k8s.namespace.name'] AS ns, count() c FROM bench.src "
                 "GROUP BY ns ORDER BY c, ns")
    p["namespace"] = ns[len(ns) // 2][0]
    p["namespace_rows"] = int(ns[len(ns) // 2][1])
    # a pod of median volume
    pods = db.rows("SELECT ResourceAttributes['k8s.pod.name'] AS p, count() c FROM bench.src "
                   "GROUP BY p ORDER BY c, p")
    p["pod"] = pods[len(pods) // 2][0]
    p["pod_rows"] = int(pods[len(pods) // 2][1])
    p["pods"] = len(pods)
    p["namespaces"] = len(ns)
    # a request id (logged in the bodies of a handful of lines) and a trace id
    g = n_rows * 41 // 400
    p["token"] = db.value(f"SELECT LogAttributes['request_id'] FROM bench.src WHERE n >= {g} AND "
                          f"LogAttributes['request_id'] != '' ORDER BY n LIMIT 1")
    p["token_rows"] = int(db.value(f"SELECT count() FROM bench.src WHERE hasToken(Body, '{p['token']}') "
                                   f"SETTINGS use_skip_indexes = 0"))
    g = n_rows * 63 // 100
    p["trace"] = db.value(f"SELECT TraceId FROM bench.src WHERE n >= {g} AND TraceId != '' ORDER BY n LIMIT 1")
    p["trace_rows"] = int(db.value(f"SELECT count() FROM bench.src WHERE TraceId = '{p['trace']}'"))
    return p


def queries(p: dict, a: str, b: str) -> list[tuple[str, str, str]]:
    """(name, SQL for A, SQL for B). A is queried the way HyperDX queries the exporter's table:
    materialized k8s columns, and a time range on both the key's toStartOfFiveMinutes(Timestamp)
    and Timestamp (HyperDX >= 2.x adds the bucket filter itself, see hyperdx PR #1265).
    B is queried on its extracted columns and Timestamp."""
    now = f"toDateTime64('{p['max_ts']}', 9)"

    def rng(lo: str, hi: str | None, bucket: bool) -> str:
        c = f"Timestamp >= {lo}" + (f" AND Timestamp < {hi}" if hi else "")
        if bucket:
            c = (f"toStartOfFiveMinutes(Timestamp) >= toStartOfFiveMinutes({lo})"
                 + (f" AND toStartOfFiveMinutes(Timestamp) <= toStartOfFiveMinutes({hi})" if hi else "")
                 + " AND " + c)
        return c

    ns_a = f"`__otel_materialized_k8s.namespace.name` = '{p['namespace']}'"
    ns_b = f"Namespace = '{p['namespace']}'"
    pod_a = f"`__otel_materialized_k8s.pod.name` = '{p['pod']}'"
    pod_b = f"PodName = '{p['pod']}'"
    last6 = f"{now} - INTERVAL 6 HOUR"
    h_lo, h_hi = f"{now} - INTERVAL 3 HOUR", f"{now} - INTERVAL 2 HOUR"
    q = []
    q.append(("ns 6h count",
              f"SELECT count() FROM {a} WHERE {ns_a} AND {rng(last6, None, True)}",
              f"SELECT count() FROM {b} WHERE {ns_b} AND {rng(last6, None, False)}"))
    q.append(("ns 6h last 100",
              f"SELECT Timestamp, `__otel_materialized_k8s.pod.name` AS pod, SeverityText, Body FROM {a} "
              f"WHERE {ns_a} AND {rng(last6, None, True)} ORDER BY Timestamp DESC LIMIT 100",
              f"SELECT Timestamp, PodName AS pod, SeverityText, Body FROM {b} "
              f"WHERE {ns_b} AND {rng(last6, None, False)} ORDER BY Timestamp DESC LIMIT 100"))
    q.append(("pod 1h",
              f"SELECT Timestamp, SeverityText, Body FROM {a} WHERE {pod_a} AND {rng(h_lo, h_hi, True)} "
              f"ORDER BY Timestamp",
              f"SELECT Timestamp, SeverityText, Body FROM {b} WHERE {pod_b} AND {rng(h_lo, h_hi, False)} "
              f"ORDER BY Timestamp"))
    # The exporter indexes lower(Body); a user searching it writes lower(Body).
    q.append(("rare token",
              f"SELECT Timestamp, ServiceName, Body FROM {a} WHERE hasToken(lower(Body), '{p['token']}') "
              f"ORDER BY Timestamp DESC LIMIT 100",
              f"SELECT Timestamp, ServiceName, Body FROM {b} WHERE {{TOKEN_PRED}} "
              f"ORDER BY Timestamp DESC LIMIT 100"))
    q.append(("trace id",
              f"SELECT Timestamp, ServiceName, SpanId, Body FROM {a} WHERE TraceId = '{p['trace']}' ORDER BY Timestamp",
              f"SELECT Timestamp, ServiceName, SpanId, Body FROM {b} WHERE TraceId = '{p['trace']}' ORDER BY Timestamp"))
    last24 = f"{now} - INTERVAL 24 HOUR"
    q.append(("severity x service 24h",
              f"SELECT ServiceName, SeverityText, count() FROM {a} WHERE {rng(last24, None, True)} "
              f"GROUP BY ServiceName, SeverityText ORDER BY ServiceName, SeverityText",
              f"SELECT ServiceName, SeverityText, count() FROM {b} WHERE {rng(last24, None, False)} "
              f"GROUP BY ServiceName, SeverityText ORDER BY ServiceName, SeverityText"))
    return q


def token_predicate(db: DB, target: str, token: str) -> str:
    """hasToken on whatever expression schema B indexes (Body or lower(Body))."""
    d, t = target.split(".")
    exprs = [r[0] for r in db.rows(f"SELECT expr FROM system.data_skipping_indices "
                                   f"WHERE database = '{d}' AND table = '{t}'")]
    if any(e.replace(" ", "") == "lower(Body)" for e in exprs) and not any(e == "Body" for e in exprs):
        return f"hasToken(lower(Body), '{token}')"
    return f"hasToken(Body, '{token}')"


def run_query(db: DB, sql: str) -> tuple[float, int, int, list]:
    j = db.json(f"{sql} SETTINGS {QUERY_SETTINGS} FORMAT JSON")
    st = j["statistics"]
    return st["elapsed"], int(st["rows_read"]), int(st["bytes_read"]), j["data"]


def bench_queries(db: DB, qs, runs: int) -> list[dict]:
    out = []
    for name, qa, qb in qs:
        res = {"name": name, "sql": (qa, qb)}
        for label, sql in (("A", qa), ("B", qb)):
            run_query(db, sql)  # warm-up
        lat = {"A": [], "B": []}
        cpu = {"A": [], "B": []}
        meta = {}
        for _ in range(runs):
            for label, sql in (("A", qa), ("B", qb)):
                c0, t0 = time.process_time(), time.perf_counter()
                el, rr, br, data = run_query(db, sql)
                wall, c = time.perf_counter() - t0, time.process_time() - c0
                lat[label].append(wall)
                cpu[label].append(c)
                meta[label] = (rr, br, data)
        for label in ("A", "B"):
            res[label] = {"ms": statistics.median(lat[label]) * 1000,
                          "min_ms": min(lat[label]) * 1000,
                          "cpu_ms": statistics.median(cpu[label]) * 1000,
                          "rows_read": meta[label][0],
                          "bytes_read": meta[label][1], "result_rows": len(meta[label][2])}
        # Both schemas hold the same rows: the answers must be the same.
        res["same_result"] = meta["A"][2] == meta["B"][2]
        out.append(res)
    return out


def bench_rollup(db: DB, p: dict, b: Schema, runs: int) -> dict | None:
    """The 24 h "counts by severity per service" from B's hourly rollup against the same query on
    B's raw table: the answers must be equal, and the rollup's rows read are the figure. Measured
    as inserted (merges stopped, one part per batch and day, the worst case) and after the merges
    the server runs in the background (OPTIMIZE FINAL with TTL merges stopped: the synthetic day
    is older than the retention)."""
    hourly = b.rollups.get(3600)
    if hourly is None:
        return None
    now = f"toDateTime64('{p['max_ts']}', 9)"
    last24 = f"{now} - INTERVAL 24 HOUR"
    raw = (f"SELECT ServiceName, SeverityText, count() AS n FROM {b.target} WHERE Timestamp >= {last24} "
           f"GROUP BY ServiceName, SeverityText ORDER BY ServiceName, SeverityText")
    # Hour-aligned: the rollup answers for whole windows (the data here starts on the hour).
    rolled = (f"SELECT ServiceName, SeverityText, sum(Rows) AS n FROM {hourly} "
              f"WHERE Window >= toStartOfHour({last24}) "
              f"GROUP BY ServiceName, SeverityText ORDER BY ServiceName, SeverityText")

    def measure(sql: str) -> dict:
        run_query(db, sql)  # warm-up
        lat, last = [], None
        for _ in range(runs):
            t0 = time.perf_counter()
            last = run_query(db, sql)
            lat.append(time.perf_counter() - t0)
        return {"ms": statistics.median(lat) * 1000, "rows_read": last[1], "data": last[3]}

    out = {"table": hourly, "sql": (raw, rolled)}
    r = measure(raw)
    out["raw"] = {"ms": r["ms"], "rows_read": r["rows_read"], "result_rows": len(r["data"])}
    for stage in ("as_inserted", "merged"):
        if stage == "merged":
            db.run(f"SYSTEM STOP TTL MERGES {hourly}")
            db.run(f"SYSTEM START MERGES {hourly}")
            db.run(f"OPTIMIZE TABLE {hourly} FINAL")
            db.run(f"SYSTEM STOP MERGES {hourly}")
        m = measure(rolled)
        out[stage] = {"ms": m["ms"], "rows_read": m["rows_read"], "same_result": m["data"] == r["data"],
                      "table_rows": int(db.value(f"SELECT count() FROM {hourly}")),
                      "parts": int(db.value(f"SELECT count() FROM system.parts WHERE active AND "
                                            f"database || '.' || table = '{hourly}'"))}
    return out


# --------------------------------------------------------------------------------------------
# Report


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def fmt_int(v: float) -> str:
    return f"{v:,.0f}"


def fmt_bytes(v: float) -> str:
    return f"{v / 2**20:,.1f} MiB"


def ratio(b: float, a: float, lower_is_better: bool = True) -> str:
    if a == 0:
        return "-" if b == 0 else "inf"
    r = b / a
    mark = ""
    if abs(r - 1) > 0.02:
        better = r < 1 if lower_is_better else r > 1
        mark = " +" if better else " -"
    return f"{r:.2f}x{mark}"


def print_report(args, p, gen_s, schemas, st, qres, rollup=None, out=sys.stdout):
    a, b = schemas
    w = out.write
    w(f"\nschema_bench: {args.rows:,} rows, batches of {args.batch:,}, {args.runs} runs/query, chdb "
      f"{p['chdb']} (ClickHouse {p['version']}), {os.cpu_count()} cores, load average "
      f"{p['load_start']} at start, {loadavg()} at end\n")
    if args.optimize:
        w("  parts merged with OPTIMIZE ... FINAL before measuring (--optimize)\n")
    w(f"  A = {a.target}  (exporter default, {args.exporter_ddl})\n")
    w(f"  B = {b.insert_table} -> view -> {b.target}  ({args.ddl})\n")
    w(f"  data: {p['pods']} pods, {p['namespaces']} namespaces, 24 h to {p['max_ts']}; generated in {gen_s:.1f} s\n")
    w(f"  query parameters: namespace {p['namespace']} ({p['namespace_rows']:,} rows/24h), pod {p['pod']} "
      f"({p['pod_rows']:,} rows/24h), token {p['token']} ({p['token_rows']} rows), trace {p['trace']} "
      f"({p['trace_rows']} rows)\n\n")
    rows = []
    ins_a = a.inserted / a.insert_seconds
    ins_b = b.inserted / b.insert_seconds
    rows.append(("insert rows/s", fmt_int(ins_a), fmt_int(ins_b), ratio(ins_b, ins_a, False)))
    sa, sb = st
    rows.append(("parts (active)", str(sa["parts"]), str(sb["parts"]), ""))
    rows.append(("bytes on disk (total)", fmt_bytes(sa["bytes_on_disk"]), fmt_bytes(sb["bytes_on_disk"]),
                 ratio(sb["bytes_on_disk"], sa["bytes_on_disk"])))
    rows.append(("  columns (compressed)", fmt_bytes(sa["columns_compressed"]), fmt_bytes(sb["columns_compressed"]),
                 ratio(sb["columns_compressed"], sa["columns_compressed"])))
    rows.append(("  skip indexes", fmt_bytes(sa["indexes_compressed"]), fmt_bytes(sb["indexes_compressed"]),
                 ratio(sb["indexes_compressed"], sa["indexes_compressed"])))
    rows.append(("  columns uncompressed", fmt_bytes(sa["columns_uncompressed"]),
                 fmt_bytes(sb["columns_uncompressed"]), ""))
    rows.append(("compression ratio", f"{sa['ratio']:.1f}", f"{sb['ratio']:.1f}", ratio(sb["ratio"], sa["ratio"], False)))
    for q in qres:
        rows.append((f"{q['name']}: ms", f"{q['A']['ms']:.1f}", f"{q['B']['ms']:.1f}", ratio(q["B"]["ms"], q["A"]["ms"])))
        if args.cpu:
            rows.append((f"{q['name']}: cpu ms", f"{q['A']['cpu_ms']:.1f}", f"{q['B']['cpu_ms']:.1f}",
                         ratio(q["B"]["cpu_ms"], q["A"]["cpu_ms"])))
        rows.append((f"{q['name']}: rows read", fmt_int(q["A"]["rows_read"]), fmt_int(q["B"]["rows_read"]),
                     ratio(q["B"]["rows_read"], q["A"]["rows_read"])))
    if rollup:
        for stage, label in (("as_inserted", "as inserted"), ("merged", "merged")):
            r = rollup[stage]
            rows.append((f"severity x service 24h, hourly rollup ({label}): ms", "-", f"{r['ms']:.1f}", ""))
            pct = 100 * r["rows_read"] / rollup["raw"]["rows_read"] if rollup["raw"]["rows_read"] else 0
            rows.append((f"severity x service 24h, hourly rollup ({label}): rows read", "-",
                         fmt_int(r["rows_read"]), f"{pct:.2f}% of B raw"))
    widths = [max(len(r[i]) for r in rows + [("metric", "A exporter", "B otelhouse", "B/A")]) for i in range(4)]
    hdr = ("metric", "A exporter", "B otelhouse", "B/A")
    w("| " + " | ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(hdr)) + " |\n")
    w("|" + "|".join(("-" * (widths[i] + 1) + ":") if i else ("-" * (widths[i] + 2)) for i in range(4)) + "|\n")
    for r in rows:
        w("| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) + " |\n")
    w("  (B/A: + means B is better, - worse; ms = median wall time of the query in-process"
      + ("; cpu ms = median process CPU time, steadier when other work shares the cores" if args.cpu else "")
      + ")\n")
    mism = [q["name"] for q in qres if not q["same_result"]]
    if mism:
        w(f"  WARNING: A and B answered differently: {', '.join(mism)}\n")
    else:
        w(f"  every query returned the same answer on A and B ({', '.join(str(q['A']['result_rows']) for q in qres)} rows)\n")
    if rollup:
        same = all(rollup[s]["same_result"] for s in ("as_inserted", "merged"))
        w(f"  hourly rollup {rollup['table']}: {rollup['as_inserted']['table_rows']:,} rows in "
          f"{rollup['as_inserted']['parts']} parts as inserted, {rollup['merged']['table_rows']:,} rows in "
          f"{rollup['merged']['parts']} parts merged; its answer "
          + ("equals" if same else "DIFFERS FROM") + f" B's raw query ({rollup['raw']['result_rows']} rows, "
          f"{rollup['raw']['rows_read']:,} rows read, {rollup['raw']['ms']:.1f} ms)\n")
    if args.verbose:
        for lab, s in (("A", sa), ("B", sb)):
            w(f"\n{lab} skip indexes:\n")
            for n, t, g, c, u in s["per_index"]:
                w(f"  {n:28} {t:45} gran {g:>9}  {fmt_bytes(c):>12}\n")
            w(f"{lab} largest columns (compressed / uncompressed):\n")
            for n, c, u in s["per_column"][:8]:
                w(f"  {n:45} {fmt_bytes(c):>12} {fmt_bytes(u):>12}\n")
        w("\nqueries:\n")
        for q in qres:
            w(f"  {q['name']}\n    A: {q['sql'][0]}\n    B: {q['sql'][1]}\n")
        if rollup:
            w(f"  hourly rollup\n    raw: {rollup['sql'][0]}\n    rollup: {rollup['sql'][1]}\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000, help="rows to generate (default 5,000,000)")
    ap.add_argument("--batch", type=int, default=500_000, help="rows per INSERT (default 500,000)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query and schema (default 5)")
    ap.add_argument("--ddl", type=Path, default=DEFAULT_B, help="schema B DDL (statements ending in ';')")
    ap.add_argument("--exporter-ddl", type=Path, default=DEFAULT_A, help="schema A DDL")
    ap.add_argument("--ingest-table", help="schema B table to insert into (default: its Null table)")
    ap.add_argument("--target-table", help="schema B table to query (default: the view's TO table)")
    ap.add_argument("--dir", help="chdb data directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--optimize", action="store_true",
                    help="robustness check, not the default measurement: OPTIMIZE ... FINAL both targets "
                         "after the inserts (one merged part per day) before measuring")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--cpu", action="store_true", help="also show each query's median process CPU time")
    ap.add_argument("-v", "--verbose", action="store_true", help="per-index and per-column sizes, the SQL")
    args = ap.parse_args()
    if args.runs < 1 or args.rows < 10_000 or args.batch < 1:
        ap.error("need --runs >= 1, --rows >= 10000, --batch >= 1")

    import chdb

    path = args.dir or tempfile.mkdtemp(prefix="schema_bench_")
    if args.dir and os.path.exists(args.dir) and os.listdir(args.dir):
        ap.error(f"--dir {args.dir} is not empty")
    db = DB(path)
    try:
        t_all = time.perf_counter()
        load_start = loadavg()
        gen_s = build_source(db, args.rows)
        print(f"generated {args.rows:,} rows in {gen_s:.1f} s", file=sys.stderr)
        a = create_schema_a(db, args.exporter_ddl)
        b = create_schema_b(db, args.ddl, args.ingest_table, args.target_table)
        insert_all(db, [a, b], args.rows, args.batch)
        print(f"inserted: A {a.insert_seconds:.1f} s, B {b.insert_seconds:.1f} s", file=sys.stderr)
        if args.optimize:
            for s in (a, b):
                db.run(f"SYSTEM START MERGES {s.target}")
                db.run(f"OPTIMIZE TABLE {s.target} FINAL")
                db.run(f"SYSTEM STOP MERGES {s.target}")
        check = "SELECT count(), sum(cityHash64(Timestamp, TraceId, SeverityText, ServiceName, Body, " \
                "ResourceAttributes, LogAttributes)) FROM {}"
        want = db.rows(check.format("bench.src"))[0]
        for s in (a, b):
            got = db.rows(check.format(s.target))[0]
            if got != want:
                sys.exit(f"{s.label}: {s.target} holds {got[0]} rows (checksum {got[1]}), "
                         f"the generated data {want[0]} (checksum {want[1]})")
            for t in s.rollups.values():
                have = db.rows(f"SELECT sum(Rows), sum(BodyBytes) FROM {t}")[0]
                raw = db.rows(f"SELECT count(), sum(length(Body)) FROM {s.target}")[0]
                if have != raw:
                    sys.exit(f"{s.label}: rollup {t} counts {have}, the table holds {raw}")
        p = pick_parameters(db, args.rows)
        p["chdb"] = getattr(chdb, "__version__", "?")
        p["version"] = db.value("SELECT version()")
        p["load_start"] = load_start
        qs = queries(p, a.target, b.target)
        pred = token_predicate(db, b.target, p["token"])
        qs = [(n, qa, qb.replace("{TOKEN_PRED}", pred)) for n, qa, qb in qs]
        st = [storage(db, a.target), storage(db, b.target)]
        qres = bench_queries(db, qs, args.runs)
        rollup = bench_rollup(db, p, b, args.runs)
        print_report(args, p, gen_s, [a, b], st, qres, rollup)
        print(f"\ntotal {time.perf_counter() - t_all:.0f} s", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps({
                "rows": args.rows, "batch": args.batch, "runs": args.runs, "params": p,
                "insert_rows_per_s": {"A": a.inserted / a.insert_seconds, "B": b.inserted / b.insert_seconds},
                "storage": {"A": st[0], "B": st[1]}, "queries": qres, "rollup": rollup,
            }, indent=1, default=str))
    finally:
        db.close()
        if not args.dir:
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
