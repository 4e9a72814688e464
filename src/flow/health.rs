//! Flow health from two scrapes of a set of collector pods: pure, no clock and no I/O.
//!
//! Counters are compared between a pod's previous and current scrape (a decrease, or a lower
//! uptime, is a restart: the counter counted from zero since); gauges are read from the
//! current one. A pipeline is the set of its exporter IDs on the pods of its pool; an
//! AgentClass is every exporter of its agents. Refusals (receivers, memory limiter) belong to
//! a pod, not to one exporter, so every pod given counts them.

use super::parse::CollectorMetrics;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

/// The condition's type on LogPipelines and AgentClasses.
pub const CONDITION_TYPE: &str = "FlowHealthy";

/// One pod's scrapes: the one before (None: none yet, or it failed) and this round's (None:
/// it failed or timed out).
#[derive(Clone, Copy, Debug)]
pub struct PodScrapes<'a> {
    pub pod: &'a str,
    pub previous: Option<&'a CollectorMetrics>,
    pub current: Option<&'a CollectorMetrics>,
}

/// Which exporters an evaluation covers.
#[derive(Clone, Copy, Debug)]
pub enum Exporters<'a> {
    /// Every exporter of the pods (an AgentClass's agents: one exporter per gateway pool).
    All,
    /// These IDs (a pipeline's `clickhouse/<ns>.<name>.<table>` exporters on its pool's pods).
    Only(&'a BTreeSet<String>),
}

impl Exporters<'_> {
    fn covers(&self, id: &str) -> bool {
        match self {
            Exporters::All => true,
            Exporters::Only(ids) => ids.contains(id),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A queue at least this full (size / capacity) is BufferFilling.
    pub buffer_filling: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            buffer_filling: 0.8,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowStatus {
    True,
    False,
    Unknown,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::True => "True",
            FlowStatus::False => "False",
            FlowStatus::Unknown => "Unknown",
        }
    }
}

/// Worst first: an evaluation takes the first that holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlowReason {
    /// No pod answered (or there are none).
    Unknown,
    /// Nothing sent and something failed or was dropped by a full queue.
    AllDataDropped,
    /// Some records sent, some failed or dropped.
    SomeDataDropped,
    /// Receivers or the memory limiter refused records (back-pressure: senders retry).
    Throttled,
    /// A queue is at least `buffer_filling` full, or records waited in a queue through the
    /// whole interval while its exporter sent nothing (a destination that is down behind a
    /// queue that retries forever: nothing fails or drops until the buffer is full, hours
    /// later with a 2 h buffer).
    BufferFilling,
    /// Scraped, but no pod has two scrapes to compare yet.
    Pending,
    /// Nothing flowed and nothing failed.
    NoData,
    Healthy,
}

impl FlowReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowReason::Unknown => "Unknown",
            FlowReason::AllDataDropped => "AllDataDropped",
            FlowReason::SomeDataDropped => "SomeDataDropped",
            FlowReason::Throttled => "Throttled",
            FlowReason::BufferFilling => "BufferFilling",
            FlowReason::Pending => "Pending",
            FlowReason::NoData => "NoData",
            FlowReason::Healthy => "Healthy",
        }
    }

    pub fn status(self) -> FlowStatus {
        match self {
            FlowReason::Unknown | FlowReason::Pending => FlowStatus::Unknown,
            // Nothing is lost when nothing is sent.
            FlowReason::NoData | FlowReason::Healthy => FlowStatus::True,
            _ => FlowStatus::False,
        }
    }
}

/// The fullest queue seen.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueFill {
    pub pod: String,
    pub exporter: String,
    pub size: f64,
    pub capacity: f64,
}

impl QueueFill {
    pub fn ratio(&self) -> f64 {
        if self.capacity > 0.0 {
            self.size / self.capacity
        } else {
            0.0
        }
    }
}

