/**
 * Change review s12 (svcgw), finding 2: ConfigfsTsmProvider declared no TEE, so the gateway's
 * GET /api/v1/tee/quote learned it only from a report, and calls that arrived together each spent a
 * report. detectTee() tells the TEE from the `provider` attribute of an instance it creates and
 * removes, without writing inblob or reading outblob (no report); asked once and shared by
 * concurrent callers; a failure is not kept, so a later call asks again.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigfsTsmProvider, SimulatedTeeProvider } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s12b-tsm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tree(name: string, provider: 'tdx_guest' | 'sev_guest'): Promise<FakeConfigfsTsm> {
  const root = join(dir, name);
  await mkdir(root);
  const sim = new SimulatedTeeProvider({ tee: provider === 'tdx_guest' ? 'tdx' : 'snp' });
  return new FakeConfigfsTsm({ root, provider, generate: async (inblob) => ({ outblob: (await sim.getEvidence(inblob)).evidence }) });
}

describe('ConfigfsTsmProvider.detectTee (s12 change review, finding 2)', () => {
  it.each([
    ['tdx_guest', 'tdx'],
    ['sev_guest', 'snp'],
  ] as const)('%s: %s, from one instance it removes, with no report generated', async (kernel, tee) => {
    const fake = await tree(`one-${kernel}`, kernel);
    const p = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    expect(await p.detectTee()).toBe(tee);
    expect(fake.generatedReports).toBe(0);
    expect(fake.created).toHaveLength(1);
    expect(await readdir(fake.root)).toEqual([]);
  });

  it('concurrent callers share one instance; later calls ask no more', async () => {
    const fake = await tree('shared', 'sev_guest');
    const p = new ConfigfsTsmProvider({ root: fake.root, fs: fake.fs });
    expect(await Promise.all([p.detectTee(), p.detectTee(), p.detectTee()])).toEqual(['snp', 'snp', 'snp']);
    expect(await p.detectTee()).toBe('snp');
    expect(fake.created).toHaveLength(1);
    expect(fake.generatedReports).toBe(0);
  });

  it('a failure is the provider error of getEvidence and is not kept: the next call asks again', async () => {
    const fake = await tree('later', 'tdx_guest');
    let fail: string | undefined = 'ENXIO';
    const p = new ConfigfsTsmProvider({
      root: fake.root,
      fs: { ...fake.fs, mkdir: async (path) => (fail ? Promise.reject(Object.assign(new Error(fail), { code: fail })) : fake.fs.mkdir(path)) },
    });
    await expect(p.detectTee()).rejects.toMatchObject({ code: 'ERR_TSM_UNAVAILABLE' });
    fail = undefined;
    expect(await p.detectTee()).toBe('tdx');
  });

  it('an unknown provider attribute is ERR_TSM_PROVIDER, and the instance is removed', async () => {
    const fake = await tree('unknown', 'tdx_guest');
    const p = new ConfigfsTsmProvider({
      root: fake.root,
      fs: { ...fake.fs, readFile: async (path, max) => (path.endsWith('/provider') ? Buffer.from('arm_cca_guest\n') : fake.fs.readFile(path, max)) },
    });
    await expect(p.detectTee()).rejects.toMatchObject({ code: 'ERR_TSM_PROVIDER' });
    expect(await readdir(fake.root)).toEqual([]);
  });
});
