//! Tests of the RBAC evaluator of `tests/kit/rbac.rs`, modelled on Kubernetes' own tests
//! (kubernetes/kubernetes): `staging/src/k8s.io/apiserver/pkg/endpoints/request/
//! requestinfo_test.go`, `plugin/pkg/auth/authorizer/rbac/rbac_test.go`,
//! `pkg/registry/rbac/validation/rule_test.go` and `staging/src/k8s.io/component-helpers/auth/
//! rbac/validation/policy_comparator_test.go`.

#[path = "kit/rbac.rs"]
mod rbac;

use rbac::{
    Grant, ObjectRef, PolicyRule, Rbac, RequestInfo, User, covers, request_info, rule_allows,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn rule_json(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": name}, "rules": rules})
}

fn role(ns: &str, name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
           "metadata": {"name": name, "namespace": ns}, "rules": rules})
}

fn sa(ns: &str, name: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": name, "namespace": ns})
}

fn cluster_role_binding(name: &str, role: &str, subjects: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": name},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": subjects})
}

fn role_binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": name, "namespace": ns},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
           "subjects": subjects})
}

/// `Kind:name` subjects, as `newRoleBinding` of `rbac_test.go` writes them.
fn subjects(list: &[&str]) -> Vec<Value> {
    list.iter()
        .map(|s| {
            let (kind, name) = s.split_once(':').unwrap();
            json!({"kind": kind, "name": name, "apiGroup": "rbac.authorization.k8s.io"})
        })
        .collect()
}

fn req(method: &str, url: &str) -> RequestInfo {
    request_info(method, url, "")
}

/// Whether the ServiceAccount `op/otelhouse` may send `method url`.
fn allowed(rbac: &Rbac, method: &str, url: &str) -> bool {
    rbac.authorize("op", "otelhouse", &req(method, url))
        .is_some()
}

// ---------------------------------------------------------------------------------------------
// request_info (requestinfo_test.go)
// ---------------------------------------------------------------------------------------------

