/**
 * Review s10, finding A2: `serve --at` (the library's `fixedInstant`) is a relaxation that shows in
 * every result. Every appraisal judged at the fixed instant carries a warning naming it, in
 * `warnings` and in the EAR, so its status is at most "warning" — also under the production roots,
 * where it used to be "affirming" —; the token's iat follows the judged instant; an --at after the
 * wall clock is refused at start (a token dated in the future was accepted by a relying party that
 * checks only exp until then).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fixedInstantWarning } from '../../src/attestation-service/appraise.js';
import { startAttestationService } from '../../src/attestation-service/index.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { verifyEarJwt } from '../../src/index.js';
import { capture } from '../cli/capture.js';
import { TempDirs, cli } from '../cli/helpers.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes, vectorPath } from '../helpers/vectors.js';
import { post, simulatedCollateral } from './helpers.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

type Running = Awaited<ReturnType<typeof startServe>>;

/** The result's warnings, its EAR's status and policy-claims warnings, and the token's iat. */
function judged(running: Running, json: Record<string, any>, at: Date) {
  const { claims } = verifyEarJwt(json['token'], running.service.publicKey, { now: Math.floor(at.getTime() / 1000) });
  const submod = (claims as any).submods.cpu0;
  return { status: json['status'], warnings: json['warnings'] as string[], earStatus: submod['ear.status'], earWarnings: submod['ear.veraison.policy-claims'].warnings as string[], iat: claims['iat'] };
}

describe.skipIf(!HAVE_VECTORS)('serve --at under the production roots: a real quote that passes everything', () => {
  const entry = HAVE_VECTORS ? findEntry('phala-dcap-qvl/tdx_quote')! : undefined;
  let running: Running;
  let at: Date;
  beforeAll(async () => {
    at = new Date(entry!.verification_time!);
    const bundle = vectorPath(entry!.collateral['collateral_bundle']!);
    running = await startServe(parseServeArgs(['--listen', '127.0.0.1:0', '--offline', '--no-cache', '--collateral', bundle, '--at', entry!.verification_time!])!, capture().io);
  });
  afterAll(async () => running?.close());

  it('is "warning", never "affirming": the --at warning in the result and in the EAR; iat is the judged instant', async () => {
    const r = await post(running.service.url, '/v1/verify', { evidence: Buffer.from(readEvidenceBytes(entry!)).toString('base64') });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, trustRoots: 'production', tcbStatus: 'UpToDate', at: at.toISOString() });
    const j = judged(running, r.json, at);
    // The fixed instant is the only relaxation here: without its warning this result was affirming.
    expect(j.warnings).toEqual([fixedInstantWarning(at)]);
    expect([j.status, j.earStatus]).toEqual(['warning', 'warning']);
    expect(j.earWarnings).toContain(fixedInstantWarning(at));
    expect(j.iat).toBe(Math.floor(at.getTime() / 1000));
  });
});

describe('serve --at with dev quote files', () => {
  const quoteAt = '2026-01-15T00:00:00Z';
  const at = new Date('2026-01-15T01:00:00Z');
  let dir: string;
  const io = capture();
  beforeAll(async () => {
    dir = dirs.make('tee-as-at-');
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--out', dir, '--at', quoteAt])).code).toBe(0);
  });
  const serveArgs = (instant: string) => ['--listen', '127.0.0.1:0', '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--at', instant];

  it('every result names the fixed instant, /v1/verify and the open-webui token alike', async () => {
    const running = await startServe(parseServeArgs(serveArgs(at.toISOString()))!, io.io);
    try {
      const quote = readFileSync(join(dir, 'evidence.bin'));
      const r = await post(running.service.url, '/v1/verify', { evidence: quote.toString('base64') });
      const j = judged(running, r.json, at);
      expect(j.warnings.filter((w) => w === fixedInstantWarning(at))).toHaveLength(1);
      expect(j.earWarnings).toContain(fixedInstantWarning(at));
      expect([j.status, j.earStatus]).toEqual(['warning', 'warning']);
      const t = await post(running.service.url, '/attestation', { tee: 'tdx', policy_ids: [], evidence: Buffer.from(JSON.stringify({ quote: quote.toString('base64') })).toString('base64url') });
      expect(t.status).toBe(200);
      const { claims } = verifyEarJwt(t.text, running.service.publicKey, { now: Math.floor(at.getTime() / 1000) });
      expect((claims as any).submods.cpu0['ear.veraison.policy-claims'].warnings).toContain(fixedInstantWarning(at));
    } finally {
      await running.close();
    }
  });

  it('an --at after the wall clock is a usage error (exit 2) before anything listens', async () => {
    const future = new Date(Date.now() + 20 * 86_400_000).toISOString();
    const r = await cli(['serve', ...serveArgs(future)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--at ${future} is in the future`);
    // startServe with an injected wall clock: the instant just after it is refused, the instant itself is not.
    const args = parseServeArgs(serveArgs(at.toISOString()))!;
    await expect(startServe(args, io.io, () => new Date(at.getTime() - 1))).rejects.toMatchObject({ message: expect.stringContaining('is in the future') });
    const running = await startServe(args, io.io, () => new Date(at.getTime()));
    await running.close();
  });
});

describe('the library option fixedInstant', () => {
  it('is refused in the future and together with now', async () => {
    const base = { collateral: simulatedCollateral(), port: 0, log: () => {} };
    await expect(startAttestationService({ ...base, fixedInstant: new Date(Date.now() + 86_400_000) })).rejects.toThrow(/in the future/);
    await expect(startAttestationService({ ...base, fixedInstant: new Date('2026-01-15T01:00:00Z'), now: () => new Date() })).rejects.toThrow(/exclude each other/);
  });
});
