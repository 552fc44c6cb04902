/**
 * Review s12 (vTPM), finding 2: a NUL byte in a decoded IMA file name. The
 * legacy `ima` template hashes the name zero-padded to 256 bytes, so
 * "/usr/bin/kmod" and "/usr/bin/kmod\0" had the same template digest; the
 * parsers kept the NUL in `path`, the reference-list lookup missed the listed
 * file, and under unknownImaEntries "allow" a disallowed digest passed. The
 * kernel never measures a name with a NUL: every parser now refuses one
 * (binary: ERR_IMA_BAD_FIELD; ASCII: ERR_VTPM_IMA_SYNTAX), in every template.
 */
import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { parseImaAsciiList } from '../../src/vtpm/ima-ascii.js';
import { parseImaBinaryList } from '../../src/vtpm/parse-ima.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};

function legacyData(fileDigest: Buffer, name: Buffer): Buffer {
  const out = Buffer.alloc(20 + 256);
  fileDigest.copy(out, 0);
  name.copy(out, 20);
  return out;
}
/** A binary `ima` entry (name length-prefixed, no NUL as the kernel writes it). */
function legacyEntry(fileDigest: Buffer, name: Buffer): Buffer {
  return Buffer.concat([u32(10), sha1(legacyData(fileDigest, name)), u32(3), Buffer.from('ima'), fileDigest, u32(name.length), name]);
}
/** A binary ima-ng entry whose n-ng field is `nameField` (normally the name and one NUL). */
function ngEntry(fileDigest: Buffer, nameField: Buffer, template = 'ima-ng', extra?: Buffer): Buffer {
  const d = Buffer.concat([Buffer.from('sha256:\0'), fileDigest]);
  const fields = [u32(d.length), d, u32(nameField.length), nameField, ...(extra === undefined ? [] : [u32(extra.length), extra])];
  const data = Buffer.concat(fields);
  return Buffer.concat([u32(10), sha1(data), u32(template.length), Buffer.from(template), u32(data.length), data]);
}

const FILE = sha1(Buffer.from('an unapproved /usr/bin/kmod'));
const FILE256 = sha256(Buffer.from('/usr/bin/kmod'));
const KMOD = Buffer.from('/usr/bin/kmod');
const nul = (...parts: Buffer[]) => Buffer.concat([...parts]);
const Z = Buffer.from([0]);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('review s12 finding 2: no NUL in a decoded IMA file name', () => {
  it('binary `ima`: the genuine name parses; a NUL appended (same template digest) or inside is ERR_IMA_BAD_FIELD', () => {
    expect(parseImaBinaryList(new Uint8Array(legacyEntry(FILE, KMOD)))[0]!.path).toBe('/usr/bin/kmod');
    const renamed = legacyEntry(FILE, nul(KMOD, Z));
    expect(renamed.subarray(4, 24)).toEqual(legacyEntry(FILE, KMOD).subarray(4, 24)); // the same template digest
    expect(codeOf(() => parseImaBinaryList(new Uint8Array(renamed)))).toBe('ERR_IMA_BAD_FIELD');
    expect(codeOf(() => parseImaBinaryList(new Uint8Array(legacyEntry(FILE, nul(Buffer.from('/usr'), Z, Buffer.from('/bin'))))))).toBe('ERR_IMA_BAD_FIELD');
  });

  it('binary ima-ng / ima-sig / ima-buf: a NUL before the name\'s terminator is ERR_IMA_BAD_FIELD', () => {
    expect(parseImaBinaryList(new Uint8Array(ngEntry(FILE256, nul(KMOD, Z))))[0]!.path).toBe('/usr/bin/kmod');
    expect(codeOf(() => parseImaBinaryList(new Uint8Array(ngEntry(FILE256, nul(KMOD, Z, Z)))))).toBe('ERR_IMA_BAD_FIELD');
    expect(codeOf(() => parseImaBinaryList(new Uint8Array(ngEntry(FILE256, nul(Buffer.from('/usr'), Z, Buffer.from('/bin'), Z)))))).toBe('ERR_IMA_BAD_FIELD');
    expect(codeOf(() => parseImaBinaryList(new Uint8Array(ngEntry(FILE256, nul(KMOD, Z, Z), 'ima-sig', Buffer.alloc(0)))))).toBe('ERR_IMA_BAD_FIELD');
    expect(codeOf(() => parseImaBinaryList(new Uint8Array(ngEntry(FILE256, nul(Buffer.from('kexec'), Z, Z), 'ima-buf', Buffer.from('ab')))))).toBe('ERR_IMA_BAD_FIELD');
  });

  it('ASCII: a NUL in the name of an `ima`, ima-ng, ima-sig or ima-buf line is ERR_VTPM_IMA_SYNTAX', () => {
    const td = sha1(legacyData(FILE, KMOD)).toString('hex');
    expect(parseImaAsciiList(`10 ${td} ima ${FILE.toString('hex')} /usr/bin/kmod\n`)[0]!.path).toBe('/usr/bin/kmod');
    const zero = '0'.repeat(40);
    const f256 = FILE256.toString('hex');
    for (const line of [
      `10 ${td} ima ${FILE.toString('hex')} /usr/bin/kmod\0\n`,
      `10 ${td} ima ${FILE.toString('hex')} /usr\0/bin/kmod\n`,
      `10 ${zero} ima-ng sha256:${f256} /usr/bin/kmod\0\n`,
      `10 ${zero} ima-sig sha256:${f256} /usr\0/bin/kmod \n`,
      `10 ${zero} ima-buf sha256:${f256} kexec\0 abcd\n`,
    ]) {
      expect(codeOf(() => parseImaAsciiList(line)), JSON.stringify(line)).toBe('ERR_VTPM_IMA_SYNTAX');
    }
  });

  it('verifyVtpmEvidence refuses the renamed entry (it verified, with path "/usr/bin/kmod\\0", before)', async () => {
    const aggregate = sha1(Buffer.from('boot pcrs'));
    let pcr10 = Buffer.alloc(32);
    for (const [d, n] of [[aggregate, Buffer.from('boot_aggregate')], [FILE, KMOD]] as const) pcr10 = sha256(Buffer.concat([pcr10, sha256(legacyData(d, n))]));
    const list = Buffer.concat([legacyEntry(aggregate, Buffer.from('boot_aggregate')), legacyEntry(FILE, nul(KMOD, Z))]);
    const q = quotedBundle({ 10: new Uint8Array(pcr10) }, { ima: { binary: new Uint8Array(list) } });
    const outcome = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk }).then(
      (r) => r.appraisal.ima?.entries.map((e) => e.path),
      (err: { code?: string }) => err.code,
    );
    expect(outcome).toBe('ERR_IMA_BAD_FIELD');
  });
});
