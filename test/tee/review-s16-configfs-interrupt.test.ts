/**
 * Review s16 (providers red team) finding 2: an interrupted tee-model (SIGTERM / SIGINT while the
 * kernel makes a report; the TDX driver waits up to 30 s for the host's GetQuote) left its
 * configfs-tsm report instance behind for good: the instance was removed only by getEvidence's own
 * path, which a signal does not unwind.
 *
 * Now every instance is registered with the interrupt clean-up (src/model/interrupt-cleanup.ts,
 * which bin/tee-model.js installs) while it exists, removed synchronously (TsmFs.rmdirSync) before
 * the signal ends the process; close() (the gateway's shutdown, also through the vTPM provider)
 * removes those still open; and the first instance a provider makes is preceded by a sweep of dead
 * runs' instances, only those provably ours: this prefix, this pid namespace, a pid nobody has.
 *
 * The child-process test runs the built provider (dist/), like the other child-process suites.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigfsTsmProvider, nodeTsmFs, Tpm2ToolsVtpmProvider, type TsmFs } from '../../src/tee/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const built = existsSync(join(repo, 'dist/tee/index.js')) && existsSync(join(repo, 'dist/model/cli.js'));
if (!built) console.warn('[tee-verify tests] review-s16-configfs-interrupt child-process case SKIPPED: dist/ is not built (npm run build)');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s16-configfs-interrupt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A TsmFs over a real directory whose instances stay empty (so node's own rmdir / rmdirSync remove
 * them, as configfs's do): the attributes are answered in memory; `outblob` calls `onOutblob`.
 */
function memoryAttributes(onOutblob: (instance: string) => Promise<Uint8Array>): TsmFs {
  const generation = new Map<string, number>();
  return {
    ...nodeTsmFs,
    readFile: async (p) => {
      const attr = basename(p);
      if (attr === 'provider') return Buffer.from('tdx_guest\n');
      if (attr === 'generation') return Buffer.from(`${generation.get(dirname(p)) ?? 0}\n`);
      if (attr === 'outblob') return onOutblob(dirname(p));
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    },
    writeFile: async (p) => {
      generation.set(dirname(p), (generation.get(dirname(p)) ?? 0) + 1);
    },
  };
}

const CHILD = `
const [, , repo, root] = process.argv;
const { installInterruptCleanup } = await import(repo + '/dist/model/cli.js');
const { ConfigfsTsmProvider, nodeTsmFs } = await import(repo + '/dist/tee/index.js');
const { basename, dirname } = await import('node:path');
installInterruptCleanup(); // as bin/tee-model.js does
const gen = new Map();
const fs = {
  ...nodeTsmFs,
  readFile: async (p) => {
    const attr = basename(p);
    if (attr === 'provider') return Buffer.from('tdx_guest\\n');
    if (attr === 'generation') return Buffer.from((gen.get(dirname(p)) ?? 0) + '\\n');
    // The driver waiting for the host's GetQuote: the parent interrupts us here.
    process.stdout.write('waiting ' + dirname(p) + '\\n');
    return new Promise((resolve) => setTimeout(() => resolve(new Uint8Array(0)), 600000));
  },
  writeFile: async (p) => { gen.set(dirname(p), (gen.get(dirname(p)) ?? 0) + 1); },
};
await new ConfigfsTsmProvider({ root, fs }).getEvidence(new Uint8Array(64));
`;

