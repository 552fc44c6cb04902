// Azure confidential-VM attestation report as the paravisor (HCL) writes it
// into vTPM NV index 0x01400001: a 32-byte "HCLA" header, a 1184-byte slot
// holding the hardware report (SEV-SNP ATTESTATION_REPORT, or a 1024-byte TDX
// TDREPORT followed by zeros), the IGVM request data header and its variable
// data (the runtime-data JSON), then zero padding up to the NV index size.
// Layout from Microsoft's azure-cvm-tooling (az-cvm-vtpm/src/hcl) and
// trustee's az_snp_vtpm / az_tdx_vtpm verifiers; docs/vtpm-formats.md.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

// The NV index is 2600 bytes on every Azure size seen; 64 KiB leaves room
// for much larger runtime data and nothing more.
constexpr size_t kMaxHclReportSize = 64 * 1024;

constexpr uint32_t kHclSignature = 0x414c4348;  // "HCLA" read little-endian
constexpr uint32_t kHclHardwareReportOffset = 32;
constexpr uint32_t kHclHardwareReportSlot = 1184;  // the SNP report size
constexpr uint32_t kHclTdReportSize = 1024;
constexpr uint32_t kHclRequestDataOffset = 32 + 1184;        // 1216
constexpr uint32_t kHclRequestDataHeaderSize = 20;
constexpr uint32_t kHclVariableDataOffset = 1216 + 20;       // 1236
constexpr uint32_t kHclReportTypeSnp = 2;
constexpr uint32_t kHclReportTypeTdx = 4;
// IGVM report-data hash types are 1 = SHA-256, 2 = SHA-384, 3 = SHA-512; only
// SHA-256 is accepted (as azure-cvm-tooling does), refused with check "VT03".
constexpr uint32_t kHclHashTypeSha256 = 1;

struct HclFrame {
  uint32_t version = 0;
  uint32_t report_size = 0;
  uint32_t request_type = 0;
  uint32_t status = 0;
  uint32_t hardware_report_size = 0;  // 1184 (SNP) or 1024 (TDX), at offset 32
  uint32_t report_type = 0;           // 2 = SNP, 4 = TDX
  uint32_t request_data_version = 0;
  uint32_t report_data_hash_type = 0;  // always 1 (SHA-256) on success
  uint32_t variable_data_size = 0;     // at kHclVariableDataOffset
  uint32_t trailing_size = 0;          // zero padding after report_size
};

bool ParseHclReport(const uint8_t* data, size_t size, HclFrame* frame, ParseFailure* failure);

}  // namespace tee
