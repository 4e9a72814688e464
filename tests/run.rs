//! `otelhouse run` as a whole against kube's tower-test mock API: it waits for its CRDs, starts
//! its watches and controllers, serves /healthz, /readyz and /metrics, and shuts down when told.

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use otelhouse::controller::run::{RunConfig, run_with};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers like an API server with no objects: CRDs missing on the first round, then
/// established; every list empty; every watch ends at once (the watchers re-list).
fn empty_api(crd_reads: Arc<AtomicUsize>) -> Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or_default().to_string();
            let (status, body) = if path.contains("/customresourcedefinitions/") {
                let n = crd_reads.fetch_add(1, Ordering::SeqCst);
                let name = path.rsplit('/').next().unwrap_or_default().to_string();
                if n < 3 {
                    (
                        404,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"}),
                    )
                } else {
                    let crd = otelhouse::crd::all_crds()
                        .into_iter()
                        .find(|c| c.metadata.name.as_deref() == Some(&name))
                        .unwrap();
                    let mut v = serde_json::to_value(crd).unwrap();
                    v["status"] =
                        json!({"conditions": [{"type": "Established", "status": "True"}]});
                    (200, v)
                }
            } else if query.contains("watch=true") {
                (200, json!(null))
            } else if request.method() == "GET" {
                (
                    200,
                    json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}),
                )
            } else {
                (200, json!({}))
            };
            let bytes = if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&body).unwrap()
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(bytes))
                .unwrap();
            send.send_response(response);
        }
    });
    Client::new(service, "default")
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_crds_serves_health_and_shuts_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let crd_reads = Arc::new(AtomicUsize::new(0));
    let client = empty_api(crd_reads.clone());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let config = RunConfig {
        settings: otelhouse::inventory::Settings::default(),
        leader_elect: false,
        metrics_addr: format!("127.0.0.1:{port}").parse().unwrap(),
    };
    let task = tokio::spawn(run_with(client, config, shutdown.clone()));

    // Alive at once, not ready while the CRDs are missing.
    let mut healthy = None;
    for _ in 0..50 {
        healthy = http_get(port, "/healthz").await;
        if healthy.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(healthy.map(|h| h.0), Some(200));
    assert_eq!(http_get(port, "/readyz").await.map(|r| r.0), Some(503));

    // Ready once the CRDs are established (the wait polls every 10 s).
    let mut ready = false;
    for _ in 0..300 {
        if http_get(port, "/readyz").await.map(|r| r.0) == Some(200) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "not ready after the CRDs appeared");
    assert!(
        crd_reads.load(Ordering::SeqCst) >= 6,
        "the CRDs were polled again"
    );
    let (code, metrics) = http_get(port, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("otelhouse_reconciles_total{controller=\"logpipeline\"}"),
        "{metrics}"
    );

    // A graceful shutdown.
    shutdown.cancel();
    let result = tokio::time::timeout(std::time::Duration::from_secs(20), task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
}
