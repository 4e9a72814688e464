//! `otelhouse run`: watches, caches, the three controllers, leader election, the HTTP endpoints
//! and a graceful shutdown.

use super::snapshot::Owner;
use super::{Context, error_policy, reconcile_class, reconcile_pipeline, reconcile_store};
use crate::crd::{AgentClass, ClickHouseStore, LogPipeline};
use crate::inventory::{NodeFacts, Settings};
use crate::kinds::{Home, Managed};
use crate::meta::MANAGED_BY;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The leader-election Lease, in the operator's namespace.
pub const LEASE_NAME: &str = "otelhouse-leader";

/// How `otelhouse run` is configured.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub settings: Settings,
    pub leader_elect: bool,
    pub metrics_addr: std::net::SocketAddr,
    /// How long the Lease holds without renewal, and how long before its end the holder renews.
    pub lease: LeaseTiming,
}

/// Leader election timing (seconds): a standby takes over at most `duration` after the leader
/// stopped renewing; a leader shutting down releases the Lease at once.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    pub duration: u64,
    pub grace: u64,
}

impl Default for LeaseTiming {
    /// controller-runtime's leader election defaults: a 15 s lease.
    fn default() -> Self {
        Self {
            duration: 15,
            grace: 5,
        }
    }
}

/// Run the operator until SIGTERM/SIGINT.
pub async fn run(config: RunConfig) -> Result<(), String> {
    let client = Client::try_default().await.map_err(|e| e.to_string())?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        });
    }
    run_with(client, config, shutdown).await
}

