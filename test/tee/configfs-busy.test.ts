/**
 * A busy, interrupted or timed-out report read (protocols.md §7: the TDX driver answers EBUSY while
 * the VMM owns a previous GetQuote, EINTR / ETIMEDOUT on interruption or timeout; EAGAIN alike) is
 * retryable: ERR_TSM_UNAVAILABLE, and `tee-model load` exits 3 ("retry later"), not 2 ("unusable
 * input"). Other read errors stay ERR_TSM_IO. Runs against the emulated configfs-tsm tree; the CLI
 * case reaches it through node:fs/promises, whose calls under a virtual root go to the emulator.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { run } from '../../src/model/cli.js';
import { ConfigfsTsmProvider, SimulatedTeeProvider, type TsmFs } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

/** Calls under `virtual` go to `fs` with the path moved under `real`; everything else to node:fs/promises. */
const route = vi.hoisted(() => ({ virtual: '', real: '', fs: undefined as TsmFs | undefined }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const routed = (p: unknown): string | undefined =>
    route.fs && typeof p === 'string' && p.startsWith(`${route.virtual}/`) ? route.real + p.slice(route.virtual.length) : undefined;
  return {
    ...actual,
    mkdir: ((p: string, ...rest: unknown[]) => (routed(p) ? route.fs!.mkdir(routed(p)!) : (actual.mkdir as (...a: unknown[]) => unknown)(p, ...rest))) as typeof actual.mkdir,
    rmdir: ((p: string, ...rest: unknown[]) => (routed(p) ? route.fs!.rmdir(routed(p)!) : (actual.rmdir as (...a: unknown[]) => unknown)(p, ...rest))) as typeof actual.rmdir,
    readFile: ((p: string, ...rest: unknown[]) => (routed(p) ? route.fs!.readFile(routed(p)!) : (actual.readFile as (...a: unknown[]) => unknown)(p, ...rest))) as typeof actual.readFile,
    // The provider reads outblob through a FileHandle (bounded): a handle over the emulator's whole-file read.
    open: ((p: string, ...rest: unknown[]) => {
      const real = routed(p);
      if (!real) return (actual.open as (...a: unknown[]) => unknown)(p, ...rest);
      return route.fs!.readFile(real).then((bytes) => {
        let at = 0;
        return {
          read: async (buf: Buffer, offset: number, length: number) => {
            const n = Math.min(length, bytes.length - at);
            buf.set(bytes.subarray(at, at + n), offset);
            at += n;
            return { bytesRead: n, buffer: buf };
          },
          close: async () => undefined,
        };
      });
    }) as typeof actual.open,
    writeFile: ((p: string, d: Uint8Array, ...rest: unknown[]) => (routed(p) ? route.fs!.writeFile(routed(p)!, d) : (actual.writeFile as (...a: unknown[]) => unknown)(p, d, ...rest))) as typeof actual.writeFile,
  };
});

const tdx = new SimulatedTeeProvider({ tee: 'tdx' });
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'configfs-busy-'));
});
afterAll(async () => {
  route.fs = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function fakeTree(name: string): Promise<FakeConfigfsTsm> {
  const root = join(dir, name);
  await mkdir(root);
  return new FakeConfigfsTsm({ root, generate: async (inblob) => ({ outblob: (await tdx.getEvidence(inblob)).evidence }) });
}

describe('configfs-tsm: transient report-read errors are retryable', () => {
  it.each(['EBUSY', 'EINTR', 'ETIMEDOUT', 'EAGAIN'])('%s reading outblob is ERR_TSM_UNAVAILABLE (retryable); the instance is removed, a later request succeeds, EIO stays ERR_TSM_IO', async (code) => {
    const fake = await fakeTree(`t-${code}`);
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    fake.reportErrno = code;
    const err = await provider.getEvidence(randomBytes(64)).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { attribute: 'outblob', errno: code, retryable: true } });
    expect(await readdir(fake.root)).toEqual([]);
    fake.reportErrno = undefined;
    expect((await provider.getEvidence(randomBytes(64))).tee).toBe('tdx');
    fake.reportErrno = 'EIO';
    await expect(provider.getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { errno: 'EIO' } });
  });

  it('tee-model load exits 3 ("retry later") when the TEE is busy, 2 for EIO', async () => {
    const fake = await fakeTree('cli');
    route.virtual = join(dir, 'virtual-tsm');
    route.real = fake.root;
    route.fs = fake.fs;
    const model = join(dir, 'model');
    await mkdir(model);
    const load = async (): Promise<{ code: number; stderr: string }> => {
      let stderr = '';
      const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) } };
      const code = await run(['load', '--kbs', 'https://127.0.0.1:1', '--key-id', 'k', '-i', model, '-o', join(dir, 'out'), '--provider', 'configfs', '--configfs-root', route.virtual, '--nonce', 'no'], io);
      return { code, stderr };
    };
    try {
      fake.reportErrno = 'EBUSY';
      const busy = await load();
      expect(busy.stderr).toMatch(/ERR_TSM_UNAVAILABLE.*EBUSY/);
      expect(busy.code).toBe(3);
      expect(fake.created).toHaveLength(1); // the provider went through the emulated tree
      fake.reportErrno = 'EIO';
      const broken = await load();
      expect(broken.stderr).toMatch(/ERR_TSM_IO/);
      expect(broken.code).toBe(2);
    } finally {
      route.fs = undefined;
    }
  });
});
