//! `otelhouse cleanup`: what `helm uninstall` runs first (a pre-delete hook Job): stop the
//! operator, so it cannot make again what is deleted, then delete every object it made. The
//! custom resources, the CRDs (Helm keeps them) and the ClickHouse tables stay.

use super::Error;
use crate::inventory::Settings;
use crate::kinds::{Home, Managed};
use crate::meta::{FIELD_MANAGER, MANAGED_BY};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::time::Duration;

/// How long the operator's pods may take to stop (their grace period is 30 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// Stop the operator Deployment `operator` (when given), then delete every managed object in
/// the operator's and the agents' namespaces. Returns how many were deleted.
pub async fn cleanup(
    client: Client,
    settings: &Settings,
    operator: Option<&str>,
) -> Result<u32, Error> {
    if let Some(name) = operator {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &settings.namespace);
        deployments
            .patch_scale(
                name,
                &PatchParams {
                    field_manager: Some(FIELD_MANAGER.to_string()),
                    ..Default::default()
                },
                &Patch::Merge(json!({"spec": {"replicas": 0}})),
            )
            .await?;
        let start = std::time::Instant::now();
        loop {
            let running = deployments
                .get_opt(name)
                .await?
                .and_then(|d| d.status)
                .and_then(|s| s.replicas)
                .unwrap_or(0);
            if running == 0 {
                break;
            }
            if start.elapsed() > STOP_TIMEOUT {
                return Err(Error::Internal(format!(
                    "the operator Deployment {name} still has {running} pod(s) after {}s",
                    STOP_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // `status.replicas` does not count terminating pods: a leader shutting down may still
        // reconcile until it releases the Lease (it does so after its last reconcile).
        let leases: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
        let start = std::time::Instant::now();
        while let Some(holder) = leases
            .get_opt(super::run::LEASE_NAME)
            .await?
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
        {
            if start.elapsed() > STOP_TIMEOUT {
                return Err(Error::Internal(format!(
                    "the Lease is still held by {holder} after {}s",
                    STOP_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    // Until a pass finds nothing: without leader election a stopping operator holds no Lease to
    // wait for, and may make an object again during its grace period.
    let mut deleted = 0;
    for _ in 0..MAX_PASSES {
        let n = delete_pass(&client, settings).await?;
        deleted += n;
        if n == 0 {
            break;
        }
        tokio::time::sleep(PASS_INTERVAL).await;
    }
    Ok(deleted)
}

/// Passes of deletion at most, and the pause between them.
const MAX_PASSES: u32 = 5;
const PASS_INTERVAL: Duration = Duration::from_secs(2);

/// Delete every object labelled as ours in both namespaces; returns how many.
async fn delete_pass(client: &Client, settings: &Settings) -> Result<u32, Error> {
    let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
    let mut deleted = 0;
    for kind in Managed::ALL.into_iter().rev() {
        let ar = kind.api_resource();
        for home in kind.homes() {
            let ns = match home {
                Home::Agents => &settings.agent_namespace,
                Home::Operator => &settings.namespace,
            };
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            for obj in api.list(&ListParams::default().labels(&selector)).await? {
                match api
                    .delete(&obj.name_any(), &DeleteParams::background())
                    .await
                {
                    Ok(_) => deleted += 1,
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(deleted)
}
