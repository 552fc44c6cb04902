#include "tpm.h"

namespace tee {
namespace {

// Big-endian bounded reader (TPM wire format). Like Cursor, the first
// failure sticks and every later read returns zero; `check` names the
// structure being read (the TPM 2.0 type, docs/vtpm-formats.md).
class TpmReader {
 public:
  TpmReader(const uint8_t* data, size_t size, const char* check)
      : data_(data), size_(size), check_(check) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  bool ok() const { return failure_.code == ParseCode::kOk; }
  const ParseFailure& failure() const { return failure_; }
  void set_check(const char* check) { check_ = check; }

  void FailAt(ParseCode code, size_t offset) {
    if (ok()) failure_ = ParseFailure{code, offset, check_};
  }

  uint8_t U8() { return static_cast<uint8_t>(Read(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Read(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Read(4)); }

  bool Skip(size_t n) {
    if (!ok()) return false;
    if (n > remaining()) {
      FailAt(ParseCode::kTpmTruncated, pos_);
      return false;
    }
    pos_ += n;
    return true;
  }

  // A TPM2B: u16 size (at most `max`, at least `min`) and that many bytes.
  TpmSpan Sized(uint32_t min, uint32_t max) {
    TpmSpan span;
    size_t size_at = pos_;
    uint16_t n = U16();
    if (!ok()) return span;
    if (n > max || n < min) {
      FailAt(ParseCode::kTpmBadSize, size_at);
      return span;
    }
    span.offset = static_cast<uint32_t>(pos_);
    span.size = n;
    Skip(n);
    return span;
  }

  // The structure must end exactly at the end of the input.
  bool End() {
    if (ok() && remaining() != 0) FailAt(ParseCode::kTpmTrailingData, pos_);
    return ok();
  }

 private:
  uint32_t Read(size_t n) {
    if (!ok()) return 0;
    if (n > remaining()) {
      FailAt(ParseCode::kTpmTruncated, pos_);
      return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += n;
    return v;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const char* check_;
  ParseFailure failure_;
};

bool TooLarge(size_t size, ParseFailure* failure, const char* check) {
  if (size <= kMaxTpmStructSize) return false;
  *failure = ParseFailure{ParseCode::kInputTooLarge, kMaxTpmStructSize, check};
  return true;
}

bool Finish(TpmReader& r, ParseFailure* failure) {
  r.End();
  *failure = r.failure();
  return r.ok();
}

// TPML_PCR_SELECTION: count, then per bank hash, sizeofSelect, pcrSelect.
void ReadPcrSelection(TpmReader& r, const uint8_t* data, TpmQuoteFrame* f) {
  r.set_check("TPML_PCR_SELECTION");
  size_t count_at = r.pos();
  uint32_t count = r.U32();
  if (!r.ok()) return;
  if (count > kTpmMaxPcrBanks) {
    r.FailAt(ParseCode::kTpmBadSize, count_at);
    return;
  }
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    size_t entry_at = r.pos();
    TpmPcrSelectionFrame& s = f->selections[i];
    s.hash_alg = r.U16();
    size_t select_at = r.pos();
    s.sizeof_select = r.U8();
    if (!r.ok()) return;
    if (s.sizeof_select > kTpmMaxSizeofSelect) {
      r.FailAt(ParseCode::kTpmBadSize, select_at);
      return;
    }
    size_t bits_at = r.pos();
    if (!r.Skip(s.sizeof_select)) return;
    for (uint32_t b = 0; b < s.sizeof_select; ++b)
      s.mask |= static_cast<uint32_t>(data[bits_at + b]) << (8 * b);
    for (uint32_t j = 0; j < i; ++j) {
      if (f->selections[j].hash_alg == s.hash_alg) {  // one bank listed twice
        r.FailAt(ParseCode::kTpmBadValue, entry_at);
        return;
      }
    }
    f->selection_count = i + 1;
  }
}

// TPMT_SYM_DEF_OBJECT: NULL, or AES / SM4 / CAMELLIA with key bits and mode.
void ReadSymmetric(TpmReader& r, TpmPublicFrame* f) {
  size_t at = r.pos();
  f->symmetric_alg = r.U16();
  if (!r.ok() || f->symmetric_alg == kTpmAlgNull) return;
  constexpr uint16_t kAes = 0x0006, kSm4 = 0x0013, kCamellia = 0x0026;
  if (f->symmetric_alg != kAes && f->symmetric_alg != kSm4 && f->symmetric_alg != kCamellia) {
    r.FailAt(ParseCode::kTpmUnsupportedScheme, at);
    return;
  }
  f->symmetric_key_bits = r.U16();
  f->symmetric_mode = r.U16();
}

// TPMT_RSA_SCHEME / TPMT_ECC_SCHEME restricted to the signing schemes of
// an attestation key; every accepted scheme carries exactly a hash.
void ReadScheme(TpmReader& r, TpmPublicFrame* f, bool rsa) {
  size_t at = r.pos();
  f->scheme_alg = r.U16();
  if (!r.ok()) return;
  f->scheme_hash_alg = kTpmAlgNull;
  if (f->scheme_alg == kTpmAlgNull) return;
  bool known = rsa ? (f->scheme_alg == kTpmAlgRsassa || f->scheme_alg == kTpmAlgRsapss)
                   : f->scheme_alg == kTpmAlgEcdsa;
  if (!known) {
    r.FailAt(ParseCode::kTpmUnsupportedScheme, at);
    return;
  }
  size_t hash_at = r.pos();
  f->scheme_hash_alg = r.U16();
  if (r.ok() && f->scheme_hash_alg == kTpmAlgNull) r.FailAt(ParseCode::kTpmBadValue, hash_at);
}

void ReadRsaParameters(TpmReader& r, TpmPublicFrame* f) {
  ReadSymmetric(r, f);
  ReadScheme(r, f, true);
  size_t bits_at = r.pos();
  f->rsa_key_bits = r.U16();
  f->rsa_exponent = r.U32();
  if (!r.ok()) return;
  uint16_t bits = f->rsa_key_bits;
  if (bits != 1024 && bits != 2048 && bits != 3072 && bits != 4096) {
    r.FailAt(ParseCode::kTpmBadValue, bits_at);
    return;
  }
  r.set_check("TPM2B_PUBLIC_KEY_RSA");
  size_t modulus_at = r.pos();
  f->first = r.Sized(1, kTpmMaxRsaBytes);
  if (r.ok() && f->first.size != bits / 8u) r.FailAt(ParseCode::kTpmBadSize, modulus_at);
}

void ReadEccParameters(TpmReader& r, TpmPublicFrame* f) {
  ReadSymmetric(r, f);
  ReadScheme(r, f, false);
  f->ecc_curve = r.U16();
  f->kdf_alg = r.U16();
  if (!r.ok()) return;
  if (f->kdf_alg != kTpmAlgNull) f->kdf_hash_alg = r.U16();  // every KDF scheme is a hash
  r.set_check("TPMS_ECC_POINT");
  f->first = r.Sized(1, kTpmMaxEccBytes);
  f->second = r.Sized(1, kTpmMaxEccBytes);
}

void ReadPublicArea(TpmReader& r, TpmPublicFrame* f) {
  r.set_check("TPMT_PUBLIC");
  size_t begin = r.pos();
  f->type = r.U16();
  if (r.ok() && f->type != kTpmAlgRsa && f->type != kTpmAlgEcc) {
    r.FailAt(ParseCode::kTpmUnsupportedKeyType, begin);
    return;
  }
  f->name_alg = r.U16();
  f->object_attributes = r.U32();
  f->auth_policy = r.Sized(0, kTpmMaxDigestSize);
  if (!r.ok()) return;
  if (f->type == kTpmAlgRsa) {
    ReadRsaParameters(r, f);
  } else {
    ReadEccParameters(r, f);
  }
  f->public_area = TpmSpan{static_cast<uint32_t>(begin), static_cast<uint32_t>(r.pos() - begin)};
}

}  // namespace

bool ParseTpmQuote(const uint8_t* data, size_t size, TpmQuoteFrame* f, ParseFailure* failure) {
  *f = TpmQuoteFrame{};
  if (TooLarge(size, failure, "TPMS_ATTEST")) return false;
  TpmReader r(data, size, "TPMS_ATTEST");
  f->magic = r.U32();
  if (r.ok() && f->magic != kTpmGeneratedValue) r.FailAt(ParseCode::kTpmBadMagic, 0);
  f->type = r.U16();
  if (r.ok() && f->type != kTpmStAttestQuote) r.FailAt(ParseCode::kTpmUnsupportedAttestType, 4);
  f->qualified_signer = r.Sized(0, kTpmMaxNameSize);
  f->extra_data = r.Sized(0, kTpmMaxExtraDataSize);
  f->clock_info_offset = static_cast<uint32_t>(r.pos());
  r.Skip(16);  // clock u64, resetCount u32, restartCount u32
  size_t safe_at = r.pos();
  f->safe = r.U8();
  if (r.ok() && f->safe > 1) r.FailAt(ParseCode::kTpmBadValue, safe_at);  // TPMI_YES_NO
  f->firmware_version_offset = static_cast<uint32_t>(r.pos());
  r.Skip(8);
  if (r.ok()) ReadPcrSelection(r, data, f);
  r.set_check("TPMS_QUOTE_INFO");
  f->pcr_digest = r.Sized(0, kTpmMaxDigestSize);
  r.set_check("TPMS_ATTEST");
  return Finish(r, failure);
}

bool ParseTpmSignature(const uint8_t* data, size_t size, TpmSignatureFrame* f,
                       ParseFailure* failure) {
  *f = TpmSignatureFrame{};
  if (TooLarge(size, failure, "TPMT_SIGNATURE")) return false;
  TpmReader r(data, size, "TPMT_SIGNATURE");
  f->sig_alg = r.U16();
  if (r.ok() && f->sig_alg != kTpmAlgRsassa && f->sig_alg != kTpmAlgRsapss &&
      f->sig_alg != kTpmAlgEcdsa)
    r.FailAt(ParseCode::kTpmUnsupportedSigAlg, 0);
  f->hash_alg = r.U16();
  if (r.ok() && f->hash_alg == kTpmAlgNull) r.FailAt(ParseCode::kTpmBadValue, 2);
  if (f->sig_alg == kTpmAlgEcdsa) {
    f->first = r.Sized(1, kTpmMaxEccBytes);
    f->second = r.Sized(1, kTpmMaxEccBytes);
  } else {
    f->first = r.Sized(1, kTpmMaxRsaBytes);
  }
  return Finish(r, failure);
}

bool ParseTpmPublic(const uint8_t* data, size_t size, bool sized, TpmPublicFrame* f,
                    ParseFailure* failure) {
  *f = TpmPublicFrame{};
  if (TooLarge(size, failure, sized ? "TPM2B_PUBLIC" : "TPMT_PUBLIC")) return false;
  if (!sized) {
    TpmReader r(data, size, "TPMT_PUBLIC");
    ReadPublicArea(r, f);
    return Finish(r, failure);
  }
  // TPM2B_PUBLIC: the TPMT_PUBLIC must fill its size field exactly, and
  // nothing may follow the TPM2B.
  TpmReader outer(data, size, "TPM2B_PUBLIC");
  size_t end = 2 + static_cast<size_t>(outer.U16());
  if (outer.ok() && end > size) outer.FailAt(ParseCode::kTpmTruncated, 0);
  if (!outer.ok()) {
    *failure = outer.failure();
    return false;
  }
  TpmReader r(data, end, "TPMT_PUBLIC");
  r.Skip(2);
  ReadPublicArea(r, f);
  // The size field must hold exactly one complete TPMT_PUBLIC.
  bool inner_short = !r.ok() && r.failure().code == ParseCode::kTpmTruncated;
  if (inner_short || (r.ok() && r.remaining() != 0)) {
    *failure = ParseFailure{ParseCode::kTpmBadSize, 0, "TPM2B_PUBLIC"};
    return false;
  }
  if (r.ok() && end != size) {
    *failure = ParseFailure{ParseCode::kTpmTrailingData, end, "TPM2B_PUBLIC"};
    return false;
  }
  *failure = r.failure();
  return r.ok();
}

}  // namespace tee
