//! An in-memory Kubernetes API server for tests: objects with resourceVersion, generation and
//! managed fields, list, watch (a streaming body), create, replace, the patch types, status and
//! scale subresources, finalizers, metadata-only requests; every request is recorded with the
//! client that sent it, so a test can assert the exact requests of a reconcile.
//!
//! Where it models the real server, it follows the real server's documented rules:
//! - request paths, verbs and the `as=PartialObjectMetadata` Accept header: kube-apiserver's
//!   request routing (`k8s.io/apiserver/pkg/endpoints`), as kube-rs builds them (`kube-core`
//!   `request.rs`);
//! - server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/):
//!   each (manager, operation, subresource) owns the fields it last set; an apply that sets a
//!   field another manager owns with a different value is a 409 Conflict unless forced (then it
//!   takes the field); "if you remove a field from a manifest and apply that manifest, ... the
//!   field is removed from the live object if no other manager owns it", and the object's
//!   defaults apply again (a Deployment without `spec.replicas` gets 1: apps/v1 defaulting);
//!   an update (merge patch, scale) takes the fields it changes from every other manager;
//! - `metadata.generation` moves on spec changes only, not on status or metadata; the status
//!   and scale subresources change only their part;
//! - deletion with finalizers sets `deletionTimestamp`; the object goes when the last
//!   finalizer is removed.
//!
//! Approximations, each stricter or equal for the operator's use: lists are atomic in field
//! ownership (the server merges some lists by key); a strategic merge patch is a JSON merge
//! patch (they differ on lists only); label selectors support `=`, `==`, `!=`, `k` and `!k`;
//! no pagination (one page); no admission, no schema validation (tests validate objects with
//! kubernetes-validate separately).
#![allow(dead_code)]

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody, combinators::UnsyncBoxBody};
use kube::Client;
use kube::client::Body;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// One request as the API server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Which client sent it (see [`FakeApi::client_as`]).
    pub client: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub accept: String,
    pub body: Value,
    /// The status code answered.
    pub status: u16,
}

impl Recorded {
    pub fn short(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// A query parameter, decoded.
    pub fn param(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    pub fn is_watch(&self) -> bool {
        self.param("watch").as_deref() == Some("true")
    }

    /// A request that changes something (not get/list/watch).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// A server-side apply (not of a status).
    pub fn is_apply(&self) -> bool {
        self.method == "PATCH"
            && self.content_type == "application/apply-patch+yaml"
            && !self.path.ends_with("/status")
    }
}

/// Where an object lives: its collection (`group/version/plural`, group empty for core), its
/// namespace ("" for cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub collection: String,
    pub namespace: String,
    pub name: String,
}

/// A parsed request path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    collection: String,
    /// Some for a namespaced path (`.../namespaces/<ns>/<plural>`), None for cluster-wide.
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let gv = |plural: &str| format!("{group}/{version}/{plural}");
    Some(match rest {
        // The namespaces resource itself is cluster-scoped.
        ["namespaces"] => Target {
            collection: gv("namespaces"),
            namespace: None,
            name: None,
            subresource: None,
        },
        ["namespaces", ns] => Target {
            collection: gv("namespaces"),
            namespace: None,
            name: Some(ns.to_string()),
            subresource: None,
        },
        ["namespaces", ns, plural, tail @ ..] => Target {
            collection: gv(plural),
            namespace: Some(ns.to_string()),
            name: tail.first().map(|s| s.to_string()),
            subresource: tail.get(1).map(|s| s.to_string()),
        },
        [plural, tail @ ..] => Target {
            collection: gv(plural),
            namespace: None,
            name: tail.first().map(|s| s.to_string()),
            subresource: tail.get(1).map(|s| s.to_string()),
        },
        [] => return None,
    })
}

/// Who owns which fields of an object: (manager, operation, subresource) -> leaf paths.
type Managed = BTreeMap<(String, String, String), BTreeSet<String>>;

#[derive(Clone, Debug)]
struct Stored {
    value: Value,
    managed: Managed,
}

