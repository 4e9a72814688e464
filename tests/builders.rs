//! Builders from YAML fixtures: what a given class or pipeline turns into.

mod kit;

use otelhouse::collector::keys::{merge, unknown_keys};
use otelhouse::render::{Rendered, render};
use serde_json::Value;

fn render_fixture(name: &str) -> Rendered {
    let text = std::fs::read_to_string(kit::root().join("tests/fixtures").join(name)).unwrap();
    render(&kit::inputs_from(&text), &kit::settings()).unwrap()
}

fn find<'a>(r: &'a Rendered, kind: &str, name: &str) -> &'a Value {
    &r.objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} in {:?}",
                r.objects
                    .iter()
                    .map(|o| (&o.kind, &o.name))
                    .collect::<Vec<_>>()
            )
        })
        .object
}

/// The agents' shared pipelines ConfigMap (named by its content: `otelhouse-agents-shared-<hash>`).
fn shared_config_map(r: &Rendered) -> &Value {
    &r.objects
        .iter()
        .find(|o| {
            o.kind == "ConfigMap"
                && o.object["metadata"]["annotations"]["otelhouse.dev/owner"] == "agents"
        })
        .expect("the agents' shared ConfigMap")
        .object
}

fn config_of(cm: &Value) -> Value {
    let data = cm["data"].as_object().unwrap();
    let (_, text) = data.iter().next().unwrap();
    serde_norway::from_str(text.as_str().unwrap()).unwrap()
}

/// What an agent of a class runs: the shared pipelines merged with the class's overlay.
fn agent_config_of(r: &Rendered, class: &str) -> Value {
    let mut cfg = config_of(shared_config_map(r));
    merge(
        &mut cfg,
        &config_of(find(r, "ConfigMap", &format!("otelhouse-agent-{class}"))),
    );
    cfg
}

#[test]
fn every_collector_config_uses_only_keys_of_the_pinned_version() {
    for fixture in ["tenant.yaml", "hostile.yaml"] {
        let r = render_fixture(fixture);
        let samples = render(&kit::sample_inputs(), &kit::settings()).unwrap();
        for rendered in [&r, &samples] {
            let mut checked = 0;
            for o in rendered.objects.iter().filter(|o| o.kind == "ConfigMap") {
                let cfg =
                    match o.object["metadata"]["labels"]["app.kubernetes.io/instance"].as_str() {
                        Some("shared") => continue,
                        _ if o.name.starts_with("otelhouse-agent-") => {
                            agent_config_of(rendered, o.name.trim_start_matches("otelhouse-agent-"))
                        }
                        _ => config_of(&o.object),
                    };
                let unknown = unknown_keys(&cfg);
                assert!(unknown.is_empty(), "{}: {unknown:?}", o.name);
                checked += 1;
            }
            assert!(checked >= 2);
        }
    }
}

#[test]
fn agent_daemonset_is_locked_down_and_rolls_on_config_change() {
    let r = render_fixture("tenant.yaml");
    let ds = find(&r, "DaemonSet", "otelhouse-agent-all");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    // Log directories read-only; only the checkpoint directory is writable.
    for m in c["volumeMounts"].as_array().unwrap() {
        let writable = m["readOnly"] == false;
        assert_eq!(writable, m["name"] == "checkpoints", "{m}");
    }
    let hash = ds["spec"]["template"]["metadata"]["annotations"]["otelhouse.dev/config-hash"]
        .as_str()
        .unwrap();
    assert_eq!(hash.len(), 64);
    let args = c["args"].to_string();
    assert!(
        args.contains("pipelines.yaml") && args.contains("class.yaml"),
        "{args}"
    );
    // memory_limiter from the 256Mi limit: 80% and 20% of that.
    let cfg = agent_config_of(&r, "all");
    assert_eq!(cfg["processors"]["memory_limiter"]["limit_mib"], 204);
    assert_eq!(cfg["processors"]["memory_limiter"]["spike_limit_mib"], 40);
    // Checkpoints, CRI/docker parsing, this node's pods only.
    assert_eq!(cfg["receivers"]["filelog"]["storage"], "file_storage");
    assert_eq!(
        cfg["receivers"]["filelog"]["operators"][0]["type"],
        "container"
    );
    assert_eq!(
        cfg["processors"]["k8s_attributes"]["filter"]["node_from_env_var"],
        "K8S_NODE_NAME"
    );
}

