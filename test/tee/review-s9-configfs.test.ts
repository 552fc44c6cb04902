/**
 * Review s9, configfs-tsm provider. Finding 2: an SEV-SNP guest below VMPL 0 (Linux at VMPL 2
 * under an SVSM) must ask for its report at its `privlevel_floor`: the kernel starts every
 * instance at privlevel 0, which the firmware refuses to such a guest. The provider writes
 * `privlevel` = floor before `inblob` and counts that write in the generation check.
 * Finding 5: a co-tenant with root that removes our instance, makes one of the same name and
 * writes its own inblob once leaves the counter where our write would have; the outblob's
 * REPORTDATA (parsed) must be the 64 bytes written.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport } from '../../src/index.js';
import { ConfigfsTsmProvider, SimulatedTeeProvider, type TsmFs } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

let dir: string;
let snpAtVmpl2: SimulatedTeeProvider;
let tdx: SimulatedTeeProvider;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s9-configfs-'));
  snpAtVmpl2 = new SimulatedTeeProvider({ tee: 'snp', vmpl: 2 });
  tdx = new SimulatedTeeProvider();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An emulated sev_guest tree with a floor; `levels` records the privilege level of every report generated. */
async function snpTree(name: string, privlevelFloor: number | undefined): Promise<{ fake: FakeConfigfsTsm; levels: number[]; writes: string[]; fs: TsmFs }> {
  const root = join(dir, name);
  await mkdir(root);
  const levels: number[] = [];
  const fake = new FakeConfigfsTsm({
    root,
    provider: 'sev_guest',
    ...(privlevelFloor === undefined ? {} : { privlevelFloor }),
    generate: async (inblob, { privlevel }) => {
      levels.push(privlevel);
      // The firmware reports at the level asked (the provider checks the report's VMPL since review s16 providers #3).
      const e = await (privlevel === 2 ? snpAtVmpl2 : new SimulatedTeeProvider({ tee: 'snp', ...(privlevel > 0 ? { vmpl: privlevel } : {}) })).getEvidence(inblob);
      return { outblob: e.evidence, ...(e.auxblob ? { auxblob: e.auxblob } : {}) };
    },
  });
  // The attributes the provider writes, in order.
  const writes: string[] = [];
  const fs: TsmFs = { ...fake.fs, writeFile: (p, d) => (writes.push(p.split('/').pop() as string), fake.fs.writeFile(p, d)) };
  return { fake, levels, writes, fs };
}

describe('review s9 finding 2: configfs-tsm on an SEV-SNP guest below VMPL 0', () => {
  it('with privlevel_floor 2 the provider asks for a VMPL-2 report (privlevel before inblob) and gets it', async () => {
    const { fake, levels, writes, fs } = await snpTree('floor2', 2);
    const rd = randomBytes(64);
    const ev = await new ConfigfsTsmProvider({ root: fake.root, fs }).getEvidence(rd);
    expect(writes).toEqual(['privlevel', 'inblob']);
    expect(levels).toEqual([2]);
    const report = parseEvidence(ev.evidence) as SnpReport;
    expect(report.vmpl).toBe(2);
    expect(Buffer.from(report.reportData).equals(rd)).toBe(true);
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('the emulated firmware refuses a report below the floor (what the provider did before: ERR_TSM_IO)', async () => {
    const { fake, fs } = await snpTree('below', 2);
    const skipPrivlevel: TsmFs = { ...fs, readFile: (p, max) => (p.endsWith('privlevel_floor') ? Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })) : fs.readFile(p, max)) };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs: skipPrivlevel }).getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { attribute: 'outblob', errno: 'EIO' } });
  });

  it('a racing writer is still caught: an inblob or a privlevel written by someone else between our writes and our read', async () => {
    const { fake, fs } = await snpTree('race', 2);
    const provider = new ConfigfsTsmProvider({ root: fake.root, fs });
    fake.afterInblobWrite = (instance) => fake.writeInblob(instance, randomBytes(64));
    await expect(provider.getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_GENERATION_RACE', details: { before: 0, after: 3, writes: 2 } });
    fake.afterInblobWrite = (instance) => fake.writeAttribute(instance, 'privlevel', Buffer.from('3\n'));
    await expect(provider.getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_GENERATION_RACE', details: { before: 0, after: 3, writes: 2 } });
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('a floor of 0 is written too (the count stays exact); a kernel without privlevel_floor gets the inblob write only', async () => {
    const zero = await snpTree('floor0', 0);
    await new ConfigfsTsmProvider({ root: zero.fake.root, fs: zero.fs }).getEvidence(randomBytes(64));
    expect(zero.writes).toEqual(['privlevel', 'inblob']);
    expect(zero.levels).toEqual([0]);
    const none = await snpTree('nofloor', undefined);
    await new ConfigfsTsmProvider({ root: none.fake.root, fs: none.fs }).getEvidence(randomBytes(64));
    expect(none.writes).toEqual(['inblob']);
  });

  it('a privlevel_floor that is not a level 0-3 is ERR_TSM_IO, before anything is written', async () => {
    const { fake, writes, fs } = await snpTree('odd', 2);
    const odd: TsmFs = { ...fs, readFile: (p, max) => (p.endsWith('privlevel_floor') ? Promise.resolve(Buffer.from('7\n')) : fs.readFile(p, max)) };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs: odd }).getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { attribute: 'privlevel_floor' } });
    expect(writes).toEqual([]);
    expect(await readdir(fake.root)).toEqual([]);
  });
});

