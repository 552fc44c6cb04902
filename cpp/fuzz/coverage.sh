#!/usr/bin/env bash
# Line and branch coverage of cpp/core reached by the fuzz corpora in .fuzz/
# (after scripts/fuzz.sh). Builds the harnesses once more with source-based
# coverage in build-fuzz-cov/ (-O0 so lines map one to one) and replays
# each corpus once; libFuzzer's own cov/ft counts edges of the optimised
# build and cannot say which lines were missed.
#
#   cpp/fuzz/coverage.sh [target...]
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=build-fuzz-cov
OUT=.fuzz/coverage
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] &&
  TARGETS=(fuzz_intel_quote fuzz_intel_quote_framed fuzz_snp_report fuzz_snp_cert_table fuzz_ecdsa
    fuzz_tpm fuzz_tcg_event_log fuzz_ima_list fuzz_hcl_report)

npm_config_nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")} \
  node_modules/.bin/cmake-js configure -O "$BUILD" --cc clang --cxx clang++ -B Debug \
  --CDTEE_FUZZ=ON --CDTEE_SANITIZE_ADDON=OFF --CDTEE_FUZZ_COVERAGE=ON -l warn >/dev/null
cmake --build "$BUILD" --target fuzzers --parallel 2 >/dev/null

mkdir -p "$OUT"
for t in "${TARGETS[@]}"; do
  rm -f "$OUT/$t".*.profraw
  LLVM_PROFILE_FILE="$OUT/$t.%p.profraw" "$BUILD/fuzz/$t" -runs=0 -max_len=70000 \
    ".fuzz/corpus/$t" >"$OUT/$t.log" 2>&1
  llvm-profdata merge -sparse "$OUT/$t".*.profraw -o "$OUT/$t.profdata"
  rm -f "$OUT/$t".*.profraw
  echo "== $t"
  llvm-cov report "$BUILD/fuzz/$t" -instr-profile="$OUT/$t.profdata" | sed -n '1p;/^core\//p'
  llvm-cov show "$BUILD/fuzz/$t" -instr-profile="$OUT/$t.profdata" -show-branches=count \
    cpp/core >"$OUT/$t.txt"
done
echo "coverage: annotated sources in $OUT/<target>.txt"
