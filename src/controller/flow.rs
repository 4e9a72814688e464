//! The flow loop (issue 13): every `--flow-interval` the leader lists the gateway and agent
//! pods, scrapes their metrics endpoints ([`crate::flow::Scraper`]), evaluates each pipeline
//! (its exporters on its pools' pods) and each AgentClass (every exporter of its agents)
//! against the previous scrape, and keeps the results here for the reconcilers.
//!
//! The loop writes no status itself: it triggers a reconcile of each resource whose
//! `FlowHealthy` condition would change status or reason, and that reconcile writes it with
//! the rest of the status (status.rs, [`super::status::flow_condition`]) and records the
//! Event. One writer of each status: a second writer applying only its condition with the
//! same field manager would drop the other conditions from what that manager owns (and
//! the server would delete them), and two writers race on the same object.

use super::{Context, Error, now, status};
use crate::flow::{
    CollectorMetrics, Exporters, FlowHealth, PodScrapes, ScrapeOptions, Scraper, Target, Thresholds,
};
use crate::meta;
use crate::model::ResourceId;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

/// What the flow loop keeps between rounds: bounded by the pods and resources that exist now
/// (each round replaces both maps).
#[derive(Default)]
pub struct FlowState {
    /// Pod uid -> its last successful scrape (a failed one removes it: the next success
    /// has nothing to compare with rather than a stale base).
    pub(crate) last: HashMap<String, CollectorMetrics>,
    /// Resource -> its last evaluation.
    pub(crate) health: HashMap<ResourceId, FlowHealth>,
}

/// The gateway pods: the pool label the builders put on a pool's pod template (src/gateway),
/// not the config check Jobs' pods, which carry it too but are `config-check`.
fn gateway_selector() -> String {
    format!(
        "{}={},app.kubernetes.io/component=gateway,{}",
        meta::MANAGED_BY.0,
        meta::MANAGED_BY.1,
        crate::gateway::LABEL_POOL
    )
}

/// The agent pods, by the class label of src/agents.
fn agent_selector() -> String {
    format!(
        "{}={},app.kubernetes.io/component=agent,{}",
        meta::MANAGED_BY.0,
        meta::MANAGED_BY.1,
        meta::LABEL_CLASS
    )
}

/// A pod to scrape: Running, with an IP; its port is the container port named `metrics`
/// (the builders' [`crate::collector::METRICS_PORT`]).
struct Scraped {
    uid: String,
    /// The pool or class label's value.
    group: String,
    target: Target,
}

fn scrape_target(pod: &Pod, label: &str) -> Option<Scraped> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let ip: IpAddr = status.pod_ip.as_deref()?.parse().ok()?;
    let port = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("metrics"))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .unwrap_or(crate::collector::METRICS_PORT);
    Some(Scraped {
        uid: pod.metadata.uid.clone()?,
        group: pod.labels().get(label)?.clone(),
        target: Target {
            pod: pod.name_any(),
            addr: SocketAddr::new(ip, port),
        },
    })
}

async fn list_targets(
    ctx: &Context,
    namespace: &str,
    selector: &str,
    label: &str,
    limit: Option<u32>,
) -> Result<(Vec<Scraped>, bool), Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let mut params = ListParams::default().labels(selector);
    if let Some(n) = limit {
        // One page: the API server returns the first `n` in key order (namespace, name), so
        // the same pods round after round while they live (their previous scrape is kept).
        params = params.limit(n);
    }
    let list = pods.list(&params).await?;
    // A full page: perhaps more pods than it (the server sets `continue` on a full page when
    // any key follows, matching the selector or not).
    let more = list.metadata.continue_.is_some_and(|c| !c.is_empty());
    let targets = list
        .items
        .iter()
        .filter_map(|p| scrape_target(p, label))
        .collect();
    Ok((targets, more))
}

/// The agents to scrape: every one, or a sample of each class (one page per class: listing
/// every agent pod each round would cost the API server and the operator as much as the
/// scrapes it saves).
/// Returns them and the class labels whose page was full.
async fn agent_targets(ctx: &Context) -> Result<(Vec<Scraped>, BTreeSet<String>), Error> {
    let ns = &ctx.settings.agent_namespace;
    let per_class = ctx.settings.flow_agents_per_class;
    if per_class == 0 {
        let (all, _) = list_targets(ctx, ns, &agent_selector(), meta::LABEL_CLASS, None).await?;
        return Ok((all, BTreeSet::new()));
    }
    let mut out = Vec::new();
    let mut sampled = BTreeSet::new();
    for c in ctx.classes.state() {
        let label = meta::shorten(&c.name_any(), 63);
        let selector = format!("{},{}={label}", agent_selector(), meta::LABEL_CLASS);
        let (page, more) =
            list_targets(ctx, ns, &selector, meta::LABEL_CLASS, Some(per_class)).await?;
        out.extend(page);
        if more {
            sampled.insert(label);
        }
    }
    Ok((out, sampled))
}

