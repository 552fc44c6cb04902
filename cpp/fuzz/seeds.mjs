#!/usr/bin/env node
// Builds the seed corpora for the libFuzzer harnesses at run time, from the
// shared real evidence (never copied into the repository) and the project's
// synthetic vectors/ (which add a TD 1.5 v5 quote and a certificate table):
//
//   node cpp/fuzz/seeds.mjs <out-dir> [vectors-dir...]
//
// Each vectors dir holds a manifest.json (an array, or {entries: [...]}).
// writes <out-dir>/<target>/<sha256-prefix> files. Seeds are the genuine
// quotes / reports (hex files decoded), their prefixes cut at every field
// boundary and the length-field variants of checklist §7 (0, actual ± 1,
// 32-bit overflow, far beyond the input). The certificate-table seeds are
// built from the real VCEK / VLEK / ASK / ARK certificates (clarifications:
// no real auxblob table exists in the vectors), and the ECDSA seeds are real
// signatures: quote (attestation key), QE report (PCK leaf) and SNP report
// (VCEK / VLEK, P-384). The vTPM targets get the real TPM quotes, signatures
// and attestation keys (kind tpm-quote), boot event logs (tcg-event-log),
// binary IMA lists (ima-log) and Azure HCL reports (the containers the SNP
// entries name, the TDX one of openpcc's txtar), each with cuts and padding
// or field variants, plus a generated ECC key and ECDSA signature.
import { createHash, X509Certificate, createPublicKey, generateKeyPairSync, sign, verify as nodeVerify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outDir, ...vectorsDirs] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: seeds.mjs <out-dir> [vectors-dir...]');
  process.exit(2);
}
let vectorsDir = '';  // the directory of the manifest being read

const QUOTE_KINDS = new Set(['tdx-quote-v4', 'tdx-quote-v5', 'sgx-quote-v3']);
const TARGETS = ['fuzz_intel_quote', 'fuzz_intel_quote_framed', 'fuzz_snp_report',
  'fuzz_snp_cert_table', 'fuzz_ecdsa', 'fuzz_tpm', 'fuzz_tcg_event_log', 'fuzz_ima_list',
  'fuzz_hcl_report'];
const counts = Object.fromEntries(TARGETS.map((t) => [t, 0]));
const seen = new Set();

function emit(target, bytes) {
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (seen.has(target + digest)) return;
  seen.add(target + digest);
  const dir = join(outDir, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `seed-${digest.slice(0, 16)}`), bytes);
  counts[target] += 1;
}

function readEvidence(entry) {
  const raw = readFileSync(join(vectorsDir, entry.file));
  if (String(entry.file_encoding ?? '').startsWith('base64')) return Buffer.from(raw.toString('latin1'), 'base64');
  if (!String(entry.file_encoding ?? '').startsWith('hex')) return raw;
  const hex = raw.toString('latin1').replace(/\s+/g, '').replace(/^0x/i, '');
  return Buffer.from(hex, 'hex');
}

function pemBlocks(text) {
  const out = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  return out;
}

// A certificate file as DER blocks, PEM or DER alike.
function certFile(rel) {
  const raw = readFileSync(join(vectorsDir, rel));
  return raw.subarray(0, 10).toString('latin1').startsWith('-----') ? pemBlocks(raw.toString('latin1')) : [raw];
}

// Offsets per checklist §2.1 / §3; only used to place cuts and variants.
function quoteFrame(q) {
  const version = q.readUInt16LE(0);
  const bodyOffset = version === 5 ? 54 : 48;
  const bodySize = version === 3 ? 384 : version === 5 && q.readUInt16LE(48) === 3 ? 648 : 584;
  const signedLength = bodyOffset + bodySize;
  const sigData = signedLength + 4;
  const key = sigData + 64;
  const outer = version >= 4 ? key + 64 : -1;
  const qe = key + 64 + (version >= 4 ? 6 : 0);
  const qeSig = qe + 384;
  const authLen = qe + 384 + 64;
  const auth = authLen + 2;
  const certType = auth + q.readUInt16LE(authLen);
  const end = sigData + q.readUInt32LE(signedLength);
  return { version, signedLength, sigData, key, outer, qe, qeSig, authLen, auth, certType, end };
}

function withU32(buf, at, value) {
  const b = Buffer.from(buf);
  b.writeUInt32LE(value >>> 0, at);
  return b;
}
function withU16(buf, at, value) {
  const b = Buffer.from(buf);
  b.writeUInt16LE(value & 0xffff, at);
  return b;
}