struct Watch {
    collection: String,
    namespace: Option<String>,
    selector: Option<String>,
    metadata_only: bool,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    /// Lean: keep nothing but Secrets, CRDs and statuses, answer writes by echoing them (the
    /// benches' mode: the server's memory must not count as the operator's).
    lean: bool,
    /// As JSON text: a platform's statuses as Values would be a large part of a bench's memory,
    /// which must be the operator's.
    statuses: BTreeMap<String, Box<str>>,
    objects: BTreeMap<Key, Stored>,
    resource_version: u64,
    uid: u64,
    requests: Vec<Recorded>,
    watches: Vec<Watch>,
    /// Every change: (resourceVersion, key, event type, object), for watches that start from an
    /// older resourceVersion.
    log: Vec<(u64, Key, &'static str, Value)>,
}

/// The in-memory API server. Cloning shares the state.
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

fn full(v: &Value) -> ResponseBody {
    http_body_util::Full::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default())).boxed_unsync()
}

fn status_error(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn success() -> (u16, Value) {
    (
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    )
}

impl FakeApi {
    pub fn new() -> Self {
        Self::default()
    }

    /// A server that keeps only Secrets, CRDs and the statuses written, and answers every
    /// other write by echoing it: for benches, whose memory figure is the operator's.
    pub fn lean() -> Self {
        let api = Self::default();
        api.lock().lean = true;
        api
    }

    /// The status last written at an object's path (lean servers keep only these).
    pub fn status_at(&self, path: &str) -> Option<Value> {
        let text = self.lock().statuses.get(path).cloned()?;
        serde_json::from_str(&text).ok()
    }

    /// A client whose requests are recorded as sent by `who`.
    pub fn client_as(&self, who: &str) -> Client {
        let api = self.clone();
        let who = who.to_string();
        let service = tower::service_fn(move |req: Request<Body>| {
            let api = api.clone();
            let who = who.clone();
            async move { Ok::<_, Infallible>(api.handle(&who, req).await) }
        });
        Client::new(service, "default")
    }

    pub fn client(&self) -> Client {
        self.client_as("operator")
    }

    /// Every request so far, and forget them.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.lock().requests)
    }

    /// Every request so far (kept).
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Put an object in place as a cluster admin would (`kubectl apply`), with its
    /// collection derived from apiVersion and the plural.
    pub fn seed(&self, plural: &str, obj: Value) -> Value {
        let api_version = obj["apiVersion"].as_str().unwrap_or("v1").to_string();
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let key = Key {
            collection: format!("{group}/{version}/{plural}"),
            namespace: obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            name: obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let mut st = self.lock();
        let mut value = obj;
        if st.lean
            && !key.collection.ends_with("/secrets")
            && !key.collection.ends_with("/customresourcedefinitions")
        {
            st.resource_version += 1;
            value["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
            value["metadata"]["generation"] = json!(1);
            return value;
        }
        let old = st.objects.get(&key).map(|s| s.value.clone());
        stamp(&mut st, &mut value, old.as_ref());
        let managed = Managed::from([(
            ("kubectl".to_string(), "Update".to_string(), String::new()),
            leaf_paths(&value),
        )]);
        let event = if old.is_some() { "MODIFIED" } else { "ADDED" };
        st.objects.insert(
            key.clone(),
            Stored {
                value: value.clone(),
                managed,
            },
        );
        notify(&mut st, &key, event, &value);
        value
    }

    /// The object at `key`, if any.
    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&Key {
                collection: collection.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
            .map(|s| s.value.clone())
    }

    /// Every object of a collection.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|(k, _)| k.collection == collection)
            .map(|(_, s)| s.value.clone())
            .collect()
    }

    /// The managers of an object's field (`spec.replicas`).
    pub fn owners(
        &self,
        collection: &str,
        namespace: &str,
        name: &str,
        field: &str,
    ) -> Vec<String> {
        let st = self.lock();
        let Some(s) = st.objects.get(&Key {
            collection: collection.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }) else {
            return Vec::new();
        };
        s.managed
            .iter()
            .filter(|(_, paths)| paths.contains(field))
            .map(|((m, op, sub), _)| {
                format!(
                    "{m}/{op}{}",
                    if sub.is_empty() {
                        String::new()
                    } else {
                        format!("/{sub}")
                    }
                )
            })
            .collect()
    }

    async fn handle(&self, who: &str, req: Request<Body>) -> Response<ResponseBody> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .or_else(|_| serde_norway::from_slice(&bytes))
                .unwrap_or(Value::Null)
        };
        let header = |h: http::header::HeaderName| {
            parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut rec = Recorded {
            client: who.to_string(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            content_type: header(http::header::CONTENT_TYPE),
            accept: header(http::header::ACCEPT),
            body,
            status: 0,
        };
        if rec.method == "GET" && rec.is_watch() {
            return self.watch(rec);
        }
        let lean = self.lock().lean;
        let (status, answer) = if lean && rec.method != "GET" {
            self.lean_answer(&rec)
        } else {
            self.answer(&rec)
        };
        rec.status = status;
        if lean {
            rec.body = Value::Null;
        }
        self.lock().requests.push(rec);
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(full(&answer))
            .unwrap_or_else(|_| Response::new(full(&Value::Null)))
    }

    /// A lean server's answer to a write: the object echoed (with a resourceVersion), statuses
    /// kept.
    fn lean_answer(&self, rec: &Recorded) -> (u16, Value) {
        let mut st = self.lock();
        st.resource_version += 1;
        let rv = st.resource_version.to_string();
        match rec.method.as_str() {
            "PATCH" if rec.path.ends_with("/status") => {
                let base = rec.path.trim_end_matches("/status").to_string();
                st.statuses
                    .insert(base, rec.body["status"].to_string().into_boxed_str());
                (200, rec.body.clone())
            }
            "PATCH" if rec.path.ends_with("/scale") => (
                200,
                json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"resourceVersion": rv},
                       "spec": rec.body["spec"].clone()}),
            ),
            "PATCH" | "POST" | "PUT" => {
                let mut v = rec.body.clone();
                if v.get("metadata").is_some() {
                    v["metadata"]["resourceVersion"] = json!(rv);
                    v["metadata"]["generation"] = json!(1);
                }
                (if rec.method == "POST" { 201 } else { 200 }, v)
            }
            _ => success(),
        }
    }

    fn answer(&self, rec: &Recorded) -> (u16, Value) {
        let Some(t) = parse_path(&rec.path) else {
            return status_error(
                404,
                "NotFound",
                "the server could not find the requested resource",
            );
        };
        let metadata_only = rec.accept.contains("as=PartialObjectMetadata");
        let mut st = self.lock();
        let key = |name: &str| Key {
            collection: t.collection.clone(),
            namespace: t.namespace.clone().unwrap_or_default(),
            name: name.to_string(),
        };
        let manager = rec
            .param("fieldManager")
            .unwrap_or_else(|| "unknown".to_string());
        match (rec.method.as_str(), &t.name, t.subresource.as_deref()) {
            ("GET", None, _) => {
                let selector = rec.param("labelSelector");
                // Pages as the API server serves them (k8s.io/apiserver/pkg/storage/etcd3/
                // store.go, GetList): keys in order (namespace, then name), the selector applied
                // to each; once `limit` items are in, the next key of the range, matching or not,
                // stops the page with `metadata.continue` set (so a full page can say "more" when
                // no further item matches), resuming after the last key returned.
                let limit: Option<usize> = rec
                    .param("limit")
                    .and_then(|l| l.parse().ok())
                    .filter(|l| *l > 0);
                // The token here is `namespace/name` (a namespace has no `/`).
                let token = rec.param("continue").filter(|c| !c.is_empty());
                let after = token
                    .as_deref()
                    .map(|c| c.split_once('/').unwrap_or(("", c)));
                let mut range = st.objects.iter().filter(|(k, _)| {
                    k.collection == t.collection
                        && t.namespace.as_ref().is_none_or(|ns| *ns == k.namespace)
                        && after.is_none_or(|a| (k.namespace.as_str(), k.name.as_str()) > a)
                });
                let mut items = Vec::new();
                let mut last = None;
                let mut more = false;
                for (k, s) in range.by_ref() {
                    if limit.is_some_and(|l| items.len() == l) {
                        more = true;
                        break;
                    }
                    if selector.as_deref().is_none_or(|sel| selects(sel, &s.value)) {
                        items.push(view(&s.value, metadata_only));
                        last = Some(format!("{}/{}", k.namespace, k.name));
                    }
                }
                // The key that ended the page, and those after it.
                let remaining = if more { 1 + range.count() } else { 0 };
                let kind = if metadata_only {
                    "PartialObjectMetadataList"
                } else {
                    "List"
                };
                let mut meta = json!({"resourceVersion": st.resource_version.to_string()});
                if more {
                    meta["continue"] = json!(last.unwrap_or_default());
                    // Not with a selector: the server cannot know how many more match.
                    if selector.is_none() {
                        meta["remainingItemCount"] = json!(remaining);
                    }
                }
                (
                    200,
                    json!({"apiVersion": if metadata_only { "meta.k8s.io/v1" } else { "v1" }, "kind": kind,
                           "metadata": meta, "items": items}),
                )
            }
            ("GET", Some(name), None) => match st.objects.get(&key(name)) {
                Some(s) => (200, view(&s.value, metadata_only)),
                None => not_found(&t, name),
            },
            ("GET", Some(name), Some("scale")) => match st.objects.get(&key(name)) {
                Some(s) => (200, scale_of(&s.value)),
                None => not_found(&t, name),
            },
            ("GET", Some(name), Some(_)) => match st.objects.get(&key(name)) {
                Some(s) => (200, s.value.clone()),
                None => not_found(&t, name),
            },
            ("POST", None, _) => {
                let name = rec.body["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let k = key(&name);
                if st.objects.contains_key(&k) {
                    return status_error(
                        409,
                        "AlreadyExists",
                        &format!("{} \"{name}\" already exists", t.collection),
                    );
                }
                let mut value = rec.body.clone();
                if let Some(ns) = &t.namespace {
                    value["metadata"]["namespace"] = json!(ns);
                }
                stamp(&mut st, &mut value, None);
                let managed = Managed::from([(
                    (manager, "Update".to_string(), String::new()),
                    leaf_paths(&value),
                )]);
                st.objects.insert(
                    k.clone(),
                    Stored {
                        value: value.clone(),
                        managed,
                    },
                );
                notify(&mut st, &k, "ADDED", &value);
                (201, value)
            }
            ("PUT", Some(name), sub) => {
                let k = key(name);
                let Some(old) = st.objects.get(&k).cloned() else {
                    return not_found(&t, name);
                };
                let want_rv = rec.body["metadata"]["resourceVersion"].as_str();
                if want_rv
                    .is_some_and(|rv| Some(rv) != old.value["metadata"]["resourceVersion"].as_str())
                {
                    return status_error(
                        409,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                let mut value = match sub {
                    Some("status") => {
                        let mut v = old.value.clone();
                        v["status"] = rec.body["status"].clone();
                        v
                    }
                    _ => {
                        let mut v = rec.body.clone();
                        v["status"] = old.value["status"].clone();
                        v
                    }
                };
                let mut managed = old.managed.clone();
                take_ownership(
                    &mut managed,
                    &manager,
                    "Update",
                    sub.unwrap_or_default(),
                    &old.value,
                    &value,
                );
                self.finish_write(&mut st, k, &old.value, &mut value, managed)
            }
            ("PATCH", Some(name), sub) => {
                self.patch(&mut st, rec, key(name), &t, name, sub, &manager)
            }
            ("DELETE", Some(name), None) => {
                let k = key(name);
                let Some(old) = st.objects.get(&k).cloned() else {
                    return not_found(&t, name);
                };
                let has_finalizers = old.value["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty());
                if has_finalizers {
                    let mut value = old.value.clone();
                    if value["metadata"]["deletionTimestamp"].is_null() {
                        value["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                        st.resource_version += 1;
                        value["metadata"]["resourceVersion"] =
                            json!(st.resource_version.to_string());
                        st.objects.insert(
                            k.clone(),
                            Stored {
                                value: value.clone(),
                                managed: old.managed,
                            },
                        );
                        notify(&mut st, &k, "MODIFIED", &value);
                    }
                    (200, value)
                } else {
                    remove(&mut st, &k);
                    success()
                }
            }
            _ => status_error(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn patch(
        &self,
        st: &mut State,
        rec: &Recorded,
        k: Key,
        t: &Target,
        name: &str,
        sub: Option<&str>,
        manager: &str,
    ) -> (u16, Value) {
        let old = st.objects.get(&k).cloned();
        let sub_name = sub.unwrap_or_default();
        match rec.content_type.as_str() {
            "application/apply-patch+yaml" => {
                let force = rec.param("force").as_deref() == Some("true");
                let mut applied = rec.body.clone();
                // What an apply sets: everything but identity, and for a subresource only its part.
                let applied_part = match sub {
                    Some("status") => json!({"status": applied["status"].clone()}),
                    _ => {
                        if let Some(m) = applied.as_object_mut() {
                            m.remove("status");
                        }
                        applied.clone()
                    }
                };
                let paths = owned_paths(&applied_part);
                let (mut live, mut managed) = match &old {
                    Some(s) => (s.value.clone(), s.managed.clone()),
                    None => {
                        if sub.is_some() {
                            return not_found(t, name);
                        }
                        let mut v = json!({"apiVersion": rec.body["apiVersion"], "kind": rec.body["kind"],
                                            "metadata": {"name": name}});
                        if let Some(ns) = &t.namespace {
                            v["metadata"]["namespace"] = json!(ns);
                        }
                        (v, Managed::new())
                    }
                };
                let me = (
                    manager.to_string(),
                    "Apply".to_string(),
                    sub_name.to_string(),
                );
                // Conflicts: a field another manager owns, set here to another value.
                let mut conflicts = Vec::new();
                for ((m, op, s), owned) in managed.iter_mut() {
                    if (m.as_str(), op.as_str(), s.as_str())
                        == (me.0.as_str(), me.1.as_str(), me.2.as_str())
                    {
                        continue;
                    }
                    let taken: Vec<String> = owned
                        .iter()
                        .filter(|p| {
                            paths.contains(*p) && get_path(&live, p) != get_path(&applied_part, p)
                        })
                        .cloned()
                        .collect();
                    for p in taken {
                        if force {
                            owned.remove(&p);
                        } else {
                            conflicts.push(format!("conflict with \"{m}\" using {op}: .{p}"));
                        }
                    }
                }
                if !conflicts.is_empty() {
                    return status_error(
                        409,
                        "Conflict",
                        &format!(
                            "Apply failed with {} conflict(s): {}",
                            conflicts.len(),
                            conflicts.join("; ")
                        ),
                    );
                }
                // Fields this manager applied before and not now go, unless someone else owns them.
                let before = managed.get(&me).cloned().unwrap_or_default();
                for p in before.difference(&paths) {
                    let others = managed
                        .iter()
                        .any(|(who, owned)| *who != me && owned.contains(p));
                    if !others {
                        remove_path(&mut live, p);
                    }
                }
                for p in &paths {
                    if let Some(v) = get_path(&applied_part, p) {
                        set_path(&mut live, p, v.clone());
                    }
                }
                managed.insert(me, paths);
                managed.retain(|_, owned| !owned.is_empty());
                let old_value = old.map(|o| o.value);
                self.finish_write(
                    st,
                    k,
                    old_value.as_ref().unwrap_or(&Value::Null),
                    &mut live,
                    managed,
                )
            }
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                let Some(old) = old else {
                    return not_found(t, name);
                };
                let mut value = match sub {
                    Some("scale") => {
                        let mut v = old.value.clone();
                        if let Some(r) = rec.body.pointer("/spec/replicas") {
                            v["spec"]["replicas"] = r.clone();
                        }
                        v
                    }
                    _ => {
                        let mut v = old.value.clone();
                        merge_patch(&mut v, &rec.body);
                        v
                    }
                };
                let want_rv = rec.body["metadata"]["resourceVersion"].as_str();
                if want_rv
                    .is_some_and(|rv| Some(rv) != old.value["metadata"]["resourceVersion"].as_str())
                {
                    return status_error(
                        409,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                let mut managed = old.managed.clone();
                take_ownership(
                    &mut managed,
                    manager,
                    "Update",
                    sub_name,
                    &old.value,
                    &value,
                );
                let answer = self.finish_write(st, k, &old.value, &mut value, managed);
                match (sub, answer) {
                    (Some("scale"), (200, v)) => (200, scale_of(&v)),
                    (_, a) => a,
                }
            }
            other => status_error(
                415,
                "UnsupportedMediaType",
                &format!("the body of the request was in an unknown format: {other}"),
            ),
        }
    }

    /// Defaults, generation, resourceVersion, finalizer-completed deletion, watch events.
    fn finish_write(
        &self,
        st: &mut State,
        k: Key,
        old: &Value,
        value: &mut Value,
        managed: Managed,
    ) -> (u16, Value) {
        defaults(&k, value);
        let existed = !old.is_null();
        if existed && let Some(reason) = immutable_change(&k, old, value) {
            return status_error(422, "Invalid", &reason);
        }
        let spec_changed = existed
            && without(old, &["metadata", "status"]) != without(value, &["metadata", "status"]);
        let changed = !existed || old != value;
        if !changed {
            return (200, value.clone());
        }
        if !existed {
            stamp(st, value, None);
        } else {
            let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            value["metadata"]["generation"] = json!(if spec_changed {
                generation + 1
            } else {
                generation
            });
            st.resource_version += 1;
            value["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
        }
        let finalized = !value["metadata"]["deletionTimestamp"].is_null()
            && value["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if finalized {
            st.objects.insert(
                k.clone(),
                Stored {
                    value: value.clone(),
                    managed,
                },
            );
            remove(st, &k);
            return (200, value.clone());
        }
        st.objects.insert(
            k.clone(),
            Stored {
                value: value.clone(),
                managed,
            },
        );
        notify(st, &k, if existed { "MODIFIED" } else { "ADDED" }, value);
        (if existed { 200 } else { 201 }, value.clone())
    }

    /// A watch: the changes after `resourceVersion`, then every change as it happens, on a body
    /// that stays open until the client goes.
    fn watch(&self, mut rec: Recorded) -> Response<ResponseBody> {
        let Some(t) = parse_path(&rec.path) else {
            let (s, v) = status_error(404, "NotFound", "not found");
            return Response::builder()
                .status(s)
                .body(full(&v))
                .unwrap_or_else(|_| Response::new(full(&Value::Null)));
        };
        let from: u64 = rec
            .param("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let metadata_only = rec.accept.contains("as=PartialObjectMetadata");
        let selector = rec.param("labelSelector");
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        {
            let mut st = self.lock();
            rec.status = 200;
            st.requests.push(rec);
            let w = Watch {
                collection: t.collection.clone(),
                namespace: t.namespace.clone(),
                selector,
                metadata_only,
                tx,
            };
            for (rv, key, event, obj) in &st.log {
                if *rv > from && matches_watch(&w, key, obj) {
                    let _ = w.tx.send(event_line(event, obj, w.metadata_only));
                }
            }
            st.watches.push(w);
        }
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, Infallible>(http_body::Frame::data(b)), rx))
        });
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(StreamBody::new(stream.boxed()).boxed_unsync())
            .unwrap_or_else(|_| Response::new(full(&Value::Null)))
    }
}

fn not_found(t: &Target, name: &str) -> (u16, Value) {
    let resource = t.collection.rsplit('/').next().unwrap_or_default();
    status_error(404, "NotFound", &format!("{resource} \"{name}\" not found"))
}

/// uid, creationTimestamp, resourceVersion and generation of a new object (kept from `old`).
fn stamp(st: &mut State, value: &mut Value, old: Option<&Value>) {
    st.resource_version += 1;
    if !value["metadata"].is_object() {
        value["metadata"] = json!({});
    }
    let meta = &mut value["metadata"];
    match old {
        Some(o) => {
            meta["uid"] = o["metadata"]["uid"].clone();
            meta["creationTimestamp"] = o["metadata"]["creationTimestamp"].clone();
            let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
            meta["generation"] = json!(g + 1);
        }
        None => {
            st.uid += 1;
            if meta["uid"].is_null() {
                meta["uid"] = json!(format!("uid-{}", st.uid));
            }
            meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
            meta["generation"] = json!(1);
        }
    }
    meta["resourceVersion"] = json!(st.resource_version.to_string());
}

fn remove(st: &mut State, k: &Key) {
    if let Some(s) = st.objects.remove(k) {
        st.resource_version += 1;
        let mut v = s.value;
        v["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
        notify(st, k, "DELETED", &v);
    }
}

fn notify(st: &mut State, k: &Key, event: &'static str, obj: &Value) {
    if st.lean {
        return;
    }
    let rv = st.resource_version;
    st.log.push((rv, k.clone(), event, obj.clone()));
    st.watches.retain(|w| {
        if !matches_watch(w, k, obj) {
            return !w.tx.is_closed();
        }
        w.tx.send(event_line(event, obj, w.metadata_only)).is_ok()
    });
}

fn matches_watch(w: &Watch, k: &Key, obj: &Value) -> bool {
    w.collection == k.collection
        && w.namespace.as_ref().is_none_or(|ns| *ns == k.namespace)
        && w.selector.as_deref().is_none_or(|s| selects(s, obj))
}

fn event_line(event: &str, obj: &Value, metadata_only: bool) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": event, "object": view(obj, metadata_only)}))
        .unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The object, or its PartialObjectMetadata.
fn view(obj: &Value, metadata_only: bool) -> Value {
    if metadata_only {
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"].clone()})
    } else {
        obj.clone()
    }
}

/// What the API server's validation refuses to change (core/v1 ValidateConfigMapUpdate and
/// ValidateSecretUpdate: `data`, `binaryData` and `immutable` once `immutable: true`; batch/v1
/// ValidateJobUpdate: `spec.template` of a Job that is not suspended, and `spec.selector`).
fn immutable_change(k: &Key, old: &Value, new: &Value) -> Option<String> {
    let name = old["metadata"]["name"].as_str().unwrap_or_default();
    if (k.collection.ends_with("/configmaps") || k.collection.ends_with("/secrets"))
        && old["immutable"] == json!(true)
    {
        for f in ["data", "binaryData", "immutable"] {
            if old[f] != new[f] {
                return Some(format!(
                    "{name} is invalid: {f}: Forbidden: field is immutable when `immutable` is set"
                ));
            }
        }
    }
    if k.collection == "batch/v1/jobs" {
        for f in ["template", "selector"] {
            if old["spec"][f] != new["spec"][f] {
                return Some(format!(
                    "Job.batch \"{name}\" is invalid: spec.{f}: Invalid value: field is immutable"
                ));
            }
        }
    }
    None
}

fn scale_of(obj: &Value) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
           "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                        "resourceVersion": obj["metadata"]["resourceVersion"]},
           "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
           "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0))}})
}

/// The defaults the real server fills in that the operator relies on not owning.
fn defaults(k: &Key, value: &mut Value) {
    // apps/v1 SetDefaults_Deployment: replicas 1 when unset.
    if k.collection == "apps/v1/deployments"
        && value.pointer("/spec/replicas").is_none()
        && value["spec"].is_object()
    {
        value["spec"]["replicas"] = json!(1);
    }
}

/// `a=b,c!=d,e,!f` against an object's labels.
pub fn selects(selector: &str, obj: &Value) -> bool {
    let labels = obj["metadata"]["labels"].as_object();
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            get(k.trim()).is_none()
        } else {
            get(term.trim()).is_some()
        }
    })
}

/// The object without some top-level fields.
fn without(v: &Value, fields: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for f in fields {
            m.remove(*f);
        }
    }
    v
}

/// Leaf paths (`spec.template.spec.containers`), lists being leaves.
pub fn leaf_paths(v: &Value) -> BTreeSet<String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, c) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{}", k.replace('.', "\\."))
                    };
                    walk(&p, c, out);
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.to_string());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk("", v, &mut out);
    out
}

