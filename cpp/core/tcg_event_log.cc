#include "tcg_event_log.h"

#include <cstring>

#include "cursor.h"

namespace tee {
namespace {

constexpr char kSpecIdSignature[16] = "Spec ID Event03";  // with its NUL: 16 bytes
constexpr size_t kLegacyHeaderSize = 4 + 4 + 20 + 4;      // pcr, type, SHA-1 digest, event size

constexpr const char* kLegacyCheck = "TCG_PCClientPCREvent";
constexpr const char* kSpecIdCheck = "TCG_EfiSpecIDEvent";
constexpr const char* kEvent2Check = "TCG_PCR_EVENT2";

// Digest sizes of the algorithms a log may declare (TCG Algorithm Registry).
int KnownDigestSize(uint16_t alg) {
  switch (alg) {
    case 0x0004: return 20;  // SHA-1
    case 0x000B: return 32;  // SHA-256
    case 0x000C: return 48;  // SHA-384
    case 0x000D: return 64;  // SHA-512
    case 0x0012: return 32;  // SM3-256
    case 0x0027: return 32;  // SHA3-256
    case 0x0028: return 48;  // SHA3-384
    case 0x0029: return 64;  // SHA3-512
    default: return 0;
  }
}

class FrameWriter {
 public:
  FrameWriter(uint32_t* frame, size_t capacity) : frame_(frame), capacity_(capacity) {}
  void Put(uint64_t v) {
    if (frame_ != nullptr && words_ < capacity_) frame_[words_] = static_cast<uint32_t>(v);
    ++words_;
  }
  size_t words() const { return words_; }

 private:
  uint32_t* frame_;
  size_t capacity_;
  size_t words_ = 0;
};

struct Parser {
  const uint8_t* data;
  size_t size;
  TcgEventLogInfo* info;
  FrameWriter out;
  ParseFailure* failure;
  // Start of the final run of one repeated byte: data[tail..size) all equal
  // tail_byte. Found once by FindTail, so IsPadding is O(1) per event.
  size_t tail = 0;
  uint8_t tail_byte = 0;

  bool Fail(ParseCode code, size_t offset, const char* check) {
    *failure = ParseFailure{code, offset, check};
    return false;
  }

  // Event data of `event_size` bytes at `at`: bounded by the cap, then by the input.
  bool CheckEventData(size_t size_at, uint32_t event_size, size_t at, const char* check) {
    if (event_size > kMaxEventDataSize) return Fail(ParseCode::kEventLogBadSize, size_at, check);
    if (event_size > size - at) return Fail(ParseCode::kEventLogTruncated, at, check);
    return true;
  }

  // One TCG_PCClientPCREvent at `pos` (the first event of every log, and
  // every event of a legacy log); advances pos.
  bool LegacyEvent(size_t* pos, uint32_t* type_out, size_t* data_at, uint32_t* data_size) {
    size_t at = *pos;
    if (size - at < kLegacyHeaderSize) return Fail(ParseCode::kEventLogTruncated, at, kLegacyCheck);
    uint32_t pcr = LoadU32(data + at);
    uint32_t type = LoadU32(data + at + 4);
    uint32_t event_size = LoadU32(data + at + 28);
    if (!CheckEventData(at + 28, event_size, at + kLegacyHeaderSize, kLegacyCheck)) return false;
    out.Put(at);
    out.Put(pcr);
    out.Put(type);
    out.Put(at + kLegacyHeaderSize);
    out.Put(event_size);
    out.Put(1);
    out.Put(kTcgAlgSha1);
    out.Put(at + 8);
    *type_out = type;
    *data_at = at + kLegacyHeaderSize;
    *data_size = event_size;
    *pos = at + kLegacyHeaderSize + event_size;
    return true;
  }

