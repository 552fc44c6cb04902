/**
 * Review s8, finding 4 (documented in docs/vtpm.md): the kernel prints IMA
 * file names raw in ascii_runtime_measurements, so a name holding a newline
 * splits its entry over two lines. That list cannot be read back: it fails
 * closed (never as a different, accepted entry). The binary list carries the
 * name length-prefixed and gives the entry exactly.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { parseImaBinaryList } from '../../src/vtpm/parse.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

const u32le = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};

/** One ima-ng entry for `name`: its template data, template digest, ASCII line (as ima_fs.c prints it) and binary record. */
function imaNg(name: string) {
  const fileDigest = createHash('sha256').update(name).digest();
  const dng = Buffer.concat([Buffer.from('sha256:\0'), fileDigest]);
  const nng = Buffer.concat([Buffer.from(name), Buffer.from([0])]);
  const data = Buffer.concat([u32le(dng.length), dng, u32le(nng.length), nng]);
  const digest = createHash('sha1').update(data).digest();
  const ascii = `10 ${digest.toString('hex')} ima-ng sha256:${fileDigest.toString('hex')} ${name}\n`;
  const binary = Buffer.concat([u32le(10), digest, u32le(6), Buffer.from('ima-ng'), u32le(data.length), data]);
  return { ascii, binary, data };
}

/** PCR 10 (SHA-256 bank) after the kernel extended these entries: each extend is SHA-256 of the template data. */
function pcr10(entries: { data: Buffer }[]): Uint8Array {
  let pcr = Buffer.alloc(32);
  for (const e of entries) pcr = createHash('sha256').update(pcr).update(createHash('sha256').update(e.data).digest()).digest();
  return new Uint8Array(pcr);
}

describe('review s8-4: a file name with a newline in the IMA list', () => {
  // The second "line" of the name looks like a violation entry for /bin/ok.
  const name = '/tmp/evil\n10 0000000000000000000000000000000000000000 ima-ng sha256:00 /bin/ok';
  const entries = [imaNg('boot_aggregate'), imaNg('/usr/bin/true'), imaNg(name)];
  const quoted = () => quotedBundle({ 10: pcr10(entries) });

  it('the ASCII list (names printed raw) fails closed with an ERR_VTPM_IMA_* code', async () => {
    const { bundle, nonce, trustedAk } = quoted();
    const ascii = entries.map((e) => e.ascii).join('');
    expect(ascii.split('\n')).toHaveLength(5); // three entries, four lines and the final newline
    await expect(verifyVtpmEvidence({ ...bundle, ima: { ascii } }, { nonce, trustedAk })).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_VTPM_IMA_/), check: 'VT16' });
  });

  it('the binary list (names length-prefixed) of the same boot replays and gives the exact name', async () => {
    const { bundle, nonce, trustedAk } = quoted();
    const binary = new Uint8Array(Buffer.concat(entries.map((e) => e.binary)));
    const r = await verifyVtpmEvidence({ ...bundle, ima: { binary } }, { nonce, trustedAk });
    expect(r.replay?.ima?.entries).toBe(3);
    expect(r.appraisal.ima?.entries.map((e) => e.path)).toEqual(['boot_aggregate', '/usr/bin/true', name]);
    expect(parseImaBinaryList(binary)[2]!.path).toBe(name);
  });
});
