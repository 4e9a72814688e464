//! The model on small YAML fixtures: each resource on its own, set aside alone, with typed
//! problems naming it and its field; defaults resolved once. No Python, no ClickHouse.

use super::*;
use crate::inventory::Inputs;

const CLASS: &str = r#"
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: all}
spec: {default: true, expectedLinesPerSecond: 100, resources: {limits: {memory: 128Mi}}}
"#;

const STORE: &str = r#"
apiVersion: otelhouse.dev/v1alpha1
kind: ClickHouseStore
metadata: {name: us}
spec:
  region: us-east-1
  httpUrl: http://ch:8123
  exporterEndpoint: tcp://ch:9000
  credentials: {secretName: ch}
  allowedNamespaces: [team-a, team-b]
"#;

const NODES: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/zone: a, topology.kubernetes.io/region: us-east-1}}
"#;

fn pipeline(ns: &str, name: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: otelhouse.dev/v1alpha1
kind: LogPipeline
metadata: {{name: {name}, namespace: {ns}}}
spec:
  stores: [us]
  tables: [{{name: logs, retentionDays: 7}}]
  gateway: {{expectedEventsPerSecond: 1000}}
{extra}
"#
    )
}

fn inputs(docs: &[&str]) -> Inputs {
    let mut inputs = Inputs::default();
    let mut problems = Vec::new();
    for d in docs {
        let parsed = crate::render::documents(d, "test").expect("yaml");
        crate::render::add_documents(&mut inputs, parsed, "test", &mut problems);
    }
    assert!(problems.is_empty(), "{problems:?}");
    inputs
}

fn resolve_docs(docs: &[&str]) -> Resolution {
    resolve(&inputs(docs), &Settings::default())
}

fn problems_of<'a>(r: &'a Resolution, id: &ResourceId) -> Vec<&'a Problem> {
    r.problems
        .iter()
        .filter(|p| p.resource() == Some(id))
        .collect()
}

#[test]
fn a_valid_platform_resolves_with_every_default() {
    let p = pipeline("team-a", "app", "");
    let r = resolve_docs(&[CLASS, STORE, NODES, &p]);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let m = &r.model;
    assert_eq!(m.classes.len(), 1);
    assert_eq!(m.classes[0].memory_limit_bytes, 128 * 1024 * 1024);
    let pl = &m.pipelines[0];
    assert_eq!(pl.id, ResourceId::pipeline("team-a", "app"));
    assert_eq!(pl.component_id, "team-a.app");
    // Gateway defaults: a shared pool's, sized later from the plan.
    assert!(!pl.gateway.dedicated);
    assert_eq!(pl.gateway.explicit_resources, None);
    assert_eq!(pl.gateway.capacity_per_replica, 60_000);
    assert_eq!(pl.gateway.batch_rows, 15_000);
    assert_eq!(pl.gateway.buffer, std::time::Duration::from_secs(7200));
    // Table defaults resolved once, expressions parsed.
    let t = &pl.tables[0];
    let cols: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, ["Namespace", "PodName", "ContainerName"]);
    let order: Vec<String> = t.order_by.iter().map(|e| e.to_string()).collect();
    assert_eq!(order, ["Namespace", "PodName", "Timestamp"]);
    assert_eq!(t.partition_by.to_string(), "toDate(Timestamp)");
    let idx: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(idx, ["idx_traceid", "idx_body", "idx_podname"]);
    assert_eq!(t.index_granularity, 1024);
    // The region's store and zone.
    let region = &pl.regions["us-east-1"];
    assert_eq!(region.store.name, "us");
    assert_eq!(region.zones[0].name, "a");
    assert_eq!(region.zones[0].lines_per_second, 100.0);
}

#[test]
fn a_bad_pipeline_sets_aside_only_itself_with_its_field() {
    let good = pipeline("team-a", "good", "");
    let bad = pipeline(
        "team-b",
        "bad",
        "  deletionPolicy: Retain\n  routes: [{table: nope}]",
    );
    let r = resolve_docs(&[CLASS, STORE, NODES, &good, &bad]);
    let id = ResourceId::pipeline("team-b", "bad");
    let ps = problems_of(&r, &id);
    assert!(!ps.is_empty());
    assert!(ps.iter().all(|p| p.kind == ProblemKind::Invalid));
    assert!(
        ps.iter()
            .any(|p| p.field == "spec.routes[0].table" && p.message.contains("nope")),
        "{ps:?}"
    );
    assert_eq!(r.excluded(), [id].into());
    assert_eq!(r.model.pipelines.len(), 1);
    assert_eq!(r.model.pipelines[0].name, "good");
    // render refuses it all.
    assert!(r.into_complete().is_err());
}

