/**
 * tee-gateway serve / keys and the one-shot chat (scripts/chat.js logic), in
 * process: a simulated-TEE gateway whose state file gives the chat client
 * its test trust roots and collateral.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runChat } from '../../src/gateway/chat-cli.js';
import { runGatewayCli } from '../../src/gateway/cli.js';
import type { Gateway } from '../../src/gateway/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { mrTdOf } from './helpers.js';
import { replyWords, startChatUpstream, type ChatUpstream } from './upstream.js';

const out = () => {
  const o = { stdout: '', stderr: '' };
  return { o, io: { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv } };
};

let dir: string;
let upstream: ChatUpstream;
let gateway: Gateway;
let token: string;
let policyFile: string;
const state = () => join(dir, 'sim.json');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-cli-'));
  upstream = await startChatUpstream();
  const { io } = out();
  const r = await runGatewayCli(['serve', '--upstream', upstream.url, '--db', join(dir, 'g.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', '--simulated-state', state()], io);
  expect(r.code).toBe(0);
  gateway = r.gateway!;
  const k = out();
  expect((await runGatewayCli(['keys', 'create', 'cli', '--db', join(dir, 'g.sqlite')], k.io)).code).toBe(0);
  token = JSON.parse(k.o.stdout).token;
  policyFile = join(dir, 'policy.json');
  const mrTd = await mrTdOf(SimulatedTeeProvider.fromState((await import('node:fs')).readFileSync(state(), 'utf8')));
  writeFileSync(policyFile, JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tee-gateway CLI and chat', () => {
  it('chat prints what it verified, then the streamed answer (Ollama and OpenAI)', async () => {
    for (const api of ['ollama', 'openai']) {
      const { o, io } = out();
      const code = await runChat(['--gateway', gateway.url, '--policy', policyFile, '--prompt', 'hi there', '--token', token, '--simulated-state', state(), '--api', api], io);
      expect(o.stderr).toBe('');
      expect(code).toBe(0);
      expect(o.stdout).toContain('TEE: tdx');
      expect(o.stdout).toContain('TCB status: UpToDate');
      expect(o.stdout).toContain(gateway.spkiSha256);
      expect(o.stdout).toContain(replyWords('hi there').join(''));
    }
  });

  it('chat refuses a gateway that misses the policy: exit 1, reason named', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ tee: 'tdx', mrTd: ['07'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
    const before = upstream.received.length;
    const { o, io } = out();
    expect(await runChat(['--gateway', gateway.url, '--policy', bad, '--prompt', 'secret', '--token', token, '--simulated-state', state()], io)).toBe(1);
    expect(o.stderr).toContain('ERR_ATTEST_POLICY');
    expect(o.stderr).toContain('T36');
    expect(upstream.received.length).toBe(before);
  });

  it('keys list and revoke', async () => {
    const l = out();
    expect((await runGatewayCli(['keys', 'list', '--db', join(dir, 'g.sqlite')], l.io)).code).toBe(0);
    const id = JSON.parse(l.o.stdout.trim().split('\n')[0]!).id;
    expect(l.o.stdout).not.toContain('tgw_');
    expect((await runGatewayCli(['keys', 'revoke', id, '--db', join(dir, 'g.sqlite')], out().io)).code).toBe(0);
    expect((await runGatewayCli(['keys', 'revoke', id, '--db', join(dir, 'g.sqlite')], out().io)).code).toBe(1);
  });

  it('serve without a TEE choice is a usage error', async () => {
    const { o, io } = out();
    expect((await runGatewayCli(['serve', '--upstream', upstream.url, '--db', join(dir, 'x.sqlite')], io)).code).toBe(2);
    expect(o.stderr).toContain('--configfs or --simulated-tee');
  });
});
