// libFuzzer harness for ParseIntelQuote (SGX v3, TDX v4 / v5; checklist §2.1,
// §3, §7) with libFuzzer's plain byte mutations. Each input is parsed in all
// three trailing modes; quote_checks.h holds the invariants.
// fuzz_intel_quote_framed.cc runs the same checks behind a framing-aware
// mutator.
#include <cstddef>
#include <cstdint>

#include "quote_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee_fuzz::CheckIntelQuote(data, size);
  return 0;
}
