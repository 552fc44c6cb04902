/**
 * `tee-kbs serve --trust-root` reads AMD roots as well as Intel's (it used to take only the first
 * certificate of the file as an Intel root, so a simulated SEV-SNP guest could reach a broker only
 * through the library). The file is sorted as `tee-verify --trust-root` sorts it: self-signed
 * Intel-style roots, ARK / ASK / ASVK per product.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli } from '../../src/kbs/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { makePlatform, newClient, sha512, transferPath, unwrap } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-trust-root-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = (der: Uint8Array): string => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;

async function serve(args: string[]) {
  let stderr = '';
  const r = await runKbsCli(['serve', '--listen', '127.0.0.1:0', '--plain-http', ...args], { stdout: () => {}, stderr: (t) => (stderr += t), env: {} });
  return { ...r, stderr };
}

describe('tee-kbs serve --trust-root with AMD roots', () => {
  it('a simulated SEV-SNP guest gets its key through the CLI broker; without the AMD roots it does not', async () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp', at: new Date() });
    const milan = snp.trustRoots.amd.Milan!;
    // One file holding an Intel test root and the AMD chain: both kinds are pinned.
    const intel = makePlatform();
    writeFileSync(join(dir, 'roots.pem'), intel.pki.root.pem + pem(milan.ark) + pem(milan.ask));
    writeFileSync(join(dir, 'intel-only.pem'), intel.pki.root.pem);
    writeFileSync(join(dir, 'bundle.json'), exportBundle([...snp.collateral]));

    const client = newClient(2048);
    const attempt = async (rootsFile: string, db: string) => {
      const r = await serve(['--db', join(dir, db), '--trust-root', join(dir, rootsFile), '--collateral', join(dir, 'bundle.json'), '--allow-no-nonce']);
      expect(r.code, r.stderr).toBe(0);
      const broker = r.broker!;
      try {
        expect(r.stderr).toContain(`NON-PRODUCTION TRUST ROOTS "trust-root:${join(dir, rootsFile)}"`);
        const admin = { authorization: `Bearer ${broker.initialAdminToken ?? ''}`, 'content-type': 'application/json' };
        const { evidence } = await snp.getEvidence(sha512(client.spkiDer));
        const measurement = Buffer.from(evidence.subarray(0x90, 0xc0)).toString('hex');
        const policy = await (await fetch(`${broker.url}/kbs/v1/key-transfer-policies`, { method: 'POST', headers: admin, body: JSON.stringify({ tee: 'snp', measurement: [measurement], hostData: 'any', products: ['Milan'], tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } } }) })).json() as { id: string };
        const material = Buffer.alloc(32, 7);
        const key = await (await fetch(`${broker.url}/kbs/v1/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ transfer_policy_id: policy.id, key_information: { key_data: material.toString('base64') } }) })).json() as { id: string };
        const res = await fetch(`${broker.url}${transferPath(key.id)}`, { method: 'POST', headers: { 'content-type': 'application/json', 'attestation-type': 'SEV-SNP' }, body: JSON.stringify({ quote: Buffer.from(evidence).toString('base64'), user_data: client.userData }) });
        const body = await res.json() as Record<string, any>;
        return { status: res.status, body, material };
      } finally {
        await broker.close();
      }
    };

    const pinned = await attempt('roots.pem', 'amd.sqlite');
    expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
    expect(unwrap(client, pinned.body as { wrapped_key: string; wrapped_swk: string }).equals(pinned.material)).toBe(true);

    const intelOnly = await attempt('intel-only.pem', 'intel.sqlite');
    expect(intelOnly.status).toBe(401);
    expect(intelOnly.body).not.toHaveProperty('wrapped_key');
  }, 60_000);

  it('a file without any certificate is a usage error (exit 2) and no broker starts', async () => {
    writeFileSync(join(dir, 'empty.pem'), 'no certificates here\n');
    const r = await serve(['--db', join(dir, 'empty.sqlite'), '--trust-root', join(dir, 'empty.pem')]);
    expect(r.code).toBe(2);
    expect(r.broker).toBeUndefined();
    expect(r.stderr).toContain('no PEM certificate found');
  });
});
