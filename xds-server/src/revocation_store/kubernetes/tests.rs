//! The store's logic without an API server: decoding the ConfigMap, the
//! read-modify-write against an in-memory object that enforces
//! `resourceVersion` like the API server (and lets a rival writer in
//! between a read and a write), ordering by `resourceVersion`, backoff.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::Status;

use super::object::{self, ConfigMapApi, ObjectRef};
use super::watch::Backoff;
use super::*;

fn object_ref() -> ObjectRef {
    ObjectRef {
        namespace: "kubeplex".into(),
        name: "kubeplex-revocations".into(),
    }
}

fn revoked(jti: &str) -> Revocation {
    Revocation {
        jti: jti.to_string(),
        reason: Some(format!("{jti} left")),
        expires_at: None,
        revoked_at: Some(1_700_000_000),
    }
}

fn config_map(data: &[(&str, &str)], resource_version: &str) -> ConfigMap {
    let mut cm = object::encode(&object_ref(), None, &[]);
    cm.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    );
    cm.metadata.resource_version = Some(resource_version.to_string());
    cm
}

fn api_error(code: u16, reason: &str) -> kube::Error {
    kube::Error::Api(
        Status::failure(&format!("the server says {reason}"), reason)
            .with_code(code)
            .boxed(),
    )
}

/// An object in memory, with the API server's rules for writes: a create
/// of an existing object and an update at a stale `resourceVersion` are
/// 409s. `rival_writes` other writers each add their own entry right
/// after our next reads; `fail_with` answers every call with an error.
#[derive(Default)]
struct FakeApi {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    object: Option<ConfigMap>,
    version: u64,
    rival_writes: u32,
    fail_with: Option<(u16, &'static str)>,
    calls: Vec<&'static str>,
}

impl FakeState {
    fn store(&mut self, mut cm: ConfigMap) -> ConfigMap {
        self.version += 1;
        cm.metadata.resource_version = Some(self.version.to_string());
        self.object = Some(cm.clone());
        cm
    }

    fn rival_write(&mut self) {
        let n = self.rival_writes;
        self.rival_writes -= 1;
        let mut list = object::decode(&object_ref(), self.object.as_ref()).unwrap();
        list.push(revoked(&format!("rival-{n}")));
        let cm = object::encode(&object_ref(), self.object.clone(), &list);
        self.store(cm);
    }

    fn failure(&mut self, call: &'static str) -> Result<(), kube::Error> {
        self.calls.push(call);
        match self.fail_with {
            Some((code, reason)) => Err(api_error(code, reason)),
            None => Ok(()),
        }
    }
}

impl ConfigMapApi for FakeApi {
    async fn get(&self) -> Result<Option<ConfigMap>, kube::Error> {
        let mut s = self.state.lock().unwrap();
        s.failure("get")?;
        let read = s.object.clone();
        if s.rival_writes > 0 {
            s.rival_write();
        }
        Ok(read)
    }

    async fn create(&self, cm: &ConfigMap) -> Result<ConfigMap, kube::Error> {
        let mut s = self.state.lock().unwrap();
        s.failure("create")?;
        if s.object.is_some() {
            return Err(api_error(409, "AlreadyExists"));
        }
        Ok(s.store(cm.clone()))
    }

    async fn replace(&self, cm: &ConfigMap) -> Result<ConfigMap, kube::Error> {
        let mut s = self.state.lock().unwrap();
        s.failure("replace")?;
        let current = s
            .object
            .as_ref()
            .and_then(|o| o.metadata.resource_version.clone());
        if cm.metadata.resource_version != current {
            return Err(api_error(409, "Conflict"));
        }
        Ok(s.store(cm.clone()))
    }
}

impl FakeApi {
    fn with(object: Option<ConfigMap>) -> FakeApi {
        let api = FakeApi::default();
        if let Some(cm) = object {
            api.state.lock().unwrap().store(cm);
        }
        api
    }

    fn stored(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        object::decode(&object_ref(), s.object.as_ref())
            .unwrap()
            .into_iter()
            .map(|r| r.jti)
            .collect()
    }

    fn calls(&self) -> Vec<&'static str> {
        self.state.lock().unwrap().calls.clone()
    }
}

#[test]
fn a_missing_object_key_or_data_is_an_empty_list() {
    let o = object_ref();
    assert_eq!(object::decode(&o, None).unwrap(), vec![]);
    let mut no_data = config_map(&[], "1");
    no_data.data = None;
    assert_eq!(object::decode(&o, Some(&no_data)).unwrap(), vec![]);
    let cm = config_map(&[(DATA_KEY, "revoked:\n- jti: a\n  reason: lost\n")], "1");
    let list = object::decode(&o, Some(&cm)).unwrap();
    assert_eq!(
        (list[0].jti.as_str(), list[0].reason.as_deref()),
        ("a", Some("lost"))
    );
}

#[test]
fn a_broken_list_or_a_stray_key_is_an_error_naming_the_object() {
    let o = object_ref();
    let cm = config_map(&[(DATA_KEY, "revoked:\n- jti: a\n- jti: a\n")], "1");
    let err = object::decode(&o, Some(&cm)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmap/kubeplex/kubeplex-revocations/revoked.yaml:3: revoked[1].jti: duplicate jti `a` (also revoked[0])"
    );
    let cm = config_map(&[("revoked.yml", "revoked: []\n")], "1");
    let err = object::decode(&o, Some(&cm)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmap/kubeplex/kubeplex-revocations/revoked.yaml: data.revoked.yml: unknown key; the list is the key revoked.yaml"
    );
}

