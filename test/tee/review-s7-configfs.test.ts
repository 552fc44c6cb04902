/**
 * Review s7, finding 5: ConfigfsTsmProvider against hostile or failing file systems (the
 * reviewer's r1): outblob / auxblob bounded at the kernel's TSM_OUTBLOB_MAX (32 KiB) and read
 * through a capped FileHandle; a generation counter beyond 2^53 cannot prove "advanced by exactly
 * one"; a failed rmdir is surfaced; the report data is copied on entry; EACCES / EPERM at mkdir are
 * permanent; and the emulated tree refuses an inblob that is not exactly 64 bytes, as the drivers do.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigfsTsmProvider, nodeTsmFs, SimulatedTeeProvider, type TsmFs } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

const rd = () => new Uint8Array(randomBytes(64));

/**
 * A scripted TsmFs (the reviewer's r1 shape): generation values, blob sizes, rmdir / mkdir errors.
 * Without `outblob` it serves a simulated TDX quote for the last inblob written (the provider checks
 * its REPORTDATA since review s9), zero-padded to `outblobSize` when given.
 */
function scripted(o: { gen?: string[]; outblob?: Uint8Array; outblobSize?: number; auxblob?: Uint8Array; rmdirErr?: string; mkdirErr?: string; onWrite?: () => void } = {}) {
  const gen = o.gen ?? ['0\n', '1\n'];
  let g = 0;
  const log = { rmdirs: 0, written: [] as Uint8Array[] };
  const errnoError = (code: string) => Object.assign(new Error(code), { code });
  const fs: TsmFs = {
    mkdir: async () => {
      if (o.mkdirErr) throw errnoError(o.mkdirErr);
    },
    rmdir: async () => {
      log.rmdirs += 1;
      if (o.rmdirErr) throw errnoError(o.rmdirErr);
    },
    readFile: async (p) => {
      if (p.endsWith('generation')) return Buffer.from(gen[Math.min(g++, gen.length - 1)] as string);
      if (p.endsWith('provider')) return Buffer.from('tdx_guest\n');
      if (p.endsWith('outblob')) {
        if (o.outblob) return o.outblob;
        const quote = (await tdx.getEvidence(log.written[log.written.length - 1] as Uint8Array)).evidence;
        const out = new Uint8Array(Math.max(quote.length, o.outblobSize ?? 0));
        out.set(quote);
        return out;
      }
      if (p.endsWith('auxblob')) {
        if (o.auxblob) return o.auxblob;
        throw errnoError('ENOENT');
      }
      throw errnoError('ENOENT');
    },
    writeFile: async (_p, d) => {
      log.written.push(new Uint8Array(d));
      o.onWrite?.();
    },
  };
  return { fs, log };
}

