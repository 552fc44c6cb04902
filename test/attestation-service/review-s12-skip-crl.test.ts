/**
 * Review s12 (docs) finding 3: `serve --skip-crl` did not skip a CRL it could not obtain. The
 * collateral service refused the request first, so every request was 503 ERR_COLLATERAL_MISSING.
 * `verify --skip-crl` passes with T13 / T14 warnings. Also, the start line said "every result says
 * so", but no result carried a --skip-crl warning. Now serve gathers the collateral again with the
 * CRLs optional, as verify and batch do (src/cli/gather.ts). Each skipped CRL is a warning, so the
 * EAR is at most "warning". Every result under --skip-crl names the relaxation. A missing TCB info
 * (or VCEK) stays 503. Without --skip-crl nothing changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SKIP_CRL_WARNING } from '../../src/attestation-service/appraise.js';
import { gathersAgainWithoutCrl } from '../../src/cli/gather.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { CollateralUnavailableError, verifyEarJwt } from '../../src/index.js';
import { capture } from '../cli/capture.js';
import { TempDirs, cli } from '../cli/helpers.js';
import { post } from './helpers.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

type Running = Awaited<ReturnType<typeof startServe>>;

interface Platform {
  dir: string;
  evidence: string;
  /** A copy of the collateral bundle without the artifacts whose kind matches. */
  without(re: RegExp, name: string): string;
}

async function platform(tee: 'tdx' | 'snp'): Promise<Platform> {
  const dir = dirs.make(`tee-as-skipcrl-${tee}-`);
  expect((await cli(['dev', 'quote', '--tee', tee, '--out', dir])).code).toBe(0);
  const bundle = JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8')) as { artifacts: { kind: string }[] };
  return {
    dir,
    evidence: readFileSync(join(dir, 'evidence.bin')).toString('base64'),
    without(re, name) {
      const kept = bundle.artifacts.filter((a) => !re.test(a.kind));
      expect(kept.length).toBeLessThan(bundle.artifacts.length);
      const path = join(dir, `${name}.json`);
      writeFileSync(path, JSON.stringify({ ...bundle, artifacts: kept }));
      return path;
    },
  };
}

async function serve(p: Platform, collateral: string, extra: string[]): Promise<{ running: Running; stderr: () => string }> {
  const io = capture();
  const args = ['--listen', '127.0.0.1:0', '--offline', '--no-cache', '--collateral', collateral, '--trust-root', join(p.dir, 'trust-root.pem'), ...extra];
  return { running: await startServe(parseServeArgs(args)!, io.io), stderr: io.stderr };
}

async function verifyOnce(p: Platform, collateral: string, extra: string[]) {
  const { running, stderr } = await serve(p, collateral, extra);
  try {
    const r = await post(running.service.url, '/v1/verify', { evidence: p.evidence });
    let ear: { status?: string; warnings: string[] } = { warnings: [] };
    if (r.status === 200) {
      const { claims } = verifyEarJwt(r.json.token, running.service.publicKey, { now: Math.floor(Date.parse(r.json.at) / 1000) });
      const submod = (claims as any).submods.cpu0;
      ear = { status: submod['ear.status'], warnings: submod['ear.veraison.policy-claims'].warnings };
    }
    return { status: r.status, json: r.json, warnings: (r.json?.warnings ?? []) as string[], ear, stderr: stderr() };
  } finally {
    await running.close();
  }
}

