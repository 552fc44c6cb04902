#include "hcl_report.h"

#include "cursor.h"

namespace tee {
namespace {

constexpr const char* kCheck = "HCL";

bool Fail(ParseFailure* failure, ParseCode code, uint64_t offset) {
  *failure = ParseFailure{code, offset, kCheck};
  return false;
}

}  // namespace

bool ParseHclReport(const uint8_t* data, size_t size, HclFrame* f, ParseFailure* failure) {
  *f = HclFrame{};
  if (size > kMaxHclReportSize) return Fail(failure, ParseCode::kInputTooLarge, kMaxHclReportSize);
  // The signature first, so that other data is named as such even when short.
  if (size < 4) return Fail(failure, ParseCode::kHclTruncated, 0);
  if (LoadU32(data) != kHclSignature) return Fail(failure, ParseCode::kHclBadHeader, 0);
  if (size < kHclVariableDataOffset) return Fail(failure, ParseCode::kHclTruncated, size);

  // Header: signature, version, report_size, request_type, status, reserved[3].
  f->version = LoadU32(data + 4);
  f->report_size = LoadU32(data + 8);
  f->request_type = LoadU32(data + 12);
  f->status = LoadU32(data + 16);
  if (f->version < 1 || f->version > 2) return Fail(failure, ParseCode::kHclUnsupportedVersion, 4);
  size_t reserved = FirstNonZero(data + 20, 12);
  if (reserved != 12) return Fail(failure, ParseCode::kHclBadHeader, 20 + reserved);

  // IGVM request data: data_size, version, report_type, report_data_hash_type,
  // variable_data_size, then the variable data.
  const uint8_t* req = data + kHclRequestDataOffset;
  uint32_t data_size = LoadU32(req);
  f->request_data_version = LoadU32(req + 4);
  f->report_type = LoadU32(req + 8);
  f->report_data_hash_type = LoadU32(req + 12);
  f->variable_data_size = LoadU32(req + 16);
  if (f->request_data_version != 1)
    return Fail(failure, ParseCode::kHclUnsupportedVersion, kHclRequestDataOffset + 4);
  if (f->report_type != kHclReportTypeSnp && f->report_type != kHclReportTypeTdx)
    return Fail(failure, ParseCode::kHclUnsupportedReportType, kHclRequestDataOffset + 8);
  // VT03 (review s6, finding 7): only SHA-256, the one hash type azure-cvm-tooling
  // (az-cvm-vtpm) and trustee accept for the runtime-data commitment.
  if (f->report_data_hash_type != kHclHashTypeSha256) {
    *failure = ParseFailure{ParseCode::kHclUnsupportedHashType, kHclRequestDataOffset + 12, "VT03"};
    return false;
  }
  // size <= 64 KiB, so these sums stay far from overflow.
  if (f->variable_data_size > size - kHclVariableDataOffset)
    return Fail(failure, ParseCode::kHclTruncated, kHclVariableDataOffset);
  uint64_t end = uint64_t{kHclVariableDataOffset} + f->variable_data_size;
  if (data_size != kHclRequestDataHeaderSize + uint64_t{f->variable_data_size})
    return Fail(failure, ParseCode::kHclBadSize, kHclRequestDataOffset);
  if (f->report_size != end) return Fail(failure, ParseCode::kHclBadSize, 8);

  if (f->report_type == kHclReportTypeTdx) {
    f->hardware_report_size = kHclTdReportSize;
    const uint32_t pad_at = kHclHardwareReportOffset + kHclTdReportSize;
    size_t nz = FirstNonZero(data + pad_at, kHclRequestDataOffset - pad_at);
    if (nz != kHclRequestDataOffset - pad_at)
      return Fail(failure, ParseCode::kHclReservedNonZero, pad_at + nz);
  } else {
    f->hardware_report_size = kHclHardwareReportSlot;
  }

  // What follows report_size is the NV index's zero padding (clarifications, T05 rule).
  f->trailing_size = static_cast<uint32_t>(size - end);
  size_t nz = FirstNonZero(data + end, f->trailing_size);
  if (nz != f->trailing_size) return Fail(failure, ParseCode::kHclTrailingData, end + nz);
  return true;
}

}  // namespace tee
