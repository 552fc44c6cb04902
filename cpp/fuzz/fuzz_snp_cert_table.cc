// libFuzzer harness for ParseSnpCertTable, the GHCB / configfs-tsm auxblob
// certificate table (checklist S05, V24, V28, §7). On success every entry
// must match its bytes, sit inside the blob behind the table, be at least the
// minimal certificate size and carry a unique non-zero GUID; the table ends
// with an all-zero entry; no two certificates share a byte, and every byte no
// certificate covers is zero. A failure must be a typed S05 error.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cursor.h"
#include "fuzz_check.h"
#include "snp_report.h"

namespace {

constexpr size_t kEntrySize = 24;  // GUID 16, u32 offset, u32 length

void CheckEntry(const uint8_t* d, size_t size, const tee::CertTable& t, size_t i) {
  const tee::CertTableEntry& e = t.entries[i];
  const uint8_t* raw = d + i * kEntrySize;
  TEE_FUZZ_REQUIRE(std::memcmp(e.guid, raw, 16) == 0 && !tee::AllZero(e.guid, 16));
  TEE_FUZZ_REQUIRE(tee::LoadU32(raw + 16) == e.offset && tee::LoadU32(raw + 20) == e.length);
  TEE_FUZZ_REQUIRE(e.offset >= (t.count + 1) * kEntrySize);   // never inside the table
  TEE_FUZZ_REQUIRE(tee_fuzz::RangeInside(e.offset, e.length, size));  // V24
  TEE_FUZZ_REQUIRE(e.length >= tee::kMinCertificateSize);    // V28
  for (size_t j = 0; j < i; ++j) TEE_FUZZ_REQUIRE(std::memcmp(t.entries[j].guid, e.guid, 16) != 0);
}

// Every byte after the table belongs to at most one certificate, and a byte
// that belongs to none is zero (page padding). Counted per byte, independent
// of the parser's sort: the harness must not share the code it checks.
void CheckCoverage(const uint8_t* d, size_t size, const tee::CertTable& t) {
  std::vector<uint8_t> owners(size, 0);
  for (size_t i = 0; i < t.count; ++i) {
    const tee::CertTableEntry& e = t.entries[i];
    for (size_t pos = e.offset; pos < static_cast<size_t>(e.offset) + e.length; ++pos) {
      TEE_FUZZ_REQUIRE(owners[pos] == 0);
      owners[pos] = 1;
    }
  }
  for (size_t pos = (t.count + 1) * kEntrySize; pos < size; ++pos) {
    if (owners[pos] == 0) TEE_FUZZ_REQUIRE(d[pos] == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee::CertTable table;
  tee::ParseFailure failure;
  if (!tee::ParseSnpCertTable(data, size, &table, &failure)) {
    tee_fuzz::CheckFailure(failure, size, 'S');
    TEE_FUZZ_REQUIRE(std::strcmp(failure.check, "S05") == 0);
    TEE_FUZZ_REQUIRE(table.count <= tee::kMaxCertTableEntries);
    return 0;
  }
  TEE_FUZZ_REQUIRE(size <= tee::kMaxCertTableBlob);
  TEE_FUZZ_REQUIRE(table.count <= tee::kMaxCertTableEntries);
  TEE_FUZZ_REQUIRE(tee_fuzz::RangeInside(table.count * kEntrySize, kEntrySize, size));
  TEE_FUZZ_REQUIRE(tee::AllZero(data + table.count * kEntrySize, kEntrySize));  // terminator
  for (size_t i = 0; i < table.count; ++i) CheckEntry(data, size, table, i);
  CheckCoverage(data, size, table);
  return 0;
}