describe('review s9 finding 5: the outblob carries our REPORTDATA', () => {
  async function tdxTree(name: string, generate?: (inblob: Uint8Array) => Promise<Uint8Array>): Promise<FakeConfigfsTsm> {
    const root = join(dir, name);
    await mkdir(root);
    return new FakeConfigfsTsm({ root, generate: async (inblob) => ({ outblob: generate ? await generate(inblob) : (await tdx.getEvidence(inblob)).evidence }) });
  }

  it('TDX: a co-tenant that replaces the instance (rmdir, mkdir of the same name, one inblob write) passes the counter but not the REPORTDATA check', async () => {
    const fake = await tdxTree('replaced');
    const theirs = randomBytes(64);
    fake.afterInblobWrite = async (instance) => {
      await fake.fs.rmdir(instance);
      await fake.fs.mkdir(instance);
      await fake.writeInblob(instance, theirs);
    };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs }).getEvidence(randomBytes(64))).rejects.toMatchObject({
      code: 'ERR_TSM_GENERATION_RACE',
      details: { before: 0, after: 1, writes: 1, reason: 'reportdata-mismatch' },
    });
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('SEV-SNP under a floor: the co-tenant writes privlevel and inblob (the counter shows our two writes), still caught', async () => {
    const { fake, fs } = await snpTree('replaced-snp', 2);
    fake.afterInblobWrite = async (instance) => {
      await fake.fs.rmdir(instance);
      await fake.fs.mkdir(instance);
      await fake.writeAttribute(instance, 'privlevel', Buffer.from('2\n'));
      await fake.writeInblob(instance, randomBytes(64));
    };
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs }).getEvidence(randomBytes(64))).rejects.toMatchObject({
      code: 'ERR_TSM_GENERATION_RACE',
      details: { before: 0, after: 2, writes: 2, reason: 'reportdata-mismatch' },
    });
  });

  it('an outblob the evidence parser does not read is ERR_TSM_IO (its REPORTDATA cannot be checked)', async () => {
    const fake = await tdxTree('garbage', async () => new Uint8Array(1184).fill(7));
    await expect(new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs }).getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { attribute: 'outblob' } });
    // An SEV-SNP report where a TDX quote is due is not read as one either.
    const snpWhereTdx = await tdxTree('wrong-kind', async (inblob) => (await snpAtVmpl2.getEvidence(inblob)).evidence);
    await expect(new ConfigfsTsmProvider({ root: snpWhereTdx.root, fs: snpWhereTdx.fs }).getEvidence(randomBytes(64))).rejects.toMatchObject({ code: 'ERR_TSM_IO', details: { attribute: 'outblob' } });
  });

  it('the quote for the written bytes passes', async () => {
    const fake = await tdxTree('ours');
    const rd = randomBytes(64);
    const ev = await new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs }).getEvidence(rd);
    expect(Buffer.from(ev.reportData).equals(rd)).toBe(true);
  });
});
