//! The collector's Prometheus text exposition (format 0.0.4), reduced to the few series flow
//! health needs while it is read.
//!
//! Hand-written rather than `prometheus-parse` 0.2.5 (the maintained-looking crate): that one
//! splits label pairs on every `,` and `=` (a value holding either is cut), stops labels at the
//! first `}` even inside a quoted value, keeps escapes, and builds every series of the page
//! (a HashMap of labels each) before anything can be dropped; a collector page is mostly
//! histogram buckets the operator never reads. This parser looks at a line's name first and
//! skips the line unless it is one of [`super::names`]; only then are its labels read, and
//! only the component IDs are kept. Grammar: the Prometheus "Exposition formats" text format
//! (`name{label="value",...} value [timestamp]`, label values escaping `\\`, `\"`, `\n`);
//! the scraper asks for 0.0.4, which never quotes metric names.

use super::names::*;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What one scrape of one collector says, reduced to the series flow health reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CollectorMetrics {
    /// Per exporter ID (`otlp_grpc/pool`, `clickhouse/ns.name.table`).
    pub exporters: BTreeMap<String, ExporterSeries>,
    /// Refused log records per receiver ID.
    pub receivers_refused: BTreeMap<String, f64>,
    /// Refused log records per memory limiter ID.
    pub memory_limiter_refused: BTreeMap<String, f64>,
    /// Seconds since the process started.
    pub uptime_seconds: Option<f64>,
}

/// One exporter's series for logs. A counter is None when the collector has not created it
/// yet (instruments appear on first use).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExporterSeries {
    pub sent: Option<f64>,
    pub send_failed: Option<f64>,
    pub enqueue_failed: Option<f64>,
    pub queue_size: Option<f64>,
    pub queue_capacity: Option<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {what}")]
    Malformed { line: usize, what: &'static str },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Wanted {
    Sent,
    SendFailed,
    EnqueueFailed,
    QueueSize,
    QueueCapacity,
    ReceiverRefused,
    ProcessorRefused,
    Uptime,
}

/// Which of our series a metric name is, with or without the exporter's suffixes.
fn wanted(name: &str) -> Option<Wanted> {
    if !name.starts_with("otelcol_") {
        return None;
    }
    match name {
        EXPORTER_QUEUE_SIZE => return Some(Wanted::QueueSize),
        EXPORTER_QUEUE_CAPACITY => return Some(Wanted::QueueCapacity),
        _ => {}
    }
    let base = name.strip_suffix(COUNTER_SUFFIX).unwrap_or(name);
    Some(match base {
        EXPORTER_SENT => Wanted::Sent,
        EXPORTER_SEND_FAILED => Wanted::SendFailed,
        EXPORTER_ENQUEUE_FAILED => Wanted::EnqueueFailed,
        RECEIVER_REFUSED => Wanted::ReceiverRefused,
        PROCESSOR_REFUSED => Wanted::ProcessorRefused,
        _ if base.strip_suffix(SECONDS_SUFFIX).unwrap_or(base) == PROCESS_UPTIME => Wanted::Uptime,
        _ => return None,
    })
}

/// A sample value as Go writes it (`1.5e+07`, `+Inf`, `NaN`); NaN as None.
fn number(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// The labels after `{`: calls `f` for each pair (value unescaped), returns what follows `}`.
fn labels<'a>(
    mut s: &'a str,
    mut f: impl FnMut(&'a str, Cow<'a, str>),
) -> Result<&'a str, &'static str> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = s.find('=').ok_or("a label without '='")?;
        let name = s[..eq].trim_end();
        s = s[eq + 1..].trim_start();
        s = s.strip_prefix('"').ok_or("a label value without quotes")?;
        let (value, rest) = quoted(s)?;
        f(name, value);
        s = rest.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("labels not separated by ','");
        }
    }
}

/// A label value after its opening quote: (the value unescaped, what follows the closing quote).
fn quoted(s: &str) -> Result<(Cow<'_, str>, &str), &'static str> {
    let bytes = s.as_bytes();
    let mut owned: Option<String> = None;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = match owned {
                    Some(mut o) => {
                        o.push_str(&s[start..i]);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(&s[..i]),
                };
                return Ok((value, &s[i + 1..]));
            }
            b'\\' => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[start..i]);
                match bytes.get(i + 1) {
                    Some(b'n') => o.push('\n'),
                    Some(b'\\') => o.push('\\'),
                    Some(b'"') => o.push('"'),
                    _ => return Err("a bad escape in a label value"),
                }
                i += 2;
                start = i;
            }
            _ => i += 1,
        }
    }
    Err("an unterminated label value")
}

