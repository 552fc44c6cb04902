/**
 * Collateral artifacts made from an extended report's certificate table
 * (VCEK / VLEK; ASK or ASVK with the ARK), by content. Every report of a
 * platform carries the same table in a new buffer, and building the artifacts
 * (certificate window, SHA-256 of the leaf for its key, PEM text of the chain)
 * cost more than the rest of a warm lookup. The few recent tables are kept as
 * private copies and a new entry is compared with them byte for byte; only an
 * exact match gets the remembered artifact, so the result is a pure function
 * of the bytes (and of product and key kind, part of every comparison).
 * Failures are never remembered; a caller's buffer is never kept.
 */
import { createHash } from 'node:crypto';

import type { CollateralArtifact } from './artifact.js';
import { artifactKey, type AmdKeyKind, type AmdProduct } from './keys.js';
import { validateArtifact } from './validate.js';

/** A verifier talks to a few platforms; a miss only costs the build it saves. */
const RECENT = 8;

interface Remembered {
  product: AmdProduct;
  signingKey: AmdKeyKind;
  /** The DER the artifact was built from, never handed out. */
  inputs: readonly Buffer[];
  /** A copy of the artifact's body, never handed out. */
  body: Buffer;
  artifact: CollateralArtifact;
}

const leaves: Remembered[] = [];
const chains: Remembered[] = [];

function equalBytes(copy: Buffer, bytes: Uint8Array): boolean {
  return copy.length === bytes.length && copy.equals(bytes);
}

function find(list: Remembered[], product: AmdProduct, signingKey: AmdKeyKind, ders: readonly Uint8Array[]): CollateralArtifact | undefined {
  for (const r of list) {
    if (r.product !== product || r.signingKey !== signingKey || r.inputs.length !== ders.length) continue;
    if (!r.inputs.every((copy, i) => equalBytes(copy, ders[i]!))) continue;
    // The artifact's body is handed out: one changed in place is not served again.
    if (!equalBytes(r.body, r.artifact.body)) continue;
    return r.artifact;
  }
  return undefined;
}

function remember(list: Remembered[], entry: Remembered): CollateralArtifact {
  if (list.length >= RECENT) list.pop();
  list.unshift(entry);
  return entry.artifact;
}

function frozen(a: CollateralArtifact): CollateralArtifact {
  Object.freeze(a.validity);
  Object.freeze(a.source);
  return Object.freeze(a);
}

function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** The VCEK / VLEK of a certificate table as an artifact keyed by product and the SHA-256 of its DER. */
export function tableLeafArtifact(product: AmdProduct, signingKey: AmdKeyKind, der: Uint8Array): CollateralArtifact {
  const known = find(leaves, product, signingKey, [der]);
  if (known) return known;
  const copy = Buffer.from(der);
  const digest = createHash('sha256').update(copy).digest('hex');
  const artifact = validateArtifact({ kind: signingKey === 'vlek' ? 'amd-vlek' : 'amd-vcek', key: `amd/${signingKey}/${product}/evidence/${digest}`, body: new Uint8Array(copy), source: { origin: 'evidence' } });
  return remember(leaves, { product, signingKey, inputs: [copy], body: Buffer.from(copy), artifact: frozen(artifact) });
}

/** ASK (or ASVK) and ARK of a certificate table as the PEM chain artifact the KDS would serve. */
export function tableChainArtifact(product: AmdProduct, signingKey: AmdKeyKind, ask: Uint8Array, ark: Uint8Array): CollateralArtifact {
  const known = find(chains, product, signingKey, [ask, ark]);
  if (known) return known;
  const inputs = [Buffer.from(ask), Buffer.from(ark)] as const;
  const pem = Buffer.from(derToPem(inputs[0]) + derToPem(inputs[1]));
  const artifact = validateArtifact({ kind: 'amd-cert-chain', key: `${artifactKey.certChain(product, signingKey)}/evidence`, body: new Uint8Array(pem), source: { origin: 'evidence' } });
  return remember(chains, { product, signingKey, inputs, body: pem, artifact: frozen(artifact) });
}
