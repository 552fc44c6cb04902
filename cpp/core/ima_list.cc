#include "ima_list.h"

#include <cstring>

#include "cursor.h"

namespace tee {
namespace {

constexpr const char* kCheck = "IMA";

// Digest sizes of the kernel's hash_algo_name entries a d-ng field may name.
int KnownDigestSize(const uint8_t* name, size_t n) {
  struct Known {
    const char* name;
    int size;
  };
  static constexpr Known kKnown[] = {
      {"md5", 16},         {"sha1", 20},        {"sha224", 28},      {"sha256", 32},
      {"sha384", 48},      {"sha512", 64},      {"sm3", 32},         {"sm3-256", 32},
      {"sha3-256", 32},    {"sha3-384", 48},    {"sha3-512", 64},    {"streebog256", 32},
      {"streebog512", 64},
  };
  for (const Known& k : kKnown)
    if (std::strlen(k.name) == n && std::memcmp(k.name, name, n) == 0) return k.size;
  return 0;
}

bool NameIs(const uint8_t* p, size_t n, const char* name) {
  return std::strlen(name) == n && std::memcmp(p, name, n) == 0;
}

struct Entry {
  uint32_t f[kImaFrameFields] = {};
};

class ListParser {
 public:
  ListParser(const uint8_t* data, size_t size, uint32_t digest_size, ParseFailure* failure)
      : data_(data), size_(size), digest_size_(digest_size), failure_(failure) {}

  bool Fail(ParseCode code, size_t offset) {
    *failure_ = ParseFailure{code, offset, kCheck};
    return false;
  }

  // One u32-length-prefixed field inside [*p, end) of template data.
  bool Field(size_t* p, size_t end, size_t* at, uint32_t* n) {
    if (end - *p < 4) return Fail(ParseCode::kImaBadField, *p);
    *n = LoadU32(data_ + *p);
    if (*n > end - *p - 4) return Fail(ParseCode::kImaBadField, *p);
    *at = *p + 4;
    *p = *at + *n;
    return true;
  }

  // d-ng: "<alg>:\0" then the digest.
  bool DigestNg(size_t at, uint32_t n, Entry* e) {
    size_t limit = n < kMaxImaAlgNameSize + 1 ? n : kMaxImaAlgNameSize + 1;  // alg <= 64
    const void* colon = std::memchr(data_ + at, ':', limit);
    size_t alg = colon ? static_cast<const uint8_t*>(colon) - (data_ + at) : limit;
    if (colon == nullptr || alg == 0 || alg + 1 >= n || data_[at + alg + 1] != 0)
      return Fail(ParseCode::kImaBadField, at);
    uint32_t digest = n - static_cast<uint32_t>(alg) - 2;
    int known = KnownDigestSize(data_ + at, alg);
    if (known != 0 && digest != static_cast<uint32_t>(known)) return Fail(ParseCode::kImaBadField, at);
    e->f[kImaAlgOffset] = static_cast<uint32_t>(at);
    e->f[kImaAlgSize] = static_cast<uint32_t>(alg);
    e->f[kImaDigestOffset] = static_cast<uint32_t>(at + alg + 2);
    e->f[kImaDigestSize] = digest;
    return true;
  }

  // No NUL in a file name (review s12, finding 2): the kernel never measures one, and the legacy
  // template's zero padding would make "name" and "name\0" the same measurement.
  bool NoNul(size_t at, size_t n) {
    const void* nul = std::memchr(data_ + at, 0, n);
    if (nul == nullptr) return true;
    return Fail(ParseCode::kImaBadField, static_cast<const uint8_t*>(nul) - data_);
  }

  // n-ng: the file name and exactly one terminating NUL.
  bool NameNg(size_t at, uint32_t n, Entry* e) {
    if (n == 0 || data_[at + n - 1] != 0) return Fail(ParseCode::kImaBadField, at);
    if (!NoNul(at, n - 1)) return false;
    e->f[kImaPathOffset] = static_cast<uint32_t>(at);
    e->f[kImaPathSize] = n - 1;
    return true;
  }

  // ima-ng = d-ng | n-ng; ima-sig = d-ng | n-ng | sig; ima-buf = d-ng | n-ng | buf;
  // fields fill the data exactly. `third`: the sig / buf field follows.
  bool DecodeNg(size_t begin, size_t end, bool third, Entry* e) {
    size_t p = begin, at = 0;
    uint32_t n = 0;
    if (!Field(&p, end, &at, &n) || !DigestNg(at, n, e)) return false;
    if (!Field(&p, end, &at, &n) || !NameNg(at, n, e)) return false;
    if (third) {
      if (!Field(&p, end, &at, &n)) return false;
      e->f[kImaSigOffset] = static_cast<uint32_t>(at);
      e->f[kImaSigSize] = n;
    }
    if (p != end) return Fail(ParseCode::kImaBadField, p);
    return true;
  }