let dir: string;
let tdx: SimulatedTeeProvider;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7-configfs-'));
  tdx = new SimulatedTeeProvider();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('review s7 finding 5: configfs-tsm provider', () => {
  it('a generation stuck at 2^60 (2^60 + 1 === 2^60 in a double) is ERR_TSM_GENERATION_RACE, not success', async () => {
    const { fs } = scripted({ gen: ['1152921504606846976\n', '1152921504606846976\n'] });
    await expect(new ConfigfsTsmProvider({ root: '/x', fs }).getEvidence(rd())).rejects.toMatchObject({ code: 'ERR_TSM_GENERATION_RACE' });
    // 2^53 - 2 → 2^53 - 1 is still exact, and passes.
    const edge = scripted({ gen: [`${2 ** 53 - 2}\n`, `${2 ** 53 - 1}\n`] });
    expect((await new ConfigfsTsmProvider({ root: '/x', fs: edge.fs, onWarning: () => {} }).getEvidence(rd())).tee).toBe('tdx');
  });

  it.each([
    ['outblob', { outblob: new Uint8Array(32 * 1024 + 1) }],
    ['auxblob', { auxblob: new Uint8Array(32 * 1024 + 1) }],
  ])('a %s above 32 KiB (TSM_OUTBLOB_MAX) is ERR_TSM_IO; exactly 32 KiB passes', async (attribute, o) => {
    await expect(new ConfigfsTsmProvider({ root: '/x', fs: scripted(o).fs }).getEvidence(rd())).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { attribute, max: 32 * 1024 } });
    // A quote zero-padded to exactly 32 KiB (all-zero trailing bytes parse), or a 32 KiB auxblob.
    const at = attribute === 'outblob' ? { outblobSize: 32 * 1024 } : { auxblob: new Uint8Array(32 * 1024).fill(2) };
    const ev = await new ConfigfsTsmProvider({ root: '/x', fs: scripted(at).fs }).getEvidence(rd());
    expect((attribute === 'outblob' ? ev.evidence : ev.auxblob)?.length).toBe(32 * 1024);
  });

  it('nodeTsmFs reads through a capped FileHandle: a 1 MiB file yields only the bytes asked for', async () => {
    const file = join(dir, 'big-outblob');
    await writeFile(file, Buffer.alloc(1 << 20, 3));
    expect((await nodeTsmFs.readFile(file, 32 * 1024 + 1)).length).toBe(32 * 1024 + 1);
    expect((await nodeTsmFs.readFile(file)).length).toBe(1 << 20);
  });

  it('the default file system end to end: a 1 MiB outblob under a plain directory is ERR_TSM_IO', async () => {
    const root = join(dir, 'plain-root');
    await mkdir(root);
    // Around nodeTsmFs: mkdir also lays out the attributes, inblob writes bump generation; reads stay nodeTsmFs's own.
    const fs: TsmFs = {
      ...nodeTsmFs,
      mkdir: async (p) => {
        await nodeTsmFs.mkdir(p);
        await writeFile(join(p, 'generation'), '0\n');
        await writeFile(join(p, 'provider'), 'tdx_guest\n');
        await writeFile(join(p, 'outblob'), Buffer.alloc(1 << 20, 4));
      },
      writeFile: async (p, d) => {
        await nodeTsmFs.writeFile(p, d);
        await writeFile(join(p, '..', 'generation'), '1\n');
      },
      rmdir: (p) => rm(p, { recursive: true }),
    };
    await expect(new ConfigfsTsmProvider({ root, fs }).getEvidence(rd())).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { attribute: 'outblob' } });
  });

  it('a failed rmdir is a warning: reported, on the evidence (success) or in the error details (failure)', async () => {
    const warnings: string[] = [];
    const ok = scripted({ rmdirErr: 'EBUSY' });
    const ev = await new ConfigfsTsmProvider({ root: '/x', fs: ok.fs, onWarning: (m) => warnings.push(m) }).getEvidence(rd());
    expect(ok.log.rmdirs).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('EBUSY');
    expect(ev.warnings).toEqual(warnings);
    const failing = scripted({ rmdirErr: 'EBUSY', gen: ['0\n', '2\n'] });
    const err = await new ConfigfsTsmProvider({ root: '/x', fs: failing.fs, onWarning: (m) => warnings.push(m) }).getEvidence(rd()).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_TSM_GENERATION_RACE', details: { instanceLeft: expect.stringContaining('EBUSY') } });
    expect(warnings).toHaveLength(2);
    // A clean run has no warnings member at all.
    expect(await new ConfigfsTsmProvider({ root: '/x', fs: scripted().fs }).getEvidence(rd())).not.toHaveProperty('warnings');
  });

  it('the report data is copied on entry: changing the caller\'s buffer meanwhile changes neither what is written nor what is returned', async () => {
    const input = new Uint8Array(64).fill(0x11);
    const { fs, log } = scripted({ onWrite: () => input.fill(0x22) });
    const pending = new ConfigfsTsmProvider({ root: '/x', fs }).getEvidence(input);
    input.fill(0x33); // synchronously after the call, before any await in the provider resumes
    const ev = await pending;
    expect(Buffer.from(log.written[0]!).equals(Buffer.alloc(64, 0x11))).toBe(true);
    expect(Buffer.from(ev.reportData).equals(Buffer.alloc(64, 0x11))).toBe(true);
  });

  it.each(['EACCES', 'EPERM', 'ENOENT'])('mkdir %s is a permanent ERR_TSM_IO (not "retry later"; ENOENT since review s11); ENXIO stays ERR_TSM_UNAVAILABLE', async (code) => {
    await expect(new ConfigfsTsmProvider({ root: '/x', fs: scripted({ mkdirErr: code }).fs }).getEvidence(rd())).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { errno: code, retryable: false } });
    await expect(new ConfigfsTsmProvider({ root: '/x', fs: scripted({ mkdirErr: 'ENXIO' }).fs }).getEvidence(rd())).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE', details: { errno: 'ENXIO', retryable: true } });
  });

  it('the emulated tree refuses a report for an inblob that is not exactly 64 bytes (EINVAL), like tdx_report_new / sev_report_new', async () => {
    const root = join(dir, 'fake');
    await mkdir(root);
    const sim = new SimulatedTeeProvider({ tee: 'tdx' });
    const fake = new FakeConfigfsTsm({ root, generate: async (inblob) => ({ outblob: (await sim.getEvidence(inblob)).evidence }) });
    const instance = join(root, 'short');
    await fake.fs.mkdir(instance);
    await fake.fs.writeFile(join(instance, 'inblob'), new Uint8Array(10));
    await expect(fake.fs.readFile(join(instance, 'outblob'))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fake.fs.writeFile(join(instance, 'inblob'), new Uint8Array(65))).rejects.toMatchObject({ code: 'EINVAL' });
    await fake.fs.writeFile(join(instance, 'inblob'), new Uint8Array(64));
    expect((await fake.fs.readFile(join(instance, 'outblob'))).length).toBeGreaterThan(0);
    await fake.fs.rmdir(instance);
  });
});
