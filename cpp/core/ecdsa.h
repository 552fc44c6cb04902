// ECDSA verification over NIST P-256 / SHA-256 and P-384 / SHA-384 through
// OpenSSL (the copy inside Node for the addon; the system one for the
// sanitizer build). Keys are raw big-endian x || y; signatures raw r || s.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tee {

enum class Curve : uint8_t { kP256, kP384 };

enum class EcdsaResult : int {
  kValid = 1,
  kInvalid = 0,          // well-formed, does not verify
  kBadKey = -1,          // not a point on the curve, or wrong length
  kBadSignature = -2,    // wrong length, or r / s outside [1, n - 1]
  kInternal = -3,        // OpenSSL could not allocate; never a verdict
};

// Byte length of one coordinate / scalar for the curve (32 or 48).
size_t CurveScalarSize(Curve curve);

class EcPublicKey;  // opaque, owns an EVP_PKEY

// Imports x || y; returns nullptr and sets *result to kBadKey when the
// point is not on the curve, kInternal when memory runs out.
EcPublicKey* ImportEcPublicKey(Curve curve, const uint8_t* xy, size_t xy_size, EcdsaResult* result);
void FreeEcPublicKey(EcPublicKey* key);

// Verifies r || s over the message hashed with the curve's hash.
EcdsaResult EcdsaVerify(const EcPublicKey* key, const uint8_t* message, size_t message_size,
                        const uint8_t* rs, size_t rs_size);

// Import and verify in one call.
EcdsaResult EcdsaVerifyRaw(Curve curve, const uint8_t* xy, size_t xy_size, const uint8_t* message,
                           size_t message_size, const uint8_t* rs, size_t rs_size);

}  // namespace tee
