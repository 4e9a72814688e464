//! A gateway clamps the timestamps its tables cannot keep: a record older than the retention or
//! more than a day ahead takes the time the agent read it, and keeps the original in
//! `otelhouse.original_time_unix_nano`; every other record is untouched.
//!
//! The statements come from the builder itself
//! ([`otelhouse::collector::gateway::parse_statements`], the transform processor's
//! `log_statements` of `context: log`), are expanded as confmap expands a config value
//! ([`kit::ottl::expand`]: `$$` is `$`), and run in order over one record by [`kit::ottl`]'s
//! OTTL evaluator, written from the collector-contrib v0.150 sources and not from the builder:
//!
//! - statement syntax: `editor ("where" booleanExpression)?`, `not` over `and` over `or`,
//!   `value` with math: pkg/ottl/grammar.go and its lexer (`buildLexer`);
//! - a statement runs its editor only when its condition holds, and a context's statements run
//!   in order on the same record: pkg/ottl/parser.go (`Statement.Execute`,
//!   `StatementSequence.Execute`);
//! - `set`: a nil value sets nothing: pkg/ottl/ottlfuncs/func_set.go;
//! - `time`/`observed_time` (a Go `time.Time`) and `time_unix_nano` (an int64): the log context's
//!   paths over pdata's unsigned timestamps, pkg/ottl/contexts/internal/ctxlog/log.go;
//!   `attributes[...]`/`resource.attributes[...]`: contexts/internal/ctxutil/map.go, value.go
//!   (a missing key is nil, a set creates it);
//! - `Now()`: pkg/ottl/ottlfuncs/func_now.go, `time.Now()`, here the fixed [`NOW`] so each case
//!   is exact; `Duration("720h")`: ottlfuncs/func_duration.go, Go's `time.ParseDuration`;
//! - `time - duration` and `time + duration` are times: pkg/ottl/math.go (`performOpTime`);
//! - `<` and `>` on times are `Before` and `After`, `==`/`!=` across types never equal:
//!   pkg/ottl/compare.go (`compareTime`, `invalidComparison`).
//!
//! The kit panics on anything outside that subset, so a builder change to syntax it does not
//! model fails here instead of being evaluated wrongly. It is a model: the whole gateway config,
//! these statements included, is loaded by the real collector, `otelcol-contrib validate` of the
//! pinned `otel/opentelemetry-collector-contrib:0.150.1` image (e2e/validate-configs.sh), and runs
//! in it on kind (e2e/run.sh); the collector binary these tests can run has no transform
//! processor.

mod kit;

use kit::ottl::{
    Attr, Condition, Ctx, Log, Map, Record, Statement, execute_all, expand, parse_go_duration,
};
use otelhouse::collector::gateway::{ORIGINAL_TIME_ATTRIBUTE, parse_statements};
use otelhouse::crd::{Parse, TimestampParse};
use std::collections::BTreeMap;
use std::panic::catch_unwind;

const S: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * S;
const DAY: i64 = 24 * HOUR;
/// The gateway's clock, `Now()`, in every case: 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600 * S;
/// When the agent read the line (the record's observed time): a moment before.
const OBSERVED: i64 = NOW - 5 * S;
/// 2099-01-01T00:00:00Z.
const YEAR_2099: i64 = 4_070_908_800 * S;
const REGION: &str = "eu-west-1";

/// The statements of a pipeline without parsing, as the collector reads them.
fn statements(parse: &Parse, clamp_days: u32) -> Vec<Statement> {
    parse_statements(parse, REGION, clamp_days)
        .iter()
        .map(|s| Statement::parse(&expand(s), Ctx::Log))
        .collect()
}

/// One of the two clamp statements: the one keeping the original time, the one moving it.
fn is_clamp(s: &Statement) -> bool {
    s.source.contains(ORIGINAL_TIME_ATTRIBUTE) || s.source.starts_with("set(time, observed_time)")
}

fn ns(t: i64) -> u64 {
    u64::try_from(t).expect("a timestamp after 1970")
}

/// A record the agent sent: a container's line with its resource.
fn record(time: i64) -> Log {
    Log {
        time_unix_nano: ns(time),
        observed_time_unix_nano: ns(OBSERVED),
        attributes: BTreeMap::from([("log.iostream".to_string(), Attr::from("stdout"))]),
        resource: BTreeMap::from([
            ("k8s.namespace.name".to_string(), Attr::from("shop")),
            ("k8s.container.name".to_string(), Attr::from("web")),
        ]),
    }
}