function lengthVariants(buf, at, width) {
  const actual = width === 4 ? buf.readUInt32LE(at) : buf.readUInt16LE(at);
  const values = [0, actual - 1, actual + 1, 0xffffffff, 0x80000000, 0x7fffffff, 0xffff, buf.length * 4];
  return values.map((v) => (width === 4 ? withU32(buf, at, v) : withU16(buf, at, v)));
}

function quoteSeeds(q) {
  const targets = ['fuzz_intel_quote', 'fuzz_intel_quote_framed'];
  const put = (b) => targets.forEach((t) => emit(t, b));
  put(q);
  let f;
  try {
    f = quoteFrame(q);
  } catch {
    return;
  }
  const cuts = [0, 1, 2, 4, 8, 12, 28, 47, 48, 50, 53, 54, f.signedLength - 1, f.signedLength,
    f.signedLength + 3, f.sigData, f.key, f.qe - 6, f.qe - 2, f.qe, f.qeSig, f.authLen, f.auth,
    f.certType, f.certType + 2, f.certType + 6, f.certType + 200, f.end - 1, f.end];
  for (const c of cuts) if (c >= 0 && c < q.length) put(q.subarray(0, c));
  if (f.end <= q.length) {
    put(Buffer.concat([q.subarray(0, f.end), Buffer.from('not zero padding')]));  // T05
    put(Buffer.concat([q.subarray(0, f.end), Buffer.alloc(70)]));
  }
  if (f.certType + 6 > q.length) return;
  const fields = [[f.signedLength, 4], [f.authLen, 2], [f.certType + 2, 4]];
  if (f.outer >= 0) fields.push([f.outer + 2, 4]);
  for (const [at, width] of fields) lengthVariants(q, at, width).forEach(put);
  put(withU16(q, f.certType, 3));  // encrypted PPID: UNSUPPORTED (T07)
  if (f.outer >= 0) put(withU16(q, f.outer, 5));
}

function snpSeeds(r) {
  emit('fuzz_snp_report', r);
  for (const c of [0, 4, 0x34, 0x48, 0x2a0, 0x4a0 - 1]) emit('fuzz_snp_report', r.subarray(0, c));
  emit('fuzz_snp_report', Buffer.concat([r, Buffer.alloc(64)]));
  emit('fuzz_snp_report', Buffer.concat([r, Buffer.alloc(4096)]));
  emit('fuzz_snp_report', Buffer.concat([r, Buffer.from('not zero padding')]));
}

// Mixed-endian GUID bytes as stored in the GHCB table (S05).
function guidBytes(text) {
  const h = text.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}
const GUID = {
  vcek: guidBytes('63da758d-e664-4564-adc5-f4b93be8accd'),
  vlek: guidBytes('a8074bc2-a25a-483e-aae6-39c045a0b8a1'),
  ask: guidBytes('4ab7b379-bbac-4fe4-a02f-05aef327c782'),
  ark: guidBytes('c0b406a4-a803-4952-9743-3fb6014cd0ae'),
};

function certTable(items, align) {
  const tableSize = (items.length + 1) * 24;
  const head = Buffer.alloc(tableSize);
  const bodies = [];
  let at = tableSize;
  items.forEach(([guid, der], i) => {
    const pad = (align - (at % align)) % align;
    bodies.push(Buffer.alloc(pad), der);
    at += pad;
    guid.copy(head, i * 24);
    head.writeUInt32LE(at, i * 24 + 16);
    head.writeUInt32LE(der.length, i * 24 + 20);
    at += der.length;
  });
  return Buffer.concat([head, ...bodies]);
}

function certTableSeeds(leafGuid, leaf, chain) {
  const [ask, ark] = chain;
  const items = [[leafGuid, leaf]];
  if (ask) items.push([GUID.ask, ask]);
  if (ark) items.push([GUID.ark, ark]);
  for (const align of [1, 8]) {
    const t = certTable(items, align);
    emit('fuzz_snp_cert_table', t);
    for (const c of [0, 23, 24, 47, items.length * 24 + 23, t.length - 1]) emit('fuzz_snp_cert_table', t.subarray(0, c));
  }
  emit('fuzz_snp_cert_table', Buffer.alloc(24));
}

function rawPublicKey(der) {
  const jwk = new X509Certificate(der).publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
}

