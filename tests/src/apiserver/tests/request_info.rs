use crate::apiserver::query::Query;
use crate::apiserver::request_info::RequestInfo;

fn parse(method: &str, uri: &str) -> RequestInfo {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    RequestInfo::parse(method, path, &Query::parse(query))
}

#[test]
fn resource_paths() {
    let i = parse("GET", "/api/v1/namespaces/default/configmaps/x");
    assert!(i.is_resource);
    assert_eq!(
        (
            i.verb.as_str(),
            i.api_group.as_str(),
            i.api_version.as_str()
        ),
        ("get", "", "v1")
    );
    assert_eq!(
        (i.namespace.as_str(), i.resource.as_str(), i.name.as_str()),
        ("default", "configmaps", "x")
    );
    let i = parse("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale");
    assert_eq!(
        (
            i.api_group.as_str(),
            i.resource.as_str(),
            i.subresource.as_str()
        ),
        ("apps", "deployments", "scale")
    );
    let i = parse("GET", "/api/v1/namespaces/ns");
    assert_eq!(
        (i.resource.as_str(), i.name.as_str(), i.namespace.as_str()),
        ("namespaces", "ns", "ns")
    );
    let i = parse("PUT", "/api/v1/namespaces/ns/finalize");
    assert_eq!(
        (i.verb.as_str(), i.resource.as_str(), i.subresource.as_str()),
        ("update", "namespaces", "finalize")
    );
    let i = parse("DELETE", "/api/v1/namespaces/ns/pods");
    assert_eq!(i.verb, "deletecollection");
    let i = parse("GET", "/api/v1/pods");
    assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("list", ""));
}

#[test]
fn watch_verbs_and_field_selector_names() {
    assert_eq!(
        parse("GET", "/api/v1/namespaces/d/configmaps?watch=true").verb,
        "watch"
    );
    assert_eq!(
        parse("GET", "/api/v1/namespaces/d/configmaps?watch=1").verb,
        "watch"
    );
    assert_eq!(
        parse("GET", "/api/v1/namespaces/d/configmaps?watch=false").verb,
        "list"
    );
    let i = parse("GET", "/api/v1/watch/namespaces/d/configmaps/x");
    assert_eq!(
        (i.verb.as_str(), i.resource.as_str(), i.name.as_str()),
        ("watch", "configmaps", "x")
    );
    let i = parse(
        "GET",
        "/api/v1/namespaces/d/configmaps?fieldSelector=metadata.name%3Dx&watch=true",
    );
    assert_eq!((i.verb.as_str(), i.name.as_str()), ("watch", "x"));
}

#[test]
fn non_resource_paths() {
    for p in [
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps/v1",
        "/version",
        "/openapi/v3/api/v1",
    ] {
        assert!(
            !parse("GET", p).is_resource || p.starts_with("/openapi"),
            "{p}"
        );
    }
    let i = parse("GET", "/version");
    assert_eq!((i.is_resource, i.verb.as_str()), (false, "get"));
}