/// The agents read only the tenant's namespace (a file glob) and send it to its pool; the
/// pool's gateways route the namespace to the pipeline. No per-pipeline component on agents.
#[test]
fn tenant_pipeline_collects_its_own_namespace_only() {
    let r = render_fixture("tenant.yaml");
    let cfg = agent_config_of(&r, "all");
    assert_eq!(
        cfg["receivers"]["filelog"]["include"],
        serde_json::json!(["/var/log/pods/team-a_*/*/*.log"])
    );
    let exporters: Vec<&String> = cfg["exporters"].as_object().unwrap().keys().collect();
    assert_eq!(exporters, ["otlp_grpc/otelhouse-gw-s0"]);
    assert_eq!(
        cfg["exporters"]["otlp_grpc/otelhouse-gw-s0"]["endpoint"],
        "otelhouse-gw-s0.otelhouse-system.svc:4317"
    );
    assert!(
        cfg["processors"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("filter")),
        "no per-pipeline filter on agents"
    );
    let gw = config_of(find(&r, "ConfigMap", "otelhouse-gw-s0-us-east-1"));
    let route = &gw["connectors"]["routing/namespaces"]["table"][0];
    assert_eq!(
        route["condition"],
        r#"attributes["k8s.namespace.name"] == "team-a""#
    );
    assert_eq!(route["pipelines"], serde_json::json!(["logs/team-a.app"]));
    assert_eq!(
        gw["connectors"]["routing/namespaces"]["default_pipelines"],
        serde_json::json!(["logs/unmatched"])
    );
}

#[test]
fn gateways_one_deployment_per_zone_with_credentials_from_the_secret() {
    let r = render_fixture("tenant.yaml");
    let deployments: Vec<&Value> = r
        .objects
        .iter()
        .filter(|o| o.kind == "Deployment")
        .map(|o| &o.object)
        .collect();
    assert_eq!(deployments.len(), 2, "two zones");
    let (user_env, password_env) = otelhouse::collector::gateway::credential_env("us");
    for d in &deployments {
        assert_eq!(
            d["metadata"]["namespace"], "otelhouse-system",
            "gateways run in the operator's namespace"
        );
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        let pw = env
            .iter()
            .find(|e| e["name"] == password_env.as_str())
            .unwrap();
        assert_eq!(pw["valueFrom"]["secretKeyRef"]["name"], "ch-us");
        assert_eq!(pw["valueFrom"]["secretKeyRef"]["key"], "pw");
        assert!(env.iter().any(|e| e["name"] == user_env.as_str()));
        let zone = d["metadata"]["labels"]["otelhouse.dev/zone"]
            .as_str()
            .unwrap();
        let term = &d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchExpressions"][0];
        assert_eq!(term["key"], "topology.kubernetes.io/zone");
        assert_eq!(term["values"][0], zone);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
        // The HPA owns replicas; the plan is its floor (and the first size, set once).
        assert!(d["spec"].get("replicas").is_none());
        // Sized from the plan: 5k events/s over 2 replicas, a 10-minute buffer in memory.
        let res = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(res["requests"]["cpu"], "300m");
        assert!(res["limits"]["memory"].as_str().unwrap().ends_with("Mi"));
    }
    let svc = find(&r, "Service", "otelhouse-gw-s0");
    assert_eq!(svc["spec"]["trafficDistribution"], "PreferClose");
    // The older annotation would override trafficDistribution where both are set.
    assert!(
        svc["metadata"]["annotations"]
            .get("service.kubernetes.io/topology-mode")
            .is_none()
    );
    let cm = find(&r, "ConfigMap", "otelhouse-gw-s0-us-east-1");
    let text = cm["data"]["config.yaml"].as_str().unwrap();
    assert!(!text.contains("secretKeyRef") && text.contains(&format!("${{env:{password_env}}}")));
    let cfg = config_of(cm);
    let ch = &cfg["exporters"]["clickhouse/team-a.app.app_logs"];
    assert_eq!(ch["password"], format!("${{env:{password_env}}}"));
    assert_eq!(ch["create_schema"], false);
    assert_eq!(ch["async_insert"], true);
    assert_eq!(ch["compress"], "lz4");
    assert_eq!(ch["logs_table_name"], "app_logs_ingest");
    assert_eq!(ch["sending_queue"]["batch"]["min_size"], 15000);
    assert_eq!(ch["sending_queue"]["batch"]["flush_timeout"], "5000ms");
    assert!(
        ch["sending_queue"].get("storage").is_none(),
        "a memory buffer"
    );
    assert_eq!(
        cfg["receivers"]["otlp"]["protocols"]["grpc"]["keepalive"]["server_parameters"]["max_connection_age"],
        "60s"
    );
    // HPA floor is the plan.
    let hpa = r
        .objects
        .iter()
        .find(|o| o.kind == "HorizontalPodAutoscaler")
        .unwrap();
    assert_eq!(hpa.object["spec"]["minReplicas"], 1);
    assert_eq!(hpa.object["spec"]["scaleTargetRef"]["kind"], "Deployment");
}

