//! The LogPipeline reconciler: its gateways, its schema in every store, its status; the
//! finalizer of `deletionPolicy: Drop`; the cleanup of a deleted pipeline's gateways.

use super::snapshot::Owner;
use super::{Context, DROP_FINALIZER, Error, Timer, now, status};
use crate::crd::{ClickHouseStore, DeletionPolicy, LogPipeline, StoreSchemaStatus};
use crate::kinds::Managed;
use crate::model::ResourceId;
use crate::schema::Placement;
use crate::schema::apply::{self as schema_apply, Connection, Outcome, Record};
use crate::schema::ddl::TableLayout;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use std::sync::Arc;

/// Reconcile one LogPipeline: its gateways, its schema in every store, its status.
pub async fn reconcile_pipeline(p: Arc<LogPipeline>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.is_active() {
        return Ok(Action::await_change());
    }
    let _timer = Timer::start(&ctx, "logpipeline");
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let id = ResourceId::of(&*p);
    if p.metadata.deletion_timestamp.is_some() {
        return finalize_pipeline(&p, &ctx).await;
    }
    ensure_finalizer(&p, &ctx).await?;
    let version = ctx.facts_version.load(std::sync::atomic::Ordering::SeqCst);
    let snapshot = ctx.snapshot();
    let owner = Owner::Pipeline {
        namespace: ns.clone(),
        name: name.clone(),
    };
    // Gateway configs not applied yet: being checked, or refused by the collector's validate.
    let mut held = Vec::new();
    if !snapshot.excluded(&id) {
        // What it owned itself (gateways of its own, from before pools): none is wanted now.
        ctx.sync_owner(&owner, &snapshot).await?;
        // Its pools: every member syncs them (only what differs is written), one at a time; a
        // new config reaches a pool's gateways only once its check passed.
        for pool in crate::gateway::pools_of(&snapshot.pools, &id) {
            let lock = ctx.pool_lock(&pool.name);
            let _held = lock.lock().await;
            let (_, h) = ctx
                .sync_checked(&Owner::Pool(pool.name.clone()), &snapshot)
                .await?;
            let members: Vec<&ResourceId> = pool.members().into_iter().collect();
            held.extend(h.into_iter().map(|mut h| {
                h.gate = super::config_check::for_member(&h.gate, &id, &members, &h.job);
                (pool.name.clone(), h)
            }));
        }
    }
    // Deleted pipelines' objects and pools no longer wanted (missed while the operator was
    // down, or left when a shard merged): once per change of the facts, not in every
    // pipeline's reconcile (each sweep reads every owned object and pipeline).
    if ctx.sweep_due(version) {
        sweep_deleted_pipelines(&ctx).await?;
        sweep_pools(&ctx, &snapshot).await?;
        ctx.swept(version);
    }

    let mut schema = Vec::new();
    let mut failed = None;
    let layouts = snapshot
        .schemas
        .get(&id)
        .map(|s| s.layouts())
        .unwrap_or_default();
    for (store_name, layouts) in &layouts {
        let (st, err) = schema_for(&ctx, &p, &id, store_name, layouts).await;
        schema.push(st);
        failed = failed.or(err);
    }
    let mut workloads = Vec::new();
    for pool in crate::gateway::pools_of(&snapshot.pools, &id) {
        let pool_owner = Owner::Pool(pool.name.clone());
        workloads.extend(ctx.owned_summaries(Managed::Deployment, &pool_owner));
        workloads.extend(ctx.owned_summaries(Managed::StatefulSet, &pool_owner));
    }
    let refs: Vec<&Value> = workloads.iter().collect();
    let old = p.status.clone();
    let mut new = status::pipeline_status(
        &id,
        p.metadata.generation,
        &snapshot,
        &refs,
        schema,
        p.spec.tables.len() as u32,
        &held,
        &ctx.flow_of(&id),
        old.as_ref(),
        &now(),
    );
    status::with_usage(
        &mut new,
        ctx.usage_of(&id),
        &ctx.settings.pricing,
        old.as_ref(),
        &now(),
    );
    ctx.write_status(&*p, old.as_ref(), &new).await?;
    let old_conditions = old.as_ref().map(|o| o.common.conditions.as_slice());
    if let Some(c) = status::flow_transition(old_conditions.unwrap_or_default(), &new.common) {
        ctx.event(&*p, c.status == "False", &c.reason, c.message.clone())
            .await;
    }
    // One Event when a config is refused (not on every pass while it stays refused).
    if let Some(message) = status::newly_rejected(old.as_ref().map(|o| &o.common), &new.common) {
        ctx.event(&*p, true, "ConfigRejected", message).await;
    }
    match failed {
        Some(e) => {
            ctx.event(&*p, true, e.category(), e.to_string()).await;
            Err(e)
        }
        // A check's Job finishing triggers the pool's members (its watch); this is the
        // backstop.
        None if held
            .iter()
            .any(|(_, h)| h.gate == super::config_check::Gate::Validating) =>
        {
            ctx.backoff(&id, false);
            Ok(Action::requeue(std::time::Duration::from_secs(30)))
        }
        None => Ok(Action::requeue(ctx.backoff(&id, false))),
    }
}

