-- Schema B of benches/schema_bench.py: the otelhouse default logs layout (best candidate found
-- with the bench; see the numbers in the bench's output). Three objects in database `otel`: the
-- Null table the exporter inserts into (exactly the exporter's INSERT columns), the MergeTree
-- target, and the materialized view between them. Statements end with ';' at the end of a line.
--
-- What differs from the published LogHouse table, and why (5M rows, exporter default = A):
--   ORDER BY (Namespace, PodName, Timestamp)   namespace queries read a contiguous range; pod
--                                              queries too once the namespace range is found.
--   PARTITION BY toDate(Timestamp)             the same daily partitions as EventDate, but the
--                                              part min/max index is then on Timestamp, so a
--                                              plain `Timestamp >= ...` filter skips whole parts
--                                              (with EventDate it skips none).
--   index_granularity = 1024                   a point lookup (trace id, rare token) reads 1024
--                                              rows per matching row instead of 8192; rows of one
--                                              request sit in different pods, so in different
--                                              granules.
--   text index on Body and TraceId             exact posting lists: no false positives and no
--                                              scan of per-granule bloom filters (tokenbf_v1 at
--                                              this granularity read the same rows but was 3x
--                                              slower than the exporter's text index).
--                                              TraceId uses tokenizer 'array' (the whole value is
--                                              the token), so `TraceId = '...'` is answered from
--                                              the index alone; with splitByNonAlpha the rows must
--                                              still be read to check equality (slower).
--                                              Text indexes have no GRANULARITY (one per part; a
--                                              GRANULARITY clause is accepted and ignored).
--   bloom_filter on PodName                    pod queries that do not name the namespace.
--   no bloom filters on the attribute maps      they helped none of the measured queries and
--                                              cost ~15% of insert throughput.
CREATE DATABASE IF NOT EXISTS `otel`;

CREATE TABLE IF NOT EXISTS `otel`.`app_logs`
(
    `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    `TraceId` String CODEC(ZSTD(1)),
    `SpanId` String CODEC(ZSTD(1)),
    `TraceFlags` UInt8 CODEC(ZSTD(1)),
    `SeverityText` LowCardinality(String) CODEC(ZSTD(1)),
    `SeverityNumber` UInt8 CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `Body` String CODEC(ZSTD(1)),
    `ResourceSchemaUrl` LowCardinality(String) CODEC(ZSTD(1)),
    `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `ScopeSchemaUrl` LowCardinality(String) CODEC(ZSTD(1)),
    `ScopeName` String CODEC(ZSTD(1)),
    `ScopeVersion` LowCardinality(String) CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `LogAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `EventName` String CODEC(ZSTD(1)),
    `EventDate` Date CODEC(ZSTD(1)),
    `EventTime` DateTime CODEC(ZSTD(1)),
    `Namespace` LowCardinality(String) CODEC(ZSTD(1)),
    `PodName` LowCardinality(String) CODEC(ZSTD(1)),
    `ContainerName` LowCardinality(String) CODEC(ZSTD(1)),
    INDEX `idx_traceid` TraceId TYPE text(tokenizer = 'array'),
    INDEX `idx_body` Body TYPE text(tokenizer = splitByNonAlpha),
    INDEX `idx_podname` PodName TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Namespace, PodName, Timestamp)
TTL EventTime + toIntervalDay(30)
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS `otel`.`app_logs_ingest`
(
    `Timestamp` DateTime64(9),
    `TraceId` String,
    `SpanId` String,
    `TraceFlags` UInt8,
    `SeverityText` LowCardinality(String),
    `SeverityNumber` UInt8,
    `ServiceName` LowCardinality(String),
    `Body` String,
    `ResourceSchemaUrl` LowCardinality(String),
    `ResourceAttributes` Map(LowCardinality(String), String),
    `ScopeSchemaUrl` LowCardinality(String),
    `ScopeName` String,
    `ScopeVersion` LowCardinality(String),
    `ScopeAttributes` Map(LowCardinality(String), String),
    `LogAttributes` Map(LowCardinality(String), String),
    `EventName` String
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`app_logs_mv` TO `otel`.`app_logs`
AS SELECT
    Timestamp,
    TraceId,
    SpanId,
    TraceFlags,
    SeverityText,
    SeverityNumber,
    ServiceName,
    Body,
    ResourceSchemaUrl,
    ResourceAttributes,
    ScopeSchemaUrl,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    LogAttributes,
    EventName,
    toDate(Timestamp) AS EventDate,
    toDateTime(Timestamp) AS EventTime,
    ResourceAttributes['k8s.namespace.name'] AS Namespace,
    ResourceAttributes['k8s.pod.name'] AS PodName,
    ResourceAttributes['k8s.container.name'] AS ContainerName
FROM `otel`.`app_logs_ingest`;