/// Sums over the interval (counters) and the current state (gauges) of what was evaluated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowTotals {
    pub pods: usize,
    /// Pods whose current scrape succeeded.
    pub pods_scraped: usize,
    /// Of those, pods with a previous scrape to compare with.
    pub pods_compared: usize,
    /// Covered exporter IDs present on some scraped pod.
    pub exporters_seen: usize,
    pub sent: f64,
    pub send_failed: f64,
    pub enqueue_failed: f64,
    pub receiver_refused: f64,
    pub memory_limiter_refused: f64,
    pub fullest_queue: Option<QueueFill>,
    /// The largest queue that held records at both scrapes while its exporter sent nothing
    /// in between.
    pub stalled_queue: Option<QueueFill>,
}

impl FlowTotals {
    pub fn failed(&self) -> f64 {
        self.send_failed + self.enqueue_failed
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FlowHealth {
    pub status: FlowStatus,
    pub reason: FlowReason,
    pub message: String,
    pub totals: FlowTotals,
}

/// How much a counter grew: all of it when the process restarted, when it went down (a
/// restart between two scrapes that uptime did not show), or when it is new since the
/// previous scrape (instruments appear on first use, from zero).
fn delta(prev: Option<f64>, cur: Option<f64>, restarted: bool) -> f64 {
    match (prev, cur) {
        (_, None) => 0.0,
        (None, Some(c)) => c,
        (Some(p), Some(c)) if restarted || c < p => c,
        (Some(p), Some(c)) => c - p,
    }
}

fn restarted(prev: &CollectorMetrics, cur: &CollectorMetrics) -> bool {
    matches!((prev.uptime_seconds, cur.uptime_seconds), (Some(p), Some(c)) if c < p)
}

/// Sums of one map of counters (per component ID), as deltas.
fn map_delta(
    prev: &std::collections::BTreeMap<String, f64>,
    cur: &std::collections::BTreeMap<String, f64>,
    restarted: bool,
) -> f64 {
    cur.iter()
        .map(|(k, c)| delta(prev.get(k).copied(), Some(*c), restarted))
        .sum()
}

/// Evaluates the flow through `exporters` on `pods` over the last `interval`.
pub fn evaluate(
    pods: &[PodScrapes<'_>],
    exporters: Exporters<'_>,
    thresholds: &Thresholds,
    interval: Duration,
) -> FlowHealth {
    let mut t = FlowTotals {
        pods: pods.len(),
        ..FlowTotals::default()
    };
    let mut seen = BTreeSet::new();
    for pod in pods {
        let Some(cur) = pod.current else { continue };
        t.pods_scraped += 1;
        for (id, series) in cur.exporters.iter().filter(|(id, _)| exporters.covers(id)) {
            seen.insert(id.as_str());
            if let (Some(size), Some(capacity)) = (series.queue_size, series.queue_capacity) {
                let fill = QueueFill {
                    pod: pod.pod.to_string(),
                    exporter: id.clone(),
                    size,
                    capacity,
                };
                if t.fullest_queue
                    .as_ref()
                    .is_none_or(|q| fill.ratio() > q.ratio())
                {
                    t.fullest_queue = Some(fill);
                }
            }
        }
        let Some(prev) = pod.previous else { continue };
        t.pods_compared += 1;
        let restarted = restarted(prev, cur);
        for (id, c) in cur.exporters.iter().filter(|(id, _)| exporters.covers(id)) {
            let p = prev.exporters.get(id).copied().unwrap_or_default();
            let sent = delta(p.sent, c.sent, restarted);
            t.sent += sent;
            t.send_failed += delta(p.send_failed, c.send_failed, restarted);
            t.enqueue_failed += delta(p.enqueue_failed, c.enqueue_failed, restarted);
            if let (Some(before), Some(size), Some(capacity)) =
                (p.queue_size, c.queue_size, c.queue_capacity)
                && sent == 0.0
                && before > 0.0
                && size > 0.0
                && t.stalled_queue.as_ref().is_none_or(|q| size > q.size)
            {
                t.stalled_queue = Some(QueueFill {
                    pod: pod.pod.to_string(),
                    exporter: id.clone(),
                    size,
                    capacity,
                });
            }
        }
        t.receiver_refused += map_delta(&prev.receivers_refused, &cur.receivers_refused, restarted);
        t.memory_limiter_refused += map_delta(
            &prev.memory_limiter_refused,
            &cur.memory_limiter_refused,
            restarted,
        );
    }
    t.exporters_seen = seen.len();
    let reason = reason_of(&t, thresholds);
    FlowHealth {
        status: reason.status(),
        reason,
        message: message(reason, &t, interval),
        totals: t,
    }
}

/// Evaluates each exporter of `pods` on its own.
pub fn evaluate_each(
    pods: &[PodScrapes<'_>],
    thresholds: &Thresholds,
    interval: Duration,
) -> std::collections::BTreeMap<String, FlowHealth> {
    let ids: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.current)
        .flat_map(|m| m.exporters.keys().cloned())
        .collect();
    ids.into_iter()
        .map(|id| {
            let one = BTreeSet::from([id.clone()]);
            let h = evaluate(pods, Exporters::Only(&one), thresholds, interval);
            (id, h)
        })
        .collect()
}

fn reason_of(t: &FlowTotals, th: &Thresholds) -> FlowReason {
    let filling = t
        .fullest_queue
        .as_ref()
        .is_some_and(|q| q.capacity > 0.0 && q.ratio() >= th.buffer_filling);
    if t.pods_scraped == 0 {
        FlowReason::Unknown
    } else if t.failed() > 0.0 && t.sent == 0.0 {
        FlowReason::AllDataDropped
    } else if t.failed() > 0.0 {
        FlowReason::SomeDataDropped
    } else if t.receiver_refused > 0.0 || t.memory_limiter_refused > 0.0 {
        FlowReason::Throttled
    } else if filling || t.stalled_queue.is_some() {
        FlowReason::BufferFilling
    } else if t.pods_compared == 0 {
        FlowReason::Pending
    } else if t.sent == 0.0 {
        FlowReason::NoData
    } else {
        FlowReason::Healthy
    }
}

fn message(reason: FlowReason, t: &FlowTotals, interval: Duration) -> String {
    let secs = interval.as_secs();
    let mut m = match reason {
        FlowReason::Unknown if t.pods == 0 => "no collector pods to scrape".to_string(),
        FlowReason::Unknown => format!(
            "none of {} collector pods answered on their metrics endpoint",
            t.pods
        ),
        FlowReason::AllDataDropped | FlowReason::SomeDataDropped => format!(
            "{:.0} of {:.0} log records lost in the last {secs}s: {:.0} failed to send, \
             {:.0} dropped by a full queue; {:.0} sent",
            t.failed(),
            t.failed() + t.sent,
            t.send_failed,
            t.enqueue_failed,
            t.sent
        ),
        FlowReason::Throttled => format!(
            "the collectors refused log records in the last {secs}s (receivers {:.0}, \
             memory limiter {:.0}); {:.0} sent",
            t.receiver_refused, t.memory_limiter_refused, t.sent
        ),
        FlowReason::BufferFilling if t.pods_compared == 0 => "a queue is filling".to_string(),
        FlowReason::BufferFilling => match &t.stalled_queue {
            Some(q) => format!(
                "{} on {} sent nothing in the last {secs}s while {:.0} waited in its queue; \
                 {:.0} log records sent",
                q.exporter, q.pod, q.size, t.sent
            ),
            None => format!("{:.0} log records sent in the last {secs}s", t.sent),
        },
        FlowReason::Pending => "waiting for a second scrape to compare counters".to_string(),
        FlowReason::NoData => format!("no log records sent or lost in the last {secs}s"),
        FlowReason::Healthy => {
            format!(
                "{:.0} log records sent in the last {secs}s, none lost",
                t.sent
            )
        }
    };
    if let Some(q) = &t.fullest_queue
        && q.capacity > 0.0
        && q.size > 0.0
    {
        let _ = write!(
            m,
            "; fullest queue {:.0}% ({:.0} of {:.0}, {} on {})",
            q.ratio() * 100.0,
            q.size,
            q.capacity,
            q.exporter,
            q.pod
        );
    }
    if t.pods > 0 {
        let _ = write!(m, "; {} of {} pods scraped", t.pods_scraped, t.pods);
    }
    if t.pods_scraped > 0 && t.exporters_seen == 0 {
        m.push_str("; no pod reports these exporters");
    }
    m
}

/// The `FlowHealthy` condition, keeping `lastTransitionTime` from `old` while the status is
/// unchanged (as src/controller/status.rs does for the other conditions).
pub fn condition(
    health: &FlowHealth,
    old: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = health.status.as_str().to_string();
    let since = old
        .iter()
        .find(|o| o.type_ == CONDITION_TYPE && o.status == status)
        .map(|o| o.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: CONDITION_TYPE.to_string(),
        status,
        reason: health.reason.as_str().to_string(),
        message: health.message.clone(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

/// Whether the new condition deserves an Event: its status or reason changed (a message
/// whose numbers moved does not).
pub fn changed(old: &[Condition], new: &Condition) -> bool {
    old.iter()
        .find(|o| o.type_ == new.type_)
        .is_none_or(|o| o.status != new.status || o.reason != new.reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::parse::ExporterSeries;
    use std::collections::BTreeMap;

    fn exporter(sent: f64, send_failed: f64, enqueue_failed: f64) -> ExporterSeries {
        ExporterSeries {
            sent: Some(sent),
            send_failed: Some(send_failed),
            enqueue_failed: Some(enqueue_failed),
            queue_size: Some(0.0),
            queue_capacity: Some(100.0),
        }
    }

    fn metrics(uptime: f64, exporters: &[(&str, ExporterSeries)]) -> CollectorMetrics {
        CollectorMetrics {
            exporters: exporters.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            uptime_seconds: Some(uptime),
            ..CollectorMetrics::default()
        }
    }

    const T: Duration = Duration::from_secs(30);

    fn eval(pods: &[PodScrapes<'_>], ids: &[&str]) -> FlowHealth {
        let ids: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
        evaluate(pods, Exporters::Only(&ids), &Thresholds::default(), T)
    }

    fn pod<'a>(
        pod: &'a str,
        previous: Option<&'a CollectorMetrics>,
        current: Option<&'a CollectorMetrics>,
    ) -> PodScrapes<'a> {
        PodScrapes {
            pod,
            previous,
            current,
        }
    }

    #[test]
    fn deltas_per_pipeline_across_pods() {
        let a0 = metrics(
            10.0,
            &[
                ("ch/a", exporter(100.0, 0.0, 0.0)),
                ("ch/b", exporter(5.0, 0.0, 0.0)),
            ],
        );
        let a1 = metrics(
            40.0,
            &[
                ("ch/a", exporter(160.0, 0.0, 0.0)),
                ("ch/b", exporter(5.0, 9.0, 0.0)),
            ],
        );
        let b0 = metrics(10.0, &[("ch/a", exporter(0.0, 0.0, 0.0))]);
        let b1 = metrics(40.0, &[("ch/a", exporter(40.0, 0.0, 0.0))]);
        let pods = [
            pod("gw-0", Some(&a0), Some(&a1)),
            pod("gw-1", Some(&b0), Some(&b1)),
        ];
        let a = eval(&pods, &["ch/a"]);
        assert_eq!(a.reason, FlowReason::Healthy);
        assert_eq!(a.status, FlowStatus::True);
        assert_eq!(a.totals.sent, 100.0);
        assert_eq!(
            a.message,
            "100 log records sent in the last 30s, none lost; 2 of 2 pods scraped"
        );
        let b = eval(&pods, &["ch/b"]);
        assert_eq!(b.reason, FlowReason::AllDataDropped);
        assert_eq!(b.status, FlowStatus::False);
        assert_eq!(
            b.message,
            "9 of 9 log records lost in the last 30s: 9 failed to send, 0 dropped by a full \
             queue; 0 sent; 2 of 2 pods scraped"
        );
        let both = eval(&pods, &["ch/a", "ch/b"]);
        assert_eq!(both.reason, FlowReason::SomeDataDropped);
        assert_eq!((both.totals.sent, both.totals.failed()), (100.0, 9.0));
        let each = evaluate_each(&pods, &Thresholds::default(), T);
        assert_eq!(each["ch/a"].reason, FlowReason::Healthy);
        assert_eq!(each["ch/b"].reason, FlowReason::AllDataDropped);
    }

    #[test]
    fn counter_resets_count_from_zero() {
        // Uptime went down: a restart, even though `sent` grew past its old value.
        let before = metrics(500.0, &[("e", exporter(100.0, 0.0, 0.0))]);
        let after = metrics(20.0, &[("e", exporter(150.0, 0.0, 0.0))]);
        let h = eval(&[pod("p", Some(&before), Some(&after))], &["e"]);
        assert_eq!(h.totals.sent, 150.0);
        // No uptime, but a counter went down: a restart too.
        let mut before = metrics(0.0, &[("e", exporter(100.0, 50.0, 0.0))]);
        before.uptime_seconds = None;
        let mut after = metrics(0.0, &[("e", exporter(30.0, 60.0, 0.0))]);
        after.uptime_seconds = None;
        let h = eval(&[pod("p", Some(&before), Some(&after))], &["e"]);
        assert_eq!((h.totals.sent, h.totals.send_failed), (30.0, 10.0));
        // A series that appeared since (instruments start on first use) counts whole.
        let before = metrics(10.0, &[]);
        let after = metrics(40.0, &[("e", exporter(0.0, 0.0, 12.0))]);
        let h = eval(&[pod("p", Some(&before), Some(&after))], &["e"]);
        assert_eq!(h.reason, FlowReason::AllDataDropped);
        assert_eq!(h.totals.enqueue_failed, 12.0);
    }

    #[test]
    fn throttled_buffer_filling_nodata_pending_unknown() {
        let quiet = metrics(10.0, &[("e", exporter(5.0, 0.0, 0.0))]);
        let mut refused = metrics(40.0, &[("e", exporter(50.0, 0.0, 0.0))]);
        refused.receivers_refused = BTreeMap::from([("otlp".to_string(), 30.0)]);
        refused.memory_limiter_refused = BTreeMap::from([("memory_limiter".to_string(), 30.0)]);
        let h = eval(&[pod("p", Some(&quiet), Some(&refused))], &["e"]);
        assert_eq!(h.reason, FlowReason::Throttled);
        assert!(
            h.message
                .contains("receivers 30, memory limiter 30); 45 sent"),
            "{}",
            h.message
        );

        let mut full = metrics(40.0, &[("e", exporter(5.0, 0.0, 0.0))]);
        full.exporters.get_mut("e").unwrap().queue_size = Some(85.0);
        let h = eval(&[pod("gw-0", Some(&quiet), Some(&full))], &["e"]);
        assert_eq!(h.reason, FlowReason::BufferFilling);
        assert_eq!(
            h.message,
            "0 log records sent in the last 30s; fullest queue 85% (85 of 100, e on gw-0); \
             1 of 1 pods scraped"
        );
        // Records waiting at both scrapes and nothing sent: stalled, however empty the queue.
        let mut waiting = metrics(10.0, &[("e", exporter(5.0, 0.0, 0.0))]);
        waiting.exporters.get_mut("e").unwrap().queue_size = Some(3.0);
        let mut still = metrics(40.0, &[("e", exporter(5.0, 0.0, 0.0))]);
        still.exporters.get_mut("e").unwrap().queue_size = Some(4.0);
        let h = eval(&[pod("gw-0", Some(&waiting), Some(&still))], &["e"]);
        assert_eq!(
            (h.reason, h.message.as_str()),
            (
                FlowReason::BufferFilling,
                "e on gw-0 sent nothing in the last 30s while 4 waited in its queue; 0 log \
                 records sent; fullest queue 4% (4 of 100, e on gw-0); 1 of 1 pods scraped"
            )
        );
        // ... but not when they only just arrived, or when some were sent.
        let h = eval(&[pod("gw-0", Some(&quiet), Some(&still))], &["e"]);
        assert_eq!(h.reason, FlowReason::NoData);
        let mut sending = still.clone();
        sending.exporters.get_mut("e").unwrap().sent = Some(6.0);
        let h = eval(&[pod("gw-0", Some(&waiting), Some(&sending))], &["e"]);
        assert_eq!(h.reason, FlowReason::Healthy);
        // A filling queue shows from one scrape.
        let h = eval(&[pod("gw-0", None, Some(&full))], &["e"]);
        assert_eq!(h.reason, FlowReason::BufferFilling);

        let h = eval(&[pod("p", Some(&quiet), Some(&quiet))], &["e"]);
        assert_eq!((h.reason, h.status), (FlowReason::NoData, FlowStatus::True));
        let h = eval(&[pod("p", None, Some(&quiet))], &["e"]);
        assert_eq!(
            (h.reason, h.status),
            (FlowReason::Pending, FlowStatus::Unknown)
        );
        let h = eval(
            &[pod("p", Some(&quiet), None), pod("q", None, None)],
            &["e"],
        );
        assert_eq!(
            (h.reason, h.status),
            (FlowReason::Unknown, FlowStatus::Unknown)
        );
        assert_eq!(
            h.message,
            "none of 2 collector pods answered on their metrics endpoint; 0 of 2 pods scraped"
        );
        assert_eq!(eval(&[], &["e"]).message, "no collector pods to scrape");
        // One unreachable pod of two: the other is evaluated, the message says so.
        let h = eval(
            &[pod("p", Some(&quiet), Some(&quiet)), pod("q", None, None)],
            &["e"],
        );
        assert_eq!(h.reason, FlowReason::NoData);
        assert!(h.message.ends_with("1 of 2 pods scraped"), "{}", h.message);
        let h = eval(&[pod("p", Some(&quiet), Some(&quiet))], &["other"]);
        assert!(
            h.message.ends_with("no pod reports these exporters"),
            "{}",
            h.message
        );
    }

    #[test]
    fn all_exporters_of_an_agent_class() {
        let p0 = metrics(
            10.0,
            &[
                ("otlp_grpc/a", exporter(0.0, 0.0, 0.0)),
                ("otlp_grpc/b", exporter(0.0, 0.0, 0.0)),
            ],
        );
        let p1 = metrics(
            40.0,
            &[
                ("otlp_grpc/a", exporter(10.0, 0.0, 0.0)),
                ("otlp_grpc/b", exporter(0.0, 0.0, 4.0)),
            ],
        );
        let h = evaluate(
            &[pod("agent-x", Some(&p0), Some(&p1))],
            Exporters::All,
            &Thresholds::default(),
            T,
        );
        assert_eq!(h.reason, FlowReason::SomeDataDropped);
        assert_eq!(h.totals.exporters_seen, 2);
    }

    #[test]
    fn the_condition_keeps_its_transition_time_and_events_follow_reason_changes() {
        let t0 = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let t1 = Time("2026-01-01T00:00:30Z".parse().unwrap());
        let q = metrics(10.0, &[("e", exporter(5.0, 0.0, 0.0))]);
        let more = metrics(40.0, &[("e", exporter(9.0, 0.0, 0.0))]);
        let healthy = eval(&[pod("p", Some(&q), Some(&more))], &["e"]);
        let first = condition(&healthy, &[], Some(3), &t0);
        assert_eq!(
            (
                first.type_.as_str(),
                first.status.as_str(),
                first.reason.as_str()
            ),
            ("FlowHealthy", "True", "Healthy")
        );
        assert_eq!(first.observed_generation, Some(3));
        assert!(changed(&[], &first));
        let nodata = eval(&[pod("p", Some(&q), Some(&q))], &["e"]);
        let second = condition(&nodata, std::slice::from_ref(&first), Some(3), &t1);
        assert_eq!(second.last_transition_time, t0);
        assert!(changed(std::slice::from_ref(&first), &second));
        let third = condition(&nodata, std::slice::from_ref(&second), Some(3), &t1);
        assert!(!changed(std::slice::from_ref(&second), &third));
        let failing = metrics(70.0, &[("e", exporter(9.0, 3.0, 0.0))]);
        let dropped = eval(&[pod("p", Some(&more), Some(&failing))], &["e"]);
        let fourth = condition(&dropped, std::slice::from_ref(&third), Some(3), &t1);
        assert_eq!(
            (fourth.status.as_str(), fourth.last_transition_time.clone()),
            ("False", t1)
        );
    }
}
