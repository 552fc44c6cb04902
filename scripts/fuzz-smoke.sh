#!/usr/bin/env bash
# CI fuzz smoke run (under 90 s): installs clang's fuzzing packages when
# missing, builds the harnesses and runs each of the nine for 7 s, two at a time,
# from a fresh corpus (seeded from the shared vectors when they exist, empty
# otherwise) plus the committed regression inputs. Fails on any crash or
# sanitizer report. Long runs: scripts/fuzz.sh, docs/fuzzing.md.
set -euo pipefail

cd "$(dirname "$0")/.."

# True when clang, libFuzzer's runtime, the OpenSSL headers and cmake exist.
have_toolchain() {
  command -v clang++ >/dev/null && command -v cmake >/dev/null || return 1
  [ -f "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)" ] &&
    [ -f "$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)" ] &&
    [ -f /usr/include/openssl/evp.h ]
}

if ! have_toolchain; then
  echo "fuzz-smoke: installing clang, libFuzzer and OpenSSL headers"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq clang libclang-rt-14-dev libfuzzer-14-dev libssl-dev cmake >/dev/null
fi

if [ -z "${TEE_VECTORS_DIR:-}" ] && [ ! -d /work/shared ]; then
  export TEE_VECTORS_DIR=/nonexistent  # no shared vectors: empty corpora
fi

rm -rf .fuzz/smoke
TEE_FUZZ_WORK=.fuzz/smoke TEE_FUZZ_JOBS=2 exec timeout 90 scripts/fuzz.sh "${TEE_FUZZ_SMOKE_SECONDS:-7}"
