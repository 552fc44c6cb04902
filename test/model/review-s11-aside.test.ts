/**
 * Review s11 #1: a decrypt / load killed (SIGKILL, OOM, power loss) while it replaces a previous
 * output left that output's plaintext in `.<name>.<pid>.<hex>.old` beside -o, and no later run
 * removed it or said so. The aside now carries the staging identity (host, pid namespace, pid:
 * `.<name>.old-<host>.pidns-<ns>.<pid>-<12 hex>`) and the next run's sweep handles a dead run's:
 * -o missing → moved back to -o; -o a tee-model output → deleted; otherwise named in a warning.
 * Old-style names are warned about.
 *
 * The kills are exact, not timed: the child (the CLI compiled fresh from src/ by fresh-cli.ts, never
 * a stale dist/, and never skipped; review s11 changes-a #6) preloads hang-at-swap.mjs, which stops
 * it for good at the chosen point of the swap and says so on stderr; the test then SIGKILLs it.
 *
 * Review s11 changes-a #3: an aside or staging directory the sweep cannot judge (another host's or
 * pid namespace's: every container start gets a new pid namespace) is named in a warning.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { run } from '../../src/model/cli.js';
import { decryptDirectory, encryptDirectory } from '../../src/model/index.js';
import { OUTPUT_MARKER, stagingIdentity, sweepDeadRuns, type StagingIdentity } from '../../src/model/staging.js';
import { buildFreshCli, type FreshCli } from './fresh-cli.js';

const here = dirname(fileURLToPath(import.meta.url));

const key = randomBytes(32);
const otherKey = randomBytes(32);
let dir: string;
let out: string;
let encA: string;
let encB: string;
let keyFile: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s11-aside-'));
  out = join(dir, 'work', 'out');
  encA = await encrypted('A');
  encB = await encrypted('B');
  keyFile = join(dir, 'model.key');
  await writeFile(keyFile, `${key.toString('base64')}\n`, { mode: 0o600 });
  await mkdir(join(dir, 'work'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Model `tag`: a few files in a subfolder, each holding its tag. */
async function encrypted(tag: string): Promise<string> {
  const plain = join(dir, `plain${tag}`);
  await mkdir(join(plain, 'sub'), { recursive: true });
  for (let i = 0; i < 20; i++) await writeFile(join(plain, 'sub', `f${i}.bin`), `model ${tag} file ${i}\n`);
  const enc = join(dir, `enc${tag}`);
  await encryptDirectory(plain, enc, key);
  return enc;
}

/** Which model the directory holds (the tag in its files), checking every file is there. */
async function modelIn(path: string): Promise<string> {
  const files = await readdir(join(path, 'sub'));
  expect(files).toHaveLength(20);
  return (await readFile(join(path, 'sub', 'f7.bin'), 'utf8')).split(' ')[1]!;
}

const besideOut = async (): Promise<string[]> => (await readdir(join(dir, 'work'))).sort();
const asides = async (): Promise<string[]> => (await besideOut()).filter((n) => n.includes('.old'));

/** Runs `tee-model decrypt encB -o out` in a child that stops at `at` of the swap, and SIGKILLs it there. Returns its pid. */
async function killDuringSwap(at: 'swap' | 'remove'): Promise<number> {
  const child = spawn(process.execPath, ['--import', join(here, 'hang-at-swap.mjs'), fresh.bin, 'decrypt', '-i', encB, '-o', out, '--key-file', keyFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...fresh.env, HANG_AT: at },
  });
  let stderr = '';
  const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, signal) => r(signal ?? code)));
  await new Promise<void>((reached, failed) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.split('\n').includes(at)) reached();
    });
    child.on('exit', () => failed(new Error(`the child ended before reaching "${at}": ${stderr}`)));
  });
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return child.pid!;
}

async function cli(argv: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await run(argv, { stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true) }, env: {} });
  return { code, err };
}

let fresh: FreshCli;

