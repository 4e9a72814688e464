//! Names, labels, owner references and the object wrapper every builder returns.

use crate::kinds::{Managed, ManagedKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "otelhouse";
/// The label that marks every object the operator manages (orphan cleanup selects on it).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "otelhouse");
pub const LABEL_CLASS: &str = "otelhouse.dev/agent-class";
pub const LABEL_PIPELINE_NAMESPACE: &str = "otelhouse.dev/pipeline-namespace";
pub const LABEL_PIPELINE_NAME: &str = "otelhouse.dev/pipeline-name";
pub const LABEL_ZONE: &str = "otelhouse.dev/zone";
pub const LABEL_REGION: &str = "otelhouse.dev/region";
/// Pod template annotation holding the config's hash, so a config change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "otelhouse.dev/config-hash";

/// Names the owner of every object the operator manages. Gateways live in the operator's
/// namespace, so a namespaced LogPipeline cannot be their ownerReference.
pub const OWNER_ANNOTATION: &str = "otelhouse.dev/owner";

/// Who an object belongs to (written by the builders, read back from live objects to delete
/// orphans and to route watch events).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// Shared by every agent class (the pipelines ConfigMap).
    Agents,
    Class(String),
    Pipeline {
        namespace: String,
        name: String,
    },
    /// A pool of gateways (shared by the pipelines it serves).
    Pool(String),
}

impl Owner {
    pub fn annotation(&self) -> String {
        match self {
            Owner::Agents => "agents".to_string(),
            Owner::Class(n) => format!("AgentClass/{n}"),
            Owner::Pipeline { namespace, name } => format!("LogPipeline/{namespace}/{name}"),
            Owner::Pool(n) => format!("Pool/{n}"),
        }
    }

    /// The owner annotation as an object's annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(OWNER_ANNOTATION.to_string(), self.annotation())])
    }

    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("agents"), None, None) => Some(Owner::Agents),
            (Some("AgentClass"), Some(n), None) => Some(Owner::Class(n.to_string())),
            (Some("Pool"), Some(n), None) => Some(Owner::Pool(n.to_string())),
            (Some("LogPipeline"), Some(ns), Some(n)) => Some(Owner::Pipeline {
                namespace: ns.to_string(),
                name: n.to_string(),
            }),
            _ => None,
        }
    }

    /// The owner of a desired or live object, from its annotation.
    pub fn of(object: &Value) -> Option<Self> {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(OWNER_ANNOTATION))
            .and_then(|v| v.as_str())
            .and_then(Owner::parse)
    }

    /// The custom resource that owns it (none for the shared agent objects).
    pub fn resource(&self) -> Option<crate::model::ResourceId> {
        match self {
            Owner::Agents | Owner::Pool(_) => None,
            Owner::Class(n) => Some(crate::model::ResourceId::class(n)),
            Owner::Pipeline { namespace, name } => {
                Some(crate::model::ResourceId::pipeline(namespace, name))
            }
        }
    }
}

/// The standard labels for one component instance.
pub fn labels(name: &str, component: &str, instance: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", name),
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/instance", instance),
        ("app.kubernetes.io/part-of", "otelhouse"),
        MANAGED_BY,
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A name of at most `max` characters: long names keep a prefix and get a hash of the whole, so
/// they stay unique and stable.
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = short_hash(name);
    let mut keep = max.saturating_sub(hash.len() + 1);
    // `render` reads names the API server never checked: never cut inside a character.
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let prefix = name[..keep].trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

/// 8 hex characters of SHA-256.
pub fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex::encode(&digest[..4])
}

/// The full SHA-256 of a config, for the pod template annotation.
pub fn config_hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A controller owner reference to a custom resource, when it has a uid (objects read from a
/// cluster do; hand-written manifests given to `render` may not).
pub fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    owner.controller_owner_ref(&())
}

/// One object the operator wants to exist, in a form both `render` and server-side apply use.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub api_version: String,
    pub kind: Managed,
    pub namespace: Option<String>,
    pub name: String,
    pub object: Value,
    /// Replicas to set once, when the object is created (through the scale subresource): the
    /// object itself carries none, so its HorizontalPodAutoscaler owns them from then on and
    /// the operator never writes them back.
    pub initial_replicas: Option<u32>,
}

impl Desired {
    /// Wrap a typed object.
    pub fn new<K>(obj: &K) -> Self
    where
        K: Resource<DynamicType = ()> + ManagedKind + Serialize,
    {
        let mut object = serde_json::to_value(obj).unwrap_or(Value::Null);
        if let Some(map) = object.as_object_mut() {
            // Typed k8s-openapi objects do not carry apiVersion/kind in their fields.
            map.insert(
                "apiVersion".into(),
                Value::String(K::api_version(&()).into()),
            );
            map.insert("kind".into(), Value::String(K::kind(&()).into()));
        }
        Self {
            api_version: K::api_version(&()).into_owned(),
            kind: K::MANAGED,
            namespace: obj.meta().namespace.clone(),
            name: obj.meta().name.clone().unwrap_or_default(),
            object,
            initial_replicas: None,
        }
    }

    /// Apply order: what others depend on first (config before workloads).
    pub fn kind_rank(&self) -> u8 {
        self.kind.rank()
    }

    /// The stable order `render` prints in.
    pub fn sort_key(&self) -> (u8, String, String) {
        (
            self.kind_rank(),
            self.namespace.clone().unwrap_or_default(),
            self.name.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_short_names_and_hashes_long_ones() {
        assert_eq!(shorten("abc", 10), "abc");
        let long = "otelhouse-gw-a-very-long-namespace-name-and-a-long-pipeline-name-too";
        let s = shorten(long, 40);
        assert_eq!(s.len(), 40);
        assert!(s.starts_with("otelhouse-gw-a-very-long-names"));
        assert_ne!(s, shorten(&format!("{long}2"), 40));
    }

    #[test]
    fn shorten_never_cuts_inside_a_character() {
        // Every cut position over a name of 2-, 3- and 4-byte characters.
        let name = "agent-é中😀".repeat(8);
        for max in 10..name.len() {
            let s = shorten(&name, max);
            assert!(s.len() <= max, "{s} for {max}");
        }
    }
}
