/**
 * Review s7, findings 2 and 3: where decrypted files go.
 *
 * (2) A listed entry "...aes", ".aes" or "sub/...aes" has the output name
 * "..", "" or "sub/..": the temporary plaintext was created beside the
 * output's parent and renamed onto it. Such entries are ERR_MODEL_CONFIG, and
 * every output path is checked to stay inside the output before writing.
 * (3) A failed run left the files decrypted before the failure published, and
 * a second run into the same output mixed models under different keys. Files
 * are now decrypted into a staging directory beside the output, which
 * replaces the output only once every tag verified; an existing non-empty
 * output is replaced only when it is a previous output (marker file).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';
import { OUTPUT_MARKER } from '../../src/model/staging.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
let dir: string;

const MODEL_A = { 'config.json': 'A-config', 'tokenizer.json': 'A-tokenizer', 'weights.bin': 'A-weights' };
const MODEL_B = { 'config.json': 'B-config', 'tokenizer.json': 'B-tokenizer', 'weights.bin': 'B-weights' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7-output-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function encryptModel(name: string, files: Record<string, string>, key: Buffer): Promise<string> {
  const plain = join(dir, `${name}-plain`);
  await mkdir(plain);
  for (const [f, c] of Object.entries(files)) await writeFile(join(plain, f), c);
  const enc = join(dir, name);
  await encryptDirectory(plain, enc, key);
  return enc;
}

/** Every path under `root`, relative, sorted (to see what a run left behind anywhere). */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      out.push(relative(root, join(d, e.name)));
      if (e.isDirectory()) await walk(join(d, e.name));
    }
  };
  await walk(root);
  return out.sort();
}

async function contentsOf(out: string): Promise<Record<string, string>> {
  const r: Record<string, string> = {};
  for (const f of (await readdir(out)).sort()) r[f] = await readFile(join(out, f), 'utf8');
  return r;
}

async function setList(enc: string, files: string[]): Promise<void> {
  const p = join(enc, 'encryption-config.json');
  const cfg = JSON.parse(await readFile(p, 'utf8')) as { files: string[] };
  cfg.files = files;
  await writeFile(p, JSON.stringify(cfg));
}

async function tamperLastByte(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  const { size } = await fh.stat();
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, size - 1);
  b[0] = b[0]! ^ 0x01;
  await fh.write(b, 0, 1, size - 1);
  await fh.close();
}

describe('entries whose output name is "..", "" or "<dir>/.." (finding 2)', () => {
  for (const entry of ['...aes', '.aes', 'sub/...aes']) {
    it(`${JSON.stringify(entry)} is ERR_MODEL_CONFIG and nothing is written outside -o`, async () => {
      const enc = await encryptModel('enc', { 'weights.bin': 'W'.repeat(1000) }, keyA);
      await mkdir(join(enc, 'sub'));
      await copyFile(join(enc, 'weights.bin.aes'), join(enc, ...entry.split('/')));
      await rm(join(enc, 'weights.bin.aes'));
      await setList(enc, [entry]);
      const parent = join(dir, 'srv', 'model');
      await mkdir(parent, { recursive: true });
      const out = join(parent, 'out');
      const before = await tree(dir);
      await expect(decryptDirectory(enc, out, keyA)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
      expect(await tree(dir)).toEqual(before);
    });
  }
});

describe('staged output: all or nothing, replaced whole (finding 3)', () => {
  it('a tampered last file leaves a new -o absent, with no staging directory or plaintext anywhere', async () => {
    const enc = await encryptModel('encB', MODEL_B, keyB);
    await tamperLastByte(join(enc, 'weights.bin.aes'));
    const before = await tree(dir);
    await expect(decryptDirectory(enc, join(dir, 'out'), keyB)).rejects.toMatchObject({ code: 'ERR_MODEL_AUTH_FAILED' });
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(await tree(dir)).toEqual(before);
  });

  it('a tampered last file leaves a previous output exactly as it was', async () => {
    const encA = await encryptModel('encA', MODEL_A, keyA);
    const encB = await encryptModel('encB', MODEL_B, keyB);
    const out = join(dir, 'out');
    await decryptDirectory(encA, out, keyA);
    const previous = await contentsOf(out);
    await tamperLastByte(join(encB, 'weights.bin.aes'));
    const before = await tree(dir);
    await expect(decryptDirectory(encB, out, keyB)).rejects.toMatchObject({ code: 'ERR_MODEL_AUTH_FAILED' });
    expect(await contentsOf(out)).toEqual(previous);
    expect(await tree(dir)).toEqual(before);
  });

  it('a second load of another model replaces the first: no stale file of the earlier model remains', async () => {
    const encA = await encryptModel('encA', MODEL_A, keyA);
    const encB = await encryptModel('encB', MODEL_B, keyB);
    // The host drops tokenizer.json from B (list and file): A's tokenizer must not stay beside B's files.
    await setList(encB, ['config.json.aes', 'weights.bin.aes']);
    await rm(join(encB, 'tokenizer.json.aes'));
    const out = join(dir, 'out');
    await decryptDirectory(encA, out, keyA);
    const r = await decryptDirectory(encB, out, keyB);
    expect(r.files.map((f) => relative(out, f.output)).sort()).toEqual(['config.json', 'weights.bin']);
    const left = await contentsOf(out);
    expect(Object.keys(left).sort()).toEqual([OUTPUT_MARKER, 'config.json', 'weights.bin']);
    expect(left['config.json']).toBe('B-config');
    expect(left['weights.bin']).toBe('B-weights');
    expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]); // no staging or set-aside directory left
  });

  it('a non-empty -o that is not a previous output is refused and left untouched', async () => {
    const encA = await encryptModel('encA', MODEL_A, keyA);
    const out = join(dir, 'home');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'mine');
    await expect(decryptDirectory(encA, out, keyA)).rejects.toMatchObject({ code: 'ERR_MODEL_OUTPUT', details: { reason: 'not-empty' } });
    expect(await contentsOf(out)).toEqual({ 'notes.txt': 'mine' });
  });

  it('`tee-model load` refuses such an -o before the broker or the TEE is asked (exit 2)', async () => {
    const encA = await encryptModel('encA', MODEL_A, keyA);
    const out = join(dir, 'home');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'mine');
    let stderr = '';
    const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', encA, '-o', out, '--configfs-root', join(dir, 'no-tsm')], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
    });
    expect(stderr).toMatch(/ERR_MODEL_OUTPUT/);
    expect(code).toBe(2);
    expect(await contentsOf(out)).toEqual({ 'notes.txt': 'mine' });
  });
});
