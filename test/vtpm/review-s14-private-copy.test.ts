/**
 * Review s14, vTPM finding 1 (checklist T49, decisions.md "a private copy first"): verifyVtpmEvidence
 * on a VtpmBundle object read the caller's object again after its checks. The quote digest hashed a
 * PCR value's real storage, but the reported value and the policy read it through overridable
 * getters; boot_aggregate was parsed from the caller's `ima.binary.subarray(…)`, not from the copy
 * that was replayed; the IMA entries the policy judges were parsed lazily from the caller's live
 * `ima.binary`, after the verification resolved. Now the object is read once into a private
 * snapshot, and every step reads that one copy.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { judgeTpmOnly } from '../../src/cli/vtpm-policy.js';
import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { ReferenceDigest, ReferenceList } from '../../src/vtpm/reference.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const field = (b: Buffer) => Buffer.concat([u32(b.length), b]);
const ngData = (digest: Buffer, name: string) => Buffer.concat([field(Buffer.concat([Buffer.from('sha256:\0'), digest])), field(Buffer.from(`${name}\0`))]);
const entry = (data: Buffer) => Buffer.concat([u32(10), sha1(data), u32(6), Buffer.from('ima-ng'), u32(data.length), data]);

const BOOT: Record<number, Uint8Array> = {};
for (let p = 0; p < 10; p++) BOOT[p] = new Uint8Array(sha256(Buffer.from([p])));
const GOOD_AGGREGATE = sha256(Buffer.concat(Array.from({ length: 10 }, (_, p) => BOOT[p]!)));
const FILE_GOOD = sha256(Buffer.from('genuine file'));
const FILE_EVIL = sha256(Buffer.from('evil file'));

/** A genuine quote over PCRs 0-10, PCR 10 being the replay of a two-entry ima-ng list (boot_aggregate, /usr/bin/f). */
function imaBundle(aggregate: Buffer, file: Buffer) {
  const datas = [ngData(aggregate, 'boot_aggregate'), ngData(file, '/usr/bin/f')];
  let pcr10 = Buffer.alloc(32);
  for (const d of datas) pcr10 = sha256(Buffer.concat([pcr10, sha256(d)]));
  const list = new Uint8Array(Buffer.concat(datas.map(entry)));
  return quotedBundle({ ...BOOT, 10: new Uint8Array(pcr10) }, { ima: { binary: list } });
}

const reference: ReferenceList = { version: 1, ima: { files: new Map([['/usr/bin/f', new Set([`sha256:${FILE_GOOD.toString('hex')}` as ReferenceDigest])]]), ignore: [] }, boot: {}, pcrs: {} };
const policy = { pcrs: {}, unknownImaEntries: 'violation' as const, imaViolations: 'violation' as const };

describe('review s14 vTPM #1: verifyVtpmEvidence reads a bundle object once, into its own copy', () => {
  it('a PCR value whose own `buffer` getter shows other bytes: the result and the policy see the quoted value', async () => {
    const q = imaBundle(GOOD_AGGREGATE, FILE_GOOD);
    const real = q.bundle.tpm.pcrs.sha256!['0']!;
    const shown = new Uint8Array(32).fill(0x42);
    Object.defineProperty(real, 'buffer', { get: () => shown.buffer });
    Object.defineProperty(real, 'byteOffset', { get: () => 0 });
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
    const realHex = Buffer.from(BOOT[0]!).toString('hex');
    expect(r.tpm.pcrs.sha256!['0']).toBe(realHex);
    expect(Buffer.from(r.appraisal.pcrs.get('sha256')!.get(0)!).toString('hex')).toBe(realHex);
    // The policy judges the quoted value: one that pins the shown bytes is violated.
    const judged = judgeTpmOnly({ ...policy, unknownImaEntries: 'allow', pcrs: { sha256: { '0': ['42'.repeat(32)] } } }, r.appraisal);
    expect(judged.ok).toBe(false);
    // The appraisal's values are not the caller's objects.
    expect(r.appraisal.pcrs.get('sha256')!.get(0)).not.toBe(real);
  });

  it('boot_aggregate is read from the replayed copy: an overridden `subarray` on the caller object changes nothing', async () => {
    const q = imaBundle(Buffer.alloc(32, 0xab), FILE_GOOD);
    const control = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk }).catch((e: unknown) => e);
    expect((control as { code?: string }).code).toBe('ERR_VTPM_BOOT_AGGREGATE');
    const ima = q.bundle.ima as { binary: Uint8Array };
    const fakeFirst = new Uint8Array(entry(ngData(GOOD_AGGREGATE, 'boot_aggregate')));
    Object.defineProperty(ima.binary, 'subarray', { value: () => fakeFirst });
    const err = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ERR_VTPM_BOOT_AGGREGATE');
  });

  it('the IMA entries the policy judges are the replayed ones, whatever the caller changes after the call', async () => {
    const q = imaBundle(GOOD_AGGREGATE, FILE_EVIL);
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
    // The caller's buffer changes after verifyVtpmEvidence resolved, before the lazy entries are read.
    const list = (q.bundle.ima as { binary: Uint8Array }).binary;
    list.set(FILE_GOOD, Buffer.from(list).indexOf(FILE_EVIL));
    const findings = new Findings();
    checkVtpm(policy, { ...r.appraisal, reference }, findings);
    expect(findings.violations.map((v) => v.path)).toEqual(['/vtpm/reference/ima/files/~1usr~1bin~1f']);
    expect(Buffer.from(r.appraisal.ima!.entries[1]!.fileDigest!).equals(FILE_EVIL)).toBe(true);
  });

  it('an ASCII list is read once: a getter that answers differently on later reads is not read again', async () => {
    const q = imaBundle(GOOD_AGGREGATE, FILE_GOOD);
    const ascii = (d: Buffer) => `10 ${sha1(ngData(GOOD_AGGREGATE, 'boot_aggregate')).toString('hex')} ima-ng sha256:${GOOD_AGGREGATE.toString('hex')} boot_aggregate\n10 ${sha1(ngData(d, '/usr/bin/f')).toString('hex')} ima-ng sha256:${d.toString('hex')} /usr/bin/f\n`;
    let reads = 0;
    const ima = {} as { ascii: string };
    Object.defineProperty(ima, 'ascii', { enumerable: true, get: () => ascii(reads++ < 2 ? FILE_GOOD : FILE_EVIL) });
    q.bundle.ima = ima;
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
    const findings = new Findings();
    checkVtpm(policy, { ...r.appraisal, reference }, findings);
    expect(findings.violations).toEqual([]);
    expect(Buffer.from(r.appraisal.ima!.entries[1]!.fileDigest!).equals(FILE_GOOD)).toBe(true);
  });
});