#[test]
fn encoding_keeps_the_object_it_read_and_round_trips() {
    let read = config_map(&[(DATA_KEY, "revoked: []\n")], "41");
    let cm = object::encode(&object_ref(), Some(read), &[revoked("a")]);
    assert_eq!(cm.metadata.resource_version.as_deref(), Some("41"));
    assert_eq!(
        object::decode(&object_ref(), Some(&cm)).unwrap(),
        vec![revoked("a")]
    );
    let new = object::encode(&object_ref(), None, &[]);
    assert_eq!(
        (
            new.metadata.name.as_deref(),
            new.metadata.namespace.as_deref()
        ),
        (Some("kubeplex-revocations"), Some("kubeplex"))
    );
}

#[tokio::test]
async fn the_first_revocation_creates_the_object() {
    let api = FakeApi::with(None);
    let written = object::add(&api, &object_ref(), &revoked("a"), 0)
        .await
        .unwrap();
    assert!(written.added);
    assert_eq!(written.resource_version.as_deref(), Some("1"));
    assert_eq!(api.stored(), ["a"]);
    assert_eq!(api.calls(), ["get", "create"]);
}

#[tokio::test]
async fn a_conflict_rereads_and_keeps_the_rivals_entries() {
    let api = FakeApi::with(Some(config_map(&[(DATA_KEY, "revoked: []\n")], "0")));
    api.state.lock().unwrap().rival_writes = 2;
    let written = object::add(&api, &object_ref(), &revoked("ours"), 0)
        .await
        .unwrap();
    assert_eq!(written.conflicts, 2);
    assert_eq!(api.stored(), ["rival-2", "rival-1", "ours"]);
    assert_eq!(
        written
            .list
            .iter()
            .map(|r| r.jti.as_str())
            .collect::<Vec<_>>(),
        ["rival-2", "rival-1", "ours"]
    );
    assert_eq!(
        api.calls(),
        ["get", "replace", "get", "replace", "get", "replace"]
    );
}

#[tokio::test]
async fn a_create_that_loses_the_race_updates_the_rivals_object() {
    let api = FakeApi::with(None);
    api.state.lock().unwrap().rival_writes = 1;
    let written = object::add(&api, &object_ref(), &revoked("ours"), 0)
        .await
        .unwrap();
    assert_eq!(written.conflicts, 1);
    assert_eq!(api.stored(), ["rival-1", "ours"]);
    assert_eq!(api.calls(), ["get", "create", "get", "replace"]);
}

#[tokio::test]
async fn endless_conflicts_give_up_after_the_bound() {
    let api = FakeApi::with(Some(config_map(&[], "0")));
    api.state.lock().unwrap().rival_writes = u32::MAX;
    let err = object::add(&api, &object_ref(), &revoked("ours"), 0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, KubernetesError::Conflicts { attempts, .. } if attempts == MAX_ATTEMPTS),
        "{err:?}"
    );
    assert_eq!(
        api.calls().iter().filter(|c| **c == "replace").count(),
        MAX_ATTEMPTS as usize
    );
    assert!(!api.stored().contains(&"ours".to_string()));
}

#[tokio::test]
async fn a_listed_token_a_broken_list_and_a_refusal_write_nothing() {
    let api = FakeApi::with(Some(config_map(&[(DATA_KEY, "revoked:\n- jti: a\n")], "0")));
    let written = object::add(&api, &object_ref(), &revoked("a"), 0)
        .await
        .unwrap();
    assert!(!written.added);
    assert_eq!(api.calls(), ["get"]);

    let broken = FakeApi::with(Some(config_map(&[(DATA_KEY, "revoked: 3\n")], "0")));
    let err = object::add(&broken, &object_ref(), &revoked("b"), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, KubernetesError::Decode(_)), "{err:?}");
    assert_eq!(broken.calls(), ["get"]);

    let forbidden = FakeApi::with(None);
    forbidden.state.lock().unwrap().fail_with = Some((403, "Forbidden"));
    let err = object::add(&forbidden, &object_ref(), &revoked("b"), 0)
        .await
        .unwrap_err();
    assert_eq!(
        crate::error_chain::error_chain(&err),
        "cannot read configmap kubeplex/kubeplex-revocations: 403 Forbidden: the server says Forbidden"
    );
}

#[test]
fn a_watch_event_older_than_our_write_does_not_replace_it() {
    assert!(is_newer(Some("12"), Some("11")));
    assert!(is_newer(Some("12"), Some("12")));
    assert!(!is_newer(Some("11"), Some("12")));
    assert!(is_newer(Some("11"), None));
    assert!(is_newer(None, Some("12")), "deleted: no version");
    assert!(is_newer(Some("opaque"), Some("12")));
}

#[test]
fn backoff_doubles_to_a_ceiling_with_jitter_and_resets() {
    let mut b = Backoff::default();
    let pauses: Vec<Duration> = (0..8).map(|_| b.next()).collect();
    let ceilings = [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000];
    for (pause, ceiling) in pauses.iter().zip(ceilings) {
        let ceiling = Duration::from_millis(ceiling);
        assert!(
            *pause <= ceiling && *pause >= ceiling * 3 / 4,
            "{pause:?} vs {ceiling:?}"
        );
    }
    b.reset();
    assert!(b.next() <= Duration::from_millis(500));
}