/// Run the operator with this client until `shutdown` is cancelled.
///
/// Every replica watches and keeps its caches (a standby takes over warm); it is ready once it
/// serves and its caches are synced, leader or not, so a rolling update and a node drain can
/// proceed with two replicas. Only the replica holding the Lease reconciles: the others'
/// reconcilers return at once without a request.
pub async fn run_with(
    client: Client,
    config: RunConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), String> {
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The HTTP endpoints come up first: /healthz answers while we wait for CRDs or the lease.
    let (metrics_tx, metrics_rx) = tokio::sync::oneshot::channel::<Arc<Context>>();
    let server = tokio::spawn(serve(
        config.metrics_addr,
        ready.clone(),
        metrics_rx,
        shutdown.clone(),
    ));

    let stale = wait_for_crds(&client, &shutdown).await?;

    let (class_reader, class_writer) = reflector::store_shared::<AgentClass>(256);
    let (pipeline_reader, pipeline_writer) = reflector::store_shared::<LogPipeline>(256);
    let (store_reader, store_writer) = reflector::store_shared::<ClickHouseStore>(256);
    let classes_sub = class_writer
        .subscribe()
        .ok_or_else(|| String::from("subscribe"))?;
    let pipelines_sub = pipeline_writer
        .subscribe()
        .ok_or_else(|| String::from("subscribe"))?;
    let stores_sub = store_writer
        .subscribe()
        .ok_or_else(|| String::from("subscribe"))?;
    let ctx = Arc::new(Context::new(
        client.clone(),
        config.settings.clone(),
        class_reader.clone(),
        pipeline_reader.clone(),
        store_reader.clone(),
    ));
    ctx.set_stale_crds(stale);
    // Without leader election this replica is the only one: it leads from the start. Nothing
    // is reconciled before the caches are synced.
    ctx.set_leading(!config.leader_elect);
    ctx.set_synced(false);
    let _ = metrics_tx.send(ctx.clone());

    // Triggers: every class when anything of the agents' union changes, every pipeline when
    // nodes (zones) change, single objects when their owned objects change, everything when
    // this replica starts to lead.
    let (all_classes_tx, all_classes_rx) = mpsc::unbounded_channel::<()>();
    let (all_pipelines_tx, all_pipelines_rx) = mpsc::unbounded_channel::<()>();
    let (all_stores_tx, all_stores_rx) = mpsc::unbounded_channel::<()>();
    let (class_tx, class_rx) = mpsc::unbounded_channel::<ObjectRef<AgentClass>>();
    let (pipeline_tx, pipeline_rx) = mpsc::unbounded_channel::<ObjectRef<LogPipeline>>();
    let (store_tx, store_rx) = mpsc::unbounded_channel::<ObjectRef<ClickHouseStore>>();

    // The watches run on their own tasks; each says when its first list is in.
    let mut synced = Vec::new();
    let mut watches = Vec::new();
    // The CRDs again, every minute: a stale one is reported until it is replaced.
    {
        let ctx = ctx.clone();
        let client = client.clone();
        let (classes, pipelines) = (all_classes_tx.clone(), all_pipelines_tx.clone());
        watches.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(CRD_CHECK_INTERVAL).await;
                let check = check_crds(&client).await;
                if ctx.set_stale_crds(check.stale) {
                    let _ = classes.send(());
                    let _ = pipelines.send(());
                }
            }
        }));
    }
    let triggers = super::periodic::Triggers {
        pipelines: pipeline_tx.clone(),
        classes: class_tx.clone(),
        stores: store_tx,
    };
    // The flow loop: scrapes only while this replica is active, triggers the resources whose
    // FlowHealthy condition changes.
    watches.push(tokio::spawn(super::periodic::every(
        ctx.clone(),
        ctx.settings.flow_interval,
        "flow health",
        super::flow::round,
        triggers.clone(),
        shutdown.clone(),
    )));
    // The usage loop: reads the stores' system tables, triggers the resources whose volume or
    // TooManyParts changes materially.
    watches.push(tokio::spawn(super::periodic::every(
        ctx.clone(),
        ctx.settings.usage_interval,
        "usage",
        super::usage::round,
        triggers,
        shutdown.clone(),
    )));
    let mut spawn_watch = |fut: futures::future::BoxFuture<'static, ()>| {
        watches.push(tokio::spawn(fut));
    };
    spawn_watch(
        resource_watch(
            Api::<AgentClass>::all(client.clone()),
            class_writer,
            ctx.clone(),
            None,
        )
        .boxed(),
    );
    // The agents' config is the union of all pipelines: a pipeline change re-renders every class.
    spawn_watch(
        resource_watch(
            Api::<LogPipeline>::all(client.clone()),
            pipeline_writer,
            ctx.clone(),
            Some(all_classes_tx.clone()),
        )
        .boxed(),
    );
    spawn_watch(
        resource_watch(
            Api::<ClickHouseStore>::all(client.clone()),
            store_writer,
            ctx.clone(),
            None,
        )
        .boxed(),
    );
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        synced.push(rx);
        spawn_watch(
            node_watch(
                client.clone(),
                ctx.clone(),
                all_classes_tx.clone(),
                all_pipelines_tx.clone(),
                tx,
            )
            .boxed(),
        );
    }

    let owned_selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
    let owned_cfg = watcher::Config::default().labels(&owned_selector);
    let ns = config.settings.namespace.clone();
    // One watch per kind we manage and namespace it lives in, all feeding the same cache of live
    // summaries. The match is exhaustive: a new kind does not compile until it is watched.
    for kind in Managed::ALL {
        for home in kind.homes() {
            let ns = match home {
                Home::Agents => config.settings.agent_namespace.as_str(),
                Home::Operator => config.settings.namespace.as_str(),
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            synced.push(rx);
            let w = OwnedWatch {
                cfg: owned_cfg.clone(),
                ctx: ctx.clone(),
                class_tx: class_tx.clone(),
                pipeline_tx: pipeline_tx.clone(),
                synced: tx,
            };
            let c = client.clone();
            spawn_watch(match kind {
                Managed::ConfigMap => w.run::<ConfigMap>(Api::namespaced(c, ns)).boxed(),
                Managed::Job => w.run::<Job>(Api::namespaced(c, ns)).boxed(),
                Managed::Service => w.run::<Service>(Api::namespaced(c, ns)).boxed(),
                Managed::NetworkPolicy => w
                    .run::<k8s_openapi::api::networking::v1::NetworkPolicy>(Api::namespaced(c, ns))
                    .boxed(),
                Managed::DaemonSet => w.run::<DaemonSet>(Api::namespaced(c, ns)).boxed(),
                Managed::Deployment => w.run::<Deployment>(Api::namespaced(c, ns)).boxed(),
                Managed::StatefulSet => w.run::<StatefulSet>(Api::namespaced(c, ns)).boxed(),
                Managed::HorizontalPodAutoscaler => w
                    .run::<HorizontalPodAutoscaler>(Api::namespaced(c, ns))
                    .boxed(),
                Managed::PodDisruptionBudget => {
                    w.run::<PodDisruptionBudget>(Api::namespaced(c, ns)).boxed()
                }
            });
        }
    }
    // Secrets only as metadata, only in our namespace: a change re-checks the stores using them.
    {
        let ctx = ctx.clone();
        let all_pipelines_tx = all_pipelines_tx.clone();
        spawn_watch(
            watcher(
                Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), &ns),
                watcher::Config::default(),
            )
            .default_backoff()
            .touched_objects()
            .for_each(move |s| {
                if let Ok(s) = s {
                    let name = s.name_any();
                    if ctx
                        .stores
                        .state()
                        .iter()
                        .any(|st| st.spec.credentials.secret_name == name)
                    {
                        let _ = all_pipelines_tx.send(());
                    }
                }
                async {}
            })
            .boxed(),
        );
    }

    let class_controller = Controller::for_shared_stream(classes_sub, class_reader.clone())
        .reconcile_all_on(receiver_stream(all_classes_rx))
        .reconcile_on(receiver_stream(class_rx))
        .graceful_shutdown_on(cancelled(shutdown.clone()))
        .run(reconcile_class, error_policy, ctx.clone())
        .for_each(|_| async {});
    let pipeline_controller = {
        let ctx2 = ctx.clone();
        let pipelines_for_store = pipeline_reader.clone();
        Controller::for_shared_stream(pipelines_sub, pipeline_reader.clone())
            .watches_shared_stream(stores_sub.clone(), move |store: Arc<ClickHouseStore>| {
                let name = store.name_any();
                pipelines_for_store
                    .state()
                    .into_iter()
                    .filter(|p| p.spec.stores.contains(&name))
                    .map(|p| ObjectRef::from_obj(&*p))
                    .collect::<Vec<_>>()
            })
            .reconcile_all_on(receiver_stream(all_pipelines_rx))
            .reconcile_on(receiver_stream(pipeline_rx))
            .graceful_shutdown_on(cancelled(shutdown.clone()))
            .run(reconcile_pipeline, error_policy, ctx.clone())
            .for_each(move |r| {
                // A deleted pipeline is not reconciled (it is gone): clean up its gateways.
                if let Err(kube::runtime::controller::Error::ObjectNotFound(obj)) = r
                    && ctx2.is_active()
                {
                    let ctx = ctx2.clone();
                    let ns = obj.namespace.clone().unwrap_or_default();
                    tokio::spawn(async move {
                        if let Err(e) = super::cleanup_pipeline(&ctx, &ns, &obj.name).await {
                            tracing::warn!(error = %e, "cleanup of a deleted pipeline failed");
                        }
                    });
                }
                async {}
            })
    };
    let store_controller = Controller::for_shared_stream(stores_sub, store_reader.clone())
        .reconcile_all_on(receiver_stream(all_stores_rx))
        .reconcile_on(receiver_stream(store_rx))
        .graceful_shutdown_on(cancelled(shutdown.clone()))
        .run(reconcile_store, error_policy, ctx.clone())
        .for_each(|_| async {});

    // Ready once every cache holds its first list; then, holding the Lease (or without leader
    // election), this replica starts reconciling: everything once, then on changes.
    let activate = {
        let ctx = ctx.clone();
        let ready = ready.clone();
        let shutdown = shutdown.clone();
        let client = client.clone();
        let namespace = config.settings.namespace.clone();
        let leader_elect = config.leader_elect;
        let lease_timing = config.lease;
        async move {
            let caches = async {
                let _ = class_reader.wait_until_ready().await;
                let _ = pipeline_reader.wait_until_ready().await;
                let _ = store_reader.wait_until_ready().await;
                for rx in synced {
                    let _ = rx.await;
                }
            };
            tokio::select! {
                _ = caches => {},
                _ = shutdown.cancelled() => return Ok(()),
            }
            ctx.set_synced(true);
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!("caches synced, ready");
            let mut lease_task = None;
            let mut leading = None;
            if leader_elect {
                let lease = kube_lease_manager::LeaseManagerBuilder::new(client, LEASE_NAME)
                    .with_namespace(&namespace)
                    .with_duration(lease_timing.duration)
                    .with_grace(lease_timing.grace)
                    .build()
                    .await
                    .map_err(|e| e.to_string())?;
                let (mut rx, task) = lease.watch().await;
                lease_task = Some(task);
                while !*rx.borrow_and_update() {
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        changed = rx.changed() => { changed.map_err(|e| e.to_string())?; }
                    }
                }
                tracing::info!("leading");
                ctx.set_leading(true);
                leading = Some(rx);
            }
            let _ = all_classes_tx.send(());
            let _ = all_pipelines_tx.send(());
            let _ = all_stores_tx.send(());
            tracing::info!(namespace = %namespace, "otelhouse is reconciling");
            match leading.as_mut() {
                // Losing the lease ends this process; the next leader starts from a clean state.
                Some(rx) => loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        changed = rx.changed() => {
                            if changed.is_err() || !*rx.borrow() {
                                tracing::warn!("lost the lease");
                                shutdown.cancel();
                                break;
                            }
                        }
                    }
                },
                None => shutdown.cancelled().await,
            }
            ctx.set_leading(!leader_elect);
            // Closing the channel makes the lease manager release the Lease: a standby takes
            // over now, not when the Lease runs out.
            drop(leading);
            if let Some(task) = lease_task {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
            drop((all_classes_tx, all_pipelines_tx, all_stores_tx));
            Ok::<(), String>(())
        }
    };

    // The controllers stop on shutdown (after the reconciles in flight), the activation after
    // releasing the Lease.
    let (_, result) = tokio::join!(
        futures::future::join3(class_controller, pipeline_controller, store_controller),
        activate
    );
    shutdown.cancel();
    for w in watches {
        w.abort();
    }
    let _ = server.await;
    result
}

