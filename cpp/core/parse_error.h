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