let validEcdsa = 0;
let signatureSeeds = 0;
function ecdsaSeed(curveBits, keyXY, rs, message) {
  signatureSeeds += 1;
  const seed = Buffer.concat([Buffer.from([0]), keyXY, rs, message]);
  emit('fuzz_ecdsa', seed);
  const n = curveBits / 8;
  const flipped = Buffer.from(seed);
  flipped[flipped.length - 1] ^= 1;
  emit('fuzz_ecdsa', flipped);
  emit('fuzz_ecdsa', Buffer.concat([Buffer.from([0x01 | (1 << 1)]), seed.subarray(1)]));  // key 2n - 1
  emit('fuzz_ecdsa', Buffer.concat([Buffer.from([0x08 | (3 << 4)]), seed.subarray(1)]));  // sig 2n + 1
  const key = createPublicKey({
    key: { kty: 'EC', crv: curveBits === 256 ? 'P-256' : 'P-384',
      x: keyXY.subarray(0, n).toString('base64url'), y: keyXY.subarray(n).toString('base64url') },
    format: 'jwk',
  });
  const hash = curveBits === 256 ? 'sha256' : 'sha384';
  if (nodeVerify(hash, message, { key, dsaEncoding: 'ieee-p1363' }, rs)) validEcdsa += 1;
}

function quoteEcdsaSeeds(q) {
  const f = quoteFrame(q);
  ecdsaSeed(256, q.subarray(f.key, f.key + 64), q.subarray(f.sigData, f.sigData + 64), q.subarray(0, f.signedLength));
  const chain = pemBlocks(q.subarray(f.certType + 6, f.end).toString('latin1'));
  if (chain.length > 0) ecdsaSeed(256, rawPublicKey(chain[0]), q.subarray(f.qeSig, f.qeSig + 64), q.subarray(f.qe, f.qe + 384));
}

// SNP signature: r and s little-endian in 72-byte fields (§4.1, §4.2).
function snpEcdsaSeed(r, leafDer) {
  const be = (at) => Buffer.from(r.subarray(at, at + 48)).reverse();
  ecdsaSeed(384, rawPublicKey(leafDer), Buffer.concat([be(0x2a0), be(0x2e8)]), r.subarray(0, 0x2a0));
}

function snpCollateral(entry) {
  const c = entry.collateral ?? {};
  const leafFile = c.vcek ?? c.vlek ?? c.vcek_ask_ark_chain;
  if (!leafFile) return;
  const leafGuid = c.vlek ? GUID.vlek : GUID.vcek;
  const leafBlocks = certFile(leafFile);
  const chainFile = c.ask_ark_asvk_chain ?? c.ask_ark_chain;
  let chain = leafBlocks.slice(1);
  if (chainFile && existsSync(join(vectorsDir, chainFile))) chain = certFile(chainFile);
  else if (c.ask && c.ark) chain = [...certFile(c.ask), ...certFile(c.ark)];
  return { leafGuid, leaf: leafBlocks[0], chain };
}

// --- vTPM targets ------------------------------------------------------------

const be16 = (v) => Buffer.from([(v >>> 8) & 0xff, v & 0xff]);
const tpm2b = (b) => Buffer.concat([be16(b.length), b]);

function cuts(target, b, points) {
  for (const c of points) if (c > 0 && c < b.length) emit(target, b.subarray(0, c));
}

function tpmSeeds(attest, signature, akPublic) {
  for (const b of [attest, signature, akPublic, tpm2b(akPublic)]) {
    emit('fuzz_tpm', b);
    cuts('fuzz_tpm', b, [1, 2, 4, 6, 8, 40, b.length >> 1, b.length - 1]);
    emit('fuzz_tpm', Buffer.concat([b, Buffer.from([0])]));
  }
  const variant = (at, bytes) => {
    const v = Buffer.from(attest);
    Buffer.from(bytes).copy(v, at);
    emit('fuzz_tpm', v);
  };
  variant(0, [0xff, 0x54, 0x43, 0x48]);  // magic
  variant(4, [0x80, 0x17]);              // TPM_ST_ATTEST_CERTIFY
  variant(6, [0xff, 0xff]);              // qualifiedSigner size
}

