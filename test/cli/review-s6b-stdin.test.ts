/**
 * Review, session 6 (second round): `-` named for two inputs
 * (`tee-verify verify - --policy - < p.txt`) left the second read waiting for
 * an 'end' that had already happened: Node exited 13 with no message.
 * Standard input is read once; a second `-` is a usage error (exit 2), and a
 * stream that has ended already reads as empty at once.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UsageError } from '../../src/cli/errors.js';
import { INPUT_LIMITS, readStreamInput } from '../../src/cli/files.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'tee-verify.js');
let dir = '';

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'index.js'))) throw new Error('dist/ is missing: build with "npx tsc -p tsconfig.json"');
  dir = mkdtempSync(join(tmpdir(), 'tee-verify-s6b-stdin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('standard input named twice (review s6b)', () => {
  it('verify - --policy - < file: exit 2 naming both roles, not a silent exit 13', () => {
    const file = join(dir, 'p.txt');
    writeFileSync(file, 'x\n');
    const fd = openSync(file, 'r');
    try {
      const r = spawnSync(process.execPath, [BIN, 'verify', '-', '--policy', '-'], { cwd: ROOT, encoding: 'utf8', stdio: [fd, 'pipe', 'pipe'], timeout: 60_000 });
      expect(r.stderr).toContain('--policy -: standard input is already read as the evidence file');
      expect(r.status).toBe(2);
    } finally {
      closeSync(fd);
    }
  });

  it('verify - --trust-root - from a pipe: exit 2', () => {
    const r = spawnSync(process.execPath, [BIN, 'verify', '-', '--trust-root', '-'], { cwd: ROOT, encoding: 'utf8', input: 'x\n', timeout: 60_000 });
    expect(r.stderr).toContain('only one input can be "-"');
    expect(r.status).toBe(2);
  });

  it('a stream that has ended already reads as empty at once; a second read of it is refused', async () => {
    const stream = new PassThrough();
    stream.end('abc');
    expect(Buffer.from(await readStreamInput(stream, 'evidence file', INPUT_LIMITS.evidence)).toString()).toBe('abc');
    expect(stream.readableEnded).toBe(true);
    await expect(readStreamInput(stream, '--policy', INPUT_LIMITS.document)).rejects.toThrow(/already read as the evidence file/);

    const consumed = new PassThrough();
    consumed.resume();
    consumed.end();
    await new Promise((r) => consumed.once('end', r));
    const err = await readStreamInput(consumed, '--policy', INPUT_LIMITS.document).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe('ERR_INPUT');
    expect((err as Error).message).toMatch(/is empty/);
  });
});
