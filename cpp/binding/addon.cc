// The addon's whole surface: layout tables, the evidence parsers (Intel
// quotes, SNP reports and certificate tables; vTPM: TPM 2.0 structures, TCG
// boot event logs, binary IMA lists, Azure HCL reports) and ECDSA (X09: no
// C++ exception crosses N-API, every input length is bounded by the core). Inputs
// are Uint8Arrays read synchronously (no copy is kept past the call); parse
// failures come back as plain {code, offset, check} objects that the
// TypeScript loader turns into typed errors. Nothing here throws except on
// wrong argument types, which the TypeScript wrapper never passes, and when
// V8 cannot allocate a result: then the allocation's exception is left
// pending and the function returns at once, never touching the empty handle.
#include <napi.h>

#include "../core/ecdsa.h"
#include "../core/hcl_report.h"
#include "../core/ima_list.h"
#include "../core/intel_quote.h"
#include "../core/layout.h"
#include "../core/snp_report.h"
#include "../core/tcg_event_log.h"
#include "../core/tpm.h"

namespace {

using tee::ParseFailure;

struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

bool ReadBytes(const Napi::CallbackInfo& info, size_t index, Bytes* out) {
  if (info.Length() <= index || !info[index].IsTypedArray()) return false;
  Napi::TypedArray ta = info[index].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  Napi::Uint8Array u8 = ta.As<Napi::Uint8Array>();
  out->data = u8.Data();
  out->size = u8.ByteLength();
  return true;
}

// True when creating `v` failed: N-API left an exception pending (with C++
// exceptions disabled nothing unwinds) and `v` is empty. The caller returns
// env.Undefined() so that the exception reaches JavaScript.
bool Failed(Napi::Env env, const Napi::Value& v) { return v.IsEmpty() || env.IsExceptionPending(); }

// `v`, unless an allocation on the way (a property set, a nested object)
// left an exception pending.
Napi::Value Done(Napi::Env env, const Napi::Value& v) { return env.IsExceptionPending() ? env.Undefined() : v; }

Napi::Value TypeError(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

tee::TrailingMode ReadMode(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || !info[index].IsNumber()) return tee::TrailingMode::kDefault;
  uint32_t v = info[index].As<Napi::Number>().Uint32Value();
  return v == 1 ? tee::TrailingMode::kStrict
                : v == 2 ? tee::TrailingMode::kLenient : tee::TrailingMode::kDefault;
}

Napi::Value FailureObject(Napi::Env env, const ParseFailure& f) {
  Napi::Object o = Napi::Object::New(env);
  if (Failed(env, o)) return env.Undefined();
  o.Set("code", tee::ParseCodeName(f.code));
  o.Set("offset", static_cast<double>(f.offset));
  o.Set("check", f.check);
  o.Set("unsupported", tee::IsUnsupportedCode(f.code));
  return Done(env, o);
}

Napi::Value Layouts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static const char* kTypeNames[] = {"bytes", "u8", "u16", "u32", "u64", "tcb"};
  size_t count = 0;
  const tee::LayoutTable* tables = tee::AllLayouts(&count);
  Napi::Object out = Napi::Object::New(env);
  if (Failed(env, out)) return env.Undefined();
  for (size_t t = 0; t < count && !env.IsExceptionPending(); ++t) {
    Napi::Array fields = Napi::Array::New(env, tables[t].count);
    for (size_t i = 0; i < tables[t].count; ++i) {
      const tee::FieldDesc& d = tables[t].fields[i];
      Napi::Object f = Napi::Object::New(env);
      f.Set("name", d.name);
      f.Set("offset", d.offset);
      f.Set("size", d.size);
      f.Set("type", kTypeNames[static_cast<int>(d.type)]);
      f.Set("minVersion", d.min_version);
      fields.Set(static_cast<uint32_t>(i), f);
    }
    Napi::Object table = Napi::Object::New(env);
    table.Set("size", tables[t].total_size);
    table.Set("fields", fields);
    out.Set(tables[t].name, table);
  }
  return Done(env, out);
}

