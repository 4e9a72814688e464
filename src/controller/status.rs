//! Status (pure): conditions a user can act on, computed from the snapshot and what the cluster
//! and ClickHouse report. A condition keeps its lastTransitionTime while its status is unchanged,
//! so an unchanged world gives an equal status and no write.

use super::config_check::{Gate, Held};
use super::snapshot::Snapshot;
use crate::crd::{
    AgentClassStatus, ClickHouseStoreStatus, CommonStatus, GatewayStatus, LogPipelineStatus,
    StoreSchemaStatus, ZoneGatewayStatus,
};
use crate::gateway::pool::{Medium, Pool};
use crate::meta::LABEL_ZONE;
use crate::model::ResourceId;
use crate::schema::usage::{
    self, PartsThreshold, Pricing, TOO_MANY_PARTS, TableUsage, TenantVolume, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A resource's flow health as its status shows it ([`super::flow`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Flow {
    /// `--flow-interval 0`: no `FlowHealthy` condition (an Unknown one forever would say
    /// that someone is looking).
    Off,
    /// The flow loop's last evaluation; None before its first.
    Watched(Option<Box<crate::flow::FlowHealth>>),
}

/// The `FlowHealthy` condition a status carries (None when the flow loop is off).
///
/// Without an evaluation yet, or with a Pending one (no pod has two scrapes: the operator
/// just started or failed over), the condition already there is kept: a restart must not
/// flip every resource to Unknown and back, with a status write and two Events each. A
/// resource with none gets Unknown/Pending.
pub fn flow_condition(
    flow: &Flow,
    old: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Option<Condition> {
    use crate::flow::{CONDITION_TYPE, FlowHealth, FlowReason, FlowStatus};
    let health = match flow {
        Flow::Off => return None,
        Flow::Watched(h) => h.as_deref(),
    };
    let pending = health.is_none_or(|h| h.reason == FlowReason::Pending);
    if pending && let Some(kept) = old.iter().find(|c| c.type_ == CONDITION_TYPE) {
        return Some(Condition {
            observed_generation: generation,
            ..kept.clone()
        });
    }
    let waiting;
    let health = match health {
        Some(h) => h,
        None => {
            waiting = FlowHealth {
                status: FlowStatus::Unknown,
                reason: FlowReason::Pending,
                message: "waiting for two scrapes of its collectors' metrics".to_string(),
                totals: Default::default(),
            };
            &waiting
        }
    };
    Some(crate::flow::condition(health, old, generation, now))
}

/// The new `FlowHealthy` condition, when its status or reason changed since `old` (worth an
/// Event); not the first Unknown of a new resource, which says nothing happened.
pub fn flow_transition<'a>(old: &[Condition], new: &'a CommonStatus) -> Option<&'a Condition> {
    let c = new
        .conditions
        .iter()
        .find(|c| c.type_ == crate::flow::CONDITION_TYPE)?;
    let had = old.iter().any(|o| o.type_ == c.type_);
    (crate::flow::changed(old, c) && (had || c.status != "Unknown")).then_some(c)
}

