#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer via cargo-fuzz, stable Rust, no
# sanitizer: see fuzz/README.md) and runs each for SECONDS, one after the
# other. Exits non-zero if any target crashed, hung or broke an invariant,
# after running the rest.
#
#   fuzz/run.sh SECONDS [TARGET...]     (no TARGET: all of them)
#
# Called by `make fuzz` (FUZZ_SECONDS, default 600) and `make fuzz-ci`
# (FUZZ_CI_SECONDS, default 30). Everything it writes is under target/fuzz:
# the instrumented build, the growing corpus (corpus/<target>), crash
# inputs (artifacts/<target>) and one log per target (logs/<target>.log).
set -uo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(token route request_info identity kubeconfig gateway_config policy)
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

OUT=target/fuzz
CARGO=${CARGO:-cargo}
# --sanitizer none: sanitizers need `-Z` flags, which stable rustc refuses.
FUZZ_FLAGS=(--sanitizer none --target-dir "$OUT")
BIN=$OUT/$(rustc -vV | sed -n 's/^host: //p')/release
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "building the fuzz targets (instrumented, release + debug assertions) in $OUT"
start=$(date +%s)
if ! $CARGO fuzz build "${FUZZ_FLAGS[@]}"; then
  echo "fuzz: build failed" >&2
  exit 1
fi
say "fuzz build: $(($(date +%s) - start)) s"

mkdir -p "$OUT/logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$OUT/corpus/$t"
  artifacts="$OUT/artifacts/$t"
  log="$OUT/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  # new inputs go to the first folder (target/fuzz), never to the committed seeds
  dirs=("$corpus" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="fuzz/dicts/$t.dict")
  case $t in
    kubeconfig|gateway_config|policy) args+=(-max_len=16384) ;;
    *) args+=(-max_len=4096) ;;
  esac
  say "fuzz $t for $seconds s (log: $log)"
  # the binary itself rather than `cargo fuzz run`, which would rebuild
  # first: every target fuzzes the one build made above
  "$BIN/$t" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
  units=$(find "$corpus" -type f | wc -l)
  line=$(printf '%-15s %s  %8s execs  %6s exec/s  %-10s corpus %s' "$t" \
    "$([ $rc = 0 ] && echo ok || echo FAILED)" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$units")
  summary+=("$line")
  echo "    $line"
  if [ $rc != 0 ]; then
    failed+=("$t")
    echo "---- $t: what libFuzzer said (full log: $log) ----" >&2
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY: libFuzzer|deadly signal" "$log" | head -n 60 >&2
    echo "To keep it as a regression test: copy the crash input to fuzz/regressions/$t/ and commit;" >&2
    echo "the filter/xds-server tests named fuzz_regressions replay it in make test." >&2
  fi
done

say "fuzz summary ($seconds s per target)"
printf '    %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
