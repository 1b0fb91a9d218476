use std::path::Path;
use std::sync::Arc;

use kubeplex_tests::config_server::{ConfigServer, etag_of};

use super::*;
use crate::control_plane::{ControlPlane, KubeconfigSource, Settings};
use crate::translate::Options;

const TOKEN: &str = "kubeconfig-server-token";

/// A kubeconfig with one context per name, all data inline.
fn kubeconfig(contexts: &[&str]) -> String {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for c in contexts {
        text += &format!("- name: {c}\n  cluster: {{server: 'https://127.0.0.1:6443'}}\n");
    }
    text += "users:\n- name: gw\n  user: {token: upstream}\ncontexts:\n";
    for c in contexts {
        text += &format!("- name: {c}\n  context: {{cluster: {c}, user: gw}}\n");
    }
    text
}

fn settings(server: &ConfigServer, dir: &Path) -> RemoteSettings {
    let ca_file = dir.join("server-ca.pem");
    std::fs::write(&ca_file, server.ca_pem()).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    RemoteSettings {
        url: server.url(),
        ca_file: Some(ca_file),
        token_file: Some(token_file),
        interval: DEFAULT_INTERVAL,
        allow_http: false,
    }
}

fn contexts(loaded: &LoadedKubeconfig) -> Vec<&str> {
    loaded.clusters.iter().map(|c| c.context.as_str()).collect()
}

#[tokio::test]
async fn conditional_fetches_keep_the_last_good_through_errors() {
    let dir = tempfile::tempdir().unwrap();
    let first = kubeconfig(&["a"]);
    let server = ConfigServer::start("/clusters.yaml", &first).await.unwrap();
    let remote = RemoteKubeconfig::new(settings(&server, dir.path())).unwrap();

    assert!(remote.poll().await, "the first body is a change");
    let loaded = remote.current().unwrap();
    assert_eq!(contexts(&loaded), ["a"]);
    let asked = server.asked();
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Bearer kubeconfig-server-token")
    );
    assert_eq!(asked[0].if_none_match, None);

    assert!(!remote.poll().await, "304: nothing changed");
    let asked = server.asked();
    assert_eq!(asked[1].status, 304);
    assert_eq!(asked[1].if_none_match, Some(etag_of(&first)));
    assert!(asked[1].if_modified_since.is_some(), "{asked:?}");
    assert!(
        Arc::ptr_eq(&loaded, &remote.current().unwrap()),
        "not parsed again"
    );

    server.set_failing(Some(500));
    assert!(remote.poll().await, "a failure is news");
    let error = remote.current().unwrap_err().to_string();
    assert!(
        error.contains("cannot fetch") && error.contains("HTTP 500"),
        "{error}"
    );
    assert!(error.starts_with(&server.url()), "names the URL: {error}");
    assert!(!error.contains(TOKEN), "{error}");
    assert!(!remote.poll().await, "the same failure again is not news");

    server.set_failing(None);
    assert!(remote.poll().await, "recovery (a 304) is news");
    assert!(Arc::ptr_eq(&loaded, &remote.current().unwrap()));

    server.set_body(&kubeconfig(&["a", "b"]));
    assert!(remote.poll().await);
    assert_eq!(contexts(&remote.current().unwrap()), ["a", "b"]);
    assert_eq!(
        remote.counts(),
        PollCounts {
            new_bodies: 2,
            unchanged: 2,
            failures: 2
        }
    );
}

/// A polled kubeconfig goes through the file's piecewise loader: a 304
/// parses nothing, a changed body only its changed clusters, users and
/// contexts, with the same result and the same errors as a whole parse.
#[tokio::test]
async fn a_changed_body_parses_only_what_changed_and_a_304_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = ConfigServer::start("/clusters.yaml", &kubeconfig(&["a", "b", "c"]))
        .await
        .unwrap();
    let remote = RemoteKubeconfig::new(settings(&server, dir.path())).unwrap();
    assert!(remote.poll().await);
    assert_eq!(remote.pieces_parsed(), 7, "3 clusters, 1 user, 3 contexts");

    assert!(!remote.poll().await);
    assert_eq!(server.asked()[1].status, 304);
    assert_eq!(remote.pieces_parsed(), 7, "a 304 parses nothing");

    let four = kubeconfig(&["a", "b", "c", "d"]);
    server.set_body(&four);
    assert!(remote.poll().await, "a changed body is a change");
    assert_eq!(remote.pieces_parsed(), 9, "only d's cluster and context");
    let url = server.url();
    assert_eq!(
        *remote.current().unwrap(),
        kubeconfig::parse_remote(&four, &url).unwrap()
    );

    let broken = four.replace(
        "- name: d\n  cluster: {server:",
        "- name: d\n  cluster: {bogus: 1, server:",
    );
    server.set_body(&broken);
    assert!(remote.poll().await);
    let errors = remote.current().unwrap_err().to_string();
    assert!(errors.contains("bogus"), "{errors}");
    assert_eq!(
        errors,
        kubeconfig::parse_remote(&broken, &url)
            .unwrap_err()
            .to_string()
    );
}

