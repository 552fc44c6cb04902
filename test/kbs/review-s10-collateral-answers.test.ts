/**
 * Review s10, finding A1 in the key broker: a refusal for a collateral error names no collateral
 * source. An SEV-SNP report whose VCEK the operator's KDS does not have (404) used to be answered
 * "evidence rejected: the issuer has no VCEK ... GET http://kdsadmin:S3CRET@127.0.0.1:<port>/..."
 * (in `error` and in `checks[].message`), to a client that needs no credentials. Now the answer
 * has the fixed text per code; the log and the attestation row keep the detail, password masked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { COLLATERAL_MESSAGES } from '../../src/attestation-service/collateral-messages.js';
import { AmdKdsClient, CollateralService, HttpClient } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { newClient, registerKey, sha512, startHarness, transferPath, type Harness } from './helpers.js';

const USER = 'kdsadmin';
const PASSWORD = 'S3CRET';
const PATH = 'internal-kds-mirror';

describe('review s10 A1: the key broker answers a KDS 404 for the VCEK without the KDS URL', () => {
  const snp = new SimulatedTeeProvider({ tee: 'snp', at: new Date() });
  let kds: Server;
  let port: number;
  let http: HttpClient;
  let h: Harness;
  const lines: string[] = [];
  beforeAll(async () => {
    const chain = snp.collateral.find((a) => a.kind === 'amd-cert-chain')!;
    const crl = snp.collateral.find((a) => a.kind === 'amd-crl')!;
    kds = createServer((req, res) => {
      const url = req.url ?? '';
      const a = url.endsWith('/cert_chain') ? chain : url.endsWith('/crl') ? crl : undefined;
      if (!a) {
        res.writeHead(404).end('no such VCEK');
        return;
      }
      res.writeHead(200, { 'content-type': a === crl ? 'application/pkix-crl' : 'application/x-pem-file' }).end(Buffer.from(a.body));
    });
    await new Promise<void>((r) => kds.listen(0, '127.0.0.1', r));
    port = (kds.address() as AddressInfo).port;
    http = new HttpClient({ retries: 0 });
    // Since review s11 (collateral) a source URL with userinfo is refused when the client is made, so the
    // password can no longer reach an answer that way; host, port and path still must not.
    expect(() => new AmdKdsClient({ http, baseUrl: `http://${USER}:${PASSWORD}@127.0.0.1:${port}/${PATH}` })).toThrow(/user name or password/);
    const amd = new AmdKdsClient({ http, baseUrl: `http://127.0.0.1:${port}/${PATH}` });
    h = await startHarness({ collateral: new CollateralService({ amd, cache: null }), trustRoots: snp.trustRoots, log: (l) => lines.push(l) });
  });
  afterAll(async () => {
    await h?.close();
    await http?.close();
    await new Promise<void>((r) => (kds ? kds.close(() => r()) : r()));
  });

  it('401 ERR_KBS_EVIDENCE with the fixed text; the whole body holds no host, port, path, user or password', async () => {
    const client = newClient(2048);
    const { evidence } = await snp.getEvidence(sha512(client.spkiDer));
    const measurement = Buffer.from(evidence.subarray(0x90, 0xc0)).toString('hex');
    const keyId = await registerKey(h, Buffer.alloc(32, 7), { tee: 'snp', measurement: [measurement], hostData: 'any', products: ['Milan'], tcbMinimums: { Milan: { reported: { snp: 0x18, microcode: 0xdb } } } });
    const r = await h.call('POST', transferPath(keyId), {
      body: { quote: Buffer.from(evidence).toString('base64'), user_data: client.userData },
      headers: { 'attestation-type': 'SEV-SNP' },
      token: null,
    });
    expect(r.status).toBe(401);
    const fixed = COLLATERAL_MESSAGES['ERR_COLLATERAL_UNKNOWN_PLATFORM'];
    expect(r.json).toEqual({
      error: `evidence rejected: ${fixed}`,
      code: 'ERR_KBS_EVIDENCE',
      checks: [{ code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', class: 'COLLATERAL_MISMATCH', message: fixed }],
    });
    for (const secret of ['127.0.0.1', String(port), PATH, 'vcek/', USER, PASSWORD, 'http', 'GET ']) expect(r.text).not.toContain(secret);
    // The operator's log and the attestation row keep what was asked, password masked.
    const line = lines.find((l) => l.includes('ERR_KBS_EVIDENCE') && l.includes(keyId));
    expect(line).toContain(`${PATH}/vcek/`);
    expect(line).not.toContain(PASSWORD);
    const db = await h.storage();
    const row = await db.get<{ error: string }>('SELECT error FROM attestation_log WHERE key_id = ? ORDER BY seq DESC LIMIT 1', [keyId]);
    const detail = (JSON.parse(row!.error) as { detail: string }).detail;
    expect(detail).toContain(`${PATH}/vcek/`);
    expect(detail).not.toContain(PASSWORD);
  }, 60_000);
});
