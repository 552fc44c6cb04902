/**
 * s16 change review, CLI finding 4: `npm run chat` (scripts/chat.js) prepended the running demo's
 * --gateway, --policy and --simulated-state before the user's arguments. Since a single-valued
 * option given twice is a usage error (439dee4), `npm run chat -- --policy mine.json` was refused
 * as "--policy given twice" although the user typed it once. The script now adds each demo default
 * only when the user did not give that option (`--x v` or `--x=v`).
 *
 * The script runs as a child (node scripts/chat.js, on dist/) with TMPDIR pointing at a private fake
 * demo directory, so no running demo is touched; its connection.json names a real gateway with the
 * simulated TDX TEE in this process. The demo's policy pins another MRTD, so a run that used it is
 * refused (exit 1) and one that used the user's policy is trusted (exit 0). The user-option cases
 * fail on the code before (exit 2, "--policy given twice").
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { mrTdOf, simulated, startHarness, type Harness } from '../gateway/helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let h: Harness;
let fakeTmp: string;
let goodPolicy: string;
let demoPolicy: string;
let state: string;

beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 });
  fakeTmp = mkdtempSync(join(tmpdir(), 'tee-verify-s16-npm-chat-'));
  state = join(fakeTmp, 'simulated-tee.json');
  writeFileSync(state, JSON.stringify(simulated.exportState()));
  const mrTd = await mrTdOf(simulated);
  goodPolicy = join(fakeTmp, 'mine.json');
  writeFileSync(goodPolicy, JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
  demoPolicy = join(fakeTmp, 'demo-policy.json');
  writeFileSync(demoPolicy, JSON.stringify({ tee: 'tdx', mrTd: ['07'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
  const demoDir = join(fakeTmp, 'tee-verify-gateway-demo');
  mkdirSync(demoDir);
  writeFileSync(join(demoDir, 'connection.json'), JSON.stringify({ gateway: h.gateway.url, policy: demoPolicy, simulatedState: state, token: h.token }));
}, 60_000);
afterAll(async () => {
  await h?.close();
  if (fakeTmp) rmSync(fakeTmp, { recursive: true, force: true });
});

function npmChat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, 'scripts', 'chat.js'), ...args],
      { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: fakeTmp, TMPDIR: fakeTmp }, timeout: 60_000 },
      (err, stdout, stderr) => done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe("npm run chat: the demo's defaults only for options the user did not give (s16 change review #4)", () => {
  it('no option: the demo policy applies (it pins another MRTD: refused, exit 1)', async () => {
    const r = await npmChat(['--prompt', 'hi', '--json']);
    expect(r.stderr).not.toContain('given twice');
    expect(r.code).toBe(1);
  });

  it.each([
    ['--policy mine.json', () => ['--policy', goodPolicy]],
    ['--policy=mine.json', () => [`--policy=${goodPolicy}`]],
    ['--policy mine.json --simulated-state s.json', () => ['--policy', goodPolicy, '--simulated-state', state]],
    ['--simulated-state=s.json --policy=mine.json', () => [`--simulated-state=${state}`, `--policy=${goodPolicy}`]],
  ] as const)('%s: the user\'s option, once, exit 0', async (_name, extra) => {
    const r = await npmChat([...extra(), '--prompt', 'hi there', '--json']);
    expect(r.stderr).not.toContain('given twice');
    expect(r.stdout).not.toContain('ERR_USAGE');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
  });

  it('an option really given twice by the user is still a usage error (exit 2)', async () => {
    const r = await npmChat(['--policy', goodPolicy, '--policy', demoPolicy, '--prompt', 'x', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('--policy given twice');
  });

  it('--help alone: the usage, exit 0', async () => {
    const r = await npmChat(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tee-verify chat --gateway URL --policy FILE');
  });
});