#[test]
fn an_invalid_store_sets_aside_its_pipelines_with_a_reason() {
    let bad_store = STORE.replace("region: us-east-1", "region: Not_A_Region");
    let p = pipeline("team-a", "app", "");
    let r = resolve_docs(&[CLASS, &bad_store, NODES, &p]);
    assert!(!problems_of(&r, &ResourceId::store("us")).is_empty());
    let ps = problems_of(&r, &ResourceId::pipeline("team-a", "app"));
    assert!(
        ps.iter()
            .any(|p| p.field == "spec.stores[0]" && p.message.contains("is invalid")),
        "{ps:?}"
    );
    assert!(r.model.pipelines.is_empty());
    assert!(r.model.stores.is_empty());
}

/// TLS asked for is TLS on every connection: the native protocol's two schemes get
/// `secure=true`, a clear-text `http://` URL is refused (it would carry the password in clear).
#[test]
fn a_store_with_tls_never_connects_in_clear_text() {
    let tls = |http: &str, exporter: &str| {
        STORE
            .replace("httpUrl: http://ch:8123", &format!("httpUrl: {http}"))
            .replace(
                "exporterEndpoint: tcp://ch:9000",
                &format!("exporterEndpoint: {exporter}"),
            )
            .replace(
                "allowedNamespaces",
                "tls: {enabled: true}\n  allowedNamespaces",
            )
    };
    for scheme in ["tcp", "clickhouse"] {
        let r = resolve_docs(&[
            CLASS,
            &tls("https://ch:8443", &format!("{scheme}://ch:9440")),
            NODES,
        ]);
        assert_eq!(
            r.model.stores["us"].exporter_endpoint,
            format!("{scheme}://ch:9440?secure=true")
        );
    }
    let r = resolve_docs(&[CLASS, &tls("https://ch:8443", "https://ch:8443"), NODES]);
    assert_eq!(r.model.stores["us"].exporter_endpoint, "https://ch:8443");
    for (http, exporter, field) in [
        ("http://ch:8123", "tcp://ch:9440", "spec.httpUrl"),
        ("https://ch:8443", "http://ch:8123", "spec.exporterEndpoint"),
    ] {
        let r = resolve_docs(&[CLASS, &tls(http, exporter), NODES]);
        let ps = problems_of(&r, &ResourceId::store("us"));
        assert!(
            ps.iter()
                .any(|p| p.field == field && p.message.contains("use https://")),
            "{ps:?}"
        );
        assert!(r.model.stores.is_empty());
    }
}

/// A tenant plans at most `max_tenant_replicas` gateways (its rate; for dedicated gateways its
/// floor in every zone and its ceiling); the trusted namespaces are not capped.
#[test]
fn a_tenant_cannot_plan_more_gateways_than_its_cap() {
    let with = |ns: &str, gateway: &str| {
        pipeline(ns, "p", "").replace(
            "gateway: {expectedEventsPerSecond: 1000}",
            &format!("gateway: {gateway}"),
        )
    };
    for (gateway, field) in [
        (
            "{expectedEventsPerSecond: 100000000}",
            "spec.gateway.expectedEventsPerSecond",
        ),
        (
            "{expectedEventsPerSecond: 1000, dedicated: true, minReplicasPerZone: 100}",
            "spec.gateway.minReplicasPerZone",
        ),
        (
            "{expectedEventsPerSecond: 1000, dedicated: true, maxReplicas: 1000000}",
            "spec.gateway.maxReplicas",
        ),
        (
            "{expectedEventsPerSecond: 1000000, dedicated: true, capacityPerReplica: 1}",
            "spec.gateway.expectedEventsPerSecond",
        ),
    ] {
        let r = resolve_docs(&[CLASS, STORE, NODES, &with("team-a", gateway)]);
        let ps = problems_of(&r, &ResourceId::pipeline("team-a", "p"));
        assert!(
            ps.iter()
                .any(|p| p.field == field && p.message.contains("--pool-max-tenant-replicas")),
            "{gateway}: {ps:?}"
        );
        let trusted = resolve_docs(&[CLASS, STORE, NODES, &with("otelhouse-system", gateway)]);
        assert!(
            problems_of(&trusted, &ResourceId::pipeline("otelhouse-system", "p")).is_empty(),
            "{gateway}: a trusted pipeline is not capped"
        );
    }
}

