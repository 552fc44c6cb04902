/**
 * Review s6 tests: a bundle quoted by a fresh software AK (pinned by the test
 * as trustedAk) over the PCR values a real TPM would hold after the given
 * extends. Lets each test change the log and still get a genuine quote.
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { buildAkPublic, buildTpmsAttest, quotePcrDigest, signTpmsAttest } from '../../src/testing/index.js';
import type { VtpmBundle } from '../../src/vtpm/bundle.js';
import { parseTcgEventLog } from '../../src/vtpm/parse.js';
import { resetValue } from '../../src/vtpm/pcrs.js';
import { replayEventLog } from '../../src/vtpm/replay-eventlog.js';

export interface QuotedBundle {
  bundle: VtpmBundle;
  nonce: Uint8Array;
  trustedAk: KeyObject;
  /** The AK's TPMT_PUBLIC (as in the bundle). */
  akPublic: Uint8Array;
}

/** One SHA-256 quote over `values` (PCR index -> value); the bundle carries the values and `extra` (eventLog, ima). */
export function quotedBundle(values: Record<number, Uint8Array>, extra: Pick<VtpmBundle, 'eventLog' | 'ima'> = {}): QuotedBundle {
  const { publicKey, privateKey } = generateEcKeyObjects('P-256'); // no key-generation job: buildAkPublic exports a JWK
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

/** Byte spans of a crypto-agile log's events (index 0 = the header event), to drop, reorder or append events. */
export function logSpans(bytes: Uint8Array): { pcr: number; type: number; bytes: Buffer }[] {
  const log = parseTcgEventLog(bytes);
  return log.events.map((e, i) => {
    const end = i + 1 < log.events.length ? log.events[i + 1]!.offset : bytes.length;
    return { pcr: e.pcr, type: e.eventType, bytes: Buffer.from(bytes.subarray(e.offset, end)) };
  });
}

const HASH_OF_ALG: Record<number, string> = { 0x04: 'sha1', 0x0b: 'sha256', 0x0c: 'sha384', 0x0d: 'sha512' };

/**
 * A TCG_PCR_EVENT2 with a digest of `measured` (default: `data`) in every bank
 * the log declares, as a real extend by root would log it.
 */
export function agileEvent(log: Uint8Array, pcr: number, type: number, data: Uint8Array, measured: Uint8Array = data): Buffer {
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  const algs = parseTcgEventLog(log).algorithms;
  const digests = algs.map((a) => {
    const alg = Buffer.alloc(2);
    alg.writeUInt16LE(a.alg);
    return Buffer.concat([alg, createHash(HASH_OF_ALG[a.alg]!).update(measured).digest()]);
  });
  return Buffer.concat([u32(pcr), u32(type), u32(algs.length), ...digests, u32(data.length), Buffer.from(data)]);
}

/**
 * A bundle whose quote covers `pcrs` (SHA-256) with the values a TPM holds
 * after exactly this log's extends: touched PCRs from the replay, the others
 * at their reset value.
 */
export function bundleForLog(log: Uint8Array, pcrs: readonly number[]): QuotedBundle {
  const replay = replayEventLog(parseTcgEventLog(log), { banks: ['sha256'] });
  const values: Record<number, Uint8Array> = {};
  for (const p of pcrs) values[p] = replay.pcrs.sha256![p] ?? resetValue('sha256', p);
  return quotedBundle(values, { eventLog: log });
}