/// `TestGetAPIRequestInfo` success cases: method, url, verb, group, version, namespace,
/// resource, subresource, name, parts. (Its expected `api` prefix for `/apis/...` URLs is not
/// checked there; it is `apis`, checked below.)
#[test]
fn request_info_resource_paths_as_in_test_get_api_request_info() {
    /// method, url, verb, group, version, namespace, resource, subresource, name, parts
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    );
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // resource paths
        ("GET", "/api/v1/namespaces", "list", "", "v1", "", "namespaces", "", "", &["namespaces"]),
        ("GET", "/api/v1/namespaces/other", "get", "", "v1", "other", "namespaces", "", "other", &["namespaces", "other"]),
        ("GET", "/api/v1/namespaces/other/pods", "list", "", "v1", "other", "pods", "", "", &["pods"]),
        ("GET", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
        ("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
        ("GET", "/api/v1/pods", "list", "", "v1", "", "pods", "", "", &["pods"]),
        ("HEAD", "/api/v1/pods", "list", "", "v1", "", "pods", "", "", &["pods"]),
        // special verbs
        ("GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
        ("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "", "v1", "other", "pods", "", "foo", &["pods", "foo", "subpath", "not", "a", "subresource"]),
        ("GET", "/api/v1/watch/pods", "watch", "", "v1", "", "pods", "", "", &["pods"]),
        ("GET", "/api/v1/pods?watch=true", "watch", "", "v1", "", "pods", "", "", &["pods"]),
        ("GET", "/api/v1/pods?watch=false", "list", "", "v1", "", "pods", "", "", &["pods"]),
        ("GET", "/api/v1/watch/namespaces/other/pods", "watch", "", "v1", "other", "pods", "", "", &["pods"]),
        ("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "", "v1", "other", "pods", "", "", &["pods"]),
        ("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "", "v1", "other", "pods", "", "", &["pods"]),
        // subresource identification
        ("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "", "v1", "other", "pods", "status", "foo", &["pods", "foo", "status"]),
        ("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "", "v1", "other", "pods", "proxy", "foo", &["pods", "foo", "proxy", "subpath"]),
        ("PUT", "/api/v1/namespaces/other/finalize", "update", "", "v1", "other", "namespaces", "finalize", "other", &["namespaces", "other", "finalize"]),
        ("PUT", "/api/v1/namespaces/other/status", "update", "", "v1", "other", "namespaces", "status", "other", &["namespaces", "other", "status"]),
        // verb identification
        ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
        ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
        ("POST", "/api/v1/namespaces/other/pods", "create", "", "v1", "other", "pods", "", "", &["pods"]),
        // deletecollection verb identification
        ("DELETE", "/api/v1/nodes", "deletecollection", "", "v1", "", "nodes", "", "", &["nodes"]),
        ("DELETE", "/api/v1/namespaces", "deletecollection", "", "v1", "", "namespaces", "", "", &["namespaces"]),
        ("DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "", "v1", "other", "pods", "", "", &["pods"]),
        ("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "extensions", "v1", "other", "pods", "", "", &["pods"]),
        // api group identification
        ("POST", "/apis/extensions/v1/namespaces/other/pods", "create", "extensions", "v1", "other", "pods", "", "", &["pods"]),
        // api version identification
        ("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "extensions", "v1beta3", "other", "pods", "", "", &["pods"]),
    ];
    for &(method, url, verb, group, version, ns, resource, sub, name, parts) in cases {
        let info = req(method, url);
        let got = (
            info.is_resource_request,
            info.verb.as_str(),
            info.api_group.as_str(),
            info.api_version.as_str(),
            info.namespace.as_str(),
            info.resource.as_str(),
            info.subresource.as_str(),
            info.name.as_str(),
        );
        assert_eq!(
            got,
            (true, verb, group, version, ns, resource, sub, name),
            "{method} {url}"
        );
        assert_eq!(info.parts, parts, "{method} {url}");
        assert_eq!(info.path, url.split('?').next().unwrap(), "{method} {url}");
        let prefix = if url.starts_with("/apis/") {
            "apis"
        } else {
            "api"
        };
        assert_eq!(info.api_prefix, prefix, "{method} {url}");
        assert_eq!(info.error, None, "{method} {url}");
    }
}

/// The `errorCases` of `TestGetAPIRequestInfo` and the cases of `TestGetNonAPIRequestInfo`:
/// which paths are resource requests. A non-resource request's verb is the lower-case method.
#[test]
fn request_info_non_resource_paths_as_in_test_get_non_api_request_info() {
    let cases = [
        // TestGetAPIRequestInfo errorCases: all non-resource
        ("/", false),
        ("/api/version/", false),
        ("/apis/group/version/", false),
        ("/badprefix/version/resource", false),
        ("/apis/version/resource", false),
        // TestGetNonAPIRequestInfo
        ("/api/version/resource", true),
        ("/apis/group/version/resource/name/subresource", true),
        ("/api/version/resource/name/subresource", true),
        ("/apis/batch/v1/job", true),
        ("/apis/batch/v1/job/foo", true),
        ("/apis/batch/v1/job/foo/scale", true),
        ("/not-api/version/resource", false),
        ("/apis/extensions/v1beta1", false),
        ("/apis/extensions/v1beta1/", false),
        ("/api/version", false),
        ("/api", false),
        ("/", false),
        ("", false),
        // the non-resource URLs a client sends
        ("/version", false),
        ("/healthz", false),
        ("/readyz", false),
        ("/apis", false),
        ("/apis/otelhouse.dev/v1alpha1", false),
        ("/openapi/v3", false),
    ];
    for (url, is_resource) in cases {
        let info = req("GET", url);
        assert_eq!(info.is_resource_request, is_resource, "{url:?}");
        assert_eq!(info.error, None, "{url:?}");
        if !is_resource {
            assert_eq!(info.verb, "get", "{url:?}");
            assert_eq!(info.path, url, "{url:?}");
            assert_eq!(info.resource, "", "{url:?}");
        }
    }
    assert_eq!(req("POST", "/apis").verb, "post");
    assert_eq!(req("HEAD", "/healthz").verb, "head");
}

/// `TestSelectorParsing`: `fieldSelector=metadata.name=X` names a list or watch (so that
/// resourceNames apply); selectors are kept for list, watch and deletecollection, not for the
/// deprecated `/watch/` form.
#[test]
fn request_info_selectors_as_in_test_selector_parsing() {
    // (name, method, url, name, verb, fieldSelector, labelSelector)
    let cases = [
        (
            "no selector",
            "GET",
            "/apis/group/version/resource",
            "",
            "list",
            "",
            "",
        ),
        (
            "metadata.name selector",
            "GET",
            "/apis/group/version/resource?fieldSelector=metadata.name=name1",
            "name1",
            "list",
            "metadata.name=name1",
            "",
        ),
        (
            "metadata.name selector with watch",
            "GET",
            "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1",
            "name1",
            "watch",
            "metadata.name=name1",
            "",
        ),
        (
            "random selector",
            "GET",
            "/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux",
            "",
            "list",
            "foo=bar",
            "baz=qux",
        ),
        (
            "invalid selector with metadata.name",
            "GET",
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo",
            "",
            "list",
            "metadata.name=name1,foo",
            "",
        ),
        (
            "invalid selector with metadata.name with watch",
            "GET",
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true",
            "",
            "watch",
            "metadata.name=name1,foo",
            "",
        ),
        (
            "invalid selector with metadata.name with watch false",
            "GET",
            "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false",
            "",
            "list",
            "metadata.name=name1,foo",
            "",
        ),
        (
            "selector on deletecollection is honored",
            "DELETE",
            "/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux",
            "",
            "deletecollection",
            "foo=bar",
            "baz=qux",
        ),
        (
            "selector on repeated param matches parsed param",
            "GET",
            "/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar&labelSelector=foo=bar&labelSelector=foo=baz",
            "foo",
            "list",
            "metadata.name=foo",
            "foo=bar",
        ),
        (
            "selector on other verb is ignored",
            "GET",
            "/apis/group/version/resource/name?fieldSelector=foo=bar&labelSelector=foo=bar",
            "name",
            "get",
            "",
            "",
        ),
        (
            "selector on deprecated root type watch is not parsed",
            "GET",
            "/apis/group/version/watch/resource?fieldSelector=metadata.name=foo&labelSelector=foo=bar",
            "",
            "watch",
            "",
            "",
        ),
        (
            "selector on deprecated root item watch is not parsed",
            "GET",
            "/apis/group/version/watch/resource/name?fieldSelector=metadata.name=foo&labelSelector=foo=bar",
            "name",
            "watch",
            "",
            "",
        ),
        // more of fields/selector.go: `==`, `!=`, other terms, escapes, bad names, bad options
        (
            "double equals",
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name==foo",
            "foo",
            "list",
            "metadata.name==foo",
            "",
        ),
        (
            "not equals names nothing",
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name!=foo",
            "",
            "list",
            "metadata.name!=foo",
            "",
        ),
        (
            "with another term",
            "GET",
            "/api/v1/pods?fieldSelector=spec.nodeName=n1,metadata.name=foo",
            "foo",
            "list",
            "spec.nodeName=n1,metadata.name=foo",
            "",
        ),
        (
            "the first in sorted order",
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name=b,metadata.name=a",
            "a",
            "list",
            "metadata.name=b,metadata.name=a",
            "",
        ),
        (
            "escaped comma",
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name=a\\,b",
            "a,b",
            "list",
            "metadata.name=a\\,b",
            "",
        ),
        (
            "not a path segment name",
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name=..",
            "",
            "list",
            "metadata.name=..",
            "",
        ),
        (
            "a bad limit drops the name",
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name=foo&limit=x",
            "",
            "list",
            "metadata.name=foo",
            "",
        ),
        (
            "watch with any other value",
            "GET",
            "/api/v1/pods?watch=",
            "",
            "watch",
            "",
            "",
        ),
        (
            "watch FALSE",
            "GET",
            "/api/v1/pods?watch=FALSE",
            "",
            "list",
            "",
            "",
        ),
    ];
    for (case, method, url, name, verb, field, label) in cases {
        let info = req(method, url);
        assert_eq!(info.name, name, "{case}");
        assert_eq!(info.verb, verb, "{case}");
        assert_eq!(info.field_selector, field, "{case}");
        assert_eq!(info.label_selector, label, "{case}");
    }
}

/// What clients actually send: a percent-encoded query, given apart from the path.
#[test]
fn request_info_decodes_the_query_and_path() {
    let info = request_info(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/op/leases",
        "fieldSelector=metadata.name%3Dotelhouse-leader&resourceVersion=0&watch=true&timeoutSeconds=290&allowWatchBookmarks=true",
    );
    assert_eq!(
        (
            info.verb.as_str(),
            info.name.as_str(),
            info.field_selector.as_str()
        ),
        (
            "watch",
            "otelhouse-leader",
            "metadata.name=otelhouse-leader"
        )
    );
    let info = request_info("GET", "/api/v1/pods", "labelSelector=app%20in+%28a%2Cb%29");
    assert_eq!(info.label_selector, "app in (a,b)");
    // a path with its query, when no query is given apart
    let info = request_info("GET", "/api/v1/namespaces/a/pods?watch=1", "");
    assert_eq!(
        (info.verb.as_str(), info.namespace.as_str()),
        ("watch", "a")
    );
    // percent-escapes of the path are decoded (Go's URL.Path)
    let info = req("GET", "/api/v1/namespaces/a/configmaps/x%2Dy");
    assert_eq!(info.name, "x-y");
}

/// The requests of an operator: scale and status subresources, server-side apply, finalizers.
#[test]
fn request_info_operator_requests() {
    let cases = [
        (
            "PATCH",
            "/apis/apps/v1/namespaces/a/deployments/gw/scale",
            ("patch", "apps", "a", "deployments", "scale", "gw"),
        ),
        (
            "PATCH",
            "/apis/otelhouse.dev/v1alpha1/namespaces/a/logpipelines/p/status",
            ("patch", "otelhouse.dev", "a", "logpipelines", "status", "p"),
        ),
        (
            "PUT",
            "/apis/otelhouse.dev/v1alpha1/namespaces/a/logpipelines/p/finalizers",
            (
                "update",
                "otelhouse.dev",
                "a",
                "logpipelines",
                "finalizers",
                "p",
            ),
        ),
        (
            "PATCH",
            "/apis/otelhouse.dev/v1alpha1/agentclasses/c/status",
            ("patch", "otelhouse.dev", "", "agentclasses", "status", "c"),
        ),
        (
            "GET",
            "/apis/otelhouse.dev/v1alpha1/logpipelines",
            ("list", "otelhouse.dev", "", "logpipelines", "", ""),
        ),
        (
            "POST",
            "/api/v1/namespaces/a/events",
            ("create", "", "a", "events", "", ""),
        ),
        (
            "POST",
            "/apis/events.k8s.io/v1/namespaces/a/events",
            ("create", "events.k8s.io", "a", "events", "", ""),
        ),
        (
            "GET",
            "/api/v1/nodes/n1",
            ("get", "", "", "nodes", "", "n1"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/a/daemonsets/d",
            ("delete", "apps", "a", "daemonsets", "", "d"),
        ),
    ];
    for (method, url, want) in cases {
        let i = req(method, url);
        let got = (
            i.verb.as_str(),
            i.api_group.as_str(),
            i.namespace.as_str(),
            i.resource.as_str(),
            i.subresource.as_str(),
            i.name.as_str(),
        );
        assert_eq!(got, want, "{method} {url}");
    }
}

/// `NewRequestInfo` fails for a special verb with nothing after it; the server answers before
/// authorizing, so nothing is allowed.
#[test]
fn request_info_special_verb_without_resource_is_an_error() {
    let info = req("GET", "/api/v1/watch");
    assert!(info.is_resource_request);
    assert!(info.error.is_some());
    let everything = Rbac::from_objects(&[
        cluster_role("all", vec![rule_json(&["*"], &["*"], &["*"])]),
        cluster_role_binding("all", "all", vec![sa("op", "otelhouse")]),
    ]);
    assert_eq!(everything.authorize("op", "otelhouse", &info), None);
    assert!(
        everything
            .authorize("op", "otelhouse", &req("GET", "/api/v1/watch/pods"))
            .is_some()
    );
}

/// An update or apply that creates the object is also authorized as `create`
/// (`handlers/patch.go`, `handlers/update.go`).
#[test]
fn create_on_update_is_a_create_with_the_name() {
    let apply = request_info(
        "PATCH",
        "/apis/apps/v1/namespaces/a/deployments/gw",
        "fieldManager=otelhouse&force=true",
    );
    let create = apply.create_on_update().unwrap();
    assert_eq!(
        (
            create.verb.as_str(),
            create.resource.as_str(),
            create.name.as_str(),
            create.namespace.as_str()
        ),
        ("create", "deployments", "gw", "a")
    );
    assert_eq!(
        req("GET", "/apis/apps/v1/namespaces/a/deployments/gw").create_on_update(),
        None
    );
    assert_eq!(req("PATCH", "/version").create_on_update(), None);

    let rbac = Rbac::from_objects(&[
        cluster_role(
            "patcher",
            vec![rule_json(&["get", "patch"], &["apps"], &["deployments"])],
        ),
        cluster_role_binding("patcher", "patcher", vec![sa("op", "otelhouse")]),
    ]);
    assert!(rbac.authorize("op", "otelhouse", &apply).is_some());
    assert_eq!(rbac.authorize("op", "otelhouse", &create), None);
}

// ---------------------------------------------------------------------------------------------
// Rules (rbac_test.go TestRuleMatches, evaluation_helpers.go)
// ---------------------------------------------------------------------------------------------

/// `TestRuleMatches`, every case.
#[test]
fn rule_allows_as_in_test_rule_matches() {
    let r = |verb: &str, group: &str, resource: &str| RequestInfo::resource(verb, group, resource);
    let n = |verb: &str, url: &str| RequestInfo::non_resource(verb, url);
    let tuple = |rule: &PolicyRule| {
        for (verb, group, resource) in [
            ("verb1", "group1", "resource1"),
            ("verb1", "group2", "resource1"),
            ("verb1", "group1", "resource2"),
            ("verb1", "group2", "resource2"),
            ("verb2", "group1", "resource1"),
            ("verb2", "group2", "resource1"),
            ("verb2", "group1", "resource2"),
            ("verb2", "group2", "resource2"),
        ] {
            let got = rule_allows(&r(verb, group, resource), rule).is_some();
            let want = match (
                rule.verbs[0].as_str(),
                rule.api_groups[0].as_str(),
                rule.resources[0].as_str(),
            ) {
                ("*", _, _) => group == "group1" && resource == "resource1",
                (_, "*", _) => verb == "verb1" && resource == "resource1",
                (_, _, "*") => verb == "verb1" && group == "group1",
                _ => true, // tuple expansion: every combination
            };
            assert_eq!(got, want, "{rule} {verb} {group} {resource}");
        }
    };
    // star verb, exact match other
    tuple(&PolicyRule::resource("*", "group1", "resource1"));
    // star group, exact match other
    tuple(&PolicyRule::resource("verb1", "*", "resource1"));
    // star resource, exact match other
    tuple(&PolicyRule::resource("verb1", "group1", "*"));
    // tuple expansion
    tuple(&PolicyRule::resource(
        "verb1,verb2",
        "group1,group2",
        "resource1,resource2",
    ));

    // subresource expansion
    let rule = PolicyRule::resource("*", "*", "resource1/subresource1");
    for (verb, group, resource, want) in [
        ("verb1", "group1", "resource1/subresource1", true),
        ("verb1", "group2", "resource1/subresource2", false),
        ("verb1", "group1", "resource2/subresource1", false),
        ("verb1", "group2", "resource2/subresource1", false),
        ("verb2", "group1", "resource1/subresource1", true),
        ("verb2", "group2", "resource1/subresource2", false),
        ("verb2", "group1", "resource2/subresource1", false),
        ("verb2", "group2", "resource2/subresource1", false),
    ] {
        assert_eq!(
            rule_allows(&r(verb, group, resource), &rule).is_some(),
            want,
            "{resource}"
        );
    }

    let urls = [
        "/foo",
        "/foo/bar",
        "/foo/baz",
        "/foo/bar/one",
        "/foo/baz/one",
    ];
    // star nonresource, exact match other
    let rule = PolicyRule::non_resource("verb1", "*");
    for url in urls {
        assert!(rule_allows(&n("verb1", url), &rule).is_some(), "{url}");
        assert!(rule_allows(&n("verb2", url), &rule).is_none(), "{url}");
    }
    // star nonresource subpath
    let rule = PolicyRule::non_resource("verb1", "/foo/*");
    for (url, want) in [
        ("/foo", false),
        ("/foo/bar", true),
        ("/foo/baz", true),
        ("/foo/bar/one", true),
        ("/foo/baz/one", true),
        ("/notfoo", false),
        ("/notfoo/bar", false),
        ("/notfoo/baz", false),
        ("/notfoo/bar/one", false),
        ("/notfoo/baz/one", false),
    ] {
        assert_eq!(
            rule_allows(&n("verb1", url), &rule).is_some(),
            want,
            "{url}"
        );
    }
    // star verb, exact nonresource
    let rule = PolicyRule::non_resource("*", "/foo,/foo/bar/one");
    for verb in ["verb1", "verb2"] {
        for (url, want) in [
            ("/foo", true),
            ("/foo/bar", false),
            ("/foo/baz", false),
            ("/foo/bar/one", true),
            ("/foo/baz/one", false),
        ] {
            assert_eq!(
                rule_allows(&n(verb, url), &rule).is_some(),
                want,
                "{verb} {url}"
            );
        }
    }
}

/// `rule_allows` names the entries that matched: the first matching one of each list.
#[test]
fn rule_allows_names_the_matching_entries() {
    let rule = PolicyRule::resource("get,*", "apps,*", "deployments,*/scale").names("a,gw");
    let m = rule_allows(
        &RequestInfo::resource("patch", "apps", "deployments/scale").named("gw"),
        &rule,
    )
    .unwrap();
    assert_eq!(
        (
            m.verb.as_str(),
            m.api_group.as_str(),
            m.resource.as_str(),
            m.resource_name.as_str()
        ),
        ("*", "apps", "*/scale", "gw")
    );
    let m = rule_allows(
        &RequestInfo::resource("get", "", "deployments").named("a"),
        &rule,
    )
    .unwrap();
    assert_eq!((m.verb.as_str(), m.api_group.as_str()), ("get", "*"));
}

// ---------------------------------------------------------------------------------------------
// The authorizer (rbac_test.go TestAuthorizer, rule_test.go)
// ---------------------------------------------------------------------------------------------

/// `TestAuthorizer`, its four cases (users and groups; a RoleBinding of ns1 grants nothing in
/// ns2 nor cluster-wide).
#[test]
fn authorizer_as_in_test_authorizer() {
    let attrs = |verb: &str, resource: &str, sub: &str, ns: &str| {
        let mut r = RequestInfo::resource(verb, "", resource).in_namespace(ns);
        r.subresource = sub.to_string();
        r
    };
    let user = |name: &str, groups: &str| {
        User::new(
            name,
            &groups
                .split(',')
                .filter(|g| !g.is_empty())
                .collect::<Vec<_>>(),
        )
    };
    let nonres_rule = |verbs: &str, url: &str| json!({"verbs": verbs.split(',').collect::<Vec<_>>(), "nonResourceURLs": [url]});

    // case 0
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "admin",
            vec![
                json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "nonResourceURLs": ["*"]}),
            ],
        ),
        role_binding(
            "ns1",
            "b",
            "ClusterRole",
            "admin",
            subjects(&["User:admin", "Group:admins"]),
        ),
    ]);
    for (name, groups, verb, resource, ns) in [
        ("admin", "", "get", "Pods", "ns1"),
        ("admin", "", "watch", "Pods", "ns1"),
        ("admin", "group1", "watch", "Foobar", "ns1"),
        ("joe", "admins", "watch", "Foobar", "ns1"),
        ("joe", "group1,admins", "watch", "Foobar", "ns1"),
    ] {
        assert!(
            rbac.authorize_user(&user(name, groups), &attrs(verb, resource, "", ns))
                .is_some(),
            "{name} {verb} {resource}"
        );
    }
    for (name, groups, verb, resource, ns) in [
        ("admin", "", "GET", "Pods", "ns2"),
        ("admin", "", "GET", "Nodes", ""),
        ("admin", "admins", "GET", "Pods", "ns2"),
        ("admin", "admins", "GET", "Nodes", ""),
    ] {
        assert!(
            rbac.authorize_user(&user(name, groups), &attrs(verb, resource, "", ns))
                .is_none(),
            "{name} {verb} {resource}"
        );
    }

    // case 1: non-resource URLs
    let rbac = Rbac::from_objects(&[
        cluster_role("non-resource-url-getter", vec![nonres_rule("get", "/apis")]),
        cluster_role("non-resource-url", vec![nonres_rule("*", "/apis")]),
        cluster_role(
            "non-resource-url-prefix",
            vec![nonres_rule("get", "/apis/*")],
        ),
        cluster_role_binding(
            "g",
            "non-resource-url-getter",
            subjects(&["User:foo", "Group:bar"]),
        ),
        cluster_role_binding(
            "u",
            "non-resource-url",
            subjects(&["User:admin", "Group:admin"]),
        ),
        cluster_role_binding(
            "p",
            "non-resource-url-prefix",
            subjects(&["User:prefixed", "Group:prefixed"]),
        ),
    ]);
    let named = |n: &str| User::new(n, &[]);
    let grouped = |g: &str| User::new("", &[g]);
    for (u, verb, path) in [
        (named("foo"), "get", "/apis"),
        (grouped("bar"), "get", "/apis"),
        (named("admin"), "get", "/apis"),
        (grouped("admin"), "get", "/apis"),
        (named("admin"), "watch", "/apis"),
        (grouped("admin"), "watch", "/apis"),
        (named("prefixed"), "get", "/apis/v1"),
        (grouped("prefixed"), "get", "/apis/v1"),
        (named("prefixed"), "get", "/apis/v1/foobar"),
        (grouped("prefixed"), "get", "/apis/v1/foorbar"),
    ] {
        assert!(
            rbac.authorize_user(&u, &RequestInfo::non_resource(verb, path))
                .is_some(),
            "{u:?} {verb} {path}"
        );
    }
    for (u, verb, path) in [
        // wrong verb
        (named("foo"), "watch", "/apis"),
        (grouped("bar"), "watch", "/apis"),
        // wrong path
        (named("foo"), "get", "/api/v1"),
        (grouped("bar"), "get", "/api/v1"),
        (named("admin"), "get", "/api/v1"),
        (grouped("admin"), "get", "/api/v1"),
        // not covered by prefix
        (named("prefixed"), "get", "/api/v1"),
        (grouped("prefixed"), "get", "/api/v1"),
    ] {
        assert!(
            rbac.authorize_user(&u, &RequestInfo::non_resource(verb, path))
                .is_none(),
            "{u:?} {verb} {path}"
        );
    }

    // case 2: a resource does not grant its subresources
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "admin",
            vec![
                json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["pods"], "nonResourceURLs": ["*"]}),
            ],
        ),
        role_binding(
            "ns1",
            "b",
            "ClusterRole",
            "admin",
            subjects(&["User:admin", "Group:admins"]),
        ),
    ]);
    assert!(
        rbac.authorize_user(&named("admin"), &attrs("get", "pods", "", "ns1"))
            .is_some()
    );
    assert!(
        rbac.authorize_user(&named("admin"), &attrs("get", "pods", "status", "ns1"))
            .is_none()
    );

    // case 3: a subresource, and */subresource
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "admin",
            vec![
                json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["pods/status"], "nonResourceURLs": ["*"]}),
                json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/scale"], "nonResourceURLs": ["*"]}),
            ],
        ),
        role_binding(
            "ns1",
            "b",
            "ClusterRole",
            "admin",
            subjects(&["User:admin", "Group:admins"]),
        ),
    ]);
    for (resource, sub) in [
        ("pods", "status"),
        ("pods", "scale"),
        ("deployments", "scale"),
        ("anything", "scale"),
    ] {
        assert!(
            rbac.authorize_user(&named("admin"), &attrs("get", resource, sub, "ns1"))
                .is_some(),
            "{resource}/{sub}"
        );
    }
    assert!(
        rbac.authorize_user(&named("admin"), &attrs("get", "pods", "", "ns1"))
            .is_none()
    );
}