/// The store's connection, with the credentials from its Secret (read when needed, never
/// cached in a ConfigMap or copied).
pub(crate) async fn connection(
    ctx: &Context,
    store: &ClickHouseStore,
) -> Result<Connection, Error> {
    let creds = &store.spec.credentials;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let secret = secrets
        .get(&creds.secret_name)
        .await
        .map_err(|e| Error::Credentials {
            store: store.name_any(),
            message: format!(
                "Secret {}/{}: {e}",
                ctx.settings.namespace, creds.secret_name
            ),
        })?;
    let read = |key: &str| -> Result<String, Error> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .ok_or_else(|| Error::Credentials {
                store: store.name_any(),
                message: format!("Secret {} has no key {key}", creds.secret_name),
            })
    };
    Ok(Connection {
        url: store.spec.http_url.trim_end_matches('/').to_string(),
        user: Some(read(&creds.username_key)?),
        password: Some(read(&creds.password_key)?),
    })
}

/// Plan and apply a pipeline's schema in one store, unless that exact schema was applied there
/// already. Returns the status and, for an unreachable or failing store, the error to back off.
async fn schema_for(
    ctx: &Context,
    p: &LogPipeline,
    id: &ResourceId,
    store_name: &str,
    layouts: &[TableLayout],
) -> (StoreSchemaStatus, Option<Error>) {
    let fingerprint = crate::schema::spec_hash(layouts);
    let done_key = (id.clone(), store_name.to_string());
    if let Some((fp, st)) = ctx
        .schema_done
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&done_key)
        && *fp == fingerprint
    {
        return (st.clone(), None);
    }
    let Some(store) = ctx
        .stores
        .state()
        .into_iter()
        .find(|s| s.name_any() == store_name)
    else {
        return (
            status_of(store_name, "Pending", None, Some("store not found".into())),
            None,
        );
    };
    let conn = match connection(ctx, &store).await {
        Ok(c) => c,
        Err(e) => {
            return (
                status_of(store_name, "Unreachable", None, Some(e.to_string())),
                Some(e),
            );
        }
    };
    let record = Record {
        pipeline: format!(
            "{}/{}",
            id.namespace.as_deref().unwrap_or_default(),
            id.name
        ),
        generation: p.metadata.generation.unwrap_or(0),
        spec_hash: fingerprint.clone(),
    };
    let outcome = schema_apply::apply(&ctx.clickhouse_client(&conn), layouts, &record, false).await;
    let generation = p.metadata.generation;
    let (st, err) = match &outcome {
        Outcome::UpToDate | Outcome::Applied { .. } => {
            (status_of(store_name, "Applied", generation, None), None)
        }
        Outcome::Pending { statements } => (
            status_of(
                store_name,
                "Pending",
                None,
                Some(format!("{} statements", statements.len())),
            ),
            None,
        ),
        Outcome::Refused { reasons, .. } => (
            status_of(store_name, "Refused", None, Some(reasons.join("; "))),
            None,
        ),
        Outcome::Unreachable { error } => (
            status_of(store_name, "Unreachable", None, Some(error.clone())),
            Some(Error::ClickHouse {
                store: store_name.to_string(),
                message: error.clone(),
            }),
        ),
        Outcome::Failed { error, .. } => (
            status_of(store_name, "Failed", None, Some(error.clone())),
            Some(Error::ClickHouse {
                store: store_name.to_string(),
                message: error.clone(),
            }),
        ),
    };
    if let Outcome::Applied { statements } = &outcome {
        ctx.event(
            p,
            false,
            "SchemaApplied",
            format!(
                "{} statement(s) applied in store {store_name}",
                statements.len()
            ),
        )
        .await;
    }
    if let Outcome::Refused { reasons, .. } = &outcome {
        ctx.event(
            p,
            true,
            "SchemaRefused",
            format!("store {store_name}: {}", reasons.join("; ")),
        )
        .await;
    }
    if err.is_none() && !matches!(outcome, Outcome::Refused { .. }) {
        ctx.schema_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(done_key, (fingerprint, st.clone()));
    }
    (st, err)
}

