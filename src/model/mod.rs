//! The resolved model between the custom resources and the builders.
//!
//! Each resource is validated on its own into a resolved type (defaults applied, quantities,
//! keys, expressions and durations parsed, selections computed), then checked against the others
//! in dependency order: stores, then classes (coverage), then pipelines (their stores and
//! zones). A resource with a problem is set aside with typed problems naming it; the others are
//! resolved all the same. `render` refuses any problem; the controller keeps what is valid and
//! reports the rest. Builders take only this model, never the raw specs.

mod cel;
pub mod class;
pub mod coverage;
mod openapi;
pub mod pipeline;
pub mod store;
pub mod table;

pub use class::Class;
pub use pipeline::{Pipeline, Region, Zone};
pub use store::Store;
pub use table::Table;

use crate::inventory::{Facts, Inputs, Settings};
use coverage::Coverage;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The kinds of custom resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    AgentClass,
    ClickHouseStore,
    LogPipeline,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::AgentClass => "AgentClass",
            ResourceKind::ClickHouseStore => "ClickHouseStore",
            ResourceKind::LogPipeline => "LogPipeline",
        }
    }
}

/// A custom resource's identity: its kind, namespace (LogPipelines only) and name. The one key
/// of everything kept per resource (problems, plans, schema state, backoff).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub kind: ResourceKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ResourceId {
    pub fn class(name: &str) -> Self {
        Self {
            kind: ResourceKind::AgentClass,
            namespace: None,
            name: name.to_string(),
        }
    }

    pub fn store(name: &str) -> Self {
        Self {
            kind: ResourceKind::ClickHouseStore,
            namespace: None,
            name: name.to_string(),
        }
    }

    pub fn pipeline(namespace: &str, name: &str) -> Self {
        Self {
            kind: ResourceKind::LogPipeline,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// The identity of a custom resource object.
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> Self {
        let kind = match K::kind(&()).as_ref() {
            "AgentClass" => ResourceKind::AgentClass,
            "ClickHouseStore" => ResourceKind::ClickHouseStore,
            _ => ResourceKind::LogPipeline,
        };
        Self {
            kind,
            namespace: obj.meta().namespace.clone(),
            name: obj.name_any(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// What a problem is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Resource(ResourceId),
    /// The node inventory (nodes no class covers, nodes without a zone).
    Nodes,
    /// An input document that is none of our kinds, or does not parse.
    Document(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Resource(id) => id.fmt(f),
            Subject::Nodes => f.write_str("Nodes"),
            Subject::Document(d) => f.write_str(d),
        }
    }
}

/// What kind of problem: the reason a status reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// The resource is wrong on its own or against the others.
    Invalid,
    /// The class selects nodes another class selects too (the others named).
    Overlap { with: Vec<String> },
    /// Not an error: worth telling (uncovered or untolerated nodes, a capped plan, ...).
    Warning,
}

/// One problem: which resource, which field, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    pub subject: Subject,
    pub field: String,
    pub message: String,
    pub kind: ProblemKind,
}

impl Problem {
    pub fn invalid(id: &ResourceId, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject: Subject::Resource(id.clone()),
            field: field.into(),
            message: message.into(),
            kind: ProblemKind::Invalid,
        }
    }

    pub fn warning(subject: Subject, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            subject,
            field: field.into(),
            message: message.into(),
            kind: ProblemKind::Warning,
        }
    }

    /// The resource this problem is about, if it is about one.
    pub fn resource(&self) -> Option<&ResourceId> {
        match &self.subject {
            Subject::Resource(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.subject, self.message)
        } else {
            write!(f, "{}: {}: {}", self.subject, self.field, self.message)
        }
    }
}

/// Collects the problems of one resource.
pub(crate) struct Problems<'a> {
    id: &'a ResourceId,
    out: Vec<Problem>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(id: &'a ResourceId) -> Self {
        Self {
            id,
            out: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.out.push(Problem::invalid(self.id, field, message));
    }

    pub(crate) fn extend(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.out.extend(problems);
    }

    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.out
    }

    /// `Ok(value)` when nothing was added, else the problems.
    pub(crate) fn result<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<Problem>> {
        if self.out.is_empty() {
            Ok(value())
        } else {
            Err(self.out)
        }
    }
}

