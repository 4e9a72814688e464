//! Gateway pools: which gateways serve which pipelines, and how big they are.
//!
//! Platform teams run hundreds to thousands of tenant pipelines, a namespace each; one set of
//! gateways per pipeline would cost by the number of pipelines, not by throughput. So a region's
//! pipelines share gateways: logs are assigned to a pool by their **namespace** (what the agent
//! stamps from the kubelet's log path), every namespace to exactly one pool, and a pool holds
//! every pipeline that selects one of its namespaces. Namespaces are spread over `S` shards of
//! the shared pool by a hash of their name (`S` a power of two, from the namespaces per shard), so
//! a tenant's change rolls only its shard and a shard's config stays far below the object size
//! limit; doubling `S` splits each shard in two. A pipeline that asks for `dedicated` gateways
//! gets a pool of its own for its namespaces (and the other pipelines of those namespaces), sized
//! with its own settings; a pipeline that selects namespaces by label (trusted only) cannot be
//! assigned by namespace and always gets its own pool.
//!
//! Sizing follows the plan, not one fixed size: replicas from throughput and the zones' floor,
//! CPU from the events each replica carries, memory from the buffer when it fits in memory,
//! else the buffer goes to a volume per replica (a StatefulSet).

use super::plan::{Plan, PlanInput, plan};
use crate::inventory::Settings;
use crate::model::{Model, Pipeline, ResourceId, Store, Zone};
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// How shared pools are sized (operator settings: Helm values).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSettings {
    /// Namespaces per shard of the shared pool (the shard count is the next power of two).
    pub namespaces_per_shard: usize,
    /// Events/s one replica of a shared pool takes (LogHouse: 60k at 3 cores).
    pub capacity_per_replica: u64,
    /// Events/s one core parses and inserts (LogHouse: 60k on 3 cores).
    pub events_per_core: u64,
    pub min_replicas_per_zone: u32,
    /// What one queued event costs in a gateway's memory queue, and serialised in a persistent
    /// queue on disk (measured: benches/queue_bench.py).
    pub memory_bytes_per_event: u64,
    pub disk_bytes_per_event: u64,
    /// The largest in-memory queue a replica gets; a buffer that needs more goes to disk.
    pub max_queue_memory: u64,
    /// The StorageClass of the queue volumes (None: the cluster's default).
    pub storage_class: Option<String>,
    /// The most gateway replicas a pipeline outside the trusted namespaces may plan for itself
    /// (its throughput, or its dedicated floor and ceiling): gateways run in the operator's
    /// namespace, where no tenant's ResourceQuota applies.
    pub max_tenant_replicas: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            namespaces_per_shard: 64,
            capacity_per_replica: 60_000,
            events_per_core: 20_000,
            min_replicas_per_zone: 1,
            memory_bytes_per_event: DEFAULT_MEMORY_BYTES_PER_EVENT,
            disk_bytes_per_event: DEFAULT_DISK_BYTES_PER_EVENT,
            max_queue_memory: 8 * GIB,
            storage_class: None,
            max_tenant_replicas: 64,
        }
    }
}

/// From benches/queue_bench.py (figures in the README). Memory: a 200-byte JSON line parsed into
/// attributes costs 1,279 B of live heap queued in the real 0.135 collector, ~1,574 B in a
/// v0.150 gateway (the model calibrated on those runs); 2,048 leaves room for fewer records
/// per resource and longer lines. Disk: the same record is 628 B in the persistent queue's
/// bbolt file while it fills, ~1.4x that once reads and deletes interleave: 1,024.
pub const DEFAULT_MEMORY_BYTES_PER_EVENT: u64 = 2048;
pub const DEFAULT_DISK_BYTES_PER_EVENT: u64 = 1024;

/// The memory a replica needs besides its queue: the collector itself, and what is in flight
/// (batches being filled and inserted, parsing): about ten seconds of its rate.
/// The autoscaler's CPU target.
pub const HPA_TARGET_UTILIZATION: f64 = 0.8;

