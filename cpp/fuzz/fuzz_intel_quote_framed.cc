// Structure-aware variant of fuzz_intel_quote: after libFuzzer's own mutation
// the custom mutator re-frames the quote most of the time, so mutations get
// past T02-T07 framing and land in the regions behind it. It restores the
// header constants (T03), the v5 body descriptor (T04), signature_data_len
// (T05), the type-6 wrapper size (T06), an in-bounds QE auth data size and the
// type-5 PCK chain size (T07), each with some probability, so inconsistent
// framing keeps being generated too.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quote_checks.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

class Rng {
 public:
  explicit Rng(unsigned int seed) : s_(seed | 1u) {}
  uint32_t Next() {  // xorshift32: deterministic per seed, as libFuzzer expects
    s_ ^= s_ << 13;
    s_ ^= s_ >> 17;
    s_ ^= s_ << 5;
    return s_;
  }
  bool Chance(uint32_t percent) { return Next() % 100 < percent; }

 private:
  uint32_t s_;
};

void StoreU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void StoreU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// T03 / T04: returns the body end (where signature_data_len sits), or 0 when
// the input is too short to hold it.
size_t FixHeader(uint8_t* d, size_t size, Rng& rng) {
  uint16_t version = tee::LoadU16(d);
  if (version < 3 || version > 5 || rng.Chance(3)) {
    version = static_cast<uint16_t>(3 + rng.Next() % 3);
    StoreU16(d, version);
  }
  if (rng.Chance(90)) {
    StoreU16(d + 2, tee::kAttKeyTypeEcdsaP256);
    StoreU32(d + 4, version == 3 ? tee::kTeeTypeSgx : tee::kTeeTypeTdx);
    std::memcpy(d + 0x0C, tee_fuzz::kIntelQeVendor, 16);
  }
  if (version == 3) return tee::kQuoteHeaderSize + tee::kSgxReportBodySize;
  if (version == 4) return tee::kQuoteHeaderSize + tee::kTdReport10Size;
  if (size < tee::kQuoteHeaderSize + 6) return 0;
  uint16_t type = tee::LoadU16(d + 0x30);
  if ((type != tee::kBodyTypeTd10 && type != tee::kBodyTypeTd15) && rng.Chance(90)) {
    type = rng.Chance(50) ? tee::kBodyTypeTd10 : tee::kBodyTypeTd15;
    StoreU16(d + 0x30, type);
  }
  uint32_t body = type == tee::kBodyTypeTd15 ? tee::kTdReport15Size : tee::kTdReport10Size;
  if (rng.Chance(90)) StoreU32(d + 0x32, body);
  return tee::kQuoteHeaderSize + 6 + body;
}

// T07: QE report, signature, auth data (size kept in bounds), PCK chain.
void FixQeSection(uint8_t* d, size_t pos, size_t end, Rng& rng) {
  pos += 384 + 64;
  if (pos + 2 + 6 > end) return;
  uint16_t auth = tee::LoadU16(d + pos);
  size_t room = end - pos - 2 - 6;  // the chain itself may end up empty
  if (auth > room && rng.Chance(85)) {
    auth = static_cast<uint16_t>(rng.Chance(50) && room >= 32 ? 32 : rng.Next() % (room + 1));
    StoreU16(d + pos, auth);
  }
  pos += 2 + auth;
  if (pos + 6 > end) return;
  if (rng.Chance(95)) StoreU16(d + pos, tee::kCertDataPckChain);
  if (rng.Chance(95)) StoreU32(d + pos + 2, static_cast<uint32_t>(end - pos - 6));
}

// Re-derives every length field from the current size. Trailing bytes are
// kept now and then (zeroed or not) to exercise the T05 modes.
size_t FixFraming(uint8_t* d, size_t size, Rng& rng) {
  if (size < tee::kQuoteHeaderSize) return size;
  size_t len_at = FixHeader(d, size, rng);
  if (len_at == 0 || len_at + 4 + 128 > size) return size;
  size_t avail = size - len_at - 4;
  size_t trailing = rng.Chance(75) ? 0 : rng.Next() % (avail < 96 ? avail + 1 : 96);
  if (trailing != 0 && rng.Chance(50)) std::memset(d + size - trailing, 0, trailing);
  size_t end = size - trailing;
  if (rng.Chance(95)) StoreU32(d + len_at, static_cast<uint32_t>(end - len_at - 4));
  size_t pos = len_at + 4 + 128;  // after the quote signature and attestation key
  if (tee::LoadU16(d) >= 4) {     // T06 wrapper
    if (pos + 6 > end) return size;
    if (rng.Chance(95)) StoreU16(d + pos, tee::kCertDataQeReport);
    if (rng.Chance(95)) StoreU32(d + pos + 2, static_cast<uint32_t>(end - pos - 6));
    pos += 6;
  }
  FixQeSection(d, pos, end, rng);
  return size;
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  Rng rng(seed);
  size = LLVMFuzzerMutate(data, size, max_size);
  if (rng.Chance(80)) size = FixFraming(data, size, rng);
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee_fuzz::CheckIntelQuote(data, size);
  return 0;
}
