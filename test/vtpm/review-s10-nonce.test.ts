/**
 * Review s10, V2: an expected nonce under 16 bytes (empty included) passes
 * VT10 only with a "freshness is not established" warning, as a missing one
 * does: an empty nonce matches a quote made at any time, a 2-byte one is one
 * of 65,536. Real quotes with such nonces stay verifiable. On the command
 * line an empty --nonce is a usage error (exit 2).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { SimulatedTpm, tpmNameOf } from '../../src/testing/index.js';
import { serializeVtpmBundle } from '../../src/vtpm/bundle.js';
import { parseTpmPublic, parseTpmQuote, parseTpmSignature } from '../../src/vtpm/parse.js';
import { MIN_FRESH_NONCE_BYTES, pcrBanksFrom, verifyTpmQuotes } from '../../src/vtpm/quote.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { TempDirs, cli, cliJson } from '../cli/helpers.js';
import { HAVE_VECTORS, VECTORS_DIR, loadManifest } from '../helpers/vectors.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const read = (rel: string) => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));
const FRESHNESS = /^VT10: the expected nonce is .*freshness is not established/;
const vt10Warnings = (warnings: readonly string[]) => warnings.filter((w) => FRESHNESS.test(w));

/** A simulated quote with `nonce` as extraData, verified with that nonce and the AK's Name pinned (so VT05 adds no warning). */
function simulated(nonce: Uint8Array): string[] {
  const tpm = new SimulatedTpm({ banks: ['sha256'] });
  const q = tpm.quote([{ bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }], nonce);
  const ak = keyFromTpmPublic(parseTpmPublic(tpm.akPublic));
  const evidence = { quote: parseTpmQuote(q.attest), signature: parseTpmSignature(q.signature) };
  return verifyTpmQuotes([evidence], ak, pcrBanksFrom(q.pcrs), { nonce, trustedAkName: tpmNameOf(tpm.akPublic) }).warnings;
}

describe('review s10 V2: short expected nonces are warned about', () => {
  it('the bound is 16 bytes (128 bits)', () => {
    expect(MIN_FRESH_NONCE_BYTES).toBe(16);
  });

  it('a 32-byte nonce: no warning at all', () => {
    expect(simulated(new Uint8Array(32).fill(0xa5))).toEqual([]);
  });

  it('16 bytes: no warning; 15 bytes: the freshness warning', () => {
    expect(simulated(new Uint8Array(16).fill(1))).toEqual([]);
    expect(simulated(new Uint8Array(15).fill(1))).toEqual(['VT10: the expected nonce is 15 bytes, under 16: freshness is not established (a quote made in advance with this extraData matches it)']);
  });

  it('an empty nonce: the freshness warning, once', () => {
    expect(simulated(new Uint8Array(0))).toEqual(['VT10: the expected nonce is empty, under 16: freshness is not established (a quote made in advance with this extraData matches it)']);
  });
});

describe.skipIf(!HAVE_VECTORS)('review s10 V2 on the real vectors', () => {
  const windows = () => loadManifest().find((e) => e.id === 'go-attestation/windows_gcp_shielded_vm-quote')!;

  it("go-attestation's Windows quote (empty extraData) with an empty expected nonce verifies, with the freshness warning", () => {
    const e = windows();
    const ak = keyFromTpmPublic(parseTpmPublic(read(e.collateral['ak_public']!)));
    const quote = { quote: parseTpmQuote(read(e.file)), signature: parseTpmSignature(read(e.collateral['signature']!)) };
    const pcrs = pcrBanksFrom(Object.fromEntries(Object.entries(e.expected.pcrs!).map(([bank, v]) => [bank, Object.fromEntries(Object.entries(v).map(([i, h]) => [i, new Uint8Array(Buffer.from(h, 'hex'))]))])));
    const r = verifyTpmQuotes([quote], ak, pcrs, { nonce: new Uint8Array(0), allowSha1: true });
    expect(r.checks.find((c) => c.id === 'VT10')!.description).toBe('quote 0: extraData equals the expected nonce (0 bytes)');
    expect(vt10Warnings(r.warnings)).toEqual([expect.stringMatching(/^VT10: the expected nonce is empty, under 16/)]);
  });

  describe('CLI', () => {
    const GCE = 'go-tpm-tools/extracted/gce-cos-85-nonce9009';
    const gce = () => {
      const pcrs = Object.fromEntries(
        (['sha1', 'sha256', 'sha384'] as const).map((bank) => {
          const values = loadManifest().find((m) => m.id === `go-tpm-tools/gce-cos-85-nonce9009-quote-${bank}`)!.expected.pcrs![bank]!;
          return [bank, Object.fromEntries(Object.entries(values).map(([i, h]) => [i, new Uint8Array(Buffer.from(h, 'hex'))]))];
        }),
      );
      const bundle = serializeVtpmBundle({
        nonce: new Uint8Array([0x90, 0x09]),
        tpm: { ak: { public: read(`${GCE}/ak_pub.tpmt_public`) }, quotes: ['sha1', 'sha256', 'sha384'].map((b) => ({ attest: read(`${GCE}/quote_${b}.tpms_attest`), signature: read(`${GCE}/quote_${b}.tpmt_signature`) })), pcrs },
      });
      return ['verify', temps.file('gce.json', bundle), '--ak', temps.file('ak.pub', read(`${GCE}/ak_pub.tpmt_public`)), '--at', '2021-12-22T21:31:37Z', '--offline', '--no-cache'];
    };

    it("GCE's 2-byte nonce 9009: exit 0, with the freshness warning", async () => {
      const r = await cliJson([...gce(), '--nonce', '9009']);
      expect(r.code).toBe(0);
      expect(vt10Warnings(r.json['warnings'] as string[])).toEqual([expect.stringMatching(/^VT10: the expected nonce is 2 bytes, under 16/)]);
    });

    it("an empty --nonce (or a bare 0x) is a usage error, exit 2; without --nonce the bundle's nonce is used, with its warnings", async () => {
      const blank = await cli([...gce(), '--nonce', '']);
      expect(blank.code).toBe(2);
      expect(blank.stderr).toMatch(/--nonce needs a value/);
      const bare = await cli([...gce(), '--nonce', '0x']);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(/--nonce is empty/);
      const without = await cliJson(gce());
      expect(without.code).toBe(0);
      expect(without.json['warnings']).toEqual(expect.arrayContaining([expect.stringMatching(/^no expected nonce given/), expect.stringMatching(/^VT10: the expected nonce is 2 bytes/)]));
    });
  });
});