fn receiver_stream<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

async fn cancelled(token: tokio_util::sync::CancellationToken) {
    token.cancelled().await
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// What the installed CRDs say: the ones missing or not established yet, and, per kind, why a
/// stale one differs from this operator's.
pub struct CrdCheck {
    pub missing: Vec<String>,
    pub stale: BTreeMap<String, String>,
}

/// Read our CRDs by name and compare their schema hash with ours.
pub async fn check_crds(client: &Client) -> CrdCheck {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut out = CrdCheck {
        missing: Vec::new(),
        stale: BTreeMap::new(),
    };
    for ours in crate::crd::all_crds() {
        let name = ours.metadata.name.clone().unwrap_or_default();
        let installed = match api.get_opt(&name).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, crd = %name, "reading CRDs");
                None
            }
        };
        let Some(installed) = installed.filter(|crd| {
            crd.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Established" && c.status == "True")
        }) else {
            out.missing.push(name);
            continue;
        };
        let annotation = |c: &CustomResourceDefinition| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(crate::crd::SCHEMA_HASH_ANNOTATION))
                .cloned()
        };
        let (want, have) = (annotation(&ours), annotation(&installed));
        if want != have {
            out.stale.insert(
                ours.spec.names.kind.clone(),
                format!(
                    "the installed CRD {name} has schema {} but this operator needs {}: fields it does not know are dropped by the API server; apply the chart's crds/ (Helm never upgrades CRDs): kubectl apply --server-side -f crds/",
                    have.as_deref().unwrap_or("(unversioned)"),
                    want.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    out
}

/// Wait until our CRDs are established instead of crash-looping before they are installed.
async fn wait_for_crds(
    client: &Client,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<BTreeMap<String, String>, String> {
    loop {
        let check = check_crds(client).await;
        if check.missing.is_empty() {
            return Ok(check.stale);
        }
        tracing::info!(missing = ?check.missing, "waiting for the CRDs to be installed");
        tokio::select! {
            _ = shutdown.cancelled() => return Err(String::from("shut down while waiting for CRDs")),
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}

/// How often the installed CRDs are compared again (someone may apply the new ones).
const CRD_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// A custom resource kind into its shared store; every change of the facts bumps the snapshot
/// (and, for pipelines, triggers every class).
fn resource_watch<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    ctx: Arc<Context>,
    also: Option<mpsc::UnboundedSender<()>>,
) -> impl std::future::Future<Output = ()> + Send
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mut seen = Generations::default();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(lean_metadata)
        .reflect_shared(writer)
        .for_each(move |ev| {
            // Only a change of what the snapshot is built from rebuilds it: the operator's own
            // status writes (and everyone's metadata edits) do not.
            let changed = match &ev {
                Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => seen.changed(o),
                Ok(watcher::Event::Delete(o)) => seen.forget(o),
                Ok(watcher::Event::InitDone) => true,
                Ok(watcher::Event::Init) | Err(_) => false,
            };
            if changed {
                ctx.touch();
                if let Some(tx) = &also {
                    let _ = tx.send(());
                }
            }
            futures::future::ready(())
        })
}

/// The generation (and whether it is being deleted) of each object a watch has seen: what a
/// custom resource's snapshot depends on (kube's `predicates::generation`, with deletion).
#[derive(Default)]
pub struct Generations(std::collections::HashMap<(Option<String>, String), (Option<i64>, bool)>);

impl Generations {
    /// Whether `obj` is new or its spec or deletion changed since last seen.
    pub fn changed<K: Resource>(&mut self, obj: &K) -> bool {
        let m = obj.meta();
        let key = (m.namespace.clone(), m.name.clone().unwrap_or_default());
        let now = (m.generation, m.deletion_timestamp.is_some());
        self.0.insert(key, now) != Some(now)
    }

    /// `obj` is gone; whether it had been seen.
    pub fn forget<K: Resource>(&mut self, obj: &K) -> bool {
        let m = obj.meta();
        self.0
            .remove(&(m.namespace.clone(), m.name.clone().unwrap_or_default()))
            .is_some()
    }
}

/// Nodes, cached as name, labels and taints; only a change of those or of the set of nodes
/// triggers the controllers (a Node's status heartbeats do not). Taints are in the spec, so
/// this is a watch of whole Nodes, each reduced to its facts at once, listed in small pages.
fn node_watch(
    client: Client,
    ctx: Arc<Context>,
    all_classes: mpsc::UnboundedSender<()>,
    all_pipelines: mpsc::UnboundedSender<()>,
    synced: tokio::sync::oneshot::Sender<()>,
) -> impl std::future::Future<Output = ()> + Send {
    let mut synced = Some(synced);
    watcher(
        Api::<Node>::all(client),
        watcher::Config::default().page_size(NODE_PAGE_SIZE),
    )
    .default_backoff()
    .for_each(move |ev| {
        let changed = match ev {
            Ok(watcher::Event::Apply(n)) | Ok(watcher::Event::InitApply(n)) => {
                let mut nodes = ctx.nodes.write().unwrap_or_else(|e| e.into_inner());
                // A known node's facts take the cache key's string (name and hostname): one
                // copy of the name per node, however often it is updated.
                let node_name = n.name_any();
                let name = match nodes.get_key_value(node_name.as_str()) {
                    Some((k, _)) => k.clone(),
                    None => Arc::from(node_name),
                };
                let facts =
                    NodeFacts::new(name.clone(), n.metadata.labels.clone().unwrap_or_default())
                        .with_taints(
                            n.spec
                                .as_ref()
                                .and_then(|s| s.taints.as_deref())
                                .unwrap_or_default(),
                        );
                if nodes.get(&name) == Some(&facts) {
                    false
                } else {
                    nodes.insert(name, facts);
                    true
                }
            }
            Ok(watcher::Event::Delete(n)) => ctx
                .nodes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(n.name_any().as_str())
                .is_some(),
            Ok(watcher::Event::InitDone) => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
                true
            }
            Ok(watcher::Event::Init) | Err(_) => false,
        };
        if changed {
            ctx.touch();
            let _ = all_classes.send(());
            let _ = all_pipelines.send(());
        }
        async {}
    })
}

/// Drop what the operator never reads of a cached object's metadata: its managed fields and
/// kubectl's copy of the whole object as last applied (most custom resources are applied with
/// kubectl), each as large as the spec itself.
fn lean_metadata<K: Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Nodes per page of the initial list: a whole Node is tens of KiB, and only its facts are kept.
const NODE_PAGE_SIZE: u32 = 100;

/// A watch of the objects we manage of one kind: keeps the cache of live objects and triggers
/// their owner.
struct OwnedWatch {
    cfg: watcher::Config,
    ctx: Arc<Context>,
    class_tx: mpsc::UnboundedSender<ObjectRef<AgentClass>>,
    pipeline_tx: mpsc::UnboundedSender<ObjectRef<LogPipeline>>,
    synced: tokio::sync::oneshot::Sender<()>,
}

impl OwnedWatch {
    fn run<K>(self, api: Api<K>) -> impl std::future::Future<Output = ()> + Send
    where
        K: crate::kinds::ManagedKind
            + Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let OwnedWatch {
            cfg,
            ctx,
            class_tx,
            pipeline_tx,
            synced,
        } = self;
        let mut synced = Some(synced);
        watcher(api, cfg)
            .default_backoff()
            .modify(lean_metadata)
            .for_each(move |ev| {
                let (obj, deleted) = match ev {
                    Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => (o, false),
                    Ok(watcher::Event::Delete(o)) => (o, true),
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = synced.take() {
                            let _ = tx.send(());
                        }
                        return futures::future::ready(());
                    }
                    _ => return futures::future::ready(()),
                };
                let value = serde_json::to_value(&obj).unwrap_or_default();
                match ctx.observe_owned(K::MANAGED, &value, deleted) {
                    Some(Owner::Class(name)) => {
                        let _ = class_tx.send(ObjectRef::new(&name));
                    }
                    Some(Owner::Pipeline { namespace, name }) => {
                        let _ = pipeline_tx.send(ObjectRef::new(&name).within(&namespace));
                    }
                    // A pool's object changed (its readiness, a drift): its members look again.
                    Some(Owner::Pool(name)) => {
                        let snapshot = ctx.snapshot();
                        if let Some(pool) = snapshot.pools.iter().find(|p| p.name == name) {
                            for id in pool.members() {
                                if let Some(ns) = &id.namespace {
                                    let _ = pipeline_tx.send(ObjectRef::new(&id.name).within(ns));
                                }
                            }
                        }
                    }
                    _ => {}
                }
                futures::future::ready(())
            })
    }
}

/// /metrics, /healthz, /readyz.
async fn serve(
    addr: std::net::SocketAddr,
    ready: Arc<std::sync::atomic::AtomicBool>,
    ctx: tokio::sync::oneshot::Receiver<Arc<Context>>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use axum::routing::get;
    let ctx_cell: Arc<tokio::sync::OnceCell<Arc<Context>>> = Arc::default();
    {
        let cell = ctx_cell.clone();
        tokio::spawn(async move {
            if let Ok(c) = ctx.await {
                let _ = cell.set(c);
            }
        });
    }
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(std::sync::atomic::Ordering::SeqCst) {
                        (axum::http::StatusCode::OK, "ready")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let cell = ctx_cell.clone();
                async move { cell.get().map(|c| c.metrics.encode()).unwrap_or_default() }
            }),
        );
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, %addr, "cannot listen");
            shutdown.cancel();
            return;
        }
    };
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
}
