// TCG PC Client boot event logs (TCG PC Client Platform Firmware Profile,
// section 10; /sys/kernel/security/tpm0/binary_bios_measurements): the
// crypto-agile format (a TCG_PCClientPCREvent carrying "Spec ID Event03",
// then TCG_PCR_EVENT2 events whose digests have the sizes it declares) and
// the legacy SHA-1 format (TCG_PCClientPCREvent only). Little-endian.
// docs/vtpm-formats.md has the layouts, bounds and the padding rule.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

// Bounds. Real logs are tens of KB with a few hundred events; the largest
// single events are Secure Boot variables (dbx, a few tens of KB).
constexpr size_t kMaxEventLogSize = 16 * 1024 * 1024;
constexpr uint32_t kMaxEventLogEvents = 100000;
constexpr uint32_t kMaxEventDataSize = 1024 * 1024;
constexpr uint32_t kMaxEventLogAlgorithms = 16;  // HASH_COUNT
constexpr uint32_t kMaxEventDigestSize = 64;

constexpr uint32_t kEvNoAction = 0x00000003;
constexpr uint16_t kTcgAlgSha1 = 0x0004;

struct TcgAlgorithm {
  uint16_t alg = 0;
  uint16_t digest_size = 0;
};

struct TcgEventLogInfo {
  bool crypto_agile = false;
  uint32_t algorithm_count = 0;
  TcgAlgorithm algorithms[kMaxEventLogAlgorithms];
  uint32_t event_count = 0;
  uint32_t padding_size = 0;   // bytes after the last event, all 0x00 or all 0xFF
  uint8_t padding_byte = 0;
  size_t frame_words = 0;      // u32 words the frame needs (or holds)
};

// Frame, per event in order: offset, pcr index, event type, data offset,
// data size, digest count, then (algorithm id, digest offset) per digest;
// digest sizes are those of info->algorithms. With frame == nullptr only
// info (including frame_words) is computed, so callers can size the frame
// exactly; the frame is never written past frame_capacity words.
bool ParseTcgEventLog(const uint8_t* data, size_t size, uint32_t* frame, size_t frame_capacity,
                      TcgEventLogInfo* info, ParseFailure* failure);

}  // namespace tee
