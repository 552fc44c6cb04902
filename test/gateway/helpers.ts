/**
 * Gateway test harness: a chat upstream (upstream.ts), a gateway on
 * 127.0.0.1 with a temporary SQLite file and the simulated TDX TEE, an API
 * key, and client options (policy pinning the simulated MRTD, the simulated
 * collateral bundle and trust roots).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';

import { BundleSource, CollateralService, loadPolicy, parseEvidence, type Policy, type TdxQuote } from '../../src/index.js';
import { startGateway, type AttestedClientOptions, type Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { startChatUpstream, type ChatUpstream } from './upstream.js';

export const simulated = new SimulatedTeeProvider({ tee: 'tdx' });

export async function mrTdOf(provider: EvidenceProvider): Promise<string> {
  const ev = await provider.getEvidence(new Uint8Array(64));
  return Buffer.from((parseEvidence(ev.evidence) as TdxQuote).body.mrTd as Uint8Array).toString('hex');
}

export const tdxPolicy = (mrTd: string, extra: Record<string, unknown> = {}): Policy =>
  loadPolicy({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', ...extra });

/** Options that both AttestedClient and attestAtls accept (they differ in `at`: a clock function is the client's alone). */
export type ClientOptions = Pick<AttestedClientOptions, 'policy' | 'collateral' | 'trustRoots' | 'reference'>;

export function clientOptions(policy: Policy, p: { collateral: readonly unknown[]; trustRoots: AttestedClientOptions['trustRoots'] } = simulated): ClientOptions {
  return { policy, collateral: new CollateralService({ intel: new BundleSource([...(p.collateral as never[])]), cache: null }), ...(p.trustRoots ? { trustRoots: p.trustRoots } : {}) };
}

export interface Harness {
  gateway: Gateway;
  upstream: ChatUpstream;
  dir: string;
  db: string;
  /** The TLS identity given in the options (a gateway without one keeps its key in memory only). */
  tls: GatewayOptions['tls'];
  token: string;
  insecure: Agent;
  /** A plain (unattested) HTTPS call to the gateway. */
  call(method: string, path: string, o?: { body?: string | Buffer; token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; text: string; json: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startHarness(o: Partial<GatewayOptions> = {}): Promise<Harness> {
  const upstream = await startChatUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-test-'));
  const db = join(dir, 'gateway.sqlite');
  // Tests send bursts of evidence requests from 127.0.0.1: one client key gets the whole bound here
  // unless a test sets its share (the product default is a quarter; review-s6-rate.test.ts tests it).
  const share = { attestationsPerClient: o.attestationsPerSecond ?? 10 };
  const gateway = await startGateway({ upstream: upstream.url, db, provider: simulated, port: 0, log: () => {}, ...share, ...o });
  const token = (await gateway.keys.create('test')).token;
  const insecure = new Agent({ connect: { rejectUnauthorized: false }, connections: 16 });
  const call: Harness['call'] = async (method, path, c = {}) => {
    const auth = c.token === null ? {} : { authorization: `Bearer ${c.token ?? token}` };
    const res = await request(`${gateway.url}${path}`, { method: method as 'GET', dispatcher: insecure, headers: { 'content-type': 'application/json', ...auth, ...c.headers }, ...(c.body === undefined ? {} : { body: c.body }) });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, text, json, headers: res.headers };
  };
  return {
    gateway, upstream, dir, db, tls: o.tls, token, insecure, call,
    close: async () => {
      await gateway.close();
      await upstream.close();
      await insecure.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Prompt bodies carry this marker; a refusal test checks that it never reached anyone. */
export const SECRET = 'PROMPT-SECRET-7f3a';

export const ollamaChat = (prompt: string, stream = true): string => JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: prompt }], stream });
export const openAiChat = (prompt: string, stream: boolean): string => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }], stream });
