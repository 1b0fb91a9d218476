# kubeplex: the two commands are `make run` and `make test`.
# Both install what they need first (scripts/setup.sh).

CARGO ?= cargo
WASM := target/wasm32-wasip1/wasm/kubeplex_filter.wasm
KUBEPLEX := target/debug/kubeplex
ENVOY = $(shell ls .venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n1)
# Extra arguments for `make run`, e.g. ARGS="--kubeconfig ~/.kube/config"
ARGS ?=
# Fuzzing (fuzz/README.md): seconds per target, and which targets (empty: all)
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 30
FUZZ_TARGETS ?=
# The Kubernetes install (deploy/kubernetes): what `make validate` renders
KUSTOMIZATIONS := base examples/production inject-webhook agent

.PHONY: setup build run test lint unit e2e validate bench fuzz fuzz-ci clean

setup:
	@scripts/setup.sh $(SETUP_FLAGS)

build: setup
	$(CARGO) build -p kubeplex-filter --target wasm32-wasip1 --profile wasm
	$(CARGO) build -p kubeplex --bin kubeplex

## Run the gateway: in front of two demo clusters, or ARGS="--kubeconfig F [--config F]".
run: build
	$(KUBEPLEX) up --envoy $(ENVOY) --filter-wasm $(WASM) $(ARGS)

## Run every test: lints, Envoy config validation, every fuzz target for
## FUZZ_CI_SECONDS (make fuzz-ci), unit tests, end-to-end tests.
## Tests marked #[ignore] need Envoy and the wasm build, which `build` provides:
## they run too, except the CPU benchmark and the tunnel latency measurement.
test: SETUP_FLAGS = --with-compose --with-fuzz --with-postgres
test: build lint validate fuzz-ci
	KUBEPLEX_ENVOY=$(abspath $(ENVOY)) KUBEPLEX_FILTER_WASM=$(abspath $(WASM)) KUBEPLEX_BIN=$(abspath $(KUBEPLEX)) \
	  $(CARGO) nextest run --workspace --no-fail-fast --failure-output final \
	  --run-ignored all -E 'not test(cpu_per_request_in_envoy) and not test(tunnel_latency_vs_a_direct_route)'

## Fuzz every target for FUZZ_SECONDS (default 600) each; fails on a crash.
## FUZZ_TARGETS="token route" picks some. See fuzz/README.md.
fuzz: SETUP_FLAGS = --with-fuzz
fuzz: setup
	CARGO=$(CARGO) fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## The CI fuzz run (part of `make test`, before the unit tests, so that
## nextest's summary closes the output): every target for FUZZ_CI_SECONDS (30).
fuzz-ci: SETUP_FLAGS = --with-fuzz
fuzz-ci: setup
	CARGO=$(CARGO) fuzz/run.sh $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p kubeplex-filter --target wasm32-wasip1 -- -D warnings

## Config checks that need no build: both Envoy bootstraps (envoy --mode
## validate), every Kubernetes kustomization renders (kubectl kustomize),
## the preStop hook parses, docker-compose.yml. tests/deploy (part of the
## unit tests) then checks every rendered object against the API's types.
validate:
	$(ENVOY) --mode validate --disable-hot-restart -c envoy/bootstrap.yaml
	$(ENVOY) --mode validate --disable-hot-restart -c deploy/kubernetes/base/envoy/bootstrap.yaml --service-node validate
	@for k in $(KUSTOMIZATIONS); do kubectl kustomize deploy/kubernetes/$$k >/dev/null || exit 1; echo "deploy/kubernetes/$$k renders"; done
	bash -n deploy/kubernetes/base/envoy/prestop.sh
	@if command -v docker-compose >/dev/null; then docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml OK"; \
	 else echo "docker-compose not installed: skipping docker-compose.yml validation"; fi

## Benchmarks (not tests): filter vs Envoy's jwt_authn, gateway vs direct,
## the whole gateway (kubeplex vs jwt_authn + cache, TLS + HTTP/2), then the
## filter's instructions per request under callgrind (deterministic; needs
## valgrind, ~5 min; BENCH_CALLGRIND=0 skips it; the target is judged on
## kubectl's HTTP/2 request, the HTTP/1.1 figures beside it);
## BENCH_ARGS=--whole-gateway-tuning adds each Envoy config change's
## effect on the whole gateway; with BENCH_SCALE=N, N
## contexts: edit → Envoy ACK, CPU per reload, memory (minutes).
BENCH_CALLGRIND ?= 1
bench: build
	$(CARGO) build -p kubeplex-filter --target wasm32-wasip1 --profile wasm --example empty_filter
	$(CARGO) run --release -p kubeplex-tests --bin kubeplex-bench -- --envoy $(abspath $(ENVOY)) --filter-wasm $(abspath $(WASM)) \
	  --empty-wasm $(abspath target/wasm32-wasip1/wasm/examples/empty_filter.wasm) --kubeplex $(abspath $(KUBEPLEX)) --out target/bench.md $(BENCH_ARGS)
	@if [ "$(BENCH_CALLGRIND)" = 1 ] && command -v valgrind >/dev/null; then \
	  KUBEPLEX_CALLGRIND=1 KUBEPLEX_BENCH_N=1500 KUBEPLEX_BENCH_ROUNDS=3 KUBEPLEX_ENVOY=$(abspath $(ENVOY)) KUBEPLEX_FILTER_WASM=$(abspath $(WASM)) \
	  $(CARGO) test -p kubeplex-filter --test envoy_smoke -- --ignored --nocapture cpu_per_request_in_envoy; \
	else echo "no instruction counts (BENCH_CALLGRIND=$(BENCH_CALLGRIND); valgrind: $$(command -v valgrind || echo missing))"; fi
	@if [ -n "$(BENCH_SCALE)" ]; then \
	  $(CARGO) build --release -p kubeplex --bin kubeplex && \
	  $(CARGO) run --release -p kubeplex-tests --bin kubeplex-scale-bench -- --envoy $(abspath $(ENVOY)) --filter-wasm $(abspath $(WASM)) \
	    --kubeplex $(abspath target/release/kubeplex) --contexts $(BENCH_SCALE) --out target/bench-scale.md $(BENCH_SCALE_ARGS); \
	else echo "make bench BENCH_SCALE=10000: also the many-contexts benchmark (minutes; see README, Benchmarks)"; fi

clean:
	$(CARGO) clean
