// X09: the one bounded reader. A little-endian cursor over a borrowed byte
// range; every read checks the remaining length first; the first failure sticks, so callers can chain
// reads and test once. Offsets are absolute (from byte 0 of the evidence).
#pragma once

#include <cstddef>
#include <cstdint>

#include "parse_error.h"

namespace tee {

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  bool ok() const { return failure_.code == ParseCode::kOk; }
  const ParseFailure& failure() const { return failure_; }

  // Records a failure at the current position unless one is already recorded.
  void Fail(ParseCode code, const char* check) { FailAt(code, pos_, check); }
  void FailAt(ParseCode code, uint64_t offset, const char* check) {
    if (ok()) failure_ = ParseFailure{code, offset, check};
  }

  // Advances over n bytes, failing with kTruncated if they are not there.
  bool Skip(size_t n, const char* check) {
    if (!ok()) return false;
    if (n > remaining()) {
      Fail(ParseCode::kTruncated, check);
      return false;
    }
    pos_ += n;
    return true;
  }

  uint16_t U16(const char* check) { return static_cast<uint16_t>(ReadLe(2, check)); }
  uint32_t U32(const char* check) { return static_cast<uint32_t>(ReadLe(4, check)); }

 private:
  uint64_t ReadLe(size_t n, const char* check) {
    if (!ok()) return 0;
    if (n > remaining()) {
      Fail(ParseCode::kTruncated, check);
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  ParseFailure failure_;
};

// Little-endian loads at a known-valid offset (callers check bounds first).
inline uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t LoadU64(const uint8_t* p) {
  return static_cast<uint64_t>(LoadU32(p)) | (static_cast<uint64_t>(LoadU32(p + 4)) << 32);
}

// True when every byte of [p, p + n) is zero.
inline bool AllZero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

// Offset of the first non-zero byte in [p, p + n), or n if there is none.
inline size_t FirstNonZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != 0) return i;
  return n;
}

}  // namespace tee
