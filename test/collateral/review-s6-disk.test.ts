/**
 * Review session 6, #4 and #5: the disk cache. A cache file is read only as
 * a regular file of ours of at most 4 MiB, opened without following links
 * and without blocking (a FIFO); anything else is ignored, removed, and the
 * artifact comes from the source. The directory must be ours and private.
 * A write that fails after a good fetch keeps the artifact (memory) with a
 * warning; a directory that cannot be used is a typed error at construction.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { ArtifactResolver, CollateralCache, type CollateralArtifact } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';

// Counts directory listings; everything else is the real node:fs.
const listings = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const readdirSync = ((...args: Parameters<typeof fs.readdirSync>) => {
    listings.count++;
    return fs.readdirSync(...args);
  }) as typeof fs.readdirSync;
  return { ...fs, default: { ...fs, readdirSync }, readdirSync };
});

const AT = new Date('2026-06-01T12:00:00Z');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const OTHER_UID = 54321;

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s6-disk-'));
  dirs.push(d);
  return d;
}

const platform = createSyntheticIntelPlatform({ tee: 'tdx', at: AT });
const genuine = platform.collateral.rootCaCrl!;
const prefixOf = (key: string) => createHash('sha256').update(key).digest('hex');
const entryName = (key: string, tail = '0123456789abcdef') => `${prefixOf(key)}-${tail}.json`;

/** The file name and text of a valid cache entry for `a`, as a cache writes it. */
function validEntry(a: CollateralArtifact): { name: string; text: string } {
  const dir = tempDir();
  new CollateralCache({ directory: dir }).put(a);
  const [name] = readdirSync(join(dir, 'v1'));
  return { name: name!, text: readFileSync(join(dir, 'v1', name!), 'utf8') };
}
const validEntryText = (a: CollateralArtifact): string => validEntry(a).text;

/** A resolver over `directory` whose source counts its fetches. */
function resolverOver(directory: string) {
  let fetches = 0;
  const resolver = new ArtifactResolver({ cache: new CollateralCache({ directory }) });
  const fetch = async () => {
    fetches++;
    return genuine;
  };
  return { resolver, fetch, fetches: () => fetches };
}

