/**
 * The attested terminal chat behind `tee-verify chat` (src/cli/chat.ts parses
 * the command line): verify the gateway against the caller's policy, print
 * what was verified, and only then send prompts, streaming each answer as it
 * arrives. One-shot (`prompt`), interactive (lines from `stdin`, the
 * conversation kept as history) or `json` (one object: verification + answer).
 * A refusal sends nothing and names the reason and check ids.
 */
import { createInterface } from 'node:readline';

import { AttestedClient, type AttestedClientOptions } from './client.js';
import { AttestationRefusedError } from './errors.js';
import type { GatewayVerification } from './verify.js';

export interface ChatIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Lines for the interactive mode. */
  stdin?: NodeJS.ReadableStream;
  /** A person types at a terminal: show a prompt before each line. */
  interactive?: boolean;
}

export type ChatApi = 'ollama' | 'openai';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatSessionOptions {
  gateway: string;
  client: AttestedClientOptions;
  api: ChatApi;
  model: string;
  token?: string;
  /** One-shot: this prompt, then exit. Without it: interactive. */
  prompt?: string;
  /** One JSON object on stdout (needs `prompt`). */
  json?: boolean;
}

/** Exit codes, as the tee-verify CLI uses them (docs/cli.md). */
export const CHAT_EXIT = { ok: 0, refused: 1, error: 2, collateralUnavailable: 3 } as const;

/** The verification, one line each. */
export function describeVerification(v: GatewayVerification): string[] {
  const measured = Object.keys(v.measurements);
  return [
    `TEE: ${v.tee}${v.debug ? ' (DEBUG)' : ''}`,
    `TCB status: ${v.tcbStatus ?? 'n/a (SEV-SNP: minimum TCB by policy)'}${v.advisoryIds.length ? `, advisories ${v.advisoryIds.join(', ')}` : ''}`,
    `measurements accepted by the policy (${measured.length}): ${Object.entries(v.measurements).map(([k, x]) => `${k}=${x.slice(0, 16)}…`).join(' ')}`,
    `TLS certificate SHA-256: ${v.certificateSha256}`,
    `bound TLS key (SPKI SHA-256): ${v.spkiSha256}`,
    `verified at ${v.at}, trusted until ${v.validUntil} at most`,
    ...(v.vtpm
      ? [
          `vTPM: attestation key bound by the hardware report (TPMT_PUBLIC SHA-256 ${v.vtpm.akSha256}), quote over ${v.vtpm.quoted.join(', ')}`,
          `vTPM: boot event log ${v.vtpm.eventLogEvents === undefined ? 'absent' : `replayed (${v.vtpm.eventLogEvents} events)`}, IMA list ${v.vtpm.imaEntries === undefined ? 'absent' : `replayed (${v.vtpm.imaEntries} entries, boot_aggregate ${v.vtpm.bootAggregate})`}`,
          `vTPM: reference list ${v.vtpm.reference ?? 'none (the policy has no vtpm section, or it judges PCRs only)'}`,
        ]
      : []),
    ...v.warnings.map((w) => `warning: ${w}`),
  ];
}