  // The legacy "ima" template: 20-byte file digest, u32 name length, name (no NUL, none accepted).
  bool DecodeIma(size_t* pos, Entry* e) {
    size_t at = *pos;
    if (size_ - at < 20 + 4) return Fail(ParseCode::kImaTruncated, at);
    uint32_t n = LoadU32(data_ + at + 20);
    if (n > kMaxImaEventNameSize) return Fail(ParseCode::kImaBadSize, at + 20);
    if (n > size_ - at - 24) return Fail(ParseCode::kImaTruncated, at + 24);
    if (!NoNul(at + 24, n)) return false;
    e->f[kImaDigestOffset] = static_cast<uint32_t>(at);
    e->f[kImaDigestSize] = 20;
    e->f[kImaPathOffset] = static_cast<uint32_t>(at + 24);
    e->f[kImaPathSize] = n;
    e->f[kImaDataOffset] = static_cast<uint32_t>(at);
    e->f[kImaDataSize] = 24 + n;
    *pos = at + 24 + n;
    return true;
  }

  bool Next(size_t* pos, Entry* e) {
    size_t at = *pos;
    size_t fixed = 4 + digest_size_ + 4;
    if (size_ - at < fixed) return Fail(ParseCode::kImaTruncated, at);
    size_t name_len_at = at + 4 + digest_size_;
    uint32_t name_len = LoadU32(data_ + name_len_at);
    if (name_len == 0 || name_len > kMaxImaTemplateNameSize)
      return Fail(ParseCode::kImaBadSize, name_len_at);
    size_t name_at = name_len_at + 4;
    if (name_len > size_ - name_at) return Fail(ParseCode::kImaTruncated, name_at);
    e->f[kImaOffset] = static_cast<uint32_t>(at);
    e->f[kImaPcr] = LoadU32(data_ + at);
    e->f[kImaNameOffset] = static_cast<uint32_t>(name_at);
    e->f[kImaNameSize] = name_len;
    size_t p = name_at + name_len;
    const uint8_t* name = data_ + name_at;
    if (NameIs(name, name_len, "ima")) {
      e->f[kImaTemplate] = static_cast<uint32_t>(ImaTemplate::kIma);
      if (!DecodeIma(&p, e)) return false;
      *pos = p;
      return true;
    }
    if (size_ - p < 4) return Fail(ParseCode::kImaTruncated, p);
    uint32_t data_len = LoadU32(data_ + p);
    if (data_len > kMaxImaTemplateDataSize) return Fail(ParseCode::kImaBadSize, p);
    size_t data_at = p + 4;
    if (data_len > size_ - data_at) return Fail(ParseCode::kImaTruncated, data_at);
    e->f[kImaDataOffset] = static_cast<uint32_t>(data_at);
    e->f[kImaDataSize] = data_len;
    size_t end = data_at + data_len;
    ImaTemplate kind = ImaTemplate::kOther;
    if (NameIs(name, name_len, "ima-ng")) kind = ImaTemplate::kImaNg;
    else if (NameIs(name, name_len, "ima-sig")) kind = ImaTemplate::kImaSig;
    else if (NameIs(name, name_len, "ima-buf")) kind = ImaTemplate::kImaBuf;  // VT16: as the ASCII parser decodes it
    if (kind != ImaTemplate::kOther) {
      e->f[kImaTemplate] = static_cast<uint32_t>(kind);
      if (!DecodeNg(data_at, end, kind != ImaTemplate::kImaNg, e)) return false;
    }
    *pos = end;
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  uint32_t digest_size_;
  ParseFailure* failure_;
};

}  // namespace

bool ParseImaList(const uint8_t* data, size_t size, uint32_t digest_size, uint32_t* frame,
                  size_t frame_capacity, size_t* entries, ParseFailure* failure) {
  *entries = 0;
  if (size > kMaxImaListSize) {
    *failure = ParseFailure{ParseCode::kInputTooLarge, kMaxImaListSize, kCheck};
    return false;
  }
  if (digest_size != 20 && digest_size != 32 && digest_size != 48 && digest_size != 64) {
    *failure = ParseFailure{ParseCode::kImaBadSize, 0, kCheck};
    return false;
  }
  ListParser parser(data, size, digest_size, failure);
  size_t pos = 0;
  while (pos < size) {
    if (*entries == kMaxImaEntries) {
      *failure = ParseFailure{ParseCode::kImaTooManyEntries, pos, kCheck};
      return false;
    }
    Entry e;
    if (!parser.Next(&pos, &e)) return false;
    if (frame != nullptr && *entries < frame_capacity)
      std::memcpy(frame + *entries * kImaFrameFields, e.f, sizeof(e.f));
    ++*entries;
  }
  return true;
}

}  // namespace tee
