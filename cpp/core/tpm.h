// TPM 2.0 structures of vTPM evidence (TPM 2.0 Library Part 2, big-endian
// wire format): TPMS_ATTEST carrying a TPMS_QUOTE_INFO, TPMT_SIGNATURE and
// TPMT_PUBLIC / TPM2B_PUBLIC of an RSA or ECC key. Each parser checks every
// size against its bound, rejects trailing bytes, and returns byte spans of
// the input plus the few decoded values; docs/vtpm-formats.md has the layouts.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

// Hard cap on any TPM structure handed to these parsers: a TPM's response
// buffer (MAX_RESPONSE_SIZE) is 4096 bytes, so nothing genuine is larger.
constexpr size_t kMaxTpmStructSize = 4096;

// Bounds from Part 2's TPMU unions.
constexpr uint32_t kTpmMaxNameSize = 2 + 64;     // TPMU_NAME: TPMT_HA with SHA-512
constexpr uint32_t kTpmMaxDigestSize = 64;       // TPMU_HA (SHA-512)
constexpr uint32_t kTpmMaxExtraDataSize = 64;    // qualifying data: a nonce of at most one digest
constexpr uint32_t kTpmMaxPcrBanks = 16;         // TPML_PCR_SELECTION.count (HASH_COUNT)
constexpr uint32_t kTpmMaxSizeofSelect = 4;      // PCRs 0..31
constexpr uint32_t kTpmMaxRsaBytes = 512;        // TPM2B_PUBLIC_KEY_RSA (4096-bit)
constexpr uint32_t kTpmMaxEccBytes = 128;        // TPM2B_ECC_PARAMETER

constexpr uint32_t kTpmGeneratedValue = 0xff544347;
constexpr uint16_t kTpmStAttestQuote = 0x8018;

// TPM_ALG_ID values used here.
constexpr uint16_t kTpmAlgRsa = 0x0001;
constexpr uint16_t kTpmAlgNull = 0x0010;
constexpr uint16_t kTpmAlgRsassa = 0x0014;
constexpr uint16_t kTpmAlgRsapss = 0x0016;
constexpr uint16_t kTpmAlgEcdsa = 0x0018;
constexpr uint16_t kTpmAlgEcc = 0x0023;

// A byte range of the input.
struct TpmSpan {
  uint32_t offset = 0;
  uint32_t size = 0;
};

struct TpmPcrSelectionFrame {
  uint16_t hash_alg = 0;
  uint8_t sizeof_select = 0;
  uint32_t mask = 0;  // bit i set = PCR i selected (pcrSelect[i / 8] bit i % 8)
};

struct TpmQuoteFrame {
  uint32_t magic = 0;
  uint16_t type = 0;
  TpmSpan qualified_signer;  // TPM2B_NAME buffer
  TpmSpan extra_data;        // TPM2B_DATA buffer
  uint32_t clock_info_offset = 0;  // clock u64, resetCount u32, restartCount u32, safe u8
  uint8_t safe = 0;
  uint32_t firmware_version_offset = 0;  // u64
  uint32_t selection_count = 0;
  TpmPcrSelectionFrame selections[kTpmMaxPcrBanks];
  TpmSpan pcr_digest;  // TPM2B_DIGEST buffer
};

// The whole input must be one TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE.
bool ParseTpmQuote(const uint8_t* data, size_t size, TpmQuoteFrame* frame, ParseFailure* failure);

struct TpmSignatureFrame {
  uint16_t sig_alg = 0;
  uint16_t hash_alg = 0;
  TpmSpan first;   // RSA: the signature; ECDSA: r
  TpmSpan second;  // ECDSA: s (empty for RSA)
};

// The whole input must be one TPMT_SIGNATURE (RSASSA, RSAPSS or ECDSA).
bool ParseTpmSignature(const uint8_t* data, size_t size, TpmSignatureFrame* frame,
                       ParseFailure* failure);

struct TpmPublicFrame {
  TpmSpan public_area;  // the TPMT_PUBLIC bytes (Name = nameAlg || H(these bytes))
  uint16_t type = 0;
  uint16_t name_alg = 0;
  uint32_t object_attributes = 0;
  TpmSpan auth_policy;
  uint16_t symmetric_alg = 0;  // TPM_ALG_NULL for signing keys
  uint16_t symmetric_key_bits = 0;
  uint16_t symmetric_mode = 0;
  uint16_t scheme_alg = 0;       // TPM_ALG_NULL when any scheme is allowed
  uint16_t scheme_hash_alg = 0;  // TPM_ALG_NULL when scheme_alg is NULL
  // RSA
  uint16_t rsa_key_bits = 0;
  uint32_t rsa_exponent = 0;  // as encoded: 0 means 65537
  // ECC
  uint16_t ecc_curve = 0;
  uint16_t kdf_alg = 0;
  uint16_t kdf_hash_alg = 0;
  TpmSpan first;   // RSA: modulus; ECC: x
  TpmSpan second;  // ECC: y
};

// sized = false: the input is one TPMT_PUBLIC; sized = true: one TPM2B_PUBLIC
// (u16 size, then exactly that many bytes of TPMT_PUBLIC).
bool ParseTpmPublic(const uint8_t* data, size_t size, bool sized, TpmPublicFrame* frame,
                    ParseFailure* failure);

}  // namespace tee
