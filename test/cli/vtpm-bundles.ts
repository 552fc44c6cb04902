/** The GCE TPM-only vTPM bundle of the shared vectors (quotes in three banks, boot event log, nonce 9009). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { serializeVtpmBundle, type VtpmBundle } from '../../src/vtpm/bundle.js';
import { VECTORS_DIR, loadManifest } from '../helpers/vectors.js';

export const GCE_DIR = 'go-tpm-tools/extracted/gce-cos-85-nonce9009';
export const GCE_AT = '2021-12-22T21:31:37Z';

export const readVector = (rel: string): Uint8Array => new Uint8Array(readFileSync(join(VECTORS_DIR, rel)));

/** PCR values of one bank, as the manifest states them (hex by PCR index). */
export function gcePcrs(bank: 'sha1' | 'sha256' | 'sha384'): Record<string, string> {
  return loadManifest().find((m) => m.id === `go-tpm-tools/gce-cos-85-nonce9009-quote-${bank}`)!.expected.pcrs![bank]!;
}

export function gceBundleText(): string {
  const pcrs: VtpmBundle['tpm']['pcrs'] = {};
  for (const bank of ['sha1', 'sha256', 'sha384'] as const) {
    pcrs[bank] = Object.fromEntries(Object.entries(gcePcrs(bank)).map(([i, h]) => [i, new Uint8Array(Buffer.from(h, 'hex'))]));
  }
  return serializeVtpmBundle({
    nonce: new Uint8Array([0x90, 0x09]),
    tpm: {
      ak: { public: readVector(`${GCE_DIR}/ak_pub.tpmt_public`) },
      quotes: ['sha1', 'sha256', 'sha384'].map((b) => ({ attest: readVector(`${GCE_DIR}/quote_${b}.tpms_attest`), signature: readVector(`${GCE_DIR}/quote_${b}.tpmt_signature`) })),
      pcrs,
    },
    eventLog: readVector(`${GCE_DIR}/event_log.bin`),
  });
}
