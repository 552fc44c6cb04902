/**
 * Review s15 (vTPM red team), both low: IMA violation entries (all-zero template digest). The
 * replay extends 0xFF for such an entry and hashes none of its template data, so its file name
 * and digest are covered by nothing.
 *
 * Finding 1: an entry 0 that is a violation had its d-ng value read as boot_aggregate and VT16
 * recorded "boot_aggregate matches PCRs 0-9". A kernel never records boot_aggregate as a
 * violation: such a list is refused, ERR_VTPM_BOOT_AGGREGATE (VT16, details.status "violation"),
 * in the binary and the ASCII path, whether or not the boot PCRs are quoted.
 *
 * Finding 2: the policy's warning / violation and appraisal.ima.entries showed a violation entry's
 * name as the path of a measured file. The entries handed on now carry no path, file digest,
 * signature or template data for a violation, are marked `violation`, and keep the claimed name
 * only as `unverifiedPath`; the policy quotes that name as unverified.
 */
import { describe, expect, it } from 'vitest';

import { Findings } from '../../src/policy/checks/findings.js';
import { checkVtpm } from '../../src/policy/checks/vtpm.js';
import { generateImaList } from '../../src/testing/vtpm-logs.js';
import { checkBootAggregate, replayImaAscii, replayImaFrame } from '../../src/vtpm/ima-replay.js';
import { parseImaAsciiList } from '../../src/vtpm/ima-ascii.js';
import { parseImaBinaryFrame, parseImaBinaryList } from '../../src/vtpm/parse-ima.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

const BOOT: Record<number, Uint8Array> = {};
for (let p = 0; p < 10; p++) BOOT[p] = new Uint8Array(32).fill(p + 1);

const generated = (violations: number[] = []) => generateImaList({ seed: 's15-vtpm', count: 5, banks: ['sha256'], bootPcrs: { sha256: BOOT }, violations });

/** The binary list with entry 0's template digest zeroed, and the PCR 10 it replays to. */
function binaryEntry0Violation(): { binary: Uint8Array; pcr10: Uint8Array } {
  const binary = generated().binary.slice();
  const e0 = parseImaBinaryList(binary)[0]!;
  binary.fill(0, e0.offset + 4, e0.offset + 24); // sha1 template digest after the PCR index
  return { binary, pcr10: replayImaFrame(parseImaBinaryFrame(binary), { banks: ['sha256'] }).pcrs.sha256![10]! };
}

function asciiEntry0Violation(): { ascii: string; pcr10: Uint8Array } {
  const lines = generated().ascii.split('\n');
  const fields = lines[0]!.split(' ');
  fields[1] = '0'.repeat(fields[1]!.length);
  lines[0] = fields.join(' ');
  const ascii = lines.join('\n');
  return { ascii, pcr10: replayImaAscii(ascii, { banks: ['sha256'] }).pcrs.sha256![10]! };
}

async function refusal(p: Promise<unknown>): Promise<{ code?: string; check?: string; message: string; details?: unknown } | undefined> {
  return p.then(
    () => undefined,
    (e: { code?: string; check?: string; message: string; details?: unknown }) => e,
  );
}

describe('review s15 vTPM finding 1: boot_aggregate carried by a violation entry', () => {
  it('binary list, PCRs 0-9 quoted: ERR_VTPM_BOOT_AGGREGATE (VT16), not "boot_aggregate matches"', async () => {
    const { binary, pcr10 } = binaryEntry0Violation();
    const q = quotedBundle({ ...BOOT, 10: pcr10 }, { ima: { binary } });
    const err = await refusal(verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk }));
    expect(err?.code).toBe('ERR_VTPM_BOOT_AGGREGATE');
    expect(err?.check).toBe('VT16');
    expect(err?.message).toMatch(/violation entry/);
    expect(err?.details).toEqual({ status: 'violation' });
  });

  it('ASCII list, PCRs 0-9 quoted: the same refusal', async () => {
    const { ascii, pcr10 } = asciiEntry0Violation();
    const q = quotedBundle({ ...BOOT, 10: pcr10 }, { ima: { ascii } });
    const err = await refusal(verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk }));
    expect(err?.code).toBe('ERR_VTPM_BOOT_AGGREGATE');
    expect(err?.check).toBe('VT16');
    expect(err?.details).toEqual({ status: 'violation' });
  });

  it('boot PCRs not quoted: refused too, not "not checked" with a warning', async () => {
    const { binary, pcr10 } = binaryEntry0Violation();
    const q = quotedBundle({ 10: pcr10 }, { ima: { binary } });
    const err = await refusal(verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk }));
    expect(err?.code).toBe('ERR_VTPM_BOOT_AGGREGATE');
  });

  it('checkBootAggregate reports violation before reading the entry data (binary and ASCII parses)', () => {
    expect(checkBootAggregate(parseImaBinaryList(binaryEntry0Violation().binary), { sha256: BOOT })).toEqual({ status: 'violation' });
    expect(checkBootAggregate(parseImaAsciiList(asciiEntry0Violation().ascii), { sha256: BOOT })).toEqual({ status: 'violation' });
  });

  it('the genuine list still matches PCRs 0-9', async () => {
    const gen = generated();
    const q = quotedBundle({ ...BOOT, 10: gen.pcrs.sha256![10]! }, { ima: { binary: gen.binary } });
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
    expect(r.replay?.ima?.bootAggregate).toBe('match');
  });
});

