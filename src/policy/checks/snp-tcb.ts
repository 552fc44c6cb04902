/**
 * SEV-SNP TCB policy (checklist §4.4 E): minimum TCB per component of the
 * reported (S17; with provisional firmware allowed also the committed) and
 * launch (S18) TCB, firmware ABI / build minimums (S19; with provisional
 * firmware allowed also the committed version) and no provisional firmware
 * (S15, S19), required mitigation bits (S20). AMD does
 * not revoke old VCEKs when the TCB moves on: these minimums are the defence.
 */
import type { SnpClaims, SnpTcbClaim } from '../../verify/types.js';
import type { SnpPolicy, SnpTcbComponents, SnpTcbMinimum } from '../types.js';
import type { Findings } from './findings.js';

const COMPONENTS = ['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const;

function checkComponents(min: SnpTcbComponents | undefined, tcb: SnpTcbClaim, path: string, check: 'S17' | 'S18', what: string, f: Findings, marker = ''): void {
  if (min === undefined) return;
  for (const name of COMPONENTS) {
    const floor = min[name];
    if (floor === undefined) continue;
    const actual = tcb[name];
    // S17 / S18: every named component at least the minimum (an absent component, e.g. FMC off Turin, fails)
    if (actual === undefined || actual < floor) {
      f.fail(`${path}/${name}${marker}`, check, 'TCB_STATUS', { minimum: floor }, actual ?? null, `${what} ${name} ${actual ?? '(absent)'} is below the policy's minimum ${floor}`);
    }
  }
}

/** "1.55" or "1.55.21" to [major, minor]. */
function abiOf(version: string): [number, number] {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return [major, minor];
}

function below(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * Violation path of a minimum that COMMITTED_TCB or the committed firmware
 * version failed: the policy field's pointer and a marker, so it never
 * collides with the finding of the same field on the reported TCB or the
 * current version.
 */
const COMMITTED = ' (committed)';
/** Marker of a `reported` minimum that LAUNCH_TCB failed (the policy has no `launch` block). */
const LAUNCH = ' (launch)';

/** S19: a firmware version ("major.minor.build") at least the policy's ABI and build minimums. */
function checkFirmwareVersion(version: string, p: SnpPolicy, marker: string, what: string, f: Findings): void {
  if (p.firmware.minAbi !== undefined && below(abiOf(version), abiOf(p.firmware.minAbi))) {
    f.fail(`/firmware/minAbi${marker}`, 'S19', 'TCB_STATUS', { minimum: p.firmware.minAbi }, version, `${what} ABI ${version} is below the policy's minimum ${p.firmware.minAbi}`);
  }
  const build = Number(version.split('.')[2] ?? Number.NaN);
  if (p.firmware.minBuild !== undefined && !(build >= p.firmware.minBuild)) {
    f.fail(`/firmware/minBuild${marker}`, 'S19', 'TCB_STATUS', { minimum: p.firmware.minBuild }, build, `${what} build ${build} is below the policy's minimum ${p.firmware.minBuild}`);
  }
}

function checkFirmware(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  // S15: COMMITTED_TCB equal to CURRENT_TCB (no provisional firmware) unless allowed, then a warning
  if (!c.tcbRelations.committedEqualsCurrent) {
    if (!p.allowProvisionalFirmware) f.fail('/allowProvisionalFirmware', 'S15', 'SNP_TCB', { committed: 'equal to current' }, { committed: c.tcb.committed.raw, current: c.tcb.current.raw }, 'COMMITTED_TCB differs from CURRENT_TCB (provisional firmware)');
    else f.warn('S15', `provisional firmware accepted by the policy (allowProvisionalFirmware): COMMITTED_TCB ${c.tcb.committed.raw} differs from CURRENT_TCB ${c.tcb.current.raw}, the platform can roll back to it`);
  }
  // S19: committed firmware version equal to current unless allowed, then a warning
  if (c.committedVersion !== c.currentVersion) {
    if (!p.allowProvisionalFirmware) f.fail('/allowProvisionalFirmware', 'S19', 'SNP_TCB', { committedVersion: c.currentVersion }, c.committedVersion, 'the committed firmware version differs from the current one (provisional firmware)');
    else f.warn('S19', `provisional firmware accepted by the policy (allowProvisionalFirmware): committed version ${c.committedVersion} differs from current ${c.currentVersion}, the platform can roll back to it`);
  }
  // S19: CURRENT_MAJOR.MINOR and CURRENT_BUILD at least the minimums
  checkFirmwareVersion(c.currentVersion, p, '', 'firmware', f);
  // S19 under provisional firmware: the platform can roll back to the committed firmware, so it meets
  // the same minimums (without provisional firmware committed = current, checked just above).
  if (p.allowProvisionalFirmware) checkFirmwareVersion(c.committedVersion, p, COMMITTED, 'committed firmware', f);
}

function checkMitigations(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  const vectors = [
    ['launch', c.launchMitVector],
    ['current', c.currentMitVector],
  ] as const;
  for (const [name, actual] of vectors) {
    const required = p.requiredMitigations[name];
    if (required === undefined) continue;
    // S20: (vector & required) == required; a report without the vector (v2–v4) fails
    if (actual === undefined || (BigInt(actual) & BigInt(required)) !== BigInt(required)) {
      f.fail(`/requiredMitigations/${name}`, 'S20', 'POLICY', { bitsSet: required }, actual ?? null, `${name.toUpperCase()}_MIT_VECTOR lacks required mitigation bits`);
    }
  }
}

/**
 * S18: LAUNCH_TCB. A guest launched on firmware below the floor stays suspect after a live update
 * raised its reported TCB (checklist S18, EntrySign). Per component, the `launch` minimum when the
 * policy names it, else the `reported` one (path `.../reported/<c> (launch)`): a `launch` block that
 * names only some components leaves the others at the reported floor (s16 change review #2). A
 * `launch` minimum below the `reported` one is a relaxation: a guest it admits is warned about.
 */
function checkLaunch(min: SnpTcbMinimum | undefined, c: SnpClaims, f: Findings): void {
  if (min === undefined) return;
  for (const name of COMPONENTS) {
    const explicit = min.launch?.[name];
    const reported = min.reported?.[name];
    const floor = explicit ?? reported;
    if (floor === undefined) continue;
    const actual = c.tcb.launch[name];
    const path = explicit !== undefined ? `/tcbMinimums/${c.product}/launch/${name}` : `/tcbMinimums/${c.product}/reported/${name}${LAUNCH}`;
    if (actual === undefined || actual < floor) {
      f.fail(path, 'S18', 'TCB_STATUS', { minimum: floor }, actual ?? null, `LAUNCH_TCB ${name} ${actual ?? '(absent)'} is below the policy's minimum ${floor}`);
    } else if (reported !== undefined && actual < reported) {
      f.warn('S18', `guest launched below the REPORTED_TCB floor accepted by the policy's launch minimum: LAUNCH_TCB ${name} ${actual} < reported minimum ${reported} (launch minimum ${floor})`);
    }
  }
}

export function checkSnpTcb(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  const min = p.tcbMinimums[c.product];
  checkComponents(min?.reported, c.tcb.reported, `/tcbMinimums/${c.product}/reported`, 'S17', 'REPORTED_TCB', f);
  // S17 under provisional firmware: the platform can roll back to COMMITTED_TCB, so it meets the
  // same minimums (without provisional firmware COMMITTED = CURRENT >= REPORTED, S15 / S16).
  if (p.allowProvisionalFirmware) checkComponents(min?.reported, c.tcb.committed, `/tcbMinimums/${c.product}/reported`, 'S17', 'COMMITTED_TCB', f, COMMITTED);
  checkLaunch(min, c, f);
  checkFirmware(c, p, f);
  checkMitigations(c, p, f);
}
