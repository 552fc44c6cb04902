// Helpers shared by the vTPM harnesses (fuzz_tpm, fuzz_tcg_event_log,
// fuzz_ima_list, fuzz_hcl_report). Their failures name the structure whose
// rule failed (docs/vtpm-formats.md), not a checklist id, so fuzz_check.h's
// CheckFailure does not apply; this is its counterpart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "fuzz_check.h"
#include "parse_error.h"

namespace tee_fuzz {

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

// A failure carries a known code of the format's family (or the shared size
// cap, which reports the cap itself), a structure name from `checks`, and an
// offset inside the input.
inline void CheckVtpmFailure(const tee::ParseFailure& f, size_t size, const char* code_prefix,
                             std::initializer_list<const char*> checks) {
  TEE_FUZZ_REQUIRE(f.code != tee::ParseCode::kOk);
  const char* name = tee::ParseCodeName(f.code);
  bool cap = f.code == tee::ParseCode::kInputTooLarge;
  TEE_FUZZ_REQUIRE(cap || std::strncmp(name, code_prefix, std::strlen(code_prefix)) == 0);
  if (!cap) TEE_FUZZ_REQUIRE(f.offset <= size);
  bool known_check = false;
  for (const char* c : checks) known_check = known_check || std::strcmp(c, f.check) == 0;
  TEE_FUZZ_REQUIRE(known_check);
}

}  // namespace tee_fuzz
