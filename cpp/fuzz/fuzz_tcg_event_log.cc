// libFuzzer harness for ParseTcgEventLog (cpp/core/tcg_event_log.h). Both
// passes run (count-only, then fill), and must agree. On success the frame is
// walked against the bytes with the layouts of the TCG PC Client Platform
// Firmware Profile restated here: events chain from offset 0 to the padding,
// digests carry the declared algorithms in their sizes, the padding is one
// repeated byte 0x00 / 0xFF at least one event long, and cutting the log
// inside its last event is ERR_EVENTLOG_TRUNCATED.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cursor.h"
#include "fuzz_check.h"
#include "tcg_event_log.h"
#include "vtpm_checks.h"

namespace {

constexpr std::initializer_list<const char*> kChecks = {"TCG_PCClientPCREvent", "TCG_EfiSpecIDEvent",
                                                        "TCG_PCR_EVENT2"};

const tee::TcgAlgorithm* Declared(const tee::TcgEventLogInfo& info, uint32_t alg) {
  for (uint32_t i = 0; i < info.algorithm_count; ++i)
    if (info.algorithms[i].alg == alg) return &info.algorithms[i];
  return nullptr;
}

size_t MinEvent(const tee::TcgEventLogInfo& info) {
  if (!info.crypto_agile) return 32;
  size_t n = 16;
  for (uint32_t i = 0; i < info.algorithm_count; ++i) n += 2 + info.algorithms[i].digest_size;
  return n;
}

// Walks the frame; returns the offset of the last event.
size_t CheckFrame(const uint8_t* d, size_t size, const tee::TcgEventLogInfo& info,
                  const std::vector<uint32_t>& frame) {
  TEE_FUZZ_REQUIRE(info.event_count >= 1 && info.event_count <= tee::kMaxEventLogEvents);
  TEE_FUZZ_REQUIRE(info.algorithm_count >= 1 && info.algorithm_count <= 16);
  if (!info.crypto_agile) {
    TEE_FUZZ_REQUIRE(info.algorithm_count == 1 && info.algorithms[0].alg == 0x0004 &&
                     info.algorithms[0].digest_size == 20);
  }
  size_t w = 0, pos = 0, last = 0;
  for (uint32_t e = 0; e < info.event_count; ++e) {
    TEE_FUZZ_REQUIRE(w + 6 <= frame.size());
    uint32_t at = frame[w], data_at = frame[w + 3], data_size = frame[w + 4], count = frame[w + 5];
    TEE_FUZZ_REQUIRE(at == pos && at + 12 <= size);
    TEE_FUZZ_REQUIRE(frame[w + 1] == tee::LoadU32(d + at) && frame[w + 2] == tee::LoadU32(d + at + 4));
    w += 6;
    bool legacy = e == 0 || !info.crypto_agile;
    if (legacy) {
      // pcr, type, SHA-1 digest, event size, event
      TEE_FUZZ_REQUIRE(count == 1 && frame[w] == 0x0004 && frame[w + 1] == at + 8);
      TEE_FUZZ_REQUIRE(data_at == at + 32);
    } else {
      TEE_FUZZ_REQUIRE(count == info.algorithm_count && tee::LoadU32(d + at + 8) == count);
      size_t p = at + 12;
      uint32_t seen = 0;
      for (uint32_t i = 0; i < count; ++i) {
        uint16_t alg = tee::LoadU16(d + p);
        const tee::TcgAlgorithm* a = Declared(info, alg);
        TEE_FUZZ_REQUIRE(a != nullptr && frame[w + 2 * i] == alg && frame[w + 2 * i + 1] == p + 2);
        uint32_t bit = 1u << (a - info.algorithms);
        TEE_FUZZ_REQUIRE(!(seen & bit));
        seen |= bit;
        p += 2 + a->digest_size;
      }
      TEE_FUZZ_REQUIRE(data_at == p + 4);
    }
    w += 2 * count;
    TEE_FUZZ_REQUIRE(tee::LoadU32(d + data_at - 4) == data_size && data_size <= tee::kMaxEventDataSize);
    TEE_FUZZ_REQUIRE(data_at + uint64_t{data_size} <= size);
    last = at;
    pos = data_at + data_size;
    if (e == 0 && info.crypto_agile) {
      TEE_FUZZ_REQUIRE(frame[2] == 3 && data_size >= 16 && std::memcmp(d + data_at, "Spec ID Event03", 16) == 0);
    }
  }
  TEE_FUZZ_REQUIRE(w == frame.size() && w == info.frame_words);
  TEE_FUZZ_REQUIRE(pos + info.padding_size == size);
  if (info.padding_size > 0) {
    TEE_FUZZ_REQUIRE(info.padding_byte == 0x00 || info.padding_byte == 0xFF);
    TEE_FUZZ_REQUIRE(info.padding_size >= MinEvent(info));
    for (size_t i = pos; i < size; ++i) TEE_FUZZ_REQUIRE(d[i] == info.padding_byte);
  }
  return last;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tee::TcgEventLogInfo counted, filled;
  tee::ParseFailure fail_a, fail_b;
  bool ok = tee::ParseTcgEventLog(data, size, nullptr, 0, &counted, &fail_a);
  if (!ok) {
    tee_fuzz::CheckVtpmFailure(fail_a, size, "ERR_EVENTLOG_", kChecks);
    return 0;
  }
  std::vector<uint32_t> frame(counted.frame_words);
  TEE_FUZZ_REQUIRE(tee::ParseTcgEventLog(data, size, frame.data(), frame.size(), &filled, &fail_b));
  TEE_FUZZ_REQUIRE(filled.event_count == counted.event_count && filled.frame_words == counted.frame_words &&
                   filled.padding_size == counted.padding_size);
  size_t last = CheckFrame(data, size, filled, frame);
  // A cut inside the last event: only truncation, unless what is left after
  // some complete events is itself valid padding (possible only where the log
  // holds all-zero legacy events, which the padding rule cannot tell apart).
  size_t end = size - filled.padding_size;
  if (filled.event_count >= 2 && end - last >= 2) {
    size_t cut = last + 1 + (data[0] % (end - last - 1));
    tee::TcgEventLogInfo shorter;
    tee::ParseFailure f;
    if (!tee::ParseTcgEventLog(data, cut, nullptr, 0, &shorter, &f)) {
      // (at offset 0 when the prefix is one repeated 0x00 / 0xFF byte: no first event)
      TEE_FUZZ_REQUIRE(f.code == tee::ParseCode::kEventLogTruncated && f.offset <= cut);
    } else {
      TEE_FUZZ_REQUIRE(!shorter.crypto_agile && shorter.event_count < filled.event_count);
      TEE_FUZZ_REQUIRE(shorter.padding_byte == 0x00 && shorter.padding_size >= 32);
      for (size_t i = cut - shorter.padding_size; i < cut; ++i) TEE_FUZZ_REQUIRE(data[i] == 0);
    }
  }
  return 0;
}