/// A buffer that does not fit in memory goes to disk: a StatefulSet per zone with a volume per
/// replica, kept when the replica is scaled away (its data drains when it comes back), the
/// exporters' queues persisting on it.
#[test]
fn a_long_buffer_is_kept_on_disk_by_stateful_sets() {
    let text = std::fs::read_to_string(kit::root().join("tests/fixtures/tenant.yaml"))
        .unwrap()
        .replace("buffer: {duration: 10m}", "buffer: {duration: 2h}");
    let r = render(&kit::inputs_from(&text), &kit::settings()).unwrap();
    assert!(!r.objects.iter().any(|o| o.kind == "Deployment"));
    let sts = find(&r, "StatefulSet", "otelhouse-gw-s0-us-east-1a");
    let spec = &sts["spec"];
    assert!(spec.get("replicas").is_none());
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"],
        "Retain"
    );
    let claim = &spec["volumeClaimTemplates"][0];
    // 5k/s x 2 h over 2 replicas, 1,024 bytes each (the measured default) with a quarter of
    // slack: 21.5 GiB, in whole GiB.
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "22Gi");
    let mounts = spec["template"]["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(
        mounts.contains(otelhouse::collector::gateway::QUEUE_DIR),
        "{mounts}"
    );
    let cfg = config_of(find(&r, "ConfigMap", "otelhouse-gw-s0-us-east-1"));
    assert_eq!(
        cfg["exporters"]["clickhouse/team-a.app.app_logs"]["sending_queue"]["storage"],
        otelhouse::collector::gateway::QUEUE_STORAGE
    );
    let hpa = find(&r, "HorizontalPodAutoscaler", "otelhouse-gw-s0-us-east-1a");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "StatefulSet");
    let pool = &r.pools[0].regions["us-east-1"];
    assert!(
        pool.sizing.holds >= std::time::Duration::from_secs(7200),
        "{:?}",
        pool.sizing.holds
    );
}

/// Values from a custom resource can inject neither collector `${...}` expansions nor OTTL.
#[test]
fn hostile_values_are_escaped_in_collector_configs() {
    let r = render_fixture("hostile.yaml");
    let cm = find(&r, "ConfigMap", "otelhouse-gw-s0-us-east-1");
    let cfg = config_of(cm);
    let statements =
        cfg["processors"]["transform/team-a.app"]["log_statements"][0]["statements"].to_string();
    // The regex's `${env:CLICKHOUSE_PASSWORD}` stays literal ($$ is the collector's escape),
    // its quote stays inside the OTTL string.
    assert!(
        statements.contains("$${env:CLICKHOUSE_PASSWORD}"),
        "{statements}"
    );
    assert!(!statements.contains("(?P<a>x\")"), "{statements}");
    assert!(statements.contains(r#"(?P<a>x\\\")"#), "{statements}");
}

#[test]
fn overlapping_classes_on_nodes_are_reported_even_without_shared_instance_types() {
    let text = std::fs::read_to_string(kit::root().join("tests/fixtures/tenant.yaml")).unwrap()
        + r#"
---
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: by-pool}
spec:
  nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [logs]}]}]
  expectedLinesPerSecond: 1
  resources: {limits: {memory: 128Mi}}
