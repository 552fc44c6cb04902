#include "ecdsa.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <new>

namespace tee {
namespace {

// Group orders n, big-endian (SEC 2). r and s must lie in [1, n - 1].
constexpr uint8_t kOrderP256[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
constexpr uint8_t kOrderP384[48] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC7, 0x63, 0x4D, 0x81, 0xF4, 0x37, 0x2D, 0xDF,
    0x58, 0x1A, 0x0D, 0xB2, 0x48, 0xB0, 0xA7, 0x7A, 0xEC, 0xEC, 0x19, 0x6A, 0xCC, 0xC5, 0x29, 0x73};

const uint8_t* OrderOf(Curve curve) { return curve == Curve::kP256 ? kOrderP256 : kOrderP384; }

bool ScalarInRange(const uint8_t* v, size_t n, const uint8_t* order) {
  bool zero = true;
  for (size_t i = 0; i < n; ++i) zero = zero && v[i] == 0;
  return !zero && std::memcmp(v, order, n) < 0;
}

// Fetched once: explicit fetches skip OpenSSL's per-call name lookup.
const EVP_MD* DigestFor(Curve curve) {
  static const EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  static const EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA2-384", nullptr);
  return curve == Curve::kP256 ? sha256 : sha384;
}

// One big-endian scalar in [1, n - 1] as a DER INTEGER: leading zero bytes
// dropped, one 0x00 added when the top bit is set (non-negative).
size_t EncodeDerInteger(const uint8_t* v, size_t n, uint8_t* out) {
  size_t skip = 0;
  while (skip + 1 < n && v[skip] == 0) ++skip;
  bool pad = (v[skip] & 0x80) != 0;
  size_t len = n - skip + (pad ? 1 : 0);
  out[0] = 0x02;
  out[1] = static_cast<uint8_t>(len);
  size_t at = 2;
  if (pad) out[at++] = 0x00;
  std::memcpy(out + at, v + skip, n - skip);
  return 2 + len;
}

// r || s -> DER ECDSA-Sig-Value, the form EVP_PKEY_verify expects. For P-256
// and P-384 the whole value stays under 128 bytes: short-form lengths only.
size_t EncodeDerSignature(const uint8_t* rs, size_t n, uint8_t* out) {
  size_t r_len = EncodeDerInteger(rs, n, out + 2);
  size_t s_len = EncodeDerInteger(rs + n, n, out + 2 + r_len);
  out[0] = 0x30;
  out[1] = static_cast<uint8_t>(r_len + s_len);
  return 2 + r_len + s_len;
}

}  // namespace

// The key and a verification context initialised for it once: a context per
// call (EVP_DigestVerifyInit's fetches and allocations) cost a quarter of a
// P-256 verification. Used from one thread at a time, as the JS handle is.
class EcPublicKey {
 public:
  EcPublicKey(Curve c, EVP_PKEY* k, EVP_PKEY_CTX* v) : curve(c), pkey(k), verify_ctx(v) {}
  ~EcPublicKey() {
    EVP_PKEY_CTX_free(verify_ctx);
    EVP_PKEY_free(pkey);
  }
  EcPublicKey(const EcPublicKey&) = delete;
  EcPublicKey& operator=(const EcPublicKey&) = delete;
  Curve curve;
  EVP_PKEY* pkey;
  EVP_PKEY_CTX* verify_ctx;
};

size_t CurveScalarSize(Curve curve) { return curve == Curve::kP256 ? 32 : 48; }

EcPublicKey* ImportEcPublicKey(Curve curve, const uint8_t* xy, size_t xy_size, EcdsaResult* result) {
  size_t n = CurveScalarSize(curve);
  *result = EcdsaResult::kBadKey;
  if (xy_size != 2 * n) return nullptr;
  uint8_t point[1 + 2 * 48];
  point[0] = 0x04;  // uncompressed SEC1 encoding
  std::memcpy(point + 1, xy, 2 * n);
  char group[16];
  std::strcpy(group, curve == Curve::kP256 ? "prime256v1" : "secp384r1");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * n),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx == nullptr) {
    *result = EcdsaResult::kInternal;
    return nullptr;
  }
  EVP_PKEY* pkey = nullptr;
  // Decoding the point checks that it lies on the curve.
  bool ok = EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok || pkey == nullptr) {
    ERR_clear_error();  // leave no stale error for Node's own crypto calls
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  EVP_PKEY_CTX* verify_ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  if (verify_ctx == nullptr || EVP_PKEY_verify_init(verify_ctx) != 1) {
    ERR_clear_error();
    EVP_PKEY_CTX_free(verify_ctx);
    EVP_PKEY_free(pkey);
    *result = EcdsaResult::kInternal;
    return nullptr;
  }
  // nothrow: a std::bad_alloc must not unwind through N-API (X09).
  EcPublicKey* key = new (std::nothrow) EcPublicKey(curve, pkey, verify_ctx);
  if (key == nullptr) {
    EVP_PKEY_CTX_free(verify_ctx);
    EVP_PKEY_free(pkey);
    *result = EcdsaResult::kInternal;
    return nullptr;
  }
  *result = EcdsaResult::kValid;
  return key;
}

void FreeEcPublicKey(EcPublicKey* key) { delete key; }

EcdsaResult EcdsaVerify(const EcPublicKey* key, const uint8_t* message, size_t message_size,
                        const uint8_t* rs, size_t rs_size) {
  size_t n = CurveScalarSize(key->curve);
  if (rs_size != 2 * n) return EcdsaResult::kBadSignature;
  // Read r || s once: the range check and the DER encoding must see the same
  // scalars even if the caller's memory changes meanwhile (review s8).
  uint8_t sig[2 * 48];
  std::memcpy(sig, rs, 2 * n);
  const uint8_t* order = OrderOf(key->curve);
  if (!ScalarInRange(sig, n, order) || !ScalarInRange(sig + n, n, order))
    return EcdsaResult::kBadSignature;
  uint8_t der[2 * (2 + 1 + 48) + 2];
  size_t der_len = EncodeDerSignature(sig, n, der);
  // The message digest with the curve's hash, then the signature over it.
  const EVP_MD* md = DigestFor(key->curve);
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (md == nullptr || EVP_Digest(message, message_size, digest, &digest_len, md, nullptr) != 1) {
    ERR_clear_error();
    return EcdsaResult::kInternal;
  }
  int rc = EVP_PKEY_verify(key->verify_ctx, der, der_len, digest, digest_len);
  if (rc == 1) return EcdsaResult::kValid;
  ERR_clear_error();
  return EcdsaResult::kInvalid;  // as before: anything but 1 does not verify
}

EcdsaResult EcdsaVerifyRaw(Curve curve, const uint8_t* xy, size_t xy_size, const uint8_t* message,
                           size_t message_size, const uint8_t* rs, size_t rs_size) {
  EcdsaResult result;
  EcPublicKey* key = ImportEcPublicKey(curve, xy, xy_size, &result);
  if (key == nullptr) return result;
  result = EcdsaVerify(key, message, message_size, rs, rs_size);
  FreeEcPublicKey(key);
  return result;
}

}  // namespace tee
