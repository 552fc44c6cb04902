// Helpers shared by the libFuzzer harnesses. An invariant violation calls
// __builtin_trap() so libFuzzer records a crash and keeps the input: a parser
// that returns success with inconsistent offsets is as much a bug as one that
// reads out of bounds, because the TypeScript layer slices the caller's
// buffer with exactly those offsets (checklist §7, "no crash, typed error").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "parse_error.h"

namespace tee_fuzz {

// Not assert(): NDEBUG must never switch the checks off.
#define TEE_FUZZ_REQUIRE(cond) \
  do {                         \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// [offset, offset + length) lies inside [0, size), computed without wrapping.
inline bool RangeInside(uint64_t offset, uint64_t length, size_t size) {
  return offset <= size && length <= size - offset;
}

// A failure must name a code, a checklist id of the expected family ('T' for
// Intel quotes, 'S' for SNP) and an offset inside the input (the one
// exception is the size cap, which reports the cap itself).
inline void CheckFailure(const tee::ParseFailure& f, size_t size, char family) {
  TEE_FUZZ_REQUIRE(f.code != tee::ParseCode::kOk);
  TEE_FUZZ_REQUIRE(f.check != nullptr && f.check[0] == family);
  TEE_FUZZ_REQUIRE(std::strlen(f.check) == 3);
  if (f.code != tee::ParseCode::kInputTooLarge) TEE_FUZZ_REQUIRE(f.offset <= size);
  TEE_FUZZ_REQUIRE(std::strcmp(tee::ParseCodeName(f.code), "ERR_UNKNOWN") != 0);
}

inline bool SameFailure(const tee::ParseFailure& a, const tee::ParseFailure& b) {
  return a.code == b.code && a.offset == b.offset && std::strcmp(a.check, b.check) == 0;
}

constexpr tee::TrailingMode kModes[] = {tee::TrailingMode::kDefault, tee::TrailingMode::kStrict,
                                        tee::TrailingMode::kLenient};

}  // namespace tee_fuzz