  // TCG_EfiSpecIDEvent filling exactly the header event's data.
  bool SpecId(size_t at, uint32_t length) {
    size_t end = at + length;
    size_t p = at + 16;
    // platformClass u32, spec version minor / major, errata, uintnSize, numberOfAlgorithms u32
    if (end - p < 4 + 4 + 4) return Fail(ParseCode::kEventLogBadSpecId, at, kSpecIdCheck);
    size_t count_at = p + 8;
    uint32_t count = LoadU32(data + count_at);
    if (count == 0 || count > kMaxEventLogAlgorithms)
      return Fail(ParseCode::kEventLogBadSpecId, count_at, kSpecIdCheck);
    p = count_at + 4;
    if (end - p < size_t{count} * 4 + 1) return Fail(ParseCode::kEventLogBadSpecId, p, kSpecIdCheck);
    for (uint32_t i = 0; i < count; ++i, p += 4) {
      TcgAlgorithm a{LoadU16(data + p), LoadU16(data + p + 2)};
      int known = KnownDigestSize(a.alg);
      bool bad_size = a.digest_size == 0 || a.digest_size > kMaxEventDigestSize ||
                      (known != 0 && a.digest_size != known);
      if (bad_size) return Fail(ParseCode::kEventLogBadSpecId, p + 2, kSpecIdCheck);
      for (uint32_t j = 0; j < i; ++j)
        if (info->algorithms[j].alg == a.alg) return Fail(ParseCode::kEventLogBadSpecId, p, kSpecIdCheck);
      info->algorithms[i] = a;
    }
    info->algorithm_count = count;
    uint8_t vendor_size = data[p];
    if (end - p - 1 != vendor_size) return Fail(ParseCode::kEventLogBadSpecId, p, kSpecIdCheck);
    return true;
  }

  const TcgAlgorithm* FindAlgorithm(uint16_t alg) const {
    for (uint32_t i = 0; i < info->algorithm_count; ++i)
      if (info->algorithms[i].alg == alg) return &info->algorithms[i];
    return nullptr;
  }

  // One TCG_PCR_EVENT2 at `pos`; advances pos. Every input byte is read
  // once: the input may be shared memory another thread writes while we
  // parse, so the frame is built from what the checks saw (`found`), never
  // from a second read of the algorithm ids (review s8, finding 1).
  bool Event2(size_t* pos) {
    size_t at = *pos;
    if (size - at < 12) return Fail(ParseCode::kEventLogTruncated, at, kEvent2Check);
    uint32_t pcr = LoadU32(data + at);
    uint32_t type = LoadU32(data + at + 4);
    uint32_t count = LoadU32(data + at + 8);
    if (count != info->algorithm_count) return Fail(ParseCode::kEventLogBadDigestCount, at + 8, kEvent2Check);
    // The digests: bounds, known algorithms, no repeats.
    const TcgAlgorithm* found[kMaxEventLogAlgorithms];
    size_t p = at + 12;
    uint32_t seen = 0;  // bit i: algorithms[i] already present
    for (uint32_t i = 0; i < count; ++i) {
      if (size - p < 2) return Fail(ParseCode::kEventLogTruncated, p, kEvent2Check);
      const TcgAlgorithm* a = FindAlgorithm(LoadU16(data + p));
      if (a == nullptr) return Fail(ParseCode::kEventLogUnknownAlgorithm, p, kEvent2Check);
      uint32_t bit = 1u << (a - info->algorithms);
      if (seen & bit) return Fail(ParseCode::kEventLogBadDigestCount, p, kEvent2Check);
      seen |= bit;
      if (size - p - 2 < a->digest_size) return Fail(ParseCode::kEventLogTruncated, p + 2, kEvent2Check);
      found[i] = a;
      p += 2 + a->digest_size;
    }
    if (size - p < 4) return Fail(ParseCode::kEventLogTruncated, p, kEvent2Check);
    uint32_t event_size = LoadU32(data + p);
    if (!CheckEventData(p, event_size, p + 4, kEvent2Check)) return false;
    out.Put(at);
    out.Put(pcr);
    out.Put(type);
    out.Put(p + 4);
    out.Put(event_size);
    out.Put(count);
    size_t q = at + 12;
    for (uint32_t i = 0; i < count; ++i) {
      out.Put(found[i]->alg);
      out.Put(q + 2);
      q += 2 + found[i]->digest_size;
    }
    *pos = p + 4 + event_size;
    return true;
  }

