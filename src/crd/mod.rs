//! The custom resources: `AgentClass`, `LogPipeline` and `ClickHouseStore`.
//!
//! Every rule that can be checked on one object alone is a CEL rule here, so the API server refuses
//! a bad object at `kubectl apply`; `render` evaluates the same rules offline (see `validate`).

mod agent_class;
mod clickhouse_store;
mod log_pipeline;

pub use agent_class::*;
pub use clickhouse_store::*;
pub use log_pipeline::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every otelhouse resource.
pub const GROUP: &str = "otelhouse.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "otelhouse.dev/v1alpha1";

/// The fields every status carries: what a user reads first.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// `Ready` and `Degraded`, with reasons a user can act on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The annotation on each CRD naming its schema: a hash of the CRD's spec. Helm installs CRDs
/// once and never upgrades them; the operator compares the installed CRDs' annotation with its
/// own and reports a stale CRD, whose missing fields the API server would silently drop.
pub const SCHEMA_HASH_ANNOTATION: &str = "otelhouse.dev/schema-hash";

/// All CRDs, in a stable order (the order of `crds/` and of `otelhouse crd`), stamped with
/// their schema hash.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        AgentClass::crd(),
        ClickHouseStore::crd(),
        LogPipeline::crd(),
    ];
    for crd in &mut crds {
        let hash = schema_hash(crd);
        crd.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(SCHEMA_HASH_ANNOTATION.to_string(), hash);
    }
    crds
}

/// The hash of a CRD's spec (its names, versions, schemas, printer columns).
pub fn schema_hash(crd: &CustomResourceDefinition) -> String {
    let spec = serde_json::to_string(&crd.spec).unwrap_or_default();
    crate::meta::short_hash(&spec)
}

/// A CRD's file name under `crds/`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as YAML, the exact text of its `crds/` file.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(crd)
}

impl AsRef<CommonStatus> for AgentClassStatus {
    fn as_ref(&self) -> &CommonStatus {
        &self.common
    }
}

impl AsRef<CommonStatus> for LogPipelineStatus {
    fn as_ref(&self) -> &CommonStatus {
        &self.common
    }
}

impl AsRef<CommonStatus> for ClickHouseStoreStatus {
    fn as_ref(&self) -> &CommonStatus {
        &self.common
    }
}
