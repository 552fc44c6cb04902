// libFuzzer harness for the TPM 2.0 parsers (cpp/core/tpm.h): every input
// goes through ParseTpmQuote, ParseTpmSignature and ParseTpmPublic (plain and
// sized). On success the frame is re-derived from the bytes by walking the
// layouts of TPM 2.0 Part 2 here (docs/vtpm-formats.md), not through tpm.cc;
// the input minus its last byte must then be ERR_TPM_TRUNCATED and the input
// plus one byte ERR_TPM_TRAILING_DATA.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "tpm.h"
#include "vtpm_checks.h"

namespace {

using tee_fuzz::Be16;
using tee_fuzz::Be32;

// Reads a TPM2B at *p: returns the span and advances; traps if out of bounds.
tee::TpmSpan Tpm2b(const uint8_t* d, size_t size, size_t* p) {
  TEE_FUZZ_REQUIRE(*p + 2 <= size);
  uint16_t n = Be16(d + *p);
  tee::TpmSpan s{static_cast<uint32_t>(*p + 2), n};
  *p += 2 + n;
  TEE_FUZZ_REQUIRE(*p <= size);
  return s;
}

bool SameSpan(tee::TpmSpan a, tee::TpmSpan b) { return a.offset == b.offset && a.size == b.size; }

void CheckQuote(const uint8_t* d, size_t size, const tee::TpmQuoteFrame& f) {
  TEE_FUZZ_REQUIRE(size >= 6 && Be32(d) == 0xff544347 && f.magic == 0xff544347);
  TEE_FUZZ_REQUIRE(Be16(d + 4) == 0x8018 && f.type == 0x8018);
  size_t p = 6;
  TEE_FUZZ_REQUIRE(SameSpan(f.qualified_signer, Tpm2b(d, size, &p)) && f.qualified_signer.size <= 66);
  TEE_FUZZ_REQUIRE(SameSpan(f.extra_data, Tpm2b(d, size, &p)) && f.extra_data.size <= 64);
  TEE_FUZZ_REQUIRE(f.clock_info_offset == p && p + 17 + 8 + 4 <= size);
  TEE_FUZZ_REQUIRE(d[p + 16] <= 1 && f.safe == d[p + 16]);
  p += 17;
  TEE_FUZZ_REQUIRE(f.firmware_version_offset == p);
  p += 8;
  uint32_t count = Be32(d + p);
  p += 4;
  TEE_FUZZ_REQUIRE(count <= 16 && f.selection_count == count);
  for (uint32_t i = 0; i < count; ++i) {
    TEE_FUZZ_REQUIRE(p + 3 <= size);
    uint16_t hash = Be16(d + p);
    uint8_t n = d[p + 2];
    TEE_FUZZ_REQUIRE(n <= 4 && p + 3 + n <= size);
    uint32_t mask = 0;
    for (uint8_t b = 0; b < n; ++b) mask |= static_cast<uint32_t>(d[p + 3 + b]) << (8 * b);
    TEE_FUZZ_REQUIRE(f.selections[i].hash_alg == hash && f.selections[i].sizeof_select == n &&
                     f.selections[i].mask == mask);
    for (uint32_t j = 0; j < i; ++j) TEE_FUZZ_REQUIRE(f.selections[j].hash_alg != hash);
    p += 3 + n;
  }
  TEE_FUZZ_REQUIRE(SameSpan(f.pcr_digest, Tpm2b(d, size, &p)) && f.pcr_digest.size <= 64);
  TEE_FUZZ_REQUIRE(p == size);  // no trailing bytes
}

void CheckSignature(const uint8_t* d, size_t size, const tee::TpmSignatureFrame& f) {
  uint16_t alg = Be16(d);
  TEE_FUZZ_REQUIRE(alg == 0x0014 || alg == 0x0016 || alg == 0x0018);
  TEE_FUZZ_REQUIRE(f.sig_alg == alg && f.hash_alg == Be16(d + 2) && f.hash_alg != 0x0010);
  size_t p = 4;
  TEE_FUZZ_REQUIRE(SameSpan(f.first, Tpm2b(d, size, &p)) && f.first.size >= 1);
  if (alg == 0x0018) {
    TEE_FUZZ_REQUIRE(f.first.size <= 128);
    TEE_FUZZ_REQUIRE(SameSpan(f.second, Tpm2b(d, size, &p)) && f.second.size >= 1 && f.second.size <= 128);
  } else {
    TEE_FUZZ_REQUIRE(f.first.size <= 512 && f.second.size == 0);
  }
  TEE_FUZZ_REQUIRE(p == size);
}

void CheckPublic(const uint8_t* d, size_t size, bool sized, const tee::TpmPublicFrame& f) {
  size_t p = 0;
  if (sized) {
    TEE_FUZZ_REQUIRE(size >= 2 && Be16(d) == size - 2);
    p = 2;
  }
  TEE_FUZZ_REQUIRE(f.public_area.offset == p && f.public_area.offset + f.public_area.size == size);
  uint16_t type = Be16(d + p);
  TEE_FUZZ_REQUIRE((type == 0x0001 || type == 0x0023) && f.type == type);
  TEE_FUZZ_REQUIRE(f.name_alg == Be16(d + p + 2) && f.object_attributes == Be32(d + p + 4));
  p += 8;
  TEE_FUZZ_REQUIRE(SameSpan(f.auth_policy, Tpm2b(d, size, &p)) && f.auth_policy.size <= 64);
  uint16_t sym = Be16(d + p);
  TEE_FUZZ_REQUIRE(f.symmetric_alg == sym);
  p += 2;
  if (sym != 0x0010) {
    TEE_FUZZ_REQUIRE(sym == 0x0006 || sym == 0x0013 || sym == 0x0026);
    p += 4;
  }
  uint16_t scheme = Be16(d + p);
  TEE_FUZZ_REQUIRE(f.scheme_alg == scheme);
  p += 2;
  if (scheme != 0x0010) {
    TEE_FUZZ_REQUIRE(type == 0x0001 ? (scheme == 0x0014 || scheme == 0x0016) : scheme == 0x0018);
    TEE_FUZZ_REQUIRE(f.scheme_hash_alg == Be16(d + p) && f.scheme_hash_alg != 0x0010);
    p += 2;
  } else {
    TEE_FUZZ_REQUIRE(f.scheme_hash_alg == 0x0010);
  }
  if (type == 0x0001) {
    uint16_t bits = Be16(d + p);
    TEE_FUZZ_REQUIRE(bits == 1024 || bits == 2048 || bits == 3072 || bits == 4096);
    TEE_FUZZ_REQUIRE(f.rsa_key_bits == bits && f.rsa_exponent == Be32(d + p + 2));
    p += 6;
    TEE_FUZZ_REQUIRE(SameSpan(f.first, Tpm2b(d, size, &p)) && f.first.size == bits / 8u);
  } else {
    TEE_FUZZ_REQUIRE(f.ecc_curve == Be16(d + p) && f.kdf_alg == Be16(d + p + 2));
    p += 4;
    if (f.kdf_alg != 0x0010) {
      TEE_FUZZ_REQUIRE(f.kdf_hash_alg == Be16(d + p));
      p += 2;
    }
    TEE_FUZZ_REQUIRE(SameSpan(f.first, Tpm2b(d, size, &p)) && f.first.size >= 1 && f.first.size <= 128);
    TEE_FUZZ_REQUIRE(SameSpan(f.second, Tpm2b(d, size, &p)) && f.second.size >= 1 && f.second.size <= 128);
  }
  TEE_FUZZ_REQUIRE(p == size);
}

constexpr std::initializer_list<const char*> kChecks = {
    "TPMS_ATTEST", "TPML_PCR_SELECTION", "TPMS_QUOTE_INFO", "TPMT_SIGNATURE",
    "TPMT_PUBLIC", "TPM2B_PUBLIC", "TPM2B_PUBLIC_KEY_RSA", "TPMS_ECC_POINT"};

// One parser as a callable over (data, size) -> ok, failure.
template <typename Parse>
void Boundaries(const uint8_t* d, size_t size, Parse parse) {
  tee::ParseFailure f;
  if (size > 0) {
    TEE_FUZZ_REQUIRE(!parse(d, size - 1, &f));
    TEE_FUZZ_REQUIRE(f.code == tee::ParseCode::kTpmTruncated);
  }
  static uint8_t longer[tee::kMaxTpmStructSize + 1];
  if (size < sizeof(longer)) {
    std::memcpy(longer, d, size);
    longer[size] = static_cast<uint8_t>(size);
    TEE_FUZZ_REQUIRE(!parse(longer, size + 1, &f));
    TEE_FUZZ_REQUIRE(f.code == tee::ParseCode::kTpmTrailingData && f.offset == size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee::ParseFailure fail;
  tee::TpmQuoteFrame quote;
  auto quote_parse = [](const uint8_t* d, size_t n, tee::ParseFailure* f) {
    tee::TpmQuoteFrame scratch;
    return tee::ParseTpmQuote(d, n, &scratch, f);
  };
  if (tee::ParseTpmQuote(data, size, &quote, &fail)) {
    CheckQuote(data, size, quote);
    Boundaries(data, size, quote_parse);
  } else {
    tee_fuzz::CheckVtpmFailure(fail, size, "ERR_TPM_", kChecks);
  }

  tee::TpmSignatureFrame sig;
  auto sig_parse = [](const uint8_t* d, size_t n, tee::ParseFailure* f) {
    tee::TpmSignatureFrame scratch;
    return tee::ParseTpmSignature(d, n, &scratch, f);
  };
  if (tee::ParseTpmSignature(data, size, &sig, &fail)) {
    CheckSignature(data, size, sig);
    Boundaries(data, size, sig_parse);
  } else {
    tee_fuzz::CheckVtpmFailure(fail, size, "ERR_TPM_", kChecks);
  }

  for (bool sized : {false, true}) {
    tee::TpmPublicFrame pub;
    auto pub_parse = [&](const uint8_t* d, size_t n, tee::ParseFailure* f) {
      tee::TpmPublicFrame scratch;
      return tee::ParseTpmPublic(d, n, sized, &scratch, f);
    };
    if (tee::ParseTpmPublic(data, size, sized, &pub, &fail)) {
      CheckPublic(data, size, sized, pub);
      Boundaries(data, size, pub_parse);
    } else {
      tee_fuzz::CheckVtpmFailure(fail, size, "ERR_TPM_", kChecks);
    }
  }
  return 0;
}