---
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {name: by-type}
spec:
  instanceTypes: [m5d.large]
  expectedLinesPerSecond: 1
  resources: {limits: {memory: 128Mi}}
---
apiVersion: v1
kind: Node
metadata: {name: both, labels: {pool: logs, node.kubernetes.io/instance-type: m5d.large}}
"#;
    let err = render(&kit::inputs_from(&text), &kit::settings()).unwrap_err();
    assert!(
        err.to_string()
            .contains("node both is selected by by-pool and by-type"),
        "{err}"
    );
}

/// What a tenant's change costs the others: a change of its pipeline rolls only its pool's
/// gateways (their config); the agents roll only when the set of namespaces they read changes.
#[test]
fn a_pipeline_change_rolls_its_pool_not_the_agents() {
    let agents = |r: &Rendered| {
        find(r, "DaemonSet", "otelhouse-agent-all")["spec"]["template"]["metadata"]["annotations"]
            ["otelhouse.dev/config-hash"]
            .clone()
    };
    let gateways = |r: &Rendered| {
        find(r, "Deployment", "otelhouse-gw-s0-us-east-1a")["spec"]["template"]["metadata"]
            ["annotations"]["otelhouse.dev/config-hash"]
            .clone()
    };
    let base = std::fs::read_to_string(kit::root().join("tests/fixtures/tenant.yaml")).unwrap();
    let a = render(&kit::inputs_from(&base), &kit::settings()).unwrap();
    let changed = base.replace(
        "tables: [{name: app_logs",
        "sources: {containers: [web]}\n  tables: [{name: app_logs",
    );
    let b = render(&kit::inputs_from(&changed), &kit::settings()).unwrap();
    assert_eq!(agents(&a), agents(&b), "the agents do not roll");
    assert_ne!(gateways(&a), gateways(&b), "its pool does");
    let deterministic = render(&kit::inputs_from(&base), &kit::settings()).unwrap();
    assert_eq!(agents(&a), agents(&deterministic));
    // Another namespace: the agents read one more glob.
    let more = base.replace(
        "allowedNamespaces: [team-a]",
        "allowedNamespaces: [team-a, team-b]",
    ) + "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {name: app, namespace: team-b}\nspec: {stores: [us], tables: [{name: b_logs, retentionDays: 7}], gateway: {expectedEventsPerSecond: 100}}\n";
    let c = render(&kit::inputs_from(&more), &kit::settings()).unwrap();
    assert_ne!(agents(&a), agents(&c));
}

/// Agents tolerate every taint by default, so a tainted node is still covered; a class that opts
/// out has the nodes its agents cannot run on reported, not silently left without an agent.
#[test]
fn tainted_nodes_are_covered_by_default_and_reported_when_not() {
    let yaml = |tolerate_all: bool| {
        format!(
            r#"
apiVersion: otelhouse.dev/v1alpha1
kind: AgentClass
metadata: {{name: all}}
spec: {{default: true, expectedLinesPerSecond: 100, tolerateAllTaints: {tolerate_all}, resources: {{limits: {{memory: 128Mi}}}}}}
---
apiVersion: v1
kind: Node
metadata: {{name: gpu-1, labels: {{topology.kubernetes.io/zone: a}}}}
spec: {{taints: [{{key: nvidia.com/gpu, value: "true", effect: NoSchedule}}, {{key: soft, effect: PreferNoSchedule}}]}}
---
apiVersion: v1
kind: Node
metadata: {{name: plain-1, labels: {{topology.kubernetes.io/zone: a}}}}
---
apiVersion: v1
kind: Node
metadata: {{name: cordoned, labels: {{topology.kubernetes.io/zone: a}}}}
spec: {{taints: [{{key: node.kubernetes.io/unschedulable, effect: NoSchedule}}]}}
"#
        )
    };
    let settings = kit::settings();
    let r = otelhouse::render::render(&kit::inputs_from(&yaml(true)), &settings).unwrap();
    let ds = find(&r, "DaemonSet", "otelhouse-agent-all");
    assert_eq!(
        ds["spec"]["template"]["spec"]["tolerations"][0],
        serde_json::json!({"operator": "Exists"})
    );
    assert!(
        r.warnings.iter().all(|w| !w.message.contains("tainted")),
        "{:?}",
        r.warnings
    );

    let r = otelhouse::render::render(&kit::inputs_from(&yaml(false)), &settings).unwrap();
    let ds = find(&r, "DaemonSet", "otelhouse-agent-all");
    assert!(ds["spec"]["template"]["spec"].get("tolerations").is_none());
    let w: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|w| w.contains("AgentClass all")
            && w.contains("1 node(s)")
            && w.contains("gpu-1")),
        "{w:?}"
    );
    // The cordoned node keeps its agent: the DaemonSet controller tolerates unschedulable.
    assert!(!w.iter().any(|w| w.contains("cordoned")), "{w:?}");
}