/// Every statement of a default pipeline, in order, over a record of `time`.
fn gateway(clamp_days: u32, time: i64) -> Log {
    let mut log = record(time);
    execute_all(&statements(&Parse::default(), clamp_days), &mut log, NOW);
    log
}

fn assert_clamped(clamp_days: u32, time: i64, case: &str) {
    let log = gateway(clamp_days, time);
    assert_eq!(
        log.time_unix_nano,
        ns(OBSERVED),
        "{case}: time is not clamped"
    );
    assert_eq!(
        log.attributes.get(ORIGINAL_TIME_ATTRIBUTE),
        Some(&Attr::Int(time)),
        "{case}: the original time is not kept"
    );
    assert_eq!(log.observed_time_unix_nano, ns(OBSERVED), "{case}");
    assert_eq!(
        log.attributes.get("log.iostream"),
        Some(&Attr::from("stdout")),
        "{case}"
    );
}

fn assert_untouched(clamp_days: u32, time: i64, case: &str) {
    let log = gateway(clamp_days, time);
    assert_eq!(log.time_unix_nano, ns(time), "{case}: time moved");
    assert_eq!(
        log.attributes.get(ORIGINAL_TIME_ATTRIBUTE),
        None,
        "{case}: flagged as clamped"
    );
}

#[test]
fn every_gateway_statement_is_modelled() {
    let all = statements(&Parse::default(), 30);
    // Both clamp statements, the flag first (both test the original time, so the flag must be
    // set before the time moves), then service.name and cloud.region.
    let clamp: Vec<usize> = (0..all.len()).filter(|&i| is_clamp(&all[i])).collect();
    assert_eq!(clamp.len(), 2, "{all:#?}");
    assert!(all[clamp[0]].source.contains(ORIGINAL_TIME_ATTRIBUTE));
    assert!(all[clamp[1]].source.starts_with("set(time, observed_time)"));
    assert_eq!(clamp[1], clamp[0] + 1);
    assert_eq!(
        all[clamp[0]].writes,
        [(Map::Record, ORIGINAL_TIME_ATTRIBUTE.to_string())].into()
    );
    assert_eq!(all.len(), 4, "{all:#?}");
    // The others never move a timestamp, even of a record far out of the window.
    for s in all.iter().filter(|s| !is_clamp(s)) {
        let mut log = record(YEAR_2099);
        s.execute(&mut log, NOW);
        assert_eq!(log.time_unix_nano, ns(YEAR_2099), "{}", s.source);
        assert_eq!(log.observed_time_unix_nano, ns(OBSERVED), "{}", s.source);
    }
}

#[test]
fn records_out_of_the_window_take_the_observed_time() {
    assert_clamped(30, 0, "1970 (an unset or zero clock)");
    assert_clamped(30, YEAR_2099, "2099");
    assert_clamped(30, NOW - 31 * DAY, "31 days old");
    assert_clamped(30, NOW + 2 * DAY, "2 days ahead");
    // The comparisons are strict: one nanosecond past either bound is out.
    assert_clamped(30, NOW - 30 * DAY - 1, "30 days and 1 ns old");
    assert_clamped(30, NOW + DAY + 1, "24 h and 1 ns ahead");
}

#[test]
fn records_in_the_window_are_untouched() {
    assert_untouched(30, NOW - 29 * DAY, "29 days old");
    assert_untouched(30, NOW + HOUR, "1 hour ahead");
    assert_untouched(30, NOW, "now");
    assert_untouched(30, OBSERVED, "as observed");
    assert_untouched(30, NOW - 30 * DAY, "exactly 30 days old");
    assert_untouched(30, NOW + DAY, "exactly 24 h ahead");
}

#[test]
fn a_longer_retention_moves_the_boundary() {
    assert_clamped(30, NOW - 300 * DAY, "300 days old, 30 days kept");
    assert_untouched(365, NOW - 300 * DAY, "300 days old, 365 days kept");
    assert_untouched(365, NOW - 31 * DAY, "31 days old, 365 days kept");
    assert_untouched(365, NOW - 365 * DAY, "exactly 365 days old");
    assert_clamped(365, NOW - 366 * DAY, "366 days old, 365 days kept");
    // The future bound does not follow the retention.
    assert_clamped(365, NOW + 2 * DAY, "2 days ahead, 365 days kept");
    assert_untouched(1, NOW - 23 * HOUR, "23 hours old, 1 day kept");
    assert_clamped(1, NOW - 25 * HOUR, "25 hours old, 1 day kept");
}

