use http_body_util::BodyExt;

use super::*;
use crate::apiserver::query::Query;

fn info(method: &str, uri: &str) -> RequestInfo {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    RequestInfo::parse(method, path, &Query::parse(query))
}

fn alice() -> UserInfo {
    UserInfo::authenticated("alice", &["dev".to_string()])
}

const LIST: (&str, &str) = ("GET", "/api/v1/namespaces/default/configmaps");
const CREATE: (&str, &str) = ("POST", "/api/v1/namespaces/default/configmaps");

#[test]
fn a_full_pool_answers_upstreams_429_and_a_freed_slot_admits_again() {
    let limits = MaxInFlight::new(InFlightLimits {
        non_mutating: 2,
        mutating: 1,
    });
    let list = info(LIST.0, LIST.1);
    let held = limits.occupy(Pool::NonMutating, 1).unwrap();
    let serving = limits.admit(&list, &alice()).unwrap();
    assert!(serving.is_some(), "the second slot is free");
    let refused = limits.admit(&list, &alice()).unwrap_err().response();
    assert_eq!(refused.status(), 429);
    let headers = refused.headers();
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let body = futures::executor::block_on(refused.into_body().collect())
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"Too many requests, please try again later.\n");
    // The mutating pool is separate.
    assert!(limits.admit(&info(CREATE.0, CREATE.1), &alice()).is_ok());
    drop(serving);
    assert!(limits.admit(&list, &alice()).is_ok());
    drop(held);
}

#[test]
fn long_running_requests_and_system_masters_are_never_refused() {
    let limits = MaxInFlight::new(InFlightLimits {
        non_mutating: 1,
        mutating: 1,
    });
    let _reads = limits.occupy(Pool::NonMutating, 1).unwrap();
    let _writes = limits.occupy(Pool::Mutating, 1).unwrap();
    for (method, uri) in [
        ("GET", "/api/v1/namespaces/default/configmaps?watch=true"),
        ("GET", "/api/v1/namespaces/default/pods/p/log"),
        ("POST", "/api/v1/namespaces/default/pods/p/exec?command=sh"),
        ("POST", "/api/v1/namespaces/default/pods/p/portforward"),
        ("GET", "/api/v1/namespaces/default/pods/p/attach"),
    ] {
        let admitted = limits.admit(&info(method, uri), &alice());
        assert!(
            matches!(admitted, Ok(None)),
            "{method} {uri} is long-running"
        );
    }
    let admin = UserInfo::authenticated("root", &["system:masters".to_string()]);
    assert!(matches!(
        limits.admit(&info(LIST.0, LIST.1), &admin),
        Ok(None)
    ));
    assert!(limits.admit(&info(LIST.0, LIST.1), &alice()).is_err());
    assert!(limits.admit(&info(CREATE.0, CREATE.1), &alice()).is_err());
}

#[test]
fn a_zero_limit_is_no_limit() {
    let limits = MaxInFlight::new(InFlightLimits {
        non_mutating: 0,
        mutating: 0,
    });
    assert!(limits.occupy(Pool::NonMutating, 1).is_none());
    for _ in 0..3 {
        assert!(matches!(
            limits.admit(&info(CREATE.0, CREATE.1), &alice()),
            Ok(None)
        ));
    }
}
