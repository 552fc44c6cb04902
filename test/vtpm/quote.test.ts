/**
 * TPM quote verification on the real vectors of the manifest (kind
 * tpm-quote): go-tpm-tools GCE COS 85 quotes over the SHA-1 / SHA-256 /
 * SHA-384 banks (nonce 9009) and go-attestation's Windows Shielded VM quote
 * (SHA-1 bank, RSASSA/SHA-1, empty nonce), with the PCR values the manifest
 * states; plus the named negatives on the same bytes. Both nonces are under
 * 16 bytes, so each set carries the VT10 freshness warning.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { keyFromTpmPublic, tpmName } from '../../src/vtpm/tpm-key.js';
import { parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { pcrBanksFrom, verifyTpmQuotes, type QuoteEvidence } from '../../src/vtpm/quote.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest, type ManifestEntry } from '../helpers/vectors.js';

interface QuoteEntry extends ManifestEntry {
  expected: ManifestEntry['expected'] & { nonce: string; pcrs: Record<string, Record<string, string>> };
}

const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));
const entries = loadManifest().filter((e) => e.kind === 'tpm-quote') as QuoteEntry[];
const byId = (id: string) => entries.find((e) => e.id === id)!;

function load(e: QuoteEntry) {
  const ak = keyFromTpmPublic(parseTpmPublic(read(e.collateral['ak_public']!)));
  const quote: QuoteEvidence = { quote: parseTpmQuote(read(e.file)), signature: parseTpmSignature(read(e.collateral['signature']!)) };
  const pcrs = pcrBanksFrom(Object.fromEntries(Object.entries(e.expected.pcrs).map(([bank, v]) => [bank, Object.fromEntries(Object.entries(v).map(([i, h]) => [i, new Uint8Array(Buffer.from(h, 'hex'))]))])));
  return { ak, quote, pcrs, nonce: new Uint8Array(Buffer.from(e.expected.nonce, 'hex')) };
}

async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
}

describe.skipIf(!HAVE_VECTORS)('TPM quotes: real vectors', () => {
  it('the manifest lists the four tpm-quote vectors', () => {
    expect(entries.map((e) => e.id).sort()).toEqual([
      'go-attestation/windows_gcp_shielded_vm-quote',
      'go-tpm-tools/gce-cos-85-nonce9009-quote-sha1',
      'go-tpm-tools/gce-cos-85-nonce9009-quote-sha256',
      'go-tpm-tools/gce-cos-85-nonce9009-quote-sha384',
    ]);
  });

  it('GCE COS 85: the three quotes verify together with the AK and nonce 9009; the SHA-256 bank is quoted', () => {
    const loaded = ['sha1', 'sha256', 'sha384'].map((b) => load(byId(`go-tpm-tools/gce-cos-85-nonce9009-quote-${b}`)));
    const pcrs = new Map([...loaded.flatMap((l) => [...l.pcrs])]);
    const r = verifyTpmQuotes(
      loaded.map((l) => l.quote),
      loaded[0]!.ak,
      pcrs,
      // The AK's Name as the source states it: binds the TPMT_PUBLIC's attributes (VT05).
      { nonce: loaded[0]!.nonce, trustedAkName: Buffer.from((byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha256').checks['ak_public'] as { name: string }).name, 'hex') },
    );
    expect(r.akName).toBe((byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha256').checks['ak_public'] as { name: string }).name);
    expect(r.quotes.map((q) => q.selection[0]!.bank)).toEqual(['sha1', 'sha256', 'sha384']);
    expect(r.quotes.every((q) => q.signatureScheme === 'rsassa' && q.signatureHash === 'sha256')).toBe(true);
    expect(r.pcrs.sha256!['0']).toBe('0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf');
    // Only the 2-byte nonce is warned about (review s10, V2): 65,536 values establish no freshness.
    expect(r.warnings).toEqual(['VT10: the expected nonce is 2 bytes, under 16: freshness is not established (a quote made in advance with this extraData matches it)']);
    expect(r.checks.find((c) => c.id === 'VT05')!.description).toMatch(/bound by the pinned Name/);
    expect(r.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['VT05', 'VT06', 'VT07', 'VT08', 'VT09', 'VT10', 'VT11', 'VT12', 'VT13']));
  });

  it('GCE COS 85 SHA-256 quote alone verifies; its qualifiedSigner is not the AK Name (a Qualified Name) and is accepted by alg and size', () => {
    const e = byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha256');
    const l = load(e);
    expect(Buffer.from(tpmName(l.ak.public!)).toString('hex')).not.toBe((e.checks['attest'] as { qualified_signer: string }).qualified_signer);
    const r = verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce });
    expect(r.quotes[0]!.qualifiedSigner).toBe((e.checks['attest'] as { qualified_signer: string }).qualified_signer);
  });

  it('GCE COS 85 SHA-1 quote alone: refused when SHA-256 is required (ERR_VTPM_BANK), accepted with allowSha1 as a warning', async () => {
    const l = load(byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha1'));
    expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_BANK');
    const r = verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce, allowSha1: true });
    expect(r.warnings).toEqual([expect.stringMatching(/^VT05 not checked/), expect.stringMatching(/^VT10: the expected nonce is 2 bytes/), expect.stringMatching(/^allowSha1: only the SHA-1 PCR bank/)]);
  });

  it('GCE COS 85 SHA-384 quote alone with requiredBank sha384 verifies', () => {
    const l = load(byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha384'));
    expect(verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce, requiredBank: 'sha384' }).quotes[0]!.selection[0]!.pcrs).toHaveLength(24);
  });

  it('Windows Shielded VM: SHA-1 bank and RSASSA/SHA-1 verify only with allowSha1 (two warnings); empty nonce', async () => {
    const l = load(byId('go-attestation/windows_gcp_shielded_vm-quote'));
    expect(l.nonce.length).toBe(0);
    expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_SCHEME');
    const r = verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce, allowSha1: true });
    // VT05 not checked (no Name pinned), allowSha1 twice, and the empty nonce (review s10, V2).
    expect(r.warnings).toEqual([
      expect.stringMatching(/^VT05 not checked/),
      'allowSha1: a quote signed with a SHA-1 hash was accepted',
      expect.stringMatching(/^VT10: the expected nonce is empty, under 16: freshness is not established/),
      expect.stringMatching(/^allowSha1: only the SHA-1 PCR bank is quoted/),
    ]);
    expect(r.quotes[0]!.signatureHash).toBe('sha1');
  });

  describe('named negatives on the GCE SHA-256 quote', () => {
    const fresh = () => load(byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha256'));

    it('nonce mismatch: ERR_VTPM_NONCE (class FRESHNESS)', async () => {
      const l = fresh();
      expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: new Uint8Array([0x90, 0x0a]) }))).toBe('ERR_VTPM_NONCE');
    });

    it('PCR value altered: ERR_VTPM_PCR_DIGEST', async () => {
      const l = fresh();
      l.pcrs.get('sha256')!.get(7)![0]! ^= 1;
      expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_PCR_DIGEST');
    });

    it('a PCR value missing for a quoted PCR: ERR_VTPM_PCR_VALUES', async () => {
      const l = fresh();
      l.pcrs.get('sha256')!.delete(23);
      expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_PCR_VALUES');
    });

    it('a PCR value no quote covers: ERR_VTPM_PCR_VALUES', async () => {
      const l = fresh();
      l.pcrs.set('sha1', new Map([[0, new Uint8Array(20)]]));
      expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_PCR_VALUES');
    });

    it('tampered attest bytes (last byte of pcrDigest flipped): ERR_VTPM_QUOTE_SIGNATURE', async () => {
      const e = byId('go-tpm-tools/gce-cos-85-nonce9009-quote-sha256');
      const bytes = read(e.file);
      bytes[bytes.length - 1]! ^= 1;
      const l = fresh();
      const quote = { quote: parseTpmQuote(bytes), signature: l.quote.signature };
      expect(await codeOf(() => verifyTpmQuotes([quote], l.ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_QUOTE_SIGNATURE');
    });

    it('quote signed by another key (the Windows AK): ERR_VTPM_QUOTE_SIGNATURE', async () => {
      const l = fresh();
      const other = load(byId('go-attestation/windows_gcp_shielded_vm-quote')).ak;
      // The Windows AK's scheme is RSASSA/SHA-1: drop its TPMT_PUBLIC so only the key differs.
      expect(await codeOf(() => verifyTpmQuotes([l.quote], { key: other.key, source: 'PEM' }, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_QUOTE_SIGNATURE');
    });

    it("the key's scheme differs from the signature's (Windows AK TPMT_PUBLIC says SHA-1): ERR_VTPM_SCHEME", async () => {
      const l = fresh();
      const other = load(byId('go-attestation/windows_gcp_shielded_vm-quote')).ak;
      expect(await codeOf(() => verifyTpmQuotes([l.quote], other, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_SCHEME');
    });

    it('expected Qualified Name that differs: ERR_VTPM_AK', async () => {
      const l = fresh();
      expect(await codeOf(() => verifyTpmQuotes([l.quote], l.ak, l.pcrs, { nonce: l.nonce, expectedQualifiedSigner: tpmName(l.ak.public!) }))).toBe('ERR_VTPM_AK');
    });

    it('an AK that is not a restricted signing key: ERR_VTPM_AK', async () => {
      const l = fresh();
      const ak = { ...l.ak, public: { ...l.ak.public!, objectAttributes: l.ak.public!.objectAttributes & ~(1 << 16) } };
      expect(await codeOf(() => verifyTpmQuotes([l.quote], ak, l.pcrs, { nonce: l.nonce }))).toBe('ERR_VTPM_AK');
    });
  });
});
