// libFuzzer harness for ParseSnpReport (checklist §4.1, S02-S04, §7). On
// success the report must be what §4.1 describes, restated here from the
// checklist rather than from snp_report.cc: size, version, signature
// algorithm, signing key, policy / platform-info bits and the must-be-zero
// ranges of that version. The trailing modes must differ only in the
// S02 trailing-bytes decision.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cursor.h"
#include "fuzz_check.h"
#include "layout.h"
#include "snp_report.h"

namespace {

struct Range {
  uint32_t begin;
  uint32_t end;
};

bool ZeroRange(const uint8_t* d, Range r) { return tee::AllZero(d + r.begin, r.end - r.begin); }

// §4.1 reserved (MBZ) ranges; the CPUID bytes appear in v3, the mitigation
// vectors in v5.
void CheckReserved(const uint8_t* d, uint32_t version) {
  constexpr Range kAll[] = {{0x04C, 0x050}, {0x1EB, 0x1EC}, {0x1EF, 0x1F0},
                            {0x2D0, 0x2E8}, {0x318, 0x330}, {0x330, 0x4A0}};
  for (Range r : kAll) TEE_FUZZ_REQUIRE(ZeroRange(d, r));
  TEE_FUZZ_REQUIRE(ZeroRange(d, version == 2 ? Range{0x188, 0x1A0} : Range{0x18B, 0x1A0}));
  TEE_FUZZ_REQUIRE(ZeroRange(d, version == 5 ? Range{0x208, 0x2A0} : Range{0x1F8, 0x2A0}));
}

void CheckReport(const uint8_t* d, size_t size, tee::TrailingMode mode, const tee::SnpFrame& f) {
  TEE_FUZZ_REQUIRE(size >= tee::kSnpReportSize && size <= tee::kSnpReportSize + 4096);
  TEE_FUZZ_REQUIRE(f.version >= 2 && f.version <= 5 && tee::LoadU32(d) == f.version);
  TEE_FUZZ_REQUIRE(tee::LoadU32(d + 0x034) == 1);  // ECDSA P-384 / SHA-384
  uint32_t signer = tee::LoadU32(d + 0x048);
  TEE_FUZZ_REQUIRE((signer >> 5) == 0 && ((signer >> 2) & 7) == f.signing_key && f.signing_key <= 1);
  uint64_t policy = tee::LoadU64(d + 0x008);
  TEE_FUZZ_REQUIRE((policy >> 17) & 1);
  TEE_FUZZ_REQUIRE((policy >> 26) == 0);
  TEE_FUZZ_REQUIRE((tee::LoadU64(d + 0x040) >> 8) == 0);
  CheckReserved(d, f.version);
  TEE_FUZZ_REQUIRE(f.trailing_size == size - tee::kSnpReportSize);
  bool zero = tee::AllZero(d + tee::kSnpReportSize, f.trailing_size);
  TEE_FUZZ_REQUIRE(f.trailing_all_zero == zero);
  if (mode == tee::TrailingMode::kStrict) TEE_FUZZ_REQUIRE(f.trailing_size == 0);
  if (mode == tee::TrailingMode::kDefault) TEE_FUZZ_REQUIRE(zero);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee::SnpFrame frame[3];
  tee::ParseFailure fail[3];
  bool ok[3];
  for (int m = 0; m < 3; ++m) {
    ok[m] = tee::ParseSnpReport(data, size, tee_fuzz::kModes[m], &frame[m], &fail[m]);
    if (ok[m]) {
      CheckReport(data, size, tee_fuzz::kModes[m], frame[m]);
    } else {
      tee_fuzz::CheckFailure(fail[m], size, 'S');
    }
  }
  const int kDefault = 0, kStrict = 1, kLenient = 2;
  if (ok[kStrict]) TEE_FUZZ_REQUIRE(ok[kDefault]);
  if (ok[kDefault]) TEE_FUZZ_REQUIRE(ok[kLenient]);
  if (!ok[kLenient]) {
    TEE_FUZZ_REQUIRE(tee_fuzz::SameFailure(fail[kLenient], fail[kDefault]));
    TEE_FUZZ_REQUIRE(tee_fuzz::SameFailure(fail[kLenient], fail[kStrict]));
    return 0;
  }
  for (int m : {kDefault, kStrict}) {
    if (ok[m]) {
      TEE_FUZZ_REQUIRE(frame[m].version == frame[kLenient].version &&
                       frame[m].signing_key == frame[kLenient].signing_key);
    } else {  // only the trailing bytes may tip the decision (S02)
      TEE_FUZZ_REQUIRE(fail[m].code == tee::ParseCode::kTrailingData);
      TEE_FUZZ_REQUIRE(fail[m].offset >= tee::kSnpReportSize && fail[m].offset < size);
    }
  }
  return 0;
}
