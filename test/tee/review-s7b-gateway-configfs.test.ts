/**
 * Review s7b, item 7: `tee-gateway serve --configfs` built ConfigfsTsmProvider without onWarning,
 * so an instance it could not remove was reported through process.emitWarning, outside the
 * gateway's log. Here the provider the command line builds is given the emulated configfs-tsm tree
 * (fake-configfs.ts; its reports come from the simulated TDX TEE) with an rmdir that fails EBUSY;
 * the command line's own options, onWarning included, are kept.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { SimulatedTeeProvider, type ConfigfsTsmOptions, type TsmFs } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from './fake-configfs.js';

const injected = vi.hoisted(() => ({ fs: undefined as TsmFs | undefined }));

vi.mock('../../src/tee/configfs-tsm.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/tee/configfs-tsm.js')>();
  class WithEmulatedTree extends real.ConfigfsTsmProvider {
    constructor(o: ConfigfsTsmOptions = {}) {
      super({ ...o, ...(injected.fs ? { fs: injected.fs } : {}) });
    }
  }
  return { ...real, ConfigfsTsmProvider: WithEmulatedTree };
});

let dir: string;
let root: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7b-gw-configfs-'));
  root = join(dir, 'report');
  await mkdir(root);
  const tee = new SimulatedTeeProvider({ tee: 'tdx' });
  const tree = new FakeConfigfsTsm({ root, generate: async (inblob) => ({ outblob: (await tee.getEvidence(inblob)).evidence }) });
  injected.fs = {
    ...tree.fs,
    rmdir: async (p) => {
      await tree.fs.rmdir(p);
      throw Object.assign(new Error(`EBUSY: ${p}`), { code: 'EBUSY' });
    },
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function attest(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/attestation`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') }));
  });
}

describe('review s7b item 7: configfs-tsm warnings go to the gateway log', () => {
  it('an instance that could not be removed: a WARNING line on the gateway log, no process warning; the evidence is still served', async () => {
    const emitted = vi.spyOn(process, 'emitWarning');
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => void (stderr += t), env: {} as NodeJS.ProcessEnv };
    const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'g.sqlite'), '--listen', '127.0.0.1:0', '--configfs', '--tsm-root', root], io);
    try {
      expect(r.code, stderr).toBe(0);
      const answer = await attest(r.gateway!.url);
      expect(answer.status, answer.body).toBe(200);
      expect(stderr).toMatch(new RegExp(`tee-gateway: WARNING: configfs-tsm report instance ${root}/\\S+ could not be removed \\(EBUSY\\)`));
      expect(emitted.mock.calls.filter((call) => (call as unknown[])[1] === 'TeeEvidenceWarning')).toEqual([]);
    } finally {
      emitted.mockRestore();
      await r.gateway?.close();
    }
  });
});