describe('review s12 docs #3: serve --skip-crl, TDX', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await platform('tdx');
  }, 60_000);

  it('without --skip-crl, a bundle without the PCK CRL is 503 ERR_COLLATERAL_MISSING, as before', async () => {
    const r = await verifyOnce(p, p.without(/^intel-pck-crl$/, 'no-pck-crl'), []);
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('ERR_COLLATERAL_MISSING');
  });

  it('with --skip-crl, a bundle without the PCK CRL verifies: T14 warning, the relaxation named, EAR "warning"', async () => {
    const r = await verifyOnce(p, p.without(/^intel-pck-crl$/, 'no-pck-crl'), ['--skip-crl']);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, status: 'warning', tcbStatus: 'UpToDate' });
    expect(r.warnings.some((w) => w.startsWith('T14 skipped'))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith('T13'))).toBe(false);
    expect(r.warnings.filter((w) => w === SKIP_CRL_WARNING)).toHaveLength(1);
    expect(r.ear.status).toBe('warning');
    expect(r.ear.warnings).toContain(SKIP_CRL_WARNING);
    expect(r.ear.warnings.some((w) => w.startsWith('T14 skipped'))).toBe(true);
  });

  it('with --skip-crl and no CRL at all: T13 and T14 warnings', async () => {
    const r = await verifyOnce(p, p.without(/crl/, 'no-crls'), ['--skip-crl']);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, status: 'warning' });
    expect(r.warnings.some((w) => w.startsWith('T13'))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith('T14'))).toBe(true);
  });

  it('with --skip-crl and every CRL there: no CRL skipped, but the result still names the relaxation', async () => {
    const r = await verifyOnce(p, join(p.dir, 'collateral.json'), ['--skip-crl']);
    expect(r.status).toBe(200);
    expect(r.warnings.some((w) => /^T1[34]/.test(w))).toBe(false);
    expect(r.warnings).toContain(SKIP_CRL_WARNING);
    expect(r.ear.warnings).toContain(SKIP_CRL_WARNING);
    expect(r.stderr).toContain('--skip-crl');
  });

  it('without --skip-crl, no result names the relaxation', async () => {
    const r = await verifyOnce(p, join(p.dir, 'collateral.json'), []);
    expect(r.status).toBe(200);
    expect(r.warnings).not.toContain(SKIP_CRL_WARNING);
  });

  it('with --skip-crl, a missing TCB info stays 503 (only CRLs are optional)', async () => {
    const r = await verifyOnce(p, p.without(/^intel-tcb-info$/, 'no-tcb-info'), ['--skip-crl']);
    expect(r.status).toBe(503);
    expect(r.json.error.code).toMatch(/^ERR_COLLATERAL_/);
  });

  it('with --skip-crl, a missing QE identity stays 503', async () => {
    const r = await verifyOnce(p, p.without(/^intel-qe-identity$/, 'no-qe-identity'), ['--skip-crl']);
    expect(r.status).toBe(503);
  });
});

describe('review s12 docs #3: serve --skip-crl, SEV-SNP', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await platform('snp');
  }, 60_000);

  it('without --skip-crl, a bundle without the AMD CRL is 503', async () => {
    const r = await verifyOnce(p, p.without(/^amd-crl$/, 'no-crl'), []);
    expect(r.status).toBe(503);
  });

  it('with --skip-crl, a bundle without the AMD CRL verifies with a skipped-CRL warning and the relaxation named', async () => {
    const r = await verifyOnce(p, p.without(/^amd-crl$/, 'no-crl'), ['--skip-crl']);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, status: 'warning' });
    expect(r.warnings.some((w) => /skipped/.test(w) && /CRL/.test(w))).toBe(true);
    expect(r.warnings).toContain(SKIP_CRL_WARNING);
  });

  it('with --skip-crl, a missing VCEK stays 503', async () => {
    const r = await verifyOnce(p, p.without(/^amd-vcek$/, 'no-vcek'), ['--skip-crl']);
    expect(r.status).toBe(503);
  });
});

describe('review s12 docs #3: which unavailable answers are gathered again (src/cli/gather.ts, shared with batch)', () => {
  const unavailable = (code: 'ERR_COLLATERAL_MISSING' | 'ERR_COLLATERAL_UNAVAILABLE', reason?: string) =>
    new CollateralUnavailableError(code, 'x', reason === undefined ? {} : { artifact: 'k', reason });

  it('a missing or unavailable artifact is; a refusal by the service guards (rollback, floor file, fetch budget) is not', () => {
    expect(gathersAgainWithoutCrl(unavailable('ERR_COLLATERAL_MISSING'))).toBe(true);
    expect(gathersAgainWithoutCrl(unavailable('ERR_COLLATERAL_UNAVAILABLE', 'platform-not-served'))).toBe(true);
    for (const reason of ['rollback', 'floor-unreadable', 'fetch-budget']) expect(gathersAgainWithoutCrl(unavailable('ERR_COLLATERAL_UNAVAILABLE', reason))).toBe(false);
    expect(gathersAgainWithoutCrl(new Error('x'))).toBe(false);
  });
});
