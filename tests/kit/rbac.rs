//! An RBAC evaluator for tests, transcribed from Kubernetes' own source (kubernetes/kubernetes).
//!
//! Given the HTTP requests a client sent (method, path, query string) and the RBAC objects a chart
//! renders, this answers what a real API server's RBAC authorizer would: is the request allowed,
//! and by which binding, role and rule. It also lists everything a subject is granted, broken down
//! the way the API server's escalation check breaks rules down, so that a test can report the
//! grants no request used.
//!
//! Sources, by function (paths in kubernetes/kubernetes):
//! - For [`request_info`]: `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`
//!   (`RequestInfoFactory.NewRequestInfo`, with the API server's prefixes `api`, `apis` and the
//!   groupless `api`), the `metadata.name` field selector of list/watch from
//!   `staging/src/k8s.io/apimachinery/pkg/fields/selector.go` (`ParseSelector`,
//!   `RequiresExactMatch`, `UnescapeValue`) and `.../api/validation/path/name.go`
//!   (`IsValidPathSegmentName`), and `watch` from `.../runtime/conversion.go`
//!   (`Convert_Slice_string_To_bool`).
//! - For [`rule_allows`]: `plugin/pkg/auth/authorizer/rbac/rbac.go` (`RuleAllows`) with
//!   `pkg/apis/rbac/v1/evaluation_helpers.go` (`VerbMatches`, `APIGroupMatches`,
//!   `ResourceMatches`, `ResourceNameMatches`, `NonResourceURLMatches`).
//! - For [`Rbac::authorize_user`]: `RBACAuthorizer.Authorize` over
//!   `pkg/registry/rbac/validation/rule.go` (`VisitRulesFor`, `GetRoleReferenceRules`,
//!   `appliesTo`, `appliesToUser`), with the service account user of
//!   `staging/src/k8s.io/apiserver/pkg/authentication/serviceaccount/util.go` (`MakeUsername`,
//!   `MakeGroupNames`, `MatchesUsername`) plus `system:authenticated`.
//! - For [`breakdown_rule`] and [`covers`]: `staging/src/k8s.io/component-helpers/auth/rbac/validation/
//!   policy_comparator.go` (`BreakdownRule`, `Covers`, `ruleCovers`); [`Rbac::escalation_check`]
//!   is `ConfirmNoEscalation` of `rule.go`.
//! - Aggregated ClusterRoles: `pkg/controller/clusterroleaggregation/
//!   clusterroleaggregation_controller.go` (`syncClusterRole`), with label selectors as
//!   `metav1.LabelSelectorAsSelector` reads them.
//! - For [`RequestInfo::create_on_update`]: `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
//!   patch.go` and `update.go` (`withAuthorization` of `createAuthorizerAttributes`).
//!
//! Approximations (each also noted where it applies):
//! - Bindings, roles and rules are visited in the order the objects were given; the API server's
//!   informer caches list them in no defined order, so with overlapping grants [`Rbac::authorize`]
//!   may name a different (equally allowing) grant than a live server's audit reason would.
//!   [`Rbac::authorize_all`] has no such dependence.
//! - Of the list options that, when they fail to decode, make the API server drop the name taken
//!   from `fieldSelector=metadata.name=...`, only `fieldSelector`, `limit` and `timeoutSeconds`
//!   are checked (an invalid `labelSelector` is not).
//! - Aggregation only sees the ClusterRoles given (not, say, the built-in `admin`/`edit`/`view`).
//! - Only RBAC: no other authorizer (Node, webhook), no admission, no `escalate`/`bind` verb
//!   short-cuts in [`Rbac::escalation_check`], no impersonation.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Request attributes (requestinfo.go)
// ---------------------------------------------------------------------------------------------

/// What the API server parses out of an HTTP request (`request.RequestInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether this is a request for an API resource or subresource (else a non-resource URL).
    pub is_resource_request: bool,
    /// The URL path (percent-decoded, as Go's `URL.Path`).
    pub path: String,
    /// The Kubernetes verb for resource requests (get, list, watch, create, update, patch,
    /// delete, deletecollection, proxy); the lower-case HTTP method for non-resource requests.
    pub verb: String,
    pub api_prefix: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The path parts, starting at `{resource}/{name}`.
    pub parts: Vec<String>,
    /// The unparsed `fieldSelector` of list, watch and deletecollection (not of the deprecated
    /// `/watch/` path form), as with the `AuthorizeWithSelectors` feature.
    pub field_selector: String,
    /// The unparsed `labelSelector`, likewise.
    pub label_selector: String,
    /// Set when the API server would fail the request before authorizing it
    /// (`NewRequestInfo` returned an error; the server answers 500).
    pub error: Option<String>,
}

const API_PREFIXES: &[&str] = &["api", "apis"];
const GROUPLESS_API_PREFIXES: &[&str] = &["api"];
/// `specialVerbs`: path segments used as verbs for actions that are not CRUD on objects.
const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
/// `specialVerbsNoSubresources`.
const SPECIAL_VERBS_NO_SUBRESOURCES: &[&str] = &["proxy"];
/// `namespaceSubresources`: tells a namespace's subresource from a namespaced resource.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];
/// `verbsWithSelectors`.
const VERBS_WITH_SELECTORS: &[&str] = &["list", "watch", "deletecollection"];