/// One condition before times are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Cond {
    fn new(type_: &'static str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// Attach times and the generation, keeping lastTransitionTime where the status is unchanged.
pub fn conditions(
    new: Vec<Cond>,
    old: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    new.into_iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" }.to_string();
            let since = old
                .iter()
                .find(|o| o.type_ == c.type_ && o.status == status)
                .map(|o| o.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.to_string(),
                status,
                reason: c.reason,
                message: c.message,
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect()
}

fn problems_message(snapshot: &Snapshot, key: &ResourceId) -> String {
    snapshot
        .problems
        .get(key)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    if p.field.is_empty() {
                        p.message.clone()
                    } else {
                        format!("{}: {}", p.field, p.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn int(v: Option<&Value>, path: &str) -> u32 {
    v.and_then(|v| v.pointer(path))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32
}

/// A stale CRD of this kind makes the resource Degraded (unless something worse already does):
/// fields the operator knows and the installed CRD does not are silently dropped.
fn stale_crd(conds: &mut Vec<Cond>, snapshot: &Snapshot, kind: &str) {
    let Some(message) = snapshot.stale_crds.get(kind) else {
        return;
    };
    if conds.iter().any(|c| c.type_ == "Degraded" && c.status) {
        return;
    }
    conds.retain(|c| c.type_ != "Degraded");
    conds.push(Cond::new("Degraded", true, "StaleCRD", message.clone()));
}

/// The conditions and generation every status carries.
fn common(
    conds: Vec<Cond>,
    old: Option<&CommonStatus>,
    generation: Option<i64>,
    now: &Time,
) -> CommonStatus {
    CommonStatus {
        conditions: conditions(
            conds,
            old.map(|o| o.conditions.as_slice()).unwrap_or_default(),
            generation,
            now,
        ),
        observed_generation: generation,
    }
}

/// The common status with `FlowHealthy` after the other conditions. It is not part of
/// Ready: Ready says the resource is reconciled (what was asked for is applied and running),
/// FlowHealthy whether the data gets through; a destination that is down is not a reason to
/// hold a rollout or to count the objects as not applied.
fn with_flow(
    mut c: CommonStatus,
    flow: &Flow,
    old: Option<&CommonStatus>,
    now: &Time,
) -> CommonStatus {
    let old = old.map(|o| o.conditions.as_slice()).unwrap_or_default();
    if let Some(f) = flow_condition(flow, old, c.observed_generation, now) {
        c.conditions.push(f);
    }
    c
}

/// An AgentClass's status.
#[allow(clippy::too_many_arguments)]
pub fn class_status(
    id: &ResourceId,
    generation: Option<i64>,
    snapshot: &Snapshot,
    daemon_set: Option<&Value>,
    overlaps_with: Vec<String>,
    held: &[(String, Held)],
    flow: &Flow,
    old: Option<&AgentClassStatus>,
    now: &Time,
) -> AgentClassStatus {
    let name = id.name.as_str();
    let nodes = snapshot.coverage.by_class.get(name).map(|n| n.len() as u32);
    let desired = int(daemon_set, "/status/desiredNumberScheduled");
    let ready = int(daemon_set, "/status/numberReady");
    let untolerated = snapshot.coverage.untolerated.get(name);
    let mut conds = if snapshot.excluded(id) {
        let msg = problems_message(snapshot, id);
        let reason = if overlaps_with.is_empty() {
            "Invalid"
        } else {
            "Overlap"
        };
        vec![
            Cond::new("Ready", false, reason, msg.clone()),
            Cond::new("Degraded", true, reason, msg),
        ]
    } else if daemon_set.is_none() {
        vec![
            Cond::new(
                "Ready",
                false,
                "Applying",
                "the agent DaemonSet is being created",
            ),
            Cond::new("Degraded", false, "AsExpected", ""),
        ]
    } else if ready < desired {
        vec![
            Cond::new(
                "Ready",
                false,
                "AgentsNotReady",
                format!("{ready} of {desired} agents ready"),
            ),
            Cond::new("Degraded", false, "AsExpected", ""),
        ]
    } else {
        vec![
            Cond::new(
                "Ready",
                true,
                "AgentsReady",
                format!("{ready} of {desired} agents ready"),
            ),
            Cond::new("Degraded", false, "AsExpected", ""),
        ]
    };
    // Nodes the class selects but its agents cannot run on: logs there are not collected.
    if let Some(untolerated) = untolerated.filter(|_| !snapshot.excluded(id)) {
        let shown: Vec<&str> = untolerated.iter().take(5).map(|n| &**n).collect();
        let more = untolerated.len().saturating_sub(shown.len());
        conds.retain(|c| c.type_ != "Degraded");
        conds.push(Cond::new(
            "Degraded",
            true,
            "TaintedNodes",
            format!(
                "{} selected node(s) have taints its agents do not tolerate, so no logs are collected there: {}{}; tolerate them in spec.tolerations or set tolerateAllTaints: true",
                untolerated.len(),
                shown.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ),
        ));
    }
    if !snapshot.excluded(id) {
        config_checked(&mut conds, held, "agents of class");
    }
    stale_crd(&mut conds, snapshot, "AgentClass");
    AgentClassStatus {
        common: with_flow(
            common(conds, old.map(|o| &o.common), generation, now),
            flow,
            old.map(|o| &o.common),
            now,
        ),
        nodes,
        agents_desired: daemon_set.map(|_| desired),
        agents_ready: daemon_set.map(|_| ready),
        overlaps_with,
        nodes_untolerated: untolerated.map(|u| u.len() as u32),
    }
}

/// A LogPipeline's status. `deployments` are its live gateway Deployments.
#[allow(clippy::too_many_arguments)]
pub fn pipeline_status(
    id: &ResourceId,
    generation: Option<i64>,
    snapshot: &Snapshot,
    workloads: &[&Value],
    stores: Vec<StoreSchemaStatus>,
    tables: u32,
    held: &[(String, Held)],
    flow: &Flow,
    old: Option<&LogPipelineStatus>,
    now: &Time,
) -> LogPipelineStatus {
    let label = |v: &Value, key: &str| {
        v.pointer(&format!("/metadata/labels/{}", key.replace('/', "~1")))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let pools: Vec<&Pool> = crate::gateway::pools_of(&snapshot.pools, id).collect();
    // Zone -> (planned, ready), over the pools that serve this pipeline.
    let mut by_zone: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut capped = false;
    let mut mediums = BTreeSet::new();
    let mut holds: Option<std::time::Duration> = None;
    for pool in &pools {
        for r in pool.regions.values() {
            capped |= r.plan.capped;
            mediums.insert(match r.sizing.medium {
                Medium::Memory => "Memory",
                Medium::Disk { .. } => "Disk",
            });
            holds = Some(holds.map_or(r.sizing.holds, |h| h.min(r.sizing.holds)));
            for z in &r.plan.zones {
                let zone_label = crate::meta::shorten(&z.zone, 63);
                let ready: u32 = workloads
                    .iter()
                    .filter(|w| {
                        label(w, LABEL_ZONE).as_deref() == Some(zone_label.as_str())
                            && label(w, crate::gateway::LABEL_POOL).as_deref()
                                == Some(pool.name.as_str())
                    })
                    .map(|w| int(Some(w), "/status/readyReplicas"))
                    .sum();
                let e = by_zone.entry(z.zone.clone()).or_default();
                e.0 += z.replicas;
                e.1 += ready.min(z.replicas);
            }
        }
    }
    let zones: Vec<ZoneGatewayStatus> = by_zone
        .into_iter()
        .map(|(zone, (planned, ready))| ZoneGatewayStatus {
            zone,
            planned,
            ready,
        })
        .collect();
    let planned: u32 = zones.iter().map(|z| z.planned).sum();
    let ready: u32 = zones.iter().map(|z| z.ready.min(z.planned)).sum();
    let short: Vec<String> = zones
        .iter()
        .filter(|z| z.ready < z.planned)
        .map(|z| format!("{} {}/{}", z.zone, z.ready, z.planned))
        .collect();
    let bad_stores: Vec<&StoreSchemaStatus> =
        stores.iter().filter(|s| s.state != "Applied").collect();
    let mut conds = if snapshot.excluded(id) {
        let msg = problems_message(snapshot, id);
        vec![
            Cond::new("Ready", false, "Invalid", msg.clone()),
            Cond::new("Degraded", true, "Invalid", msg),
        ]
    } else {
        let schema_msg = bad_stores
            .iter()
            .map(|s| {
                format!(
                    "{}: {} {}",
                    s.store,
                    s.state,
                    s.message.as_deref().unwrap_or_default()
                )
                .trim()
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("; ");
        let degraded = if let Some(s) = bad_stores
            .iter()
            .find(|s| s.state == "Refused" || s.state == "Unreachable" || s.state == "Failed")
        {
            Cond::new(
                "Degraded",
                true,
                &format!("Schema{}", s.state),
                schema_msg.clone(),
            )
        } else if capped {
            Cond::new(
                "Degraded",
                true,
                "Capped",
                "the gateway plan is capped by maxReplicas: the buffer or throughput target is not met",
            )
        } else {
            Cond::new("Degraded", false, "AsExpected", "")
        };
        let ready_cond = if !bad_stores.is_empty() {
            Cond::new("Ready", false, "SchemaNotApplied", schema_msg)
        } else if !short.is_empty() {
            Cond::new(
                "Ready",
                false,
                "GatewaysNotReady",
                format!("gateways ready per zone: {}", short.join(", ")),
            )
        } else {
            Cond::new(
                "Ready",
                true,
                "Ready",
                format!(
                    "{ready} gateways ready, schema applied in {} store(s)",
                    stores.len()
                ),
            )
        };
        let mut conds = vec![ready_cond, degraded];
        config_checked(&mut conds, held, "gateways of pool");
        conds
    };
    stale_crd(&mut conds, snapshot, "LogPipeline");
    LogPipelineStatus {
        common: with_flow(
            common(conds, old.map(|o| &o.common), generation, now),
            flow,
            old.map(|o| &o.common),
            now,
        ),
        gateways: (!pools.is_empty()).then(|| GatewayStatus {
            pools: pools.iter().map(|p| p.name.clone()).collect(),
            planned,
            ready,
            capped,
            buffer_medium: match mediums.len() {
                0 => None,
                1 => mediums.iter().next().map(|m| m.to_string()),
                _ => Some("Mixed".to_string()),
            },
            buffer_holds: holds.map(crate::gateway::pool::humantime),
            zones,
        }),
        tables: Some(tables),
        stores,
        volume: None,
    }
}

/// `ConfigRejected`: True (and Degraded) when the collector's own `validate` refused a new
/// config, which is then not rolled out (the running collectors keep the old one); False while
/// a new one is being checked (`ValidatingConfig`) or when none is held.
fn config_checked(conds: &mut Vec<Cond>, held: &[(String, Held)], what: &str) {
    let rejected: Vec<String> = held
        .iter()
        .filter_map(|(owner, h)| match &h.gate {
            Gate::Rejected(m) => Some(format!(
                "{what} {owner}: the new config ({}) was refused by the collector's validate and is not rolled out, the running collectors keep theirs: {m}",
                h.config_maps.join(", ")
            )),
            Gate::Validating => None,
        })
        .collect();
    let validating: Vec<String> = held
        .iter()
        .filter(|(_, h)| h.gate == Gate::Validating)
        .map(|(owner, h)| format!("{what} {owner}: Job {}", h.job))
        .collect();
    if !rejected.is_empty() {
        let message = rejected.join("; ");
        conds.retain(|c| c.type_ != "Degraded");
        conds.push(Cond::new(
            "Degraded",
            true,
            "ConfigRejected",
            message.clone(),
        ));
        conds.push(Cond::new(
            "ConfigRejected",
            true,
            "ValidationFailed",
            message,
        ));
    } else if !validating.is_empty() {
        conds.push(Cond::new(
            "ConfigRejected",
            false,
            "ValidatingConfig",
            format!(
                "a new config is being validated before it is rolled out: {}",
                validating.join("; ")
            ),
        ));
    } else {
        conds.push(Cond::new("ConfigRejected", false, "AsExpected", ""));
    }
}

/// The message of a `ConfigRejected` condition that is new (or says something new) since `old`.
pub fn newly_rejected(old: Option<&CommonStatus>, new: &CommonStatus) -> Option<String> {
    let rejected = |s: &CommonStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "ConfigRejected" && c.status == "True")
            .map(|c| c.message.clone())
    };
    let now = rejected(new)?;
    (old.and_then(rejected).as_ref() != Some(&now)).then_some(now)
}

/// A ClickHouseStore's status.
pub fn store_status(
    id: &ResourceId,
    generation: Option<i64>,
    snapshot: &Snapshot,
    health: Result<String, String>,
    old: Option<&ClickHouseStoreStatus>,
    now: &Time,
) -> ClickHouseStoreStatus {
    let (mut conds, reachable, version, error) = if snapshot.excluded(id) {
        let msg = problems_message(snapshot, id);
        (
            vec![
                Cond::new("Ready", false, "Invalid", msg.clone()),
                Cond::new("Degraded", true, "Invalid", msg),
            ],
            None,
            None,
            None,
        )
    } else {
        match health {
            Ok(v) => (
                vec![
                    Cond::new("Ready", true, "Reachable", format!("ClickHouse {v}")),
                    Cond::new("Degraded", false, "AsExpected", ""),
                ],
                Some(true),
                Some(v),
                None,
            ),
            Err(e) => (
                vec![
                    Cond::new("Ready", false, "Unreachable", e.clone()),
                    Cond::new("Degraded", true, "Unreachable", e.clone()),
                ],
                Some(false),
                old.and_then(|o| o.server_version.clone()),
                Some(e),
            ),
        }
    };
    stale_crd(&mut conds, snapshot, "ClickHouseStore");
    ClickHouseStoreStatus {
        common: common(conds, old.map(|o| &o.common), generation, now),
        reachable,
        server_version: version,
        last_error: error,
        ..Default::default()
    }
}

/// A pipeline's `volume` and `TooManyParts` condition from the usage loop's figures
/// ([`super::usage`]). Without figures (none read yet, or the loop off) the status keeps what
/// it had. With figures, the old volume and condition are kept unless the new ones differ
/// materially ([`super::usage::material`]; the condition's status or reason): figures move on
/// every read, and an unchanged world must give an equal status.
pub fn with_usage(
    st: &mut LogPipelineStatus,
    tables: Option<Vec<TableUsage>>,
    pricing: &Pricing,
    old: Option<&LogPipelineStatus>,
    now: &Time,
) {
    let old_volume = old.and_then(|o| o.volume.as_ref());
    let old_conds = old
        .map(|o| o.common.conditions.as_slice())
        .unwrap_or_default();
    let old_cond = old_conds.iter().find(|c| c.type_ == TOO_MANY_PARTS);
    st.common.conditions.retain(|c| c.type_ != TOO_MANY_PARTS);
    let generation = st.common.observed_generation;
    let Some(tables) = tables else {
        st.volume = old_volume.cloned();
        if let Some(c) = old_cond {
            st.common.conditions.push(c.clone());
        }
        return;
    };
    let cond = usage::too_many_parts(
        &tables,
        &PartsThreshold::default(),
        old_conds,
        generation,
        now,
    );
    let new = usage::volume(tables, pricing);
    let material = old_volume.is_none_or(|o| super::usage::material(o, &new));
    st.volume = Some(match old_volume {
        Some(o) if !material => o.clone(),
        _ => new,
    });
    let cond = match old_cond {
        Some(o) if !material && o.status == cond.status && o.reason == cond.reason => Condition {
            observed_generation: generation,
            ..o.clone()
        },
        _ => cond,
    };
    st.common.conditions.push(cond);
}

/// A store's `volume`, `tenants` and `tenantCount` from the usage loop's figures, kept from
/// `old` unless they differ materially (as [`with_usage`]).
pub fn with_tenants(
    st: &mut ClickHouseStoreStatus,
    usage: Option<(Volume, Vec<TenantVolume>, u32)>,
    old: Option<&ClickHouseStoreStatus>,
) {
    let keep = |st: &mut ClickHouseStoreStatus| {
        if let Some(o) = old {
            st.volume = o.volume.clone();
            st.tenants = o.tenants.clone();
            st.tenant_count = o.tenant_count;
        }
    };
    let Some((total, tenants, count)) = usage else {
        keep(st);
        return;
    };
    let material = match old.and_then(|o| o.volume.as_ref()) {
        None => true,
        Some(o) => {
            let old = old.map(|o| o.tenants.as_slice()).unwrap_or_default();
            super::usage::material(o, &total)
                || old.len() != tenants.len()
                || old.iter().zip(&tenants).any(|(a, b)| {
                    a.namespace != b.namespace || super::usage::material(&a.volume, &b.volume)
                })
        }
    };
    if material || old.and_then(|o| o.tenant_count) != Some(count) {
        st.volume = Some(total);
        st.tenants = tenants;
        st.tenant_count = Some(count);
    } else {
        keep(st);
    }
}

/// The Ready condition's (status, reason), to tell a transition (worth an Event) from no change.
pub fn ready_of(conditions: &[Condition]) -> Option<(String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::plan::{Plan, ZonePlan};
    use crate::model::{Problem, ProblemKind, Subject};
    use serde_json::json;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn cond<'a>(c: &'a [Condition], type_: &str) -> &'a Condition {
        c.iter().find(|c| c.type_ == type_).unwrap()
    }

    fn daemon_set(desired: u32, ready: u32) -> Value {
        json!({"status": {"desiredNumberScheduled": desired, "numberReady": ready}})
    }

    #[test]
    fn class_ready_not_ready_and_applying() {
        let id = ResourceId::class("all");
        let mut s = Snapshot::default();
        s.coverage
            .by_class
            .insert("all".into(), vec!["n1".into(), "n2".into()]);
        let now = t("2026-01-01T00:00:00Z");
        let st = class_status(&id, Some(3), &s, None, vec![], &[], &Flow::Off, None, &now);
        assert_eq!(cond(&st.common.conditions, "Ready").reason, "Applying");
        assert_eq!(st.nodes, Some(2));
        let st = class_status(
            &id,
            Some(3),
            &s,
            Some(&daemon_set(2, 1)),
            vec![],
            &[],
            &Flow::Off,
            None,
            &now,
        );
        let ready = cond(&st.common.conditions, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "AgentsNotReady")
        );
        assert_eq!(ready.message, "1 of 2 agents ready");
        let st = class_status(
            &id,
            Some(3),
            &s,
            Some(&daemon_set(2, 2)),
            vec![],
            &[],
            &Flow::Off,
            None,
            &now,
        );
        assert_eq!(cond(&st.common.conditions, "Ready").status, "True");
        assert_eq!(st.common.observed_generation, Some(3));
        assert_eq!(
            cond(&st.common.conditions, "Ready").observed_generation,
            Some(3)
        );
    }

    #[test]
    fn an_excluded_class_says_why_and_an_overlap_is_its_own_reason() {
        let id = ResourceId::class("a");
        let mut s = Snapshot::default();
        s.problems.insert(
            id.clone(),
            vec![Problem {
                subject: Subject::Resource(id.clone()),
                field: "spec".into(),
                message: "classes overlap: node n9".into(),
                kind: ProblemKind::Overlap {
                    with: vec!["b".into()],
                },
            }],
        );
        let now = t("2026-01-01T00:00:00Z");
        let st = class_status(
            &id,
            Some(1),
            &s,
            None,
            vec!["b".into()],
            &[],
            &Flow::Off,
            None,
            &now,
        );
        let d = cond(&st.common.conditions, "Degraded");
        assert_eq!((d.status.as_str(), d.reason.as_str()), ("True", "Overlap"));
        assert_eq!(d.message, "spec: classes overlap: node n9");
        assert_eq!(st.overlaps_with, vec!["b".to_string()]);
        let st = class_status(&id, Some(1), &s, None, vec![], &[], &Flow::Off, None, &now);
        assert_eq!(cond(&st.common.conditions, "Degraded").reason, "Invalid");
    }

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time() {
        let id = ResourceId::class("all");
        let s = Snapshot::default();
        let first = class_status(
            &id,
            Some(1),
            &s,
            Some(&daemon_set(1, 1)),
            vec![],
            &[],
            &Flow::Off,
            None,
            &t("2026-01-01T00:00:00Z"),
        );
        let later = class_status(
            &id,
            Some(1),
            &s,
            Some(&daemon_set(1, 1)),
            vec![],
            &[],
            &Flow::Off,
            Some(&first),
            &t("2026-01-02T00:00:00Z"),
        );
        assert_eq!(first, later, "same world, same status: no write");
        let broken = class_status(
            &id,
            Some(1),
            &s,
            Some(&daemon_set(1, 0)),
            vec![],
            &[],
            &Flow::Off,
            Some(&first),
            &t("2026-01-03T00:00:00Z"),
        );
        assert_eq!(
            cond(&broken.common.conditions, "Ready").last_transition_time,
            t("2026-01-03T00:00:00Z")
        );
    }

    fn plan(zones: &[(&str, u32)], capped: bool) -> Plan {
        Plan {
            total: zones.iter().map(|z| z.1).sum(),
            by_throughput: 1,
            by_buffer: 1,
            by_zones: zones.len() as u32,
            capped,
            zones: zones
                .iter()
                .map(|(z, r)| ZonePlan {
                    zone: z.to_string(),
                    replicas: *r,
                    max_replicas: r * 2,
                    events_per_replica: 1,
                })
                .collect(),
            queue_events_per_replica: 1,
        }
    }

    fn deployment(zone: &str, ready: u32) -> Value {
        json!({"metadata": {"labels": {LABEL_ZONE: zone, crate::gateway::LABEL_POOL: "otelhouse-gw-s0"}},
               "status": {"readyReplicas": ready}})
    }

    fn pool_of(id: &ResourceId, plan: Plan) -> Pool {
        use crate::gateway::pool::{Member, PoolId, PoolRegion, Sizing};
        Pool {
            id: PoolId::Shard(0),
            name: "otelhouse-gw-s0".into(),
            namespaces: Some(["team-a".to_string()].into()),
            regions: [(
                "us".to_string(),
                PoolRegion {
                    zones: vec![],
                    members: vec![Member {
                        pipeline: id.clone(),
                        share: 1.0,
                    }],
                    plan,
                    sizing: Sizing {
                        resources: Default::default(),
                        memory_limit_bytes: 1 << 30,
                        medium: Medium::Disk {
                            volume_bytes: 1 << 30,
                        },
                        queue_events_per_replica: 1000,
                        holds: std::time::Duration::from_secs(7200),
                    },
                },
            )]
            .into(),
        }
    }

    fn applied(store: &str) -> StoreSchemaStatus {
        StoreSchemaStatus {
            store: store.into(),
            state: "Applied".into(),
            applied_generation: Some(1),
            message: None,
        }
    }

    #[test]
    fn pipeline_gateways_per_zone_and_schema_state() {
        let id = ResourceId::pipeline("team-a", "app");
        let s = Snapshot {
            pools: vec![pool_of(&id, plan(&[("a", 2), ("b", 1)], false))],
            ..Default::default()
        };
        let now = t("2026-01-01T00:00:00Z");
        // Everything but the snapshot, the zones' Deployments and the schema states fixed.
        let status = |s: &Snapshot, deployments: &[&Value], schema| {
            pipeline_status(
                &id,
                Some(1),
                s,
                deployments,
                schema,
                1,
                &[],
                &Flow::Off,
                None,
                &now,
            )
        };
        let (a, b) = (deployment("a", 2), deployment("b", 0));
        let st = status(&s, &[&a, &b], vec![applied("us")]);
        let ready = cond(&st.common.conditions, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "GatewaysNotReady")
        );
        assert_eq!(ready.message, "gateways ready per zone: b 0/1");
        let g = st.gateways.unwrap();
        assert_eq!((g.planned, g.ready), (3, 2));
        assert_eq!(g.pools, vec!["otelhouse-gw-s0".to_string()]);
        assert_eq!(g.buffer_medium.as_deref(), Some("Disk"));
        assert_eq!(g.buffer_holds.as_deref(), Some("2h0m"));
        let b = deployment("b", 1);
        let st = status(&s, &[&a, &b], vec![applied("us")]);
        assert_eq!(cond(&st.common.conditions, "Ready").status, "True");
        // A refused migration is Degraded and not Ready, with the store's reason.
        let refused = StoreSchemaStatus {
            state: "Refused".into(),
            message: Some("ORDER BY cannot change".into()),
            ..applied("us")
        };
        let st = status(&s, &[&a, &b], vec![refused]);
        assert_eq!(
            cond(&st.common.conditions, "Degraded").reason,
            "SchemaRefused"
        );
        assert_eq!(
            cond(&st.common.conditions, "Ready").reason,
            "SchemaNotApplied"
        );
        // A capped plan is Degraded.
        let s = Snapshot {
            pools: vec![pool_of(&id, plan(&[("a", 2), ("b", 1)], true))],
            ..Default::default()
        };
        let st = status(&s, &[&a, &b], vec![applied("us")]);
        assert_eq!(cond(&st.common.conditions, "Degraded").reason, "Capped");
    }

    #[test]
    fn a_stale_crd_degrades_only_what_is_not_degraded_already() {
        let id = ResourceId::store("us");
        let mut s = Snapshot::default();
        s.stale_crds
            .insert("ClickHouseStore".into(), "stale".into());
        let now = t("2026-01-01T00:00:00Z");
        let st = store_status(&id, Some(1), &s, Ok("26.9".into()), None, &now);
        let d = cond(&st.common.conditions, "Degraded");
        assert_eq!((d.status.as_str(), d.reason.as_str()), ("True", "StaleCRD"));
        assert_eq!(cond(&st.common.conditions, "Ready").status, "True");
        let st = store_status(&id, Some(1), &s, Err("down".into()), None, &now);
        assert_eq!(
            cond(&st.common.conditions, "Degraded").reason,
            "Unreachable"
        );
        assert_eq!(st.reachable, Some(false));
    }
}
