//! `kubeplex check --kubeconfig https://…` against a local HTTPS
//! kubeconfig server: the options `serve` takes, one fetch, the same
//! validation as a polled body, and a problem that says why otherwise.

use clap::Parser;
use kubeplex_tests::config_server::ConfigServer;

use super::{CheckArgs, check};
use crate::cli::test_files::write_gateway_config;
use crate::{Cli, Command};

const TOKEN: &str = "check-kubeconfig-token";

const CLUSTERS: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: 'https://127.0.0.1:6443'}
users:
- name: gw
  user: {token: upstream}
contexts:
- name: prod
  context: {cluster: prod, user: gw}
";

/// A kubeconfig server (on its own runtime: `check` runs one of its own on
/// the calling thread) and the files the command line names.
struct Fixture {
    server: ConfigServer,
    dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn serving(body: &str) -> Fixture {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(ConfigServer::start("/clusters.yaml", body))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server-ca.pem"), server.ca_pem()).unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        write_gateway_config(dir.path());
        Fixture {
            server,
            dir,
            _runtime: runtime,
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `kubeplex check --config … --kubeconfig <url> <extra>`, parsed the
    /// way the command line is.
    fn args(&self, url: &str, extra: &[&str]) -> CheckArgs {
        let mut line = vec![
            "kubeplex".to_string(),
            "check".into(),
            "--config".into(),
            self.file("gateway.yaml"),
            "--kubeconfig".into(),
            url.into(),
        ];
        line.extend(extra.iter().map(|s| s.to_string()));
        match Cli::try_parse_from(line).unwrap().command {
            Command::Check(args) => args,
            other => panic!("not check: {other:?}"),
        }
    }

    /// With the server's CA and the token.
    fn verified_args(&self) -> CheckArgs {
        let (ca, token) = (self.file("server-ca.pem"), self.file("token"));
        self.args(
            &self.server.url(),
            &[
                "--kubeconfig-ca-file",
                &ca,
                "--kubeconfig-token-file",
                &token,
            ],
        )
    }
}

#[test]
fn a_valid_kubeconfig_at_a_url_is_fetched_once_with_the_token() {
    let f = Fixture::serving(CLUSTERS);
    let problems = check(&f.verified_args()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let asked = f.server.asked();
    assert_eq!(asked.len(), 1, "one fetch, no polling: {asked:?}");
    assert_eq!(asked[0].status, 200);
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(asked[0].if_none_match, None);
}

#[test]
fn a_failed_fetch_is_a_problem_with_its_status() {
    let f = Fixture::serving(CLUSTERS);
    f.server.set_failing(Some(503));
    let problems = check(&f.verified_args()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let url = f.server.url();
    assert!(
        problems[0].starts_with("--kubeconfig: cannot fetch: ")
            && problems[0].contains(&format!("GET {url}: HTTP 503")),
        "{problems:?}"
    );
    assert!(!problems[0].contains(TOKEN), "{problems:?}");
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_a_tls_problem() {
    let f = Fixture::serving(CLUSTERS);
    // no --kubeconfig-ca-file: the system roots, which never signed it
    let problems = check(&f.args(&f.server.url(), &[])).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = problems[0].to_lowercase();
    assert!(
        problem.starts_with("--kubeconfig: cannot fetch: ")
            && problem.contains("certificate")
            && problem.contains("unknownissuer"),
        "{problems:?}"
    );
    assert!(f.server.asked().is_empty(), "no request went through");
}

#[test]
fn file_paths_in_a_fetched_kubeconfig_are_each_a_problem() {
    let f = Fixture::serving(
        &CLUSTERS
            .replace(
                "{server: 'https://127.0.0.1:6443'}",
                "{server: 'https://127.0.0.1:6443', certificate-authority: /etc/ssl/ca.pem}",
            )
            .replace("{token: upstream}", "{tokenFile: ./token}"),
    );
    let problems = check(&f.verified_args()).unwrap();
    let url = f.server.url();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.starts_with(&url)),
        "each names the URL: {problems:?}"
    );
    assert!(
        problems[0].contains("clusters[0].cluster.certificate-authority")
            && problems[0].contains("is a file path"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("users[0].user.tokenFile") && problems[1].contains("is a file path"),
        "{problems:?}"
    );
}

#[test]
fn plain_http_is_refused_unless_asked_and_never_with_a_token() {
    let f = Fixture::serving(CLUSTERS);
    let plain = "http://127.0.0.1:1/clusters.yaml";
    let problems = check(&f.args(plain, &[])).unwrap();
    assert!(
        problems.len() == 1 && problems[0].contains("must be https://"),
        "{problems:?}"
    );
    let token = f.file("token");
    let problems = check(&f.args(
        plain,
        &[
            "--kubeconfig-insecure-http",
            "--kubeconfig-token-file",
            &token,
        ],
    ))
    .unwrap();
    assert!(
        problems.len() == 1 && problems[0].contains("never sent over plain http"),
        "{problems:?}"
    );
}
