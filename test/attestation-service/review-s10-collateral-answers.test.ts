/**
 * Review s10, finding A1: no answer of the service names the operator's collateral source. An
 * SEV-SNP report with a chip ID its KDS does not know (the KDS stand-in answers 404 for every VCEK)
 * used to come back as 422 ERR_COLLATERAL_UNKNOWN_PLATFORM whose message ended in
 * "GET http://kdsadmin:S3CRET@127.0.0.1:<port>/internal-kds-mirror/vcek/...". Every COLLATERAL_*
 * class is now answered with a fixed message per code; the detail goes to the log, password masked.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { COLLATERAL_MESSAGES } from '../../src/attestation-service/collateral-messages.js';
import { fromLibraryError } from '../../src/attestation-service/errors.js';
import { AmdKdsClient, CollateralService, HttpClient, TeeVerifyError, type ErrorClass, type ErrorCode } from '../../src/index.js';
import { post, snp, startService } from './helpers.js';

const USER = 'kdsadmin';
const PASSWORD = 'S3CRET';
const PATH = 'internal-kds-mirror';

/** A KDS that serves the simulated chain and CRL and answers 404 for every VCEK. */
export async function kdsWithoutVceks(): Promise<{ server: Server; port: number; baseUrl: string }> {
  const chain = snp.collateral.find((a) => a.kind === 'amd-cert-chain')!;
  const crl = snp.collateral.find((a) => a.kind === 'amd-crl')!;
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const a = url.endsWith('/cert_chain') ? chain : url.endsWith('/crl') ? crl : undefined;
    if (!a) {
      res.writeHead(404).end('no such VCEK');
      return;
    }
    res.writeHead(200, { 'content-type': a === crl ? 'application/pkix-crl' : 'application/x-pem-file' }).end(Buffer.from(a.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, port, baseUrl: `http://127.0.0.1:${port}/${PATH}` }; // credentials in the URL are refused since review s11
}

describe('review s10 A1: a KDS 404 for the VCEK names no internal URL in the answer', () => {
  let svc: AttestationService;
  let http: HttpClient;
  let kds: Awaited<ReturnType<typeof kdsWithoutVceks>>;
  const logged: string[] = [];
  beforeAll(async () => {
    kds = await kdsWithoutVceks();
    http = new HttpClient({ retries: 0 });
    const amd = new AmdKdsClient({ http, baseUrl: kds.baseUrl });
    svc = await startService({ collateral: new CollateralService({ amd, cache: null }), log: (l) => logged.push(l) });
  });
  afterAll(async () => {
    await svc?.close();
    await http?.close();
    await new Promise<void>((r) => (kds ? kds.server.close(() => r()) : r()));
  });

  it('422 ERR_COLLATERAL_UNKNOWN_PLATFORM with the fixed message; the whole body holds no host, port or path', async () => {
    const report = Buffer.from((await snp.getEvidence(new Uint8Array(64))).evidence);
    const r = await post(svc.url, '/v1/verify', { evidence: report.toString('base64') });
    expect(r.status).toBe(422);
    expect(r.json).toEqual({ error: { code: 'ERR_COLLATERAL_UNKNOWN_PLATFORM', message: COLLATERAL_MESSAGES['ERR_COLLATERAL_UNKNOWN_PLATFORM'] } });
    for (const secret of ['127.0.0.1', String(kds.port), PATH, 'vcek/', 'http', 'GET ']) expect(r.text).not.toContain(secret);
    // The operator still sees what was asked.
    const line = logged.find((l) => l.includes('ERR_COLLATERAL_UNKNOWN_PLATFORM'));
    expect(line).toContain(`${PATH}/vcek/`);
  });
});

describe('review s10 A1: every COLLATERAL_* class is answered with its fixed message', () => {
  const url = `https://${USER}:${PASSWORD}@pccs.internal:8081/${PATH}/sgx/certification/v4/tcb?fmspc=00906ED50000`;
  const cases: [ErrorClass, string, number][] = [
    ['COLLATERAL_UNAVAILABLE', 'ERR_COLLATERAL_UNAVAILABLE', 503],
    ['COLLATERAL_UNAVAILABLE', 'ERR_COLLATERAL_NOT_FOUND', 503],
    ['COLLATERAL_UNAVAILABLE', 'ERR_COLLATERAL_HTTP_STATUS', 503],
    ['COLLATERAL_UNAVAILABLE', 'ERR_COLLATERAL_TOO_LARGE', 503],
    ['COLLATERAL_UNAVAILABLE', 'ERR_COLLATERAL_MISSING', 503],
    ['COLLATERAL_UNAVAILABLE', 'ERR_COLLATERAL_TLS', 503],
    ['COLLATERAL_UNAVAILABLE', 'ERR_QE_IDENTITY_LAGGING', 503],
    ['COLLATERAL_FORMAT', 'ERR_COLLATERAL_FORMAT', 422],
    ['COLLATERAL_SIG', 'ERR_COLLATERAL_SIG', 422],
    ['COLLATERAL_MISMATCH', 'ERR_COLLATERAL_MISMATCH', 422],
    ['COLLATERAL_MISMATCH', 'ERR_COLLATERAL_UNKNOWN_PLATFORM', 422],
  ];
  it.each(cases)('%s %s: status %i, code and check kept, the library text only in the detail', (errorClass, code, status) => {
    const err = new TeeVerifyError(errorClass, code as ErrorCode, `T16: invalid TCB-Info-Issuer-Chain header from ${url}: GET ${url}`, { check: 'T16' });
    const e = fromLibraryError(err);
    expect([e.status, e.code, e.message]).toEqual([status, code, COLLATERAL_MESSAGES[code]]);
    expect(JSON.stringify(e.toJSON())).toBe(JSON.stringify({ error: { code, message: COLLATERAL_MESSAGES[code], check: 'T16' } }));
    expect(e.extra.detail).toContain(url);
  });

  it('a code of these classes missing from the table gets its class message, never the library text', () => {
    const e = fromLibraryError(new TeeVerifyError('COLLATERAL_SIG', 'ERR_BAD_SIGNATURE_ENCODING', `signature of ${url}`));
    expect(e.message).toBe(COLLATERAL_MESSAGES['ERR_COLLATERAL_SIG']);
  });

  it('any other class keeps its message, with URLs replaced', () => {
    const e = fromLibraryError(new TeeVerifyError('CHAIN', 'ERR_CHAIN', `T10: intermediate from ${url} not signed by the root`, { check: 'T10' }));
    expect([e.status, e.code]).toEqual([422, 'ERR_CHAIN']);
    expect(e.message).toBe('T10: intermediate from <url> not signed by the root');
  });
});

describe('review s10 A1: docs/attestation-service.md lists every fixed message as the code answers it', () => {
  it('one table row per code, same text', () => {
    const doc = readFileSync(new URL('../../docs/attestation-service.md', import.meta.url), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], m[3]]));
    for (const [code, message] of Object.entries(COLLATERAL_MESSAGES)) expect(rows.get(code), code).toBe(message);
  });
});