// Frame fields are written into a caller-provided Uint32Array in this order
// (kQuoteFrameFields); building a JS object with twenty properties from C++
// costs more than the whole parse.
constexpr uint32_t kQuoteFrameFields = 20;

Napi::Value ParseIntelQuote(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in)) return TypeError(env, "quote must be a Uint8Array");
  if (info.Length() < 3 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[2].As<Napi::Uint32Array>().ElementLength() < kQuoteFrameFields)
    return TypeError(env, "frame must be a Uint32Array of 20 elements");
  uint32_t* out = info[2].As<Napi::Uint32Array>().Data();
  tee::QuoteFrame f;
  ParseFailure failure;
  if (!tee::ParseIntelQuote(in.data, in.size, ReadMode(info, 1), &f, &failure))
    return FailureObject(env, failure);
  const uint32_t values[kQuoteFrameFields] = {
      f.version, f.body_type, f.body_offset, f.body_size, f.signed_length,
      f.signature_data_length, f.quote_signature_offset, f.attestation_key_offset,
      f.outer_cert_data_type, f.outer_cert_data_size, f.qe_report_offset,
      f.qe_report_signature_offset, f.qe_auth_data_offset, f.qe_auth_data_size,
      f.cert_data_type, f.cert_data_offset, f.cert_data_size, f.end_offset,
      f.trailing_size, f.trailing_all_zero ? 1u : 0u,
  };
  for (uint32_t i = 0; i < kQuoteFrameFields; ++i) out[i] = values[i];
  return env.Null();
}

// SNP frame: version, signing key, trailing size, trailing all zero.
constexpr uint32_t kSnpFrameFields = 4;

Napi::Value ParseSnpReport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in)) return TypeError(env, "report must be a Uint8Array");
  if (info.Length() < 3 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[2].As<Napi::Uint32Array>().ElementLength() < kSnpFrameFields)
    return TypeError(env, "frame must be a Uint32Array of 4 elements");
  uint32_t* out = info[2].As<Napi::Uint32Array>().Data();
  tee::SnpFrame f;
  ParseFailure failure;
  if (!tee::ParseSnpReport(in.data, in.size, ReadMode(info, 1), &f, &failure))
    return FailureObject(env, failure);
  out[0] = f.version;
  out[1] = f.signing_key;
  out[2] = f.trailing_size;
  out[3] = f.trailing_all_zero ? 1u : 0u;
  return env.Null();
}

Napi::Value ParseSnpCertTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in)) return TypeError(env, "certificate table must be a Uint8Array");
  tee::CertTable local;
  ParseFailure failure;
  if (!tee::ParseSnpCertTable(in.data, in.size, &local, &failure)) return FailureObject(env, failure);
  Napi::Array entries = Napi::Array::New(env, local.count);
  if (Failed(env, entries)) return env.Undefined();
  for (size_t i = 0; i < local.count && !env.IsExceptionPending(); ++i) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("guid", Napi::Buffer<uint8_t>::Copy(env, local.entries[i].guid, 16));
    e.Set("offset", local.entries[i].offset);
    e.Set("length", local.entries[i].length);
    entries.Set(static_cast<uint32_t>(i), e);
  }
  Napi::Object o = Napi::Object::New(env);
  if (Failed(env, o)) return env.Undefined();
  o.Set("entries", entries);
  return Done(env, o);
}

// True when argument `index` is a Uint32Array of at least `n` elements.
bool IsFrame(const Napi::CallbackInfo& info, size_t index, size_t n) {
  return info.Length() > index && info[index].IsTypedArray() &&
         info[index].As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array &&
         info[index].As<Napi::Uint32Array>().ElementLength() >= n;
}

// TPM frames share one Uint32Array of kTpmFrameFields elements; the layout
// per kind is spelled out in src/native/index.ts (wrap).
constexpr uint32_t kTpmFrameFields = 44;
enum TpmKind : uint32_t { kTpmQuote = 0, kTpmSignature = 1, kTpmPublic = 2, kTpm2bPublic = 3 };

void PutSpan(uint32_t* out, const tee::TpmSpan& s) {
  out[0] = s.offset;
  out[1] = s.size;
}

