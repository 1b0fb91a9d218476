//! A real PostgreSQL server for a test: Debian's `postgresql` package
//! (`/usr/lib/postgresql/<version>/bin`, or `$KUBEPLEX_POSTGRES_BIN`),
//! a fresh cluster in a temporary folder, on 127.0.0.1 and a free port, no
//! Unix socket. PostgreSQL refuses to run as root, so as root the server
//! runs as the package's `postgres` user (`setpriv`). It stops when the
//! [`TestPostgres`] drops (also when the test panics) and, through
//! `setpriv --pdeathsig`, when the test process dies.
//!
//! Host connections need a password (SCRAM): [`TestPostgres::url`] carries
//! it. With [`Options::tls`] the server also speaks TLS with the given
//! certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::wait_for;

/// The superuser and database the tests use.
pub const USER: &str = "kubeplex";
/// Its password.
pub const PASSWORD: &str = "kubeplex-test-password";
/// The database.
pub const DATABASE: &str = "postgres";

/// How the server is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve TLS with this (certificate chain PEM, private key PEM).
    pub tls: Option<(String, String)>,
}

/// A running (or stopped) test server; its files go when it drops.
pub struct TestPostgres {
    bin: PathBuf,
    folder: tempfile::TempDir,
    port: u16,
    options: Options,
    server: Option<Child>,
}

impl TestPostgres {
    /// A new cluster, started.
    pub fn start() -> TestPostgres {
        Self::start_with(Options::default())
    }

    /// A new cluster with `options`, started.
    pub fn start_with(options: Options) -> TestPostgres {
        let bin = bin_dir();
        let folder = tempfile::Builder::new()
            .prefix("kubeplex-pg-")
            .tempdir()
            .expect("temporary folder for PostgreSQL");
        let mut pg = TestPostgres {
            bin,
            port: crate::free_port().expect("a free port for PostgreSQL"),
            folder,
            options,
            server: None,
        };
        pg.init();
        pg.start_server();
        pg
    }

    /// `postgres://kubeplex:…@127.0.0.1:<port>/postgres` with extra
    /// `params` (`sslmode=disable`).
    pub fn url(&self, params: &str) -> String {
        let mut url = format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        );
        if !params.is_empty() {
            url.push('?');
            url.push_str(params);
        }
        url
    }

    /// The same without the password (it goes in a file).
    pub fn url_without_password(&self, params: &str) -> String {
        self.url(params).replace(&format!(":{PASSWORD}@"), "@")
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Run `sql` with `psql` (as [`USER`], over TCP) and return its rows,
    /// one a line, columns separated by `|` (`psql -At`). Panics when
    /// psql fails: a test asks only what it knows the answer shape of.
    pub fn psql(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", USER, "-d", DATABASE, "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("psql prints UTF-8")
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    /// Stop the server (fast shutdown: clients are disconnected, nothing
    /// committed is lost), waiting until it has exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.server.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        match crate::wait::poll(Duration::from_secs(30), || child.try_wait().ok().flatten()) {
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Start it again after [`TestPostgres::stop`] (same data, same port),
    /// waiting until it accepts connections.
    pub fn restart(&mut self) {
        if self.server.is_none() {
            self.start_server();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.folder.path().join("data")
    }

    /// `initdb` (as the `postgres` user when root), TLS files, settings.
    fn init(&mut self) {
        let root = self.folder.path();
        // the unprivileged user must reach the data folder inside
        set_mode(root, 0o755);
        let password_file = root.join("password");
        std::fs::write(&password_file, PASSWORD).expect("write the password file");
        set_mode(&password_file, 0o644);
        let data = self.data_dir();
        std::fs::create_dir(&data).expect("create the data folder");
        set_mode(&data, 0o700);
        as_server_user(&data);
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some((cert, key)) = &self.options.tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = data.join(name);
                std::fs::write(&path, pem).expect("write the TLS files");
                set_mode(&path, 0o600);
                as_server_user(&path);
            }
        }
    }

    /// Start `postgres` and wait until it accepts connections.
    fn start_server(&mut self) {
        let data = self.data_dir();
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_string(),
            format!("port={}", self.port),
            "unix_socket_directories=".to_string(),
            // a test database: speed over durability across an OS crash
            "fsync=off".to_string(),
            "synchronous_commit=off".to_string(),
            "max_connections=20".to_string(),
        ];
        if self.options.tls.is_some() {
            settings.extend(["ssl=on".to_string()]);
        }
        let mut command = self.command("postgres");
        command.arg("-D").arg(&data);
        for s in &settings {
            command.arg("-c").arg(s);
        }
        let log = std::fs::File::create(self.folder.path().join("server.log"))
            .expect("create the server log");
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        self.server = Some(command.spawn().expect("start postgres"));
        let (bin, port) = (self.bin.clone(), self.port);
        let log_path = self.folder.path().join("server.log");
        wait_for(
            format!("PostgreSQL on port {port} (log: {})", log_path.display()),
            Duration::from_secs(60),
            || {
                Command::new(bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            },
        );
    }

    /// A PostgreSQL program, run as the `postgres` user when this is root,
    /// killed with the test process.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("setpriv");
        if is_root() {
            command.args(["--reuid=postgres", "--regid=postgres", "--clear-groups"]);
        }
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(self.bin.join(program))
            .current_dir(self.folder.path());
        command
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where PostgreSQL's programs are: `$KUBEPLEX_POSTGRES_BIN`, else the
/// newest `/usr/lib/postgresql/<version>/bin`; panics when neither is.
pub fn bin_dir() -> PathBuf {
    find_bin_dir().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/postgres): \
             run `scripts/setup.sh --with-postgres` (make test does), or set $KUBEPLEX_POSTGRES_BIN"
        )
    })
}

/// [`bin_dir`], or None when PostgreSQL is not installed.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KUBEPLEX_POSTGRES_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Give `path` to the `postgres` user when this is root.
fn as_server_user(path: &Path) {
    if !is_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown postgres {}", path.display());
}

#[cfg(test)]
mod tests;