/// `TestDefaultRuleResolver`: the rules that apply to a user in a namespace.
#[test]
fn rules_for_as_in_test_default_rule_resolver() {
    let read_pods = rule_json(&["GET", "WATCH"], &["v1"], &["pods"]);
    let read_services = rule_json(&["GET", "WATCH"], &["v1"], &["services"]);
    let write_nodes = rule_json(&["PUT", "CREATE", "UPDATE"], &["v1"], &["nodes"]);
    let admin = rule_json(&["*"], &["*"], &["*"]);
    let rbac = Rbac::from_objects(&[
        role(
            "namespace1",
            "readthings",
            vec![read_pods.clone(), read_services.clone()],
        ),
        cluster_role("cluster-admin", vec![admin.clone()]),
        cluster_role("write-nodes", vec![write_nodes]),
        role_binding(
            "namespace1",
            "b",
            "Role",
            "readthings",
            subjects(&["User:foobar", "Group:group1"]),
        ),
        cluster_role_binding(
            "c",
            "cluster-admin",
            subjects(&["User:admin", "Group:admin"]),
        ),
    ]);
    let rules = |v: &[&Value]| {
        v.iter()
            .map(|r| PolicyRule::from_json(r))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rbac.rules_for(&User::new("foobar", &[]), "namespace1"),
        rules(&[&read_pods, &read_services])
    );
    assert_eq!(
        rbac.rules_for(&User::new("foobar", &[]), "namespace2"),
        vec![]
    );
    // without a namespace, only cluster rules apply
    assert_eq!(
        rbac.rules_for(&User::new("foobar", &["admin"]), ""),
        rules(&[&admin])
    );
    assert_eq!(rbac.rules_for(&User::default(), ""), vec![]);
}