// parseTpm(bytes, kind, frame) -> null, or a failure object
Napi::Value ParseTpm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in) || info.Length() < 2 || !info[1].IsNumber() ||
      !IsFrame(info, 2, kTpmFrameFields))
    return TypeError(env, "parseTpm(bytes, kind, Uint32Array(44))");
  uint32_t kind = info[1].As<Napi::Number>().Uint32Value();
  uint32_t* out = info[2].As<Napi::Uint32Array>().Data();
  ParseFailure failure;
  if (kind == kTpmQuote) {
    tee::TpmQuoteFrame f;
    if (!tee::ParseTpmQuote(in.data, in.size, &f, &failure)) return FailureObject(env, failure);
    out[0] = f.magic;
    out[1] = f.type;
    PutSpan(out + 2, f.qualified_signer);
    PutSpan(out + 4, f.extra_data);
    out[6] = f.clock_info_offset;
    out[7] = f.safe;
    out[8] = f.firmware_version_offset;
    PutSpan(out + 9, f.pcr_digest);
    out[11] = f.selection_count;
    for (uint32_t i = 0; i < f.selection_count; ++i) {
      out[12 + 2 * i] = f.selections[i].hash_alg;
      out[13 + 2 * i] = f.selections[i].mask;
    }
    return env.Null();
  }
  if (kind == kTpmSignature) {
    tee::TpmSignatureFrame f;
    if (!tee::ParseTpmSignature(in.data, in.size, &f, &failure)) return FailureObject(env, failure);
    out[0] = f.sig_alg;
    out[1] = f.hash_alg;
    PutSpan(out + 2, f.first);
    PutSpan(out + 4, f.second);
    return env.Null();
  }
  if (kind == kTpmPublic || kind == kTpm2bPublic) {
    tee::TpmPublicFrame f;
    if (!tee::ParseTpmPublic(in.data, in.size, kind == kTpm2bPublic, &f, &failure))
      return FailureObject(env, failure);
    const uint32_t values[] = {
        f.public_area.offset, f.public_area.size, f.type, f.name_alg, f.object_attributes,
        f.auth_policy.offset, f.auth_policy.size, f.symmetric_alg, f.symmetric_key_bits,
        f.symmetric_mode, f.scheme_alg, f.scheme_hash_alg, f.rsa_key_bits, f.rsa_exponent,
        f.ecc_curve, f.kdf_alg, f.kdf_hash_alg, f.first.offset, f.first.size, f.second.offset,
        f.second.size,
    };
    for (uint32_t i = 0; i < sizeof(values) / sizeof(values[0]); ++i) out[i] = values[i];
    return env.Null();
  }
  return TypeError(env, "parseTpm: unknown kind");
}

// HCL frame: version, report_size, request_type, status, hardware report
// size, report type, request data version, report_data hash type, variable
// data size, trailing zero bytes. Offsets are fixed (hcl_report.h).
constexpr uint32_t kHclFrameFields = 10;

Napi::Value ParseHclReport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in) || !IsFrame(info, 1, kHclFrameFields))
    return TypeError(env, "parseHclReport(bytes, Uint32Array(10))");
  uint32_t* out = info[1].As<Napi::Uint32Array>().Data();
  tee::HclFrame f;
  ParseFailure failure;
  if (!tee::ParseHclReport(in.data, in.size, &f, &failure)) return FailureObject(env, failure);
  const uint32_t values[kHclFrameFields] = {
      f.version, f.report_size, f.request_type, f.status, f.hardware_report_size,
      f.report_type, f.request_data_version, f.report_data_hash_type, f.variable_data_size,
      f.trailing_size,
  };
  for (uint32_t i = 0; i < kHclFrameFields; ++i) out[i] = values[i];
  return env.Null();
}

// The second pass of a two-pass parse disagreed with the first (X09).
ParseFailure InputChanged() { return ParseFailure{tee::ParseCode::kInputChanged, 0, "X09"}; }

