/**
 * The recent-chain cache of quote PCK chains: a hit only for byte-identical
 * chains, never for a buffer changed in place, and malformed chains are
 * never cached.
 */
import { describe, expect, it } from 'vitest';

import { pckChainCertificates } from '../../src/evidence/pck-chain.js';
import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { expectError } from '../helpers/expect-error.js';

async function chainPem(): Promise<Uint8Array> {
  const tee = new SimulatedTeeProvider({ tee: 'tdx' });
  const quote = parseEvidence((await tee.getEvidence(new Uint8Array(64))).evidence) as TdxQuote;
  return quote.signatureData.pckCertChainPem;
}

describe('pckChainCertificates', () => {
  it('gives equal chains in new buffers the same split, and a changed chain its own', async () => {
    const pem = await chainPem();
    const first = pckChainCertificates(new Uint8Array(pem));
    expect(first).toHaveLength(3);
    expect(pckChainCertificates(new Uint8Array(pem))).toBe(first);

    const copy = new Uint8Array(pem);
    expect(pckChainCertificates(copy)).toBe(first);
    // Change one base64 character of the leaf in place: same object, new content.
    const at = Buffer.from(copy).indexOf('\n', 30) + 10;
    copy[at] = copy[at] === 0x41 ? 0x42 : 0x41;
    let changed: readonly Uint8Array[] | undefined;
    try {
      changed = pckChainCertificates(copy);
    } catch {
      changed = undefined; // a malformed leaf is rejected, which is also not a hit
    }
    expect(changed).not.toBe(first);
    if (changed) expect(Buffer.from(changed[0]!).equals(Buffer.from(first[0]!))).toBe(false);
  });

  it('does not cache a malformed chain', async () => {
    const pem = await chainPem();
    const bad = new Uint8Array(pem.subarray(0, pem.length - 40));
    const malformed = { code: 'ERR_BAD_PEM', errorClass: 'PARSE' };
    expectError(() => pckChainCertificates(bad), malformed);
    expectError(() => pckChainCertificates(new Uint8Array(bad)), malformed); // refused again, not served from a cache
  });
});
