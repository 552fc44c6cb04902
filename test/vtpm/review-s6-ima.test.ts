/**
 * Review s6, finding 1 (and 5): an IMA entry's template name is not covered
 * by its template digest. Renaming a real ima-sig entry of the ibmtss list to
 * "ima-sog" keeps PCR 10 identical; the binary parser must refuse the entry
 * (VT16, ERR_VTPM_IMA_TEMPLATE, as the ASCII parser does) instead of handing
 * the policy an entry without path or digest. The policy judges an entry
 * without a file name as a violation whatever unknownImaEntries says. And
 * binary ima-buf entries are decoded like the ASCII ones (same fields).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import type { VtpmPolicy } from '../../src/policy/types.js';
import { parseImaAsciiList } from '../../src/vtpm/ima-ascii.js';
import { replayImaAscii, replayImaFrame } from '../../src/vtpm/ima-replay.js';
import { buildTemplateData } from '../../src/vtpm/ima-template.js';
import { parseImaBinaryFrame } from '../../src/vtpm/parse-ima.js';
import { parseImaBinaryList } from '../../src/vtpm/parse.js';
import { loadReferenceList } from '../../src/vtpm/reference.js';
import type { ImaEntry } from '../../src/vtpm/types.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, VECTORS_DIR } from '../helpers/vectors.js';
import { quotedBundle } from './review-s6-bundle.js';

const hex = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('hex'));
const ALLOW_UNKNOWN: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'allow', imaViolations: 'violation' };
const STRICT: VtpmPolicy = { pcrs: {}, unknownImaEntries: 'violation', imaViolations: 'violation' };

describe.skipIf(!HAVE_VECTORS)('review s6-1: a relabelled template name (ibmtss sha1.log, real ima-sig list)', () => {
  const list = () => new Uint8Array(readFileSync(join(VECTORS_DIR, 'ibmtss/utils/sha1.log')));
  const PCR10 = Buffer.from('7fac48c81837d6d29046008aef0cdad8c2745cc98c3340cbba9bfdf39b4124b8', 'hex');
  const VICTIM = 5;
  const relabel = (bytes: Uint8Array): Uint8Array => {
    const forged = bytes.slice();
    const victim = parseImaBinaryList(bytes)[VICTIM]!;
    const nameAt = victim.offset + 4 + 20 + 4;
    expect(Buffer.from(forged.subarray(nameAt, nameAt + 7)).toString()).toBe('ima-sig');
    forged[nameAt + 5] = 0x6f; // "ima-sog": same length, no offset moves
    return forged;
  };

  it('the relabelled list replays to the same PCR 10, but the parser refuses the entry (VT16)', () => {
    const forged = relabel(list());
    const err = expectError(() => parseImaBinaryList(forged), { code: 'ERR_VTPM_IMA_TEMPLATE', errorClass: 'UNSUPPORTED', check: 'VT16' });
    expect(err.details).toMatchObject({ index: VICTIM, template: 'ima-sog' });
    expectError(() => parseImaBinaryFrame(forged), { code: 'ERR_VTPM_IMA_TEMPLATE', check: 'VT16' });
  });

  it('end to end: the genuine list verifies and its wrong digest is judged; the relabelled one is refused', async () => {
    const genuine = quotedBundle({ 10: PCR10 }, { ima: { binary: list() } });
    const ok = await verifyVtpmEvidence(genuine.bundle, { nonce: genuine.nonce, trustedAk: genuine.trustedAk });
    const path = ok.appraisal.ima!.entries[VICTIM]!.path!;
    const reference = loadReferenceList({ version: 1, ima: { files: { [path]: [`sha256:${'11'.repeat(32)}`] } } });
    const f = new Findings();
    checkVtpm(ALLOW_UNKNOWN, { ...ok.appraisal, reference }, f);
    expect(f.violations.map((v) => [v.path, (v.actual as { index: number }).index])).toEqual([[`/vtpm/reference/ima/files/${path.replaceAll('~', '~0').replaceAll('/', '~1')}`, VICTIM]]);

    const forged = quotedBundle({ 10: PCR10 }, { ima: { binary: relabel(list()) } });
    const err = await verifyVtpmEvidence(forged.bundle, { nonce: forged.nonce, trustedAk: forged.trustedAk }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_VTPM_IMA_TEMPLATE', check: 'VT16', details: { index: VICTIM } });
  });
});

describe('review s6-1: the policy never lets an entry without a file name pass', () => {
  const nameless: ImaEntry = {
    index: 1, offset: 1, pcr: 10, templateDigest: new Uint8Array(20), templateName: 'ima-sog', templateData: new Uint8Array(0),
  };
  for (const policy of [ALLOW_UNKNOWN, STRICT]) {
    it(`unknownImaEntries "${policy.unknownImaEntries}": a violation at /vtpm/unknownImaEntries`, () => {
      const f = new Findings();
      checkVtpm(policy, { pcrs: {}, ima: { entries: [nameless], violations: [] }, reference: loadReferenceList({ version: 1, ima: { files: { '/bin/sh': [`sha256:${'22'.repeat(32)}`] } } }) }, f);
      expect(f.violations.map((v) => [v.path, v.check, (v.actual as { template: string }).template])).toEqual([['/vtpm/unknownImaEntries', 'VTPM-IMA', 'ima-sog']]);
    });
  }
});

describe('review s6-5: binary ima-buf entries are decoded as the ASCII parser decodes them', () => {
  const FD = createHash('sha256').update('ro quiet').digest();
  const entries = [
    { template: 'ima-ng', path: '/usr/bin/true', digest: createHash('sha256').update('true').digest(), extra: undefined },
    { template: 'ima-buf', path: 'kexec-cmdline', digest: FD, extra: Buffer.from('ro quiet') },
    { template: 'ima-buf', path: 'empty-buffer', digest: createHash('sha256').update('').digest(), extra: Buffer.alloc(0) },
  ];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const datas = entries.map((e) => buildTemplateData(e.template, { fileDigestAlg: 'sha256', fileDigest: e.digest, path: e.path, ...(e.extra ? { extra: e.extra } : {}) }));
  const binary = new Uint8Array(Buffer.concat(entries.map((e, i) => {
    const d = datas[i]!;
    return Buffer.concat([u32(10), createHash('sha1').update(d).digest(), u32(e.template.length), Buffer.from(e.template), u32(d.length), d]);
  })));
  const ascii = entries.map((e, i) => `10 ${createHash('sha1').update(datas[i]!).digest('hex')} ${e.template} sha256:${hex(e.digest)} ${e.path}${e.extra ? ` ${hex(e.extra)}` : ''}\n`).join('');
  const view = (e: ImaEntry) => [e.templateName, e.path, e.fileDigestAlg, hex(e.fileDigest), hex(e.signature), hex(e.templateData), hex(e.templateDigest)];

  it('same fields, same template data, same replay', () => {
    const fromBinary = parseImaBinaryList(binary);
    expect(fromBinary.map(view)).toEqual(parseImaAsciiList(ascii).map(view));
    expect(fromBinary[1]!.path).toBe('kexec-cmdline');
    expect(hex(fromBinary[1]!.fileDigest)).toBe(hex(FD));
    const banks = ['sha1', 'sha256'] as const;
    expect(replayImaFrame(parseImaBinaryFrame(binary), { banks: [...banks] }).pcrs).toEqual(replayImaAscii(ascii, { banks: [...banks] }).pcrs);
  });

  it('a reference list naming the buffers accepts the binary list as it accepts the ASCII one (no false reject)', () => {
    const reference = loadReferenceList({ version: 1, ima: { files: Object.fromEntries(entries.map((e) => [e.path, [`sha256:${hex(e.digest)}`]])) } });
    for (const list of [parseImaBinaryList(binary), parseImaAsciiList(ascii)]) {
      const f = new Findings();
      checkVtpm(STRICT, { pcrs: {}, ima: { entries: list, violations: [] }, reference }, f);
      expect(f.violations).toEqual([]);
    }
  });

  it('an ima-buf whose fields do not fill its data is ERR_IMA_BAD_FIELD, as for ima-sig', () => {
    const d = Buffer.concat([datas[1]!, Buffer.from([0])]);
    const bad = new Uint8Array(Buffer.concat([u32(10), Buffer.alloc(20, 1), u32(7), Buffer.from('ima-buf'), u32(d.length), d]));
    expect(catchError(() => parseImaBinaryList(bad)).code).toBe('ERR_IMA_BAD_FIELD');
  });
});
