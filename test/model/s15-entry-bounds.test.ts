/**
 * s15 red team, model finding 1 (medium): a hostile encryption-config.json hung `load` before the
 * broker was contacted. Each entry was split on "/" and every tail was tried on disk: O(n²) array
 * work plus one lstat per directory component of each tail (O(n·depth) against a real a/a/… chain
 * in the model directory), with no bound on the entry. A 100 KB list kept the TEE at 100 % CPU for
 * about an hour; 1 MiB for about ten.
 *
 * Now an entry longer than PATH_MAX (4096 bytes) or of more than 256 segments is ERR_MODEL_CONFIG
 * (`details.reason: "entry-too-long"`) before anything is looked up, its message quotes at most 200
 * characters of it, and the longest tail is found in one pass against the files the directory
 * listing already holds. The sizes below took minutes to hours before (no timed assertion: on the
 * code before, each of these tests runs into the suite's timeout).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { MAX_ENTRY_BYTES, MAX_ENTRY_SEGMENTS, resolveListedEntry } from '../../src/model/entries.js';
import { checkDirectoryListing, decryptDirectory, encryptFile } from '../../src/model/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-entries-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const list = (root: string, files: string[]): Promise<void> => writeFile(join(root, 'encryption-config.json'), JSON.stringify({ kbs: '', kbs_url: '', key_id: '', files }));

/** A model directory with a real directory chain a/a/…/a of `depth` levels (the host writes it). */
async function withChain(name: string, depth: number): Promise<string> {
  const root = join(dir, name);
  await mkdir(join(root, ...Array<string>(depth).fill('a')), { recursive: true });
  return root;
}

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} } };
}

describe('s15 finding 1: entry resolution is bounded and linear', () => {
  it('1000 entries of 255 segments against a 254-deep real chain, each resolving only at its last segment, all resolve (before: ~32 000 lstat calls each)', async () => {
    const root = await withChain('deep', 254);
    const prefix = `${Array<string>(254).fill('a').join('/')}/`;
    const names = Array.from({ length: 1000 }, (_, i) => `x${i}.aes`);
    for (const n of names) await writeFile(join(root, n), 'c');
    await list(root, names.map((n) => prefix + n));
    const { entries } = await checkDirectoryListing(root);
    expect(entries).toEqual(names);
  });

  it('a 1 MiB list of one 500 000-segment entry beside a 1000-deep chain is ERR_MODEL_CONFIG entry-too-long, quoting at most 200 characters of it', async () => {
    const root = await withChain('huge', 1000);
    const entry = `${'a/'.repeat(500_000)}x.aes`;
    await list(root, [entry]);
    const error = (await checkDirectoryListing(root).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code: string; message: string; details: Record<string, unknown> };
    expect(error).toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'entry-too-long' } });
    expect(error.message.length).toBeLessThan(600);
    expect(String(error.details['entry']).length).toBeLessThanOrEqual(200);
  });

  it('tee-model load refuses that list with exit 2 before any evidence or broker request', async () => {
    const root = await withChain('load', 1000);
    await list(root, [`${'a/'.repeat(500_000)}x.aes`]);
    const { out, io: cliIo } = io();
    const code = await run(['load', '--kbs', 'https://127.0.0.1:9/', '--key-id', 'k', '-i', root, '-o', join(dir, 'out'), '--provider', 'simulated', '--simulated-state', join(dir, 'state.json')], cliIo);
    expect(code).toBe(2);
    expect(out.stderr).toMatch(/ERR_MODEL_CONFIG: .*\b1000005 bytes, longer than a path/);
    expect(out.stderr.length).toBeLessThan(1000);
  });

  it(`more than ${MAX_ENTRY_SEGMENTS} segments or ${MAX_ENTRY_BYTES} bytes is refused; exactly the bounds still resolve`, async () => {
    const root = join(dir, 'bounds');
    await mkdir(root);
    await writeFile(join(root, 'x.aes'), 'c');
    const atSegments = `${'e/'.repeat(MAX_ENTRY_SEGMENTS - 1)}x.aes`;
    expect(await resolveListedEntry(root, atSegments)).toBe('x.aes');
    await expect(resolveListedEntry(root, `e/${atSegments}`)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'entry-too-long', segments: MAX_ENTRY_SEGMENTS + 1 } });
    const atBytes = `${'e'.repeat(MAX_ENTRY_BYTES - 6)}/x.aes`;
    expect(await resolveListedEntry(root, atBytes)).toBe('x.aes');
    await expect(resolveListedEntry(root, `é${atBytes.slice(1)}`)).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG', details: { reason: 'entry-too-long', bytes: MAX_ENTRY_BYTES + 1 } });
  });

  it('a missing entry deep in a real chain is still ERR_MODEL_MISSING_FILE, one through a linked directory ERR_MODEL_CONFIG, and a model still decrypts', async () => {
    const root = await withChain('m', 3);
    const key = randomBytes(32);
    const plain = join(dir, 'w.bin');
    await writeFile(plain, 'weights');
    await encryptFile(plain, join(root, 'a', 'a', 'w.bin.aes'), key);
    await list(root, ['enc/a/a/w.bin.aes']);
    expect((await checkDirectoryListing(root)).entries).toEqual(['a/a/w.bin.aes']);
    await decryptDirectory(root, join(dir, 'out'), key);
    await expect(resolveListedEntry(root, 'a/a/a/absent.aes')).rejects.toMatchObject({ code: 'ERR_MODEL_MISSING_FILE' });
    await symlink(join(root, 'a'), join(root, 'link'));
    await expect(resolveListedEntry(root, 'link/a/w.bin.aes')).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG' });
  });
});
