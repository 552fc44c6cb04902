#include "parse_error.h"

namespace tee {

const char* ParseCodeName(ParseCode code) {
  switch (code) {
    case ParseCode::kOk: return "OK";
    case ParseCode::kInputTooLarge: return "ERR_INPUT_TOO_LARGE";
    case ParseCode::kTruncated: return "ERR_TRUNCATED";
    case ParseCode::kLengthOutOfBounds: return "ERR_LENGTH_OUT_OF_BOUNDS";
    case ParseCode::kBadLength: return "ERR_BAD_LENGTH";
    case ParseCode::kTrailingData: return "ERR_TRAILING_DATA";
    case ParseCode::kReservedNonZero: return "ERR_RESERVED_NONZERO";
    case ParseCode::kBadFieldValue: return "ERR_BAD_FIELD_VALUE";
    case ParseCode::kDuplicateEntry: return "ERR_DUPLICATE_ENTRY";
    case ParseCode::kTooManyEntries: return "ERR_TOO_MANY_ENTRIES";
    case ParseCode::kUnsupportedVersion: return "ERR_UNSUPPORTED_VERSION";
    case ParseCode::kUnsupportedKeyType: return "ERR_UNSUPPORTED_KEY_TYPE";
    case ParseCode::kUnsupportedTeeType: return "ERR_UNSUPPORTED_TEE_TYPE";
    case ParseCode::kUnsupportedQeVendor: return "ERR_UNSUPPORTED_QE_VENDOR";
    case ParseCode::kUnsupportedBodyType: return "ERR_UNSUPPORTED_BODY_TYPE";
    case ParseCode::kUnsupportedCertDataType: return "ERR_UNSUPPORTED_CERT_DATA_TYPE";
    case ParseCode::kUnsupportedSignatureAlgorithm: return "ERR_UNSUPPORTED_SIGNATURE_ALGORITHM";
    case ParseCode::kUnsupportedSigningKey: return "ERR_UNSUPPORTED_SIGNING_KEY";
  }
  return "ERR_UNKNOWN";
}

bool IsUnsupportedCode(ParseCode code) {
  return code >= ParseCode::kUnsupportedVersion;
}

}  // namespace tee
