//! The CRDs' own CEL rules, evaluated offline (kube's `cel` feature), and their OpenAPI bounds
//! ([`super::openapi`]), so `render` refuses what the API server would refuse at `kubectl
//! apply`. Each CRD's rules are compiled once.

use super::{Problem, ResourceId};
use crate::crd::{AgentClass, ClickHouseStore, LogPipeline};
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use kube::{CustomResourceExt, Resource};
use std::sync::OnceLock;

/// A kind's compiled CEL rules and its OpenAPI schema (for the bounds, [`super::openapi`]).
pub(crate) struct Schemas {
    cel: CompiledSchema,
    openapi: serde_json::Value,
}

fn compiled<K: CustomResourceExt>(cell: &'static OnceLock<Schemas>) -> &'static Schemas {
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
        Schemas {
            cel: compile_schema(&schema),
            openapi: schema,
        }
    })
}

/// A kind whose CEL rules are checked.
pub(crate) trait Checked:
    CustomResourceExt + Resource<DynamicType = ()> + serde::Serialize + Sync
{
    fn schema() -> &'static Schemas;
}

static CLASS_SCHEMA: OnceLock<Schemas> = OnceLock::new();
static STORE_SCHEMA: OnceLock<Schemas> = OnceLock::new();
static PIPELINE_SCHEMA: OnceLock<Schemas> = OnceLock::new();

impl Checked for AgentClass {
    fn schema() -> &'static Schemas {
        compiled::<Self>(&CLASS_SCHEMA)
    }
}
impl Checked for ClickHouseStore {
    fn schema() -> &'static Schemas {
        compiled::<Self>(&STORE_SCHEMA)
    }
}
impl Checked for LogPipeline {
    fn schema() -> &'static Schemas {
        compiled::<Self>(&PIPELINE_SCHEMA)
    }
}

/// The OpenAPI bound and CEL rule violations of one object.
pub(crate) fn problems<K: Checked>(obj: &K) -> Vec<Problem> {
    let Ok(value) = serde_json::to_value(obj) else {
        return Vec::new();
    };
    let id = ResourceId::of(obj);
    let mut out: Vec<Problem> = super::openapi::violations(&K::schema().openapi, &value)
        .into_iter()
        .map(|v| Problem::invalid(&id, v.field, v.message))
        .collect();
    if let Err(errors) = Validator::new().validate_compiled(&K::schema().cel, &value, None) {
        out.extend(
            errors
                .into_vec()
                .into_iter()
                .map(|e| Problem::invalid(&id, e.field_path.clone(), e.message.clone())),
        );
    }
    out
}

/// The CEL rule violations of each object, on all cores (evaluation is the costly part of
/// validating many pipelines).
pub(crate) fn problems_each<K: Checked + Sync>(objs: &[&K]) -> Vec<Vec<Problem>> {
    crate::par::map(objs, |o| problems(*o))
}
