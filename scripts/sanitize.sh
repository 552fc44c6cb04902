#!/usr/bin/env bash
# Runs the vitest suites that exercise the addon against an ASan + UBSan build
# of it (same sources as binding.gyp, built by CMakeLists.txt through
# cmake-js), then replays the fuzz corpora and the committed regression
# inputs through the sanitizer-built fuzz harnesses once. docs/fuzzing.md.
#
#   scripts/sanitize.sh [vitest filter...]   (default: test/native test/evidence)
#
# node itself is not instrumented: clang's shared ASan runtime (which also
# holds the UBSan handlers) is preloaded, and TEE_VERIFY_ADDON makes
# src/native load build-fuzz/Release/tee_verify_san.node. LD_DEBUG proves
# afterwards that every test process loaded that file and not the node-gyp one.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=$ROOT/build-fuzz
WORK=$ROOT/.fuzz
VECTORS=${TEE_VECTORS_DIR:-/work/shared/vectors}
FILTERS=("$@")
[ ${#FILTERS[@]} -eq 0 ] && FILTERS=(test/native test/evidence test/vtpm/parse-)

build() {
  local nodedir
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  export npm_config_nodedir=${npm_config_nodedir:-$nodedir}
  node_modules/.bin/cmake-js configure -O "$BUILD_DIR" --cc clang --cxx clang++ \
    --CDTEE_FUZZ=ON --CDTEE_SANITIZE_ADDON=ON -l warn >/dev/null
  node_modules/.bin/cmake-js build -O "$BUILD_DIR" -p 2 -l warn >/dev/null
}

run_vitest() {
  local addon=$BUILD_DIR/Release/tee_verify_san.node ld=$WORK/ld-debug
  rm -rf "$ld" && mkdir -p "$ld"
  echo "sanitize: vitest ${FILTERS[*]} with $addon"
  # detect_leaks=0: node frees little at exit by design; leaks inside the
  # parsers are covered by LeakSanitizer in the fuzz harnesses instead.
  LD_PRELOAD=$(clang++ -print-file-name=libclang_rt.asan-x86_64.so) \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:symbolize=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LD_DEBUG=files LD_DEBUG_OUTPUT=$ld/ld \
  TEE_VERIFY_ADDON=$addon \
    node_modules/.bin/vitest run "${FILTERS[@]}"
  if ! grep -qs "file=$addon " "$ld"/ld.*; then
    echo "sanitize: no test process loaded $addon" >&2
    exit 1
  fi
  if grep -qs "file=$ROOT/build/[A-Za-z]*/tee_verify.node " "$ld"/ld.*; then
    echo "sanitize: a test process loaded the uninstrumented addon" >&2
    exit 1
  fi
  rm -rf "$ld"
}

# Every corpus input and regression file once through each harness.
replay_corpora() {
  local sources=(vectors) t dirs
  [ -f "$VECTORS/manifest.json" ] && sources+=("$VECTORS")
  node cpp/fuzz/seeds.mjs "$WORK/corpus" "${sources[@]}" >/dev/null
  for t in fuzz_intel_quote fuzz_intel_quote_framed fuzz_snp_report fuzz_snp_cert_table fuzz_ecdsa \
    fuzz_tpm fuzz_tcg_event_log fuzz_ima_list fuzz_hcl_report; do
    dirs=("$WORK/corpus/$t")
    [ -d "test/fixtures/fuzz-regressions/$t" ] && dirs+=("test/fixtures/fuzz-regressions/$t")
    "$BUILD_DIR/fuzz/$t" -runs=0 -max_len=70000 "${dirs[@]}" >"$WORK/logs/replay-$t.log" 2>&1 || {
      echo "sanitize: $t failed on a corpus input, see .fuzz/logs/replay-$t.log" >&2
      exit 1
    }
    echo "sanitize: $t replayed $(grep -m1 -o 'INITED.*' "$WORK/logs/replay-$t.log")"
  done
}

mkdir -p "$WORK/logs"
build
run_vitest
replay_corpora
echo "sanitize: OK"
