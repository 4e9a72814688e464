//! Who may reach a pool's gateways: a NetworkPolicy per pool admitting the agents on the OTLP
//! port and the operator (plus any monitoring namespaces configured) on the metrics port, and
//! nothing else. A gateway holds every store's ClickHouse credentials in its environment and
//! inserts whatever it is sent: without this, any pod in the cluster (any tenant's) could send
//! logs into any pipeline's tables through the gateways, bypassing the agents' routing.
//!
//! One policy per pool, not one for all gateways: it is owned by its pool like the pool's other
//! objects (made and deleted with it), and selects only that pool's pods. Policies are additive,
//! so each pool's policy neither widens nor narrows another pool's.
//!
//! Ingress only. Egress is not restricted: a gateway's peers are the stores' endpoints, host
//! names anywhere (in the cluster or outside it) whose addresses a NetworkPolicy cannot name,
//! and DNS; the endpoints come from ClickHouseStores, which only the cluster's admins write.
//! The kubelet's probes need no rule: the API admits traffic from the pod's own node.

use crate::collector::{METRICS_PORT, OTLP_GRPC_PORT};
use crate::inventory::Settings;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// The label the API server sets on every namespace, its name (immutable, Kubernetes 1.22+):
/// the only namespace label a tenant cannot forge.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The agents' pods, as `agents::build` labels them (`meta::labels("otelhouse-agent", ...)`).
pub const AGENT_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "otelhouse-agent"),
    crate::meta::MANAGED_BY,
];

/// The operator's pods, as the chart labels them (charts/otelhouse/templates/_helpers.tpl,
/// `otelhouse.labels`: fixed whatever the release name or nameOverride).
pub const OPERATOR_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/component", "operator"),
    ("app.kubernetes.io/part-of", "otelhouse"),
];

/// The gateways' NetworkPolicies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicySettings {
    /// Make them (`--gateway-network-policy`). Off, the pools' policies are deleted as orphans.
    pub enabled: bool,
    /// Namespaces whose pods may also reach the metrics port (`--gateway-metrics-namespace`:
    /// Prometheus, when the chart's PodMonitor is on). Empty: the operator only.
    pub metrics_namespaces: Vec<String>,
}

impl Default for NetworkPolicySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            metrics_namespaces: Vec::new(),
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tcp(port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some("TCP".to_string()),
        end_port: None,
    }
}

/// A pool's policy: `metadata` is the pool's (name, namespace, labels, owner), `pods` the
/// labels selecting every pod of the pool (all its regions and zones).
pub fn network_policy(
    metadata: ObjectMeta,
    pods: BTreeMap<String, String>,
    settings: &Settings,
) -> NetworkPolicy {
    // Both selectors in one peer: the agents' pods *in* the agents' namespace (two peers
    // would admit any pod of the agents' namespace, or agent-labelled pods anywhere).
    let agents = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(labels(&[(
                NAMESPACE_NAME_LABEL,
                settings.agent_namespace.as_str(),
            )])),
            ..Default::default()
        }),
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels(&AGENT_POD_LABELS)),
            ..Default::default()
        }),
        ip_block: None,
    };
    // A podSelector alone selects in the policy's own namespace: the operator's.
    let mut metrics_peers = vec![NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels(&OPERATOR_POD_LABELS)),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let monitoring = &settings.gateway_network_policy.metrics_namespaces;
    if !monitoring.is_empty() {
        let mut values = monitoring.clone();
        values.sort();
        values.dedup();
        metrics_peers.push(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: NAMESPACE_NAME_LABEL.to_string(),
                    operator: "In".to_string(),
                    values: Some(values),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(pods),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".to_string()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(vec![agents]),
                    ports: Some(vec![tcp(OTLP_GRPC_PORT)]),
                },
                NetworkPolicyIngressRule {
                    from: Some(metrics_peers),
                    ports: Some(vec![tcp(METRICS_PORT)]),
                },
            ]),
            egress: None,
        }),
    }
}