// A generated ECC P-256 signing key as TPMT_PUBLIC and an ECDSA TPMT_SIGNATURE.
function eccTpmSeeds() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x, 'base64url');
  const y = Buffer.from(jwk.y, 'base64url');
  const area = Buffer.concat([be16(0x23), be16(0x0b), Buffer.from([0, 5, 0, 0x72]), be16(0), be16(0x10),
    be16(0x18), be16(0x0b), be16(3), be16(0x10), tpm2b(x), tpm2b(y)]);
  const rs = sign('sha256', Buffer.from('tee-verify fuzz seed'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const sig = Buffer.concat([be16(0x18), be16(0x0b), tpm2b(rs.subarray(0, 32)), tpm2b(rs.subarray(32))]);
  for (const b of [area, tpm2b(area), sig]) {
    emit('fuzz_tpm', b);
    cuts('fuzz_tpm', b, [b.length - 1, b.length >> 1]);
  }
}

function eventLogSeeds(log) {
  emit('fuzz_tcg_event_log', log);
  cuts('fuzz_tcg_event_log', log, [1, 31, 32, 33, 60, 100, 200, log.length - 1]);
  for (const byte of [0x00, 0xff]) {
    emit('fuzz_tcg_event_log', Buffer.concat([log, Buffer.alloc(256, byte)]));
    emit('fuzz_tcg_event_log', Buffer.concat([log.subarray(0, 4000), Buffer.alloc(4, byte)]));
  }
}

// A crypto-agile log declaring SHA-256 and SM3-256 (both 32 bytes), so that
// one mutated algorithm id yields a repeated bank with the layout intact.
function syntheticEventLog() {
  const le32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
  const le16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
  const spec = Buffer.concat([Buffer.from('Spec ID Event03\0', 'latin1'), le32(0), Buffer.from([0, 2, 0, 2]), le32(2),
    le16(0x0b), le16(32), le16(0x12), le16(32), Buffer.from([0])]);
  const header = Buffer.concat([le32(0), le32(3), Buffer.alloc(20), le32(spec.length), spec]);
  const event = (pcr, type, data) => Buffer.concat([le32(pcr), le32(type), le32(2), le16(0x0b), Buffer.alloc(32, pcr),
    le16(0x12), Buffer.alloc(32, type & 0xff), le32(data.length), data]);
  eventLogSeeds(Buffer.concat([header, event(0, 8, Buffer.from('v1')), event(7, 0x80000001, Buffer.alloc(40, 1)), event(4, 4, Buffer.alloc(4))]));
}

// The binary vectors hold only "ima-sig" and "ima" lists: a generated list
// adds "ima-ng", "ima-buf" and a custom template (format string as name).
function syntheticImaList() {
  const le32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
  const field = (b) => Buffer.concat([le32(b.length), b]);
  const entry = (name, data) => Buffer.concat([le32(10), createHash('sha1').update(data).digest(), field(Buffer.from(name)), field(data)]);
  const dng = (alg, digest) => field(Buffer.concat([Buffer.from(`${alg}:\0`), digest]));
  const nng = (path) => field(Buffer.from(`${path}\0`));
  const list = Buffer.concat([
    entry('ima-ng', Buffer.concat([dng('sha1', Buffer.alloc(20)), nng('boot_aggregate')])),
    entry('ima-ng', Buffer.concat([dng('sha256', createHash('sha256').update('a').digest()), nng('/usr/bin/a')])),
    entry('ima-buf', Buffer.concat([dng('sha256', createHash('sha256').update('ro').digest()), nng('kexec-cmdline'), field(Buffer.from('ro'))])),
    entry('d-ng|n-ng', Buffer.concat([dng('sha512', Buffer.alloc(64, 7)), nng('/etc/b')])),
  ]);
  imaSeeds(list, 20);
}

// Control byte: bits 1:0 pick the template digest size (20, 32, 48, 64).
function imaSeeds(list, digestSize) {
  const ctrl = [20, 32, 48, 64].indexOf(digestSize);
  for (const high of [0, 0x54, 0xa8]) {
    const head = Buffer.from([ctrl | high]);
    emit('fuzz_ima_list', Buffer.concat([head, list]));
    emit('fuzz_ima_list', Buffer.concat([head, list.subarray(0, 4096)]));
    emit('fuzz_ima_list', Buffer.concat([head, list.subarray(0, 1000)]));
  }
  emit('fuzz_ima_list', Buffer.concat([Buffer.from([(ctrl + 1) & 3]), list.subarray(0, 2048)]));  // wrong digest size
}

function hclSeeds(report) {
  emit('fuzz_hcl_report', report);
  cuts('fuzz_hcl_report', report, [3, 4, 1235, 1236, 1300, report.length - 1]);
  const variant = (at, value) => {
    const v = Buffer.from(report);
    v.writeUInt32LE(value >>> 0, at);
    emit('fuzz_hcl_report', v);
  };
  variant(4, 3);           // header version
  variant(1224, 4);        // report type TDX over an SNP slot
  variant(1228, 0);        // hash type
  variant(1232, 0xffffffff);  // variable data size
  emit('fuzz_hcl_report', Buffer.concat([report, Buffer.from('not zero')]));
}

function pemBlock(text, label) {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(text);
  return m ? Buffer.from(m[1].replace(/\s+/g, ''), 'base64') : undefined;
}

const hclSeen = new Set();
function hclFile(rel) {
  if (!rel || hclSeen.has(rel) || !existsSync(join(vectorsDir, rel))) return;
  hclSeen.add(rel);
  if (rel.endsWith('.json')) {
    const j = JSON.parse(readFileSync(join(vectorsDir, rel), 'utf8'));
    if (Array.isArray(j.report)) hclSeeds(Buffer.from(j.report));
    if (j.quote && Array.isArray(j.quote.message)) emit('fuzz_tpm', Buffer.from(j.quote.message));
  } else {
    hclSeeds(readFileSync(join(vectorsDir, rel)));
  }
}

// openpcc's Azure TDX report travels as a PEM block in a txtar archive.
const AZURE_TDX_TXTAR = 'openpcc/attestation/attest/testdata/azure_tdx_report.txt';

function vtpmEntry(entry) {
  if (entry.kind === 'tpm-quote') {
    const c = entry.collateral ?? {};
    tpmSeeds(readEvidence(entry), readFileSync(join(vectorsDir, c.signature)), readFileSync(join(vectorsDir, c.ak_public)));
  } else if (entry.kind === 'tcg-event-log') {
    eventLogSeeds(readEvidence(entry));
  } else if (entry.kind === 'ima-log' && String(entry.file_encoding).includes('binary')) {
    const size = Number(/(\d+)-byte/.exec(entry.file_encoding)?.[1] ?? 20);
    const list = readEvidence(entry);
    imaSeeds(list, size);
    // tpm2-tss's sample ends inside a 13th entry: the complete entries as well.
    const tail = entry.checks?.trailing_bytes_after_last_complete_entry ?? 0;
    if (tail > 0) imaSeeds(list.subarray(0, list.length - tail), size);
  } else if (entry.kind === 'snp-report') {
    hclFile(entry.collateral?.original_container_hcl_report);
    hclFile(entry.collateral?.original_container_evidence_json);
  } else if (entry.kind === 'tdx-quote-v4' && existsSync(join(vectorsDir, AZURE_TDX_TXTAR)) && !hclSeen.has(AZURE_TDX_TXTAR)) {
    hclSeen.add(AZURE_TDX_TXTAR);
    const tdx = pemBlock(readFileSync(join(vectorsDir, AZURE_TDX_TXTAR), 'latin1'), 'REPORT');
    if (tdx) hclSeeds(tdx);
  }
}

function readManifest(dir) {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) {
    console.error(`seeds: no ${path}, skipped`);
    return [];
  }
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  return Array.isArray(manifest) ? manifest : manifest.entries ?? [];
}

