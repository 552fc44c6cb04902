/**
 * Session 15: `tee-model load` with the simulated SEV-SNP TEE sends the provider's certificate table
 * (its configfs-tsm-shaped `auxblob`) as `cert_table`, end to end on 127.0.0.1: the key broker (real
 * HTTPS, temporary SQLite, trusting only the simulated platform's AMD test roots) is given the
 * platform's CRL and nothing else, neither its VCEK nor its chain, and no KDS: the key is released
 * only because the table came with the report. The release row keeps the table as sent. Before
 * session 15 the client sent no table and this broker had nothing to verify the report with.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';

import { BundleSource, CollateralService } from '../../src/index.js';
import { startKeyBroker, type KeyBroker } from '../../src/kbs/index.js';
import { run } from '../../src/model/cli.js';
import { encryptDirectory } from '../../src/model/index.js';
import { openStorage } from '../../src/storage/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

function sink(): { write(s: string): boolean; text: string } {
  const s = { text: '', write(c: string) { s.text += c; return true; } };
  return s;
}

describe('tee-model load with the simulated SEV-SNP TEE sends its certificate table (session 15)', () => {
  let dir: string;
  let broker: KeyBroker;
  let agent: Agent;
  let caPath: string;
  let statePath: string;
  let db: string;
  let auxblob: string;
  let keyId: string;
  const modelKey = randomBytes(32);
  const weights = randomBytes(100_000);

  async function admin(path: string, body: unknown): Promise<{ id: string }> {
    const res = await request(`${broker.url}${path}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { accept: 'application/json', 'content-type': 'application/json', authorization: `Bearer ${broker.initialAdminToken!}` },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as { id: string };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-cert-table-'));
    const tee = new SimulatedTeeProvider({ tee: 'snp' });
    const state = tee.exportState();
    auxblob = state.auxblob!;
    statePath = join(dir, 'simulated-tee.json');
    await writeFile(statePath, JSON.stringify(state));
    db = join(dir, 'kbs.sqlite');
    // The CRL only: the VCEK and its ASK / ARK can come from nowhere but the request's cert_table.
    const crlOnly = tee.collateral.filter((a) => a.kind === 'amd-crl');
    expect(crlOnly).toHaveLength(1);
    broker = await startKeyBroker({ db, port: 0, collateral: new CollateralService({ amd: new BundleSource(crlOnly), cache: null }), trustRoots: tee.trustRoots, env: {}, log: () => {}, synchronous: 'NORMAL' });
    caPath = `${db}.tls-cert.pem`;
    agent = new Agent({ connect: { ca: await readFile(caPath, 'utf8') } });
    // The policy `tee-model simulated-tee --policy-out` writes for this platform (its measurement and TCB floor).
    const policyPath = join(dir, 'policy.json');
    const err = sink();
    expect(await run(['simulated-tee', '--state', statePath, '--policy-out', policyPath], { stdout: sink(), stderr: err }), err.text).toBe(0);
    const policy = await admin('/kbs/v1/key-transfer-policies', JSON.parse(await readFile(policyPath, 'utf8')));
    const key = await admin('/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: 256, key_data: modelKey.toString('base64') }, transfer_policy_id: policy.id });
    const src = join(dir, 'model');
    await mkdir(src);
    await writeFile(join(src, 'model.safetensors'), weights);
    keyId = key.id;
    await encryptDirectory(src, join(dir, 'encrypted'), modelKey, { kbsUrl: broker.url, keyId });
  }, 120_000);

  afterAll(async () => {
    await broker?.close();
    await agent?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the key is released (with a nonce, the default) and the row keeps the table the provider gave', async () => {
    const out = join(dir, 'out');
    const stderr = sink();
    const code = await run(['load', '--kbs', broker.url, '--key-id', keyId, '-i', join(dir, 'encrypted'), '-o', out, '--provider', 'simulated', '--simulated-state', statePath, '--ca-cert', caPath], { stdout: sink(), stderr });
    expect(code, stderr.text).toBe(0);
    expect((await readFile(join(out, 'model.safetensors'))).equals(weights)).toBe(true);
    const s = await openStorage(`sqlite:${db}`);
    try {
      const rows = await s.all<{ decision: string; attestation_type: string; cert_table: string | null }>('SELECT decision, attestation_type, cert_table FROM attestation_log ORDER BY seq');
      expect(rows).toEqual([{ decision: 'released', attestation_type: 'SEV-SNP', cert_table: auxblob }]);
    } finally {
      await s.close();
    }
  });
});
