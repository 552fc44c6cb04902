/**
 * One-shot attested chat (scripts/chat.js): verify the gateway against a
 * policy, print what was verified, then stream the answer of one prompt.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { AmdKdsClient, BundleSource, CollateralService, HttpClient, importBundle, IntelPcsClient, splitPemCertificates, type TrustRoots } from '../index.js';
import { SimulatedTeeProvider } from '../tee/index.js';
import { AttestedClient, type AttestedClientOptions } from './client.js';
import { AttestationRefusedError } from './errors.js';
import type { GatewayVerification } from './verify.js';

export interface ChatIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export const CHAT_USAGE = `usage: node scripts/chat.js --gateway URL --policy FILE --prompt TEXT [--token KEY | TEE_GATEWAY_TOKEN]
         [--api ollama|openai] [--model NAME]
         [--simulated-state FILE | --collateral BUNDLE [--trust-root PEM] | (Intel PCS and AMD KDS)]
`;

/** The verification, one line each. */
export function describeVerification(v: GatewayVerification): string[] {
  return [
    `TEE: ${v.tee}${v.debug ? ' (DEBUG)' : ''}`,
    `TCB status: ${v.tcbStatus ?? 'n/a (SEV-SNP: minimum TCB by policy)'}${v.advisoryIds.length ? `, advisories ${v.advisoryIds.join(', ')}` : ''}`,
    `measurements (judged by the policy): ${Object.entries(v.measurements).map(([k, x]) => `${k}=${x.slice(0, 16)}…`).join(' ')}`,
    `TLS certificate SHA-256: ${v.certificateSha256}`,
    `bound TLS key (SPKI SHA-256): ${v.spkiSha256}`,
    ...v.warnings.map((w) => `warning: ${w}`),
  ];
}

/** Sends one prompt and writes the answer's text pieces as they arrive. */
export async function streamChat(client: AttestedClient, o: { api: 'ollama' | 'openai'; model: string; prompt: string; token?: string; write: (t: string) => void }): Promise<void> {
  const path = o.api === 'ollama' ? '/api/chat' : '/v1/chat/completions';
  const res = await client.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    body: JSON.stringify({ model: o.model, messages: [{ role: 'user', content: o.prompt }], stream: true }),
  });
  if (res.status !== 200) throw new Error(`the gateway answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    const sep = o.api === 'ollama' ? '\n' : '\n\n';
    let i: number;
    while ((i = buf.indexOf(sep)) >= 0) {
      const item = buf.slice(0, i).trim();
      buf = buf.slice(i + sep.length);
      if (!item) continue;
      if (o.api === 'ollama') o.write((JSON.parse(item) as { message?: { content?: string } }).message?.content ?? '');
      else if (item !== 'data: [DONE]') o.write((JSON.parse(item.replace(/^data: /, '')) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '');
    }
  }
  o.write('\n');
}

function trustOf(v: Record<string, string | undefined>): Pick<AttestedClientOptions, 'collateral' | 'trustRoots'> {
  if (v['simulated-state']) {
    const p = SimulatedTeeProvider.fromState(readFileSync(v['simulated-state'], 'utf8'));
    const source = new BundleSource([...p.collateral]);
    return { collateral: new CollateralService({ intel: source, amd: source, cache: null }), trustRoots: p.trustRoots };
  }
  if (v['collateral']) {
    const source = new BundleSource(importBundle(readFileSync(v['collateral'])));
    const collateral = new CollateralService({ intel: source, amd: source, cache: null });
    if (!v['trust-root']) return { collateral };
    const roots: TrustRoots = { label: 'custom', intelRootCas: splitPemCertificates(readFileSync(v['trust-root'], 'utf8')), amd: {} };
    return { collateral, trustRoots: roots };
  }
  const http = new HttpClient();
  return { collateral: new CollateralService({ intel: new IntelPcsClient({ http }), amd: new AmdKdsClient({ http }) }) };
}

export async function runChat(argv: string[], io: ChatIo): Promise<number> {
  let client: AttestedClient | undefined;
  try {
    const { values: v } = parseArgs({
      args: argv,
      strict: true,
      options: {
        gateway: { type: 'string' }, policy: { type: 'string' }, prompt: { type: 'string' }, token: { type: 'string' }, api: { type: 'string', default: 'ollama' }, model: { type: 'string', default: 'llama3.2' },
        'simulated-state': { type: 'string' }, collateral: { type: 'string' }, 'trust-root': { type: 'string' },
      },
    });
    if (!v.gateway || !v.policy || v.prompt === undefined) {
      io.stderr(CHAT_USAGE);
      return 2;
    }
    if (v.api !== 'ollama' && v.api !== 'openai') throw new Error('--api must be ollama or openai');
    client = new AttestedClient(v.gateway, { policy: readFileSync(v.policy, 'utf8'), ...trustOf(v) });
    const verified = await client.attest();
    io.stdout(`verified ${v.gateway}:\n${describeVerification(verified).map((l) => `  ${l}\n`).join('')}\n`);
    const token = v.token ?? io.env['TEE_GATEWAY_TOKEN'];
    await streamChat(client, { api: v.api, model: v.model ?? 'llama3.2', prompt: v.prompt, ...(token ? { token } : {}), write: io.stdout });
    return 0;
  } catch (e) {
    if (e instanceof AttestationRefusedError) {
      io.stderr(`refused (${e.code}${e.details.checks ? ` ${e.details.checks.join(',')}` : ''}): ${e.message}\nno prompt byte was sent.\n`);
      return 1;
    }
    io.stderr(`chat: ${(e as Error).message}\n`);
    return 2;
  } finally {
    await client?.close();
  }
}