#[test]
fn tenancy_a_tenant_collects_its_own_namespace_into_granted_stores_only() {
    let other = pipeline("team-a", "app", "  sources: {namespaces: [kube-system]}");
    let ungranted = pipeline("team-c", "app", "");
    let r = resolve_docs(&[CLASS, STORE, NODES, &other, &ungranted]);
    let a = problems_of(&r, &ResourceId::pipeline("team-a", "app"));
    assert!(
        a.iter().any(|p| p.field == "spec.sources.namespaces[0]"),
        "{a:?}"
    );
    let c = problems_of(&r, &ResourceId::pipeline("team-c", "app"));
    assert!(
        c.iter()
            .any(|p| p.message.contains("not granted to namespace team-c")),
        "{c:?}"
    );
}

#[test]
fn overlapping_classes_name_each_other_and_keep_their_nodes_from_the_catch_all() {
    let a = r#"
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: pool-a}
spec: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [a]}]}], expectedLinesPerSecond: 1, resources: {limits: {memory: 128Mi}}}
"#;
    let b = a
        .replace("pool-a", "pool-b")
        .replace("operator: In, values: [a]", "operator: Exists");
    let node = r#"
apiVersion: v1
kind: Node
metadata: {name: n9, labels: {pool: a}}
"#;
    let r = resolve_docs(&[CLASS, a, &b, node]);
    for (me, other) in [("pool-a", "pool-b"), ("pool-b", "pool-a")] {
        let ps = problems_of(&r, &ResourceId::class(me));
        assert!(
            ps.iter().any(|p| p.kind
                == ProblemKind::Overlap {
                    with: vec![other.to_string()]
                }
                && p.message
                    .contains("node n9 is selected by pool-a and pool-b")),
            "{ps:?}"
        );
    }
    // The catch-all stays valid, and does not take n9 (its own class's agents stay there).
    assert_eq!(r.model.classes.len(), 1);
    assert!(
        !r.model.classes[0]
            .selection
            .matches(&BTreeMap::from([("pool".to_string(), "a".to_string())]))
    );
}

#[test]
fn two_catch_alls_are_both_refused() {
    let other = CLASS.replace("name: all", "name: other");
    let r = resolve_docs(&[CLASS, &other]);
    for c in ["all", "other"] {
        let ps = problems_of(&r, &ResourceId::class(c));
        assert!(ps.iter().any(|p| p.field == "spec.default"), "{ps:?}");
    }
    assert!(r.model.classes.is_empty());
}

#[test]
fn the_same_pipeline_twice_is_refused() {
    let p = pipeline("team-a", "app", "");
    let r = resolve_docs(&[CLASS, STORE, NODES, &p, &p]);
    let ps = problems_of(&r, &ResourceId::pipeline("team-a", "app"));
    assert!(ps.iter().any(|p| p.message == "defined twice"), "{ps:?}");
    assert!(r.model.pipelines.is_empty());
}

#[test]
fn warnings_name_their_subject() {
    let unzoned = r#"
apiVersion: v1
kind: Node
metadata: {name: n2}
"#;
    let r = resolve_docs(&[STORE, unzoned]);
    assert!(r.warnings.iter().any(|w| w.subject == Subject::Nodes
        && w.kind == ProblemKind::Warning
        && w.message.contains("covered by no AgentClass")));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.message.contains("without topology.kubernetes.io/zone"))
    );
}

#[test]
fn tables_resolve_alone_for_the_schema_cli() {
    let p = pipeline("team-a", "app", "");
    let i = inputs(&[&p]);
    let tables = pipeline::resolve_tables(&i.pipelines[0]).unwrap();
    assert_eq!(tables[0].ingest_name(), "logs_ingest");
    let bad = pipeline("team-a", "app", "").replace("retentionDays: 7", "retentionDays: 0");
    let i = inputs(&[&bad]);
    let e = pipeline::resolve_tables(&i.pipelines[0]).unwrap_err();
    assert!(
        e.iter().any(|p| p.field == "spec.tables[0].retentionDays"),
        "{e:?}"
    );
}

