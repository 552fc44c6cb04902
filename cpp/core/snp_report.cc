#include "snp_report.h"

#include <cstring>

#include "cursor.h"
#include "intel_quote.h"  // CheckTrailing
#include "layout.h"

namespace tee {
namespace {

constexpr uint32_t kSignatureAlgoEcdsaP384Sha384 = 1;
constexpr uint64_t kPolicyReservedOne = 1ull << 17;
constexpr uint64_t kPolicyMbzMask = ~((1ull << 26) - 1);               // bits 63:26
// 63:8. The checklist also lists bit 6 as must-be-zero, but genuine Turin
// firmware sets it (docs/decisions.md), so it is reported, not rejected.
constexpr uint64_t kPlatformInfoMbzMask = ~((1ull << 8) - 1);

struct Range {
  uint32_t begin;
  uint32_t end;
};

// S04: must-be-zero ranges per report version. v2 has no CPUID bytes; v5
// adds the mitigation vectors at 0x1F8..0x207.
constexpr Range kReservedAll[] = {
    {0x04C, 0x050}, {0x1EB, 0x1EC}, {0x1EF, 0x1F0}, {0x2D0, 0x2E8}, {0x318, 0x330}, {0x330, 0x4A0}};
constexpr Range kReservedV2[] = {{0x188, 0x1A0}, {0x1F8, 0x2A0}};
constexpr Range kReservedV3V4[] = {{0x18B, 0x1A0}, {0x1F8, 0x2A0}};
constexpr Range kReservedV5[] = {{0x18B, 0x1A0}, {0x208, 0x2A0}};

template <size_t N>
bool CheckZeroRanges(const uint8_t* data, const Range (&ranges)[N], ParseFailure* failure) {
  for (const Range& r : ranges) {
    size_t first = FirstNonZero(data + r.begin, r.end - r.begin);
    if (first != r.end - r.begin) {
      *failure = ParseFailure{ParseCode::kReservedNonZero, r.begin + first, "S04"};
      return false;
    }
  }
  return true;
}

bool CheckFixedFields(const uint8_t* data, SnpFrame* f, ParseFailure* failure) {
  if (LoadU32(data + 0x034) != kSignatureAlgoEcdsaP384Sha384) {
    *failure = ParseFailure{ParseCode::kUnsupportedSignatureAlgorithm, 0x034, "S04"};
    return false;
  }
  uint32_t signer_info = LoadU32(data + 0x048);
  if (signer_info >> 5) {
    *failure = ParseFailure{ParseCode::kReservedNonZero, 0x048, "S04"};
    return false;
  }
  f->signing_key = (signer_info >> 2) & 0x7;
  if (f->signing_key > 1) {  // 7 = unsigned report, 2..6 reserved
    *failure = ParseFailure{ParseCode::kUnsupportedSigningKey, 0x048, "S04"};
    return false;
  }
  uint64_t policy = LoadU64(data + 0x008);
  if (!(policy & kPolicyReservedOne)) {
    *failure = ParseFailure{ParseCode::kBadFieldValue, 0x008, "S04"};
    return false;
  }
  if (policy & kPolicyMbzMask) {
    *failure = ParseFailure{ParseCode::kReservedNonZero, 0x008, "S04"};
    return false;
  }
  if (LoadU64(data + 0x040) & kPlatformInfoMbzMask) {
    *failure = ParseFailure{ParseCode::kReservedNonZero, 0x040, "S04"};
    return false;
  }
  return true;
}

constexpr size_t kCertEntrySize = 24;  // GUID 16, u32 offset, u32 length

// S05: the certificates tile the blob after the table without overlapping:
// two entries naming the same bytes would let one certificate stand for two
// roles. Bytes no entry covers (between the table and the first certificate,
// between certificates, after the last) must be zero: the kernel pads the
// blob to pages with zeros, anything else is unaccounted data.
bool CheckCertificateLayout(const uint8_t* data, size_t size, size_t table_size, const CertTable& table,
                            ParseFailure* failure) {
  size_t order[kMaxCertTableEntries];
  for (size_t i = 0; i < table.count; ++i) {  // insertion sort by offset (stable; at most 64 entries)
    size_t j = i;
    while (j > 0 && table.entries[order[j - 1]].offset > table.entries[i].offset) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = i;
  }
  size_t covered = table_size;  // end of the last certificate, or of the table
  for (size_t k = 0; k < table.count; ++k) {
    const CertTableEntry& e = table.entries[order[k]];
    if (e.offset < covered) {  // starts inside the previous certificate
      *failure = ParseFailure{ParseCode::kBadLength, order[k] * kCertEntrySize + 16, "S05"};
      return false;
    }
    size_t first = FirstNonZero(data + covered, e.offset - covered);
    if (first != e.offset - covered) {
      *failure = ParseFailure{ParseCode::kReservedNonZero, covered + first, "S05"};
      return false;
    }
    covered = static_cast<size_t>(e.offset) + e.length;  // in bounds: checked by the caller (V24)
  }
  size_t first = FirstNonZero(data + covered, size - covered);
  if (first != size - covered) {
    *failure = ParseFailure{ParseCode::kReservedNonZero, covered + first, "S05"};
    return false;
  }
  return true;
}

}  // namespace

bool ParseSnpReport(const uint8_t* data, size_t size, TrailingMode mode, SnpFrame* f,
                    ParseFailure* failure) {
  *f = SnpFrame{};
  if (size > kSnpReportSize + 4096) {  // room for a padded ioctl buffer, no more
    *failure = ParseFailure{ParseCode::kInputTooLarge, kSnpReportSize, "S02"};
    return false;
  }
  if (size < kSnpReportSize) {  // S02
    *failure = ParseFailure{ParseCode::kTruncated, size, "S02"};
    return false;
  }
  f->version = LoadU32(data);
  if (f->version < 2 || f->version > 5) {  // S03: an unknown version is never "like v5"
    *failure = ParseFailure{ParseCode::kUnsupportedVersion, 0, "S03"};
    return false;
  }
  if (!CheckFixedFields(data, f, failure) || !CheckZeroRanges(data, kReservedAll, failure))
    return false;
  bool zero_ok = f->version == 2   ? CheckZeroRanges(data, kReservedV2, failure)
                 : f->version == 5 ? CheckZeroRanges(data, kReservedV5, failure)
                                   : CheckZeroRanges(data, kReservedV3V4, failure);
  if (!zero_ok) return false;
  f->trailing_size = static_cast<uint32_t>(size - kSnpReportSize);
  return CheckTrailing(data, size, kSnpReportSize, mode, "S02", &f->trailing_all_zero, failure);
}

bool ParseSnpCertTable(const uint8_t* data, size_t size, CertTable* table, ParseFailure* failure) {
  table->count = 0;
  if (size > kMaxCertTableBlob) {
    *failure = ParseFailure{ParseCode::kInputTooLarge, kMaxCertTableBlob, "S05"};
    return false;
  }
  size_t pos = 0;
  for (;;) {  // read entries up to the all-zero terminator
    if (size - pos < kCertEntrySize) {
      *failure = ParseFailure{ParseCode::kTruncated, pos, "S05"};
      return false;
    }
    if (AllZero(data + pos, kCertEntrySize)) break;
    if (table->count == kMaxCertTableEntries) {
      *failure = ParseFailure{ParseCode::kTooManyEntries, pos, "S05"};
      return false;
    }
    CertTableEntry& e = table->entries[table->count++];
    std::memcpy(e.guid, data + pos, 16);
    e.offset = LoadU32(data + pos + 16);
    e.length = LoadU32(data + pos + 20);
    if (AllZero(e.guid, 16)) {
      *failure = ParseFailure{ParseCode::kBadFieldValue, pos, "S05"};
      return false;
    }
    pos += kCertEntrySize;
  }
  size_t table_size = pos + kCertEntrySize;
  for (size_t i = 0; i < table->count; ++i) {
    const CertTableEntry& e = table->entries[i];
    size_t at = i * kCertEntrySize;
    for (size_t j = 0; j < i; ++j) {
      if (std::memcmp(table->entries[j].guid, e.guid, 16) == 0) {
        *failure = ParseFailure{ParseCode::kDuplicateEntry, at, "S05"};
        return false;
      }
    }
    // 64-bit sum: offset + length must not wrap (V24).
    uint64_t end = static_cast<uint64_t>(e.offset) + e.length;
    if (e.offset < table_size) {
      *failure = ParseFailure{ParseCode::kBadLength, at + 16, "S05"};
      return false;
    }
    if (end > size) {
      *failure = ParseFailure{ParseCode::kLengthOutOfBounds, at + 16, "S05"};
      return false;
    }
    if (e.length < kMinCertificateSize) {  // V28: short blobs never reach a DER parser
      *failure = ParseFailure{ParseCode::kBadLength, at + 20, "S05"};
      return false;
    }
  }
  return CheckCertificateLayout(data, size, table_size, *table, failure);
}

}  // namespace tee
