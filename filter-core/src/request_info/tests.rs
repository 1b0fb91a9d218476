//! Table-driven cases, each copying a behaviour of kube-apiserver's
//! `RequestInfoFactory.NewRequestInfo` (k8s.io/apiserver
//! pkg/endpoints/request/requestinfo.go, and its requestinfo_test.go
//! tables `TestGetAPIRequestInfo`, `TestGetNonAPIRequestInfo`,
//! `TestFieldSelectorParsing`). The comment on each case names the rule.

use super::*;

struct Case {
    method: &'static str,
    url: &'static str,
    upgrade: bool,
    /// verb, group, version, namespace, resource, subresource, name
    want: (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ),
    /// "copies": the Kubernetes rule or test case
    rule: &'static str,
}

const fn res(
    method: &'static str,
    url: &'static str,
    want: (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ),
    rule: &'static str,
) -> Case {
    Case {
        method,
        url,
        upgrade: false,
        want,
        rule,
    }
}

const fn up(
    method: &'static str,
    url: &'static str,
    want: (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ),
    rule: &'static str,
) -> Case {
    Case {
        method,
        url,
        upgrade: true,
        want,
        rule,
    }
}

#[rustfmt::skip]
const RESOURCE_CASES: &[Case] = &[
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces" → list namespaces (no name ⇒ get becomes list)
    res("GET", "/api/v1/namespaces", ("list", "", "v1", "", "namespaces", "", ""), "no name: get → list"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other" → get namespace other, namespace = other
    res("GET", "/api/v1/namespaces/other", ("get", "", "v1", "other", "namespaces", "", "other"), "namespaces/{ns} is the namespace object"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other/pods" → list pods in other
    res("GET", "/api/v1/namespaces/other/pods", ("list", "", "v1", "other", "pods", "", ""), "/namespaces/{ns}/{resource}"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other/pods/foo"
    res("GET", "/api/v1/namespaces/other/pods/foo", ("get", "", "v1", "other", "pods", "", "foo"), "/namespaces/{ns}/{resource}/{name}"),
    // TestGetAPIRequestInfo: "HEAD /api/v1/namespaces/other/pods/foo" → get
    res("HEAD", "/api/v1/namespaces/other/pods/foo", ("get", "", "v1", "other", "pods", "", "foo"), "HEAD maps to get"),
    // TestGetAPIRequestInfo: "GET /api/v1/pods" → list across namespaces (NamespaceAll)
    res("GET", "/api/v1/pods", ("list", "", "v1", "", "pods", "", ""), "cluster-wide list: NamespaceNone"),
    // TestGetAPIRequestInfo: "HEAD /api/v1/pods" → list
    res("HEAD", "/api/v1/pods", ("list", "", "v1", "", "pods", "", ""), "HEAD without name → list"),
    // TestGetAPIRequestInfo: "GET /api/v1/proxy/namespaces/other/pods/foo" → proxy verb
    res("GET", "/api/v1/proxy/namespaces/other/pods/foo", ("proxy", "", "v1", "other", "pods", "", "foo"), "specialVerbs: proxy"),
    // TestGetAPIRequestInfo: proxy with a sub path is not a subresource (specialVerbsNoSubresources)
    res("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", ("proxy", "", "v1", "other", "pods", "", "foo"), "specialVerbsNoSubresources: proxy"),
    // TestGetAPIRequestInfo: "GET /api/v1/watch/pods" → watch (legacy path verb)
    res("GET", "/api/v1/watch/pods", ("watch", "", "v1", "", "pods", "", ""), "specialVerbs: watch"),
    // TestGetAPIRequestInfo: "GET /api/v1/pods?watch=true" → watch
    res("GET", "/api/v1/pods?watch=true", ("watch", "", "v1", "", "pods", "", ""), "ListOptions.Watch"),
    // TestGetAPIRequestInfo: "GET /api/v1/pods?watch=false" → list
    res("GET", "/api/v1/pods?watch=false", ("list", "", "v1", "", "pods", "", ""), "watch=false is a list"),
    // TestGetAPIRequestInfo: "GET /api/v1/watch/namespaces/other/pods"
    res("GET", "/api/v1/watch/namespaces/other/pods", ("watch", "", "v1", "other", "pods", "", ""), "specialVerbs: watch with namespace"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other/pods?watch=1" → watch
    res("GET", "/api/v1/namespaces/other/pods?watch=1", ("watch", "", "v1", "other", "pods", "", ""), "watch=1 is true"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other/pods?watch=0" → list
    res("GET", "/api/v1/namespaces/other/pods?watch=0", ("list", "", "v1", "other", "pods", "", ""), "watch=0 is false"),
    // Convert_Slice_string_To_bool: any value but 0/false is true
    res("GET", "/api/v1/pods?watch=yes", ("watch", "", "v1", "", "pods", "", ""), "bool conversion: not 0/false ⇒ true"),
    // Convert_Slice_string_To_bool: case-insensitive "false"
    res("GET", "/api/v1/pods?watch=FALSE", ("list", "", "v1", "", "pods", "", ""), "bool conversion: FALSE"),
    // a watch query on a named get stays get (the list/watch rewrite needs an empty name)
    res("GET", "/api/v1/namespaces/other/pods/foo?watch=true", ("get", "", "v1", "other", "pods", "", "foo"), "only nameless gets become list/watch"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other/pods/foo/status" → subresource status
    res("GET", "/api/v1/namespaces/other/pods/foo/status", ("get", "", "v1", "other", "pods", "status", "foo"), "parts[2] is the subresource"),
    // TestGetAPIRequestInfo: "GET /api/v1/namespaces/other/pods/foo/proxy/subpath" → subresource proxy
    res("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", ("get", "", "v1", "other", "pods", "proxy", "foo"), "proxy subresource (not the proxy verb)"),
    // TestGetAPIRequestInfo: "PUT /api/v1/namespaces/other/finalize" → namespaces/finalize
    res("PUT", "/api/v1/namespaces/other/finalize", ("update", "", "v1", "other", "namespaces", "finalize", "other"), "namespaceSubresources: finalize"),
    // TestGetAPIRequestInfo: "PUT /api/v1/namespaces/other/status" → namespaces/status
    res("PUT", "/api/v1/namespaces/other/status", ("update", "", "v1", "other", "namespaces", "status", "other"), "namespaceSubresources: status"),
    // TestGetAPIRequestInfo: "PATCH /api/v1/namespaces/other/pods/foo" → patch
    res("PATCH", "/api/v1/namespaces/other/pods/foo", ("patch", "", "v1", "other", "pods", "", "foo"), "PATCH → patch"),
    // TestGetAPIRequestInfo: "DELETE /api/v1/namespaces/other/pods/foo" → delete
    res("DELETE", "/api/v1/namespaces/other/pods/foo", ("delete", "", "v1", "other", "pods", "", "foo"), "DELETE → delete"),
    // TestGetAPIRequestInfo: "POST /api/v1/namespaces/other/pods" → create
    res("POST", "/api/v1/namespaces/other/pods", ("create", "", "v1", "other", "pods", "", ""), "POST → create"),
    // PUT → update
    res("PUT", "/api/v1/namespaces/other/configmaps/cm", ("update", "", "v1", "other", "configmaps", "", "cm"), "PUT → update"),
    // TestGetAPIRequestInfo: "DELETE /api/v1/nodes" → deletecollection
    res("DELETE", "/api/v1/nodes", ("deletecollection", "", "v1", "", "nodes", "", ""), "nameless delete → deletecollection"),
    // TestGetAPIRequestInfo: "DELETE /api/v1/namespaces" → deletecollection
    res("DELETE", "/api/v1/namespaces", ("deletecollection", "", "v1", "", "namespaces", "", ""), "deletecollection of namespaces"),
    // TestGetAPIRequestInfo: "DELETE /api/v1/namespaces/other/pods" → deletecollection
    res("DELETE", "/api/v1/namespaces/other/pods", ("deletecollection", "", "v1", "other", "pods", "", ""), "namespaced deletecollection"),
    // TestGetAPIRequestInfo: "DELETE /apis/extensions/v1/namespaces/other/pods" → deletecollection in a group
    res("DELETE", "/apis/extensions/v1/namespaces/other/pods", ("deletecollection", "extensions", "v1", "other", "pods", "", ""), "group deletecollection"),
    // TestGetAPIRequestInfo: "POST /apis/extensions/v1/namespaces/other/pods" → API group
    res("POST", "/apis/extensions/v1/namespaces/other/pods", ("create", "extensions", "v1", "other", "pods", "", ""), "/apis/{group}/{version}"),
    // TestGetAPIRequestInfo: "POST /apis/extensions/v1beta3/namespaces/other/pods" → API version
    res("POST", "/apis/extensions/v1beta3/namespaces/other/pods", ("create", "extensions", "v1beta3", "other", "pods", "", ""), "API version"),
    // TestGetNonAPIRequestInfo "group list": /apis/batch/v1/job is a resource request
    res("GET", "/apis/batch/v1/job", ("list", "batch", "v1", "", "job", "", ""), "group list"),
    // TestGetNonAPIRequestInfo "group get"
    res("GET", "/apis/batch/v1/job/foo", ("get", "batch", "v1", "", "job", "", "foo"), "group get"),
    // TestGetNonAPIRequestInfo "group subresource"
    res("GET", "/apis/batch/v1/job/foo/scale", ("get", "batch", "v1", "", "job", "scale", "foo"), "group subresource"),
    // TestGetNonAPIRequestInfo "simple group": /apis/group/version/resource/name/subresource
    res("GET", "/apis/group/version/resource/name/subresource", ("get", "group", "version", "", "resource", "subresource", "name"), "simple group"),
    // TestGetNonAPIRequestInfo "more steps": /api/version/resource/name/subresource
    res("GET", "/api/version/resource/name/subresource", ("get", "", "version", "", "resource", "subresource", "name"), "more steps"),
    // TestGetNonAPIRequestInfo "simple groupless"
    res("GET", "/api/version/resource", ("list", "", "version", "", "resource", "", ""), "simple groupless"),
    // cluster-scoped object with a dotted group (CRD)
    res("GET", "/apis/example.com/v1/widgets/w1", ("get", "example.com", "v1", "", "widgets", "", "w1"), "cluster-scoped CRD get"),
    // namespaced deployment scale subresource
    res("PUT", "/apis/apps/v1/namespaces/prod/deployments/web/scale", ("update", "apps", "v1", "prod", "deployments", "scale", "web"), "group resource subresource"),
    // pods/log is a subresource read
    res("GET", "/api/v1/namespaces/ns/pods/p/log?follow=true", ("get", "", "v1", "ns", "pods", "log", "p"), "pods/log"),
    // a POST to pods/eviction
    res("POST", "/api/v1/namespaces/ns/pods/p/eviction", ("create", "", "v1", "ns", "pods", "eviction", "p"), "create subresource"),
    // trailing slashes are trimmed (splitPath: strings.Trim(path, "/"))
    res("GET", "/api/v1/namespaces/other/pods/", ("list", "", "v1", "other", "pods", "", ""), "splitPath trims slashes"),
    // Go's URL.Path is percent-decoded before splitting
    res("GET", "/api/v1/namespaces/a%2Fb/pods", ("get", "", "v1", "a", "b", "", "pods"), "URL.Path is decoded"),
    // unknown HTTP methods have no verb
    res("OPTIONS", "/api/v1/pods", ("", "", "v1", "", "pods", "", ""), "default: verb \"\""),
    // TestFieldSelectorParsing "metadata.name selector"
    res("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1", ("list", "group", "version", "", "resource", "", "name1"), "fieldSelector names the object"),
    // TestFieldSelectorParsing "metadata.name selector with watch"
    res("GET", "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", ("watch", "group", "version", "", "resource", "", "name1"), "watch + fieldSelector name"),
    // TestFieldSelectorParsing "random selector"
    res("GET", "/apis/group/version/resource?fieldSelector=foo=bar", ("list", "group", "version", "", "resource", "", ""), "other fields name nothing"),
    // TestFieldSelectorParsing "invalid selector with metadata.name"
    res("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", ("list", "group", "version", "", "resource", "", ""), "invalid selector names nothing"),
    // TestFieldSelectorParsing "invalid selector with metadata.name and watch"
    res("GET", "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1,foo", ("watch", "group", "version", "", "resource", "", ""), "invalid selector, watch kept"),
    // TestFieldSelectorParsing "selector on repeated param matches parsed param"
    res("GET", "/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar", ("list", "group", "version", "", "resource", "", "foo"), "first value wins"),
    // TestFieldSelectorParsing "selector on deletecollection is honored": verb stays deletecollection
    res("DELETE", "/apis/group/version/resource?fieldSelector=foo=bar", ("deletecollection", "group", "version", "", "resource", "", ""), "selectors on deletecollection"),
    // fieldSelector is form-encoded by clients (`=` as %3D)
    res("GET", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp1", ("list", "", "v1", "ns", "pods", "", "p1"), "query values are decoded"),
    // metadata.name==x is the same requirement (selection.DoubleEquals)
    res("GET", "/api/v1/pods?fieldSelector=metadata.name==p1", ("list", "", "v1", "", "pods", "", "p1"), "== operator"),
    // metadata.name!=x requires no exact match
    res("GET", "/api/v1/pods?fieldSelector=metadata.name!=p1", ("list", "", "v1", "", "pods", "", ""), "!= names nothing"),
    // path.IsValidPathSegmentName refuses "/" in names
    res("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%2Fb", ("list", "", "v1", "", "pods", "", ""), "IsValidPathSegmentName"),
    // KEP-4006 / AuthorizePodWebsocketUpgradeCreatePermission: WebSocket exec (GET + upgrade) is create
    up("GET", "/api/v1/namespaces/ns/pods/p/exec?command=ls&stdout=true", ("create", "", "v1", "ns", "pods", "exec", "p"), "websocket exec → create"),
    // same for attach
    up("GET", "/api/v1/namespaces/ns/pods/p/attach?stdout=true", ("create", "", "v1", "ns", "pods", "attach", "p"), "websocket attach → create"),
    // same for portforward
    up("GET", "/api/v1/namespaces/ns/pods/p/portforward?ports=80", ("create", "", "v1", "ns", "pods", "portforward", "p"), "websocket portforward → create"),
    // SPDY exec is a POST, already create
    up("POST", "/api/v1/namespaces/ns/pods/p/exec?command=ls", ("create", "", "v1", "ns", "pods", "exec", "p"), "SPDY exec: POST → create"),
    // without an upgrade, a GET on exec is what the RequestInfoFactory says: get
    res("GET", "/api/v1/namespaces/ns/pods/p/exec?command=ls", ("get", "", "v1", "ns", "pods", "exec", "p"), "plain GET stays get"),
    // the create check covers only exec/attach/portforward, not pods/proxy or logs
    up("GET", "/api/v1/namespaces/ns/pods/p/proxy/x", ("get", "", "v1", "ns", "pods", "proxy", "p"), "pods/proxy upgrade stays get"),
    up("GET", "/api/v1/namespaces/ns/pods/p/log", ("get", "", "v1", "ns", "pods", "log", "p"), "log upgrade stays get"),
    // paths longer than the parts parse() keeps (MAX_PARTS): the deepest
    // reading (apis, group, version, special verb, namespace) still sees
    // resource, name and subresource; what follows them changes nothing
    res("GET", "/apis/apps/v1/watch/namespaces/ns/deployments/web/scale/a/b/c/d", ("watch", "apps", "v1", "ns", "deployments", "scale", "web"), "long path, deepest reading"),
    res("GET", "/api/v1/proxy/namespaces/ns/pods/p/a/b/c/d/e/f", ("proxy", "", "v1", "ns", "pods", "", "p"), "long proxy path"),
    res("DELETE", "/api/v1/namespaces/ns/pods/p/x/y/z/w/v/u", ("delete", "", "v1", "ns", "pods", "x", "p"), "long path, plain reading"),
];

#[test]
fn resource_requests() {
    assert!(RESOURCE_CASES.len() >= 55, "{} cases", RESOURCE_CASES.len());
    for c in RESOURCE_CASES {
        let info = parse(c.method, c.url, c.upgrade)
            .unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.url));
        let got = (
            info.verb.as_str(),
            info.api_group.as_str(),
            info.api_version.as_str(),
            info.namespace.as_str(),
            info.resource.as_str(),
            info.subresource.as_str(),
            info.name.as_str(),
        );
        assert_eq!(got, c.want, "{} {} ({})", c.method, c.url, c.rule);
        assert!(info.is_resource_request, "{} ({})", c.url, c.rule);
        let prefix = if c.url.starts_with("/apis/") {
            "apis"
        } else {
            "api"
        };
        assert_eq!(info.api_prefix, prefix, "{}", c.url);
    }
}

/// (method, url, verb): requests that are not resource requests keep the
/// lower-case HTTP method as verb.
#[rustfmt::skip]
const NON_RESOURCE_CASES: &[(&str, &str, &str, &str)] = &[
    // TestGetNonAPIRequestInfo "bad root": only /api and /apis are API prefixes
    ("GET", "/not-api/version/resource", "get", "bad root"),
    // "group without enough steps": /apis needs four parts
    ("GET", "/apis/extensions/v1beta1", "get", "group without enough steps"),
    ("GET", "/apis/extensions/v1beta1/", "get", "group without enough steps 2"),
    // "not enough steps"
    ("GET", "/api/version", "get", "not enough steps"),
    // "one step"
    ("GET", "/api", "get", "one step"),
    // "zero step"
    ("GET", "/", "get", "zero step"),
    // "empty"
    ("GET", "", "get", "empty"),
    // kubectl version
    ("GET", "/version", "get", "/version"),
    ("GET", "/version?timeout=32s", "get", "query ignored"),
    // discovery
    ("GET", "/apis", "get", "/apis"),
    ("GET", "/apis/apps", "get", "/apis/{group}"),
    ("GET", "/apis/apps/v1", "get", "/apis/{group}/{version}"),
    ("GET", "/api/v1", "get", "/api/{version}"),
    ("GET", "/openapi/v3/apis/apps/v1", "get", "/openapi/..."),
    ("GET", "/healthz", "get", "/healthz"),
    ("POST", "/api", "post", "lower-case HTTP verb"),
    ("PUT", "/livez", "put", "lower-case HTTP verb"),
];

#[test]
fn non_resource_requests() {
    for (method, url, verb, rule) in NON_RESOURCE_CASES {
        let info = parse(method, url, false).unwrap();
        assert!(!info.is_resource_request, "{url} ({rule})");
        assert_eq!(info.verb, *verb, "{url} ({rule})");
        assert_eq!(info.path, url.split('?').next().unwrap(), "{url}");
        assert_eq!(info.resource, "", "{url}");
    }
}

#[test]
fn special_verb_without_kind_is_an_error() {
    // requestinfo.go: "unable to determine kind and namespace from url"
    for url in ["/api/v1/watch", "/api/v1/proxy", "/apis/apps/v1/watch"] {
        let err = parse("GET", url, false).unwrap_err();
        assert!(
            err.to_string().starts_with("unable to determine kind"),
            "{url}: {err}"
        );
    }
}

#[test]
fn total_case_count_is_at_least_fifty() {
    let total = RESOURCE_CASES.len() + NON_RESOURCE_CASES.len() + 3;
    assert!(total >= 50, "{total}");
}
