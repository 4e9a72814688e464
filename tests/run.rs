//! `otelhouse run` as a whole against the test kit's in-memory API server: it waits for its
//! CRDs, starts its watches and controllers, serves /healthz, /readyz and /metrics, elects a
//! leader among replicas, and shuts down when told.

mod kit;

use kit::api::FakeApi;
use otelhouse::controller::run::{LeaseTiming, RunConfig, run_with};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    let code = buf.split(' ').nth(1)?.parse().ok()?;
    Some((code, buf))
}

/// Our CRDs as the API server shows them once installed: established.
fn seed_crds(api: &FakeApi) {
    for crd in otelhouse::crd::all_crds() {
        let mut v = serde_json::to_value(crd).unwrap();
        v["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
        api.seed("customresourcedefinitions", v);
    }
}

/// Poll `f` every 100 ms until it holds or `secs` pass.
async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn config(port: u16, leader_elect: bool) -> RunConfig {
    RunConfig {
        settings: kit::settings(),
        leader_elect,
        metrics_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        lease: LeaseTiming {
            duration: 3,
            grace: 1,
        },
    }
}

async fn ready(port: u16) -> bool {
    http_get(port, "/readyz").await.map(|r| r.0) == Some(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_crds_serves_health_and_shuts_down() {
    let port = kit::free_port();
    let api = FakeApi::new();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_with(
        api.client(),
        config(port, false),
        shutdown.clone(),
    ));

    // Alive at once, not ready while the CRDs are missing.
    assert!(
        eventually(5, || async {
            http_get(port, "/healthz").await.map(|h| h.0) == Some(200)
        })
        .await
    );
    assert_eq!(http_get(port, "/readyz").await.map(|r| r.0), Some(503));

    // Ready once the CRDs are established (the wait polls every 10 s) and the caches synced.
    seed_crds(&api);
    assert!(
        eventually(30, || ready(port)).await,
        "not ready after the CRDs appeared"
    );
    let crd_reads = api
        .requests()
        .iter()
        .filter(|r| r.path.contains("/customresourcedefinitions/"))
        .count();
    assert!(crd_reads >= 6, "the CRDs were polled again: {crd_reads}");
    let (code, metrics) = http_get(port, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("otelhouse_reconciles_total{controller=\"logpipeline\"}"),
        "{metrics}"
    );

    // A graceful shutdown.
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(20), task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
}

/// Two replicas with leader election on one API server: both become ready (a rolling update or
/// a drain can proceed), exactly one reconciles and writes; when it stops, it releases the
/// Lease and the other takes over warm, with nothing to write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_are_both_ready_and_exactly_one_writes() {
    let inputs = kit::world::tenant_inputs();
    let api = FakeApi::new();
    seed_crds(&api);
    // The cluster: the custom resources, Nodes and the store's Secret.
    drop(kit::world::World::on(api.clone(), &inputs, kit::settings()));
    let (port_a, port_b) = (kit::free_port(), kit::free_port());
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let a = tokio::spawn(run_with(
        api.client_as("a"),
        config(port_a, true),
        stop_a.clone(),
    ));
    // The second starts once the first leads, so which one leads is known.
    assert!(
        eventually(30, || async {
            api.requests()
                .iter()
                .any(|r| r.client == "a" && r.is_apply())
        })
        .await,
        "a never wrote"
    );
    let b = tokio::spawn(run_with(
        api.client_as("b"),
        config(port_b, true),
        stop_b.clone(),
    ));
    assert!(eventually(30, || ready(port_a)).await, "a not ready");
    assert!(
        eventually(30, || ready(port_b)).await,
        "the standby not ready"
    );
    // Give the standby time to (wrongly) reconcile.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let writers: std::collections::BTreeSet<String> = api
        .requests()
        .iter()
        .filter(|r| r.is_write() && !r.path.contains("/leases"))
        .map(|r| r.client.clone())
        .collect();
    assert_eq!(writers, ["a".to_string()].into(), "only the leader writes");
    assert!(
        api.requests()
            .iter()
            .any(|r| r.client == "b" && r.is_watch()),
        "the standby watches (warm caches)"
    );

    // The leader stops: it releases the Lease, the standby leads and reconciles everything,
    // with nothing to change.
    stop_a.cancel();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(20), a).await,
        Ok(Ok(Ok(())))
    ));
    api.take();
    let took_over = eventually(30, || async {
        http_get(port_b, "/metrics").await.is_some_and(|(_, m)| {
            m.contains("otelhouse_reconciles_total{controller=\"logpipeline\"} 1")
        })
    })
    .await;
    assert!(took_over, "the standby did not take over");
    let writes: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.is_write() && !r.path.contains("/leases"))
        .map(|r| r.short())
        .collect();
    assert!(
        writes.is_empty(),
        "a warm takeover writes nothing: {writes:?}"
    );
    stop_b.cancel();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(20), b).await,
        Ok(Ok(Ok(())))
    ));
}