pub const BASE_MEMORY: u64 = 256 * MIB;
pub const IN_FLIGHT_SECONDS: f64 = 10.0;

/// Which pool.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PoolId {
    /// Shard `k` of the shared pool.
    Shard(u32),
    /// A pipeline's own gateways.
    Dedicated(ResourceId),
}

impl PoolId {
    /// The pool's object name, unambiguous and unforgeable: shards by number, dedicated pools by
    /// 64 bits of SHA-256 of the pipeline's namespace and name (which no other pipeline can
    /// have; 32 bits would be a few minutes' search for a tenant who wants another's name).
    pub fn name(&self) -> String {
        match self {
            PoolId::Shard(k) => format!("otelhouse-gw-s{k}"),
            PoolId::Dedicated(id) => {
                let digest = Sha256::digest(format!(
                    "{}/{}",
                    id.namespace.as_deref().unwrap_or_default(),
                    id.name
                ));
                format!("otelhouse-gw-d-{}", hex::encode(&digest[..8]))
            }
        }
    }
}

/// A pipeline a pool serves, and the share of its rate that comes here.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub pipeline: ResourceId,
    pub share: f64,
}

/// Where a pool's queue lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Medium {
    Memory,
    /// A volume per replica.
    Disk {
        volume_bytes: u64,
    },
}

/// A pool's size in one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizing {
    pub resources: ResourceRequirements,
    pub memory_limit_bytes: u64,
    pub medium: Medium,
    /// Events one replica's queue holds (all its exporters together).
    pub queue_events_per_replica: u64,
    /// How long the buffer holds at the expected rate.
    pub holds: Duration,
}

/// A pool in one region: the zones its gateways run in, their plan and size.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolRegion {
    pub zones: Vec<Zone>,
    pub members: Vec<Member>,
    pub plan: Plan,
    pub sizing: Sizing,
}

/// A pool of gateways.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub id: PoolId,
    pub name: String,
    /// The namespaces whose logs come here; None for a pipeline that selects namespaces by
    /// label (its agents' route is its selection).
    pub namespaces: Option<BTreeSet<String>>,
    /// Region -> the pool there.
    pub regions: BTreeMap<String, PoolRegion>,
}

impl Pool {
    /// Every pipeline it serves, in any region.
    pub fn members(&self) -> BTreeSet<&ResourceId> {
        self.regions
            .values()
            .flat_map(|r| r.members.iter().map(|m| &m.pipeline))
            .collect()
    }
}

/// The namespaces a pipeline collects, when they are a list: its own, or the ones it names.
/// None: it selects namespaces by label.
pub fn namespaces_of(p: &Pipeline) -> Option<BTreeSet<String>> {
    if p.sources.namespace_selector.is_some() {
        return None;
    }
    if p.sources.namespaces.is_empty() {
        Some(BTreeSet::from([p.namespace.clone()]))
    } else {
        Some(p.sources.namespaces.iter().cloned().collect())
    }
}

/// The shard of a namespace among `shards` (a power of two): the low bits of a hash of its
/// name, so doubling the shards splits each in two and moves no namespace elsewhere.
pub fn shard_of(namespace: &str, shards: u32) -> u32 {
    let digest = crate::meta::config_hash(namespace);
    let low = u32::from_str_radix(&digest[digest.len() - 8..], 16).unwrap_or(0);
    low & (shards.max(1) - 1)
}

/// The shard count for `namespaces` namespaces: the next power of two of how many shards of
/// `per_shard` they fill.
pub fn shard_count(namespaces: usize, per_shard: usize) -> u32 {
    let needed = namespaces.div_ceil(per_shard.max(1)).max(1);
    u32::try_from(needed.next_power_of_two()).unwrap_or(u32::MAX)
}