// parseTcgEventLog(bytes) -> {cryptoAgile, algorithms: [alg, size, ...],
// eventCount, paddingSize, paddingByte, frame: Uint32Array} or a failure.
// Two passes: the first validates and sizes the frame, the second fills it,
// so the allocation is exactly what the events need. Everything returned
// comes from the second pass, and only when it used exactly the words the
// first one counted (so it wrote all of them): the input may be shared
// memory that changed in between (review s8, finding 1).
Napi::Value ParseTcgEventLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in)) return TypeError(env, "parseTcgEventLog(bytes)");
  tee::TcgEventLogInfo log;
  ParseFailure failure;
  if (!tee::ParseTcgEventLog(in.data, in.size, nullptr, 0, &log, &failure))
    return FailureObject(env, failure);
  Napi::Uint32Array frame = Napi::Uint32Array::New(env, log.frame_words);
  if (Failed(env, frame)) return env.Undefined();
  size_t words = log.frame_words;
  if (!tee::ParseTcgEventLog(in.data, in.size, frame.Data(), words, &log, &failure))
    return FailureObject(env, failure);
  if (log.frame_words != words) return FailureObject(env, InputChanged());
  Napi::Uint32Array algorithms = Napi::Uint32Array::New(env, 2 * log.algorithm_count);
  if (Failed(env, algorithms)) return env.Undefined();
  for (uint32_t i = 0; i < log.algorithm_count; ++i) {
    algorithms[2 * i] = log.algorithms[i].alg;
    algorithms[2 * i + 1] = log.algorithms[i].digest_size;
  }
  Napi::Object o = Napi::Object::New(env);
  if (Failed(env, o)) return env.Undefined();
  o.Set("cryptoAgile", log.crypto_agile);
  o.Set("algorithms", algorithms);
  o.Set("eventCount", log.event_count);
  o.Set("paddingSize", log.padding_size);
  o.Set("paddingByte", log.padding_byte);
  o.Set("frame", frame);
  return Done(env, o);
}

// parseImaList(bytes, templateDigestSize) -> Uint32Array of kImaFrameFields
// words per entry (ima_list.h), or a failure. Counted first, so the frame is
// allocated once at its exact size; as for event logs, the filling pass must
// see exactly the entries the counting pass saw.
Napi::Value ParseImaList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in;
  if (!ReadBytes(info, 0, &in) || info.Length() < 2 || !info[1].IsNumber())
    return TypeError(env, "parseImaList(bytes, templateDigestSize)");
  uint32_t digest_size = info[1].As<Napi::Number>().Uint32Value();
  size_t entries = 0;
  ParseFailure failure;
  if (!tee::ParseImaList(in.data, in.size, digest_size, nullptr, 0, &entries, &failure))
    return FailureObject(env, failure);
  Napi::Uint32Array frame = Napi::Uint32Array::New(env, entries * tee::kImaFrameFields);
  if (Failed(env, frame)) return env.Undefined();
  size_t counted = entries;
  if (!tee::ParseImaList(in.data, in.size, digest_size, frame.Data(), counted, &entries, &failure))
    return FailureObject(env, failure);
  if (entries != counted) return FailureObject(env, InputChanged());
  return frame;
}

bool ReadCurve(const Napi::CallbackInfo& info, size_t index, tee::Curve* curve) {
  if (info.Length() <= index || !info[index].IsNumber()) return false;
  uint32_t bits = info[index].As<Napi::Number>().Uint32Value();
  if (bits != 256 && bits != 384) return false;
  *curve = bits == 256 ? tee::Curve::kP256 : tee::Curve::kP384;
  return true;
}

// ecdsaVerify(curveBits, keyXY, message, signatureRS) -> EcdsaResult as int
Napi::Value EcdsaVerify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tee::Curve curve;
  Bytes key, msg, sig;
  if (!ReadCurve(info, 0, &curve) || !ReadBytes(info, 1, &key) || !ReadBytes(info, 2, &msg) ||
      !ReadBytes(info, 3, &sig))
    return TypeError(env, "ecdsaVerify(curveBits, keyXY, message, signatureRS)");
  tee::EcdsaResult r =
      tee::EcdsaVerifyRaw(curve, key.data, key.size, msg.data, msg.size, sig.data, sig.size);
  return Napi::Number::New(env, static_cast<int>(r));
}

