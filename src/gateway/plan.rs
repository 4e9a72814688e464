//! The gateway planner: how many gateway replicas a region needs, and how they are spread over
//! its zones. Pure arithmetic, no Kubernetes types.

/// Share of a replica's memory limit the sending queue may fill: the memory_limiter refuses data
/// above 80% of the limit, so that is what buffering can use.
pub const BUFFER_MEMORY_SHARE: f64 = 0.8;

/// What a region's plan is computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInput {
    pub events_per_second: u64,
    pub capacity_per_replica: u64,
    pub buffer_seconds: u64,
    pub bytes_per_event: u32,
    pub memory_limit_bytes: u64,
    pub min_per_zone: u32,
    pub max_replicas: Option<u32>,
    /// Zones with their weight (the expected log rate of their nodes); at least one.
    pub zones: Vec<(String, f64)>,
}

/// One zone's share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePlan {
    pub zone: String,
    pub replicas: u32,
    /// The autoscaler's ceiling for this zone.
    pub max_replicas: u32,
    /// Events/s each of its replicas carries at the expected rate (its share of the rate).
    pub events_per_replica: u64,
}

/// A region's plan and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Replicas over all zones (at least `zones x min_per_zone`).
    pub total: u32,
    pub by_throughput: u32,
    pub by_buffer: u32,
    pub by_zones: u32,
    /// The throughput or buffer rule wanted more than `max_replicas`.
    pub capped: bool,
    pub zones: Vec<ZonePlan>,
    /// Events one replica's queue must hold to cover the buffer duration.
    pub queue_events_per_replica: u64,
}

/// Plan a region: each zone gets max(its minimum, ceil(its share of the rate / capacity)) and
/// more where the buffer needs memory; over `max_replicas`, the cap is spread by share instead
/// (the zone minimum still wins).
pub fn plan(input: &PlanInput) -> Plan {
    let zones = input.zones.len().max(1) as u32;
    let by_zones = zones.saturating_mul(input.min_per_zone);
    let capacity = input.capacity_per_replica.max(1);
    let by_throughput = div_ceil(input.events_per_second, capacity);
    let buffer_bytes = (input.events_per_second as u128)
        * (input.buffer_seconds as u128)
        * (input.bytes_per_event as u128);
    let per_replica = ((input.memory_limit_bytes as f64) * BUFFER_MEMORY_SHARE).max(1.0) as u128;
    let by_buffer = clamp_u32(buffer_bytes.div_ceil(per_replica));
    let shares = shares(input);
    // Topology-aware routing keeps a zone's agents on its own gateways, so each zone carries
    // its share of the rate: a zone short of its share is a hot spot (the source documents'
    // overwhelmed gateways), whatever the region's total.
    let mut counts: Vec<u32> = shares
        .iter()
        .map(|s| clamp_u32((s * input.events_per_second as f64 / capacity as f64).ceil() as u128))
        .collect();
    if by_buffer > counts.iter().sum::<u32>() {
        for (c, b) in counts.iter_mut().zip(apportion(by_buffer, &shares)) {
            *c = (*c).max(b);
        }
    }
    let wanted: u32 = counts.iter().sum();
    let capped = match input.max_replicas {
        Some(max) if wanted > max => {
            counts = apportion(max, &shares);
            true
        }
        _ => false,
    };
    let zone_plans: Vec<ZonePlan> = input
        .zones
        .iter()
        .zip(counts)
        .zip(&shares)
        .map(|(((zone, _), c), share)| {
            let replicas = c.max(input.min_per_zone);
            let max_replicas = match input.max_replicas {
                Some(max) => replicas.max((share * f64::from(max)).ceil() as u32),
                // Without a ceiling, the autoscaler may double a zone's plan.
                None => replicas.saturating_mul(2),
            };
            ZonePlan {
                zone: zone.clone(),
                replicas,
                max_replicas,
                events_per_replica: (share * input.events_per_second as f64
                    / f64::from(replicas.max(1)))
                .ceil() as u64,
            }
        })
        .collect();
    let total: u32 = zone_plans.iter().map(|z| z.replicas).sum();
    let total = total.max(by_zones);
    let queue_events_per_replica = input
        .events_per_second
        .saturating_mul(input.buffer_seconds)
        .div_ceil(u64::from(total.max(1)));
    Plan {
        total,
        by_throughput,
        by_buffer,
        by_zones,
        capped,
        zones: zone_plans,
        queue_events_per_replica,
    }
}

