/**
 * tee-gateway serve / keys in process (the chat CLI: chat-cli.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
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
  it('the state file written by serve --simulated-state lets tee-verify chat verify that gateway', async () => {
    let stdout = '';
    const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stdout += t) }, env: { TEE_GATEWAY_TOKEN: token } };
    const code = await run(['chat', '--gateway', gateway.url, '--policy', policyFile, '--simulated-state', state(), '--prompt', 'from serve'], io);
    expect(stdout).toContain(`bound TLS key (SPKI SHA-256): ${gateway.spkiSha256}`);
    expect(stdout).toContain(replyWords('from serve').join(''));
    expect(code).toBe(0);
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