/// The fields an applier owns: its leaves, without the identity and server-set fields.
fn owned_paths(applied: &Value) -> BTreeSet<String> {
    leaf_paths(applied)
        .into_iter()
        .filter(|p| {
            !matches!(
                p.as_str(),
                "apiVersion"
                    | "kind"
                    | "metadata.name"
                    | "metadata.namespace"
                    | "metadata.resourceVersion"
                    | "metadata.uid"
                    | "metadata.generation"
                    | "metadata.creationTimestamp"
                    | "metadata.managedFields"
            )
        })
        .collect()
}

fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                cur.push('.');
                chars.next();
            }
            '.' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn get_path<'a>(v: &'a Value, p: &str) -> Option<&'a Value> {
    split_path(p).iter().try_fold(v, |v, k| v.get(k))
}

fn set_path(v: &mut Value, p: &str, new: Value) {
    let parts = split_path(p);
    let mut cur = v;
    for k in &parts[..parts.len() - 1] {
        if !cur.get(k).is_some_and(Value::is_object) {
            cur[k.as_str()] = json!({});
        }
        cur = &mut cur[k.as_str()];
    }
    cur[parts[parts.len() - 1].as_str()] = new;
}

fn remove_path(v: &mut Value, p: &str) {
    let parts = split_path(p);
    let mut cur = v;
    for k in &parts[..parts.len() - 1] {
        match cur.get_mut(k) {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(&parts[parts.len() - 1]);
    }
}

/// An update takes the fields it changed from every other manager.
fn take_ownership(
    managed: &mut Managed,
    manager: &str,
    op: &str,
    sub: &str,
    old: &Value,
    new: &Value,
) {
    let changed: BTreeSet<String> = leaf_paths(new)
        .union(&leaf_paths(old))
        .filter(|p| get_path(old, p) != get_path(new, p))
        .filter(|p| {
            !p.starts_with("metadata.resourceVersion") && !p.starts_with("metadata.generation")
        })
        .cloned()
        .collect();
    for owned in managed.values_mut() {
        owned.retain(|p| !changed.contains(p));
    }
    let me = managed
        .entry((manager.to_string(), op.to_string(), sub.to_string()))
        .or_default();
    me.extend(changed.into_iter().filter(|p| get_path(new, p).is_some()));
    managed.retain(|_, owned| !owned.is_empty());
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    // Benches include the kit without a test harness: these tests are unused there.
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn paths_parse_like_the_api_server_routes_them() {
        let t = parse_path("/apis/apps/v1/namespaces/ns/deployments/d/scale").unwrap();
        assert_eq!(t.collection, "apps/v1/deployments");
        assert_eq!(t.namespace.as_deref(), Some("ns"));
        assert_eq!(t.name.as_deref(), Some("d"));
        assert_eq!(t.subresource.as_deref(), Some("scale"));
        let t = parse_path("/api/v1/namespaces/ns").unwrap();
        assert_eq!(
            (t.collection.as_str(), t.name.as_deref()),
            ("/v1/namespaces", Some("ns"))
        );
        let t = parse_path("/api/v1/nodes").unwrap();
        assert_eq!(
            (t.collection.as_str(), t.namespace.clone(), t.name.clone()),
            ("/v1/nodes", None, None)
        );
    }

    #[test]
    fn immutable_configmaps_and_job_templates_are_refused_a_change() {
        let k = |c: &str| Key {
            collection: c.into(),
            namespace: "ns".into(),
            name: "x".into(),
        };
        let cm = json!({"metadata": {"name": "x"}, "immutable": true, "data": {"a": "1"}});
        let mut relabelled = cm.clone();
        relabelled["metadata"]["labels"] = json!({"l": "v"});
        assert_eq!(
            immutable_change(&k("/v1/configmaps"), &cm, &relabelled),
            None
        );
        let mut changed = cm.clone();
        changed["data"]["a"] = json!("2");
        assert!(immutable_change(&k("/v1/configmaps"), &cm, &changed).is_some());
        let mut unlocked = cm.clone();
        unlocked["immutable"] = json!(false);
        assert!(immutable_change(&k("/v1/configmaps"), &cm, &unlocked).is_some());
        let mutable = json!({"metadata": {"name": "x"}, "data": {"a": "1"}});
        assert_eq!(
            immutable_change(&k("/v1/configmaps"), &mutable, &changed),
            None
        );
        let job =
            json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": []}}}});
        let mut other = job.clone();
        other["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        assert!(immutable_change(&k("batch/v1/jobs"), &job, &other).is_some());
        let mut status = job.clone();
        status["status"] = json!({"succeeded": 1});
        assert_eq!(immutable_change(&k("batch/v1/jobs"), &job, &status), None);
    }

    /// Paging as etcd3's GetList does it: a full page says `continue` when any key follows,
    /// matching the selector or not; a page that is not full does not; `continue` resumes after
    /// the page's last item.
    #[test]
    fn lists_page_as_the_api_server_does() {
        let api = FakeApi::new();
        for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
            api.seed(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": "ns", "labels": {"app": app}}}),
            );
        }
        let list = |query: &str| {
            let (code, v) = api.answer(&Recorded {
                client: String::new(),
                method: "GET".into(),
                path: "/api/v1/namespaces/ns/pods".into(),
                query: query.into(),
                content_type: String::new(),
                accept: String::new(),
                body: Value::Null,
                status: 0,
            });
            assert_eq!(code, 200, "{v}");
            let names: Vec<String> = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            (
                names,
                v["metadata"]["continue"].as_str().map(String::from),
                v,
            )
        };
        // Both `app=x` pods fill the page, and `c` (not matching) follows: continue is set.
        let (names, cont, _) = list("labelSelector=app%3Dx&limit=2");
        assert_eq!(
            (names, cont.as_deref()),
            (vec!["a".into(), "b".into()], Some("ns/b"))
        );
        // Not full: no continue.
        let (names, cont, _) = list("labelSelector=app%3Dx&limit=3");
        assert_eq!((names.len(), cont), (2, None));
        // Without a selector: the count of what remains; resuming gives the rest.
        let (names, cont, v) = list("limit=1");
        assert_eq!(
            (names, v["metadata"]["remainingItemCount"].clone()),
            (vec!["a".into()], json!(2))
        );
        let (names, cont, _) = list(&format!("limit=5&continue={}", cont.unwrap()));
        assert_eq!(
            (names, cont),
            (vec!["b".to_string(), "c".to_string()], None)
        );
    }

    #[test]
    fn selectors() {
        let o = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        assert!(selects("a=1", &o));
        assert!(selects("a==1,b", &o));
        assert!(!selects("a!=1", &o));
        assert!(selects("!c", &o));
        assert!(!selects("c", &o));
    }
}
