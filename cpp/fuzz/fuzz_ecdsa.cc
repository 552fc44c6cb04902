// libFuzzer harness for the ECDSA wrapper (ecdsa.cc; checklist §2.2: raw
// big-endian r || s, r and s in [1, n - 1]). The input is split into
// key / signature / message for P-256 and again for P-384, and every call
// must return a verdict, never kInternal, and leave OpenSSL's error queue
// empty (the addon shares it with Node's own crypto). Cross-checks:
//   * ImportEcPublicKey + EcdsaVerify (twice, key reused) == EcdsaVerifyRaw;
//   * wrong key / signature lengths give kBadKey / kBadSignature;
//   * r or s outside [1, n - 1], against the group order from OpenSSL, give
//     kBadSignature;
//   * a valid signature stays valid as (r, n - s), the known malleability,
//     and becomes kInvalid when the message changes.
//
// Input: ctrl byte, then key || signature || message. ctrl bit 0 / bit 3
// switch the key / signature length to 2n - 2 + (2 bits at 1..2 / 4..5).
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ecdsa.h"
#include "fuzz_check.h"

namespace {

using tee::Curve;
using tee::EcdsaResult;

struct Split {
  const uint8_t* key;
  size_t key_len;
  const uint8_t* sig;
  size_t sig_len;
  const uint8_t* msg;
  size_t msg_len;
};

Split SplitInput(const uint8_t* data, size_t size, size_t n) {
  uint8_t ctrl = size > 0 ? data[0] : 0;
  const uint8_t* p = size > 0 ? data + 1 : data;
  size_t left = size > 0 ? size - 1 : 0;
  size_t key_len = (ctrl & 0x01) ? 2 * n - 2 + ((ctrl >> 1) & 3) : 2 * n;
  size_t sig_len = (ctrl & 0x08) ? 2 * n - 2 + ((ctrl >> 4) & 3) : 2 * n;
  Split s;
  s.key = p;
  s.key_len = key_len < left ? key_len : left;
  s.sig = p + s.key_len;
  left -= s.key_len;
  s.sig_len = sig_len < left ? sig_len : left;
  s.msg = s.sig + s.sig_len;
  s.msg_len = left - s.sig_len;
  return s;
}

// The group order from OpenSSL itself, as n big-endian bytes.
std::vector<uint8_t> OrderBytes(Curve curve) {
  size_t n = tee::CurveScalarSize(curve);
  EC_GROUP* g = EC_GROUP_new_by_curve_name(curve == Curve::kP256 ? NID_X9_62_prime256v1
                                                                 : NID_secp384r1);
  std::vector<uint8_t> out(n);
  TEE_FUZZ_REQUIRE(g != nullptr);
  TEE_FUZZ_REQUIRE(BN_bn2binpad(EC_GROUP_get0_order(g), out.data(), static_cast<int>(n)) ==
                   static_cast<int>(n));
  EC_GROUP_free(g);
  return out;
}

bool ScalarOk(const uint8_t* v, size_t n, const std::vector<uint8_t>& order) {
  bool zero = true;
  for (size_t i = 0; i < n; ++i) zero = zero && v[i] == 0;
  return !zero && std::memcmp(v, order.data(), n) < 0;
}

// Every call returns a verdict and leaves no OpenSSL error behind.
void CheckVerdict(EcdsaResult r) {
  TEE_FUZZ_REQUIRE(r == EcdsaResult::kValid || r == EcdsaResult::kInvalid ||
                   r == EcdsaResult::kBadKey || r == EcdsaResult::kBadSignature);
  TEE_FUZZ_REQUIRE(ERR_peek_error() == 0);
}

// (r, s) valid => (r, n - s) valid; the same signature over another message is not.
void CheckValidSignature(const tee::EcPublicKey* key, const Split& s, size_t n,
                         const std::vector<uint8_t>& order) {
  std::vector<uint8_t> rs(s.sig, s.sig + 2 * n);
  BIGNUM* bn_s = BN_bin2bn(rs.data() + n, static_cast<int>(n), nullptr);
  BIGNUM* bn_n = BN_bin2bn(order.data(), static_cast<int>(n), nullptr);
  TEE_FUZZ_REQUIRE(bn_s != nullptr && bn_n != nullptr && BN_sub(bn_s, bn_n, bn_s) == 1);
  TEE_FUZZ_REQUIRE(BN_bn2binpad(bn_s, rs.data() + n, static_cast<int>(n)) == static_cast<int>(n));
  BN_free(bn_s);
  BN_free(bn_n);
  EcdsaResult r = tee::EcdsaVerify(key, s.msg, s.msg_len, rs.data(), rs.size());
  CheckVerdict(r);
  TEE_FUZZ_REQUIRE(r == EcdsaResult::kValid);

  std::vector<uint8_t> other(s.msg, s.msg + s.msg_len);
  if (other.empty()) other.push_back(0);
  else other.back() ^= 1;
  r = tee::EcdsaVerify(key, other.data(), other.size(), s.sig, s.sig_len);
  CheckVerdict(r);
  TEE_FUZZ_REQUIRE(r == EcdsaResult::kInvalid);
}

void CheckCurve(const uint8_t* data, size_t size, Curve curve) {
  static const std::vector<uint8_t> kOrder256 = OrderBytes(Curve::kP256);
  static const std::vector<uint8_t> kOrder384 = OrderBytes(Curve::kP384);
  const std::vector<uint8_t>& order = curve == Curve::kP256 ? kOrder256 : kOrder384;
  size_t n = tee::CurveScalarSize(curve);
  Split s = SplitInput(data, size, n);

  EcdsaResult raw = tee::EcdsaVerifyRaw(curve, s.key, s.key_len, s.msg, s.msg_len, s.sig, s.sig_len);
  CheckVerdict(raw);
  EcdsaResult imported;
  tee::EcPublicKey* key = tee::ImportEcPublicKey(curve, s.key, s.key_len, &imported);
  TEE_FUZZ_REQUIRE(ERR_peek_error() == 0);
  if (key == nullptr) {
    TEE_FUZZ_REQUIRE(imported == EcdsaResult::kBadKey && raw == EcdsaResult::kBadKey);
    return;
  }
  TEE_FUZZ_REQUIRE(imported == EcdsaResult::kValid && s.key_len == 2 * n);
  for (int i = 0; i < 2; ++i) {  // a handle is reused across verifications
    EcdsaResult r = tee::EcdsaVerify(key, s.msg, s.msg_len, s.sig, s.sig_len);
    CheckVerdict(r);
    TEE_FUZZ_REQUIRE(r == raw);
  }
  bool shape_ok = s.sig_len == 2 * n && ScalarOk(s.sig, n, order) && ScalarOk(s.sig + n, n, order);
  TEE_FUZZ_REQUIRE(shape_ok == (raw != EcdsaResult::kBadSignature));
  if (raw == EcdsaResult::kValid) CheckValidSignature(key, s, n, order);
  tee::FreeEcPublicKey(key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckCurve(data, size, Curve::kP256);
  CheckCurve(data, size, Curve::kP384);
  return 0;
}
