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