describe('review s16 providers #2: an interrupted run removes its configfs-tsm instance', () => {
  it.skipIf(!built)('SIGTERM while the report is being made: the process ends by the signal and the instance is gone', async () => {
    const root = join(dir, 'sigterm');
    await mkdir(root);
    const script = join(dir, 'child.mjs');
    await writeFile(script, CHILD);
    const child = spawn(process.execPath, [script, repo, root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
    const instance = await new Promise<string>((resolveWaiting, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^waiting (.+)$/m.exec(out);
        if (m) resolveWaiting(m[1]!);
      });
      child.on('close', () => reject(new Error(`the child ended before its report: ${stderr}`)));
    });
    expect(dirname(instance)).toBe(root);
    expect(await readdir(root)).toEqual([basename(instance)]);
    child.kill('SIGTERM');
    expect(await closed).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await readdir(root)).toEqual([]);
  });

  it('close() removes the instances of requests still in flight and refuses later requests; through the vTPM provider too', async () => {
    for (const viaVtpm of [false, true]) {
      const root = join(dir, `close-${String(viaVtpm)}`);
      await mkdir(root);
      let reached!: () => void;
      const atOutblob = new Promise<void>((r) => (reached = r));
      let release!: (b: Uint8Array) => void;
      const fs = memoryAttributes(() => {
        reached();
        return new Promise((r) => (release = r));
      });
      const warnings: string[] = [];
      const configfs = new ConfigfsTsmProvider({ root, fs, onWarning: (m) => warnings.push(m) });
      const provider = viaVtpm ? new Tpm2ToolsVtpmProvider({ hardware: configfs, run: async () => Buffer.alloc(0) }) : configfs;
      const inFlight = provider.getEvidence(new Uint8Array(64)).then(
        () => 'served',
        (e: { code?: string }) => e.code,
      );
      await atOutblob;
      expect(await readdir(root)).toHaveLength(1);
      await provider.close();
      expect(await readdir(root)).toEqual([]);
      release(new Uint8Array(0));
      expect(await inFlight).toBe('ERR_TSM_IO');
      await expect(provider.getEvidence(new Uint8Array(64))).rejects.toMatchObject({ code: 'ERR_TSM_PROVIDER' });
      expect(await readdir(root)).toEqual([]);
      expect(warnings).toEqual([]);
    }
  });

  it('the first instance is preceded by a sweep of dead runs\' instances: only this prefix, this pid namespace and a pid nobody has', async () => {
    const ns = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
    expect(ns).toMatch(/^\d+$/);
    const root = join(dir, 'sweep');
    await mkdir(root);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has just ended
    const hex = () => randomBytes(8).toString('hex');
    const removed = [`tee-model-pidns${ns}-${dead}-${hex()}`];
    const kept = [
      `tee-model-pidns${ns}-${process.pid}-${hex()}`, // this process (another provider of it may be at work)
      `tee-model-pidns${ns}-${process.ppid}-${hex()}`, // a live process
      `tee-model-pidns1${ns}-${dead}-${hex()}`, // another pid namespace: its pids mean nothing here
      `tee-model-${dead}-${hex()}`, // an earlier version's name: no namespace to judge the pid by
      `other-pidns${ns}-${dead}-${hex()}`, // another prefix
      `tee-model-pidns${ns}-${dead}-${hex()}x`, // not our shape
    ];
    for (const name of [...removed, ...kept]) await mkdir(join(root, name));
    const provider = new ConfigfsTsmProvider({ root, fs: memoryAttributes(async () => new Uint8Array(0)) });
    expect(await provider.detectTee()).toBe('tdx');
    expect((await readdir(root)).sort()).toEqual([...kept].sort());
    // Its own instance, on the way: named with the pid namespace and its pid, and removed.
    const seen: string[] = [];
    const fs: TsmFs = { ...memoryAttributes(async () => new Uint8Array(0)), mkdir: async (p) => (seen.push(basename(p)), nodeTsmFs.mkdir(p)) };
    await new ConfigfsTsmProvider({ root, fs }).detectTee();
    expect(seen).toEqual([expect.stringMatching(new RegExp(`^tee-model-pidns${ns}-${process.pid}-[0-9a-f]{16}$`))]);
    expect((await readdir(root)).sort()).toEqual([...kept].sort());
  });

  it('the default file operations can remove an instance synchronously and list the root', () => {
    expect(typeof nodeTsmFs.rmdirSync).toBe('function');
    expect(typeof nodeTsmFs.readdir).toBe('function');
  });
});

