// libFuzzer harness for ParseImaList (cpp/core/ima_list.h). The first input
// byte picks the template digest size (20, 32, 48, 64), the rest is the
// list. Both passes (count, fill) must agree. On success every entry is
// re-read from the bytes with the kernel's binary_runtime_measurements layout
// restated here (pcr, digest, name, data; "ima" without a data length; d-ng
// "alg:\0" + digest, n-ng with its NUL, sig / buf), entries chain to the end of the
// input, and a cut inside the last entry is ERR_IMA_TRUNCATED.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cursor.h"
#include "fuzz_check.h"
#include "ima_list.h"
#include "vtpm_checks.h"

namespace {

constexpr uint32_t kDigestSizes[] = {20, 32, 48, 64};

bool Named(const uint8_t* p, uint32_t n, const char* name) {
  return std::strlen(name) == n && std::memcmp(p, name, n) == 0;
}

// A u32-length-prefixed field at *p inside [.., end): returns its offset.
uint32_t Field(const uint8_t* d, size_t* p, size_t end, uint32_t* n) {
  TEE_FUZZ_REQUIRE(*p + 4 <= end);
  *n = tee::LoadU32(d + *p);
  TEE_FUZZ_REQUIRE(*p + 4 + uint64_t{*n} <= end);
  uint32_t at = static_cast<uint32_t>(*p + 4);
  *p = at + *n;
  return at;
}

void CheckEntry(const uint8_t* d, size_t size, uint32_t digest, const uint32_t* e, size_t* pos) {
  using namespace tee;
  size_t at = *pos;
  TEE_FUZZ_REQUIRE(e[kImaOffset] == at && e[kImaPcr] == LoadU32(d + at));
  uint32_t name_len = LoadU32(d + at + 4 + digest);
  TEE_FUZZ_REQUIRE(name_len >= 1 && name_len <= 255);
  TEE_FUZZ_REQUIRE(e[kImaNameOffset] == at + 8 + digest && e[kImaNameSize] == name_len);
  const uint8_t* name = d + e[kImaNameOffset];
  size_t p = e[kImaNameOffset] + name_len;
  uint32_t kind = e[kImaTemplate];
  if (Named(name, name_len, "ima")) {
    TEE_FUZZ_REQUIRE(kind == 1 && e[kImaDataOffset] == p && e[kImaDigestOffset] == p && e[kImaDigestSize] == 20);
    uint32_t n = LoadU32(d + p + 20);
    TEE_FUZZ_REQUIRE(n <= 255 && e[kImaPathOffset] == p + 24 && e[kImaPathSize] == n);
    TEE_FUZZ_REQUIRE(e[kImaDataSize] == 24 + n && e[kImaAlgSize] == 0 && e[kImaSigSize] == 0);
    *pos = p + 24 + n;
    TEE_FUZZ_REQUIRE(*pos <= size);
    return;
  }
  uint32_t data_len = 0;
  uint32_t data_at = Field(d, &p, size, &data_len);
  TEE_FUZZ_REQUIRE(data_len <= kMaxImaTemplateDataSize);
  TEE_FUZZ_REQUIRE(e[kImaDataOffset] == data_at && e[kImaDataSize] == data_len);
  *pos = p;
  bool ng = Named(name, name_len, "ima-ng"), sig = Named(name, name_len, "ima-sig");
  bool buf = Named(name, name_len, "ima-buf");
  if (!ng && !sig && !buf) {
    TEE_FUZZ_REQUIRE(kind == 0 && e[kImaAlgSize] == 0 && e[kImaDigestSize] == 0 && e[kImaPathSize] == 0 &&
                     e[kImaSigSize] == 0);
    return;
  }
  TEE_FUZZ_REQUIRE(kind == (buf ? 4u : sig ? 3u : 2u));
  size_t q = data_at, end = data_at + data_len;
  uint32_t n = 0;
  uint32_t dng = Field(d, &q, end, &n);
  // "<alg>:\0<digest>", alg 1..64 bytes without ':'
  uint32_t alg = e[kImaAlgSize];
  TEE_FUZZ_REQUIRE(e[kImaAlgOffset] == dng && alg >= 1 && alg <= 64 && alg + 2 <= n);
  TEE_FUZZ_REQUIRE(std::memchr(d + dng, ':', alg) == nullptr && d[dng + alg] == ':' && d[dng + alg + 1] == 0);
  TEE_FUZZ_REQUIRE(e[kImaDigestOffset] == dng + alg + 2 && e[kImaDigestSize] == n - alg - 2);
  if (Named(d + dng, alg, "sha256")) TEE_FUZZ_REQUIRE(e[kImaDigestSize] == 32);
  if (Named(d + dng, alg, "sha1")) TEE_FUZZ_REQUIRE(e[kImaDigestSize] == 20);
  uint32_t nng = Field(d, &q, end, &n);
  TEE_FUZZ_REQUIRE(n >= 1 && d[nng + n - 1] == 0 && e[kImaPathOffset] == nng && e[kImaPathSize] == n - 1);
  if (sig || buf) {
    uint32_t s = Field(d, &q, end, &n);
    TEE_FUZZ_REQUIRE(e[kImaSigOffset] == s && e[kImaSigSize] == n);
  } else {
    TEE_FUZZ_REQUIRE(e[kImaSigSize] == 0);
  }
  TEE_FUZZ_REQUIRE(q == end);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t input_size) {
  if (input_size == 0) return 0;
  uint32_t digest = kDigestSizes[input[0] & 3];
  const uint8_t* data = input + 1;
  size_t size = input_size - 1;
  size_t counted = 0, filled = 0;
  tee::ParseFailure fail;
  if (!tee::ParseImaList(data, size, digest, nullptr, 0, &counted, &fail)) {
    tee_fuzz::CheckVtpmFailure(fail, size, "ERR_IMA_", {"IMA"});
    return 0;
  }
  std::vector<uint32_t> frame(counted * tee::kImaFrameFields);
  TEE_FUZZ_REQUIRE(tee::ParseImaList(data, size, digest, frame.data(), counted, &filled, &fail));
  TEE_FUZZ_REQUIRE(filled == counted && counted <= tee::kMaxImaEntries);
  size_t pos = 0, last = 0;
  for (size_t i = 0; i < counted; ++i) {
    last = pos;
    CheckEntry(data, size, digest, frame.data() + i * tee::kImaFrameFields, &pos);
  }
  TEE_FUZZ_REQUIRE(pos == size);
  // A cut inside the last entry can only be truncation.
  if (counted > 0 && size - last >= 2) {
    size_t cut = last + 1 + (input[0] >> 2) % (size - last - 1);
    size_t shorter = 0;
    TEE_FUZZ_REQUIRE(!tee::ParseImaList(data, cut, digest, nullptr, 0, &shorter, &fail));
    TEE_FUZZ_REQUIRE(fail.code == tee::ParseCode::kImaTruncated && fail.offset >= last && fail.offset <= cut);
  }
  return 0;
}