describe('review s15 vTPM finding 2: a violation entry name is not reported as measured', () => {
  const FORGED = '/usr/bin/ag';
  /** A genuine violation at entry 3 (/etc/file-3, same length as FORGED) renamed in the list: PCR 10 does not change. */
  function renamed(form: 'binary' | 'ascii') {
    const gen = generated([3]);
    const original = gen.entries[3]!.path!;
    expect(original).toHaveLength(FORGED.length);
    const ima =
      form === 'binary'
        ? (() => {
            const b = Buffer.from(gen.binary);
            Buffer.from(FORGED).copy(b, b.indexOf(Buffer.from(original), gen.entries[3]!.offset));
            return { binary: new Uint8Array(b) };
          })()
        : { ascii: gen.ascii.replace(` ${original}`, ` ${FORGED}`) };
    return { q: quotedBundle({ ...BOOT, 10: gen.pcrs.sha256![10]! }, { ima }), original };
  }

  for (const form of ['binary', 'ascii'] as const) {
    it(`${form}: appraisal.ima.entries carries no path, file digest or data for the violation, only unverifiedPath`, async () => {
      const { q } = renamed(form);
      const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
      expect(r.ok).toBe(true);
      expect(r.appraisal.ima?.violations).toEqual([3]);
      const entries = r.appraisal.ima!.entries;
      const v = entries[3]!;
      expect(v).toMatchObject({ index: 3, pcr: 10, violation: true, unverifiedPath: FORGED });
      expect(v.path).toBeUndefined();
      expect(v.fileDigest).toBeUndefined();
      expect(v.fileDigestAlg).toBeUndefined();
      expect(v.signature).toBeUndefined();
      expect(v.templateData).toHaveLength(0);
      // The measured entries are untouched.
      expect(entries[2]!.path).toBe('/usr/sbin/file-2');
      expect(entries[2]!.violation).toBeUndefined();
      expect(entries[2]!.fileDigest).toBeDefined();
    });
  }

  it('the policy warning and violation quote the name as unverified; a forged name still satisfies nothing', async () => {
    const { q } = renamed('binary');
    const r = await verifyVtpmEvidence(q.bundle, { nonce: q.nonce, trustedAk: q.trustedAk });
    const allow = new Findings();
    checkVtpm({ pcrs: {}, unknownImaEntries: 'allow', imaViolations: 'allow', requiredImaEntries: [FORGED] }, r.appraisal, allow);
    const warning = allow.warnings.find((w) => w.includes('violation entry 3'));
    expect(warning).toBe(`VTPM-IMA: IMA violation entry 3 (claimed file name "${FORGED}", unverified: a violation entry's data is covered by no digest) allowed by the policy`);
    expect(allow.violations.map((v) => v.message)).toEqual([`VTPM-IMA: required IMA entry ${FORGED} is not in the list`]);

    const strict = new Findings();
    checkVtpm({ pcrs: {}, unknownImaEntries: 'allow', imaViolations: 'violation' }, r.appraisal, strict);
    expect(strict.violations).toHaveLength(1);
    expect(strict.violations[0]).toMatchObject({ path: '/vtpm/imaViolations', actual: { index: 3, path: null, unverifiedPath: FORGED } });
    expect(strict.violations[0]!.message).toMatch(/claimed file name "\/usr\/bin\/ag", unverified/);
  });

  it('an entry list built outside verification (path set, index in violations): the policy still labels the name unverified', () => {
    const gen = generated([3]);
    const f = new Findings();
    checkVtpm({ pcrs: {}, unknownImaEntries: 'allow', imaViolations: 'allow' }, { pcrs: new Map(), ima: { entries: gen.entries, violations: [3] } }, f);
    expect(f.warnings.some((w) => w.includes(`violation entry 3 (claimed file name "${gen.entries[3]!.path}", unverified`))).toBe(true);
  });
});
