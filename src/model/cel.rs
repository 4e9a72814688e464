//! The CRDs' own CEL rules, evaluated offline (kube's `cel` feature), so `render` refuses what
//! the API server would refuse at `kubectl apply`. Each CRD's rules are compiled once.

use super::{Problem, ResourceId};
use crate::crd::{AgentClass, ClickHouseStore, LogPipeline};
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use kube::{CustomResourceExt, Resource};
use std::sync::OnceLock;

fn compiled<K: CustomResourceExt>(
    cell: &'static OnceLock<CompiledSchema>,
) -> &'static CompiledSchema {
    cell.get_or_init(|| {
        let crd = K::crd();
        let schema = crd
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_default();
        compile_schema(&schema)
    })
}

/// A kind whose CEL rules are checked.
pub(crate) trait Checked:
    CustomResourceExt + Resource<DynamicType = ()> + serde::Serialize + Sync
{
    fn schema() -> &'static CompiledSchema;
}

static CLASS_SCHEMA: OnceLock<CompiledSchema> = OnceLock::new();
static STORE_SCHEMA: OnceLock<CompiledSchema> = OnceLock::new();
static PIPELINE_SCHEMA: OnceLock<CompiledSchema> = OnceLock::new();

impl Checked for AgentClass {
    fn schema() -> &'static CompiledSchema {
        compiled::<Self>(&CLASS_SCHEMA)
    }
}
impl Checked for ClickHouseStore {
    fn schema() -> &'static CompiledSchema {
        compiled::<Self>(&STORE_SCHEMA)
    }
}
impl Checked for LogPipeline {
    fn schema() -> &'static CompiledSchema {
        compiled::<Self>(&PIPELINE_SCHEMA)
    }
}

/// The CEL rule violations of one object.
pub(crate) fn problems<K: Checked>(obj: &K) -> Vec<Problem> {
    let Ok(value) = serde_json::to_value(obj) else {
        return Vec::new();
    };
    match Validator::new().validate_compiled(K::schema(), &value, None) {
        Ok(()) => Vec::new(),
        Err(errors) => {
            let id = ResourceId::of(obj);
            errors
                .into_vec()
                .into_iter()
                .map(|e| Problem::invalid(&id, e.field_path.clone(), e.message.clone()))
                .collect()
        }
    }
}

/// The CEL rule violations of each object, on all cores (evaluation is the costly part of
/// validating many pipelines).
pub(crate) fn problems_each<K: Checked + Sync>(objs: &[&K]) -> Vec<Vec<Problem>> {
    crate::par::map(objs, |o| problems(*o))
}
