//! The builders over the resolved model: every object the operator wants, and every pipeline's
//! DDL. `render` and the controller call the same functions.

use crate::agents;
use crate::gateway::{self, plan::Plan};
use crate::inventory::Settings;
use crate::meta::Desired;
use crate::model::{Model, Problem, ResourceId, Subject};
use std::collections::BTreeMap;

/// What the builders produce besides the objects.
pub struct Built {
    pub warnings: Vec<Problem>,
    pub plans: BTreeMap<ResourceId, Vec<(String, Plan)>>,
}

/// Build every object of the model, handing each to `sink` as it is built (the controller keeps
/// them compact; `render` collects them).
pub fn build_each(m: &Model, settings: &Settings, mut sink: impl FnMut(Desired)) -> Built {
    let mut warnings = Vec::new();
    if !m.classes.is_empty() {
        let (routes, keys) = agents::routes(m, settings);
        let (shared, text) = agents::build_shared(settings, &routes, &keys);
        sink(shared);
        for class in &m.classes {
            agents::build(class, settings, &text)
                .into_iter()
                .for_each(&mut sink);
        }
    }
    let mut plans = BTreeMap::new();
    for p in &m.pipelines {
        let (objs, plan) = gateway::build(p, settings);
        for (region, pl) in &plan {
            if pl.capped {
                warnings.push(Problem::warning(
                    Subject::Resource(p.id.clone()),
                    "spec.gateway.maxReplicas",
                    format!(
                        "region {region}: the plan wants {} replicas (throughput {}, buffer {}) but maxReplicas caps it at {}",
                        pl.by_throughput.max(pl.by_buffer),
                        pl.by_throughput,
                        pl.by_buffer,
                        pl.total
                    ),
                ));
            }
        }
        objs.into_iter().for_each(&mut sink);
        plans.insert(p.id.clone(), plan);
    }
    Built { warnings, plans }
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