/// `RequestInfoFactory.NewRequestInfo` for a request `method path?query`.
///
/// `path` is the raw request path (percent-escapes are decoded, as Go's `URL.Path` is);
/// `query` the raw query string without `?`. A `path` that still holds `?query` is split when
/// `query` is empty.
pub fn request_info(method: &str, path: &str, query: &str) -> RequestInfo {
    let (raw_path, query) = match path.split_once('?') {
        Some((p, q)) if query.is_empty() => (p, q),
        Some((p, _)) => (p, query),
        None => (path, query),
    };
    let path = unescape(raw_path, false).unwrap_or_else(|| raw_path.to_string());
    let params = parse_query(query);
    let first = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };

    // start with a non-resource request until proven otherwise
    let mut info = RequestInfo {
        path: path.clone(),
        verb: method.to_lowercase(),
        ..RequestInfo::default()
    };

    let all_parts = split_path(&path);
    if all_parts.len() < 3 || !API_PREFIXES.contains(&all_parts[0]) {
        return info;
    }
    info.api_prefix = all_parts[0].to_string();
    let mut cur: &[&str] = &all_parts[1..];

    if !GROUPLESS_API_PREFIXES.contains(&info.api_prefix.as_str()) {
        // one part (the prefix) is consumed: "do we have four parts?"
        if cur.len() < 3 {
            return info;
        }
        info.api_group = cur[0].to_string();
        cur = &cur[1..];
    }

    info.is_resource_request = true;
    info.api_version = cur[0].to_string();
    cur = &cur[1..];

    // handle input of form /{specialVerb}/*
    let mut verb_via_path_prefix = false;
    if SPECIAL_VERBS.contains(&cur[0]) {
        if cur.len() < 2 {
            info.error = Some(format!(
                "unable to determine kind and namespace from url, {raw_path}"
            ));
            return info;
        }
        info.verb = cur[0].to_string();
        cur = &cur[1..];
        verb_via_path_prefix = true;
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
    }

    // URL forms: /namespaces/{namespace}/{kind}/*, where parts are adjusted to be relative to kind
    if cur[0] == "namespaces" && cur.len() > 1 {
        info.namespace = cur[1].to_string();
        // another step after the namespace name that is not a namespace subresource is a
        // namespaced resource in its own right
        if cur.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&cur[2]) {
            cur = &cur[2..];
        }
    }

    info.parts = cur.iter().map(|s| s.to_string()).collect();
    // parts look like: resource/resourceName/subresource/other/stuff/we/don't/interpret
    if cur.len() >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.contains(&info.verb.as_str()) {
        info.subresource = cur[2].to_string();
    }
    if cur.len() >= 2 {
        info.name = cur[1].to_string();
    }
    if !cur.is_empty() {
        info.resource = cur[0].to_string();
    }

    // no name and a get: the verb is list or watch
    if info.name.is_empty() && info.verb == "get" {
        // any value of `watch` but "0" and "false" (case-insensitively) is true
        let watch = first("watch").is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")));
        info.verb = if watch { "watch" } else { "list" }.to_string();
        // a list or watch of one object by `fieldSelector=metadata.name=X` is named X, if the
        // list options decode (else the server keeps no name)
        if list_options_decode(&params)
            && let Some(selector) = first("fieldSelector")
            && let Ok(terms) = parse_field_selector(selector)
            && let Some(name) = requires_exact_match(&terms, "metadata.name")
            && is_valid_path_segment_name(&name)
        {
            info.name = name;
        }
    }
    // no name and a delete: deletecollection
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_string();
    }

    // AuthorizeWithSelectors (on by default since 1.32): not for the deprecated /watch/ form
    if !verb_via_path_prefix && VERBS_WITH_SELECTORS.contains(&info.verb.as_str()) {
        info.field_selector = first("fieldSelector").unwrap_or_default().to_string();
        info.label_selector = first("labelSelector").unwrap_or_default().to_string();
    }

    info
}

impl RequestInfo {
    /// A resource request's attributes, for tests that write attributes rather than URLs.
    pub fn resource(verb: &str, api_group: &str, resource: &str) -> RequestInfo {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        RequestInfo {
            is_resource_request: true,
            verb: verb.to_string(),
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.to_string(),
            ..RequestInfo::default()
        }
    }