/// `TestAppliesTo`, by what a subject grants: users by name, groups by membership, service
/// accounts by `system:serviceaccount:<ns>:<name>`; `*` is no wildcard.
#[test]
fn subjects_as_in_test_applies_to() {
    let objs = |subjects: Vec<Value>| {
        Rbac::from_objects(&[
            cluster_role("r", vec![rule_json(&["get"], &[""], &["pods"])]),
            role_binding("default", "b", "ClusterRole", "r", subjects),
        ])
    };
    let get_pods = RequestInfo::resource("get", "", "pods").in_namespace("default");
    let cases: Vec<(Vec<Value>, User, bool, &str)> = vec![
        (
            subjects(&["User:foobar"]),
            User::new("foobar", &[]),
            true,
            "single subject that matches username",
        ),
        (
            subjects(&["User:barfoo", "User:foobar"]),
            User::new("foobar", &[]),
            true,
            "multiple subjects, one that matches username",
        ),
        (
            subjects(&["User:barfoo", "User:foobar"]),
            User::new("zimzam", &[]),
            false,
            "multiple subjects, none that match username",
        ),
        (
            subjects(&["User:barfoo", "Group:foobar"]),
            User::new("zimzam", &["foobar"]),
            true,
            "multiple subjects, one that match group",
        ),
        (
            [
                subjects(&["User:barfoo", "Group:foobar"]),
                vec![sa("kube-system", "default")],
            ]
            .concat(),
            User::new("system:serviceaccount:kube-system:default", &[]),
            true,
            "multiple subjects with a service account that matches",
        ),
        (
            subjects(&["User:*"]),
            User::new("foobar", &[]),
            false,
            "* user subject name doesn't match all users",
        ),
        (
            subjects(&["Group:system:authenticated", "Group:system:unauthenticated"]),
            User::new("foobar", &["system:authenticated"]),
            true,
            "binding to all authenticated and unauthenticated subjects matches authenticated user",
        ),
        (
            subjects(&["Group:system:authenticated", "Group:system:unauthenticated"]),
            User::new("system:anonymous", &["system:unauthenticated"]),
            true,
            "binding to all authenticated and unauthenticated subjects matches anonymous user",
        ),
    ];
    for (subjects, user, want, case) in cases {
        assert_eq!(
            objs(subjects).authorize_user(&user, &get_pods).is_some(),
            want,
            "{case}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scoping: what a binding grants where
// ---------------------------------------------------------------------------------------------

#[test]
fn denial_by_default() {
    let empty = Rbac::from_objects(&[]);
    assert!(!allowed(&empty, "GET", "/api/v1/namespaces/op/pods"));
    assert!(!allowed(&empty, "GET", "/version"));
    assert!(empty.grants("op", "otelhouse").is_empty());

    let rbac = Rbac::from_objects(&[
        cluster_role("r", vec![rule_json(&["get"], &[""], &["pods"])]),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
    ]);
    assert!(allowed(&rbac, "GET", "/api/v1/namespaces/a/pods/p"));
    // another account, the same name in another namespace, another verb, resource, group
    assert_eq!(
        rbac.authorize("op", "other", &req("GET", "/api/v1/namespaces/a/pods/p")),
        None
    );
    assert_eq!(
        rbac.authorize(
            "other",
            "otelhouse",
            &req("GET", "/api/v1/namespaces/a/pods/p")
        ),
        None
    );
    assert!(!allowed(&rbac, "DELETE", "/api/v1/namespaces/a/pods/p"));
    assert!(!allowed(&rbac, "GET", "/api/v1/namespaces/a/services/p"));
    assert!(!allowed(
        &rbac,
        "GET",
        "/apis/metrics.k8s.io/v1beta1/namespaces/a/pods/p"
    ));
    // a list is not a get
    assert!(!allowed(&rbac, "GET", "/api/v1/namespaces/a/pods"));
}

#[test]
fn wildcards() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "r",
            vec![
                rule_json(&["*"], &["apps"], &["deployments"]),
                rule_json(&["get"], &["*"], &["leases"]),
                rule_json(&["get", "list"], &["otelhouse.dev"], &["*"]),
            ],
        ),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
    ]);
    for (method, url) in [
        ("DELETE", "/apis/apps/v1/namespaces/a/deployments/d"),
        ("DELETE", "/apis/apps/v1/namespaces/a/deployments"),
        ("GET", "/apis/apps/v1/deployments?watch=true"),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l"),
        ("GET", "/apis/example.com/v1/namespaces/a/leases/l"),
        ("GET", "/apis/otelhouse.dev/v1alpha1/logpipelines"),
        (
            "GET",
            "/apis/otelhouse.dev/v1alpha1/namespaces/a/logpipelines/p/status",
        ), // `*` covers subresources
    ] {
        assert!(allowed(&rbac, method, url), "{method} {url}");
    }
    for (method, url) in [
        (
            "DELETE",
            "/apis/extensions/v1beta1/namespaces/a/deployments/d",
        ),
        ("GET", "/apis/apps/v1/namespaces/a/deployments/d/scale"), // deployments does not
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l"),
        (
            "DELETE",
            "/apis/otelhouse.dev/v1alpha1/namespaces/a/logpipelines/p",
        ),
    ] {
        assert!(!allowed(&rbac, method, url), "{method} {url}");
    }
    let g = rbac
        .authorize(
            "op",
            "otelhouse",
            &req("GET", "/apis/otelhouse.dev/v1alpha1/agentclasses"),
        )
        .unwrap();
    assert_eq!(
        (g.rule_index, g.verb.as_str(), g.resource.as_str()),
        (2, "list", "*")
    );
}