/// Each zone's share of the region's rate, by weight; zones without weight share equally.
fn shares(input: &PlanInput) -> Vec<f64> {
    let total_weight: f64 = input.zones.iter().map(|(_, w)| w.max(0.0)).sum();
    let n = input.zones.len().max(1) as f64;
    input
        .zones
        .iter()
        .map(|(_, w)| {
            if total_weight > 0.0 {
                w.max(0.0) / total_weight
            } else {
                1.0 / n
            }
        })
        .collect()
}

/// Largest-remainder apportionment of `n` replicas by share; ties go to the zone listed first
/// (zones are sorted by name).
fn apportion(n: u32, shares: &[f64]) -> Vec<u32> {
    let exact: Vec<f64> = shares.iter().map(|s| s * f64::from(n)).collect();
    let mut counts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let assigned: u32 = counts.iter().sum();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(n.saturating_sub(assigned) as usize) {
        counts[i] += 1;
    }
    counts
}

fn div_ceil(a: u64, b: u64) -> u32 {
    clamp_u32(u128::from(a.div_ceil(b)))
}

fn clamp_u32(v: u128) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn zones(n: usize) -> Vec<(String, f64)> {
        (0..n).map(|i| (format!("zone-{i}"), 1.0)).collect()
    }

    fn loghouse(rate: u64) -> PlanInput {
        PlanInput {
            events_per_second: rate,
            capacity_per_replica: 60_000,
            buffer_seconds: 2 * 3600,
            bytes_per_event: 20,
            memory_limit_bytes: 11 * GIB,
            min_per_zone: 1,
            max_replicas: None,
            zones: zones(3),
        }
    }

    #[test]
    fn loghouse_largest_region_plans_each_zone_for_its_share() {
        let p = plan(&loghouse(1_100_000));
        assert_eq!(p.by_throughput, 19);
        assert!(p.by_buffer <= 19, "{p:?}");
        assert!(!p.capped);
        assert_eq!(p.zones.iter().map(|z| z.replicas).sum::<u32>(), p.total);
        // 366,667/s per zone is 6.1 replicas' worth: 7 in each zone, not 7/6/6 (two zones'
        // gateways would run at 102% of their capacity).
        let r: Vec<u32> = p.zones.iter().map(|z| z.replicas).collect();
        assert_eq!(r, vec![7, 7, 7]);
        // 1.08M/s is exactly 6 per zone.
        assert_eq!(plan(&loghouse(1_080_000)).total, 18);
    }

    #[test]
    fn quiet_region_plans_one_per_zone() {
        let p = plan(&loghouse(2_000));
        assert_eq!(p.total, 3);
        assert!(p.zones.iter().all(|z| z.replicas == 1));
    }

    #[test]
    fn buffer_rule_dominates_when_memory_is_small() {
        let mut i = loghouse(100_000);
        i.memory_limit_bytes = GIB;
        i.bytes_per_event = 200;
        // 100k/s x 7200 s x 200 B = 144e9 B over 0.8 GiB per replica.
        let p = plan(&i);
        assert_eq!(p.by_throughput, 2);
        assert_eq!(p.by_buffer, 168);
        assert_eq!(p.total, 168);
    }

    #[test]
    fn cap_is_applied_and_reported_but_zones_keep_their_minimum() {
        let mut i = loghouse(1_100_000);
        i.max_replicas = Some(10);
        let p = plan(&i);
        assert!(p.capped);
        assert_eq!(p.total, 10);
        i.max_replicas = Some(2);
        i.min_per_zone = 1;
        let p = plan(&i);
        assert!(p.capped);
        assert_eq!(p.total, 3, "one per zone wins over the cap");
    }

    #[test]
    fn zones_are_weighted_by_their_log_rate() {
        let mut i = loghouse(600_000);
        i.zones = vec![("a".into(), 3.0), ("b".into(), 1.0), ("c".into(), 0.0)];
        let p = plan(&i);
        let r: Vec<u32> = p.zones.iter().map(|z| z.replicas).collect();
        // 450k/s and 150k/s: 7.5 and 2.5 replicas' worth; the empty zone gets its minimum.
        assert_eq!(r, vec![8, 3, 1]);
    }

    #[test]
    fn queue_holds_the_buffer_duration() {
        let p = plan(&loghouse(1_100_000));
        assert_eq!(
            p.queue_events_per_replica,
            (1_100_000u64 * 7200).div_ceil(u64::from(p.total))
        );
    }
}
