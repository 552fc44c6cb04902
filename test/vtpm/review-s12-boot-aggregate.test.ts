/**
 * Review s12 (vTPM), finding 3: a boot_aggregate whose d-ng algorithm is no
 * bank this verifier hashes (md5, sm3, any string) was "unavailable": VT16
 * passed with the warning "PCRs 0-7 of its bank are not quoted" although they
 * were. It is now refused (ERR_VTPM_BOOT_AGGREGATE, the strict choice: the
 * shared real IMA lists use sha1 and sha256). A boot_aggregate whose bank's
 * PCRs are really not quoted still passes with a warning naming the bank, and
 * its VT16 record says "not-checked".
 */
import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { checkBootAggregate } from '../../src/vtpm/ima-replay.js';
import { parseImaBinaryList } from '../../src/vtpm/parse-ima.js';
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
const ngData = (alg: string, digest: Buffer, name: string) => Buffer.concat([field(Buffer.concat([Buffer.from(`${alg}:\0`), digest])), field(Buffer.from(`${name}\0`))]);
const entry = (data: Buffer) => Buffer.concat([u32(10), sha1(data), u32(6), Buffer.from('ima-ng'), u32(data.length), data]);

const BOOT: Record<number, Uint8Array> = {};
for (let p = 0; p < 10; p++) BOOT[p] = new Uint8Array(sha256(Buffer.from([p])));

async function verify(aggregate: Buffer, alg: string, quoteBoot: boolean) {
  const datas = [ngData(alg, aggregate, 'boot_aggregate'), ngData('sha256', sha256(Buffer.from('f')), '/usr/bin/f')];
  let pcr10 = Buffer.alloc(32);
  for (const d of datas) pcr10 = sha256(Buffer.concat([pcr10, sha256(d)]));
  const q = quotedBundle({ ...(quoteBoot ? BOOT : {}), 10: new Uint8Array(pcr10) }, { ima: { binary: new Uint8Array(Buffer.concat(datas.map(entry))) } });
  return verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
}

describe('review s12 finding 3: boot_aggregate in an algorithm that is not a replay bank', () => {
  it('md5 or sm3 with PCRs 0-9 quoted: ERR_VTPM_BOOT_AGGREGATE naming the algorithm', async () => {
    for (const [alg, size] of [['md5', 16], ['sm3', 32], ['sha3-256', 32]] as const) {
      const err = await verify(Buffer.alloc(size, 0xab), alg, true).then(() => undefined, (e: { code?: string; message: string; details?: unknown }) => e);
      expect(err?.code, alg).toBe('ERR_VTPM_BOOT_AGGREGATE');
      expect(err?.message).toMatch(new RegExp(`algorithm ${alg}`));
      expect(err?.details).toMatchObject({ status: 'unsupported-algorithm', algorithm: alg });
    }
  });

  it('checkBootAggregate reports unsupported-algorithm, not unavailable', () => {
    const list = parseImaBinaryList(new Uint8Array(entry(ngData('md5', Buffer.alloc(16, 1), 'boot_aggregate'))));
    expect(checkBootAggregate(list, { sha256: BOOT })).toMatchObject({ status: 'unsupported-algorithm', algorithm: 'md5' });
  });

  it('sha256 with PCRs 0-9 not quoted: a warning naming the bank, and VT16 marked not-checked', async () => {
    const r = await verify(Buffer.alloc(32, 0xab), 'sha256', false);
    expect(r.ok).toBe(true);
    expect(r.warnings).toContain('IMA boot_aggregate not checked: PCRs 0-7 of its bank (sha256) are not quoted');
    expect(r.checks.find((c) => c.id === 'VT16')).toMatchObject({ status: 'not-checked' });
  });

  it('sha256 with PCRs 0-9 quoted and matching: VT16 passes without status', async () => {
    const aggregate = sha256(Buffer.concat(Array.from({ length: 10 }, (_, p) => BOOT[p]!)));
    const r = await verify(aggregate, 'sha256', true);
    expect(r.replay?.ima?.bootAggregate).toBe('match');
    expect(r.checks.find((c) => c.id === 'VT16')!.status).toBeUndefined();
  });
});
