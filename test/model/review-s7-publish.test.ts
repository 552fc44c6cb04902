/**
 * Review s7, second round, model item 9: two loads into one -o at once. The
 * second run moves the previous output aside; if another run publishes into
 * -o before the second rename, neither the new output nor the previous one
 * can be moved there, and the previous output stays at its ".old" path. The
 * error must say where it is. The interleaving is produced by wrapping
 * rename: just before the staging directory is renamed to -o, another
 * "run" publishes there.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, rename: vi.fn(actual.rename) };
});

const key = randomBytes(32);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7-publish-'));
});
afterEach(async () => {
  vi.mocked(fsp.rename).mockReset();
  await rm(dir, { recursive: true, force: true });
});

async function encryptedModel(name: string, files: Record<string, string>): Promise<string> {
  const plain = join(dir, `${name}-plain`);
  await mkdir(plain);
  for (const [f, c] of Object.entries(files)) await writeFile(join(plain, f), c);
  const enc = join(dir, name);
  await encryptDirectory(plain, enc, key);
  return enc;
}

describe('review s7 round 2: a previous output that cannot be put back is named', () => {
  it('another run publishes into -o between the two renames: ERR_MODEL_IO whose message and details.previousOutput give the .old path, which holds the previous output', async () => {
    const encA = await encryptedModel('encA', { 'weights.bin': 'A-weights' });
    const encB = await encryptedModel('encB', { 'weights.bin': 'B-weights' });
    const out = join(dir, 'out');
    await decryptDirectory(encA, out, key);
    const actual = await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
    vi.mocked(fsp.rename).mockImplementation(async (from, to) => {
      if (String(to) === out && String(from).includes('.out.staging-')) {
        // The concurrent run's output lands first.
        await mkdir(out, { recursive: true });
        await writeFile(join(out, 'weights.bin'), 'C-weights');
      }
      return actual.rename(from, to);
    });
    const e = (await decryptDirectory(encB, out, key).catch((x: unknown) => x)) as { code?: string; message: string; details: Record<string, unknown> };
    expect(e.code).toBe('ERR_MODEL_IO');
    const aside = e.details['previousOutput'];
    expect(typeof aside).toBe('string');
    expect(String(aside)).toMatch(/\/\.out\.old-[^/]+\.pidns-[^/]+\.\d+-[0-9a-f]{12}$/); // the staging identity since review s11
    expect(e.message).toContain(String(aside));
    expect(await readFile(join(String(aside), 'weights.bin'), 'utf8')).toBe('A-weights');
    expect(await readFile(join(out, 'weights.bin'), 'utf8')).toBe('C-weights');
    // The new run's staging directory is gone; the previous output is where the error says.
    expect((await readdir(dir)).filter((n) => n.includes('.staging-'))).toEqual([]);
    expect(existsSync(String(aside))).toBe(true);
  });
});