void FinalizeKey(Napi::Env, tee::EcPublicKey* key) { tee::FreeEcPublicKey(key); }

// Key handles carry this type tag, so ecdsaVerifyWithKey never reads some
// other addon's External as an EcPublicKey (review s8, finding 4). Random
// 128 bits, fixed for the addon's life.
constexpr napi_type_tag kKeyHandleTag = {0x7e3a9c21d04b4f6eULL, 0xa85f13c2b9e0471dULL};

bool IsKeyHandle(Napi::Env env, const Napi::Value& v) {
  bool tagged = false;
  return v.IsExternal() && napi_check_object_type_tag(env, v, &kKeyHandleTag, &tagged) == napi_ok && tagged;
}

// ecdsaImportKey(curveBits, keyXY) -> handle, or a negative EcdsaResult
Napi::Value EcdsaImportKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tee::Curve curve;
  Bytes key;
  if (!ReadCurve(info, 0, &curve) || !ReadBytes(info, 1, &key))
    return TypeError(env, "ecdsaImportKey(curveBits, keyXY)");
  tee::EcdsaResult result;
  tee::EcPublicKey* k = tee::ImportEcPublicKey(curve, key.data, key.size, &result);
  if (k == nullptr) return Napi::Number::New(env, static_cast<int>(result));
  Napi::External<tee::EcPublicKey> handle = Napi::External<tee::EcPublicKey>::New(env, k, FinalizeKey);
  if (handle.IsEmpty()) {
    tee::FreeEcPublicKey(k);  // not created: no finalizer owns the key
    return env.Undefined();
  }
  if (env.IsExceptionPending()) return env.Undefined();  // the External's finalizer frees the key
  if (napi_type_tag_object(env, handle, &kKeyHandleTag) != napi_ok) {
    // The External owns the key (freed by its finalizer); hand out nothing untagged.
    if (!env.IsExceptionPending()) Napi::Error::New(env, "ecdsaImportKey: could not tag the key handle").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return handle;
}

// ecdsaVerifyWithKey(handle, message, signatureRS) -> EcdsaResult as int
Napi::Value EcdsaVerifyWithKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes msg, sig;
  if (info.Length() < 3 || !ReadBytes(info, 1, &msg) || !ReadBytes(info, 2, &sig))
    return TypeError(env, "ecdsaVerifyWithKey(handle, message, signatureRS)");
  if (!IsKeyHandle(env, info[0])) return TypeError(env, "ecdsaVerifyWithKey: handle is not a key from ecdsaImportKey");
  const tee::EcPublicKey* key = info[0].As<Napi::External<tee::EcPublicKey>>().Data();
  tee::EcdsaResult r = tee::EcdsaVerify(key, msg.data, msg.size, sig.data, sig.size);
  return Napi::Number::New(env, static_cast<int>(r));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("layouts", Napi::Function::New(env, Layouts));
  exports.Set("parseIntelQuote", Napi::Function::New(env, ParseIntelQuote));
  exports.Set("parseSnpReport", Napi::Function::New(env, ParseSnpReport));
  exports.Set("parseSnpCertTable", Napi::Function::New(env, ParseSnpCertTable));
  exports.Set("parseTpm", Napi::Function::New(env, ParseTpm));
  exports.Set("parseHclReport", Napi::Function::New(env, ParseHclReport));
  exports.Set("parseTcgEventLog", Napi::Function::New(env, ParseTcgEventLog));
  exports.Set("parseImaList", Napi::Function::New(env, ParseImaList));
  exports.Set("ecdsaVerify", Napi::Function::New(env, EcdsaVerify));
  exports.Set("ecdsaImportKey", Napi::Function::New(env, EcdsaImportKey));
  exports.Set("ecdsaVerifyWithKey", Napi::Function::New(env, EcdsaVerifyWithKey));
  return exports;
}

}  // namespace

NODE_API_MODULE(tee_verify, Init)
