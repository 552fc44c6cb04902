/**
 * Review s8 (new-user docs walk): the README's two-terminal gateway demo.
 * `npm run demo:gateway -- --once` in a second terminal used to delete the
 * directory whose connection.json the first demo's `npm run chat` reads.
 * Each child runs with its own TMPDIR so a real demo on this machine is never
 * touched, and the "running demo" is a fake one: a connection.json naming a
 * live 127.0.0.1 listener.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cli } from './helpers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const doc = (path: string): string => readFileSync(join(root, path), 'utf8');

function demo(args: string[], tmp: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    // The timeout only keeps a regression (a second demo that starts and keeps running) from hanging the suite.
    execFile(process.execPath, [join(root, 'scripts', 'demo-gateway.js'), ...args], { cwd: root, env: { ...process.env, TMPDIR: tmp }, timeout: 120_000 }, (error, out, err) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, out, err });
    });
  });
}

describe.skipIf(!existsSync(join(root, 'dist', 'gateway', 'index.js')))('review s8 docs #2: demo:gateway runs side by side', () => {
  let tmp: string;
  let listener: Server;
  let demoDir: string;
  let connection: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tee-verify-s8-demo-'));
    listener = createServer((socket) => socket.destroy());
    await new Promise<void>((ready) => listener.listen(0, '127.0.0.1', ready));
    const { port } = listener.address() as { port: number };
    demoDir = join(tmp, 'tee-verify-gateway-demo');
    mkdirSync(demoDir);
    connection = JSON.stringify({ gateway: `https://127.0.0.1:${port}`, policy: join(demoDir, 'policy.json'), simulatedState: join(demoDir, 'simulated-tee.json'), token: 'fake' });
    writeFileSync(join(demoDir, 'connection.json'), connection);
    writeFileSync(join(demoDir, 'simulated-tee.json'), 'first demo state');
  });

  afterAll(async () => {
    await new Promise((done) => listener.close(done));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('--once chats from a directory of its own and leaves the running demo\'s files intact', async () => {
    const r = await demo(['--once'], tmp);
    expect(r.out).toContain('demo:gateway: OK');
    expect(r.code).toBe(0);
    expect(readFileSync(join(demoDir, 'connection.json'), 'utf8')).toBe(connection);
    expect(readFileSync(join(demoDir, 'simulated-tee.json'), 'utf8')).toBe('first demo state');
    expect(readdirSync(tmp).filter((f) => f.startsWith('tee-verify-gateway-once-'))).toEqual([]); // its own directory is removed
  }, 150_000);

  it('a second long-running demo refuses to start while connection.json names a live listener', async () => {
    const r = await demo([], tmp);
    expect(r.code).toBe(2);
    expect(r.err).toContain('another demo is running');
    expect(readFileSync(join(demoDir, 'connection.json'), 'utf8')).toBe(connection);
    expect(readFileSync(join(demoDir, 'simulated-tee.json'), 'utf8')).toBe('first demo state');
  }, 150_000);
});

describe('review s8 docs #3, #9: chat exit 3 and verify --certs, help and docs alike', () => {
  it('chat --help and docs/gateway.md name every exit-3 cause that docs/cli.md names', async () => {
    const help = (await cli(['chat', '--help'])).stdout;
    const gateway = doc('docs/gateway.md').replace(/\s+/g, ' ');
    for (const cause of ['collateral unavailable', 'unreachable', '5xx', 'ERR_CHAT_UNAVAILABLE', '429', 'nothing about the gateway was judged']) {
      expect(help.replace(/\s+/g, ' '), `chat --help lacks ${cause}`).toContain(cause);
      expect(gateway, `docs/gateway.md lacks ${cause}`).toContain(cause);
    }
  });

  it('verify --help lists ASVK among the --certs certificates', async () => {
    const help = (await cli(['verify', '--help'])).stdout;
    expect(help).toMatch(/--certs <pem-file>\s+VCEK \/ VLEK \/ ASK \/ ASVK \/ ARK/);
  });
});

describe('review s8 docs #4: docs/batch.md is linked', () => {
  it('from the README and from the command table of docs/cli.md', () => {
    expect(doc('README.md')).toContain('](docs/batch.md)');
    const table = doc('docs/cli.md').split('## Exit codes')[0]!;
    expect(table).toMatch(/\| \[`batch [^|]*\]\(batch\.md\) \|/);
  });
});

describe('review s8 docs #7: scripts/generate-archive.js command line', () => {
  const script = join(root, 'scripts', 'generate-archive.js');
  const node = (args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((done) => {
      execFile(process.execPath, [script, ...args], { cwd: root }, (error, out, err) => done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err }));
    });

  it.skipIf(!existsSync(join(root, 'dist', 'testing', 'index.js')))('--help prints the usage and the record kinds, exit 0', async () => {
    const r = await node(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('usage: node scripts/generate-archive.js --records N --out <dir>');
    expect(r.out).toContain('unknown-platform 2 %');
    expect(r.err).toBe('');
  });

  it.skipIf(!existsSync(join(root, 'dist', 'testing', 'index.js')))('an unknown option is a one-line usage error, exit 2 (it used to crash with ERR_PARSE_ARGS_UNKNOWN_OPTION)', async () => {
    const r = await node(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.err).toBe("generate-archive: Unknown option '--bogus'; usage: node scripts/generate-archive.js --records N --out <dir> [--at <ISO>] [--seed <s>]\n");
    expect(r.out).toBe('');
  });
});
