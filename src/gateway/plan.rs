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

/// Plan a region: replicas = max(zones x minimum per zone, ceil(rate / capacity), what the
/// buffer needs in memory), capped by `max_replicas` (the zone minimum still wins), then spread
/// over the zones by weight with every zone getting its minimum.
pub fn plan(input: &PlanInput) -> Plan {
    let zones = input.zones.len().max(1) as u32;
    let by_zones = zones.saturating_mul(input.min_per_zone);
    let by_throughput = div_ceil(input.events_per_second, input.capacity_per_replica.max(1));
    let buffer_bytes = (input.events_per_second as u128)
        * (input.buffer_seconds as u128)
        * (input.bytes_per_event as u128);
    let per_replica = ((input.memory_limit_bytes as f64) * BUFFER_MEMORY_SHARE).max(1.0) as u128;
    let by_buffer = clamp_u32(buffer_bytes.div_ceil(per_replica));
    let wanted = by_throughput.max(by_buffer);
    let (wanted, capped) = match input.max_replicas {
        Some(max) if wanted > max => (max, true),
        _ => (wanted, false),
    };
    let zone_plans = spread(wanted, input);
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

/// Largest-remainder apportionment of `wanted` over the zones by weight, each zone floored at
/// the minimum. Zones with no weight information share equally.
fn spread(wanted: u32, input: &PlanInput) -> Vec<ZonePlan> {
    let total_weight: f64 = input.zones.iter().map(|(_, w)| w.max(0.0)).sum();
    let n = input.zones.len().max(1) as f64;
    let share = |w: f64| {
        if total_weight > 0.0 {
            w.max(0.0) / total_weight
        } else {
            1.0 / n
        }
    };
    let exact: Vec<f64> = input
        .zones
        .iter()
        .map(|(_, w)| share(*w) * f64::from(wanted))
        .collect();
    let mut counts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let assigned: u32 = counts.iter().sum();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    // Largest remainder first; ties go to the zone listed first (zones are sorted by name).
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(wanted.saturating_sub(assigned) as usize) {
        counts[i] += 1;
    }
    input
        .zones
        .iter()
        .zip(counts)
        .map(|((zone, w), c)| {
            let replicas = c.max(input.min_per_zone);
            let max_replicas = match input.max_replicas {
                Some(max) => replicas.max((share(*w) * f64::from(max)).ceil() as u32),
                // Without a ceiling, the autoscaler may double a zone's plan.
                None => replicas.saturating_mul(2),
            };
            ZonePlan {
                zone: zone.clone(),
                replicas,
                max_replicas,
            }
        })
        .collect()
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
    fn loghouse_largest_region_plans_16_to_19() {
        let p = plan(&loghouse(1_100_000));
        assert!((16..=19).contains(&p.total), "{p:?}");
        assert_eq!(p.by_throughput, 19);
        assert!(p.by_buffer <= 19, "{p:?}");
        assert!(!p.capped);
        assert_eq!(p.zones.iter().map(|z| z.replicas).sum::<u32>(), p.total);
        // Equal zones get 7/6/6.
        let mut r: Vec<u32> = p.zones.iter().map(|z| z.replicas).collect();
        r.sort();
        assert_eq!(r, vec![6, 6, 7]);
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
        assert_eq!(r, vec![8, 2, 1], "the empty zone still gets its minimum");
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