describe('cache files are trusted as files only when they are regular files of ours (review s6 #5)', () => {
  const planted: { name: string; plant: (file: string) => void; skip?: boolean }[] = [
    {
      name: 'a symbolic link to a valid entry elsewhere',
      plant: (file) => {
        const elsewhere = join(tempDir(), 'entry.json');
        writeFileSync(elsewhere, validEntryText(genuine));
        symlinkSync(elsewhere, file);
      },
    },
    {
      name: 'a symbolic link to /dev/zero',
      plant: (file) => symlinkSync('/dev/zero', file),
    },
    {
      name: 'a valid entry padded past 4 MiB',
      plant: (file) => writeFileSync(file, validEntryText(genuine) + ' '.repeat(4 * 1024 * 1024 + 1)),
    },
    {
      name: 'a valid entry owned by another user',
      skip: !isRoot,
      plant: (file) => {
        writeFileSync(file, validEntryText(genuine), { mode: 0o600 });
        chownSync(file, OTHER_UID, OTHER_UID);
      },
    },
  ];
  for (const p of planted) {
    it.skipIf(p.skip === true)(`${p.name}: ignored and removed, the artifact comes from the source`, async () => {
      const dir = tempDir();
      const { resolver, fetch, fetches } = resolverOver(dir);
      const file = join(dir, 'v1', entryName(genuine.key));
      p.plant(file);
      const r = await resolver.resolve(genuine.key, fetch, AT);
      expect(fetches()).toBe(1);
      expect(r.artifact.source.origin).toBe('bundle'); // the source's, not a cache file's
      expect(existsSync(file) || isLink(file)).toBe(false);
      // The fetched artifact was written as a proper entry.
      expect(readdirSync(join(dir, 'v1')).filter((n) => n.startsWith(prefixOf(genuine.key)))).toHaveLength(1);
    });
  }

  it('a valid entry of ours is still used (the checks do not refuse the normal case)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'placeholder'), ''); // the directory exists before the cache
    const { resolver, fetch, fetches } = resolverOver(dir);
    // Under the name a cache gives it: an entry named by another version is fetched again (review s8 #2).
    const entry = validEntry(genuine);
    writeFileSync(join(dir, 'v1', entry.name), entry.text, { mode: 0o600 });
    const r = await resolver.resolve(genuine.key, fetch, AT);
    expect(fetches()).toBe(0);
    expect(r.artifact.source.origin).toBe('cache');
  });

  it('a FIFO under the key: the lookup returns at once and removes it (a child process; a hang fails by the runner timeout)', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'v1'), { mode: 0o700 });
    const fifo = join(dir, 'v1', entryName(genuine.key));
    execFileSync('mkfifo', [fifo]);
    const cacheModule = await emitCacheModule();
    const script = `
      const { CollateralCache } = await import(${JSON.stringify(cacheModule)});
      const found = new CollateralCache({ directory: ${JSON.stringify(dir)} }).select(${JSON.stringify(genuine.key)}, new Date(${AT.getTime()}));
      console.log(JSON.stringify({ found: found !== undefined }));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: '{"found":false}' });
    expect(isLink(fifo) || existsSync(fifo)).toBe(false);
  });
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() || lstatSync(path).isFIFO();
  } catch {
    return false;
  }
}

/** Compiles src/collateral/cache.ts and its imports (plain TypeScript, node builtins only) for a child process. */
let emitted: string | undefined;
const emitDirs: string[] = [];
afterAll(() => emitDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
async function emitCacheModule(): Promise<string> {
  if (emitted) return emitted;
  const mod = await import('typescript');
  const ts = (mod as unknown as { default?: typeof mod }).default ?? mod; // CommonJS default under ESM
  const out = mkdtempSync(join(tmpdir(), 'tee-verify-s6-emit-'));
  emitDirs.push(out);
  const program = ts.createProgram([join(root, 'src', 'collateral', 'cache.ts')], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    outDir: out,
    rootDir: join(root, 'src'),
    noCheck: true,
    skipLibCheck: true,
    types: [],
  });
  program.emit();
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  emitted = join(out, 'collateral', 'cache.js');
  return emitted;
}

describe('the cache directory must be ours and private (review s6 #5)', () => {
  it('a group- or world-writable directory is refused with ERR_COLLATERAL_CACHE_DIR', () => {
    for (const mode of [0o777, 0o770, 0o722]) {
      const dir = tempDir();
      chmodSync(dir, mode);
      expect(() => new CollateralCache({ directory: dir })).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_CACHE_DIR', errorClass: 'ARGUMENT' }));
    }
  });

  it('a world-writable v1 inside a private directory is refused too', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'v1'));
    chmodSync(join(dir, 'v1'), 0o777);
    expect(() => new CollateralCache({ directory: dir })).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_CACHE_DIR' }));
  });

  it('v1 as a symbolic link is refused', () => {
    const dir = tempDir();
    symlinkSync(tempDir(), join(dir, 'v1'));
    expect(() => new CollateralCache({ directory: dir })).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_CACHE_DIR' }));
  });

  it.skipIf(!isRoot)('a directory owned by another user is refused', () => {
    const dir = tempDir();
    chownSync(dir, OTHER_UID, OTHER_UID);
    expect(() => new CollateralCache({ directory: dir })).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_CACHE_DIR' }));
  });

  it('a directory that cannot be created is a typed error, not a bare fs error (review s6 #4)', () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    expect(() => new CollateralCache({ directory: join(file, 'cache') })).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_CACHE_DIR', errorClass: 'ARGUMENT' }));
  });
});

describe('a failed cache write after a good fetch (review s6 #4)', () => {
  it('serves the fetched artifact with a warning and keeps it in memory', async () => {
    const dir = tempDir();
    const { resolver, fetch, fetches } = resolverOver(dir);
    rmSync(dir, { recursive: true }); // removed by a tmp cleaner, a full or read-only disk
    const first = await resolver.resolve(genuine.key, fetch, AT);
    expect(first.artifact).toBe(genuine);
    expect(first.warnings).toEqual([expect.stringContaining(`could not write ${genuine.key}`)]);
    const second = await resolver.resolve(genuine.key, fetch, AT);
    expect(second.artifact).toBe(genuine);
    expect(fetches()).toBe(1);
  });
});

describe('a miss does not list the directory (review s6 #1)', () => {
  it('2,000 misses on a disk cache list the directory once', () => {
    const dir = tempDir();
    const cache = new CollateralCache({ directory: dir });
    cache.put(genuine);
    listings.count = 0;
    for (let i = 0; i < 2000; i++) expect(cache.select(`intel/tcb-info/tdx/${i.toString(16).padStart(12, '0')}/update=standard`, AT)).toBeUndefined();
    expect(listings.count).toBeLessThanOrEqual(1);
    expect(cache.keyCount).toBe(1);
    // A new cache over the same directory (another process) still finds the entry.
    listings.count = 0;
    expect(new CollateralCache({ directory: dir }).select(genuine.key, AT)?.source.origin).toBe('cache');
    expect(listings.count).toBe(1);
  });
});
