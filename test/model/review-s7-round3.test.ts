/**
 * Review s7, third round, model items.
 *
 * (1) installInterruptCleanup was exported only from src/model/cli.ts, although the docs say a
 * library caller may install it: it is now part of the `tee-verify/model` entry.
 * (2) The sweep of dead runs' staging directories matched any name that began with the prefix and
 * a number: an operator's `.m.staging-<host>.4000000-backup-of-weights/` beside -o was removed
 * whole. Only mkdtemp's exact shape (`<pid>-` and six letters or digits) is swept now.
 * (3) Containers of one host that share its host name (hostNetwork, --uts=host) each have their own
 * pid namespace: a pid that is dead in one may be a live run in another. The pid namespace is in
 * the staging name now, and a run sweeps only its own host's and namespace's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as modelEntry from '../../src/model/index.js';
import { createStaging, discardStaging, stagingIdentity, sweepDeadStaging, type StagingIdentity } from '../../src/model/staging.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(join(root, 'dist', 'model', 'index.js'));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7-round3-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A pid that named a process a moment ago and names none now (until the kernel reuses it). */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid as number;

async function stagingLike(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { mode: 0o700 });
  await writeFile(join(path, 'weights.bin'), 'someone\'s data');
  return path;
}

describe('review s7 round 3 item 1: installInterruptCleanup is part of the tee-verify/model entry', () => {
  it('the source entry exports it', () => {
    expect(typeof (modelEntry as Record<string, unknown>).installInterruptCleanup).toBe('function');
  });

  it.skipIf(!built)("`import { installInterruptCleanup } from 'tee-verify/model'` installs and removes the signal listeners in a plain Node process", () => {
    const script = `
      import { installInterruptCleanup } from 'tee-verify/model';
      const before = process.listenerCount('SIGTERM');
      const uninstall = installInterruptCleanup();
      const installed = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
      uninstall();
      console.log(before, installed.join(','), process.listenerCount('SIGTERM'));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(out.trim()).toBe('0 1,1,1 0');
  });
});

describe('review s7 round 3 item 2: only names of mkdtemp\'s exact shape are swept', () => {
  it("an operator's `.out.staging-<host>.pidns-<ns>.<dead pid>-backup-of-weights` beside -o survives; a dead run's staging directory does not", async () => {
    const id = stagingIdentity();
    const dead = deadPid();
    const prefix = `.out.staging-${id.host}.pidns-${id.pidNamespace}.`;
    const operators = await Promise.all([
      stagingLike(`${prefix}${dead}-backup-of-weights`),
      stagingLike(`${prefix}${dead}-AbC12`), // five characters: not mkdtemp's
      stagingLike(`${prefix}${dead}-AbC1234`), // seven
      stagingLike(`${prefix}${dead}-AbC_12`),
    ]);
    const deadRun = await stagingLike(`${prefix}${dead}-AbC123`);
    expect(await sweepDeadStaging(join(dir, 'out'), id)).toEqual([deadRun]);
    for (const p of operators) expect(existsSync(join(p, 'weights.bin')), p).toBe(true);
  });

  it('the six characters createStaging gets from mkdtemp have the shape the sweep looks for', async () => {
    const id = stagingIdentity();
    const staging = await createStaging(join(dir, 'out'), id);
    try {
      const name = staging.path.slice(dir.length + 1);
      expect(name.startsWith(`.out.staging-${id.host}.pidns-${id.pidNamespace}.${process.pid}-`)).toBe(true);
      expect(name.slice(name.lastIndexOf('-') + 1)).toMatch(/^[A-Za-z0-9]{6}$/);
    } finally {
      await discardStaging(staging);
    }
  });
});

describe('review s7 round 3 item 3: the pid namespace is part of the staging name', () => {
  it('stagingIdentity: the inode number of /proc/self/ns/pid on Linux, "unknown" when it cannot be read, "none" elsewhere', () => {
    const proc = (link: string) => (path: string) => {
      expect(path).toBe('/proc/self/ns/pid');
      return link;
    };
    const noProc = (): string => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    expect(stagingIdentity(proc('pid:[4026531836]'), 'linux', 'node.a')).toEqual({ host: 'node_a', pidNamespace: '4026531836' });
    expect(stagingIdentity(noProc, 'linux', 'h')).toEqual({ host: 'h', pidNamespace: 'unknown' });
    expect(stagingIdentity(proc('something else'), 'linux', 'h').pidNamespace).toBe('unknown');
    expect(stagingIdentity(noProc, 'darwin', 'h').pidNamespace).toBe('none');
    if (process.platform === 'linux' && existsSync('/proc/self/ns/pid')) expect(stagingIdentity().pidNamespace).toMatch(/^\d+$/);
  });

  it("a run sweeps the dead staging directories of its own host and pid namespace only: another container's (same host name, other namespace) survives", async () => {
    const here: StagingIdentity = { host: 'shared-node', pidNamespace: '4026532001' };
    const dead = deadPid();
    const mine = await stagingLike(`.out.staging-shared-node.pidns-4026532001.${dead}-AbC123`);
    const otherContainer = await stagingLike(`.out.staging-shared-node.pidns-4026532999.${dead}-AbC123`);
    const live = await stagingLike(`.out.staging-shared-node.pidns-4026532001.1-XyZ789`); // pid 1 always exists
    expect(await sweepDeadStaging(join(dir, 'out'), here)).toEqual([mine]);
    expect(existsSync(otherContainer)).toBe(true);
    expect(existsSync(live)).toBe(true);
  });

  it('with the pid namespace unknown (Linux without /proc) nothing is swept', async () => {
    const dead = deadPid();
    const staging = await stagingLike(`.out.staging-shared-node.pidns-unknown.${dead}-AbC123`);
    expect(await sweepDeadStaging(join(dir, 'out'), { host: 'shared-node', pidNamespace: 'unknown' })).toEqual([]);
    expect(existsSync(staging)).toBe(true);
  });

  it('decryptDirectory (default identity) sweeps a dead staging directory of its own pid namespace, and names its own with it', async () => {
    const key = Buffer.alloc(32, 7);
    const plain = join(dir, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'a.txt'), 'hello');
    const enc = join(dir, 'enc');
    await modelEntry.encryptDirectory(plain, enc, key);
    const id = stagingIdentity();
    const deadRun = await stagingLike(`.out.staging-${id.host}.pidns-${id.pidNamespace}.${deadPid()}-AbC123`);
    await modelEntry.decryptDirectory(enc, join(dir, 'out'), key);
    expect(existsSync(deadRun)).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(['enc', 'out', 'plain']);
    const staging = await createStaging(join(dir, 'out2'));
    try {
      expect(staging.path.startsWith(join(dir, `.out2.staging-${id.host}.pidns-${id.pidNamespace}.${process.pid}-`))).toBe(true);
    } finally {
      await discardStaging(staging);
    }
  });
});
