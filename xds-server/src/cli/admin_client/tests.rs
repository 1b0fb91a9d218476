//! `kubeplex status` and `kubeplex revoke` against a control plane whose
//! admin API asks for a bearer token: they send the one in
//! `--admin-token-file`, and are refused without it.

use std::net::SocketAddr;
use std::path::Path;

use kubeplex::admin::token::AdminToken;
use kubeplex::control_plane::{ControlPlane, Settings};
use kubeplex::server::{self, Listeners, Running};

use super::*;
use crate::cli::test_files::{ONE_CONTEXT_KUBECONFIG, write_gateway_config};

/// A control plane in `d` whose admin API asks for the token in
/// `d/admin-token`.
async fn guarded_control_plane(d: &Path) -> (Running, SocketAddr) {
    std::fs::write(d.join("clusters.yaml"), ONE_CONTEXT_KUBECONFIG).unwrap();
    std::fs::write(d.join("admin-token"), "cli-admin-token\n").unwrap();
    let cp = ControlPlane::start(Settings {
        kubeconfig: d.join("clusters.yaml").into(),
        gateway_config: write_gateway_config(d),
        options: Default::default(),
        state_dir: d.join("state"),
    })
    .unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let listeners = Listeners::bind(any, any)
        .await
        .unwrap()
        .with_admin_token(AdminToken::from_file(&d.join("admin-token")).unwrap());
    let admin = listeners.admin_addr();
    (server::start(cp, listeners).await.unwrap(), admin)
}

fn auth(file: Option<&Path>) -> AdminAuthArgs {
    AdminAuthArgs {
        admin_token_file: file.map(Path::to_path_buf),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_revoke_send_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (running, admin) = guarded_control_plane(d).await;
    let wrong = d.join("wrong-token");
    std::fs::write(&wrong, "not-it\n").unwrap();

    status(admin, false, &auth(Some(&d.join("admin-token"))))
        .await
        .unwrap();
    for refused in [auth(None), auth(Some(&wrong))] {
        match status(admin, false, &refused).await {
            Err(AdminClientError::Status { code: 401, body }) => {
                assert!(!body.contains("cli-admin-token"), "{body}")
            }
            other => panic!("{refused:?}: {other:?}"),
        }
    }

    let revoke_with = |auth: AdminAuthArgs| RevokeArgs {
        jti: "some-jti".into(),
        reason: None,
        expires_at: None,
        admin_addr: admin,
        auth,
    };
    match revoke(revoke_with(auth(None))).await {
        Err(AdminClientError::Refused(s)) => assert_eq!(s.code(), tonic::Code::Unauthenticated),
        other => panic!("{other:?}"),
    }
    // Past the token: this gateway config names no revocation store.
    match revoke(revoke_with(auth(Some(&d.join("admin-token"))))).await {
        Err(AdminClientError::Refused(s)) => {
            assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s:?}")
        }
        other => panic!("{other:?}"),
    }
    running.admin.abort();
    running.xds.abort();
}

#[test]
fn the_token_header_is_marked_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t");
    std::fs::write(&file, "  tok-en \n").unwrap();
    let value = auth(Some(&file)).authorization().unwrap().unwrap();
    assert_eq!(value, "Bearer tok-en");
    assert!(value.is_sensitive());
    assert!(!format!("{value:?}").contains("tok-en"));
    assert_eq!(auth(None).authorization().unwrap(), None);
}