/// Assign every pipeline of the model to pools and size them, with at least `min_shards`
/// shards of the shared pool (a power of two); also the shard count used.
pub fn assign(m: &Model, settings: &Settings, min_shards: u32) -> (Vec<Pool>, u32) {
    let ps = &settings.pools;
    // Namespace -> the dedicated pipelines that claim it (the first by id wins a conflict).
    let mut dedicated_ns: BTreeMap<String, ResourceId> = BTreeMap::new();
    for p in m.pipelines.iter().filter(|p| p.gateway.dedicated) {
        if let Some(ns) = namespaces_of(p) {
            for n in ns {
                dedicated_ns.entry(n).or_insert_with(|| p.id.clone());
            }
        }
    }
    // Namespace -> its pool.
    let shared: BTreeSet<String> = m
        .pipelines
        .iter()
        .filter_map(namespaces_of)
        .flatten()
        .filter(|n| !dedicated_ns.contains_key(n))
        .collect();
    let shards =
        shard_count(shared.len(), ps.namespaces_per_shard).max(min_shards.next_power_of_two());
    let pool_of = |ns: &str| match dedicated_ns.get(ns) {
        Some(owner) => PoolId::Dedicated(owner.clone()),
        None => PoolId::Shard(shard_of(ns, shards)),
    };
    // Pool -> its namespaces, and pool -> member pipeline -> how many of its namespaces.
    let mut namespaces: BTreeMap<PoolId, Option<BTreeSet<String>>> = BTreeMap::new();
    let mut members: BTreeMap<PoolId, BTreeMap<ResourceId, usize>> = BTreeMap::new();
    let by_id: BTreeMap<&ResourceId, &Pipeline> = m.pipelines.iter().map(|p| (&p.id, p)).collect();
    let mut count_of: BTreeMap<&ResourceId, usize> = BTreeMap::new();
    for p in &m.pipelines {
        match namespaces_of(p) {
            None => {
                let id = PoolId::Dedicated(p.id.clone());
                namespaces.insert(id.clone(), None);
                members.entry(id).or_default().insert(p.id.clone(), 1);
                count_of.insert(&p.id, 1);
            }
            Some(ns) => {
                count_of.insert(&p.id, ns.len());
                for n in ns {
                    let id = pool_of(&n);
                    if let Some(Some(set)) = namespaces.get_mut(&id) {
                        set.insert(n.clone());
                    } else {
                        namespaces.insert(id.clone(), Some(BTreeSet::from([n.clone()])));
                    }
                    *members
                        .entry(id)
                        .or_default()
                        .entry(p.id.clone())
                        .or_default() += 1;
                }
            }
        }
    }
    let mut pools = Vec::new();
    for (id, pool_members) in members {
        let owner = match &id {
            PoolId::Dedicated(owner) => by_id.get(owner).copied(),
            PoolId::Shard(_) => None,
        };
        let mut regions: BTreeMap<String, PoolRegion> = BTreeMap::new();
        let mut region_members: BTreeMap<String, (Vec<Zone>, Vec<Member>)> = BTreeMap::new();
        for (pid, hosted) in &pool_members {
            let Some(p) = by_id.get(pid) else { continue };
            let share = *hosted as f64 / count_of.get(pid).copied().unwrap_or(1).max(1) as f64;
            for (region, r) in &p.regions {
                let entry = region_members
                    .entry(region.clone())
                    .or_insert_with(|| (r.zones.clone(), Vec::new()));
                entry.1.push(Member {
                    pipeline: pid.clone(),
                    share,
                });
            }
        }
        for (region, (zones, members)) in region_members {
            let mine: Vec<(&Pipeline, f64)> = members
                .iter()
                .filter_map(|mem| by_id.get(&mem.pipeline).map(|p| (*p, mem.share)))
                .collect();
            let (plan, sizing) = size(&mine, &zones, owner, ps);
            regions.insert(
                region,
                PoolRegion {
                    zones,
                    members,
                    plan,
                    sizing,
                },
            );
        }
        pools.push(Pool {
            name: id.name(),
            namespaces: namespaces.get(&id).cloned().flatten(),
            id,
            regions,
        });
    }
    (pools, shards)
}

