// Parse outcomes shared by every evidence parser. A parser never throws: it
// returns the first failure as a stable code plus the byte offset where it
// was detected and the checklist id of the rule that rejected the input.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tee {

enum class ParseCode : uint8_t {
  kOk = 0,
  kInputTooLarge,           // T02: input above the hard cap, rejected before any work
  kTruncated,               // input ends inside a fixed-size field
  kLengthOutOfBounds,       // a length field points past the remaining bytes
  kBadLength,               // a length field is in bounds but inconsistent with the structure
  kTrailingData,            // bytes after the structure that the parse mode does not allow (T05)
  kReservedNonZero,         // a must-be-zero range for this version holds a set bit
  kBadFieldValue,           // a fixed field holds a value the format forbids
  kDuplicateEntry,          // a table repeats a key (S05)
  kTooManyEntries,          // a table is longer than its cap (S05)
  kUnsupportedVersion,      // T03 / S03
  kUnsupportedKeyType,      // T03
  kUnsupportedTeeType,      // T03
  kUnsupportedQeVendor,     // T03
  kUnsupportedBodyType,     // T04
  kUnsupportedCertDataType, // T06 / T07
  kUnsupportedSignatureAlgorithm, // S04
  kUnsupportedSigningKey,   // S04
  // vTPM evidence (docs/vtpm-formats.md): one family of codes per format.
  kTpmTruncated,            // TPM 2.0 structure ends inside a field
  kTpmBadMagic,             // TPMS_ATTEST.magic is not TPM_GENERATED_VALUE
  kTpmBadSize,              // a TPM2B size, list count or key size outside its bound
  kTpmBadValue,             // a field holds a value TPM 2.0 Part 2 forbids
  kTpmTrailingData,         // bytes after the structure
  kTpmUnsupportedAttestType,  // TPMS_ATTEST.type is not TPM_ST_ATTEST_QUOTE
  kTpmUnsupportedSigAlg,    // TPMT_SIGNATURE.sigAlg not RSASSA, RSAPSS or ECDSA
  kTpmUnsupportedKeyType,   // TPMT_PUBLIC.type not RSA or ECC
  kTpmUnsupportedScheme,    // key scheme / symmetric / KDF we do not parse
  kEventLogTruncated,       // boot event log ends inside an event
  kEventLogBadSpecId,       // malformed "Spec ID Event03" header event
  kEventLogUnknownAlgorithm,  // event digest of an algorithm the header does not declare
  kEventLogBadDigestCount,  // TPML_DIGEST_VALUES.count differs from the header's algorithms
  kEventLogBadSize,         // event data above the per-event cap
  kEventLogTooManyEvents,   // more events than the cap
  kImaTruncated,            // IMA list ends inside an entry
  kImaBadSize,              // template name / data length outside its bound
  kImaBadField,             // template fields do not fill the template data as the template says
  kImaTooManyEntries,       // more entries than the cap
  kHclTruncated,            // HCL report ends inside its fixed part or variable data
  kHclBadHeader,            // "HCLA" signature or reserved header words
  kHclBadSize,              // report_size / data_size inconsistent with the variable data
  kHclReservedNonZero,      // padding after a TDX TDREPORT is not zero
  kHclTrailingData,         // non-zero bytes after report_size
  kHclUnsupportedVersion,   // HCL header or IGVM request data version
  kHclUnsupportedReportType,  // IGVM report type not SNP (2) or TDX (4)
  kHclUnsupportedHashType,  // report_data hash type not SHA-256/384/512
  // The addon parses event logs and IMA lists twice (count, then fill); a second
  // pass that disagrees with the first means the bytes changed in between
  // (shared memory written by another thread). X09.
  kInputChanged,
};

// Stable string form of each code; the TypeScript layer exposes these verbatim.
const char* ParseCodeName(ParseCode code);

// True for codes that mean "well-formed but not something we accept"
// (checklist error class UNSUPPORTED) rather than malformed input (PARSE).
bool IsUnsupportedCode(ParseCode code);

struct ParseFailure {
  ParseCode code = ParseCode::kOk;
  uint64_t offset = 0;
  const char* check = "";  // checklist id, e.g. "T05"
};

// How bytes after the end of a structure are treated (clarifications, T05).
enum class TrailingMode : uint8_t {
  kDefault = 0,  // all-zero padding accepted and reported; non-zero rejected
  kStrict = 1,   // any trailing byte rejected
  kLenient = 2,  // DANGEROUS: trailing bytes ignored whatever they hold
};

}  // namespace tee
