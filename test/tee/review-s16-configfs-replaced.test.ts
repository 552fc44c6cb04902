/**
 * Review s16 (providers red team) finding 3: a root co-tenant that recreates our configfs-tsm
 * report instance could still have its report served as ours when it matched both guards (the
 * generation advanced by exactly our writes, the REPORTDATA is the 64 bytes written):
 *
 * - SEV-SNP: after our inblob write it removes the instance, makes one of the same name and writes
 *   `privlevel` 3 and our own inblob (two writes, like ours). The VMPL-3 report carries our
 *   REPORTDATA. Now the report's VMPL must be the privlevel we wrote (0 when none was).
 * - SEV-SNP: it replaces the instance between our outblob read and our auxblob read; the auxblob
 *   returned was its report's. Now the outblob is read again after the auxblob and must be the
 *   same bytes (a new report has another signature).
 *
 * Both are ERR_TSM_GENERATION_RACE with details.reason, and the instance is still removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import { ConfigfsTsmProvider, SimulatedTeeProvider, type TsmFs } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

let dir: string;
/** Simulated SEV-SNP guests whose reports are at VMPL 0..3 (one platform). */
let snpAt: SimulatedTeeProvider[];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s16-configfs-replaced-'));
  const base = new SimulatedTeeProvider({ tee: 'snp' });
  snpAt = [0, 1, 2, 3].map((vmpl) => (vmpl === 0 ? base : new SimulatedTeeProvider({ tee: 'snp', vmpl })));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An emulated sev_guest tree that reports at the privilege level asked (as the firmware does); auxblob: "AUX:" + the inblob's first 16 bytes. */
async function snpTree(name: string, privlevelFloor?: number): Promise<FakeConfigfsTsm> {
  const root = join(dir, name);
  await mkdir(root);
  return new FakeConfigfsTsm({
    root,
    provider: 'sev_guest',
    ...(privlevelFloor === undefined ? {} : { privlevelFloor }),
    generate: async (inblob, { privlevel }) => {
      const e = await snpAt[privlevel]!.getEvidence(inblob);
      return { outblob: e.evidence, auxblob: new Uint8Array(Buffer.concat([Buffer.from('AUX:'), Buffer.from(inblob.subarray(0, 16))])) };
    },
  });
}

describe('review s16 providers #3: a recreated instance is not served as ours', () => {
  it('SEV-SNP: a co-tenant recreating the instance with privlevel 3 and our inblob (two writes, our REPORTDATA) is refused: vmpl-mismatch', async () => {
    const fake = await snpTree('vmpl3', 0);
    const ours = new Uint8Array(randomBytes(64));
    fake.afterInblobWrite = async (instance) => {
      fake.afterInblobWrite = undefined;
      await fake.fs.rmdir(instance);
      await fake.fs.mkdir(instance);
      await fake.writeAttribute(instance, 'privlevel', Buffer.from('3\n'));
      await fake.writeInblob(instance, ours);
    };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs, onWarning: () => {} }).getEvidence(ours)).rejects.toMatchObject({
      code: 'ERR_TSM_GENERATION_RACE',
      details: { before: 0, after: 2, writes: 2, reason: 'vmpl-mismatch', asked: 0, vmpl: 3 },
    });
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('SEV-SNP without privlevel_floor (only the inblob written): a report above VMPL 0 is refused', async () => {
    const fake = await snpTree('nofloor');
    const ours = new Uint8Array(randomBytes(64));
    // This fake has no privlevel attribute to write; the outblob served is a VMPL-1 report over our inblob, as a
    // recreated instance at privlevel 1 would give (kept once: the second read sees the same bytes, as the kernel's).
    let vmpl1: Uint8Array | undefined;
    const fs: TsmFs = {
      ...fake.fs,
      readFile: async (p, max) => {
        const bytes = await fake.fs.readFile(p, max);
        if (basename(p) !== 'outblob') return bytes;
        vmpl1 ??= (await snpAt[1]!.getEvidence(ours)).evidence;
        return vmpl1;
      },
    };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs, onWarning: () => {} }).getEvidence(ours)).rejects.toMatchObject({
      code: 'ERR_TSM_GENERATION_RACE',
      details: { writes: 1, reason: 'vmpl-mismatch', asked: 0, vmpl: 1 },
    });
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('SEV-SNP: the instance replaced between the outblob and the auxblob read is refused: outblob-changed (the auxblob was another report\'s)', async () => {
    const fake = await snpTree('aux-swap');
    const ours = new Uint8Array(64).fill(0x11);
    let swapped = false;
    const fs: TsmFs = {
      ...fake.fs,
      readFile: async (p, max) => {
        const bytes = await fake.fs.readFile(p, max);
        if (basename(p) === 'outblob' && !swapped) {
          swapped = true;
          const instance = dirname(p);
          await fake.fs.rmdir(instance);
          await fake.fs.mkdir(instance);
          await fake.writeInblob(instance, new Uint8Array(64).fill(0x77));
        }
        return bytes;
      },
    };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs, onWarning: () => {} }).getEvidence(ours)).rejects.toMatchObject({
      code: 'ERR_TSM_GENERATION_RACE',
      details: { before: 0, after: 1, writes: 1, reason: 'outblob-changed' },
    });
    expect(swapped).toBe(true);
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('undisturbed, SEV-SNP at the floor and TDX still give their evidence (the second outblob read is the kernel\'s kept report, no new one)', async () => {
    for (const floor of [undefined, 0, 2]) {
      const fake = await snpTree(`ok-${String(floor)}`, floor);
      const rd = new Uint8Array(randomBytes(64));
      const ev = await new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs }).getEvidence(rd);
      const report = parseEvidence(ev.evidence) as SnpReport;
      expect(report.vmpl).toBe(floor ?? 0);
      expect(Buffer.from(report.reportData).equals(Buffer.from(rd))).toBe(true);
      expect(Buffer.from(ev.auxblob!).subarray(4).equals(Buffer.from(rd.subarray(0, 16)))).toBe(true);
      expect(fake.generatedReports).toBe(1);
      expect(await readdir(fake.root)).toEqual([]);
    }
    const tdxRoot = join(dir, 'ok-tdx');
    await mkdir(tdxRoot);
    const tdx = new SimulatedTeeProvider();
    const fake = new FakeConfigfsTsm({ root: tdxRoot, generate: async (inblob) => ({ outblob: (await tdx.getEvidence(inblob)).evidence }) });
    const ev = await new ConfigfsTsmProvider({ root: tdxRoot, fs: fake.fs }).getEvidence(randomBytes(64));
    expect(ev.tee).toBe('tdx');
    expect(fake.generatedReports).toBe(1);
  });
});