/**
 * Text from the backend as a terminal may show it: C0 controls but newline and tab, DEL and C1
 * controls are written as visible \xNN. A model (or a prompt injected into it) must not drive the
 * user's terminal: OSC 52 writes the clipboard, cursor moves could erase the verification lines
 * above or forge them (review, session 3). The returned answer keeps the exact text (--json).
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The text pieces of one streamed item: an Ollama NDJSON line or an OpenAI server-sent event. */
function piecesOf(api: ChatApi, item: string): string {
  if (api === 'ollama') {
    const o = JSON.parse(item) as { message?: { content?: string }; response?: string; error?: string };
    if (o.error) throw new Error(`the backend reported: ${o.error}`);
    return o.message?.content ?? o.response ?? '';
  }
  const data = item.replace(/^data: ?/, '');
  if (data === '[DONE]') return '';
  return (JSON.parse(data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '';
}

/**
 * Sends one chat (the whole conversation in `messages`, or just `prompt`)
 * and writes the answer's pieces as they arrive; returns the answer's text.
 */
export async function streamChat(
  client: AttestedClient,
  o: { api: ChatApi; model: string; prompt?: string; messages?: ChatMessage[]; token?: string; write: (t: string) => void },
): Promise<string> {
  const path = o.api === 'ollama' ? '/api/chat' : '/v1/chat/completions';
  const messages = o.messages ?? [{ role: 'user', content: o.prompt ?? '' }];
  const res = await client.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    body: JSON.stringify({ model: o.model, messages, stream: true }),
  });
  if (res.status !== 200) throw new Error(`the gateway answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const sep = o.api === 'ollama' ? '\n' : '\n\n';
  const dec = new TextDecoder();
  let buf = '';
  let answer = '';
  const take = (item: string): void => {
    if (!item.trim()) return;
    const piece = piecesOf(o.api, item.trim());
    answer += piece;
    if (piece) o.write(terminalSafe(piece));
  };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf(sep)) >= 0) {
      take(buf.slice(0, i));
      buf = buf.slice(i + sep.length);
    }
  }
  take(buf + dec.decode());
  o.write('\n');
  return answer;
}

function refusalJson(e: AttestationRefusedError): Record<string, unknown> {
  return { code: e.code, message: e.message, ...(e.details.checks ? { checks: e.details.checks } : {}) };
}

function exitFor(e: unknown, o: ChatSessionOptions, io: ChatIo): number {
  if (e instanceof AttestationRefusedError) {
    if (o.json) io.stdout(`${JSON.stringify({ ok: false, gateway: o.gateway, error: refusalJson(e) })}\n`);
    io.stderr(`refused (${e.code}${e.details.checks ? ` ${e.details.checks.join(',')}` : ''}): ${terminalSafe(e.message)}\nno prompt byte was sent.\n`);
    return e.code === 'ERR_ATTEST_COLLATERAL_UNAVAILABLE' ? CHAT_EXIT.collateralUnavailable : CHAT_EXIT.refused;
  }
  if (o.json) io.stdout(`${JSON.stringify({ ok: false, gateway: o.gateway, error: { code: 'ERR_CHAT', message: (e as Error).message } })}\n`);
  io.stderr(`chat: ${terminalSafe((e as Error).message)}\n`);
  return CHAT_EXIT.error;
}

/** Reads lines until EOF or /exit; each line is one turn of the conversation. */
async function converse(client: AttestedClient, o: ChatSessionOptions, io: ChatIo): Promise<void> {
  if (!io.stdin) throw new Error('interactive chat needs an input stream');
  const history: ChatMessage[] = [];
  const rl = createInterface({ input: io.stdin, terminal: false, crlfDelay: Infinity });
  const ask = (): void => {
    if (io.interactive) io.stdout('you> ');
  };
  io.stdout(`chat with ${o.model} through ${o.gateway} (/reset forgets the conversation, /exit or end of input quits)\n`);
  ask();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '/exit' || line === '/quit') break;
      if (line === '/reset') {
        history.length = 0;
        io.stdout('(conversation forgotten)\n');
      } else if (line) {
        history.push({ role: 'user', content: line });
        if (io.interactive) io.stdout('assistant> ');
        const answer = await streamChat(client, { api: o.api, model: o.model, messages: history, ...(o.token ? { token: o.token } : {}), write: io.stdout });
        history.push({ role: 'assistant', content: answer });
      }
      ask();
    }
  } finally {
    rl.close();
  }
}

export async function runChatSession(o: ChatSessionOptions, io: ChatIo): Promise<number> {
  let client: AttestedClient | undefined;
  try {
    client = new AttestedClient(o.gateway, o.client);
    // Nothing is read or sent before the gateway is verified.
    const verified = await client.attest();
    if (o.json) {
      if (o.prompt === undefined) throw new Error('--json needs --prompt');
      // The exact answer (JSON escapes any control character), not the terminal-safe pieces.
      const answer = await streamChat(client, { api: o.api, model: o.model, prompt: o.prompt, ...(o.token ? { token: o.token } : {}), write: () => undefined });
      io.stdout(`${JSON.stringify({ ok: true, gateway: o.gateway, verification: verified, answer })}\n`);
      return CHAT_EXIT.ok;
    }
    io.stdout(`verified ${o.gateway}:\n${describeVerification(verified).map((l) => `  ${l}\n`).join('')}\n`);
    if (o.prompt !== undefined) await streamChat(client, { api: o.api, model: o.model, prompt: o.prompt, ...(o.token ? { token: o.token } : {}), write: io.stdout });
    else await converse(client, o, io);
    return CHAT_EXIT.ok;
  } catch (e) {
    return exitFor(e, o, io);
  } finally {
    await client?.close();
  }
}
