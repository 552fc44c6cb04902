/**
 * Constant memory: a file of at least 1 GiB, generated on the fly in a child
 * process, is encrypted and decrypted by the streaming container code; the
 * child's peak RSS (getrusage maxrss, which covers the whole run) is reported
 * and must stay under a generous bound. Not a timing assertion. Needs dist/
 * (built by `npm ci` / `npx tsc`), like the batch suites.
 * TEE_MODEL_MEMORY_TEST_BYTES raises the size (never below 1 GiB).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const GIB = 1024 ** 3;
const SIZE = Math.max(GIB, Number(process.env['TEE_MODEL_MEMORY_TEST_BYTES'] ?? 0) || 0);
const BOUND = 200 * 1024 * 1024;
const built = existsSync(resolve(here, '../../dist/model/index.js'));

describe('streaming container in constant memory', () => {
  it.skipIf(!built)(`encrypts and decrypts a ${SIZE / GIB} GiB generated file with peak RSS under 200 MiB`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tee-model-mem-'));
    try {
      const child = spawn(process.execPath, [join(here, 'memory-child.mjs'), dir, String(SIZE)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const r = JSON.parse(stdout) as { size: number; encSize: number; identical: boolean; maxRssBytes: number; ms: Record<string, number> };
      console.log(`[constant-memory] ${(r.size / GIB).toFixed(2)} GiB: peak RSS ${(r.maxRssBytes / 1024 / 1024).toFixed(1)} MiB (bound 200 MiB); generate ${r.ms['generate']} ms, encrypt ${r.ms['encrypt']} ms, decrypt ${r.ms['decrypt']} ms`);
      expect(r.identical).toBe(true);
      expect(r.encSize).toBe(SIZE + 12 + 12 + 16);
      expect(r.maxRssBytes).toBeLessThan(BOUND);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