    /// A non-resource request's attributes.
    pub fn non_resource(verb: &str, path: &str) -> RequestInfo {
        RequestInfo {
            verb: verb.to_string(),
            path: path.to_string(),
            ..RequestInfo::default()
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> RequestInfo {
        self.namespace = namespace.to_string();
        self
    }

    pub fn named(mut self, name: &str) -> RequestInfo {
        self.name = name.to_string();
        self
    }

    /// The second authorization a PUT (`update`) or PATCH (`patch`, server-side apply included)
    /// needs when it creates the object rather than changing one: the API server's update and
    /// patch handlers then authorize `create` with the same attributes, name included
    /// (`handlers/patch.go`, `handlers/update.go`: `withAuthorization(...,
    /// createAuthorizerAttributes)`). Only the server knows whether the object existed: check
    /// this when the (mock) server answered 201 Created.
    pub fn create_on_update(&self) -> Option<RequestInfo> {
        if !self.is_resource_request || !(self.verb == "update" || self.verb == "patch") {
            return None;
        }
        Some(RequestInfo {
            verb: "create".to_string(),
            ..self.clone()
        })
    }
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_resource_request {
            return write!(f, "{:?} nonResourceURL {:?}", self.verb, self.path);
        }
        // as the RBAC authorizer logs a denial
        write!(f, "{:?} resource \"{}", self.verb, self.resource)?;
        if !self.api_group.is_empty() {
            write!(f, ".{}", self.api_group)?;
        }
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        f.write_str("\"")?;
        if !self.name.is_empty() {
            write!(f, " named {:?}", self.name)?;
        }
        if self.namespace.is_empty() {
            f.write_str(" cluster-wide")
        } else {
            write!(f, " in namespace {:?}", self.namespace)
        }
    }
}

/// `splitPath`.
fn split_path(path: &str) -> Vec<&str> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/').collect()
}

/// Go's `url.ParseQuery` (pairs in order; a pair with `;` or a bad escape is dropped).
fn parse_query(query: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pair in query.split('&') {
        if pair.contains(';') || pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(k), Some(v)) = (unescape(k, true), unescape(v, true)) {
            out.push((k, v));
        }
    }
    out
}

/// Percent-decoding (`url.PathUnescape`, or `url.QueryUnescape` with `+` as a space).
fn unescape(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Whether `metainternalversionscheme.ParameterCodec.DecodeParameters` would decode these
/// query parameters into `ListOptions` (approximated: the field selector and the integers).
fn list_options_decode(params: &[(String, String)]) -> bool {
    let first = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    if let Some(s) = first("fieldSelector")
        && parse_field_selector(s).is_err()
    {
        return false;
    }
    ["limit", "timeoutSeconds"]
        .iter()
        .all(|key| first(key).is_none_or(|v| v.parse::<i64>().is_ok()))
}

/// A field selector term: `field=value`/`field==value` (`true`) or `field!=value` (`false`).
type FieldTerm = (String, bool, String);

/// `fields.ParseSelector`: comma-separated terms (backslash escapes `\`, `,`, `=` in values),
/// sorted.
fn parse_field_selector(selector: &str) -> Result<Vec<FieldTerm>, String> {
    // splitTerms
    let mut parts = Vec::new();
    if !selector.is_empty() {
        let mut start = 0;
        let mut in_slash = false;
        for (i, c) in selector.char_indices() {
            if in_slash {
                in_slash = false;
            } else if c == '\\' {
                in_slash = true;
            } else if c == ',' {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
        }
        parts.push(&selector[start..]);
    }
    parts.sort();
    let mut terms = Vec::new();
    for part in parts {
        if part.is_empty() {
            continue;
        }
        // splitTerm: the first occurrence of an operator, "!=" and "==" before "="
        let split = part.char_indices().find_map(|(i, _)| {
            ["!=", "==", "="]
                .iter()
                .find(|op| part[i..].starts_with(**op))
                .map(|op| (&part[..i], *op, &part[i + op.len()..]))
        });
        let Some((lhs, op, rhs)) = split else {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{part}'"
            ));
        };
        terms.push((lhs.to_string(), op != "!=", unescape_field_value(rhs)?));
    }
    Ok(terms)
}

/// `fields.UnescapeValue`.
fn unescape_field_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(format!("invalid escape sequence: \\{c}")),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(format!("unescaped character in value: {c}")),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// `Selector.RequiresExactMatch`: the value of the first (sorted) `field=value` term.
fn requires_exact_match(terms: &[FieldTerm], field: &str) -> Option<String> {
    terms
        .iter()
        .find(|(f, equals, _)| *equals && f == field)
        .map(|(_, _, v)| v.clone())
}

/// `path.IsValidPathSegmentName`.
fn is_valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

// ---------------------------------------------------------------------------------------------
// Rules (evaluation_helpers.go, rbac.go)
// ---------------------------------------------------------------------------------------------

/// An `rbac.authorization.k8s.io/v1` `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A rule from its JSON form (`verbs`, `apiGroups`, `resources`, `resourceNames`,
    /// `nonResourceURLs`; absent lists are empty).
    pub fn from_json(v: &Value) -> PolicyRule {
        PolicyRule {
            verbs: strings(&v["verbs"]),
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            resource_names: strings(&v["resourceNames"]),
            non_resource_urls: strings(&v["nonResourceURLs"]),
        }
    }

    /// A resource rule, from comma-separated lists (like `newRule` of `rbac_test.go`).
    pub fn resource(verbs: &str, api_groups: &str, resources: &str) -> PolicyRule {
        PolicyRule {
            verbs: split_list(verbs),
            api_groups: split_list(api_groups),
            resources: split_list(resources),
            ..PolicyRule::default()
        }
    }

    /// A non-resource rule, from comma-separated lists.
    pub fn non_resource(verbs: &str, urls: &str) -> PolicyRule {
        PolicyRule {
            verbs: split_list(verbs),
            non_resource_urls: split_list(urls),
            ..PolicyRule::default()
        }
    }

    pub fn names(mut self, names: &str) -> PolicyRule {
        self.resource_names = split_list(names);
        self
    }
}