/// A pipeline with a creationTimestamp (the API server sets one; `render` files have none).
fn created(doc: &str, at: &str) -> String {
    doc.replacen(
        "metadata: {",
        &format!("metadata: {{creationTimestamp: \"{at}\", "),
        1,
    )
}

/// (store, database, table) belongs to one pipeline across all of them: the oldest keeps it,
/// whatever arrives later or sorts first by name; the newcomer is refused naming the owner.
#[test]
fn a_table_belongs_to_the_oldest_pipeline_that_claims_it() {
    let owner = created(&pipeline("team-b", "owner", ""), "2026-01-01T00:00:00Z");
    let squatter = created(&pipeline("team-a", "squatter", ""), "2026-06-01T00:00:00Z");
    // Given in either order, the owner (older, though it sorts after by namespace) keeps it.
    for docs in [
        [CLASS, STORE, NODES, &owner, &squatter],
        [CLASS, STORE, NODES, &squatter, &owner],
    ] {
        let r = resolve_docs(&docs);
        assert!(problems_of(&r, &ResourceId::pipeline("team-b", "owner")).is_empty());
        let ps = problems_of(&r, &ResourceId::pipeline("team-a", "squatter"));
        assert!(
            ps.iter().any(|p| p.field == "spec.tables[0].name"
                && p.message.contains("belongs to LogPipeline team-b/owner")),
            "{ps:?}"
        );
        assert_eq!(r.model.pipelines.len(), 1);
    }
    // Without timestamps: namespace/name decides, deterministically.
    let a = pipeline("team-a", "x", "");
    let b = pipeline("team-b", "x", "");
    let r = resolve_docs(&[CLASS, STORE, NODES, &b, &a]);
    assert!(problems_of(&r, &ResourceId::pipeline("team-a", "x")).is_empty());
    assert!(!problems_of(&r, &ResourceId::pipeline("team-b", "x")).is_empty());
    // An invalid owner still owns its table: a typo does not hand it to a squatter.
    let broken = created(
        &pipeline("team-b", "owner", "  routes: [{table: nope}]"),
        "2026-01-01T00:00:00Z",
    );
    let r = resolve_docs(&[CLASS, STORE, NODES, &broken, &squatter]);
    let ps = problems_of(&r, &ResourceId::pipeline("team-a", "squatter"));
    assert!(
        ps.iter()
            .any(|p| p.message.contains("belongs to LogPipeline team-b/owner")),
        "{ps:?}"
    );
    // Two store names for one server and database are one place.
    let alias = STORE
        .replace("name: us}", "name: us-alias}")
        .replace("region: us-east-1", "region: us-east-2");
    let other = pipeline("team-a", "other", "").replace("stores: [us]", "stores: [us-alias]");
    let r = resolve_docs(&[CLASS, STORE, &alias, NODES, &owner, &other]);
    let ps = problems_of(&r, &ResourceId::pipeline("team-a", "other"));
    assert!(
        ps.iter().any(|p| p
            .message
            .contains("belongs to LogPipeline team-b/owner (through store us)")),
        "{ps:?}"
    );
    // Another database on the same server is another place.
    let elsewhere = alias.replace("allowedNamespaces", "database: other\n  allowedNamespaces");
    let r = resolve_docs(&[CLASS, STORE, &elsewhere, NODES, &owner, &other]);
    let ps = problems_of(&r, &ResourceId::pipeline("team-a", "other"));
    assert!(
        !ps.iter().any(|p| p.message.contains("belongs to")),
        "{ps:?}"
    );
}

fn table_problems(table: &str) -> Vec<Problem> {
    let p = pipeline("team-a", "p", "").replace("tables: [{name: logs, retentionDays: 7}]", table);
    let r = resolve_docs(&[CLASS, STORE, NODES, &p]);
    problems_of(&r, &ResourceId::pipeline("team-a", "p"))
        .into_iter()
        .cloned()
        .collect()
}

fn assert_refused(table: &str, field: &str, text: &str) {
    let ps = table_problems(table);
    assert!(
        ps.iter()
            .any(|p| p.field == field && p.message.contains(text)),
        "{table}: expected {field}: {text:?} in {ps:?}"
    );
}