/// Everything resolved and valid, ready to build from.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub classes: Vec<Class>,
    pub stores: BTreeMap<String, Arc<Store>>,
    pub pipelines: Vec<Pipeline>,
    pub coverage: Coverage,
    pub zones: Vec<Zone>,
    /// Pipeline identity -> its position in `pipelines`.
    index: BTreeMap<ResourceId, usize>,
}

impl Model {
    /// A pipeline by its identity.
    pub fn pipeline(&self, id: &ResourceId) -> Option<&Pipeline> {
        self.index.get(id).and_then(|i| self.pipelines.get(*i))
    }
}

/// The model, what was set aside and why, and what is worth telling.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    pub model: Model,
    /// Problems of the resources that were set aside (each names its resource).
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Resolution {
    /// The resources set aside.
    pub fn excluded(&self) -> BTreeSet<ResourceId> {
        self.problems
            .iter()
            .filter_map(|p| p.resource().cloned())
            .collect()
    }

    /// The model when nothing was set aside (what `render` requires), else every problem,
    /// sorted.
    pub fn into_complete(self) -> Result<(Model, Vec<Problem>), Vec<Problem>> {
        if self.problems.is_empty() {
            Ok((self.model, self.warnings))
        } else {
            let mut p = self.problems;
            p.sort();
            p.dedup();
            Err(p)
        }
    }
}

/// Resolve every input: each resource alone, then against the others (stores, classes and
/// coverage, pipelines), setting aside what has a problem.
pub fn resolve(inputs: &Inputs, settings: &Settings) -> Resolution {
    resolve_facts(&inputs.facts(), settings)
}

/// [`resolve`] from borrowed facts (the controller's caches, not a copy of them).
pub fn resolve_facts(inputs: &Facts<'_>, settings: &Settings) -> Resolution {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let stores = store::resolve_all(&inputs.stores, &mut problems);
    let set_aside: BTreeSet<String> = inputs
        .stores
        .iter()
        .map(|s| s.name_any())
        .filter(|n| !stores.contains_key(n))
        .collect();
    let classes = class::resolve_all(&inputs.classes, &inputs.nodes, &mut problems, &mut warnings);
    let zones = pipeline::zones(
        &inputs.nodes,
        &classes.classes,
        &classes.coverage,
        &mut warnings,
    );
    let pipelines = pipeline::resolve_all(
        &inputs.pipelines,
        settings,
        &stores,
        &set_aside,
        &zones,
        &mut problems,
        &mut warnings,
    );

    problems.sort();
    problems.dedup();
    let index = pipelines
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    Resolution {
        model: Model {
            classes: classes.classes,
            stores,
            pipelines,
            coverage: classes.coverage,
            zones,
            index,
        },
        problems,
        warnings,
    }
}

/// `metadata.name` (and `metadata.namespace`) as the API server validates a custom resource's:
/// a DNS-1123 subdomain, and a namespace a DNS-1123 label. `render`'s files were never sent
/// to an API server; a name with a newline, an upper-case letter or a non-ASCII character
/// would otherwise reach object names, labels and the DDL's comments.
pub(crate) fn check_metadata(meta: &kube::api::ObjectMeta, problems: &mut Problems<'_>) {
    let name = meta.name.as_deref().unwrap_or_default();
    if !crate::ident::is_dns_subdomain(name) {
        problems.add(
            "metadata.name",
            format!(
                "{name:?} is not a valid name: lowercase letters, digits, '-' and '.', at most 253 (a DNS-1123 subdomain, as the API server requires)"
            ),
        );
    }
    if let Some(ns) = meta.namespace.as_deref()
        && !crate::ident::is_dns_label(ns)
    {
        problems.add(
            "metadata.namespace",
            format!(
                "{ns:?} is not a valid namespace: lowercase letters, digits and '-', at most 63 (a DNS-1123 label)"
            ),
        );
    }
}

/// The first five of a list, and how many more.
pub(crate) fn preview<S: AsRef<str>>(items: &[S]) -> String {
    let mut s = (items.iter().take(5).map(AsRef::as_ref))
        .collect::<Vec<&str>>()
        .join(", ");
    if items.len() > 5 {
        s.push_str(&format!(" and {} more", items.len() - 5));
    }
    s
}

#[cfg(test)]
mod tests;