/// The store a member inserts into in a region.
pub fn store_of<'a>(p: &'a Pipeline, region: &str) -> Option<&'a Arc<Store>> {
    p.regions.get(region).map(|r| &r.store)
}

/// Plan and size a pool in one region from its members (pipeline, share of its rate).
fn size(
    members: &[(&Pipeline, f64)],
    zones: &[Zone],
    owner: Option<&Pipeline>,
    ps: &PoolSettings,
) -> (Plan, Sizing) {
    let rate: f64 = members
        .iter()
        .map(|(p, s)| p.gateway.events_per_second as f64 * s)
        .sum();
    let buffered_events: f64 = members
        .iter()
        .map(|(p, s)| p.gateway.events_per_second as f64 * s * p.gateway.buffer.as_secs_f64())
        .sum();
    let (capacity, min_per_zone, max_replicas) = match owner {
        Some(o) => (
            o.gateway.capacity_per_replica,
            o.gateway.min_replicas_per_zone,
            o.gateway.max_replicas,
        ),
        None => (ps.capacity_per_replica, ps.min_replicas_per_zone, None),
    };
    let plan = plan(&PlanInput {
        events_per_second: rate.ceil() as u64,
        capacity_per_replica: capacity,
        // The buffer decides where the queue lives, not how many replicas run.
        buffer_seconds: 0,
        bytes_per_event: 0,
        memory_limit_bytes: 0,
        min_per_zone,
        max_replicas,
        zones: zones
            .iter()
            .map(|z| (z.name.clone(), z.lines_per_second))
            .collect(),
    });
    let replicas = u64::from(plan.total.max(1));
    let queue_events = (buffered_events / replicas as f64).ceil() as u64;
    // The busiest zone's replicas set the size (zones carry their own share of the rate).
    let rate_per_replica = plan
        .zones
        .iter()
        .map(|z| z.events_per_replica as f64)
        .fold(rate / replicas as f64, f64::max);
    let explicit = owner.and_then(|o| o.gateway.explicit_resources.clone());
    let memory_bytes = owner
        .and_then(|o| o.gateway.bytes_per_event)
        .unwrap_or(ps.memory_bytes_per_event);
    let queue_memory = queue_events.saturating_mul(memory_bytes);
    let working = BASE_MEMORY + (rate_per_replica * IN_FLIGHT_SECONDS * memory_bytes as f64) as u64;
    let (resources, memory_limit, medium) = match explicit {
        Some(r) => {
            let limit = owner.map(|o| o.gateway.memory_limit_bytes).unwrap_or(0);
            // The memory_limiter refuses data above 80% of the limit: the queue gets what is
            // left of that after the working memory.
            let room = (limit as f64 * 0.8) as u64;
            let medium = if queue_memory <= room.saturating_sub(working) {
                Medium::Memory
            } else {
                Medium::Disk {
                    volume_bytes: volume_bytes(queue_events, ps),
                }
            };
            (r, limit, medium)
        }
        None => {
            // The memory_limiter refuses data above 80% of the limit.
            let (memory, medium) = if queue_memory <= ps.max_queue_memory {
                (
                    round_up(((working + queue_memory) as f64 / 0.8) as u64, 256 * MIB),
                    Medium::Memory,
                )
            } else {
                (
                    round_up((working as f64 / 0.8) as u64, 256 * MIB),
                    Medium::Disk {
                        volume_bytes: volume_bytes(queue_events, ps),
                    },
                )
            };
            // Requested so that the expected rate runs at the autoscaler's target: its steady
            // state is the plan, not the plan plus the target's headroom.
            let millicores = ((rate_per_replica / ps.events_per_core.max(1) as f64) * 1000.0
                / HPA_TARGET_UTILIZATION)
                .ceil() as u64;
            let millicores = round_up(millicores.max(250), 100);
            (computed_resources(millicores, memory), memory, medium)
        }
    };
    let holds = if rate > 0.0 {
        let capacity_events = match medium {
            Medium::Memory => queue_events,
            // The volume's slack (for bbolt's free pages) is not capacity.
            Medium::Disk { volume_bytes } => {
                (volume_bytes as f64 / VOLUME_SLACK / ps.disk_bytes_per_event.max(1) as f64) as u64
            }
        } * replicas;
        Duration::from_secs_f64((capacity_events as f64 / rate).min(30.0 * 24.0 * 3600.0))
    } else {
        Duration::ZERO
    };
    (
        plan,
        Sizing {
            resources,
            memory_limit_bytes: memory_limit,
            medium,
            queue_events_per_replica: queue_events,
            holds,
        },
    )
}