/// A shard whose config would not fit in a ConfigMap (1 MiB) is split: the shard count doubles
/// until every shard fits, whatever the namespaces-per-shard setting says; every pipeline
/// stays in exactly one shard. A single namespace too big for any shard is a warning.
#[test]
fn shards_split_when_their_config_would_not_fit_in_a_config_map() {
    let base = std::fs::read_to_string(kit::root().join("tests/fixtures/tenant.yaml")).unwrap();
    // The fixture's classes, store and nodes, without its pipeline.
    let head: String = base
        .split("\n---\n")
        .filter(|d| !d.contains("kind: LogPipeline"))
        .collect::<Vec<_>>()
        .join("\n---\n")
        .replace("allowedNamespaces: [team-a]", "allowedNamespaces: ['*']")
        + "\n";
    let pipeline = |ns: usize, p: usize| {
        let tables: Vec<String> = (0..6)
            .map(|t| format!("{{name: t{ns}_{p}_{t}, retentionDays: 7}}"))
            .collect();
        let routes: Vec<String> = (1..6)
            .map(|t| format!("{{table: t{ns}_{p}_{t}, containers: [c{t}]}}"))
            .collect();
        format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: p{p}, namespace: ns-{ns}}}\nspec:\n  stores: [us]\n  parse: {{json: true}}\n  routes: [{}]\n  tables: [{}]\n  gateway: {{expectedEventsPerSecond: 1000}}\n",
            routes.join(", "),
            tables.join(", ")
        )
    };
    // 32 namespaces (one shard by count) of 8 pipelines with 6 tables each.
    let mut text = head.clone();
    for ns in 0..32 {
        for p in 0..8 {
            text.push_str(&pipeline(ns, p));
        }
    }
    let r = render(&kit::inputs_from(&text), &kit::settings()).unwrap();
    let shards: Vec<&otelhouse::gateway::pool::Pool> = r
        .pools
        .iter()
        .filter(|p| matches!(p.id, otelhouse::gateway::pool::PoolId::Shard(_)))
        .collect();
    assert!(
        shards.len() > 1,
        "one shard of {} members",
        shards[0].members().len()
    );
    let mut seen = std::collections::BTreeSet::new();
    for s in &shards {
        for m in s.members() {
            assert!(seen.insert(m.clone()), "{m} in two shards");
        }
    }
    assert_eq!(seen.len(), 32 * 8);
    for o in r.objects.iter().filter(|o| o.kind == "ConfigMap") {
        let bytes = o.object["data"]["config.yaml"].as_str().map_or(0, str::len);
        assert!(
            bytes <= otelhouse::gateway::MAX_CONFIG_BYTES,
            "{} is {bytes} bytes",
            o.name
        );
    }
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // All of it in one namespace: no shard can split it.
    let mut text = head;
    for p in 0..256 {
        text.push_str(&pipeline(0, p).replace("namespace: ns-0", "namespace: team-a"));
    }
    let r = render(&kit::inputs_from(&text), &kit::settings()).unwrap();
    let w = r
        .warnings
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(w.contains("over what fits in a Kubernetes object"), "{w}");
}