function seedEntry(entry) {
  try {
    if (QUOTE_KINDS.has(entry.kind)) {
      const q = readEvidence(entry);
      quoteSeeds(q);
      quoteEcdsaSeeds(q);
    } else if (entry.kind === 'snp-report') {
      const r = readEvidence(entry);
      snpSeeds(r);
      const col = snpCollateral(entry);
      if (col) {
        certTableSeeds(col.leafGuid, col.leaf, col.chain);
        snpEcdsaSeed(r, col.leaf);
      }
    } else if (entry.kind === 'snp-cert-table') {
      const t = readEvidence(entry);
      emit('fuzz_snp_cert_table', t);
      for (const c of [0, 24, 48, t.length - 1]) emit('fuzz_snp_cert_table', t.subarray(0, c));
    }
    vtpmEntry(entry);
  } catch (err) {
    console.error(`seeds: skipped ${entry.id}: ${err.message}`);
  }
}

function main() {
  mkdirSync(outDir, { recursive: true });
  for (const dir of vectorsDirs) {
    vectorsDir = dir;
    for (const entry of readManifest(dir)) seedEntry(entry);
  }
  // Targets always get at least one input, even without the shared vectors.
  for (const t of TARGETS) mkdirSync(join(outDir, t), { recursive: true });
  emit('fuzz_snp_cert_table', Buffer.alloc(24));
  eccTpmSeeds();
  syntheticEventLog();
  syntheticImaList();
  emit('fuzz_tcg_event_log', Buffer.alloc(4096, 0xff));  // an erased CCEL area (go-tpm-tools PR #780)
  console.log(JSON.stringify({ seeds: counts, signatureSeeds, verifyWithNodeCrypto: validEcdsa }));
}

main();