/// Helm installs CRDs once and never upgrades them: an operator newer than its CRDs says so in
/// each resource's status and in a metric, instead of losing the new fields silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_crd_is_reported_in_status_and_metrics() {
    let api = FakeApi::new();
    for crd in otelhouse::crd::all_crds() {
        let mut v = serde_json::to_value(crd).unwrap();
        v["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
        if v["metadata"]["name"] == "logpipelines.otelhouse.dev" {
            v["metadata"]["annotations"][otelhouse::crd::SCHEMA_HASH_ANNOTATION] =
                json!("0ld0ld00");
        }
        api.seed("customresourcedefinitions", v);
    }
    let inputs = kit::world::tenant_inputs();
    drop(kit::world::World::on(api.clone(), &inputs, kit::settings()));
    let port = kit::free_port();
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(api.client(), config(port, false), stop.clone()));
    let degraded = eventually(30, || async {
        api.get(kit::world::PIPELINES, "team-a", "app")
            .and_then(|p| {
                p["status"]["conditions"]
                    .as_array()
                    .and_then(|c| c.iter().find(|c| c["type"] == "Degraded").cloned())
            })
            .is_some_and(|c| {
                c["reason"] == "StaleCRD"
                    && c["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("0ld0ld00")
            })
    })
    .await;
    assert!(degraded, "no StaleCRD condition on the pipeline");
    let (_, metrics) = http_get(port, "/metrics").await.unwrap();
    assert!(
        metrics.contains("otelhouse_crd_stale{crd=\"logpipelines.otelhouse.dev\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("otelhouse_crd_stale{crd=\"agentclasses.otelhouse.dev\"} 0"),
        "{metrics}"
    );
    stop.cancel();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(20), task).await,
        Ok(Ok(Ok(())))
    ));
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Status writes (the operator's own, or anyone's) do not rebuild the desired state nor
/// reconcile every class: only a change of a spec (its generation) does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_writes_do_not_rebuild_the_world() {
    let api = FakeApi::new();
    seed_crds(&api);
    let inputs = kit::world::tenant_inputs();
    drop(kit::world::World::on(api.clone(), &inputs, kit::settings()));
    let port = kit::free_port();
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(api.client(), config(port, false), stop.clone()));
    let settled = |api: &FakeApi| {
        api.get(kit::world::PIPELINES, "team-a", "app")
            .is_some_and(|p| p["status"]["observedGeneration"] == 1)
    };
    assert!(eventually(30, || async { settled(&api) }).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = || async { http_get(port, "/metrics").await.unwrap().1 };
    let builds = counter(&metrics().await, "otelhouse_snapshot_builds_total");
    let class_reconciles = counter(
        &metrics().await,
        "otelhouse_reconciles_total{controller=\"agentclass\"}",
    );
    // Someone writes a status (as the operator itself does after every change).
    let other: kube::Api<otelhouse::crd::LogPipeline> =
        kube::Api::namespaced(api.client_as("other"), "team-a");
    other
        .patch_status(
            "app",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"status": {"tables": 7}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = metrics().await;
    assert_eq!(
        counter(&m, "otelhouse_snapshot_builds_total"),
        builds,
        "a status write rebuilt the snapshot"
    );
    assert_eq!(
        counter(&m, "otelhouse_reconciles_total{controller=\"agentclass\"}"),
        class_reconciles,
        "a status write reconciled the classes"
    );
    // A spec change does.
    let mut p = kit::world::with_kind(&inputs.pipelines[0], "LogPipeline");
    p["spec"]["gateway"]["batch"] = json!({"rows": 20000});
    api.seed("logpipelines", p);
    assert!(
        eventually(10, || async {
            counter(&metrics().await, "otelhouse_snapshot_builds_total") > builds
        })
        .await,
        "a spec change did not rebuild the snapshot"
    );
    stop.cancel();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(20), task).await,
        Ok(Ok(Ok(())))
    ));
}
