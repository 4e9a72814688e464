//! The builders over the resolved model: every object the operator wants, and every pipeline's
//! DDL. `render` and the controller call the same functions.

use crate::agents;
use crate::gateway::{self, pool::Pool};
use crate::inventory::Settings;
use crate::meta::Desired;
use crate::model::{Model, Problem, Subject};

/// What the builders produce besides the objects.
pub struct Built {
    pub warnings: Vec<Problem>,
    /// The gateway pools and their plans.
    pub pools: Vec<Pool>,
}

/// Build every object of the model, handing each to `sink` as it is built (the controller keeps
/// them compact; `render` collects them).
pub fn build_each(m: &Model, settings: &Settings, mut sink: impl FnMut(Desired)) -> Built {
    let mut warnings = Vec::new();
    let pools = gateway::pools(m, settings);
    if !m.classes.is_empty() {
        let (destinations, keys) = agents::agent_pools(m, &pools, settings);
        let (shared, text) = agents::build_shared(settings, &destinations, &keys);
        sink(shared);
        for class in &m.classes {
            agents::build(class, settings, &text)
                .into_iter()
                .for_each(&mut sink);
        }
    }
    for pool in &pools {
        for (region, r) in &pool.regions {
            if r.plan.capped {
                for member in &r.members {
                    warnings.push(Problem::warning(
                        Subject::Resource(member.pipeline.clone()),
                        "spec.gateway.maxReplicas",
                        format!(
                            "pool {} in region {region}: the plan wants {} replicas for throughput but maxReplicas caps it at {}",
                            pool.name, r.plan.by_throughput, r.plan.total
                        ),
                    ));
                }
            }
        }
        for d in gateway::build(pool, m, settings) {
            let bytes = config_bytes(&d);
            if bytes > gateway::MAX_CONFIG_BYTES {
                for member in pool.members() {
                    warnings.push(Problem::warning(
                        Subject::Resource(member.clone()),
                        "spec",
                        format!(
                            "pool {}: ConfigMap {} holds {} KiB of collector config, over what fits in a Kubernetes object (1 MiB): the API server will refuse it; give some of these pipelines dedicated gateways (spec.gateway.dedicated) or fewer tables",
                            pool.name,
                            d.name,
                            bytes / 1024
                        ),
                    ));
                }
            }
            sink(d);
        }
    }
    Built { warnings, pools }
}

/// The bytes of a ConfigMap's data (0 for other kinds).
fn config_bytes(d: &Desired) -> usize {
    if d.kind != "ConfigMap" {
        return 0;
    }
    d.object["data"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_str()).map(str::len).sum())
        .unwrap_or(0)
}

/// Each pipeline's fresh-install DDL in every store it targets, as YAML comments (so the stream
/// still applies with kubectl), in the order of the pipelines and their stores.
pub fn ddl_comments(m: &Model) -> String {
    crate::par::map(&m.pipelines, |p| {
        let mut out = String::new();
        for store in &p.stores {
            out.push_str(&format!(
                "# --- ClickHouse DDL: LogPipeline {}/{} in ClickHouseStore {} (region {}) ---\n",
                p.namespace, p.name, store.name, store.region
            ));
            let layouts = crate::schema::layouts(&p.tables, crate::schema::Placement::of(store));
            for sql in crate::schema::ddl::fresh_install(&layouts) {
                for line in sql.lines() {
                    out.push_str("# ");
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("# ;\n");
            }
        }
        out
    })
    .concat()
}