/// Adds a sample to a counter or gauge slot: several series of one component add up (at the
/// `detailed` level send failures are split by `error.type`).
fn add(slot: &mut Option<f64>, v: f64) {
    *slot = Some(slot.unwrap_or(0.0) + v);
}

/// Parses a collector's `/metrics` page, keeping only the series flow health reads.
pub fn parse(text: &str) -> Result<CollectorMetrics, ParseError> {
    let mut out = CollectorMetrics::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_ascii_whitespace())
            .unwrap_or(line.len());
        let Some(kind) = wanted(&line[..name_end]) else {
            continue;
        };
        let err = |what| ParseError::Malformed { line: i + 1, what };
        // Blanks may stand between the name and its labels (expfmt's parser skips them).
        let mut rest = line[name_end..].trim_start();
        let (mut exporter, mut receiver, mut processor, mut data_type) = (None, None, None, None);
        if let Some(after) = rest.strip_prefix('{') {
            rest = labels(after, |k, v| match k {
                LABEL_EXPORTER => exporter = Some(v),
                LABEL_RECEIVER => receiver = Some(v),
                LABEL_PROCESSOR => processor = Some(v),
                LABEL_DATA_TYPE => data_type = Some(v),
                _ => {}
            })
            .map_err(err)?;
        }
        let value = rest
            .split_ascii_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?;
        let Some(value) = number(value) else {
            if value.eq_ignore_ascii_case("nan") {
                continue;
            }
            return Err(err("a value that is not a number"));
        };
        match kind {
            Wanted::Uptime => out.uptime_seconds = Some(value),
            Wanted::ReceiverRefused => {
                if let Some(r) = receiver {
                    *out.receivers_refused.entry(r.into_owned()).or_default() += value;
                }
            }
            Wanted::ProcessorRefused => {
                let Some(p) = processor else { continue };
                let ty = p.split('/').next().unwrap_or_default();
                if ty == MEMORY_LIMITER_TYPE {
                    *out.memory_limiter_refused
                        .entry(p.into_owned())
                        .or_default() += value;
                }
            }
            _ => {
                let Some(e) = exporter else { continue };
                // The queue gauges carry the signal; an exporter ID in a traces pipeline too
                // has a second queue.
                if data_type.is_some_and(|d| d != DATA_TYPE_LOGS) {
                    continue;
                }
                let series = out.exporters.entry(e.into_owned()).or_default();
                let slot = match kind {
                    Wanted::Sent => &mut series.sent,
                    Wanted::SendFailed => &mut series.send_failed,
                    Wanted::EnqueueFailed => &mut series.enqueue_failed,
                    Wanted::QueueSize => &mut series.queue_size,
                    _ => &mut series.queue_capacity,
                };
                add(slot, value);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_wanted_series_with_their_component_ids() {
        let page = r#"# HELP otelcol_exporter_sent_log_records_total Number of log record successfully sent to destination.
# TYPE otelcol_exporter_sent_log_records_total counter
otelcol_exporter_sent_log_records_total{exporter="otlphttp/dead",otel_scope_name="go.opentelemetry.io/collector/exporter/exporterhelper",otel_scope_version=""} 0
otelcol_exporter_sent_log_records_total{exporter="clickhouse/ns.p.t",otel_scope_name="x"} 1.5e+03
otelcol_exporter_send_failed_log_records_total{exporter="otlphttp/dead",otel_scope_name="go.opentelemetry.io/collector/exporter/exporterhelper",otel_scope_version=""} 400
otelcol_exporter_queue_capacity{data_type="logs",exporter="otlphttp/dead",otel_scope_name="x",otel_scope_version=""} 10
otelcol_exporter_queue_size{data_type="logs",exporter="otlphttp/dead",otel_scope_name="x",otel_scope_version=""} 3
otelcol_exporter_queue_size{data_type="traces",exporter="otlphttp/dead"} 99
otelcol_exporter_queue_batch_send_size_bucket{exporter="otlphttp/dead",le="+Inf"} 2
otelcol_receiver_refused_log_records_total{otel_scope_name="x",otel_scope_version="",receiver="filelog",transport=""} 7
otelcol_processor_refused_log_records_total{otel_scope_name="x",processor="memory_limiter"} 5
otelcol_processor_refused_log_records_total{processor="batch"} 1
otelcol_process_uptime_seconds_total{otel_scope_name="go.opentelemetry.io/collector/service",otel_scope_version=""} 10.041186333
target_info{service_instance_id="3275526b",service_name="otelcontribcol"} 1
"#;
        let m = parse(page).unwrap();
        assert_eq!(m.exporters.len(), 2);
        let dead = m.exporters["otlphttp/dead"];
        assert_eq!(dead.sent, Some(0.0));
        assert_eq!(dead.send_failed, Some(400.0));
        assert_eq!(dead.enqueue_failed, None);
        assert_eq!(dead.queue_size, Some(3.0));
        assert_eq!(dead.queue_capacity, Some(10.0));
        assert_eq!(m.exporters["clickhouse/ns.p.t"].sent, Some(1500.0));
        assert_eq!(m.receivers_refused["filelog"], 7.0);
        assert_eq!(m.memory_limiter_refused.len(), 1);
        assert_eq!(m.memory_limiter_refused["memory_limiter"], 5.0);
        assert_eq!(m.uptime_seconds, Some(10.041186333));
    }

    #[test]
    fn names_without_suffixes_as_the_default_reader_writes_them() {
        let page = "otelcol_exporter_sent_log_records{exporter=\"a\"} 3\n\
                    otelcol_process_uptime 4\n\
                    otelcol_exporter_queue_size_total{exporter=\"a\"} 9\n";
        let m = parse(page).unwrap();
        assert_eq!(m.exporters["a"].sent, Some(3.0));
        // A gauge never carries `_total`: that is some other metric.
        assert_eq!(m.exporters["a"].queue_size, None);
        assert_eq!(m.uptime_seconds, Some(4.0));
    }

    #[test]
    fn label_values_with_separators_quotes_and_escapes() {
        let page = r#"otelcol_exporter_sent_log_records_total{a="x,y=z}",exporter="odd/\"q\"\\b,c}",b="\n"} 2 1700000000000
otelcol_exporter_send_failed_log_records_total { exporter = "odd/\"q\"\\b,c}" , } 1
"#;
        let m = parse(page).unwrap();
        let e = m.exporters["odd/\"q\"\\b,c}"];
        assert_eq!(e.sent, Some(2.0));
        assert_eq!(e.send_failed, Some(1.0));
    }

    #[test]
    fn series_of_one_exporter_add_up() {
        // The `detailed` level splits send failures by error.type.
        let page = "otelcol_exporter_send_failed_log_records_total{error_type=\"a\",exporter=\"e\"} 2\n\
                    otelcol_exporter_send_failed_log_records_total{error_type=\"b\",exporter=\"e\"} 3\n";
        assert_eq!(parse(page).unwrap().exporters["e"].send_failed, Some(5.0));
    }

    #[test]
    fn go_number_forms() {
        let page = "otelcol_exporter_sent_log_records_total{exporter=\"a\"} +Inf\n\
                    otelcol_exporter_send_failed_log_records_total{exporter=\"a\"} NaN\n\
                    otelcol_exporter_queue_size{exporter=\"a\"} -0\n";
        let e = parse(page).unwrap().exporters["a"];
        assert_eq!(e.sent, Some(f64::INFINITY));
        assert_eq!(e.send_failed, None);
        assert_eq!(e.queue_size, Some(0.0));
    }

    #[test]
    fn malformed_wanted_lines_are_errors_and_others_are_not_read() {
        assert_eq!(
            parse("otelcol_exporter_sent_log_records_total{exporter=\"a} 1\n"),
            Err(ParseError::Malformed {
                line: 1,
                what: "an unterminated label value"
            })
        );
        assert!(parse("otelcol_exporter_sent_log_records_total{exporter=\"a\"} x\n").is_err());
        assert!(parse("otelcol_exporter_sent_log_records_total{exporter=\"a\"}\n").is_err());
        assert!(parse("otelcol_exporter_sent_log_records_total{exporter=a} 1\n").is_err());
        assert!(parse("other_metric{broken 1\n<html>\n").unwrap() == CollectorMetrics::default());
    }
}
