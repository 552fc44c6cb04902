/**
 * Attestation-service test harness: a service on 127.0.0.1 with a fixed
 * clock, the simulated TDX and SEV-SNP platforms of the test PKI (their
 * collateral as bundles, their roots as trust roots), and small HTTP helpers.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

import { request } from 'undici';

import { startAttestationService, type AttestationService, type AttestationServiceOptions } from '../../src/attestation-service/index.js';
import { BundleSource, CollateralService, parseEvidence, type TdxQuote, type TrustRoots } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

/** The instant the simulated collateral is centred on, and the service's fixed clock (one hour later). */
export const CENTRE = new Date('2026-01-15T00:00:00Z');
export const NOW = new Date(CENTRE.getTime() + 3_600_000);
export const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);

export const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: CENTRE });
export const snp = new SimulatedTeeProvider({ tee: 'snp', at: CENTRE });

export const trustRoots: TrustRoots = { label: 'test-pki', intelRootCas: tdx.trustRoots.intelRootCas, amd: snp.trustRoots.amd };

export function simulatedCollateral(): CollateralService {
  const source = new BundleSource([...tdx.collateral, ...snp.collateral]);
  return new CollateralService({ intel: source, amd: source, cache: null });
}

export async function tdxQuote(reportData: Uint8Array = new Uint8Array(64)): Promise<Buffer> {
  return Buffer.from((await tdx.getEvidence(reportData)).evidence);
}

export const mrTdOf = (quote: Uint8Array): string => Buffer.from((parseEvidence(quote) as TdxQuote).body.mrTd as Uint8Array).toString('hex');

export const sha512 = (b: Uint8Array): Buffer => createHash('sha512').update(b).digest();

/** What open-webui's browser code posts (protocols.md §8.1): base64url-nopad of {quote, aa_eventlog, cc_eventlog}. */
export function openWebUiBody(quote: Uint8Array, extra: Record<string, unknown> = {}): string {
  const evidence = Buffer.from(JSON.stringify({ quote: Buffer.from(quote).toString('base64'), aa_eventlog: null, cc_eventlog: null })).toString('base64url');
  return JSON.stringify({ policy_ids: [], tee: 'tdx', evidence, ...extra });
}

export async function startService(o: Partial<AttestationServiceOptions> = {}): Promise<AttestationService> {
  return startAttestationService({ collateral: simulatedCollateral(), trustRoots, port: 0, now: () => NOW, log: () => {}, ...o });
}

export interface Answer {
  status: number;
  text: string;
  json: any;
  headers: Record<string, string | string[] | undefined>;
}

export async function call(base: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(`${base}${path}`, { method: method as 'GET', headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body }) });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json, headers: res.headers };
}

export const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
  call(base, 'POST', path, typeof body === 'string' ? body : JSON.stringify(body), headers);

/** The token verification key as published at /jwks.json. */
export async function publishedKey(base: string): Promise<KeyObject> {
  const r = await call(base, 'GET', '/jwks.json');
  if (r.status !== 200 || r.json.keys.length !== 1) throw new Error(`bad JWKS answer ${r.status}`);
  return createPublicKey({ key: r.json.keys[0], format: 'jwk' });
}
