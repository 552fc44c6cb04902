#!/usr/bin/env bash
# Regenerates src/gateway/proto/ (committed) from the .proto files under proto/
# (copied from go-sev-guest, go-tdx-guest and go-tpm-tools; see proto/README.md).
# Install and CI use the committed code; only this script needs protoc:
#   apt-get install -y protobuf-compiler   (Debian's protoc 3.21; any protoc >= 3.15 works)
#   npm install                            (@bufbuild/protoc-gen-es, pinned in package.json)
# Run from anywhere: bash scripts/generate-proto.sh. The output is deterministic:
# running it twice, or on another machine with the same plugin version, gives the same files.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 2; }
plugin=node_modules/.bin/protoc-gen-es
[ -x "$plugin" ] || { echo "$plugin not found: run npm install" >&2; exit 2; }
# google/protobuf/wrappers.proto: protoc's bundled include directory (protoc-gen-es maps it to @bufbuild/protobuf/wkt).
wkt=$(dirname "$(command -v protoc)")/../include
[ -f "$wkt/google/protobuf/wrappers.proto" ] || wkt=/usr/include

out=src/gateway/proto
rm -rf "$out"
mkdir -p "$out"
# Import roots mirror the upstream layouts: go-tpm-tools' attest.proto imports
# "proto/sevsnp.proto", "proto/tdx.proto" and "tpm.proto".
protoc \
  -I proto/go-sev-guest -I proto/go-tdx-guest -I proto/go-tpm-tools -I "$wkt" \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$out" \
  --es_opt=target=ts,import_extension=js,json_types=true \
  proto/sevsnp.proto proto/tdx.proto tpm.proto attest.proto
echo "generated: $(cd "$out" && find . -name '*.ts' | sort | tr '\n' ' ')"