#[test]
fn subresources_need_their_own_grant() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "r",
            vec![
                rule_json(&["get", "patch"], &["apps"], &["deployments"]),
                rule_json(&["patch"], &["otelhouse.dev"], &["logpipelines/status"]),
                rule_json(&["update"], &["apps"], &["*/scale"]),
            ],
        ),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
    ]);
    assert!(allowed(
        &rbac,
        "PATCH",
        "/apis/apps/v1/namespaces/a/deployments/gw"
    ));
    assert!(!allowed(
        &rbac,
        "PATCH",
        "/apis/apps/v1/namespaces/a/deployments/gw/scale"
    ));
    assert!(!allowed(
        &rbac,
        "PATCH",
        "/apis/apps/v1/namespaces/a/deployments/gw/status"
    ));
    assert!(allowed(
        &rbac,
        "PUT",
        "/apis/apps/v1/namespaces/a/deployments/gw/scale"
    ));
    assert!(allowed(
        &rbac,
        "PUT",
        "/apis/apps/v1/namespaces/a/statefulsets/s/scale"
    ));
    assert!(!allowed(
        &rbac,
        "PUT",
        "/apis/apps/v1/namespaces/a/deployments/gw"
    )); // */scale is no deployments
    assert!(allowed(
        &rbac,
        "PATCH",
        "/apis/otelhouse.dev/v1alpha1/namespaces/a/logpipelines/p/status"
    ));
    assert!(!allowed(
        &rbac,
        "PATCH",
        "/apis/otelhouse.dev/v1alpha1/namespaces/a/logpipelines/p"
    ));
    assert!(!allowed(
        &rbac,
        "PATCH",
        "/apis/otelhouse.dev/v1alpha1/agentclasses/c/status"
    ));
    // `*/scale` is exactly the subresource `scale`: not another of its length, not a prefix
    for sub in ["proxy", "scales", "scal"] {
        let url = format!("/apis/apps/v1/namespaces/a/deployments/gw/{sub}");
        assert!(!allowed(&rbac, "PUT", &url), "{url}");
    }
    let g = rbac
        .authorize(
            "op",
            "otelhouse",
            &req("PUT", "/apis/apps/v1/namespaces/a/deployments/gw/scale"),
        )
        .unwrap();
    assert_eq!((g.rule_index, g.resource.as_str()), (2, "*/scale"));
}

/// `ResourceNameMatches`: resourceNames match a request's name, and a list, a watch, a create
/// (POST) and a deletecollection have none, unless a field selector names the object.
#[test]
fn resource_names_allow_get_but_not_list() {
    let rbac = Rbac::from_objects(&[
        role(
            "op",
            "leader",
            vec![
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                        "resourceNames": ["otelhouse-leader"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]}),
            ],
        ),
        role_binding(
            "op",
            "leader",
            "Role",
            "leader",
            vec![sa("op", "otelhouse")],
        ),
    ]);
    let leases = "/apis/coordination.k8s.io/v1/namespaces/op/leases";
    for (method, url) in [
        ("GET", format!("{leases}/otelhouse-leader")),
        ("PUT", format!("{leases}/otelhouse-leader")),
        ("PATCH", format!("{leases}/otelhouse-leader?fieldManager=x")),
        ("DELETE", format!("{leases}/otelhouse-leader")),
        (
            "GET",
            format!("{leases}?fieldSelector=metadata.name%3Dotelhouse-leader"),
        ),
        (
            "GET",
            format!("{leases}?watch=1&fieldSelector=metadata.name%3Dotelhouse-leader"),
        ),
    ] {
        assert!(allowed(&rbac, method, &url), "{method} {url}");
    }
    for (method, url) in [
        ("GET", format!("{leases}/other")),
        ("GET", leases.to_string()),
        ("GET", format!("{leases}?watch=true")),
        ("GET", format!("{leases}?fieldSelector=metadata.name%3Dother")),
        ("POST", leases.to_string()),
        ("DELETE", leases.to_string()),
        ("DELETE", format!("{leases}?fieldSelector=metadata.name%3Dotelhouse-leader")),
        // the deprecated /watch/ form of one object is named, of a collection not
        (
            "GET",
            "/apis/coordination.k8s.io/v1/watch/namespaces/op/leases?fieldSelector=metadata.name%3Dotelhouse-leader"
                .to_string(),
        ),
    ] {
        assert!(!allowed(&rbac, method, &url), "{method} {url}");
    }
    assert!(allowed(
        &rbac,
        "GET",
        "/apis/coordination.k8s.io/v1/watch/namespaces/op/leases/otelhouse-leader"
    ));
    let g = rbac
        .authorize(
            "op",
            "otelhouse",
            &req("GET", &format!("{leases}/otelhouse-leader")),
        )
        .unwrap();
    assert_eq!(g.resource_name, "otelhouse-leader");
}

#[test]
fn a_role_binding_to_a_cluster_role_is_limited_to_its_namespace() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "edit-deployments",
            vec![rule_json(&["get", "patch"], &["apps"], &["deployments"])],
        ),
        role_binding(
            "a",
            "b",
            "ClusterRole",
            "edit-deployments",
            vec![sa("op", "otelhouse")],
        ),
    ]);
    assert!(allowed(
        &rbac,
        "PATCH",
        "/apis/apps/v1/namespaces/a/deployments/d"
    ));
    assert!(!allowed(
        &rbac,
        "PATCH",
        "/apis/apps/v1/namespaces/b/deployments/d"
    ));
    // across all namespaces is cluster-wide: not granted by a RoleBinding
    assert!(!allowed(&rbac, "GET", "/apis/apps/v1/deployments"));
    let g = rbac
        .authorize(
            "op",
            "otelhouse",
            &req("GET", "/apis/apps/v1/namespaces/a/deployments/d"),
        )
        .unwrap();
    assert_eq!(
        g.binding,
        ObjectRef {
            kind: "RoleBinding".into(),
            namespace: "a".into(),
            name: "b".into()
        }
    );
    assert_eq!(
        g.role,
        ObjectRef {
            kind: "ClusterRole".into(),
            namespace: "".into(),
            name: "edit-deployments".into()
        }
    );
    assert_eq!(g.namespace(), "a");
}