/// A volume that holds a replica's queue serialised, with a quarter more for bbolt's free pages
/// and compaction, in whole GiB.
fn volume_bytes(queue_events: u64, ps: &PoolSettings) -> u64 {
    round_up(
        (queue_events.saturating_mul(ps.disk_bytes_per_event) as f64 * VOLUME_SLACK) as u64,
        GIB,
    )
    .max(GIB)
}

/// Room on a queue volume beyond the data: bbolt keeps freed pages until compaction.
const VOLUME_SLACK: f64 = 1.25;

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to.max(1)).saturating_mul(to)
}

fn computed_resources(millicores: u64, memory: u64) -> ResourceRequirements {
    let cpu = Quantity(format!("{millicores}m"));
    let mem = Quantity(format!("{}Mi", memory / MIB));
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), cpu),
            ("memory".to_string(), mem.clone()),
        ])),
        limits: Some(BTreeMap::from([("memory".to_string(), mem)])),
        ..Default::default()
    }
}

/// One line saying what a pool is in a region and why (`render --explain`).
pub fn explain(pool: &Pool, region: &str, r: &PoolRegion) -> String {
    let p = &r.plan;
    let medium = match r.sizing.medium {
        Medium::Memory => "memory".to_string(),
        Medium::Disk { volume_bytes } => format!("disk, {} GiB per replica", volume_bytes / GIB),
    };
    format!(
        "pool {} {region}: {} pipeline(s), {} gateways (throughput {}, zones {}){}: {}; {} each; buffer in {medium}, holds {} at the expected rate",
        pool.name,
        r.members.len(),
        p.total,
        p.by_throughput,
        p.by_zones,
        if p.capped { ", capped" } else { "" },
        p.zones
            .iter()
            .map(|z| format!("{}={}", z.zone, z.replicas))
            .collect::<Vec<_>>()
            .join(" "),
        resources_text(&r.sizing.resources),
        humantime(r.sizing.holds),
    )
}

/// `cpu 2, memory 4Gi`.
pub fn resources_text(r: &ResourceRequirements) -> String {
    let get = |k: &str| {
        r.requests
            .as_ref()
            .and_then(|m| m.get(k))
            .or_else(|| r.limits.as_ref().and_then(|m| m.get(k)))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "-".to_string())
    };
    format!("cpu {}, memory {}", get("cpu"), get("memory"))
}

/// A duration as `2h0m`, `45m`, `30s`.
pub fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, _) => format!("{m}m"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_in_two_when_they_double() {
        for ns in ["a", "team-checkout", "kube-system", "x-1234"] {
            let four = shard_of(ns, 4);
            let eight = shard_of(ns, 8);
            assert!(
                eight == four || eight == four + 4,
                "{ns}: {four} -> {eight}"
            );
            assert_eq!(shard_of(ns, 1), 0);
        }
        assert_eq!(shard_count(0, 64), 1);
        assert_eq!(shard_count(64, 64), 1);
        assert_eq!(shard_count(65, 64), 2);
        assert_eq!(shard_count(1000, 64), 16);
    }

    #[test]
    fn names_are_unambiguous() {
        let a = PoolId::Dedicated(ResourceId::pipeline("a-b", "c")).name();
        let b = PoolId::Dedicated(ResourceId::pipeline("a", "b-c")).name();
        assert_ne!(a, b);
        assert_eq!(PoolId::Shard(3).name(), "otelhouse-gw-s3");
    }
}