#[test]
fn reserved_table_names_are_refused() {
    for name in [
        "otelhouse_schema_history",
        "otelhouse_anything",
        "logs_ingest",
        "logs_mv",
    ] {
        assert_refused(
            &format!("tables: [{{name: {name}, retentionDays: 7}}]"),
            "spec.tables[0].name",
            "is reserved",
        );
    }
    // Within one pipeline too: `x` next to `x_ingest`, and the same name twice.
    assert_refused(
        "tables: [{name: x, retentionDays: 7}, {name: x_ingest, retentionDays: 7}]\n  defaultTable: x",
        "spec.tables[1].name",
        "is reserved",
    );
    assert_refused(
        "tables: [{name: x, retentionDays: 7}, {name: x, retentionDays: 7}]\n  defaultTable: x",
        "spec.tables[1].name",
        "defined twice",
    );
    assert!(table_problems("tables: [{name: ingest_logs, retentionDays: 7}]").is_empty());
}

/// What ClickHouse refuses at CREATE or at every insert (each checked on chdb in
/// tests/schema.rs): refused here with the field.
#[test]
fn values_clickhouse_would_refuse_later_are_refused_with_their_field() {
    let col = |name: &str, ty: &str| {
        format!(
            "tables: [{{name: logs, retentionDays: 7, columns: [{{name: {name}, from: LogAttributes, key: k, type: {ty}}}]}}]"
        )
    };
    for name in ["_row_exists", "_part", "_block_number", "_partition_id"] {
        assert_refused(
            &col(name, "String"),
            "spec.tables[0].columns[0].name",
            "virtual columns",
        );
    }
    let with = |extra: &str| {
        format!(
            "tables: [{{name: logs, retentionDays: 7, columns: [{{name: code, from: LogAttributes, key: k, type: Int64}}, {{name: ok, from: LogAttributes, key: o, type: Bool}}], {extra}}}]"
        )
    };
    for (extra, field, text) in [
        (
            "indexes: [{expression: code, type: tokenbf_v1}]",
            "spec.tables[0].indexes[0].type",
            "indexes String columns",
        ),
        (
            "indexes: [{expression: ok, type: ngrambf_v1}]",
            "spec.tables[0].indexes[0].type",
            "indexes String columns",
        ),
        (
            "indexes: [{expression: Timestamp, type: text}]",
            "spec.tables[0].indexes[0].type",
            "indexes String columns",
        ),
        (
            "indexes: [{expression: lower(code), type: bloom_filter}]",
            "spec.tables[0].indexes[0].expression",
            "lower takes a String column",
        ),
        (
            "orderBy: [toStartOfHour(Body)]",
            "spec.tables[0].orderBy[0]",
            "takes a Date, DateTime or DateTime64",
        ),
        (
            "orderBy: [lower(code)]",
            "spec.tables[0].orderBy[0]",
            "lower takes a String column",
        ),
        (
            "partitionBy: toDate(Body)",
            "spec.tables[0].partitionBy",
            "takes a Date, DateTime or DateTime64",
        ),
        (
            "partitionBy: Timestamp",
            "spec.tables[0].partitionBy",
            "max_partitions_per_insert_block",
        ),
        (
            "partitionBy: toStartOfHour(Timestamp)",
            "spec.tables[0].partitionBy",
            "max_partitions_per_insert_block",
        ),
        (
            "partitionBy: code",
            "spec.tables[0].partitionBy",
            "max_partitions_per_insert_block",
        ),
        (
            "partitionBy: cityHash64(Body)",
            "spec.tables[0].partitionBy",
            "max_partitions_per_insert_block",
        ),
    ] {
        assert_refused(&with(extra), field, text);
    }
    // What fits is accepted.
    for extra in [
        "indexes: [{expression: code, type: bloom_filter}, {expression: lower(Body), type: tokenbf_v1}, {expression: mapKeys(LogAttributes), type: text}]",
        "partitionBy: EventDate",
        "partitionBy: toYYYYMM(Timestamp)",
        "partitionBy: toStartOfDay(EventTime)",
        "orderBy: [toStartOfHour(Timestamp), code]",
    ] {
        let ps = table_problems(&with(extra));
        assert!(ps.is_empty(), "{extra}: {ps:?}");
    }
}

