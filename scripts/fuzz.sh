#!/usr/bin/env bash
# Builds the libFuzzer harnesses (CMakeLists.txt through cmake-js, clang with
# ASan + UBSan), seeds .fuzz/corpus/<target> from the shared evidence and runs
# each target for <seconds>. docs/fuzzing.md has the details.
#
#   scripts/fuzz.sh [seconds] [target...]      (default: 60 s, every target)
#
# Environment:
#   TEE_VECTORS_DIR   shared vectors (default /work/shared/vectors; absent = no real seeds)
#   TEE_FUZZ_WORK     corpora, logs and crash inputs (default .fuzz)
#   TEE_FUZZ_JOBS     targets run at the same time (default 1)
#   TEE_FUZZ_SKIP_BUILD=1  reuse build-fuzz/ as it is
#   TEE_FUZZ_ADDON=1  also build the sanitizer addon (scripts/sanitize.sh sets it)
#
# Exit status: 0 when no target crashed, 1 on any crash, sanitizer report,
# timeout or out-of-memory (inputs are kept in .fuzz/artifacts/<target>/).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
shift || true
ALL_TARGETS=(fuzz_intel_quote fuzz_intel_quote_framed fuzz_snp_report fuzz_snp_cert_table fuzz_ecdsa
  fuzz_tpm fuzz_tcg_event_log fuzz_ima_list fuzz_hcl_report)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
VECTORS=${TEE_VECTORS_DIR:-/work/shared/vectors}
JOBS=${TEE_FUZZ_JOBS:-1}
BUILD_DIR=$ROOT/build-fuzz
WORK=$(mkdir -p "${TEE_FUZZ_WORK:-.fuzz}" && cd "${TEE_FUZZ_WORK:-.fuzz}" && pwd)
REGRESSIONS=$ROOT/test/fixtures/fuzz-regressions

# Inputs beyond each parser's cap, so the caps themselves get exercised.
max_len() {
  case $1 in
    fuzz_intel_quote | fuzz_intel_quote_framed) echo 70000 ;;  # cap 64 KiB (T02)
    fuzz_snp_report) echo 8192 ;;                               # cap 0x4A0 + 4096 (S02)
    fuzz_snp_cert_table) echo 16384 ;;
    fuzz_ecdsa) echo 4096 ;;
    fuzz_tpm) echo 4200 ;;                                      # cap 4096 (TPM response buffer)
    fuzz_hcl_report) echo 70000 ;;                              # cap 64 KiB
    fuzz_tcg_event_log | fuzz_ima_list) echo 65536 ;;           # caps 16 / 128 MiB: real logs are 15-260 KB
  esac
}

# cmake-js reads Node's headers from $npm_config_nodedir/include/node, so it
# never downloads them.
build() {
  local nodedir addon=${TEE_FUZZ_ADDON:-0}
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  export npm_config_nodedir=${npm_config_nodedir:-$nodedir}
  local flags=(-O "$BUILD_DIR" --cc clang --cxx clang++ --CDTEE_FUZZ=ON)
  [ "$addon" = 1 ] && flags+=(--CDTEE_SANITIZE_ADDON=ON) || flags+=(--CDTEE_SANITIZE_ADDON=OFF)
  if [ -x node_modules/.bin/cmake-js ]; then
    node_modules/.bin/cmake-js configure "${flags[@]}" -l warn >/dev/null
    node_modules/.bin/cmake-js build -O "$BUILD_DIR" -p 2 -l warn >/dev/null
  else  # same CMakeLists.txt without cmake-js
    cmake -S . -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++ -DTEE_FUZZ=ON \
      -DTEE_SANITIZE_ADDON="$([ "$addon" = 1 ] && echo ON || echo OFF)" >/dev/null
    cmake --build "$BUILD_DIR" --parallel 2 >/dev/null
  fi
}

# Real evidence from the shared vectors plus the project's synthetic vectors/.
seed() {
  local dirs=()
  if [ -f "$VECTORS/manifest.json" ]; then
    dirs+=("$VECTORS")
  else
    echo "fuzz: no shared vectors at $VECTORS; seeding from vectors/ only" >&2
  fi
  [ -f vectors/manifest.json ] && dirs+=(vectors)
  node cpp/fuzz/seeds.mjs "$WORK/corpus" "${dirs[@]}" >"$WORK/logs/seeds.json"
}

# One target: libFuzzer grows .fuzz/corpus/<target> in place and also reads
# the committed regression inputs (never written to).
run_target() {
  local t=$1 log=$WORK/logs/$1.log rc=0 dirs
  mkdir -p "$WORK/artifacts/$t" "$WORK/corpus/$t"
  rm -f "$WORK/logs/$t.rc"
  dirs=("$WORK/corpus/$t")
  [ -d "$REGRESSIONS/$t" ] && dirs+=("$REGRESSIONS/$t")
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$BUILD_DIR/fuzz/$t" "${dirs[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
    -artifact_prefix="$WORK/artifacts/$t/" >"$log" 2>&1 || rc=$?
  echo "${rc:-0}" >"$WORK/logs/$t.rc"
}

# Prints one row from the log: executions, exec/s, corpus (libFuzzer's
# reduced in-memory corpus: inputs / bytes), cov / ft of the final line.
report() {
  local t=$1 log=$WORK/logs/$1.log rc execs rate last cov ft corpus crashes
  rc=$(cat "$WORK/logs/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  crashes=$(find "$WORK/artifacts/$t" -type f -newer "$WORK/logs/start" | wc -l)
  if grep -qE '==ERROR:|runtime error:|deadly signal|SUMMARY: (Address|Undefined)' "$log"; then
    crashes=$((crashes > 0 ? crashes : 1))
  fi
  printf '%-24s %8s %10s %8s %12s %6s %6s %8s\n' "$t" "$SECONDS_PER_TARGET" "${execs:-?}" \
    "${rate:-?}" "${corpus:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
  [ "$rc" = 0 ] && [ "$crashes" = 0 ]
}

main() {
  command -v clang++ >/dev/null || { echo "fuzz: clang++ missing (see docs/fuzzing.md)" >&2; exit 2; }
  mkdir -p "$WORK/logs"
  [ "${TEE_FUZZ_SKIP_BUILD:-0}" = 1 ] || build
  seed
  touch "$WORK/logs/start"
  local running=0 t
  for t in "${TARGETS[@]}"; do
    [ -x "$BUILD_DIR/fuzz/$t" ] || { echo "fuzz: unknown target $t" >&2; exit 2; }
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait || true
  echo "fuzz: $(date -u +%FT%TZ) seeds $(cat "$WORK/logs/seeds.json")"
  printf '%-24s %8s %10s %8s %12s %6s %6s %8s\n' target seconds execs exec/s corpus cov ft crashes
  local failed=0
  for t in "${TARGETS[@]}"; do report "$t" || failed=1; done
  if [ "$failed" = 1 ]; then
    echo "fuzz: FAILED: see $WORK/logs/<target>.log and $WORK/artifacts/<target>/" >&2
    exit 1
  fi
}

main