impl fmt::Display for PolicyRule {
    /// `CompactString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (label, list) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !list.is_empty() {
                parts.push(format!("{label}:{list:?}"));
            }
        }
        write!(f, "{{{}}}", parts.join(", "))
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const VERB_ALL: &str = "*";
const API_GROUP_ALL: &str = "*";
const RESOURCE_ALL: &str = "*";
const NON_RESOURCE_ALL: &str = "*";

/// `VerbMatches`, answering with the rule's entry that matched.
fn verb_matches<'a>(rule: &'a PolicyRule, requested: &str) -> Option<&'a str> {
    rule.verbs
        .iter()
        .map(String::as_str)
        .find(|v| *v == VERB_ALL || *v == requested)
}

/// `APIGroupMatches`.
fn api_group_matches<'a>(rule: &'a PolicyRule, requested: &str) -> Option<&'a str> {
    rule.api_groups
        .iter()
        .map(String::as_str)
        .find(|g| *g == API_GROUP_ALL || *g == requested)
}

/// `ResourceMatches`: `*`, the exact `resource[/subresource]`, or `*/subresource`.
fn resource_matches<'a>(
    rule: &'a PolicyRule,
    combined_requested_resource: &str,
    requested_subresource: &str,
) -> Option<&'a str> {
    rule.resources.iter().map(String::as_str).find(|r| {
        *r == RESOURCE_ALL
            || *r == combined_requested_resource
            || (!requested_subresource.is_empty()
                && r.len() == requested_subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(requested_subresource))
    })
}

/// `ResourceNameMatches`: a rule without resourceNames matches any name (`""` here); one with
/// them matches only those names, so never a request without a name (list, watch, create,
/// deletecollection) unless a field selector named the object.
fn resource_name_matches<'a>(rule: &'a PolicyRule, requested: &str) -> Option<&'a str> {
    if rule.resource_names.is_empty() {
        return Some("");
    }
    rule.resource_names
        .iter()
        .map(String::as_str)
        .find(|n| *n == requested)
}

/// `NonResourceURLMatches`: `*`, the exact path, or a prefix ending in `*`.
fn non_resource_url_matches<'a>(rule: &'a PolicyRule, requested: &str) -> Option<&'a str> {
    rule.non_resource_urls.iter().map(String::as_str).find(|u| {
        *u == NON_RESOURCE_ALL
            || *u == requested
            || (u.ends_with('*') && requested.starts_with(u.trim_end_matches('*')))
    })
}

/// The entries of a rule that allowed a request: one verb, and one apiGroup, resource and
/// resourceName (`""` when the rule has none) or one nonResourceURL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Match {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub resource_name: String,
    pub non_resource_url: String,
}

/// `RuleAllows`: whether the rule allows the request, and by which of its entries.
pub fn rule_allows(req: &RequestInfo, rule: &PolicyRule) -> Option<Match> {
    if req.is_resource_request {
        let combined = if req.subresource.is_empty() {
            req.resource.clone()
        } else {
            format!("{}/{}", req.resource, req.subresource)
        };
        return Some(Match {
            verb: verb_matches(rule, &req.verb)?.to_string(),
            api_group: api_group_matches(rule, &req.api_group)?.to_string(),
            resource: resource_matches(rule, &combined, &req.subresource)?.to_string(),
            resource_name: resource_name_matches(rule, &req.name)?.to_string(),
            non_resource_url: String::new(),
        });
    }
    Some(Match {
        verb: verb_matches(rule, &req.verb)?.to_string(),
        non_resource_url: non_resource_url_matches(rule, &req.path)?.to_string(),
        ..Match::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Escalation (policy_comparator.go)
// ---------------------------------------------------------------------------------------------

/// `BreakdownRule`: one rule per (apiGroup, resource, verb[, resourceName]) and per
/// (nonResourceURL, verb), in that order.
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let one = |names: Vec<String>| PolicyRule {
                    api_groups: vec![group.clone()],
                    resources: vec![resource.clone()],
                    verbs: vec![verb.clone()],
                    resource_names: names,
                    non_resource_urls: Vec::new(),
                };
                if rule.resource_names.is_empty() {
                    out.push(one(Vec::new()));
                } else {
                    for name in &rule.resource_names {
                        out.push(one(vec![name.clone()]));
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                non_resource_urls: vec![url.clone()],
                verbs: vec![verb.clone()],
                ..PolicyRule::default()
            });
        }
    }
    out
}