#[test]
fn service_name_and_region_are_set_only_when_missing() {
    let log = gateway(30, NOW);
    assert_eq!(log.resource.get("service.name"), Some(&Attr::from("web")));
    assert_eq!(log.resource.get("cloud.region"), Some(&Attr::from(REGION)));

    let mut own = record(NOW);
    own.resource
        .insert("service.name".to_string(), Attr::from("checkout"));
    own.resource
        .insert("cloud.region".to_string(), Attr::from("us-east-1"));
    execute_all(&statements(&Parse::default(), 30), &mut own, NOW);
    assert_eq!(
        own.resource.get("service.name"),
        Some(&Attr::from("checkout"))
    );
    assert_eq!(
        own.resource.get("cloud.region"),
        Some(&Attr::from("us-east-1"))
    );

    // No container name: set's value is nil, and set leaves service.name missing.
    let mut bare = record(NOW);
    bare.resource.remove("k8s.container.name");
    execute_all(&statements(&Parse::default(), 30), &mut bare, NOW);
    assert_eq!(bare.resource.get("service.name"), None);
    assert_eq!(bare.resource.get("cloud.region"), Some(&Attr::from(REGION)));
}

/// With a parsed timestamp the clamp comes after it, so a bogus parsed time is clamped too.
/// `Time(...)` (strptime layouts) is not modelled: this only checks the order.
#[test]
fn the_clamp_follows_a_parsed_timestamp() {
    let parse = Parse {
        timestamp: Some(TimestampParse {
            attribute: "ts".to_string(),
            layout: "%Y-%m-%dT%H:%M:%S".to_string(),
        }),
        ..Parse::default()
    };
    let raw: Vec<String> = parse_statements(&parse, REGION, 30)
        .iter()
        .map(|s| expand(s))
        .collect();
    let parsed = raw
        .iter()
        .position(|s| s.starts_with("set(time, Time("))
        .expect("the parsed timestamp statement");
    let first_clamp = raw
        .iter()
        .position(|s| s.contains(ORIGINAL_TIME_ATTRIBUTE))
        .expect("the clamp");
    assert!(parsed < first_clamp, "{raw:#?}");
    assert!(catch_unwind(|| Statement::parse(&raw[parsed], Ctx::Log)).is_err());
}

// ---------------------------------------------------------------- the evaluator itself