/// The agents' one shared ConfigMap grows with the distinct label keys pipelines select by
/// (each extracted on every node), not with the number of pipelines: past what fits in an object
/// the API server would refuse it, so render says so, naming the keys.
#[test]
fn too_many_distinct_label_keys_warn_that_the_agents_config_will_not_fit() {
    let mut yaml = String::from(
        "apiVersion: otelhouse.dev/v1alpha1\nkind: AgentClass\nmetadata: {name: all}\nspec:\n  default: true\n  expectedLinesPerSecond: 1000\n  resources: {limits: {memory: 256Mi}}\n---\napiVersion: otelhouse.dev/v1alpha1\nkind: ClickHouseStore\nmetadata: {name: us}\nspec:\n  region: us-east-1\n  httpUrl: http://ch:8123\n  exporterEndpoint: tcp://ch:9000\n  credentials: {secretName: ch}\n  allowedNamespaces: ['*']\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {topology.kubernetes.io/zone: us-east-1a, topology.kubernetes.io/region: us-east-1}}\n",
    );
    for p in 0..400 {
        let labels: Vec<String> = (0..32)
            .map(|i| format!("team-{p}.example.com/label-number-{i}: v"))
            .collect();
        yaml.push_str(&format!(
            "---\napiVersion: otelhouse.dev/v1alpha1\nkind: LogPipeline\nmetadata: {{name: p{p}, namespace: otelhouse-system}}\nspec:\n  stores: [us]\n  sources: {{podSelector: {{matchLabels: {{{}}}}}}}\n  tables: [{{name: t{p}, retentionDays: 7}}]\n  gateway: {{expectedEventsPerSecond: 100}}\n",
            labels.join(", ")
        ));
    }
    let r = render(&kit::inputs_from(&yaml), &kit::settings()).unwrap();
    assert!(
        r.warnings.iter().any(|w| w.message.contains(
            "over what fits in a Kubernetes object (1 MiB): the API server will refuse it and no agent config can change"
        ) && w.message.contains("12800 pod")),
        "{:?}",
        r.warnings.iter().map(|w| &w.message).collect::<Vec<_>>()
    );
}

/// What the controller adds to render's objects when a config changes, a config check's Job
/// and candidate ConfigMaps (`controller::config_check`, built from a rendered workload and
/// the ConfigMaps it mounts), passes the same schema validation as render's output: gateways
/// in memory and on disk, and the agents'.
#[test]
fn config_check_objects_are_valid_kubernetes() {
    use otelhouse::controller::config_check::check_objects;
    use otelhouse::controller::snapshot::ConfigRef;
    let mut docs = String::new();
    let mut jobs = 0;
    for r in [
        render_fixture("tenant.yaml"),
        render(&kit::sample_inputs(), &kit::settings()).unwrap(),
    ] {
        for w in &r.objects {
            let Some(config) = ConfigRef::of(w.kind, &w.object) else {
                continue;
            };
            let cms: Vec<&Value> = config
                .config_maps
                .iter()
                .map(|n| find(&r, "ConfigMap", n))
                .collect();
            let check = check_objects(&w.object, &cms).unwrap();
            // A check is the new config as the workload runs it, under names of its own but
            // for what is named by its content already (the agents' shared pipelines).
            let mutable: Vec<&&Value> = cms.iter().filter(|c| c["immutable"] != true).collect();
            assert_eq!(check.config_maps.len(), mutable.len(), "{}", w.name);
            for (candidate, cm) in check.config_maps.iter().zip(&mutable) {
                assert_eq!(candidate.object["data"], cm["data"]);
                assert_ne!(candidate.name, cm["metadata"]["name"].as_str().unwrap());
                assert!(candidate.name.len() <= 63, "{}", candidate.name);
            }
            assert!(check.job.name.len() <= 63, "{}", check.job.name);
            for d in check.config_maps.iter().chain([&check.job]) {
                docs.push_str(&format!(
                    "---\n{}",
                    serde_norway::to_string(&d.object).unwrap()
                ));
            }
            jobs += 1;
        }
    }
    assert!(jobs >= 3, "{jobs}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.yaml");
    std::fs::write(&file, docs).unwrap();
    let (ok, text) = kit::run_tool(
        "k8s_validate.py",
        &[
            "--k8s-version",
            otelhouse::MIN_KUBERNETES_VERSION,
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok && text.contains(" 0 failed"), "{text}");
}