#[test]
fn a_cluster_role_binding_applies_cluster_wide() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "r",
            vec![
                rule_json(
                    &["get", "list", "watch"],
                    &[""],
                    &["pods", "nodes", "namespaces"],
                ),
                rule_json(&["get"], &["rbac.authorization.k8s.io"], &["clusterroles"]),
            ],
        ),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
    ]);
    for url in [
        "/api/v1/namespaces/a/pods",
        "/api/v1/namespaces/b/pods/p",
        "/api/v1/pods?watch=true",
        "/api/v1/nodes",
        "/api/v1/nodes/n1",
        "/api/v1/namespaces",
        "/api/v1/namespaces/kube-system",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
    ] {
        assert!(allowed(&rbac, "GET", url), "{url}");
    }
}

/// A request without namespace (cluster-scoped resources, all-namespaces lists, non-resource
/// URLs) is only visited against ClusterRoleBindings. (`namespaces/<ns>` itself is in `<ns>`.)
#[test]
fn cluster_scoped_resources_are_not_grantable_by_a_role_binding() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "everything",
            vec![
                rule_json(&["*"], &["*"], &["*"]),
                json!({"verbs": ["*"], "nonResourceURLs": ["*"]}),
            ],
        ),
        role_binding(
            "a",
            "b",
            "ClusterRole",
            "everything",
            vec![sa("op", "otelhouse")],
        ),
    ]);
    for (method, url) in [
        ("GET", "/api/v1/nodes"),
        ("GET", "/api/v1/nodes/n1"),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
        ("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x"),
        ("GET", "/apis/otelhouse.dev/v1alpha1/agentclasses"),
        ("GET", "/api/v1/namespaces"),
        ("GET", "/api/v1/namespaces/b"),
        ("GET", "/api/v1/pods"),
        ("GET", "/version"),
    ] {
        assert!(!allowed(&rbac, method, url), "{method} {url}");
    }
    for (method, url) in [
        ("GET", "/api/v1/namespaces/a"),
        ("PUT", "/api/v1/namespaces/a/finalize"),
        ("DELETE", "/api/v1/namespaces/a/pods"),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles",
        ),
    ] {
        assert!(allowed(&rbac, method, url), "{method} {url}");
    }
}

#[test]
fn a_role_of_namespace_a_does_not_apply_in_b() {
    let read_secrets = vec![rule_json(&["get"], &[""], &["secrets"])];
    let rbac = Rbac::from_objects(&[
        role("a", "secrets", read_secrets.clone()),
        role_binding("a", "b", "Role", "secrets", vec![sa("op", "otelhouse")]),
        // a RoleBinding in b to Role "secrets": there is no such Role in b
        role_binding("b", "b", "Role", "secrets", vec![sa("op", "otelhouse")]),
    ]);
    assert!(allowed(&rbac, "GET", "/api/v1/namespaces/a/secrets/s"));
    assert!(!allowed(&rbac, "GET", "/api/v1/namespaces/b/secrets/s"));
    assert!(!allowed(&rbac, "GET", "/api/v1/secrets"));
    assert_eq!(
        rbac.dangling_role_refs(),
        vec!["RoleBinding \"b/b\" refers to missing Role \"secrets\"".to_string()]
    );
    // a ClusterRoleBinding cannot refer to a Role
    let rbac = Rbac::from_objects(&[
        role("a", "secrets", read_secrets),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "c"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secrets"},
               "subjects": [sa("op", "otelhouse")]}),
    ]);
    assert!(!allowed(&rbac, "GET", "/api/v1/namespaces/a/secrets/s"));
    assert_eq!(rbac.dangling_role_refs().len(), 1);
}

/// The groups of a ServiceAccount: `system:serviceaccounts`, `system:serviceaccounts:<ns>`,
/// `system:authenticated`.
#[test]
fn group_subjects() {
    let rbac = |group: &str| {
        Rbac::from_objects(&[
            cluster_role("r", vec![rule_json(&["get"], &[""], &["configmaps"])]),
            cluster_role_binding("b", "r", subjects(&[format!("Group:{group}").as_str()])),
        ])
    };
    let url = "/api/v1/namespaces/a/configmaps/c";
    for group in [
        "system:serviceaccounts",
        "system:serviceaccounts:op",
        "system:authenticated",
    ] {
        assert!(allowed(&rbac(group), "GET", url), "{group}");
    }
    for group in [
        "system:serviceaccounts:other",
        "system:unauthenticated",
        "system:serviceaccount:op:otelhouse", // a user name, not a group
        "system:masters",
    ] {
        assert!(!allowed(&rbac(group), "GET", url), "{group}");
    }
    // a user subject by the service account's user name
    let by_user = Rbac::from_objects(&[
        cluster_role("r", vec![rule_json(&["get"], &[""], &["configmaps"])]),
        cluster_role_binding(
            "b",
            "r",
            subjects(&["User:system:serviceaccount:op:otelhouse"]),
        ),
    ]);
    assert!(allowed(&by_user, "GET", url));
}

/// A ServiceAccount subject without namespace is of the RoleBinding's namespace; in a
/// ClusterRoleBinding it is nobody.
#[test]
fn a_service_account_subject_defaults_to_the_role_binding_namespace() {
    let r = cluster_role("r", vec![rule_json(&["get"], &[""], &["configmaps"])]);
    let no_ns = json!({"kind": "ServiceAccount", "name": "otelhouse"});
    let rb = Rbac::from_objects(&[
        r.clone(),
        role_binding("op", "b", "ClusterRole", "r", vec![no_ns.clone()]),
    ]);
    assert!(allowed(&rb, "GET", "/api/v1/namespaces/op/configmaps/c"));
    let rb_elsewhere = Rbac::from_objects(&[
        r.clone(),
        role_binding("a", "b", "ClusterRole", "r", vec![no_ns.clone()]),
    ]);
    assert!(!allowed(
        &rb_elsewhere,
        "GET",
        "/api/v1/namespaces/a/configmaps/c"
    ));
    assert!(
        rb_elsewhere
            .authorize(
                "a",
                "otelhouse",
                &req("GET", "/api/v1/namespaces/a/configmaps/c")
            )
            .is_some()
    );
    let crb = Rbac::from_objects(&[r, cluster_role_binding("b", "r", vec![no_ns])]);
    assert!(!allowed(&crb, "GET", "/api/v1/namespaces/op/configmaps/c"));
}

#[test]
fn non_resource_urls() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "r",
            vec![json!({"verbs": ["get"], "nonResourceURLs": ["/version", "/healthz", "/apis/*"]})],
        ),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
    ]);
    for url in [
        "/version",
        "/healthz",
        "/apis/",
        "/apis/otelhouse.dev/v1alpha1",
    ] {
        assert!(allowed(&rbac, "GET", url), "{url}");
    }
    for (method, url) in [
        ("GET", "/version/"),
        ("GET", "/apis"),
        ("GET", "/readyz"),
        ("POST", "/version"),
        ("HEAD", "/version"),
    ] {
        assert!(!allowed(&rbac, method, url), "{method} {url}");
    }
    let g = rbac
        .authorize("op", "otelhouse", &req("GET", "/apis/apps"))
        .unwrap();
    assert_eq!(
        (
            g.verb.as_str(),
            g.non_resource_url.as_str(),
            g.is_resource()
        ),
        ("get", "/apis/*", false)
    );
}

// ---------------------------------------------------------------------------------------------
// Grants, for least privilege
// ---------------------------------------------------------------------------------------------