fn pipeline_problems(gateway: &str) -> Vec<Problem> {
    let p = pipeline("otelhouse-system", "p", "").replace(
        "gateway: {expectedEventsPerSecond: 1000}",
        &format!("gateway: {gateway}"),
    );
    let r = resolve_docs(&[CLASS, STORE, NODES, &p]);
    problems_of(&r, &ResourceId::pipeline("otelhouse-system", "p"))
        .into_iter()
        .cloned()
        .collect()
}

fn has(ps: &[Problem], field: &str, text: &str) -> bool {
    ps.iter()
        .any(|p| p.field == field && p.message.contains(text))
}

/// What the collector (or the API server) would refuse once applied: refused here, with the
/// field, by the collector's own rules (memorylimiter and exporterhelper Validate, v0.150.0).
#[test]
fn values_the_collector_or_the_api_server_would_refuse_are_refused_with_their_field() {
    let dedicated = |resources: &str| {
        format!("{{expectedEventsPerSecond: 1000, dedicated: true, resources: {resources}}}")
    };
    // 1Mi: limit_mib 1 and spike_limit_mib 1, refused by the memory_limiter; 2Mi: 1 and 1.
    for mem in ["1Mi", "2Mi", "1"] {
        let ps = pipeline_problems(&dedicated(&format!("{{limits: {{memory: {mem}}}}}")));
        assert!(
            has(
                &ps,
                "spec.gateway.resources.limits.memory",
                "spike_limit_mib must be smaller than limit_mib"
            ),
            "{mem}: {ps:?}"
        );
    }
    let ps = pipeline_problems(&dedicated("{limits: {memory: 32Mi}}"));
    assert!(
        has(&ps, "spec.gateway.resources.limits.memory", "at least 64Mi"),
        "{ps:?}"
    );
    assert!(pipeline_problems(&dedicated("{limits: {memory: 512Mi}}")).is_empty());
    // A request above its limit.
    for (resources, field) in [
        (
            "{requests: {memory: 2Gi}, limits: {memory: 1Gi}}",
            "spec.gateway.resources.requests.memory",
        ),
        (
            "{requests: {cpu: 1100m}, limits: {cpu: \"1\", memory: 1Gi}}",
            "spec.gateway.resources.requests.cpu",
        ),
    ] {
        let ps = pipeline_problems(&dedicated(resources));
        assert!(has(&ps, field, "is over the limit"), "{resources}: {ps:?}");
    }
    assert!(
        pipeline_problems(&dedicated(
            "{requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: \"1\", memory: 1Gi}}"
        ))
        .is_empty()
    );
    // batch.timeout is written in whole milliseconds: 500us would be `0ms`, which the
    // exporter refuses (flush_timeout must be positive), 1500us silently 1ms.
    for timeout in ["500us", "1500us", "1ms500us"] {
        let ps = pipeline_problems(&format!(
            "{{expectedEventsPerSecond: 1000, batch: {{timeout: {timeout}}}}}"
        ));
        assert!(
            has(&ps, "spec.gateway.batch.timeout", "milliseconds")
                || has(&ps, "spec.gateway.batch.timeout", "between 1ms"),
            "{timeout}: {ps:?}"
        );
    }
    assert!(
        pipeline_problems("{expectedEventsPerSecond: 1000, batch: {timeout: 250ms}}").is_empty()
    );
}

#[test]
fn malformed_tolerations_are_refused_as_the_api_server_would() {
    let class = |tolerations: &str| {
        CLASS.replace(
            "expectedLinesPerSecond: 100,",
            &format!("expectedLinesPerSecond: 100, tolerations: [{tolerations}],"),
        )
    };
    for (t, field, text) in [
        (
            "{operator: Equal, value: x}",
            "spec.tolerations[0].operator",
            "must be Exists when `key` is empty",
        ),
        (
            "{key: a, operator: Exists, value: x}",
            "spec.tolerations[0].value",
            "must be empty",
        ),
        (
            "{key: a, effect: NoSchedule, tolerationSeconds: 5}",
            "spec.tolerations[0].effect",
            "NoExecute",
        ),
        (
            "{key: \"a b\"}",
            "spec.tolerations[0].key",
            "not a qualified name",
        ),
        (
            "{key: a, operator: Lt, value: \"1\"}",
            "spec.tolerations[0].operator",
            "not supported",
        ),
        (
            "{key: a, value: \"-x\"}",
            "spec.tolerations[0].value",
            "not a valid label value",
        ),
        (
            "{key: a, operator: Exists, effect: Sometimes}",
            "spec.tolerations[0].effect",
            "not supported",
        ),
    ] {
        let r = resolve_docs(&[&class(t), NODES]);
        let ps: Vec<Problem> = problems_of(&r, &ResourceId::class("all"))
            .into_iter()
            .cloned()
            .collect();
        assert!(has(&ps, field, text), "{t}: {ps:?}");
    }
    let ok = class(
        "{key: dedicated, operator: Equal, value: logs, effect: NoExecute, tolerationSeconds: 60}",
    );
    let r = resolve_docs(&[&ok, NODES]);
    assert!(problems_of(&r, &ResourceId::class("all")).is_empty());
    // A request above its limit in a class too.
    let over = CLASS.replace(
        "limits: {memory: 128Mi}",
        "requests: {memory: 256Mi}, limits: {memory: 128Mi}",
    );
    let r = resolve_docs(&[&over, NODES]);
    let ps: Vec<Problem> = problems_of(&r, &ResourceId::class("all"))
        .into_iter()
        .cloned()
        .collect();
    assert!(
        has(&ps, "spec.resources.requests.memory", "is over the limit"),
        "{ps:?}"
    );
}

