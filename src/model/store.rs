//! ClickHouseStores, resolved.

use super::{Problem, ResourceId, cel};
use crate::crd::{ClickHouseStore, SecretCredentials, TableEngine};
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A resolved ClickHouseStore.
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    pub id: ResourceId,
    pub name: String,
    pub region: String,
    /// ClickHouse's HTTP interface for schema work, without a trailing `/`.
    pub http_url: String,
    /// Where the gateways' exporter connects, TLS made explicit.
    pub exporter_endpoint: String,
    pub insecure_skip_verify: bool,
    pub database: String,
    pub cluster: Option<String>,
    pub engine: TableEngine,
    pub credentials: SecretCredentials,
    pub allowed_namespaces: Vec<String>,
}

impl Store {
    /// Whether pipelines in `namespace` may use this store (`trusted`: the operator's trusted
    /// namespaces may use every store).
    pub fn grants(&self, namespace: &str, trusted: bool) -> bool {
        trusted
            || self
                .allowed_namespaces
                .iter()
                .any(|n| n == "*" || n == namespace)
    }
}

fn resolve_one(s: &ClickHouseStore) -> Store {
    let spec = &s.spec;
    let endpoint = spec.exporter_endpoint.trim_end_matches('/').to_string();
    // The native protocol's two schemes; http(s) carry their own (clear-text http with TLS
    // asked for is refused in `tls_problems`).
    let native = endpoint.starts_with("tcp://") || endpoint.starts_with("clickhouse://");
    let exporter_endpoint = if spec.tls.enabled && native {
        format!("{endpoint}?secure=true")
    } else {
        endpoint
    };
    Store {
        id: ResourceId::of(s),
        name: s.name_any(),
        region: spec.region.clone(),
        http_url: spec.http_url.trim_end_matches('/').to_string(),
        exporter_endpoint,
        insecure_skip_verify: spec.tls.insecure_skip_verify,
        database: spec.database.clone(),
        cluster: spec.cluster.clone(),
        engine: spec.engine,
        credentials: spec.credentials.clone(),
        allowed_namespaces: spec.allowed_namespaces.clone(),
    }
}

/// Resolve every store: its CEL rules are all there is to check alone.
pub(crate) fn resolve_all(
    stores: &[&ClickHouseStore],
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Arc<Store>> {
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    for (&s, cel) in stores.iter().zip(cel::problems_each(stores)) {
        if !cel.is_empty() {
            problems.extend(cel);
            continue;
        }
        let mut tls = tls_problems(s);
        let id = ResourceId::of(s);
        let mut meta = super::Problems::new(&id);
        super::check_metadata(&s.metadata, &mut meta);
        tls.extend(meta.into_vec());
        if RESERVED_DATABASES
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&s.spec.database))
        {
            tls.push(Problem::invalid(
                &id,
                "spec.database",
                format!(
                    "{} is ClickHouse's own database (its system tables and logs: query_log, part_log, ...); keep the pipelines' tables in a database of their own",
                    s.spec.database
                ),
            ));
        }
        tls.extend(port_problems(s));
        if !tls.is_empty() {
            problems.extend(tls);
            continue;
        }
        if out.insert(s.name_any(), Arc::new(resolve_one(s))).is_some() {
            twice.push(s.name_any());
            problems.push(Problem::invalid(
                &ResourceId::of(s),
                "metadata.name",
                "defined twice",
            ));
        }
    }
    for name in twice {
        out.remove(&name);
    }
    out
}

/// `tls.enabled` with an `http://` URL would send the password and the logs in clear text
/// while the store says TLS: refused, naming the scheme to use.
fn tls_problems(s: &ClickHouseStore) -> Vec<Problem> {
    let spec = &s.spec;
    if !spec.tls.enabled {
        return Vec::new();
    }
    [
        ("spec.httpUrl", &spec.http_url),
        ("spec.exporterEndpoint", &spec.exporter_endpoint),
    ]
    .into_iter()
    .filter(|(_, url)| url.starts_with("http://"))
    .map(|(field, url)| {
        Problem::invalid(
            &ResourceId::of(s),
            field,
            format!("{url} is clear text but tls.enabled is true: use https://"),
        )
    })
    .collect()
}

/// The CRD's pattern allows five digits of port: 0 and over 65535 pass it but no connection
/// can be made (and the exporter refuses to parse the URL), so they are refused here.
fn port_problems(s: &ClickHouseStore) -> Vec<Problem> {
    let spec = &s.spec;
    [
        ("spec.httpUrl", &spec.http_url),
        ("spec.exporterEndpoint", &spec.exporter_endpoint),
    ]
    .into_iter()
    .filter_map(|(field, url)| {
        let authority = url.split_once("://")?.1.trim_end_matches('/');
        let port = authority.rsplit_once(':')?.1;
        match port.parse::<u32>() {
            Ok(1..=65535) => None,
            _ => Some(Problem::invalid(
                &ResourceId::of(s),
                field,
                format!("port {port} of {url} is not between 1 and 65535"),
            )),
        }
    })
    .collect()
}

/// ClickHouse's own databases. The server lets tables be created there (checked on chdb 26.9),
/// but they hold its system tables and logs, which a pipeline table may be named like, and
/// `information_schema` exists in both cases.
const RESERVED_DATABASES: &[&str] = &["system", "information_schema"];
