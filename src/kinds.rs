//! The kinds of object the operator makes: their API resource (group, version, plural), where
//! they live, and the order they are applied in. One list, so the watches, the applies, the
//! orphan deletion and the uninstall cleanup cannot disagree.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::ApiResource;

/// A kind of object the operator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Managed {
    ConfigMap,
    /// A one-off check of a new collector config (its `validate`), before any workload uses it.
    Job,
    Service,
    /// Who may reach a gateway pool's pods (applied before the workloads, so no gateway pod
    /// starts unprotected).
    NetworkPolicy,
    DaemonSet,
    Deployment,
    StatefulSet,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
}

/// Which namespace of the operator's an object lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// The agents' namespace (privileged Pod Security).
    Agents,
    /// The operator's namespace (gateways, Secrets).
    Operator,
}

impl Managed {
    /// Every kind, in apply order: what others depend on first (config before workloads).
    pub const ALL: [Managed; 9] = [
        Managed::ConfigMap,
        Managed::Job,
        Managed::Service,
        Managed::NetworkPolicy,
        Managed::DaemonSet,
        Managed::Deployment,
        Managed::StatefulSet,
        Managed::HorizontalPodAutoscaler,
        Managed::PodDisruptionBudget,
    ];

    pub fn api_resource(self) -> ApiResource {
        match self {
            Managed::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
            Managed::Job => ApiResource::erase::<Job>(&()),
            Managed::Service => ApiResource::erase::<Service>(&()),
            Managed::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
            Managed::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
            Managed::Deployment => ApiResource::erase::<Deployment>(&()),
            Managed::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            Managed::HorizontalPodAutoscaler => ApiResource::erase::<HorizontalPodAutoscaler>(&()),
            Managed::PodDisruptionBudget => ApiResource::erase::<PodDisruptionBudget>(&()),
        }
    }

    /// Where objects of this kind live.
    pub fn homes(self) -> &'static [Home] {
        match self {
            Managed::ConfigMap | Managed::Job => &[Home::Agents, Home::Operator],
            Managed::DaemonSet => &[Home::Agents],
            Managed::Service
            | Managed::NetworkPolicy
            | Managed::Deployment
            | Managed::StatefulSet
            | Managed::HorizontalPodAutoscaler
            | Managed::PodDisruptionBudget => &[Home::Operator],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Managed::ConfigMap => "ConfigMap",
            Managed::Job => "Job",
            Managed::Service => "Service",
            Managed::NetworkPolicy => "NetworkPolicy",
            Managed::DaemonSet => "DaemonSet",
            Managed::Deployment => "Deployment",
            Managed::StatefulSet => "StatefulSet",
            Managed::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Managed::PodDisruptionBudget => "PodDisruptionBudget",
        }
    }

    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == kind)
    }

    /// Position in apply order.
    pub fn rank(self) -> u8 {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0) as u8
    }
}

impl std::fmt::Display for Managed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Managed {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The Kubernetes types the builders make, each mapped to its kind: a builder cannot make an
/// object of a kind the operator does not watch, apply and clean up.
pub trait ManagedKind {
    const MANAGED: Managed;
}

impl ManagedKind for ConfigMap {
    const MANAGED: Managed = Managed::ConfigMap;
}
impl ManagedKind for Job {
    const MANAGED: Managed = Managed::Job;
}
impl ManagedKind for Service {
    const MANAGED: Managed = Managed::Service;
}
impl ManagedKind for NetworkPolicy {
    const MANAGED: Managed = Managed::NetworkPolicy;
}
impl ManagedKind for DaemonSet {
    const MANAGED: Managed = Managed::DaemonSet;
}
impl ManagedKind for Deployment {
    const MANAGED: Managed = Managed::Deployment;
}
impl ManagedKind for StatefulSet {
    const MANAGED: Managed = Managed::StatefulSet;
}
impl ManagedKind for HorizontalPodAutoscaler {
    const MANAGED: Managed = Managed::HorizontalPodAutoscaler;
}
impl ManagedKind for PodDisruptionBudget {
    const MANAGED: Managed = Managed::PodDisruptionBudget;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_come_from_the_api_types() {
        let plurals: Vec<String> = Managed::ALL
            .iter()
            .map(|m| m.api_resource().plural)
            .collect();
        assert_eq!(
            plurals,
            [
                "configmaps",
                "jobs",
                "services",
                "networkpolicies",
                "daemonsets",
                "deployments",
                "statefulsets",
                "horizontalpodautoscalers",
                "poddisruptionbudgets"
            ]
        );
        for m in Managed::ALL {
            assert_eq!(Managed::from_kind(m.as_str()), Some(m));
            assert_eq!(m.api_resource().kind, m.as_str());
        }
    }
}
