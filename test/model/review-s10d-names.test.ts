/**
 * Review s10 changes-d #3, #4: names `tee-model encrypt` accepted but our own decrypt / load could
 * not restore. A "\" in a file name (the loader reads it as a folder separator, as configs written on
 * Windows need) encrypted without a word and failed at load with ERR_MODEL_MISSING_FILE; a file
 * "foo" beside a folder "foo.aes" failed half-way with ERR_MODEL_OUTPUT after writing part of the
 * output. Both are refused with ERR_MODEL_CONFIG before anything is written.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function model(files: Record<string, Buffer>): Promise<{ input: string; output: string }> {
  const base = await mkdtemp(join(tmpdir(), 'tee-model-s10d-'));
  dirs.push(base);
  const input = join(base, 'in');
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(join(input, name, '..'), { recursive: true });
    await writeFile(join(input, name), bytes);
  }
  return { input, output: join(base, 'out') };
}
const key = randomBytes(32);
const refusal = async (p: Promise<unknown>) => {
  const e = (await p.then(() => undefined, (err: unknown) => err)) as { code?: string; details?: { reason?: string; entries?: string[] } } | undefined;
  return { code: e?.code, reason: e?.details?.reason, entries: e?.details?.entries };
};

describe('tee-model encrypt: names our loader could not restore', () => {
  it('a file name with a backslash is refused before anything is written', async () => {
    const { input, output } = await model({ 'config.json': Buffer.from('{}'), 'a\\b.bin': randomBytes(100) });
    expect(await refusal(encryptDirectory(input, output, key))).toEqual({ code: 'ERR_MODEL_CONFIG', reason: 'backslash-name', entries: ['a\\b.bin'] });
    expect(existsSync(output)).toBe(false);
  });

  it('a file whose encrypted name is also a folder is refused before anything is written', async () => {
    const { input, output } = await model({ foo: randomBytes(50), 'foo.aes/x.bin': randomBytes(50) });
    expect(await refusal(encryptDirectory(input, output, key))).toEqual({ code: 'ERR_MODEL_CONFIG', reason: 'name-collision', entries: ['foo'] });
    expect(existsSync(output)).toBe(false);
  });

  it('ordinary names, subfolders included, still round-trip', async () => {
    const files = { 'config.json': Buffer.from('{"a":1}'), 'sub/w.bin': randomBytes(300), 'foo': randomBytes(10) };
    const { input, output } = await model(files);
    await encryptDirectory(input, output, key);
    const restored = join(output, '..', 'restored');
    await decryptDirectory(output, restored, key);
    for (const name of Object.keys(files)) expect(existsSync(join(restored, name))).toBe(true);
  });
});
