//! Running the real `kubectl` against a server: a temp dir with a
//! kubeconfig (client certificate or bearer token), `HOME` and the
//! discovery cache, and bounded runs that can never hang a test.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;

use crate::pki::CertKey;

/// The kubectl binary: `$KUBECTL`, else `/usr/bin/kubectl`.
pub fn binary() -> PathBuf {
    std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"))
}

/// What a finished kubectl run printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code (`None` if killed by a signal or the timeout).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// An isolated kubectl environment (removed on drop).
#[derive(Debug)]
pub struct Kubectl {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

enum Credential<'a> {
    Cert(&'a CertKey),
    Token(&'a str),
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Kubectl {
    /// Authenticates with a client certificate.
    pub fn with_client_cert(server: &str, ca_pem: &str, client: &CertKey) -> io::Result<Kubectl> {
        Kubectl::new(server, ca_pem, Credential::Cert(client))
    }

    /// Authenticates with a bearer token.
    pub fn with_token(server: &str, ca_pem: &str, token: &str) -> io::Result<Kubectl> {
        Kubectl::new(server, ca_pem, Credential::Token(token))
    }

    fn new(server: &str, ca_pem: &str, cred: Credential<'_>) -> io::Result<Kubectl> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("home"))?;
        let user = match cred {
            Credential::Cert(ck) => format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                b64(&ck.cert_pem),
                b64(&ck.key_pem)
            ),
            Credential::Token(t) => format!("    token: {t}\n"),
        };
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\ncurrent-context: test\nusers:\n- name: test\n  user:\n{user}",
            b64(ca_pem)
        );
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, config)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&kubeconfig, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Kubectl { dir, kubeconfig })
    }

    /// The kubeconfig path.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The discovery/HTTP cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The scratch directory (for manifests).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `kubectl` command with this environment (`HOME`, `KUBECONFIG`,
    /// `--cache-dir`), stdin closed, output piped, killed on drop.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.env_clear()
            .env("HOME", self.dir.path().join("home"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", "/usr/bin:/bin")
            .arg("--cache-dir")
            .arg(self.cache_dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl to completion, killing it after `timeout`.
    pub async fn run(&self, args: &[&str], timeout: Duration) -> io::Result<Output> {
        self.run_with_stdin(args, None, timeout).await
    }

    /// Runs kubectl with `stdin` as its standard input.
    pub async fn run_with_stdin(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> io::Result<Output> {
        let mut cmd = self.command(args);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn()?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(input.as_bytes()).await?;
            drop(pipe);
        }
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(out) => {
                let out = out?;
                Ok(Output {
                    code: out.status.code(),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                })
            }
            // The future owned the child: dropping it killed kubectl.
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("kubectl {args:?} did not finish within {timeout:?}"),
            )),
        }
    }
}
