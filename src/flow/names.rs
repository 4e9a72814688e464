//! The collector's own metric names and labels that flow health reads, as they appear on the
//! wire of `service.telemetry`'s Prometheus reader.
//!
//! Each name is the instrument name in the generated telemetry of collector core; identical at
//! v0.135.0 (the test binary) and v0.150.0 (the pinned distribution):
//! - exporter/exporterhelper/internal/metadata/generated_telemetry.go (metadata.yaml beside
//!   it): sent, send-failed and enqueue-failed log records, queue size and capacity;
//! - receiver/receiverhelper/internal/metadata/generated_telemetry.go: refused log records;
//! - processor/memorylimiterprocessor/internal/metadata/generated_telemetry.go: the memory
//!   limiter's refused log records (deprecated since 0.110 in metadata.yaml, still recorded by
//!   its obsreport.go at v0.150.0);
//! - service/internal/metadata/generated_telemetry.go: process uptime (restart detection).
//!
//! The Prometheus exporter adds `_total` to counters and the unit to the uptime (`_seconds`)
//! when the reader is configured as the rendered configs do it (host and port only: the
//! translation strategy defaults to UnderscoreEscapingWithSuffixes); the collector's built-in
//! default reader (service/telemetry/otelconftelemetry/factory.go) sets `without_type_suffix`
//! and `without_units`, which drop both. The parser accepts either form.

/// `otelcol_exporter_sent_log_records` (counter): records the destination accepted.
pub const EXPORTER_SENT: &str = "otelcol_exporter_sent_log_records";
/// `otelcol_exporter_send_failed_log_records` (counter): records in failed sends, counted
/// once retries are exhausted (the obs-report sender sits outside the retry sender), so an
/// exporter that retries forever shows its failure as a filling queue instead.
pub const EXPORTER_SEND_FAILED: &str = "otelcol_exporter_send_failed_log_records";
/// `otelcol_exporter_enqueue_failed_log_records` (counter): records dropped because the
/// sending queue was full (non-blocking queues only).
pub const EXPORTER_ENQUEUE_FAILED: &str = "otelcol_exporter_enqueue_failed_log_records";
/// `otelcol_exporter_queue_size` (gauge), in the queue's sizer units (requests, items or bytes).
pub const EXPORTER_QUEUE_SIZE: &str = "otelcol_exporter_queue_size";
/// `otelcol_exporter_queue_capacity` (gauge), in the same units as the size.
pub const EXPORTER_QUEUE_CAPACITY: &str = "otelcol_exporter_queue_capacity";
/// `otelcol_receiver_refused_log_records` (counter): records the pipeline refused (the memory
/// limiter's refusals show here too, at the receiver in front of it).
pub const RECEIVER_REFUSED: &str = "otelcol_receiver_refused_log_records";
/// `otelcol_processor_refused_log_records` (counter), recorded by the memory limiter only.
pub const PROCESSOR_REFUSED: &str = "otelcol_processor_refused_log_records";
/// `otelcol_process_uptime` (counter, seconds): a decrease means the process restarted and
/// every counter started again from zero.
pub const PROCESS_UPTIME: &str = "otelcol_process_uptime";

/// The suffix the Prometheus exporter appends to counters.
pub const COUNTER_SUFFIX: &str = "_total";
/// The unit suffix of the uptime (unit `s`).
pub const SECONDS_SUFFIX: &str = "_seconds";

/// The exporter's component ID (`type/name`) on exporterhelper's series
/// (exporter/exporterhelper/internal/obs_report_sender.go `ExporterKey`, and
/// internal/queue/obs_queue.go for the queue gauges).
pub const LABEL_EXPORTER: &str = "exporter";
/// The signal of a queue gauge (`logs`, `traces`, ...): obs_queue.go `dataTypeKey`.
pub const LABEL_DATA_TYPE: &str = "data_type";
/// The receiver's component ID (receiver/receiverhelper/internal/obsmetrics.go `ReceiverKey`).
pub const LABEL_RECEIVER: &str = "receiver";
/// The processor's component ID (processor/internal `ProcessorKey`, used by the memory
/// limiter's obsreport.go).
pub const LABEL_PROCESSOR: &str = "processor";

/// `data_type` of the log queues.
pub const DATA_TYPE_LOGS: &str = "logs";
/// The memory limiter's component type: its IDs are `memory_limiter` or `memory_limiter/<name>`.
pub const MEMORY_LIMITER_TYPE: &str = "memory_limiter";
