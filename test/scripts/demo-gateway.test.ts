/**
 * The README's attested-chat flow in fresh processes: `npm run demo:gateway`
 * (scripts/demo-gateway.js) keeps a fake backend and the gateway running, and
 * `npm run chat` (scripts/chat.js) attests it and chats; `--once` is the
 * scripted single run.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

describe.skipIf(!existsSync(join(root, 'dist', 'gateway', 'index.js')))('demo:gateway', () => {
  it('--once: attests the gateway, checks the binding to its TLS key, then chats over the pinned connection', () => {
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'demo-gateway.js'), '--once'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(out).toContain('TCB status: UpToDate');
    expect(out).toContain('bound TLS key');
    expect(out).toContain('demo:gateway: OK');
  }, 150_000);

  it('the two README commands: demo:gateway keeps running, chat verifies it and gets an answer', async () => {
    const demo = spawn(process.execPath, [join(root, 'scripts', 'demo-gateway.js')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let printed = '';
      await new Promise<void>((ready, fail) => {
        demo.stdout.on('data', (d: Buffer) => {
          printed += d.toString();
          if (printed.includes('npm run chat')) ready();
        });
        demo.once('exit', (code) => fail(new Error(`demo exited with ${code}: ${printed}`)));
      });
      const chat = await run(process.execPath, [join(root, 'scripts', 'chat.js'), '--prompt', 'hello from the test'], { cwd: root, timeout: 60_000 });
      const out = chat.stdout + chat.stderr;
      expect(out).toContain('UpToDate');
      expect(out).toContain('hello from the test');
    } finally {
      demo.kill('SIGINT');
      await new Promise((done) => (demo.exitCode !== null ? done(undefined) : demo.once('exit', done)));
    }
  }, 150_000);
});