/// One round: list, scrape, evaluate, keep. Returns the resources whose `FlowHealthy`
/// condition changes status or reason (to reconcile).
pub async fn flow_step(ctx: &Context) -> Result<Vec<ResourceId>, Error> {
    let interval = ctx.settings.flow_interval;
    // Every gateway: their number follows the throughput, not the nodes.
    let gateways = list_targets(
        ctx,
        &ctx.settings.namespace,
        &gateway_selector(),
        crate::gateway::LABEL_POOL,
        None,
    )
    .await?
    .0;
    let (agents, sampled) = agent_targets(ctx).await?;
    let options = ScrapeOptions {
        // A round must end before the next one starts.
        timeout: ScrapeOptions::default()
            .timeout
            .min(interval / 2)
            .max(std::time::Duration::from_millis(500)),
        ..ScrapeOptions::default()
    };
    let scraper = Scraper::new(options);
    let pods: Vec<Scraped> = gateways.into_iter().chain(agents).collect();
    let targets: Vec<Target> = pods.iter().map(|p| p.target.clone()).collect();
    let results = scraper.scrape_all(&targets).await;
    for (p, r) in pods.iter().zip(&results) {
        if let Err(e) = r {
            tracing::debug!(pod = %p.target.pod, error = %e, "metrics scrape failed");
        }
    }
    let current: Vec<Option<CollectorMetrics>> = results.into_iter().map(Result::ok).collect();
    // Taken out while evaluating (one round at a time: the loop awaits each).
    let previous = std::mem::take(&mut ctx.flow.lock().unwrap_or_else(|e| e.into_inner()).last);
    let scrapes = |group: &dyn Fn(&str) -> bool| -> Vec<PodScrapes<'_>> {
        pods.iter()
            .zip(&current)
            .filter(|(p, _)| group(&p.group))
            .map(|(p, cur)| PodScrapes {
                pod: &p.target.pod,
                previous: previous.get(&p.uid),
                current: cur.as_ref(),
            })
            .collect()
    };
    let thresholds = Thresholds::default();
    let snapshot = ctx.snapshot();
    let mut health: HashMap<ResourceId, FlowHealth> = HashMap::new();
    for p in ctx.pipelines.state() {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let id = ResourceId::of(&*p);
        let pools: BTreeSet<&str> = crate::gateway::pools_of(&snapshot.pools, &id)
            .map(|pool| pool.name.as_str())
            .collect();
        // The member id of src/collector/gateway.rs (the model's component id).
        let member = format!(
            "{}.{}",
            id.namespace.as_deref().unwrap_or_default(),
            id.name
        );
        let exporters: BTreeSet<String> = snapshot
            .schemas
            .get(&id)
            .map(|s| s.tables.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|t| crate::flow::gateway_exporter(&member, &t.name))
            .collect();
        let on = scrapes(&|g| pools.contains(g));
        let h = crate::flow::evaluate(&on, Exporters::Only(&exporters), &thresholds, interval);
        health.insert(id, h);
    }
    for c in ctx.classes.state() {
        let id = ResourceId::of(&*c);
        let label = meta::shorten(&id.name, 63);
        let on = scrapes(&|g| g == label);
        let mut h = crate::flow::evaluate(&on, Exporters::All, &thresholds, interval);
        if sampled.contains(label.as_str()) {
            h.message.push_str(&format!(
                " (a sample: at most {} of the class's agents are scraped, --flow-agents-per-class)",
                ctx.settings.flow_agents_per_class
            ));
        }
        health.insert(id, h);
    }
    // What changes: compared with the condition the cached status has now.
    let t = now();
    let mut changed = Vec::new();
    let mut check = |id: &ResourceId,
                     old: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
                     generation| {
        let flow = status::Flow::Watched(health.get(id).cloned().map(Box::new));
        if let Some(c) = status::flow_condition(&flow, old, generation, &t)
            && crate::flow::changed(old, &c)
        {
            changed.push(id.clone());
        }
    };
    for p in ctx.pipelines.state() {
        let old = p.status.as_ref().map(|s| s.common.conditions.as_slice());
        check(
            &ResourceId::of(&*p),
            old.unwrap_or_default(),
            p.metadata.generation,
        );
    }
    for c in ctx.classes.state() {
        let old = c.status.as_ref().map(|s| s.common.conditions.as_slice());
        check(
            &ResourceId::of(&*c),
            old.unwrap_or_default(),
            c.metadata.generation,
        );
    }
    let last: HashMap<String, CollectorMetrics> = pods
        .iter()
        .zip(current)
        .filter_map(|(p, cur)| Some((p.uid.clone(), cur?)))
        .collect();
    let mut state = ctx.flow.lock().unwrap_or_else(|e| e.into_inner());
    state.last = last;
    state.health = health;
    Ok(changed)
}

/// [`flow_step`] as a [`super::periodic::Round`].
pub fn round(ctx: &Context) -> futures::future::BoxFuture<'_, Result<Vec<ResourceId>, Error>> {
    Box::pin(flow_step(ctx))
}