#[test]
fn go_durations() {
    let d = |s: &str| parse_go_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(d("720h"), 720 * HOUR);
    assert_eq!(d("24h"), DAY);
    assert_eq!(d("1h30m"), 90 * 60 * S);
    assert_eq!(d("1.5h"), 90 * 60 * S);
    assert_eq!(d("2h45m"), 165 * 60 * S);
    assert_eq!(d("-1.5h"), -90 * 60 * S);
    assert_eq!(d("+5s"), 5 * S);
    assert_eq!(d("300ms"), 300_000_000);
    assert_eq!(d("1us"), 1_000);
    assert_eq!(d("1µs"), 1_000);
    assert_eq!(d("1μs"), 1_000);
    assert_eq!(d("1ns"), 1);
    assert_eq!(
        d("1h1m1s1ms1us1ns"),
        HOUR + 60 * S + S + 1_000_000 + 1_000 + 1
    );
    assert_eq!(d(".5s"), S / 2);
    assert_eq!(d("5.s"), 5 * S);
    assert_eq!(d("0"), 0);
    assert_eq!(d("-0"), 0);
    assert_eq!(d("0s"), 0);
    assert_eq!(d("9223372036854775807ns"), i64::MAX);
    assert_eq!(d("-9223372036854775808ns"), i64::MIN);
    assert_eq!(d("2562047h"), 2_562_047 * HOUR);
    for bad in [
        "",
        "-",
        "1",
        "h",
        "1d",
        ".s",
        "-.s",
        "1h 30m",
        "9223372036854775808ns",
        "2562048h",
    ] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn ottl_time_math_and_comparisons() {
    let log = record(NOW);
    let t = |s: &str| Condition::parse(s, Ctx::Log).eval_log(&log, NOW);
    assert!(t("time == Now()"));
    assert!(t("time <= Now() and time >= Now()"));
    assert!(!t("time < Now() or time > Now()"));
    assert!(t("observed_time < time"));
    assert!(t(r#"time - Duration("5s") == observed_time"#));
    // Left to right: (now - 1h) + 30m.
    assert!(t(
        r#"Now() - Duration("1h") + Duration("30m") == Now() - Duration("30m")"#
    ));
    assert!(t(r#"log.time > Now() - Duration("1ns")"#));
    assert!(t("time_unix_nano > observed_time_unix_nano"));
    // Across types nothing is equal, and nothing is ordered.
    assert!(!t("time == time_unix_nano"));
    assert!(t("time != time_unix_nano"));
    assert!(!t("time < time_unix_nano") && !t("time >= time_unix_nano"));
    assert!(t("time != nil"));
    // The old subset still reads a Record, which has no timestamps.
    let r = Record::default();
    assert!(Condition::parse(r#"attributes["a"] == nil"#, Ctx::Log).eval(&r));
    assert!(catch_unwind(|| Condition::parse("time == Now()", Ctx::Log).eval(&r)).is_err());

    let run = |s: &str, log: &mut Log| Statement::parse(s, Ctx::Log).execute(log, NOW);
    let mut log = record(NOW);
    assert!(run(r#"set(time, Now() - Duration("1h"))"#, &mut log));
    assert_eq!(log.time_unix_nano, ns(NOW - HOUR));
    assert!(run(r#"set(attributes["t"], time_unix_nano)"#, &mut log));
    assert_eq!(log.attributes.get("t"), Some(&Attr::Int(NOW - HOUR)));
    assert!(run(
        r#"set(observed_time_unix_nano, attributes["t"])"#,
        &mut log
    ));
    assert_eq!(log.observed_time_unix_nano, ns(NOW - HOUR));
    // A nil value sets nothing, not even an empty key.
    assert!(run(
        r#"set(attributes["x"], attributes["missing"])"#,
        &mut log
    ));
    assert!(!log.attributes.contains_key("x"));
    // The condition first: false, and the editor does not run.
    assert!(!run(
        r#"set(attributes["x"], "y") where time > Now()"#,
        &mut log
    ));
    assert!(!log.attributes.contains_key("x"));
    assert!(run(
        r#"set(attributes["x"], "y") where time < Now()"#,
        &mut log
    ));
    assert_eq!(log.attributes.get("x"), Some(&Attr::from("y")));
    // A statement sees what the previous ones wrote.
    let mut log = record(0);
    let seq: Vec<Statement> = [
        "set(time, observed_time)",
        r#"set(attributes["moved"], "yes") where time == observed_time"#,
    ]
    .iter()
    .map(|s| Statement::parse(s, Ctx::Log))
    .collect();
    execute_all(&seq, &mut log, NOW);
    assert_eq!(log.attributes.get("moved"), Some(&Attr::from("yes")));
    // In the resource context `attributes` are the resource's.
    let mut log = record(NOW);
    assert!(Statement::parse(r#"set(attributes["r"], "x")"#, Ctx::Resource).execute(&mut log, NOW));
    assert_eq!(log.resource.get("r"), Some(&Attr::from("x")));
    assert!(!log.attributes.contains_key("r"));
}

#[test]
fn ottl_outside_the_subset_panics() {
    for (src, ctx) in [
        ("set(time, time_unix_nano)", Ctx::Log),
        (r#"set(attributes["x"], Now())"#, Ctx::Log),
        (r#"set(resource.attributes["x"], time)"#, Ctx::Log),
        (r#"set(time, Now() * Duration("1h"))"#, Ctx::Log),
        (r#"set(time, Duration("1h") + Now())"#, Ctx::Log),
        ("set(time, time - time)", Ctx::Log),
        (r#"set(time, Now() - Duration("1d"))"#, Ctx::Log),
        (r#"set(time, Now() - Duration(attributes["d"]))"#, Ctx::Log),
        (r#"set(time, Now()) where time < attributes["x"]"#, Ctx::Log),
        (r#"set(time, Now()) where attributes["a"] > "b""#, Ctx::Log),
        (r#"set(time, Now()) where time > Now() - 1"#, Ctx::Log),
        (r#"set(time, Time(attributes["ts"], "%Y"))"#, Ctx::Log),
        (r#"set(time, Now(), "x")"#, Ctx::Log),
        (
            r#"merge_maps(attributes, ParseJSON(body), "upsert")"#,
            Ctx::Log,
        ),
        (
            r#"set(attributes["x"], "y") where time > Now()"#,
            Ctx::Resource,
        ),
        ("set(Now(), time)", Ctx::Log),
        ("set(time, observed_time) where", Ctx::Log),
    ] {
        let caught = catch_unwind(|| Statement::parse(src, ctx));
        assert!(caught.is_err(), "{src} was accepted");
    }
}