#[test]
fn grants_break_rules_down_and_authorize_names_one_of_them() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "op",
            vec![
                rule_json(&["get", "list", "watch"], &[""], &["nodes"]),
                rule_json(
                    &["get", "patch", "update"],
                    &["apps"],
                    &["deployments", "deployments/scale"],
                ),
                json!({"verbs": ["get"], "nonResourceURLs": ["/version"]}),
            ],
        ),
        cluster_role_binding("op", "op", vec![sa("op", "otelhouse")]),
        role(
            "op",
            "leader",
            vec![
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["l1", "l2"], "verbs": ["get", "update"]}),
            ],
        ),
        role_binding(
            "op",
            "leader",
            "Role",
            "leader",
            vec![sa("op", "otelhouse")],
        ),
        // not the operator's
        cluster_role_binding("someone", "op", subjects(&["User:someone"])),
    ]);
    let grants = rbac.grants("op", "otelhouse");
    assert_eq!(grants.len(), 3 + 6 + 1 + 4, "{grants:#?}");
    assert!(grants.iter().all(|g| g.binding.name != "someone"));

    let requests: Vec<RequestInfo> = [
        ("GET", "/api/v1/nodes?watch=true"),
        ("GET", "/api/v1/nodes"),
        ("PATCH", "/apis/apps/v1/namespaces/a/deployments/gw"),
        ("PUT", "/apis/apps/v1/namespaces/a/deployments/gw/scale"),
        ("GET", "/version"),
        (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/op/leases/l1",
        ),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/op/leases/l1",
        ),
    ]
    .iter()
    .map(|(m, u)| req(m, u))
    .collect();
    for r in &requests {
        let g = rbac
            .authorize("op", "otelhouse", r)
            .unwrap_or_else(|| panic!("denied: {r}"));
        assert!(grants.contains(&g), "{g}");
        assert_eq!(rbac.authorize_all("op", "otelhouse", r), vec![g]);
    }

    let unused: Vec<String> = rbac
        .unused_grants("op", "otelhouse", &requests)
        .iter()
        .map(|g| {
            format!(
                "{} {} {}{}",
                g.role.name,
                g.rule_index,
                g.verb,
                if g.is_resource() {
                    format!(" {}/{}/{}", g.api_group, g.resource, g.resource_name)
                } else {
                    format!(" {}", g.non_resource_url)
                }
            )
        })
        .collect();
    assert_eq!(
        unused,
        [
            "op 0 get /nodes/",
            "op 1 get apps/deployments/",
            "op 1 update apps/deployments/",
            "op 1 get apps/deployments/scale/",
            "op 1 patch apps/deployments/scale/",
            "leader 0 get coordination.k8s.io/leases/l2",
            "leader 0 update coordination.k8s.io/leases/l2",
        ]
    );
}

/// With overlapping grants, `authorize` names the first (ClusterRoleBindings first, then
/// objects in order); `authorize_all` names them all.
#[test]
fn overlapping_grants() {
    let rbac = Rbac::from_objects(&[
        role("op", "narrow", vec![rule_json(&["get"], &[""], &["pods"])]),
        role_binding(
            "op",
            "narrow",
            "Role",
            "narrow",
            vec![sa("op", "otelhouse")],
        ),
        cluster_role("wide", vec![rule_json(&["*"], &["*"], &["*"])]),
        cluster_role_binding(
            "wide",
            "wide",
            subjects(&["Group:system:serviceaccounts:op"]),
        ),
    ]);
    let r = req("GET", "/api/v1/namespaces/op/pods/p");
    assert_eq!(
        rbac.authorize("op", "otelhouse", &r).unwrap().role.name,
        "wide"
    );
    let all: Vec<String> = rbac
        .authorize_all("op", "otelhouse", &r)
        .iter()
        .map(|g| g.role.name.clone())
        .collect();
    assert_eq!(all, ["wide", "narrow"]);
}

#[test]
fn grant_display() {
    let rbac = Rbac::from_objects(&[
        cluster_role(
            "x",
            vec![
                rule_json(&["get"], &[""], &["nodes"]),
                rule_json(&["update"], &["apps"], &["deployments"]),
                json!({"verbs": ["get"], "nonResourceURLs": ["/version"]}),
            ],
        ),
        cluster_role_binding("x", "x", vec![sa("op", "otelhouse")]),
        role(
            "op",
            "y",
            vec![
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["l"], "verbs": ["get"]}),
            ],
        ),
        role_binding("op", "y", "Role", "y", vec![sa("op", "otelhouse")]),
    ]);
    let shown: Vec<String> = rbac
        .grants("op", "otelhouse")
        .iter()
        .map(Grant::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            r#"rule 0 of ClusterRole "x" (bound by ClusterRoleBinding "x") grants "get" on "nodes" of apiGroup "", cluster-wide"#,
            r#"rule 1 of ClusterRole "x" (bound by ClusterRoleBinding "x") grants "update" on "deployments" of apiGroup "apps", cluster-wide"#,
            r#"rule 2 of ClusterRole "x" (bound by ClusterRoleBinding "x") grants "get" on nonResourceURL "/version""#,
            r#"rule 0 of Role "op/y" (bound by RoleBinding "op/y") grants "get" on "leases" of apiGroup "coordination.k8s.io" named "l", in namespace "op""#,
        ]
    );
    assert_eq!(
        req("PATCH", "/apis/apps/v1/namespaces/a/deployments/gw/scale").to_string(),
        r#""patch" resource "deployments.apps/scale" named "gw" in namespace "a""#
    );
}

// ---------------------------------------------------------------------------------------------
// Objects: aggregation, lists, default namespaces
// ---------------------------------------------------------------------------------------------

/// The clusterrole-aggregation controller: an aggregated ClusterRole's rules are those of the
/// ClusterRoles its selectors select (not its own, not its rendered ones), without duplicates.
#[test]
fn aggregated_cluster_roles() {
    let labelled = |name: &str, labels: Value, rules: Vec<Value>| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name, "labels": labels}, "rules": rules})
    };
    let rbac = Rbac::from_objects(&[
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "aggregate", "labels": {"agg": "true"}},
               "aggregationRule": {"clusterRoleSelectors": [
                   {"matchLabels": {"agg": "true"}},
                   {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["extra"]}]}]},
               "rules": [rule_json(&["delete"], &[""], &["pods"])]}),
        labelled(
            "b-part",
            json!({"agg": "true"}),
            vec![rule_json(&["get"], &[""], &["pods"])],
        ),
        labelled(
            "a-part",
            json!({"agg": "true"}),
            vec![
                rule_json(&["list"], &[""], &["pods"]),
                rule_json(&["get"], &[""], &["pods"]),
            ],
        ),
        labelled(
            "extra",
            json!({"tier": "extra"}),
            vec![rule_json(&["get"], &[""], &["nodes"])],
        ),
        labelled(
            "other",
            json!({"agg": "false"}),
            vec![rule_json(&["*"], &["*"], &["*"])],
        ),
        cluster_role_binding("b", "aggregate", vec![sa("op", "otelhouse")]),
    ]);
    let aggregate = ObjectRef {
        kind: "ClusterRole".into(),
        namespace: "".into(),
        name: "aggregate".into(),
    };
    assert_eq!(
        rbac.role_rules(&aggregate).unwrap(),
        [
            PolicyRule::resource("list", "", "pods"),
            PolicyRule::resource("get", "", "pods"),
            PolicyRule::resource("get", "", "nodes"),
        ]
    );
    assert!(allowed(&rbac, "GET", "/api/v1/namespaces/a/pods"));
    assert!(allowed(&rbac, "GET", "/api/v1/nodes/n"));
    assert!(!allowed(&rbac, "DELETE", "/api/v1/namespaces/a/pods/p"));
    assert!(!allowed(&rbac, "GET", "/api/v1/services"));
}

#[test]
fn objects_from_lists_other_kinds_and_default_namespaces() {
    let no_ns_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                            "metadata": {"name": "r"}, "rules": [rule_json(&["get"], &[""], &["secrets"])]});
    let no_ns_binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                               "metadata": {"name": "r"},
                               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                               "subjects": [{"kind": "ServiceAccount", "name": "otelhouse"}]});
    let objs = [
        json!({"apiVersion": "v1", "kind": "List", "items": [no_ns_role, no_ns_binding]}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "otelhouse", "namespace": "op"}}),
        json!({"apiVersion": "example.com/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "not-rbac"},
               "roleRef": {"kind": "ClusterRole", "name": "x"}, "subjects": [sa("op", "otelhouse")]}),
    ];
    let in_op = Rbac::from_objects_in(&objs, "op");
    assert!(allowed(&in_op, "GET", "/api/v1/namespaces/op/secrets/s"));
    assert!(in_op.dangling_role_refs().is_empty());
    let in_default = Rbac::from_objects(&objs);
    assert!(!allowed(
        &in_default,
        "GET",
        "/api/v1/namespaces/op/secrets/s"
    ));
    assert!(
        in_default
            .authorize(
                "default",
                "otelhouse",
                &req("GET", "/api/v1/namespaces/default/secrets/s")
            )
            .is_some()
    );

    // an object given twice is the later one
    let twice = Rbac::from_objects(&[
        cluster_role("r", vec![rule_json(&["get"], &[""], &["pods"])]),
        cluster_role("r", vec![rule_json(&["list"], &[""], &["pods"])]),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
    ]);
    assert!(allowed(&twice, "GET", "/api/v1/pods"));
    assert!(!allowed(&twice, "GET", "/api/v1/namespaces/a/pods/p"));
}

