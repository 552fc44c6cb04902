/**
 * s16 env red team, finding 3: TEE_VERIFY_ADDON was honoured by every entry
 * point and left no trace: a shim around the real addon that answers "valid"
 * to every ECDSA check made forged evidence TRUSTED, with no warning. The
 * override stays (the sanitizer runs and the packed-copy tests use it) but
 * every verification result made with it carries a warning naming the path,
 * and the CLI prints it. Each case imports a fresh module graph (the addon is
 * process-wide and loaded once), with the variable set to the real addon or
 * unset.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { capture } from '../cli/capture.js';

/**
 * Under scripts/sanitize.sh the variable is already set (the instrumented addon) and no test process
 * may load the uninstrumented one: the "set" cases then use that addon and the "unset" case is skipped.
 */
const OUTER = process.env['TEE_VERIFY_ADDON'];
const ADDON = resolve(OUTER ?? 'build/Release/tee_verify.node');
const AT = new Date('2026-06-01T12:00:00Z');
const WARNING = `native addon overridden by TEE_VERIFY_ADDON=${ADDON}`;

let saved: string | undefined;
let work = '';
beforeEach(() => {
  saved = process.env['TEE_VERIFY_ADDON'];
  work = mkdtempSync(join(tmpdir(), 'tee-verify-s16-addon-'));
});
afterEach(() => {
  if (saved === undefined) delete process.env['TEE_VERIFY_ADDON'];
  else process.env['TEE_VERIFY_ADDON'] = saved;
  rmSync(work, { recursive: true, force: true });
});

/** Verifies a simulated TDX and SEV-SNP quote, and runs the CLI's verify on a dev quote, all in a fresh module graph. */
async function verifyAll(override: string | undefined): Promise<{ tdx: string[]; snp: string[]; vtpm: string[]; cli: string; cliJson: string[] }> {
  if (override === undefined) delete process.env['TEE_VERIFY_ADDON'];
  else process.env['TEE_VERIFY_ADDON'] = override;
  vi.resetModules();
  const lib = await import('../../src/index.js');
  const { SimulatedTeeProvider } = await import('../../src/tee/index.js');
  const { run } = await import('../../src/cli/index.js');
  const { SimulatedVtpmProvider } = await import('../../src/tee/index.js');
  const { verifyVtpmEvidence } = await import('../../src/vtpm/verify.js');
  const out: Record<'tdx' | 'snp', string[]> = { tdx: [], snp: [] };
  for (const tee of ['tdx', 'snp'] as const) {
    const p = new SimulatedTeeProvider({ tee, at: AT });
    const ev = await p.getEvidence(new Uint8Array(64));
    const collateral = new lib.CollateralService({ intel: new lib.BundleSource([...p.collateral]), amd: new lib.BundleSource([...p.collateral]), cache: null });
    const r = await lib.verifyEvidence(ev.evidence, { collateral, trustRoots: p.trustRoots, at: AT });
    expect(r.ok).toBe(true);
    out[tee] = r.warnings;
  }
  // A TPM-only vTPM bundle (no hardware result to carry the warning).
  const nonce = new Uint8Array(32).fill(7);
  const { bundle } = await new SimulatedVtpmProvider().getVtpmEvidence({ reportData: new Uint8Array(64), extraData: nonce });
  const vtpm = (await verifyVtpmEvidence(bundle, { nonce, allowUnboundAk: true, at: AT })).warnings;
  const dev = join(work, `dev-${override === undefined ? 'default' : 'override'}`);
  const cli = async (argv: string[]) => {
    const c = capture();
    const code = await run(argv, c.io);
    return { code, stdout: c.stdout(), stderr: c.stderr() };
  };
  expect((await cli(['dev', 'quote', '--tee', 'tdx', '--at', AT.toISOString(), '--out', dev])).code).toBe(0);
  const argv = ['verify', join(dev, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dev, 'collateral.json'), '--trust-root', join(dev, 'trust-root.pem'), '--at', AT.toISOString()];
  const text = await cli(argv);
  expect(text.code).toBe(0);
  const json = await cli([...argv, '--json']);
  expect(json.code).toBe(0);
  return { ...out, vtpm, cli: text.stdout, cliJson: (JSON.parse(json.stdout) as { warnings: string[] }).warnings };
}

describe.skipIf(!existsSync(ADDON))('s16 env #3: a TEE_VERIFY_ADDON override shows in every verification result', () => {
  it('set (to the real addon): the Intel, SEV-SNP and vTPM results, the CLI text and its --json carry the warning naming the path', async () => {
    const r = await verifyAll(ADDON);
    for (const warnings of [r.tdx, r.snp, r.vtpm, r.cliJson]) expect(warnings.filter((w) => w.startsWith(WARNING))).toHaveLength(1);
    expect(r.cli).toContain(WARNING);
  });

  it('a relative value is named as the absolute path that was loaded', async () => {
    const r = await verifyAll(`.${'/'}${relative(process.cwd(), ADDON)}`);
    expect(r.tdx.some((w) => w.startsWith(WARNING))).toBe(true);
  });

  it.skipIf(OUTER !== undefined)('unset: no such warning anywhere', async () => {
    const r = await verifyAll(undefined);
    for (const warnings of [r.tdx, r.snp, r.vtpm, r.cliJson]) expect(warnings.some((w) => w.includes('TEE_VERIFY_ADDON'))).toBe(false);
    expect(r.cli).not.toContain('TEE_VERIFY_ADDON');
  });
});
