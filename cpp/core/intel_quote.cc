#include "intel_quote.h"

#include <cstring>

#include "cursor.h"
#include "layout.h"

namespace tee {
namespace {

// Intel's Quoting Enclave vendor ID (T03).
constexpr uint8_t kIntelQeVendorId[16] = {0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
                                          0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};

constexpr uint32_t kEcdsaSignatureSize = 64;
constexpr uint32_t kEcdsaKeySize = 64;
// T06: quote signature, attestation key, certification data type and size.
constexpr uint32_t kMinV4SignatureData = kEcdsaSignatureSize + kEcdsaKeySize + 2 + 4;
static_assert(kMinV4SignatureData == 134, "T06 minimum");

// T03 for every version, T04 for v5: fills version and body placement.
bool ParseHeader(Cursor& c, const uint8_t* data, QuoteFrame* f) {
  f->version = c.U16("T03");
  if (!c.ok()) return false;
  if (f->version < 3 || f->version > 5) {
    c.FailAt(ParseCode::kUnsupportedVersion, 0, "T03");
    return false;
  }
  uint16_t key_type = c.U16("T03");
  uint32_t tee_type = c.U32("T03");
  if (!c.Skip(4 + 16 + 20, "T02")) return false;
  if (key_type != kAttKeyTypeEcdsaP256) {
    c.FailAt(ParseCode::kUnsupportedKeyType, 2, "T03");
    return false;
  }
  // v3 keeps bytes 4..7 reserved (zero); v4/v5 put tee_type there (TDX only).
  uint32_t wanted_tee = f->version == 3 ? kTeeTypeSgx : kTeeTypeTdx;
  if (tee_type != wanted_tee) {
    c.FailAt(ParseCode::kUnsupportedTeeType, 4, "T03");
    return false;
  }
  if (std::memcmp(data + 0x0C, kIntelQeVendorId, sizeof(kIntelQeVendorId)) != 0) {
    c.FailAt(ParseCode::kUnsupportedQeVendor, 0x0C, "T03");
    return false;
  }
  if (f->version == 3) {
    f->body_type = kBodyTypeSgx;
    f->body_size = kSgxReportBodySize;
  } else if (f->version == 4) {
    f->body_type = kBodyTypeTd10;
    f->body_size = kTdReport10Size;
  } else {
    // T04: the 6-byte body descriptor is part of the signed range.
    size_t descriptor_at = c.pos();
    f->body_type = c.U16("T04");
    uint32_t body_size = c.U32("T04");
    if (!c.ok()) return false;
    if (f->body_type != kBodyTypeTd10 && f->body_type != kBodyTypeTd15) {
      c.FailAt(ParseCode::kUnsupportedBodyType, descriptor_at, "T04");
      return false;
    }
    f->body_size = f->body_type == kBodyTypeTd10 ? kTdReport10Size : kTdReport15Size;
    if (body_size != f->body_size) {
      c.FailAt(ParseCode::kBadLength, descriptor_at + 2, "T04");
      return false;
    }
  }
  f->body_offset = static_cast<uint32_t>(c.pos());
  return c.Skip(f->body_size, "T02");
}

// QE report, its signature, QE auth data, then the nested certification data
// that must be the PCK chain (T07; SGX v3 has the same sequence unwrapped).
bool ParseQeSection(Cursor& c, size_t end, QuoteFrame* f) {
  f->qe_report_offset = static_cast<uint32_t>(c.pos());
  c.Skip(kSgxReportBodySize, "T07");
  f->qe_report_signature_offset = static_cast<uint32_t>(c.pos());
  c.Skip(kEcdsaSignatureSize, "T07");
  size_t auth_size_at = c.pos();
  f->qe_auth_data_size = c.U16("T07");
  if (!c.ok()) return false;
  if (f->qe_auth_data_size > end - c.pos()) {
    c.FailAt(ParseCode::kLengthOutOfBounds, auth_size_at, "T07");
    return false;
  }
  f->qe_auth_data_offset = static_cast<uint32_t>(c.pos());
  c.Skip(f->qe_auth_data_size, "T07");
  size_t type_at = c.pos();
  f->cert_data_type = c.U16("T07");
  size_t size_at = c.pos();
  f->cert_data_size = c.U32("T07");
  if (!c.ok()) return false;
  if (f->cert_data_type != kCertDataPckChain) {
    c.FailAt(ParseCode::kUnsupportedCertDataType, type_at, "T07");
    return false;
  }
  // The PCK chain consumes the rest of the signature data exactly.
  size_t left = end - c.pos();
  if (f->cert_data_size > left) {
    c.FailAt(ParseCode::kLengthOutOfBounds, size_at, "T07");
    return false;
  }
  if (f->cert_data_size != left || f->cert_data_size == 0) {
    c.FailAt(ParseCode::kBadLength, size_at, "T07");
    return false;
  }
  f->cert_data_offset = static_cast<uint32_t>(c.pos());
  return c.Skip(f->cert_data_size, "T07");
}

}  // namespace

bool CheckTrailing(const uint8_t* data, size_t size, size_t end, TrailingMode mode,
                   const char* check, bool* all_zero, ParseFailure* failure) {
  size_t first = FirstNonZero(data + end, size - end);
  *all_zero = first == size - end;
  if (mode == TrailingMode::kLenient || size == end) return true;
  if (mode == TrailingMode::kStrict) {
    *failure = ParseFailure{ParseCode::kTrailingData, end, check};
    return false;
  }
  if (!*all_zero) {
    *failure = ParseFailure{ParseCode::kTrailingData, end + first, check};
    return false;
  }
  return true;
}

bool ParseIntelQuote(const uint8_t* data, size_t size, TrailingMode mode, QuoteFrame* f,
                     ParseFailure* failure) {
  *f = QuoteFrame{};
  if (size > kMaxQuoteSize) {  // T02: before any allocation or read
    *failure = ParseFailure{ParseCode::kInputTooLarge, kMaxQuoteSize, "T02"};
    return false;
  }
  Cursor c(data, size);
  if (!ParseHeader(c, data, f)) {
    *failure = c.failure();
    return false;
  }
  f->signed_length = static_cast<uint32_t>(c.pos());
  f->signature_data_length_offset = f->signed_length;
  f->signature_data_length = c.U32("T05");
  if (c.ok() && f->signature_data_length > c.remaining())
    c.FailAt(ParseCode::kLengthOutOfBounds, f->signature_data_length_offset, "T05");
  if (!c.ok()) {
    *failure = c.failure();
    return false;
  }
  // All arithmetic stays below kMaxQuoteSize, so size_t sums cannot wrap.
  size_t end = c.pos() + f->signature_data_length;
  f->quote_signature_offset = static_cast<uint32_t>(c.pos());
  if (f->version >= 4 && f->signature_data_length < kMinV4SignatureData) {
    *failure = ParseFailure{ParseCode::kBadLength, f->signature_data_length_offset, "T06"};
    return false;
  }
  c.Skip(kEcdsaSignatureSize, "T06");
  f->attestation_key_offset = static_cast<uint32_t>(c.pos());
  c.Skip(kEcdsaKeySize, "T06");
  if (f->version >= 4) {
    size_t type_at = c.pos();
    f->outer_cert_data_type = c.U16("T06");
    size_t size_at = c.pos();
    f->outer_cert_data_size = c.U32("T06");
    if (c.ok() && f->outer_cert_data_type != kCertDataQeReport)
      c.FailAt(ParseCode::kUnsupportedCertDataType, type_at, "T06");
    if (c.ok() && f->outer_cert_data_size > end - c.pos())
      c.FailAt(ParseCode::kLengthOutOfBounds, size_at, "T06");
    if (c.ok() && f->outer_cert_data_size != end - c.pos())
      c.FailAt(ParseCode::kBadLength, size_at, "T06");
  }
  // Reads inside the signature data must not run past its declared end.
  Cursor inner(data, end);
  if (c.ok()) inner.Skip(c.pos(), "T07");
  if (!c.ok() || !ParseQeSection(inner, end, f)) {
    *failure = c.ok() ? inner.failure() : c.failure();
    // A fixed field that does not fit inside the declared signature data
    // means signature_data_len itself is inconsistent.
    if (failure->code == ParseCode::kTruncated)
      *failure = ParseFailure{ParseCode::kBadLength, f->signature_data_length_offset, "T05"};
    return false;
  }
  f->end_offset = static_cast<uint32_t>(end);
  f->trailing_size = static_cast<uint32_t>(size - end);
  return CheckTrailing(data, size, end, mode, "T05", &f->trailing_all_zero, failure);
}

}  // namespace tee
