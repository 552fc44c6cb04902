// Invariants of ParseIntelQuote shared by the plain and the framing-aware
// quote harnesses. A successful parse must describe the input exactly as the
// checklist lays it out (§2.1 for v4/v5, §3 for SGX v3): every offset is
// re-derived here from the fixed sizes and compared, every region lies inside
// the input, and the three trailing modes differ only in the T05 decision.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cursor.h"
#include "fuzz_check.h"
#include "intel_quote.h"
#include "layout.h"

namespace tee_fuzz {

constexpr uint8_t kIntelQeVendor[16] = {0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
                                        0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};

// Header and body placement (T03, T04).
inline void CheckQuoteHeader(const uint8_t* d, size_t size, const tee::QuoteFrame& f) {
  TEE_FUZZ_REQUIRE(size <= tee::kMaxQuoteSize && size >= tee::kQuoteHeaderSize);
  TEE_FUZZ_REQUIRE(f.version >= 3 && f.version <= 5 && tee::LoadU16(d) == f.version);
  TEE_FUZZ_REQUIRE(tee::LoadU16(d + 2) == tee::kAttKeyTypeEcdsaP256);
  TEE_FUZZ_REQUIRE(tee::LoadU32(d + 4) == (f.version == 3 ? tee::kTeeTypeSgx : tee::kTeeTypeTdx));
  TEE_FUZZ_REQUIRE(std::memcmp(d + 0x0C, kIntelQeVendor, 16) == 0);
  if (f.version == 3) {
    TEE_FUZZ_REQUIRE(f.body_type == tee::kBodyTypeSgx && f.body_size == tee::kSgxReportBodySize);
    TEE_FUZZ_REQUIRE(f.body_offset == tee::kQuoteHeaderSize);
  } else if (f.version == 4) {
    TEE_FUZZ_REQUIRE(f.body_type == tee::kBodyTypeTd10 && f.body_size == tee::kTdReport10Size);
    TEE_FUZZ_REQUIRE(f.body_offset == tee::kQuoteHeaderSize);
  } else {
    uint32_t want = f.body_type == tee::kBodyTypeTd10   ? tee::kTdReport10Size
                    : f.body_type == tee::kBodyTypeTd15 ? tee::kTdReport15Size
                                                        : 0;
    TEE_FUZZ_REQUIRE(want != 0 && f.body_size == want);
    TEE_FUZZ_REQUIRE(f.body_offset == tee::kQuoteHeaderSize + 6);
    TEE_FUZZ_REQUIRE(tee::LoadU16(d + 0x30) == f.body_type && tee::LoadU32(d + 0x32) == want);
  }
  TEE_FUZZ_REQUIRE(f.signed_length == f.body_offset + f.body_size);
  TEE_FUZZ_REQUIRE(f.signed_length < size);  // the signature covers a strict prefix
}

// Signature data (T05, T06): fixed items, then the type-6 wrapper for v4/v5.
// Returns the offset where the QE report must start.
inline size_t CheckSignatureData(const uint8_t* d, size_t size, const tee::QuoteFrame& f) {
  TEE_FUZZ_REQUIRE(f.signature_data_length_offset == f.signed_length);
  TEE_FUZZ_REQUIRE(RangeInside(f.signed_length, 4, size));
  TEE_FUZZ_REQUIRE(tee::LoadU32(d + f.signed_length) == f.signature_data_length);
  TEE_FUZZ_REQUIRE(f.quote_signature_offset == f.signed_length + 4);
  TEE_FUZZ_REQUIRE(uint64_t{f.end_offset} == uint64_t{f.quote_signature_offset} + f.signature_data_length);
  TEE_FUZZ_REQUIRE(f.end_offset <= size && f.trailing_size == size - f.end_offset);
  TEE_FUZZ_REQUIRE(f.attestation_key_offset == f.quote_signature_offset + 64);
  TEE_FUZZ_REQUIRE(RangeInside(f.quote_signature_offset, 128, f.end_offset));
  size_t qe_at = f.attestation_key_offset + 64;
  if (f.version == 3) {  // no wrapper in SGX v3 (§3)
    TEE_FUZZ_REQUIRE(f.outer_cert_data_type == 0 && f.outer_cert_data_size == 0);
    return qe_at;
  }
  TEE_FUZZ_REQUIRE(f.signature_data_length >= 134);
  TEE_FUZZ_REQUIRE(RangeInside(qe_at, 6, f.end_offset));
  TEE_FUZZ_REQUIRE(f.outer_cert_data_type == tee::kCertDataQeReport &&
                   tee::LoadU16(d + qe_at) == tee::kCertDataQeReport);
  TEE_FUZZ_REQUIRE(tee::LoadU32(d + qe_at + 2) == f.outer_cert_data_size);
  TEE_FUZZ_REQUIRE(uint64_t{qe_at} + 6 + f.outer_cert_data_size == f.end_offset);
  return qe_at + 6;
}

// QE report, its signature, QE auth data and the PCK chain (T07).
inline void CheckQeSection(const uint8_t* d, const tee::QuoteFrame& f, size_t qe_at) {
  TEE_FUZZ_REQUIRE(f.qe_report_offset == qe_at);
  TEE_FUZZ_REQUIRE(f.qe_report_signature_offset == f.qe_report_offset + 384);
  TEE_FUZZ_REQUIRE(f.qe_auth_data_offset == f.qe_report_signature_offset + 64 + 2);
  TEE_FUZZ_REQUIRE(RangeInside(f.qe_report_offset, 384 + 64 + 2, f.end_offset));
  TEE_FUZZ_REQUIRE(tee::LoadU16(d + f.qe_auth_data_offset - 2) == f.qe_auth_data_size);
  TEE_FUZZ_REQUIRE(RangeInside(f.qe_auth_data_offset, f.qe_auth_data_size, f.end_offset));
  TEE_FUZZ_REQUIRE(uint64_t{f.cert_data_offset} ==
                   uint64_t{f.qe_auth_data_offset} + f.qe_auth_data_size + 6);
  TEE_FUZZ_REQUIRE(f.cert_data_type == tee::kCertDataPckChain &&
                   tee::LoadU16(d + f.cert_data_offset - 6) == tee::kCertDataPckChain);
  TEE_FUZZ_REQUIRE(tee::LoadU32(d + f.cert_data_offset - 4) == f.cert_data_size);
  TEE_FUZZ_REQUIRE(f.cert_data_size > 0);
  TEE_FUZZ_REQUIRE(uint64_t{f.cert_data_offset} + f.cert_data_size == f.end_offset);
}

// T05 in each mode (clarifications: default = zero padding only).
inline void CheckTrailingRule(const uint8_t* d, size_t size, tee::TrailingMode mode,
                              const tee::QuoteFrame& f) {
  TEE_FUZZ_REQUIRE(f.trailing_all_zero == tee::AllZero(d + f.end_offset, size - f.end_offset));
  if (mode == tee::TrailingMode::kStrict) TEE_FUZZ_REQUIRE(f.trailing_size == 0);
  if (mode == tee::TrailingMode::kDefault) TEE_FUZZ_REQUIRE(f.trailing_all_zero);
}

inline void CheckQuoteFrame(const uint8_t* d, size_t size, tee::TrailingMode mode,
                            const tee::QuoteFrame& f) {
  CheckQuoteHeader(d, size, f);
  size_t qe_at = CheckSignatureData(d, size, f);
  CheckQeSection(d, f, qe_at);
  CheckTrailingRule(d, size, mode, f);
}

inline bool SameFrame(const tee::QuoteFrame& a, const tee::QuoteFrame& b) {
  return a.version == b.version && a.body_type == b.body_type && a.body_offset == b.body_offset &&
         a.body_size == b.body_size && a.signed_length == b.signed_length &&
         a.signature_data_length == b.signature_data_length &&
         a.quote_signature_offset == b.quote_signature_offset &&
         a.attestation_key_offset == b.attestation_key_offset &&
         a.outer_cert_data_type == b.outer_cert_data_type &&
         a.outer_cert_data_size == b.outer_cert_data_size &&
         a.qe_report_offset == b.qe_report_offset &&
         a.qe_report_signature_offset == b.qe_report_signature_offset &&
         a.qe_auth_data_offset == b.qe_auth_data_offset &&
         a.qe_auth_data_size == b.qe_auth_data_size && a.cert_data_type == b.cert_data_type &&
         a.cert_data_offset == b.cert_data_offset && a.cert_data_size == b.cert_data_size &&
         a.end_offset == b.end_offset && a.trailing_size == b.trailing_size &&
         a.trailing_all_zero == b.trailing_all_zero;
}

// Parses in all three modes. Lenient accepts a superset of default, which
// accepts a superset of strict; where they disagree it is T05 and nothing else.
inline void CheckIntelQuote(const uint8_t* d, size_t size) {
  tee::QuoteFrame frame[3];
  tee::ParseFailure fail[3];
  bool ok[3];
  for (int m = 0; m < 3; ++m) {
    ok[m] = tee::ParseIntelQuote(d, size, kModes[m], &frame[m], &fail[m]);
    if (ok[m]) {
      CheckQuoteFrame(d, size, kModes[m], frame[m]);
    } else {
      CheckFailure(fail[m], size, 'T');
    }
  }
  const int kDefault = 0, kStrict = 1, kLenient = 2;
  if (ok[kStrict]) TEE_FUZZ_REQUIRE(ok[kDefault]);
  if (ok[kDefault]) TEE_FUZZ_REQUIRE(ok[kLenient]);
  if (!ok[kLenient]) {
    TEE_FUZZ_REQUIRE(SameFailure(fail[kLenient], fail[kDefault]));
    TEE_FUZZ_REQUIRE(SameFailure(fail[kLenient], fail[kStrict]));
    return;
  }
  const tee::QuoteFrame& base = frame[kLenient];
  for (int m : {kDefault, kStrict}) {
    if (ok[m]) {
      TEE_FUZZ_REQUIRE(SameFrame(frame[m], base));
    } else {  // only the trailing bytes may tip the decision
      TEE_FUZZ_REQUIRE(fail[m].code == tee::ParseCode::kTrailingData);
      TEE_FUZZ_REQUIRE(std::strcmp(fail[m].check, "T05") == 0);
      TEE_FUZZ_REQUIRE(fail[m].offset >= base.end_offset && fail[m].offset < size);
    }
  }
}

}  // namespace tee_fuzz
