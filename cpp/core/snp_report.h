// AMD SEV-SNP ATTESTATION_REPORT structure checks (checklist §4.1, S02-S04)
// and the GHCB / configfs-tsm auxblob certificate table (S05).
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

struct SnpFrame {
  uint32_t version = 0;
  uint32_t signing_key = 0;  // 0 = VCEK, 1 = VLEK
  uint32_t trailing_size = 0;
  bool trailing_all_zero = true;
};

bool ParseSnpReport(const uint8_t* data, size_t size, TrailingMode mode, SnpFrame* frame,
                    ParseFailure* failure);

// S05 caps: the kernel hands over at most a few pages; a table lists a handful
// of certificates (VCEK or VLEK, ASK or ASVK, ARK, maybe a few extra).
constexpr size_t kMaxCertTableBlob = 1024 * 1024;
constexpr size_t kMaxCertTableEntries = 64;
constexpr uint32_t kMinCertificateSize = 64;  // below any real DER certificate

struct CertTableEntry {
  uint8_t guid[16];  // as stored (little-endian mixed GUID encoding)
  uint32_t offset;
  uint32_t length;
};

struct CertTable {
  CertTableEntry entries[kMaxCertTableEntries];
  size_t count = 0;
};

bool ParseSnpCertTable(const uint8_t* data, size_t size, CertTable* table, ParseFailure* failure);

}  // namespace tee
