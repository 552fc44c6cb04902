/**
 * Review s6 tests: a bundle quoted by a fresh software AK (pinned by the test
 * as trustedAk) over the PCR values a real TPM would hold after the given
 * extends. Lets each test change the log and still get a genuine quote.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest } from '../../src/testing/index.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';

export interface QuotedBundle {
  bundle: VtpmBundle;
  nonce: Uint8Array;
  trustedAk: KeyObject;
  /** The AK's TPMT_PUBLIC (as in the bundle). */
  akPublic: Uint8Array;
}

/** One SHA-256 quote over `values` (PCR index -> value); the bundle carries the values and `extra` (eventLog, ima). */
export function quotedBundle(values: Record<number, Uint8Array>, extra: Pick<VtpmBundle, 'eventLog' | 'ima'> = {}): QuotedBundle {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const nonce = new Uint8Array(randomBytes(32));
  const pcrs = Object.keys(values).map(Number).sort((a, b) => a - b);
  const selections = [{ bank: 'sha256' as const, pcrs }];
  const attest = buildTpmsAttest({
    qualifiedSigner: new Uint8Array(Buffer.concat([Buffer.from([0, 0x0b]), randomBytes(32)])),
    extraData: nonce,
    selections,
    pcrDigest: quotePcrDigest(selections, { sha256: values }),
  });
  const akPublic = buildAkPublic(publicKey);
  const bundle: VtpmBundle = {
    nonce,
    tpm: {
      ak: { public: akPublic },
      quotes: [{ attest, signature: signTpmsAttest(attest, privateKey) }],
      pcrs: { sha256: Object.fromEntries(pcrs.map((p) => [String(p), values[p]!])) },
    },
    ...extra,
  };
  return { bundle, nonce, trustedAk: publicKey, akPublic };
}
