/**
 * Review s8, finding 3: VT01 "parsed strictly" was recorded for a VtpmBundle
 * object that this call never parsed. Now bytes and text are parsed and
 * recorded as such; an object is held to the parser's members, types and
 * bounds (ERR_VTPM_BUNDLE with details.path, check VT01) and recorded as
 * "handed in as an object".
 */
import { describe, expect, it } from 'vitest';

import { VTPM_BUNDLE_LIMITS, serializeVtpmBundle, type VtpmBundle } from '../../src/vtpm/bundle.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';
import { quotedBundle } from './review-s6-bundle.js';

const PCR = { 0: new Uint8Array(32) };
const vt01 = (checks: { id: string; description: string }[]) => checks.filter((c) => c.id === 'VT01').map((c) => c.description);

describe('review s8-3: VT01 records what this call did with its input', () => {
  it('JSON text and bytes: "parsed strictly"', async () => {
    const { bundle, nonce, trustedAk } = quotedBundle(PCR);
    const json = serializeVtpmBundle(bundle);
    expect(vt01((await verifyVtpmEvidence(json, { nonce, trustedAk })).checks)).toEqual([expect.stringMatching(/^vTPM evidence bundle parsed strictly/)]);
    expect(vt01((await verifyVtpmEvidence(new TextEncoder().encode(json), { nonce, trustedAk })).checks)).toEqual([expect.stringMatching(/parsed strictly/)]);
  });

  it('an object: not "parsed strictly", but "handed in as an object" with its bounds checked', async () => {
    const { bundle, nonce, trustedAk } = quotedBundle(PCR);
    const records = vt01((await verifyVtpmEvidence(bundle, { nonce, trustedAk })).checks);
    expect(records).toEqual([expect.stringMatching(/^vTPM evidence bundle handed in as an object \(not parsed by this call\)/)]);
    expect(records[0]).not.toMatch(/parsed strictly/);
  });

  const broken: [string, (b: VtpmBundle) => unknown, string][] = [
    ['a quote signature above its bound', (b) => (b.tpm.quotes[0]!.signature = new Uint8Array(VTPM_BUNDLE_LIMITS.signature + 1)), '/tpm/quotes/0/signature'],
    ['nine quotes', (b) => (b.tpm.quotes = Array.from({ length: 9 }, () => b.tpm.quotes[0]!)), '/tpm/quotes'],
    ['a PCR value of the wrong size', (b) => (b.tpm.pcrs.sha256!['0'] = new Uint8Array(20)), '/tpm/pcrs/sha256/0'],
    ['PCR index 24', (b) => (b.tpm.pcrs.sha256!['24'] = new Uint8Array(32)), '/tpm/pcrs/sha256/24'],
    ['a misspelt member (eventlog), whose replay would silently not run', (b) => ((b as unknown as Record<string, unknown>)['eventlog'] = new Uint8Array(8)), '/eventlog'],
    ['an attest as a string, not bytes', (b) => ((b.tpm.quotes[0] as unknown as Record<string, unknown>)['attest'] = 'AAAA'), '/tpm/quotes/0/attest'],
    ['a nonce above 64 bytes', (b) => (b.nonce = new Uint8Array(65)), '/nonce'],
    ['no AK and no hardware', (b) => delete b.tpm.ak, '/tpm/ak'],
  ];
  it.each(broken)('an object with %s: ERR_VTPM_BUNDLE at VT01 (details.path)', async (_, breakIt, path) => {
    const { bundle, nonce, trustedAk } = quotedBundle(PCR);
    breakIt(bundle);
    await expect(verifyVtpmEvidence(bundle, { nonce, trustedAk })).rejects.toMatchObject({ code: 'ERR_VTPM_BUNDLE', check: 'VT01', details: { path } });
  });
});