// ---------------------------------------------------------------------------------------------
// Escalation (policy_comparator_test.go)
// ---------------------------------------------------------------------------------------------

/// The `TestCovers*` cases of `policy_comparator_test.go`.
#[test]
fn covers_as_in_policy_comparator_test() {
    let r =
        |groups: &str, verbs: &str, resources: &str| PolicyRule::resource(verbs, groups, resources);
    let u = |verbs: &str, urls: &str| PolicyRule::non_resource(verbs, urls);
    /// case, owner rules, servant rules, the servant rules not covered
    type Case = (
        &'static str,
        Vec<PolicyRule>,
        Vec<PolicyRule>,
        Vec<PolicyRule>,
    );
    let cases: Vec<Case> = vec![
        (
            "ExactMatch",
            vec![r("v1", "get", "builds")],
            vec![r("v1", "get", "builds")],
            vec![],
        ),
        (
            "SubresourceWildcard",
            vec![r("v1", "get", "*/scale")],
            vec![r("v1", "get", "foo/scale")],
            vec![],
        ),
        (
            "MultipleRulesCoveringSingleRule",
            vec![
                r("v1", "delete", "deployments"),
                r("v1", "delete", "builds"),
                r("v1", "update", "builds,deployments"),
            ],
            vec![r("v1", "delete,update", "builds,deployments")],
            vec![],
        ),
        (
            "MultipleAPIGroupsCoveringSingleRule",
            vec![
                r("group1", "delete", "deployments"),
                r("group1", "delete", "builds"),
                r("group1", "update", "builds,deployments"),
                r("group2", "delete", "deployments"),
                r("group2", "delete", "builds"),
                r("group2", "update", "builds,deployments"),
            ],
            vec![r("group1,group2", "delete,update", "builds,deployments")],
            vec![],
        ),
        (
            "SingleAPIGroupsCoveringMultiple",
            vec![r("group1,group2", "delete,update", "builds,deployments")],
            vec![
                r("group1", "delete", "deployments"),
                r("group1", "delete", "builds"),
                r("group1", "update", "builds,deployments"),
                r("group2", "delete", "deployments"),
                r("group2", "delete", "builds"),
                r("group2", "update", "builds,deployments"),
            ],
            vec![],
        ),
        (
            "MultipleRulesMissingSingleVerbResourceCombination",
            vec![
                r("v1", "delete,update", "builds,deployments"),
                r("v1", "delete", "pods"),
            ],
            vec![r("v1", "delete,update", "builds,deployments,pods")],
            vec![r("v1", "update", "pods")],
        ),
        (
            "APIGroupStarCoveringMultiple",
            vec![r("*", "get", "roles")],
            vec![r("group1,group2", "get", "roles")],
            vec![],
        ),
        (
            "EnumerationNotCoveringAPIGroupStar",
            vec![r("dummy-group", "get", "roles")],
            vec![r("*", "get", "roles")],
            vec![r("*", "get", "roles")],
        ),
        (
            "APIGroupStarCoveringStar",
            vec![r("*", "get", "roles")],
            vec![r("*", "get", "roles")],
            vec![],
        ),
        (
            "VerbStarCoveringMultiple",
            vec![r("v1", "*", "roles")],
            vec![r("v1", "watch,list", "roles")],
            vec![],
        ),
        (
            "EnumerationNotCoveringVerbStar",
            vec![r("v1", "get,list,watch,create,update,delete,exec", "roles")],
            vec![r("v1", "*", "roles")],
            vec![r("v1", "*", "roles")],
        ),
        (
            "VerbStarCoveringStar",
            vec![r("v1", "*", "roles")],
            vec![r("v1", "*", "roles")],
            vec![],
        ),
        (
            "ResourceStarCoveringMultiple",
            vec![r("v1", "get", "*")],
            vec![r("v1", "get", "resourcegroup:deployments")],
            vec![],
        ),
        (
            "EnumerationNotCoveringResourceStar",
            vec![r("v1", "get", "roles,resourcegroup:deployments")],
            vec![r("v1", "get", "*")],
            vec![r("v1", "get", "*")],
        ),
        (
            "ResourceStarCoveringStar",
            vec![r("v1", "get", "*")],
            vec![r("v1", "get", "*")],
            vec![],
        ),
        (
            "ResourceNameEmptyCoveringMultiple",
            vec![r("v1", "get", "pods")],
            vec![r("v1", "get", "pods").names("foo,bar")],
            vec![],
        ),
        (
            "EnumerationNotCoveringResourceNameEmpty",
            vec![r("v1", "get", "pods").names("foo,bar")],
            vec![r("v1", "get", "pods")],
            vec![r("v1", "get", "pods")],
        ),
        (
            "NonResourceURLs",
            vec![u("*", "/apis")],
            vec![u("*", "/apis")],
            vec![],
        ),
        (
            "NonResourceURLsStar",
            vec![u("*", "*")],
            vec![u("*", "/apis,/apis/v1,/")],
            vec![],
        ),
        (
            "NonResourceURLsStarAfterPrefixDoesntCover",
            vec![u("*", "/apis/*")],
            vec![u("get", "/apis,/apis/v1")],
            vec![u("get", "/apis")],
        ),
        (
            "NonResourceURLsStarAfterPrefix",
            vec![u("*", "/apis/*")],
            vec![u("get", "/apis/v1/foo,/apis/v1")],
            vec![],
        ),
        (
            "NonResourceURLsWithOtherFields",
            vec![PolicyRule {
                non_resource_urls: vec!["/apis".into()],
                ..r("v1", "get", "builds")
            }],
            vec![PolicyRule {
                non_resource_urls: vec!["/apis".into()],
                ..r("v1", "get", "builds")
            }],
            vec![],
        ),
        (
            "NonResourceURLsWithOtherFieldsFailure",
            vec![r("v1", "get", "builds")],
            vec![PolicyRule {
                non_resource_urls: vec!["/apis".into()],
                ..r("v1", "get", "builds")
            }],
            vec![u("get", "/apis")],
        ),
    ];
    for (case, owner, servant, uncovered) in cases {
        let (covered, missing) = covers(&owner, &servant);
        assert_eq!(covered, uncovered.is_empty(), "{case}");
        assert_eq!(missing, uncovered, "{case}");
    }
}

/// `ConfirmNoEscalation`: the rules a ServiceAccount may grant are those it holds where it
/// grants them.
#[test]
fn escalation_check() {
    let rbac = Rbac::from_objects(&[
        cluster_role("r", vec![rule_json(&["get", "list"], &[""], &["pods"])]),
        cluster_role_binding("b", "r", vec![sa("op", "otelhouse")]),
        role(
            "a",
            "secrets",
            vec![rule_json(&["get"], &[""], &["secrets"])],
        ),
        role_binding(
            "a",
            "secrets",
            "Role",
            "secrets",
            vec![sa("op", "otelhouse")],
        ),
    ]);
    let get_pods = PolicyRule::resource("get", "", "pods");
    let get_secrets = PolicyRule::resource("get", "", "secrets");
    assert_eq!(
        rbac.escalation_check("op", "otelhouse", "", std::slice::from_ref(&get_pods)),
        Ok(())
    );
    assert_eq!(
        rbac.escalation_check(
            "op",
            "otelhouse",
            "a",
            &[get_pods.clone(), get_secrets.clone()]
        ),
        Ok(())
    );
    assert_eq!(
        rbac.escalation_check("op", "otelhouse", "b", &[get_pods, get_secrets.clone()]),
        Err(vec![get_secrets])
    );
    assert_eq!(
        rbac.escalation_check(
            "op",
            "otelhouse",
            "",
            &[PolicyRule::resource("get,delete", "", "pods")]
        ),
        Err(vec![PolicyRule::resource("delete", "", "pods")])
    );
}