#[tokio::test]
async fn a_kubeconfig_from_a_url_names_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: v1\nkind: Config\nclusters:\n\
        - name: a\n  cluster: {server: 'https://127.0.0.1:6443', certificate-authority: ./ca.pem}\n\
        users:\n- name: files\n  user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}\n\
        contexts:\n- name: a\n  context: {cluster: a, user: files}\n";
    let server = ConfigServer::start("/k", text).await.unwrap();
    let remote = RemoteKubeconfig::new(settings(&server, dir.path())).unwrap();
    assert!(remote.poll().await);
    let errors = remote.current().unwrap_err().to_string();
    assert!(
        errors.contains("clusters[0].cluster.certificate-authority: \"./ca.pem\" is a file path")
            && errors.contains("use certificate-authority-data")
            && errors.contains("users[0].user.tokenFile: \"/var/run/secrets/kubernetes.io/serviceaccount/token\" is a file path")
            && errors.contains("use token"),
        "{errors}"
    );
}

#[test]
fn plain_http_only_when_asked_and_never_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let http = |allow_http: bool, token: bool| {
        RemoteKubeconfig::new(RemoteSettings {
            url: "http://127.0.0.1:1/k".into(),
            ca_file: None,
            token_file: token.then(|| dir.path().join("token")),
            interval: DEFAULT_INTERVAL,
            allow_http,
        })
    };
    assert!(matches!(
        http(false, false),
        Err(RemoteError::NotHttps { .. })
    ));
    assert!(matches!(
        http(true, true),
        Err(RemoteError::TokenOverHttp { .. })
    ));
    assert!(http(true, false).is_ok());
}

/// Through the control plane: a 304 is no reload, a failed fetch keeps the
/// last good contexts and shows on `/status`, recovery clears it.
#[tokio::test(flavor = "multi_thread")]
async fn the_control_plane_serves_the_last_good_and_shows_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = ConfigServer::start("/clusters.yaml", &kubeconfig(&["a"]))
        .await
        .unwrap();
    let remote = Arc::new(RemoteKubeconfig::new(settings(&server, d)).unwrap());
    remote.poll().await;
    let cp = ControlPlane::start(Settings {
        kubeconfig: KubeconfigSource::Url(remote.clone()),
        gateway_config: crate::test_files::write_gateway_config(d),
        options: Options::default(),
        state_dir: d.join("state"),
    })
    .unwrap();
    let kubeconfig_status = |cp: &ControlPlane| {
        let status = crate::admin::status(cp);
        let input = status
            .inputs
            .into_iter()
            .find(|i| i.kind == "kubeconfig")
            .unwrap();
        (input, status.contexts, status.version)
    };
    let (input, contexts, version) = kubeconfig_status(&cp);
    assert_eq!(
        (input.path.as_str(), input.ok),
        (server.url().as_str(), true)
    );
    assert_eq!(contexts, ["a"]);
    assert!(
        !cp.watched_files()
            .iter()
            .any(|f| f.display().to_string() == server.url()),
        "a URL is not watched as a file"
    );

    let reloads = |cp: &ControlPlane| {
        cp.counters
            .reloads
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = reloads(&cp);
    let poll_and_reload = async |cp: &Arc<ControlPlane>| {
        if remote.poll().await {
            let cp = cp.clone();
            tokio::task::spawn_blocking(move || cp.reload())
                .await
                .unwrap();
        }
    };
    poll_and_reload(&cp).await;
    assert_eq!(reloads(&cp), before, "a 304 causes no reload");

    server.set_failing(Some(503));
    poll_and_reload(&cp).await;
    let (input, contexts, failed_version) = kubeconfig_status(&cp);
    assert!(!input.ok && input.error.contains("HTTP 503"), "{input:?}");
    assert_eq!(contexts, ["a"], "the last good kubeconfig still serves");
    assert_eq!(failed_version, version);

    server.set_failing(None);
    server.set_body(&kubeconfig(&["a", "b"]));
    poll_and_reload(&cp).await;
    let (input, contexts, new_version) = kubeconfig_status(&cp);
    assert!(input.ok, "{input:?}");
    assert_eq!(contexts, ["a", "b"]);
    assert_ne!(new_version, version);
}
