/**
 * A policy for a TPM-only vTPM bundle (no hardware evidence): only its `vtpm`
 * section has anything to judge, with the same rules the gateway path applies
 * through evaluatePolicy (src/policy/checks/vtpm.ts). A policy that pins
 * hardware fields, or has no vtpm section, would pass without being applied:
 * it is refused as a usage error instead (review s8, finding 1).
 */
import { defaultPolicy, type Policy, type PolicyViolation } from '../index.js';
import type { VtpmPolicy } from '../policy/index.js';
import { Findings } from '../policy/checks/findings.js';
import { checkVtpm } from '../policy/checks/vtpm.js';
import type { VtpmAppraisal } from '../vtpm/verify.js';
import { UsageError } from './errors.js';

/** Members that name the document or the vTPM rules, not hardware claims. */
const NOT_HARDWARE = new Set(['version', 'tee', 'id', 'vtpm']);

/** JSON with sorted keys, so two policies compare by content, not member order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Top-level members whose value differs from the TEE's default: what the policy pins about hardware. */
function hardwarePins(policy: Policy): string[] {
  const defaults = defaultPolicy(policy.tee) as unknown as Record<string, unknown>;
  const own = policy as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(own), ...Object.keys(defaults)]);
  return [...keys].filter((k) => !NOT_HARDWARE.has(k) && canonical(own[k]) !== canonical(defaults[k])).sort();
}

/** The vtpm section a TPM-only bundle is judged by; a UsageError when the policy cannot be applied as written. */
export function vtpmSectionForTpmOnly(policy: Policy, file: string): VtpmPolicy {
  const pins = hardwarePins(policy);
  if (pins.length > 0) {
    throw new UsageError(`--policy ${file} pins hardware claims (${pins.map((k) => `/${k}`).join(', ')}) that a TPM-only bundle does not have: use a policy with only a "vtpm" section (and defaults) for it`);
  }
  const section = 'vtpm' in policy ? policy.vtpm : undefined;
  if (section === undefined) throw new UsageError(`--policy ${file} has no "vtpm" section: nothing in it applies to a TPM-only bundle`);
  return section;
}

/** Every violation of the vtpm section by the verified PCRs, IMA list and boot components. */
export function judgeTpmOnly(section: VtpmPolicy, appraisal: VtpmAppraisal): { ok: boolean; violations: PolicyViolation[]; warnings: string[] } {
  const f = new Findings();
  checkVtpm(section, appraisal, f);
  return { ok: f.violations.length === 0, violations: f.violations, warnings: f.warnings };
}