/// `Covers`: whether `owner` rules cover the `servant` rules, and the broken-down servant rules
/// they do not cover.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let uncovered: Vec<PolicyRule> = servant
        .iter()
        .flat_map(breakdown_rule)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    (uncovered.is_empty(), uncovered)
}

fn has(set: &[String], ele: &str) -> bool {
    set.iter().any(|s| s == ele)
}

fn has_all(set: &[String], contains: &[String]) -> bool {
    contains.iter().all(|c| has(set, c))
}

fn resource_covers_all(set: &[String], covered: &[String]) -> bool {
    if has(set, RESOURCE_ALL) || has_all(set, covered) {
        return true;
    }
    covered.iter().all(|path| {
        has(set, path)
            || path
                .split_once('/')
                .is_some_and(|(_, sub)| has(set, &format!("*/{sub}")))
    })
}

fn non_resource_url_covers(owner: &str, sub: &str) -> bool {
    owner == sub || (owner.ends_with('*') && sub.starts_with(owner.trim_end_matches('*')))
}

/// `ruleCovers`.
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, VERB_ALL) || has_all(&owner.verbs, &sub.verbs);
    let groups =
        has(&owner.api_groups, API_GROUP_ALL) || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = sub.non_resource_urls.iter().all(|path| {
        owner
            .non_resource_urls
            .iter()
            .any(|o| non_resource_url_covers(o, path))
    });
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

// ---------------------------------------------------------------------------------------------
// Users, roles, bindings (rule.go)
// ---------------------------------------------------------------------------------------------

/// An authenticated user: a name and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn new(name: &str, groups: &[&str]) -> User {
        User {
            name: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// The user a ServiceAccount token authenticates as: `system:serviceaccount:<ns>:<name>`,
    /// in `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> User {
        User {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_string(),
            ],
        }
    }
}

/// An object by kind, namespace (`""` when cluster-scoped) and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {:?}", self.kind, self.name)
        } else {
            write!(f, "{} \"{}/{}\"", self.kind, self.namespace, self.name)
        }
    }
}

/// A binding subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub api_group: String,
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Clone)]
struct RoleObj {
    id: ObjectRef,
    labels: BTreeMap<String, String>,
    rules: Vec<PolicyRule>,
    /// `aggregationRule.clusterRoleSelectors` of a ClusterRole.
    aggregation: Option<Vec<Value>>,
}

#[derive(Debug, Clone)]
struct BindingObj {
    id: ObjectRef,
    role_ref: ObjectRef,
    subjects: Vec<Subject>,
}

/// One thing a subject is granted, or the grant that allowed a request: the binding, the role
/// and the index of its rule, and one entry of each of the rule's lists (`*` when the rule says
/// so), as [`breakdown_rule`] splits rules. `resource_name` is `""` for a rule without
/// resourceNames; for a non-resource grant, `non_resource_url` is set and `api_group`,
/// `resource` and `resource_name` are `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    pub binding: ObjectRef,
    pub role: ObjectRef,
    pub rule_index: usize,
    pub verb: String,
    pub api_group: String,
    /// `resource` or `resource/subresource`, as written in the rule (`*`, `*/scale` too).
    pub resource: String,
    pub resource_name: String,
    pub non_resource_url: String,
}

impl Grant {
    /// Where the grant applies: the RoleBinding's namespace, or `""` (everywhere, and to
    /// cluster-scoped resources) for a ClusterRoleBinding.
    pub fn namespace(&self) -> &str {
        &self.binding.namespace
    }

    pub fn is_resource(&self) -> bool {
        self.non_resource_url.is_empty()
    }
}

impl fmt::Display for Grant {
    /// For example: `rule 3 of ClusterRole "x" (bound by ClusterRoleBinding "x") grants "update"
    /// on "deployments" of apiGroup "apps", cluster-wide`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} of {} (bound by {}) grants {:?} on ",
            self.rule_index, self.role, self.binding, self.verb
        )?;
        if !self.is_resource() {
            return write!(f, "nonResourceURL {:?}", self.non_resource_url);
        }
        write!(f, "{:?} of apiGroup {:?}", self.resource, self.api_group)?;
        if !self.resource_name.is_empty() {
            write!(f, " named {:?}", self.resource_name)?;
        }
        if self.binding.namespace.is_empty() {
            f.write_str(", cluster-wide")
        } else {
            write!(f, ", in namespace {:?}", self.binding.namespace)
        }
    }
}

/// The RBAC objects of a cluster (or of a chart's rendering): Roles, ClusterRoles,
/// RoleBindings, ClusterRoleBindings.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    roles: Vec<RoleObj>,
    bindings: Vec<BindingObj>,
}

const ROLE: &str = "Role";
const CLUSTER_ROLE: &str = "ClusterRole";
const ROLE_BINDING: &str = "RoleBinding";
const CLUSTER_ROLE_BINDING: &str = "ClusterRoleBinding";