describe('a run killed while replacing a previous output (review s11 #1)', () => {
  beforeAll(() => {
    fresh = buildFreshCli();
  }, 180_000);
  afterAll(() => fresh?.remove());

  it('killed between the two renames: the aside carries host, pid namespace and pid; the next run moves it back to the missing -o (even when that run then fails)', async () => {
    await decryptDirectory(encA, out, key);
    const pid = await killDuringSwap('swap');
    const id = stagingIdentity();
    const [aside] = await asides();
    expect(aside).toMatch(new RegExp(`^\\.out\\.old-${id.host}\\.pidns-${id.pidNamespace}\\.${pid}-[0-9a-f]{12}$`));
    expect(existsSync(out)).toBe(false);
    expect(await modelIn(join(dir, 'work', aside!))).toBe('A');

    // A wrong key: the run fails, but the previous output is back at -o and nothing else is left.
    await writeFile(join(dir, 'other.key'), `${otherKey.toString('base64')}\n`, { mode: 0o600 });
    const failed = await cli(['decrypt', '-i', encB, '-o', out, '--key-file', join(dir, 'other.key')]);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/ERR_MODEL_AUTH_FAILED/);
    expect(await besideOut()).toEqual(['out']);
    expect(await modelIn(out)).toBe('A');
  });

  it('killed between the two renames, then a successful run: it says where the previous output came back from, and only the new output remains', async () => {
    await decryptDirectory(encA, out, key);
    await killDuringSwap('swap');
    const [aside] = await asides();
    const r = await cli(['decrypt', '-i', encB, '-o', out, '--key-file', keyFile]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`tee-model decrypt: warning: the previous output of a tee-model run killed while replacing ${out} was moved back there from ${join(dir, 'work', aside!)}`);
    expect(await besideOut()).toEqual(['out']);
    expect(await modelIn(out)).toBe('B');
  });

  it('killed while deleting the previous output (the new one in place, with its marker): the next run deletes the aside', async () => {
    await decryptDirectory(encA, out, key);
    await killDuringSwap('remove');
    expect(await modelIn(out)).toBe('B');
    expect(existsSync(join(out, OUTPUT_MARKER))).toBe(true);
    const [aside] = await asides();
    expect(await modelIn(join(dir, 'work', aside!))).toBe('A'); // the previous plaintext, left
    const r = await decryptDirectory(encA, out, key);
    expect(r.warnings).toEqual([]);
    expect(await besideOut()).toEqual(['out']);
    expect(await modelIn(out)).toBe('A');
  });

  it('killed between the renames and -o recreated empty by someone: the aside is kept and named in a warning', async () => {
    await decryptDirectory(encA, out, key);
    await killDuringSwap('swap');
    const [aside] = await asides();
    await mkdir(out);
    const r = await cli(['decrypt', '-i', encB, '-o', out, '--key-file', keyFile]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`tee-model decrypt: warning: ${join(dir, 'work', aside!)} holds the previous output of a tee-model run that was killed while replacing ${out} (it may hold decrypted model files)`);
    expect(r.err).toContain(`is not a tee-model output (no ${OUTPUT_MARKER})`);
    expect(await besideOut()).toEqual([aside, 'out']);
    expect(await modelIn(out)).toBe('B');
  });

  it('killed between the renames in the previous container (its own pid namespace): the next run keeps the aside and the staging directory and names both on stderr (review s11 changes-a #3)', async () => {
    await decryptDirectory(encA, out, key);
    const pid = await killDuringSwap('swap');
    const id = stagingIdentity();
    // What that run leaves under a namespace of its own: the same names with another pid namespace.
    const [aside] = await asides();
    const elsewhere = (name: string): string => name.replace(`.pidns-${id.pidNamespace}.`, '.pidns-4026532178.');
    const { rename } = await import('node:fs/promises');
    await rename(join(dir, 'work', aside!), join(dir, 'work', elsewhere(aside!)));
    await mkdir(join(dir, 'work', `.out.staging-${id.host}.pidns-4026532178.${pid}-gjO6Ih`));
    const r = await cli(['decrypt', '-i', encB, '-o', out, '--key-file', keyFile]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`tee-model decrypt: warning: ${join(dir, 'work', elsewhere(aside!))} is the previous output of a tee-model run replacing ${out} (it may hold decrypted model files); that run was on host ${id.host} in pid namespace 4026532178`);
    expect(r.err).toContain(`tee-model decrypt: warning: ${join(dir, 'work', `.out.staging-${id.host}.pidns-4026532178.${pid}-gjO6Ih`)} is the staging directory of a tee-model run writing ${out}`);
    expect(await besideOut()).toEqual([elsewhere(aside!), `.out.staging-${id.host}.pidns-4026532178.${pid}-gjO6Ih`, 'out'].sort());
    expect(await modelIn(join(dir, 'work', elsewhere(aside!)))).toBe('A');
    expect(await modelIn(out)).toBe('B');
  });
});