#[test]
fn store_ports_over_65535_are_refused() {
    for (from, to, field) in [
        ("http://ch:8123", "http://ch:99999", "spec.httpUrl"),
        ("tcp://ch:9000", "tcp://ch:0", "spec.exporterEndpoint"),
        ("tcp://ch:9000", "tcp://ch:65536", "spec.exporterEndpoint"),
    ] {
        let r = resolve_docs(&[&STORE.replace(from, to)]);
        let ps: Vec<Problem> = problems_of(&r, &ResourceId::store("us"))
            .into_iter()
            .cloned()
            .collect();
        assert!(
            has(&ps, field, "is not between 1 and 65535"),
            "{to}: {ps:?}"
        );
    }
    assert!(
        resolve_docs(&[&STORE.replace("tcp://ch:9000", "tcp://ch:65535")])
            .problems
            .is_empty()
    );
}

/// A tenant namespace's pipelines add at most MAX_TENANT_LABEL_KEYS label keys to the one agent
/// config; the pipeline that passes it is refused, the ones before keep theirs.
#[test]
fn a_tenant_namespace_adds_a_bounded_number_of_label_keys() {
    let columns = |from: usize, n: usize| {
        let cols: Vec<String> = (from..from + n)
            .map(|i| {
                format!("{{name: l{i}, from: ResourceAttributes, key: k8s.pod.labels.key{i}}}")
            })
            .collect();
        format!(
            "tables: [{{name: logs_{from}, retentionDays: 7, columns: [{}]}}]",
            cols.join(", ")
        )
    };
    let with = |ns: &str, name: &str, from: usize, n: usize| {
        pipeline(ns, name, "").replace(
            "tables: [{name: logs, retentionDays: 7}]",
            &columns(from, n),
        )
    };
    let a = with("team-a", "a", 0, 20);
    let b = with("team-a", "b", 10, 12); // 10 of its 12 keys are a's: 22 in all
    let c = with("team-a", "c", 100, 11); // 33
    let other = with("team-b", "d", 200, 30); // another tenant counts apart
    let r = resolve_docs(&[CLASS, STORE, NODES, &a, &b, &c, &other]);
    let ps = problems_of(&r, &ResourceId::pipeline("team-a", "c"));
    assert!(
        ps.iter()
            .any(|p| p.message.contains("33 distinct label keys")),
        "{ps:?}"
    );
    for (ns, n) in [("team-a", "a"), ("team-a", "b"), ("team-b", "d")] {
        assert!(problems_of(&r, &ResourceId::pipeline(ns, n)).is_empty());
    }
    // The trusted namespaces are not bounded.
    let t = with("otelhouse-system", "t", 300, 40);
    let r = resolve_docs(&[CLASS, STORE, NODES, &t]);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[test]
fn rollups_resolve_with_their_defaults_and_names() {
    let t = crate::model::table::resolve_spec(
        &serde_json::from_value(serde_json::json!({
            "name": "logs",
            "retentionDays": 30,
            "rollups": [
                {"name": "minute", "window": "1m", "retentionDays": 7},
                {"name": "hour", "window": "1h", "keys": ["ServiceName", "SeverityNumber", "PodName"]},
            ],
        }))
        .unwrap(),
    )
    .unwrap();
    let [minute, hour] = &t.rollups[..] else {
        panic!("{:?}", t.rollups)
    };
    assert_eq!(minute.keys, ["Namespace", "ServiceName", "SeverityText"]);
    assert_eq!(
        (minute.table.as_str(), minute.view.as_str()),
        ("logs_rollup_minute", "logs_rollup_minute_mv")
    );
    assert_eq!((minute.retention_days, hour.retention_days), (7, 30));
    assert_eq!(hour.window.seconds(), 3600);
    assert_eq!(hour.keys, ["ServiceName", "SeverityNumber", "PodName"]);
    // A table without a Namespace column: the default keys leave it out.
    let t = crate::model::table::resolve_spec(
        &serde_json::from_value(serde_json::json!({
            "name": "bare",
            "retentionDays": 3,
            "columns": [{"name": "Pod", "from": "ResourceAttributes", "key": "k8s.pod.name"}],
            "rollups": [{"name": "hour", "window": "1h"}],
        }))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(t.rollups[0].keys, ["ServiceName", "SeverityText"]);
}

#[test]
fn rollup_mistakes_are_refused_with_their_field() {
    let with =
        |rollups: &str| format!("tables: [{{name: logs, retentionDays: 7, rollups: [{rollups}]}}]");
    assert_refused(
        &with("{name: hour, window: 1h}, {name: hour, window: 1d}"),
        "spec.tables[0].rollups[1].name",
        "defined twice",
    );
    assert_refused(
        &with("{name: hour, window: 1h, keys: [ServiceName, Body]}"),
        "spec.tables[0].rollups[0].keys[1]",
        "\"Body\" is not a column a rollup can group by",
    );
    assert_refused(
        &with("{name: hour, window: 1h, keys: [Nope]}"),
        "spec.tables[0].rollups[0].keys[0]",
        "Namespace, PodName, ContainerName, ServiceName, SeverityText, SeverityNumber",
    );
    assert_refused(
        &with("{name: hour, window: 1h, keys: [ServiceName, ServiceName]}"),
        "spec.tables[0].rollups[0].keys[1]",
        "named twice",
    );
    assert_refused(
        &with("{name: hour_mv, window: 1h}"),
        "spec.tables[0].rollups[0].name",
        "another rollup's view",
    );
    assert_refused(
        &with("{name: Hour, window: 1h}"),
        "spec.tables[0].rollups[0].name",
        "not a safe rollup name",
    );
    assert_refused(
        &with("{name: hour, window: 1h, retentionDays: 0}"),
        "spec.tables[0].rollups[0].retentionDays",
        "not between 1 and 3650",
    );
    let five = (0..5)
        .map(|i| format!("{{name: r{i}, window: 1h}}"))
        .collect::<Vec<_>>()
        .join(", ");
    assert_refused(&with(&five), "spec.tables[0].rollups", "at most 4");
    // A table named like another table's rollup (`x_rollup_y`), or like the table part of one.
    for name in ["logs_rollup_hour", "logs_rollup"] {
        assert_refused(
            &format!("tables: [{{name: {name}, retentionDays: 7}}]"),
            "spec.tables[0].name",
            "is reserved",
        );
    }
    assert!(
        table_problems(&with(
            "{name: hour, window: 1h}, {name: minute, window: 1m}"
        ))
        .is_empty()
    );
}

/// Every accepted partition key is a day or coarser of the clamped timestamp (or what the view
/// derives from it), so the gateways raise `max_partitions_per_insert_block` for all of them,
/// not only for the default.
#[test]
fn every_accepted_partition_key_follows_the_clamped_timestamp() {
    for key in [
        "toDate(Timestamp)",
        "EventDate",
        "toYYYYMM(Timestamp)",
        "toYYYYMMDD(EventTime)",
        "toStartOfDay(Timestamp)",
    ] {
        let p = pipeline("team-a", "app", "").replace(
            "retentionDays: 7}",
            &format!("retentionDays: 7, partitionBy: \"{key}\"}}"),
        );
        let r = resolve_docs(&[CLASS, STORE, NODES, &p]);
        assert!(r.problems.is_empty(), "{key}: {:?}", r.problems);
        let t = &r.model.pipelines[0].tables[0];
        assert!(t.partitions_follow_timestamp(), "{key}");
    }
}
