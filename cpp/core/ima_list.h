// Binary Linux IMA measurement list (securityfs binary_runtime_measurements,
// little-endian as written on x86 or with ima_canonical_fmt). Per entry: PCR
// u32, template digest (20 bytes classic; 32 / 48 / 64 in the per-bank lists,
// so the size is a parameter), template name (u32 length + bytes), then for
// every template but "ima" the template data (u32 length + bytes). The data
// of "ima-ng", "ima-sig" and "ima-buf" is decoded into its fields (ima-buf
// has ima-sig's layout, its third field being the buffer); the legacy "ima"
// template has no data length: a 20-byte file digest and a u32-length-
// prefixed file name follow the name. docs/vtpm-formats.md has the details.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

// Bounds. A busy machine's list holds tens of thousands of entries (~100
// bytes each); the caps leave two orders of magnitude of room.
constexpr size_t kMaxImaListSize = 128 * 1024 * 1024;
constexpr uint32_t kMaxImaEntries = 1000000;
constexpr uint32_t kMaxImaTemplateNameSize = 255;
constexpr uint32_t kMaxImaTemplateDataSize = 1024 * 1024;
constexpr uint32_t kMaxImaEventNameSize = 255;  // IMA_EVENT_NAME_LEN_MAX ("ima" template)
constexpr uint32_t kMaxImaAlgNameSize = 64;

// kOther is framed but not decoded: the TypeScript layer refuses it (VT16), as
// its template name is not covered by the template digest (review s6, finding 1).
enum class ImaTemplate : uint32_t { kOther = 0, kIma = 1, kImaNg = 2, kImaSig = 3, kImaBuf = 4 };

// Frame words per entry, in this order.
enum ImaFrameField : uint32_t {
  kImaOffset = 0,
  kImaPcr,
  kImaNameOffset,
  kImaNameSize,
  kImaDataOffset,   // template data ("ima": from the file digest to the end of the file name)
  kImaDataSize,
  kImaTemplate,     // ImaTemplate
  kImaAlgOffset,    // d-ng algorithm name without ':' (empty for "ima" and others)
  kImaAlgSize,
  kImaDigestOffset,  // file digest
  kImaDigestSize,
  kImaPathOffset,   // file name without its NUL
  kImaPathSize,
  kImaSigOffset,    // ima-sig: the signature; ima-buf: the buffer (either may be empty)
  kImaSigSize,
  kImaFrameFields,
};

// Counts entries (frame == nullptr) or also fills frame, at most
// frame_capacity entries of kImaFrameFields words. digest_size must be 20,
// 32, 48 or 64.
bool ParseImaList(const uint8_t* data, size_t size, uint32_t digest_size, uint32_t* frame,
                  size_t frame_capacity, size_t* entries, ParseFailure* failure);

}  // namespace tee
