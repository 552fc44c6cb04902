#include "layout.h"

namespace tee {
namespace {

using T = FieldType;

// Intel sgx_quote_3.h: SGX quote v3 header (checklist §3).
constexpr FieldDesc kQuoteHeaderV3[] = {
    {"version", 0x00, 2, T::kU16, 0},
    {"attestationKeyType", 0x02, 2, T::kU16, 0},
    {"attestationKeyData0", 0x04, 4, T::kU32, 0},
    {"qeSvn", 0x08, 2, T::kU16, 0},
    {"pceSvn", 0x0A, 2, T::kU16, 0},
    {"qeVendorId", 0x0C, 16, T::kBytes, 0},
    {"userData", 0x1C, 20, T::kBytes, 0},
};

// Intel sgx_quote_4.h / sgx_quote_5.h: header of v4 and v5 quotes (§2.1).
// Bytes 0x08..0x0B are reserved for TDX and never interpreted (T44).
constexpr FieldDesc kQuoteHeaderV4[] = {
    {"version", 0x00, 2, T::kU16, 0},
    {"attestationKeyType", 0x02, 2, T::kU16, 0},
    {"teeType", 0x04, 4, T::kU32, 0},
    {"reserved", 0x08, 4, T::kBytes, 0},
    {"qeVendorId", 0x0C, 16, T::kBytes, 0},
    {"userData", 0x1C, 20, T::kBytes, 0},
};

// Intel sgx_report.h sgx_report_body_t: the QE report and the SGX enclave report.
constexpr FieldDesc kSgxReportBody[] = {
    {"cpuSvn", 0x000, 16, T::kBytes, 0},
    {"miscSelect", 0x010, 4, T::kU32, 0},
    {"reserved1", 0x014, 12, T::kBytes, 0},
    {"isvExtProdId", 0x020, 16, T::kBytes, 0},
    {"attributes", 0x030, 16, T::kBytes, 0},
    {"mrEnclave", 0x040, 32, T::kBytes, 0},
    {"reserved2", 0x060, 32, T::kBytes, 0},
    {"mrSigner", 0x080, 32, T::kBytes, 0},
    {"reserved3", 0x0A0, 32, T::kBytes, 0},
    {"configId", 0x0C0, 64, T::kBytes, 0},
    {"isvProdId", 0x100, 2, T::kU16, 0},
    {"isvSvn", 0x102, 2, T::kU16, 0},
    {"configSvn", 0x104, 2, T::kU16, 0},
    {"reserved4", 0x106, 42, T::kBytes, 0},
    {"isvFamilyId", 0x130, 16, T::kBytes, 0},
    {"reportData", 0x140, 64, T::kBytes, 0},
};

// Intel sgx_report2_body_t (TDX 1.0) and sgx_report2_body_v1_5_t (TDX 1.5).
#define TD_REPORT_10_FIELDS                          \
  {"teeTcbSvn", 0x000, 16, T::kBytes, 0},            \
  {"mrSeam", 0x010, 48, T::kBytes, 0},               \
  {"mrSignerSeam", 0x040, 48, T::kBytes, 0},         \
  {"seamAttributes", 0x070, 8, T::kU64, 0},          \
  {"tdAttributes", 0x078, 8, T::kU64, 0},            \
  {"xfam", 0x080, 8, T::kU64, 0},                    \
  {"mrTd", 0x088, 48, T::kBytes, 0},                 \
  {"mrConfigId", 0x0B8, 48, T::kBytes, 0},           \
  {"mrOwner", 0x0E8, 48, T::kBytes, 0},              \
  {"mrOwnerConfig", 0x118, 48, T::kBytes, 0},        \
  {"rtmr0", 0x148, 48, T::kBytes, 0},                \
  {"rtmr1", 0x178, 48, T::kBytes, 0},                \
  {"rtmr2", 0x1A8, 48, T::kBytes, 0},                \
  {"rtmr3", 0x1D8, 48, T::kBytes, 0},                \
  {"reportData", 0x208, 64, T::kBytes, 0}

constexpr FieldDesc kTdReport10[] = {TD_REPORT_10_FIELDS};
constexpr FieldDesc kTdReport15[] = {
    TD_REPORT_10_FIELDS,
    {"teeTcbSvn2", 0x248, 16, T::kBytes, 0},
    {"mrServiceTd", 0x258, 48, T::kBytes, 0},
};
#undef TD_REPORT_10_FIELDS

// AMD SEV-SNP ATTESTATION_REPORT (checklist §4.1). min_version marks fields
// that only exist from a report version on; earlier versions keep those bytes
// reserved (and the parser checks them as zero).
constexpr FieldDesc kSnpReport[] = {
    {"version", 0x000, 4, T::kU32, 0},
    {"guestSvn", 0x004, 4, T::kU32, 0},
    {"policy", 0x008, 8, T::kU64, 0},
    {"familyId", 0x010, 16, T::kBytes, 0},
    {"imageId", 0x020, 16, T::kBytes, 0},
    {"vmpl", 0x030, 4, T::kU32, 0},
    {"signatureAlgo", 0x034, 4, T::kU32, 0},
    {"currentTcb", 0x038, 8, T::kTcb, 0},
    {"platformInfo", 0x040, 8, T::kU64, 0},
    {"signerInfo", 0x048, 4, T::kU32, 0},
    {"reportData", 0x050, 64, T::kBytes, 0},
    {"measurement", 0x090, 48, T::kBytes, 0},
    {"hostData", 0x0C0, 32, T::kBytes, 0},
    {"idKeyDigest", 0x0E0, 48, T::kBytes, 0},
    {"authorKeyDigest", 0x110, 48, T::kBytes, 0},
    {"reportId", 0x140, 32, T::kBytes, 0},
    {"reportIdMa", 0x160, 32, T::kBytes, 0},
    {"reportedTcb", 0x180, 8, T::kTcb, 0},
    {"cpuidFamId", 0x188, 1, T::kU8, 3},
    {"cpuidModId", 0x189, 1, T::kU8, 3},
    {"cpuidStep", 0x18A, 1, T::kU8, 3},
    {"chipId", 0x1A0, 64, T::kBytes, 0},
    {"committedTcb", 0x1E0, 8, T::kTcb, 0},
    {"currentBuild", 0x1E8, 1, T::kU8, 0},
    {"currentMinor", 0x1E9, 1, T::kU8, 0},
    {"currentMajor", 0x1EA, 1, T::kU8, 0},
    {"committedBuild", 0x1EC, 1, T::kU8, 0},
    {"committedMinor", 0x1ED, 1, T::kU8, 0},
    {"committedMajor", 0x1EE, 1, T::kU8, 0},
    {"launchTcb", 0x1F0, 8, T::kTcb, 0},
    {"launchMitVector", 0x1F8, 8, T::kU64, 5},
    {"currentMitVector", 0x200, 8, T::kU64, 5},
    {"signatureR", 0x2A0, 72, T::kBytes, 0},
    {"signatureS", 0x2E8, 72, T::kBytes, 0},
};

template <size_t N>
constexpr uint32_t EndOf(const FieldDesc (&fields)[N]) {
  return fields[N - 1].offset + fields[N - 1].size;
}

// The last field of each table must end exactly at the structure's size
// (SNP: the signature ends at 0x330; 0x330..0x49F is reserved).
static_assert(EndOf(kQuoteHeaderV3) == kQuoteHeaderSize, "v3 header size");
static_assert(EndOf(kQuoteHeaderV4) == kQuoteHeaderSize, "v4 header size");
static_assert(EndOf(kSgxReportBody) == kSgxReportBodySize, "SGX report body size");
static_assert(EndOf(kTdReport10) == kTdReport10Size, "TD report 1.0 size");
static_assert(EndOf(kTdReport15) == kTdReport15Size, "TD report 1.5 size");
static_assert(EndOf(kSnpReport) == 0x330, "SNP signature end");

#define TABLE(label, arr, total) {label, arr, sizeof(arr) / sizeof(arr[0]), total}
constexpr LayoutTable kAll[] = {
    TABLE("quoteHeaderV3", kQuoteHeaderV3, kQuoteHeaderSize),
    TABLE("quoteHeaderV4", kQuoteHeaderV4, kQuoteHeaderSize),
    TABLE("sgxReportBody", kSgxReportBody, kSgxReportBodySize),
    TABLE("tdReport10", kTdReport10, kTdReport10Size),
    TABLE("tdReport15", kTdReport15, kTdReport15Size),
    TABLE("snpReport", kSnpReport, kSnpReportSize),
};
#undef TABLE

}  // namespace

const LayoutTable* AllLayouts(size_t* count) {
  *count = sizeof(kAll) / sizeof(kAll[0]);
  return kAll;
}

}  // namespace tee
