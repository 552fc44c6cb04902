/**
 * Python interop: Debian's /usr/bin/python3 with python3-cryptography and
 * python3-requests runs test/kbs/client.py (CNAP / loader protocol) against
 * the broker over HTTPS. The Node side plays the TEE: it reads the
 * REPORTDATA the client asks for and answers with a synthetic TDX quote.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { quoteFor, registerKey, startHarness, transferPath, type Harness } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'client.py');
const probe = existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import cryptography, requests'], { stdio: 'pipe' }) : undefined;
const pythonReady = probe?.status === 0;
if (!pythonReady) {
  console.warn(`SKIPPED test/kbs/interop.test.ts: ${PYTHON} lacks python3-cryptography / python3-requests (.ci/run installs them)`);
}

let h: Harness;
let keyId: string;
const material = randomBytes(32);

beforeAll(async () => {
  if (!pythonReady) return;
  h = await startHarness();
  keyId = await registerKey(h, material);
}, 60_000);
afterAll(async () => h?.close());

function runClient(args: string[], quoteBody: (reportData: Buffer) => Buffer): Promise<{ code: number; lines: string[]; stderr: string }> {
  const child = spawn(PYTHON, [script, `${h.broker.url}${transferPath(keyId)}`, '--ca', `${h.db}.tls-cert.pem`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    const m = /^REPORT_DATA ([0-9a-f]{128})$/.exec(line);
    if (m) child.stdin.end(`${quoteBody(Buffer.from(m[1] as string, 'hex')).toString('base64')}\n`);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, lines, stderr })));
}

describe.skipIf(!pythonReady)('Python client (CNAP / confidential-ai-loader protocol)', () => {
  it('without a nonce: REPORTDATA = SHA-512(DER SPKI); the client unwraps the key', async () => {
    const r = await runClient([], (rd) => quoteFor(h.platform, rd));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.lines.find((l) => l.startsWith('KEY '))).toBe(`KEY ${material.toString('base64')}`);
  }, 60_000);

  it('nonce mode: REPORTDATA = SHA-512(val ‖ iat ‖ DER SPKI); the client unwraps the key', async () => {
    const r = await runClient(['--nonce'], (rd) => quoteFor(h.platform, rd));
    expect(r.code).toBe(0);
    expect(r.lines.find((l) => l.startsWith('KEY '))).toBe(`KEY ${material.toString('base64')}`);
  }, 60_000);

  it('a quote bound to other data: the client is refused and gets no key', async () => {
    const r = await runClient([], () => quoteFor(h.platform, randomBytes(64)));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ERR_KBS_BINDING');
    expect(r.lines.some((l) => l.startsWith('KEY '))).toBe(false);
  }, 60_000);
});