fn status_of(
    store: &str,
    state: &str,
    generation: Option<i64>,
    message: Option<String>,
) -> StoreSchemaStatus {
    StoreSchemaStatus {
        store: store.to_string(),
        state: state.to_string(),
        applied_generation: generation,
        message,
    }
}

/// Only `deletionPolicy: Drop` needs a finalizer (external state to remove); add or remove it.
async fn ensure_finalizer(p: &LogPipeline, ctx: &Context) -> Result<(), Error> {
    let has = p.finalizers().iter().any(|f| f == DROP_FINALIZER);
    let wants = p.spec.deletion_policy == DeletionPolicy::Drop;
    if has == wants {
        return Ok(());
    }
    let mut finalizers: Vec<String> = p
        .finalizers()
        .iter()
        .filter(|f| *f != DROP_FINALIZER)
        .cloned()
        .collect();
    if wants {
        finalizers.push(DROP_FINALIZER.to_string());
    }
    let api: Api<LogPipeline> =
        Api::namespaced(ctx.client.clone(), &p.namespace().unwrap_or_default());
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": p.resource_version()}});
    api.patch_metadata(
        &p.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// A pipeline being deleted with `deletionPolicy: Drop`: drop its tables in every store, remove
/// its gateways, then let it go.
async fn finalize_pipeline(p: &LogPipeline, ctx: &Context) -> Result<Action, Error> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    if p.spec.deletion_policy == DeletionPolicy::Drop
        && p.finalizers().iter().any(|f| f == DROP_FINALIZER)
    {
        for store_name in &p.spec.stores {
            let Some(store) = ctx
                .stores
                .state()
                .into_iter()
                .find(|s| s.name_any() == *store_name)
            else {
                continue;
            };
            let conn = connection(ctx, &store).await?;
            let client = ctx.clickhouse_client(&conn);
            // Only what the tables' owner records name as this pipeline's is dropped.
            let plan = drop_plan(&client, p, &store)
                .await
                .map_err(|e| Error::ClickHouse {
                    store: store_name.clone(),
                    message: e.to_string(),
                })?;
            for kept in &plan.refused {
                ctx.event(p, true, "TableKept", format!("store {store_name}: {kept}"))
                    .await;
            }
            for sql in plan.statements() {
                client
                    .query(&sql)
                    .execute()
                    .await
                    .map_err(|e| Error::ClickHouse {
                        store: store_name.clone(),
                        message: e.to_string(),
                    })?;
            }
            ctx.event(
                p,
                false,
                "TablesDropped",
                format!(
                    "dropped the tables of {ns}/{name} in store {store_name} (deletionPolicy: Drop)"
                ),
            )
            .await;
        }
    }
    cleanup_pipeline(ctx, &ns, &name).await?;
    if p.finalizers().iter().any(|f| f == DROP_FINALIZER) {
        let rest: Vec<String> = p
            .finalizers()
            .iter()
            .filter(|f| *f != DROP_FINALIZER)
            .cloned()
            .collect();
        let api: Api<LogPipeline> = Api::namespaced(ctx.client.clone(), &ns);
        let patch =
            json!({"metadata": {"finalizers": rest, "resourceVersion": p.resource_version()}});
        api.patch_metadata(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(Action::await_change())
}

/// What drops a pipeline's tables in a store: its resolved tables', or, when its spec no longer
/// resolves, the tables its spec names that are safe to name; of those, only what is this
/// pipeline's by the owner records in the store.
async fn drop_plan(
    client: &clickhouse::Client,
    p: &LogPipeline,
    store: &ClickHouseStore,
) -> Result<crate::schema::migrate::Plan, clickhouse::error::Error> {
    let at = Placement {
        database: &store.spec.database,
        cluster: store.spec.cluster.as_deref(),
        engine: store.spec.engine,
    };
    let names: Vec<String> = match crate::model::pipeline::resolve_tables(p) {
        Ok(tables) => tables.into_iter().map(|t| t.name).collect(),
        Err(_) => p
            .spec
            .tables
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| crate::ident::is_identifier(n))
            .collect(),
    };
    let owner = crate::model::table::Owner {
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
        uid: p.metadata.uid.clone(),
    };
    crate::schema::plan_drop(client, &names, at, &owner).await
}

/// A deleted pipeline: delete its gateway objects (its tables stay unless the policy drops
/// them, which the finalizer did before).
pub async fn cleanup_pipeline(ctx: &Context, namespace: &str, name: &str) -> Result<u32, Error> {
    let id = ResourceId::pipeline(namespace, name);
    ctx.schema_done
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(p, _), _| *p != id);
    let owner = Owner::Pipeline {
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let mut deleted = ctx.delete_orphans(&owner, &[]).await?;
    // Its dedicated pool, if it had one (shared pools lose its branch on their next sync).
    let pool = Owner::Pool(crate::gateway::pool::PoolId::Dedicated(id).name());
    deleted += ctx.delete_orphans(&pool, &[]).await?;
    // A shared pool it was the last member of.
    deleted += sweep_pools(ctx, &ctx.snapshot()).await?;
    Ok(deleted)
}

/// The objects of pools the snapshot no longer has: a shard merged away, a dedicated
/// pipeline gone. A dedicated pool whose pipeline is only invalid keeps running: a typo must
/// not stop its ingest.
pub async fn sweep_pools(
    ctx: &Context,
    snapshot: &super::snapshot::Snapshot,
) -> Result<u32, Error> {
    let wanted: std::collections::BTreeSet<String> = snapshot
        .pools
        .iter()
        .map(|p| p.name.clone())
        .chain(
            snapshot
                .problems
                .keys()
                .map(|id| crate::gateway::pool::PoolId::Dedicated(id.clone()).name()),
        )
        .collect();
    let gone: std::collections::BTreeSet<String> = ctx
        .owned
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter_map(|v| match &v.owner {
            Some(Owner::Pool(n)) if !wanted.contains(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    let mut deleted = 0;
    for name in gone {
        deleted += ctx.delete_orphans(&Owner::Pool(name), &[]).await?;
    }
    Ok(deleted)
}

/// Gateways of pipelines that no longer exist (deleted while nobody watched).
async fn sweep_deleted_pipelines(ctx: &Context) -> Result<(), Error> {
    let live: Vec<(String, String)> = ctx
        .pipelines
        .state()
        .iter()
        .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
        .collect();
    let gone: std::collections::BTreeSet<(String, String)> = ctx
        .owned
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter_map(|v| match v.owner.clone() {
            Some(Owner::Pipeline { namespace, name })
                if !live.contains(&(namespace.clone(), name.clone())) =>
            {
                Some((namespace, name))
            }
            _ => None,
        })
        .collect();
    for (ns, name) in gone {
        cleanup_pipeline(ctx, &ns, &name).await?;
    }
    Ok(())
}
