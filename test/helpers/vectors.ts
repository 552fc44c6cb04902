/**
 * Access to the shared real-world vectors (../shared/vectors, or
 * TEE_VECTORS_DIR). Files are read in place, never copied into the repo.
 * When the folder is absent, suites that need it are skipped with a visible
 * message instead of silently passing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const VECTORS_DIR = resolve(repoRoot, process.env['TEE_VECTORS_DIR'] ?? '../shared/vectors');
export const HAVE_VECTORS = existsSync(join(VECTORS_DIR, 'manifest.json'));

if (!HAVE_VECTORS) {
  console.warn(`[tee-verify tests] shared vectors not found at ${VECTORS_DIR}: real-evidence suites are SKIPPED`);
}

/** What an entry's source asserts; fields beyond outcome exist for some kinds only. */
export interface ManifestExpected {
  outcome: string;
  failure?: string;
  tcb_status?: string;
  advisory_ids?: string[];
  /** vTPM entries: PCR values (hex) by bank, then PCR index. */
  pcrs?: Record<string, Record<string, string>>;
  /** TPM quotes: the qualifying data (hex). */
  nonce?: string;
  boot_aggregate?: { algorithm: string; pcrs: string; digest: string };
  kernel_cmdline?: string;
  efi_app_digests?: Record<string, string[]>;
  anomalies?: { index: number; path: string; problem: string }[];
  template_hashes?: string[];
}

export interface ManifestEntry {
  id: string;
  kind: string;
  file: string;
  file_encoding: string;
  collateral: Record<string, string>;
  cpu?: string;
  /** Intel entries: the platform's FMSPC, lowercase hex (from the PCK certificate). */
  fmspc?: string;
  report_version?: number;
  signing_key?: string;
  expected: ManifestExpected;
  verification_time?: string;
  /** Entries with collateral: the instants at which all of it is current. */
  validity_window?: { not_before: string; not_after: string };
  checks: Record<string, unknown>;
}

export const EVIDENCE_KINDS = new Set(['tdx-quote-v4', 'tdx-quote-v5', 'sgx-quote-v3', 'snp-report']);

export function loadManifest(): ManifestEntry[] {
  if (!HAVE_VECTORS) return [];
  return JSON.parse(readFileSync(join(VECTORS_DIR, 'manifest.json'), 'utf8')) as ManifestEntry[];
}

export function evidenceEntries(): ManifestEntry[] {
  return loadManifest().filter((e) => EVIDENCE_KINDS.has(e.kind));
}

export function vectorPath(rel: string): string {
  return join(VECTORS_DIR, rel);
}

/** The file as stored (binary, hex text, ...). */
export function readVectorFile(rel: string): Buffer {
  return readFileSync(vectorPath(rel));
}

/**
 * Decodes an evidence file independently of the library's decoder, from the
 * manifest's stated encoding, so tests compare against bytes we decoded.
 */
export function readEvidenceBytes(entry: ManifestEntry): Uint8Array {
  const raw = readVectorFile(entry.file);
  if (entry.file_encoding.startsWith('hex')) {
    const text = raw.toString('latin1').replace(/\s+/g, '').replace(/^0x/i, '');
    return new Uint8Array(Buffer.from(text, 'hex'));
  }
  if (entry.file_encoding.startsWith('base64')) return new Uint8Array(Buffer.from(raw.toString('latin1'), 'base64'));
  return new Uint8Array(raw);
}

/** First certificate of a PEM or DER file. */
export function readFirstCertificate(rel: string): X509Certificate {
  const raw = readVectorFile(rel);
  const text = raw.toString('latin1');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  return new X509Certificate(pem ? pem[0] : raw);
}

/** Raw x || y of an EC public key, via node:crypto's JWK export. */
export function rawEcPoint(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return new Uint8Array(Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
}

/** Splits a PEM chain (as found in a quote) into node X509Certificates. */
export function certificatesFromPem(pem: Uint8Array): X509Certificate[] {
  const text = Buffer.from(pem).toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** The SNP signing certificate (VCEK / VLEK) named by a manifest entry. */
export function snpSigningCertificate(entry: ManifestEntry): X509Certificate | undefined {
  const c = entry.collateral;
  const rel = c['vcek'] ?? c['vlek'] ?? c['vcek_ask_ark_chain'];
  return rel ? readFirstCertificate(rel) : undefined;
}

/** KeyObject from raw x || y, for cross-checks with node:crypto. */
export function ecKeyFromRaw(curve: 'P-256' | 'P-384', xy: Uint8Array): KeyObject {
  const n = curve === 'P-256' ? 32 : 48;
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: curve,
      x: Buffer.from(xy.subarray(0, n)).toString('base64url'),
      y: Buffer.from(xy.subarray(n)).toString('base64url'),
    },
    format: 'jwk',
  });
}

export function findEntry(id: string): ManifestEntry | undefined {
  return loadManifest().find((e) => e.id === id);
}