describe('sweepDeadRuns: whose asides it touches (review s11 #1)', () => {
  /** A pid that named a process a moment ago and names none now (until the kernel reuses it). */
  const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid as number;
  const id: StagingIdentity = { host: 'node-a', pidNamespace: '4026532001' };

  async function previousOutput(name: string): Promise<string> {
    const path = join(dir, 'work', name);
    await mkdir(path);
    await writeFile(join(path, OUTPUT_MARKER), '');
    await writeFile(join(path, 'weights.bin'), 'previous plaintext');
    return path;
  }

  it("a dead run's aside of this identity is deleted when -o is an output; a live process's is left alone silently; another host's, another pid namespace's and an odd-shaped one are left and each named in a warning (review s11 changes-a #3)", async () => {
    await decryptDirectory(encA, out, key);
    const dead = deadPid();
    const mine = await previousOutput(`.out.old-node-a.pidns-4026532001.${dead}-0123456789ab`);
    const live = await previousOutput('.out.old-node-a.pidns-4026532001.1-0123456789ab'); // pid 1 always exists
    const otherHost = await previousOutput(`.out.old-node-b.pidns-4026532001.${dead}-0123456789ab`);
    const otherNamespace = await previousOutput(`.out.old-node-a.pidns-4026532999.${dead}-0123456789ab`);
    const oddShape = await previousOutput(`.out.old-node-a.pidns-4026532001.${dead}-0123456789`); // ten hex digits: not our shape
    const report = await sweepDeadRuns(out, id);
    expect(report.removed).toEqual([mine]);
    for (const p of [live, otherHost, otherNamespace, oddShape]) expect(existsSync(p), p).toBe(true);
    expect(report.warnings).toHaveLength(3);
    const [w1, w2, w3] = report.warnings; // in name order
    expect(w2).toContain(`${otherNamespace} is the previous output of a tee-model run replacing ${out} (it may hold decrypted model files); that run was on host node-a in pid namespace 4026532999, whose processes this one (host node-a, pid namespace 4026532001) cannot see`);
    expect(w2).toContain(`check it and delete it, or move it back to ${out}`);
    expect(w1).toContain(`${oddShape} is the previous output`);
    expect(w1).toContain('in no shape tee-model writes');
    expect(w3).toContain(`${otherHost} is the previous output of a tee-model run replacing ${out} (it may hold decrypted model files); that run was on host node-b in pid namespace 4026532001`);
    expect(report.warnings.join('\n')).not.toContain(live);
  });

  it("another pid namespace's staging directory (a run in the previous container) is named in a warning and kept; a dead run's of this identity is deleted silently (review s11 changes-a #3)", async () => {
    await decryptDirectory(encA, out, key);
    const dead = deadPid();
    const stagingDir = async (name: string): Promise<string> => {
      const path = join(dir, 'work', name);
      await mkdir(path);
      await writeFile(join(path, 'weights.bin'), 'decrypted plaintext');
      return path;
    };
    const mine = await stagingDir(`.out.staging-node-a.pidns-4026532001.${dead}-AbC123`);
    const container = await stagingDir(`.out.staging-node-a.pidns-4026532178.1-gjO6Ih`);
    const report = await sweepDeadRuns(out, id);
    expect(report.removed).toEqual([mine]);
    expect(report.warnings).toEqual([
      `${container} is the staging directory of a tee-model run writing ${out} (it may hold decrypted model files); that run was on host node-a in pid namespace 4026532178, whose processes this one (host node-a, pid namespace 4026532001) cannot see (another container or machine sharing the file system), so it cannot tell whether that run is still alive, so this run leaves it: when no run is writing ${out} any more, delete it`,
    ]);
    expect(existsSync(container)).toBe(true);
  });

  it('an aside of an earlier version (.<name>.<pid>.<hex>.old) is named in a warning and kept, even with -o an output', async () => {
    await decryptDirectory(encA, out, key);
    const old = await previousOutput(`.out.${deadPid()}.c033b8b17f35.old`);
    const report = await sweepDeadRuns(out, id);
    expect(report.removed).toEqual([]);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toContain(`${old} holds the previous output of a tee-model run that was killed while replacing ${out}`);
    expect(report.warnings[0]).toContain('an earlier tee-model version');
    expect(existsSync(old)).toBe(true);
    // and through decryptDirectory, whose result carries the warning
    expect((await decryptDirectory(encB, out, key)).warnings).toEqual(report.warnings);
  });

  it('with the pid namespace unknown nothing is moved or deleted, and every aside and staging directory of this output is named', async () => {
    const dead = deadPid();
    const a = await previousOutput(`.out.old-node-a.pidns-unknown.${dead}-0123456789ab`);
    const b = await previousOutput(`.out.old-node-b.pidns-4026532001.${dead}-0123456789ab`);
    const c = join(dir, 'work', `.out.staging-node-a.pidns-unknown.${dead}-AbC123`);
    await mkdir(c);
    const report = await sweepDeadRuns(out, { host: 'node-a', pidNamespace: 'unknown' });
    expect(report.removed).toEqual([]);
    expect(report.restored).toBeUndefined();
    expect(report.warnings).toHaveLength(3);
    expect(report.warnings.join('\n')).toContain(a);
    expect(report.warnings.join('\n')).toContain(b);
    expect(report.warnings.join('\n')).toContain(`${c} is the staging directory of a tee-model run writing ${out}`);
    expect(existsSync(c)).toBe(true);
    expect(existsSync(out)).toBe(false);
  });
});
