/**
 * The second half of `demo`: full verification, offline, of a simulated TDX
 * quote and a simulated SEV-SNP report from the project's test PKI, each with
 * its collateral (TCB info, QE identity, CRLs / VCEK, chain, CRL) and the test
 * trust roots, at a fixed instant; then the default policy. Every executed
 * check is printed with its checklist id.
 */
import { BundleSource, CollateralService, defaultPolicy, evaluatePolicy, verifyEvidence, type TeeVerifyError } from '../index.js';
import { certificatesFrom, trustRootsFrom } from './certificates.js';
import { buildDevEvidence, type DevOptions } from './dev-evidence.js';
import { writeLine, type CliIo, type Style } from './io.js';

/** Fixed, so the demo prints the same thing on every machine. */
const DEMO_INSTANT = new Date('2026-06-01T00:00:00Z');
const DEMO_SEED = 'tee-verify demo';

const PLATFORMS: Omit<DevOptions, 'at' | 'seed'>[] = [
  { tee: 'tdx', version: 4 },
  { tee: 'snp', product: 'Turin' },
];

export interface DemoTally {
  total: number;
  failed: number;
}

async function verifyOne(spec: Omit<DevOptions, 'at' | 'seed'>, io: CliIo, style: Style, tally: DemoTally): Promise<void> {
  const dev = buildDevEvidence({ ...spec, at: DEMO_INSTANT, seed: DEMO_SEED });
  const trustRoots = trustRootsFrom(certificatesFrom(new Uint8Array(Buffer.from(dev.trustRootPem)), 'demo test PKI'), 'demo test PKI', 'demo test PKI');
  const source = new BundleSource(dev.artifacts);
  const collateral = new CollateralService({ intel: source, amd: source, cache: null });
  writeLine(io.stdout, style.bold(`simulated ${dev.description}: full verification at ${DEMO_INSTANT.toISOString()}`));
  try {
    const result = await verifyEvidence(dev.evidence, { collateral, at: DEMO_INSTANT, trustRoots });
    const width = Math.max(...result.checks.map((c) => c.id.length));
    for (const c of result.checks) writeLine(io.stdout, `  ${style.pass}  ${c.id.padEnd(width)}  ${c.description}`);
    tally.total += result.checks.length;
    const appraisal = evaluatePolicy(result, defaultPolicy(result.tee));
    const status = result.tcbStatus ?? 'n/a (SEV-SNP: policy sets minimum TCBs)';
    writeLine(io.stdout, `  TCB status: ${status}; default policy: ${appraisal.ok ? 'met' : `NOT met (${appraisal.violations.map((v) => v.check).join(', ')})`}`);
    tally.total += 1;
    if (!appraisal.ok) tally.failed += 1;
  } catch (err) {
    const e = err as TeeVerifyError;
    writeLine(io.stdout, `  ${style.fail}  ${e.check ?? '?'}  ${e.code}: ${e.message}`);
    tally.total += 1;
    tally.failed += 1;
  }
  writeLine(io.stdout);
}

export async function runFullVerificationDemo(io: CliIo, style: Style): Promise<DemoTally> {
  const tally: DemoTally = { total: 0, failed: 0 };
  for (const spec of PLATFORMS) await verifyOne(spec, io, style, tally);
  return tally;
}
