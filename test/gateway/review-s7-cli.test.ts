/**
 * Review s7, finding 3 (and the shutdown half of 6): `tee-gateway serve --simulated-tee` warns on
 * every start, also when it restores a platform from --simulated-state (that path skipped the
 * warning); a --simulated-tee naming another TEE than the state file's is refused (exit 2), not
 * silently ignored; and the gateway closes its evidence provider on shutdown (the tpm2-tools
 * provider's AK context directory goes), here with fake tpm2-tools on PATH.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { runGatewayCli } from '../../src/gateway/cli.js';
import { SIMULATED_TEE_SEED, SimulatedTeeProvider } from '../../src/tee/index.js';
import { buildAkPublic } from '../../src/testing/tpm-builders.js';

const WARNING = 'WARNING: simulated TEE: evidence chains to a test PKI';

const out = () => {
  const o = { stdout: '', stderr: '' };
  return { o, io: { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv } };
};

let dir: string;
const upstream = 'http://127.0.0.1:9';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serve(args: string[]): Promise<{ code: number; stderr: string; close: () => Promise<void> }> {
  const { o, io } = out();
  const r = await runGatewayCli(['serve', '--upstream', upstream, '--db', join(dir, 'g.sqlite'), '--listen', '127.0.0.1:0', ...args], io);
  return { code: r.code, stderr: o.stderr, close: async () => r.gateway?.close() };
}

describe('review s7 finding 3: the simulated TEE on the gateway command line', () => {
  it('warns on every start: a new state file, then the same file restored', async () => {
    const state = join(dir, 'restored.json');
    for (const round of ['new', 'restored']) {
      const s = await serve(['--simulated-tee', 'snp', '--simulated-state', state]);
      try {
        expect(s.code, s.stderr).toBe(0);
        expect(s.stderr, round).toContain(WARNING);
        expect(s.stderr).not.toContain('public seed');
      } finally {
        await s.close();
      }
    }
    expect(JSON.parse(readFileSync(state, 'utf8')).tee).toBe('snp');
  });

  it('--simulated-tee snp with a TDX state file: refused, exit 2, a typed error; no gateway', async () => {
    const state = join(dir, 'tdx.json');
    writeFileSync(state, JSON.stringify(new SimulatedTeeProvider({ tee: 'tdx' }).exportState()));
    const s = await serve(['--simulated-tee', 'snp', '--simulated-state', state]);
    await s.close();
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('ERR_TSM_PROVIDER');
    // Without a TEE named, the state file's TEE is served.
    const plain = await serve(['--simulated-tee', '--simulated-state', state]);
    await plain.close();
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toContain(WARNING);
  });

  it('an argument other than tdx or snp is a usage error (exit 2), not TDX', async () => {
    const s = await serve(['--simulated-tee', 'sgx']);
    await s.close();
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('--simulated-tee takes tdx or snp');
  });

  it('a state file whose keys derive from a public seed gets a second warning', async () => {
    const state = join(dir, 'legacy.json');
    const { keys: _k, attestationKeyPem: _a, ...legacy } = new SimulatedTeeProvider({ tee: 'tdx', keySeed: SIMULATED_TEE_SEED }).exportState();
    writeFileSync(state, JSON.stringify(legacy));
    const s = await serve(['--simulated-tee', '--simulated-state', state]);
    await s.close();
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toContain(WARNING);
    expect(s.stderr).toContain('public seed');
  });
});

describe('review s7 finding 6: the gateway closes its provider on shutdown', () => {
  let savedPath: string | undefined;
  beforeAll(async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const ak = buildAkPublic(generateEcKeyObjects('P-256').publicKey); // no key-generation job: buildAkPublic exports a JWK
    writeFileSync(join(dir, 'ak.pub'), Buffer.concat([Buffer.from([ak.length >> 8, ak.length & 0xff]), ak]));
    const tools: Record<string, string> = {
      tpm2_flushcontext: 'exit 0',
      tpm2_readpublic: `while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then cp "${dir}/ak.pub" "$2"; echo "$2" >> "${dir}/readpublic.out"; fi; shift; done`,
      tpm2_quote: 'echo "ERROR:tcti:tcti-device.c Failed to open device file /dev/tpmrm0" >&2\nexit 1',
    };
    for (const [name, body] of Object.entries(tools)) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      await chmod(join(bin, name), 0o755);
    }
    savedPath = process.env['PATH'];
    process.env['PATH'] = `${bin}:${savedPath ?? ''}`;
  });
  afterAll(() => {
    process.env['PATH'] = savedPath;
  });

  /** The provider's AK directory: where the first tpm2_readpublic wrote (later ones are acquireVtpmEvidence's own, removed at once). */
  const akDirOf = (): string => dirname((readFileSync(join(dir, 'readpublic.out'), 'utf8').split('\n')[0] as string).trim());

  it('serve --vtpm: the AK directory made at the first vTPM request is removed by close(); the 503 names no device', async () => {
    const { o, io } = out();
    const r = await runGatewayCli(['serve', '--upstream', upstream, '--db', join(dir, 'v.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', '--vtpm', '--vtpm-ak', '0x81000003'], io);
    expect(r.code, o.stderr).toBe(0);
    const gateway = r.gateway!;
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${gateway.url}/v1/attestation`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ nonce: Buffer.alloc(32, 3).toString('base64'), format: 'vtpm' }));
      });
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body).error.code).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
      expect(answer.body).not.toContain('tpmrm0');
      expect(existsSync(akDirOf())).toBe(true);
    } finally {
      await gateway.close();
    }
    expect(existsSync(akDirOf())).toBe(false);
  });
});
