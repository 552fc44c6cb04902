// libFuzzer harness for ParseHclReport (cpp/core/hcl_report.h). On success
// the header, the IGVM request data and the padding are re-read from the
// bytes with the layout of Microsoft's az-cvm-vtpm HCL structures restated
// here (32-byte header, 1184-byte hardware slot, 20-byte request header,
// variable data, zero padding), and a cut before report_size is
// ERR_HCL_TRUNCATED.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cursor.h"
#include "fuzz_check.h"
#include "hcl_report.h"
#include "vtpm_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee::HclFrame f;
  tee::ParseFailure fail;
  if (!tee::ParseHclReport(data, size, &f, &fail)) {
    tee_fuzz::CheckVtpmFailure(fail, size, "ERR_HCL_", {"HCL", "VT03"});
    // VT03 names exactly the hash-type refusal.
    TEE_FUZZ_REQUIRE((std::strcmp(fail.check, "VT03") == 0) == (fail.code == tee::ParseCode::kHclUnsupportedHashType));
    return 0;
  }
  TEE_FUZZ_REQUIRE(size >= 1236 && size <= tee::kMaxHclReportSize);
  TEE_FUZZ_REQUIRE(std::memcmp(data, "HCLA", 4) == 0);
  TEE_FUZZ_REQUIRE(f.version == tee::LoadU32(data + 4) && (f.version == 1 || f.version == 2));
  TEE_FUZZ_REQUIRE(f.report_size == tee::LoadU32(data + 8) && f.request_type == tee::LoadU32(data + 12) &&
                   f.status == tee::LoadU32(data + 16));
  TEE_FUZZ_REQUIRE(tee::AllZero(data + 20, 12));
  uint32_t var = tee::LoadU32(data + 1232);
  TEE_FUZZ_REQUIRE(f.variable_data_size == var && tee::LoadU32(data + 1216) == 20 + uint64_t{var});
  TEE_FUZZ_REQUIRE(tee::LoadU32(data + 1220) == 1 && f.request_data_version == 1);
  uint32_t type = tee::LoadU32(data + 1224);
  TEE_FUZZ_REQUIRE(f.report_type == type && (type == 2 || type == 4));
  TEE_FUZZ_REQUIRE(f.hardware_report_size == (type == 2 ? 1184u : 1024u));
  if (type == 4) TEE_FUZZ_REQUIRE(tee::AllZero(data + 32 + 1024, 160));
  uint32_t hash = tee::LoadU32(data + 1228);
  TEE_FUZZ_REQUIRE(f.report_data_hash_type == hash && hash == 1);  // SHA-256 only (VT03)
  TEE_FUZZ_REQUIRE(f.report_size == 1236 + uint64_t{var} && f.report_size <= size);
  TEE_FUZZ_REQUIRE(f.trailing_size == size - f.report_size && tee::AllZero(data + f.report_size, f.trailing_size));
  // Any cut before report_size: truncation.
  size_t cut = (size_t{data[1236 % size]} * 131 + var) % f.report_size;
  tee::HclFrame shorter;
  TEE_FUZZ_REQUIRE(!tee::ParseHclReport(data, cut, &shorter, &fail));
  TEE_FUZZ_REQUIRE(fail.code == tee::ParseCode::kHclTruncated);
  return 0;
}
