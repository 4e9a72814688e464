-- Schema B of benches/schema_bench.py: exactly what otelhouse generates for
-- benches/app_logs_pipeline.yaml (a test fails when they differ). Regenerate with:
--   cargo run -- schema ddl -f benches/app_logs_pipeline.yaml (below these three lines)
CREATE DATABASE IF NOT EXISTS `otel`;

CREATE TABLE IF NOT EXISTS `otel`.`otelhouse_schema_history`
(
    `applied_at` DateTime64(3) DEFAULT now64(3),
    `pipeline` String,
    `table` String,
    `generation` Int64,
    `spec_hash` String,
    `statements` Array(String),
    `operator_version` String
)
ENGINE = MergeTree
ORDER BY (`pipeline`, `table`, `applied_at`)
SETTINGS non_replicated_deduplication_window = 0;

CREATE TABLE IF NOT EXISTS `otel`.`app_logs`
(
    `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    `EventDate` Date CODEC(Delta(2), ZSTD(1)),
    `EventTime` DateTime CODEC(Delta(4), ZSTD(1)),
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
    `Namespace` LowCardinality(String) CODEC(ZSTD(1)),
    `PodName` LowCardinality(String) CODEC(ZSTD(1)),
    `ContainerName` LowCardinality(String) CODEC(ZSTD(1)),
    INDEX `idx_traceid` `TraceId` TYPE text(tokenizer = 'array') GRANULARITY 1,
    INDEX `idx_body` `Body` TYPE text(tokenizer = splitByNonAlpha) GRANULARITY 1,
    INDEX `idx_podname` `PodName` TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(`Timestamp`)
ORDER BY (`Namespace`, `PodName`, `Timestamp`)
TTL `EventTime` + toIntervalDay(30)
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
COMMENT 'otelhouse owner: LogPipeline otelhouse-system/bench';

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
ENGINE = Null
COMMENT 'otelhouse owner: LogPipeline otelhouse-system/bench';

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`app_logs_mv` TO `otel`.`app_logs`
AS SELECT
    `Timestamp`,
    toDate(`Timestamp`) AS `EventDate`,
    toDateTime(`Timestamp`) AS `EventTime`,
    `TraceId`,
    `SpanId`,
    `TraceFlags`,
    `SeverityText`,
    `SeverityNumber`,
    `ServiceName`,
    `Body`,
    `ResourceSchemaUrl`,
    `ResourceAttributes`,
    `ScopeSchemaUrl`,
    `ScopeName`,
    `ScopeVersion`,
    `ScopeAttributes`,
    `LogAttributes`,
    `EventName`,
    `ResourceAttributes`['k8s.namespace.name'] AS `Namespace`,
    `ResourceAttributes`['k8s.pod.name'] AS `PodName`,
    `ResourceAttributes`['k8s.container.name'] AS `ContainerName`
FROM `otel`.`app_logs_ingest`
COMMENT 'otelhouse:65f58bd7a2a33348';

CREATE TABLE IF NOT EXISTS `otel`.`app_logs_rollup_minute`
(
    `Window` DateTime CODEC(Delta(4), ZSTD(1)) COMMENT 'tumbling window 60 s',
    `Namespace` LowCardinality(String) CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `SeverityText` LowCardinality(String) CODEC(ZSTD(1)),
    `Rows` SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    `BodyBytes` SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(`Window`)
ORDER BY (`Window`, `Namespace`, `ServiceName`, `SeverityText`)
TTL `Window` + toIntervalDay(7)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'otelhouse owner: LogPipeline otelhouse-system/bench';

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`app_logs_rollup_minute_mv` TO `otel`.`app_logs_rollup_minute`
AS SELECT
    toStartOfInterval(toDateTime(`Timestamp`), INTERVAL 60 SECOND) AS `Window`,
    `ResourceAttributes`['k8s.namespace.name'] AS `Namespace`,
    `ServiceName`,
    `SeverityText`,
    count() AS `Rows`,
    sum(length(`Body`)) AS `BodyBytes`
FROM `otel`.`app_logs_ingest`
GROUP BY `Window`, `Namespace`, `ServiceName`, `SeverityText`
COMMENT 'otelhouse:97a3960aa7da25f1';

CREATE TABLE IF NOT EXISTS `otel`.`app_logs_rollup_hour`
(
    `Window` DateTime CODEC(Delta(4), ZSTD(1)) COMMENT 'tumbling window 3600 s',
    `Namespace` LowCardinality(String) CODEC(ZSTD(1)),
    `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
    `SeverityText` LowCardinality(String) CODEC(ZSTD(1)),
    `Rows` SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1)),
    `BodyBytes` SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(`Window`)
ORDER BY (`Window`, `Namespace`, `ServiceName`, `SeverityText`)
TTL `Window` + toIntervalDay(30)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'otelhouse owner: LogPipeline otelhouse-system/bench';

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.`app_logs_rollup_hour_mv` TO `otel`.`app_logs_rollup_hour`
AS SELECT
    toStartOfInterval(toDateTime(`Timestamp`), INTERVAL 3600 SECOND) AS `Window`,
    `ResourceAttributes`['k8s.namespace.name'] AS `Namespace`,
    `ServiceName`,
    `SeverityText`,
    count() AS `Rows`,
    sum(length(`Body`)) AS `BodyBytes`
FROM `otel`.`app_logs_ingest`
GROUP BY `Window`, `Namespace`, `ServiceName`, `SeverityText`
COMMENT 'otelhouse:505e990b10d44462';

