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
    case ParseCode::kTpmTruncated: return "ERR_TPM_TRUNCATED";
    case ParseCode::kTpmBadMagic: return "ERR_TPM_BAD_MAGIC";
    case ParseCode::kTpmBadSize: return "ERR_TPM_BAD_SIZE";
    case ParseCode::kTpmBadValue: return "ERR_TPM_BAD_VALUE";
    case ParseCode::kTpmTrailingData: return "ERR_TPM_TRAILING_DATA";
    case ParseCode::kTpmUnsupportedAttestType: return "ERR_TPM_UNSUPPORTED_ATTEST_TYPE";
    case ParseCode::kTpmUnsupportedSigAlg: return "ERR_TPM_UNSUPPORTED_SIG_ALG";
    case ParseCode::kTpmUnsupportedKeyType: return "ERR_TPM_UNSUPPORTED_KEY_TYPE";
    case ParseCode::kTpmUnsupportedScheme: return "ERR_TPM_UNSUPPORTED_SCHEME";
    case ParseCode::kEventLogTruncated: return "ERR_EVENTLOG_TRUNCATED";
    case ParseCode::kEventLogBadSpecId: return "ERR_EVENTLOG_BAD_SPEC_ID";
    case ParseCode::kEventLogUnknownAlgorithm: return "ERR_EVENTLOG_UNKNOWN_ALGORITHM";
    case ParseCode::kEventLogBadDigestCount: return "ERR_EVENTLOG_BAD_DIGEST_COUNT";
    case ParseCode::kEventLogBadSize: return "ERR_EVENTLOG_BAD_SIZE";
    case ParseCode::kEventLogTooManyEvents: return "ERR_EVENTLOG_TOO_MANY_EVENTS";
    case ParseCode::kImaTruncated: return "ERR_IMA_TRUNCATED";
    case ParseCode::kImaBadSize: return "ERR_IMA_BAD_SIZE";
    case ParseCode::kImaBadField: return "ERR_IMA_BAD_FIELD";
    case ParseCode::kImaTooManyEntries: return "ERR_IMA_TOO_MANY_ENTRIES";
    case ParseCode::kHclTruncated: return "ERR_HCL_TRUNCATED";
    case ParseCode::kHclBadHeader: return "ERR_HCL_BAD_HEADER";
    case ParseCode::kHclBadSize: return "ERR_HCL_BAD_SIZE";
    case ParseCode::kHclReservedNonZero: return "ERR_HCL_RESERVED_NONZERO";
    case ParseCode::kHclTrailingData: return "ERR_HCL_TRAILING_DATA";
    case ParseCode::kHclUnsupportedVersion: return "ERR_HCL_UNSUPPORTED_VERSION";
    case ParseCode::kHclUnsupportedReportType: return "ERR_HCL_UNSUPPORTED_REPORT_TYPE";
    case ParseCode::kHclUnsupportedHashType: return "ERR_HCL_UNSUPPORTED_HASH_TYPE";
    case ParseCode::kInputChanged: return "ERR_INPUT_CHANGED";
  }
  return "ERR_UNKNOWN";
}

bool IsUnsupportedCode(ParseCode code) {
  switch (code) {
    case ParseCode::kUnsupportedVersion:
    case ParseCode::kUnsupportedKeyType:
    case ParseCode::kUnsupportedTeeType:
    case ParseCode::kUnsupportedQeVendor:
    case ParseCode::kUnsupportedBodyType:
    case ParseCode::kUnsupportedCertDataType:
    case ParseCode::kUnsupportedSignatureAlgorithm:
    case ParseCode::kUnsupportedSigningKey:
    case ParseCode::kTpmUnsupportedAttestType:
    case ParseCode::kTpmUnsupportedSigAlg:
    case ParseCode::kTpmUnsupportedKeyType:
    case ParseCode::kTpmUnsupportedScheme:
    case ParseCode::kHclUnsupportedVersion:
    case ParseCode::kHclUnsupportedReportType:
    case ParseCode::kHclUnsupportedHashType:
      return true;
    default:
      return false;
  }
}

}  // namespace tee
