#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for FUZZ_SECONDS seconds each (default 30) with libFuzzer on
# the nightly toolchain: coverage instrumentation, AddressSanitizer, debug assertions and
# overflow checks — the flags `cargo fuzz run` uses, so cargo-fuzz need not be installed.
# A crash fails the run and leaves its input in fuzz/artifacts/<target>/. Corpora grow in
# fuzz/corpus/<target>/ (ignored by git). Without a nightly toolchain the targets are only
# built (`cargo check`). FUZZ_BUILD_ONLY=1 builds (or checks) and runs nothing: CI builds them
# early, at low priority, while the tests and screenshots leave cores idle.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SECONDS:-30}
# FUZZ_OPT_LEVEL: the optimisation level of the sanitizer build (default: release's, 3). CI
# uses 1: its runs are seconds long, and the build is what it waits for.
if [ -n "${FUZZ_OPT_LEVEL:-}" ]; then
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=$FUZZ_OPT_LEVEL
fi
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -vx 'strata-fuzz')
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "no nightly toolchain: only building the fuzz targets"
  cargo check --quiet --locked
  exit 0
fi
host=$(rustc -vV | sed -n 's/^host: //p')
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  --cfg fuzzing
  -Zsanitizer=address
  -Cdebug-assertions
  -Coverflow-checks
)
# `--target` keeps the flags off build scripts and proc macros (as cargo-fuzz does).
RUSTFLAGS="${flags[*]}" cargo +nightly build --quiet --release --locked --bins --target "$host" --target-dir target/libfuzzer
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0
# Targets run FUZZ_JOBS at a time (default: one per core; each libFuzzer process uses one), so
# every target still gets its FUZZ_SECONDS of a whole core.
jobs=${FUZZ_JOBS:-$(nproc)}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
names=()
status=0
# Waits for the oldest running target and reports it.
finish_oldest() {
  local pid=${pids[0]} t=${names[0]}
  pids=("${pids[@]:1}")
  names=("${names[@]:1}")
  if wait "$pid"; then
    printf '%-16s %s\n' "$t" "$(grep -E '^Done [0-9]+ runs' "$logs/$t" || tail -n 1 "$logs/$t")"
  else
    tail -n 60 "$logs/$t" >&2
    echo "fuzz target $t failed: the input is in fuzz/artifacts/$t/" >&2
    status=1
  fi
}
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  "target/libfuzzer/$host/release/$t" -max_total_time="$secs" -artifact_prefix="artifacts/$t/" \
    "corpus/$t" >"$logs/$t" 2>&1 &
  pids+=($!)
  names+=("$t")
  if ((${#pids[@]} >= jobs)); then
    finish_oldest
  fi
done
while ((${#pids[@]})); do
  finish_oldest
done
exit "$status"
