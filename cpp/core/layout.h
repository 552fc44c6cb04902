// Field tables for the fixed-size structures inside Intel quotes and AMD
// SEV-SNP reports. These tables are the single source of field offsets: the
// addon exports them once at load, and the TypeScript layer materialises
// fields as views of the caller's buffer from them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tee {

enum class FieldType : uint8_t { kBytes, kU8, kU16, kU32, kU64, kTcb };

struct FieldDesc {
  const char* name;    // camelCase of the spec's field name
  uint32_t offset;     // relative to the start of the structure
  uint32_t size;       // bytes
  FieldType type;
  uint8_t min_version; // SNP only: first report version that has the field (0 = all)
};

struct LayoutTable {
  const char* name;
  const FieldDesc* fields;
  size_t count;
  uint32_t total_size;
};

// Sizes fixed by Intel's sgx_quote_{3,4,5}.h / sgx_report.h and AMD's SNP ABI.
constexpr uint32_t kQuoteHeaderSize = 48;
constexpr uint32_t kSgxReportBodySize = 384;
constexpr uint32_t kTdReport10Size = 584;
constexpr uint32_t kTdReport15Size = 648;
constexpr uint32_t kSnpReportSize = 0x4A0;  // 1184
constexpr uint32_t kSnpSignedSize = 0x2A0;  // S12: signature covers [0, 0x2A0)

// Every exported table, for the addon's layouts() call.
const LayoutTable* AllLayouts(size_t* count);

}  // namespace tee