  // Smallest possible event: the fixed fields and one digest per declared
  // algorithm, with empty event data.
  size_t MinEventSize() const {
    if (!info->crypto_agile) return kLegacyHeaderSize;
    size_t n = 12 + 4;
    for (uint32_t i = 0; i < info->algorithm_count; ++i) n += 2 + info->algorithms[i].digest_size;
    return n;
  }

  // The rest of the input is padding when every byte is 0x00, or every byte
  // is 0xFF (firmware leaves the unused log area erased), and it is at least
  // as long as the smallest event: a shorter tail cannot be told apart from
  // an event cut short, so it stays truncation. Such a tail never holds a
  // genuine crypto-agile event (its digest count would be 0 or 0xFFFFFFFF);
  // an all-zero legacy event is what the kernel itself reads as the end of
  // the log (event type 0 with no data).
  //
  // The rest of the input is all one byte exactly when pos >= tail, so the
  // test is O(1) per event (review s14: rescanning the rest at every event
  // made a long log of all-zero legacy events ending in another byte cost
  // quadratic time).
  bool IsPadding(size_t pos) {
    size_t n = size - pos;
    if (pos < tail || n < MinEventSize() || (tail_byte != 0x00 && tail_byte != 0xFF)) return false;
    info->padding_size = static_cast<uint32_t>(n);
    info->padding_byte = tail_byte;
    return true;
  }

  // One backward scan from the end (size > 0): the final run of one byte.
  void FindTail() {
    tail_byte = data[size - 1];
    tail = size - 1;
    while (tail > 0 && data[tail - 1] == tail_byte) --tail;
  }

  // A whole input of 0x00 or 0xFF (an erased log area) has no first event.
  bool AllOneByte() const {
    for (size_t i = 1; i < size; ++i)
      if (data[i] != data[0]) return false;
    return data[0] == 0x00 || data[0] == 0xFF;
  }

  bool Run() {
    if (size > kMaxEventLogSize) return Fail(ParseCode::kInputTooLarge, kMaxEventLogSize, kLegacyCheck);
    if (size == 0 || AllOneByte()) return Fail(ParseCode::kEventLogTruncated, 0, kLegacyCheck);
    FindTail();
    size_t pos = 0;
    uint32_t type = 0;
    size_t data_at = 0;
    uint32_t data_size = 0;
    if (!LegacyEvent(&pos, &type, &data_at, &data_size)) return false;
    info->crypto_agile = type == kEvNoAction && data_size >= 16 &&
                         std::memcmp(data + data_at, kSpecIdSignature, 16) == 0;
    if (info->crypto_agile) {
      if (!SpecId(data_at, data_size)) return false;
    } else {
      info->algorithm_count = 1;
      info->algorithms[0] = TcgAlgorithm{kTcgAlgSha1, 20};
    }
    info->event_count = 1;
    while (pos < size && !IsPadding(pos)) {
      if (info->event_count == kMaxEventLogEvents)
        return Fail(ParseCode::kEventLogTooManyEvents, pos, info->crypto_agile ? kEvent2Check : kLegacyCheck);
      bool ok = info->crypto_agile ? Event2(&pos) : LegacyEvent(&pos, &type, &data_at, &data_size);
      if (!ok) return false;
      ++info->event_count;
    }
    info->frame_words = out.words();
    return true;
  }
};

}  // namespace

bool ParseTcgEventLog(const uint8_t* data, size_t size, uint32_t* frame, size_t frame_capacity,
                      TcgEventLogInfo* info, ParseFailure* failure) {
  *info = TcgEventLogInfo{};
  Parser p{data, size, info, FrameWriter(frame, frame_capacity), failure};
  return p.Run();
}

}  // namespace tee