impl Rbac {
    /// From rendered objects (`serde_json::Value`s); other kinds (and kinds of other API
    /// groups) are ignored, `kind: List` objects are read through their `items`. A namespaced object without
    /// `metadata.namespace` is in `default` (as `kubectl apply` without `-n` puts it): use
    /// [`Rbac::from_objects_in`] for a release namespace.
    pub fn from_objects(objs: &[Value]) -> Rbac {
        Rbac::from_objects_in(objs, "default")
    }

    /// From rendered objects, a namespaced object without `metadata.namespace` being in
    /// `default_namespace` (as `helm install -n` puts it). An object given twice (same kind,
    /// namespace and name) is the later one. ClusterRoles with an `aggregationRule` get the
    /// rules the aggregation controller would give them from the other ClusterRoles given.
    pub fn from_objects_in(objs: &[Value], default_namespace: &str) -> Rbac {
        let mut rbac = Rbac::default();
        for obj in objs {
            rbac.add(obj, default_namespace);
        }
        rbac.aggregate();
        rbac
    }

    fn add(&mut self, obj: &Value, default_namespace: &str) {
        let kind = obj["kind"].as_str().unwrap_or_default();
        if kind.ends_with("List")
            && let Some(items) = obj["items"].as_array()
        {
            for item in items {
                self.add(item, default_namespace);
            }
            return;
        }
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        if !(api_version.is_empty() || api_version.starts_with("rbac.authorization.k8s.io/")) {
            return;
        }
        let meta = &obj["metadata"];
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let namespaced = kind == ROLE || kind == ROLE_BINDING;
        let namespace = match meta["namespace"].as_str() {
            Some(ns) if namespaced && !ns.is_empty() => ns.to_string(),
            _ if namespaced => default_namespace.to_string(),
            _ => String::new(),
        };
        let id = ObjectRef {
            kind: kind.to_string(),
            namespace,
            name,
        };
        match kind {
            ROLE | CLUSTER_ROLE => {
                let role = RoleObj {
                    labels: meta["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                                .collect()
                        })
                        .unwrap_or_default(),
                    rules: obj["rules"]
                        .as_array()
                        .map(|a| a.iter().map(PolicyRule::from_json).collect())
                        .unwrap_or_default(),
                    aggregation: (kind == CLUSTER_ROLE)
                        .then(|| obj["aggregationRule"]["clusterRoleSelectors"].as_array())
                        .flatten()
                        .cloned(),
                    id,
                };
                match self.roles.iter_mut().find(|r| r.id == role.id) {
                    Some(old) => *old = role,
                    None => self.roles.push(role),
                }
            }
            ROLE_BINDING | CLUSTER_ROLE_BINDING => {
                let rr = &obj["roleRef"];
                let binding = BindingObj {
                    role_ref: ObjectRef {
                        kind: rr["kind"].as_str().unwrap_or_default().to_string(),
                        namespace: String::new(),
                        name: rr["name"].as_str().unwrap_or_default().to_string(),
                    },
                    subjects: obj["subjects"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|s| Subject {
                                    kind: s["kind"].as_str().unwrap_or_default().to_string(),
                                    api_group: s["apiGroup"]
                                        .as_str()
                                        .unwrap_or_default()
                                        .to_string(),
                                    name: s["name"].as_str().unwrap_or_default().to_string(),
                                    namespace: s["namespace"]
                                        .as_str()
                                        .unwrap_or_default()
                                        .to_string(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    id,
                };
                match self.bindings.iter_mut().find(|b| b.id == binding.id) {
                    Some(old) => *old = binding,
                    None => self.bindings.push(binding),
                }
            }
            _ => {}
        }
    }

    /// The clusterrole-aggregation controller's `syncClusterRole`, run until nothing changes:
    /// an aggregated ClusterRole's rules become, per selector, the rules of the other
    /// ClusterRoles it selects (by name), without duplicates. A selector that does not parse
    /// leaves the role's rules as rendered.
    fn aggregate(&mut self) {
        for _ in 0..=self.roles.len() {
            let mut changed = false;
            for i in 0..self.roles.len() {
                let Some(selectors) = self.roles[i].aggregation.clone() else {
                    continue;
                };
                let Some(selectors) = selectors
                    .iter()
                    .map(LabelSelector::parse)
                    .collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                let mut rules: Vec<PolicyRule> = Vec::new();
                for selector in &selectors {
                    let mut selected: Vec<&RoleObj> = self
                        .roles
                        .iter()
                        .filter(|r| r.id.kind == CLUSTER_ROLE && selector.matches(&r.labels))
                        .collect();
                    selected.sort_by(|a, b| a.id.name.cmp(&b.id.name));
                    for role in selected {
                        if role.id.name == self.roles[i].id.name {
                            continue;
                        }
                        for rule in &role.rules {
                            if !rules.contains(rule) {
                                rules.push(rule.clone());
                            }
                        }
                    }
                }
                if rules != self.roles[i].rules {
                    self.roles[i].rules = rules;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// The rules of a ClusterRole or Role, after aggregation.
    pub fn role_rules(&self, role: &ObjectRef) -> Option<&[PolicyRule]> {
        self.roles
            .iter()
            .find(|r| r.id == *role)
            .map(|r| r.rules.as_slice())
    }

    /// `GetRoleReferenceRules`: a `Role` of the binding's namespace (none for a
    /// ClusterRoleBinding), or a `ClusterRole`; any other kind resolves to nothing.
    fn role_for(&self, role_ref: &ObjectRef, binding_namespace: &str) -> Option<&RoleObj> {
        let wanted = match role_ref.kind.as_str() {
            ROLE if !binding_namespace.is_empty() => binding_namespace,
            CLUSTER_ROLE => "",
            _ => return None,
        };
        self.roles.iter().find(|r| {
            r.id.kind == role_ref.kind && r.id.namespace == wanted && r.id.name == role_ref.name
        })
    }

    /// `VisitRulesFor`: every rule that applies to `user` in `namespace` (`""`: cluster-scoped
    /// and all-namespaces requests), ClusterRoleBindings first, then the RoleBindings of
    /// `namespace`; the visitor returns `false` to stop.
    fn visit_rules_for(
        &self,
        user: &User,
        namespace: &str,
        mut visit: impl FnMut(&BindingObj, &RoleObj, usize, &PolicyRule) -> bool,
    ) {
        let passes = [(CLUSTER_ROLE_BINDING, ""), (ROLE_BINDING, namespace)];
        for (kind, ns) in passes {
            if kind == ROLE_BINDING && namespace.is_empty() {
                break;
            }
            for binding in &self.bindings {
                if binding.id.kind != kind || binding.id.namespace != ns {
                    continue;
                }
                if !applies_to(user, &binding.subjects, ns) {
                    continue;
                }
                let Some(role) = self.role_for(&binding.role_ref, ns) else {
                    continue;
                };
                for (i, rule) in role.rules.iter().enumerate() {
                    if !visit(binding, role, i, rule) {
                        return;
                    }
                }
            }
        }
    }

    /// `RulesFor`: the rules that apply to `user` in `namespace`.
    pub fn rules_for(&self, user: &User, namespace: &str) -> Vec<PolicyRule> {
        let mut rules = Vec::new();
        self.visit_rules_for(user, namespace, |_, _, _, rule| {
            rules.push(rule.clone());
            true
        });
        rules
    }

    /// `RBACAuthorizer.Authorize`: the first grant (in visiting order) that allows the request,
    /// or `None` (RBAC has no opinion: denied, unless another authorizer allows it).
    pub fn authorize_user(&self, user: &User, req: &RequestInfo) -> Option<Grant> {
        self.grants_allowing(user, req, true).into_iter().next()
    }

    /// Every grant that allows the request (no short-circuit).
    pub fn authorize_user_all(&self, user: &User, req: &RequestInfo) -> Vec<Grant> {
        self.grants_allowing(user, req, false)
    }

    fn grants_allowing(&self, user: &User, req: &RequestInfo, first_only: bool) -> Vec<Grant> {
        let mut out = Vec::new();
        if req.error.is_some() {
            return out;
        }
        self.visit_rules_for(user, &req.namespace, |binding, role, i, rule| {
            if let Some(m) = rule_allows(req, rule) {
                out.push(grant(binding, role, i, m));
                return !first_only;
            }
            true
        });
        out
    }

    /// The grant that allows the request for the ServiceAccount `sa_namespace/sa_name`, or
    /// `None` (denied).
    pub fn authorize(&self, sa_namespace: &str, sa_name: &str, req: &RequestInfo) -> Option<Grant> {
        self.authorize_user(&User::service_account(sa_namespace, sa_name), req)
    }

    /// Every grant that allows the request for the ServiceAccount.
    pub fn authorize_all(
        &self,
        sa_namespace: &str,
        sa_name: &str,
        req: &RequestInfo,
    ) -> Vec<Grant> {
        self.authorize_user_all(&User::service_account(sa_namespace, sa_name), req)
    }

    /// Everything `user` is granted, in every namespace: per binding that applies to the user
    /// (each RoleBinding in its own namespace), per rule of its role, per [`breakdown_rule`]
    /// entry. A grant that allows a request ([`Rbac::authorize_user`]) is one of these.
    pub fn grants_for_user(&self, user: &User) -> Vec<Grant> {
        let mut out = Vec::new();
        for binding in &self.bindings {
            let ns = match binding.id.kind.as_str() {
                CLUSTER_ROLE_BINDING => "",
                ROLE_BINDING => binding.id.namespace.as_str(),
                _ => continue,
            };
            if !applies_to(user, &binding.subjects, ns) {
                continue;
            }
            let Some(role) = self.role_for(&binding.role_ref, ns) else {
                continue;
            };
            for (i, rule) in role.rules.iter().enumerate() {
                for sub in breakdown_rule(rule) {
                    let first = |v: &[String]| v.first().cloned().unwrap_or_default();
                    let m = Match {
                        verb: first(&sub.verbs),
                        api_group: first(&sub.api_groups),
                        resource: first(&sub.resources),
                        resource_name: first(&sub.resource_names),
                        non_resource_url: first(&sub.non_resource_urls),
                    };
                    out.push(grant(binding, role, i, m));
                }
            }
        }
        out
    }

    /// Everything the ServiceAccount `sa_namespace/sa_name` is granted.
    pub fn grants(&self, sa_namespace: &str, sa_name: &str) -> Vec<Grant> {
        self.grants_for_user(&User::service_account(sa_namespace, sa_name))
    }

    /// The ServiceAccount's grants that allow none of `requests` (by [`Rbac::authorize_all`]:
    /// a grant is used when it allows some request, even if another grant allows it too).
    pub fn unused_grants(
        &self,
        sa_namespace: &str,
        sa_name: &str,
        requests: &[RequestInfo],
    ) -> Vec<Grant> {
        let used: BTreeSet<Grant> = requests
            .iter()
            .flat_map(|r| self.authorize_all(sa_namespace, sa_name, r))
            .collect();
        self.grants(sa_namespace, sa_name)
            .into_iter()
            .filter(|g| !used.contains(g))
            .collect()
    }

    /// The bindings whose roleRef resolves to no role given (the API server ignores them).
    pub fn dangling_role_refs(&self) -> Vec<String> {
        self.bindings
            .iter()
            .filter_map(|b| {
                let ns = if b.id.kind == ROLE_BINDING {
                    b.id.namespace.as_str()
                } else {
                    ""
                };
                self.role_for(&b.role_ref, ns)
                    .is_none()
                    .then(|| format!("{} refers to missing {}", b.id, b.role_ref))
            })
            .collect()
    }

    /// `ConfirmNoEscalation`: whether the ServiceAccount, in `namespace` (`""` for a
    /// ClusterRole), holds every permission of `rules` (so may put them in a Role or
    /// ClusterRole, or bind them), else the broken-down rules it lacks. Not modelled: the
    /// `escalate` and `bind` verbs, which let the API server skip this check.
    pub fn escalation_check(
        &self,
        sa_namespace: &str,
        sa_name: &str,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), Vec<PolicyRule>> {
        let owner = self.rules_for(&User::service_account(sa_namespace, sa_name), namespace);
        match covers(&owner, rules) {
            (true, _) => Ok(()),
            (false, missing) => Err(missing),
        }
    }
}

fn grant(binding: &BindingObj, role: &RoleObj, rule_index: usize, m: Match) -> Grant {
    Grant {
        binding: binding.id.clone(),
        role: role.id.clone(),
        rule_index,
        verb: m.verb,
        api_group: m.api_group,
        resource: m.resource,
        resource_name: m.resource_name,
        non_resource_url: m.non_resource_url,
    }
}

/// `appliesTo`: whether any subject is the user (`namespace`: the RoleBinding's, `""` for a
/// ClusterRoleBinding).
fn applies_to(user: &User, subjects: &[Subject], namespace: &str) -> bool {
    subjects.iter().any(|s| applies_to_user(user, s, namespace))
}

/// `appliesToUser`: a User by name, a Group by membership, a ServiceAccount by
/// `system:serviceaccount:<ns>:<name>`, its namespace defaulting to the RoleBinding's (a
/// ServiceAccount subject without namespace in a ClusterRoleBinding is nobody). The subject's
/// apiGroup is not checked.
fn applies_to_user(user: &User, subject: &Subject, namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let sa_namespace = if subject.namespace.is_empty() {
                namespace
            } else {
                &subject.namespace
            };
            !sa_namespace.is_empty()
                && user.name == format!("system:serviceaccount:{sa_namespace}:{}", subject.name)
        }
        _ => false,
    }
}

/// A `metav1.LabelSelector` as `LabelSelectorAsSelector` reads it.
struct LabelSelector {
    /// `None`: a null selector, which selects nothing.
    requirements: Option<Vec<(String, String, Vec<String>)>>,
}

impl LabelSelector {
    /// `None` when the selector is invalid (an unknown operator, values where none belong or
    /// none where some must be).
    fn parse(v: &Value) -> Option<LabelSelector> {
        if v.is_null() {
            return Some(LabelSelector { requirements: None });
        }
        let mut reqs = Vec::new();
        if let Some(m) = v["matchLabels"].as_object() {
            for (k, val) in m {
                reqs.push((k.clone(), "In".to_string(), vec![val.as_str()?.to_string()]));
            }
        }
        if let Some(exprs) = v["matchExpressions"].as_array() {
            for e in exprs {
                let op = e["operator"].as_str()?.to_string();
                let values = strings(&e["values"]);
                match op.as_str() {
                    "In" | "NotIn" if values.is_empty() => return None,
                    "Exists" | "DoesNotExist" if !values.is_empty() => return None,
                    "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                    _ => return None,
                }
                reqs.push((e["key"].as_str()?.to_string(), op, values));
            }
        }
        Some(LabelSelector {
            requirements: Some(reqs),
        })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let Some(reqs) = &self.requirements else {
            return false;
        };
        reqs.iter().all(|(key, op, values)| {
            let value = labels.get(key);
            match op.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                _ => value.is_none(),
            }
        })
    }
}
