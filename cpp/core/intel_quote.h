// Framing of Intel DCAP ECDSA quotes: SGX v3, TDX v4 and TDX v5 (checklist
// §2.1, §3). The parser validates every length and the fixed header values,
// and returns absolute offsets of each region. Field values inside the fixed
// structures are read through the tables in layout.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

// T02: hard cap checked before anything else. Real quotes are ~5 KB, and
// buffers padded to 8000 bytes exist in the wild.
constexpr size_t kMaxQuoteSize = 64 * 1024;

constexpr uint16_t kAttKeyTypeEcdsaP256 = 2;
constexpr uint32_t kTeeTypeSgx = 0x00000000;
constexpr uint32_t kTeeTypeTdx = 0x00000081;
constexpr uint16_t kBodyTypeSgx = 1;
constexpr uint16_t kBodyTypeTd10 = 2;
constexpr uint16_t kBodyTypeTd15 = 3;
constexpr uint16_t kCertDataPckChain = 5;
constexpr uint16_t kCertDataQeReport = 6;

struct QuoteFrame {
  uint16_t version = 0;
  uint16_t body_type = 0;        // 1 = SGX enclave report, 2 = TD 1.0, 3 = TD 1.5
  uint32_t body_offset = 0;
  uint32_t body_size = 0;
  uint32_t signed_length = 0;    // quote signature covers [0, signed_length)
  uint32_t signature_data_length_offset = 0;
  uint32_t signature_data_length = 0;
  uint32_t quote_signature_offset = 0;   // 64 bytes, big-endian r || s
  uint32_t attestation_key_offset = 0;   // 64 bytes, big-endian x || y
  uint16_t outer_cert_data_type = 0;     // 6 for v4/v5; 0 for v3 (no wrapper)
  uint32_t outer_cert_data_size = 0;
  uint32_t qe_report_offset = 0;         // 384 bytes
  uint32_t qe_report_signature_offset = 0;  // 64 bytes
  uint32_t qe_auth_data_offset = 0;
  uint32_t qe_auth_data_size = 0;
  uint16_t cert_data_type = 0;           // always 5 on success
  uint32_t cert_data_offset = 0;
  uint32_t cert_data_size = 0;
  uint32_t end_offset = 0;               // end of the signature data
  uint32_t trailing_size = 0;
  bool trailing_all_zero = true;
};

// Returns kOk in failure->code and fills frame, or the first failure.
bool ParseIntelQuote(const uint8_t* data, size_t size, TrailingMode mode, QuoteFrame* frame,
                     ParseFailure* failure);

// Shared by every parser: applies the trailing-bytes rule to [end, size).
bool CheckTrailing(const uint8_t* data, size_t size, size_t end, TrailingMode mode,
                   const char* check, bool* all_zero, ParseFailure* failure);

}  // namespace tee
