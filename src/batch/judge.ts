/**
 * The policy step of a batch record (src/policy): the verifier's result and
 * the record's expectations in, a verdict with every violation out.
 *
 * Which policy: the run's `--policy` file, else `defaultPolicy(tee)` (Intel
 * TCB status UpToDate only, no debug; measurements not pinned). A record's own
 * `policy` is archive content, not configuration: one record could otherwise
 * accept debug or OutOfDate and count as trusted. It is used only with the
 * explicit relaxation `allowRecordPolicy` (--allow-record-policy), and then the
 * record's result carries a warning naming that policy. Without it the record's
 * policy is ignored, with a warning: the verdict is the run's policy's, which
 * is what the operator asked for (refusing the record instead would hide that
 * verdict behind an error for every archive that stores policies). A policy is for one TEE: evidence of
 * another TEE violates it (X07). The record's `reportData` is the expected
 * REPORT_DATA (T41 / S29). The decision instant is the verification instant,
 * so a record verified at its collectedAt is judged as it would have been then.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { defaultPolicy, evaluatePolicy, loadPolicy, PolicyError, type Policy, type PolicyTee } from '../policy/index.js';
import type { VerificationResult } from '../index.js';
import type { Violation } from './result.js';
import type { FileRead } from './setup-digests.js';

export interface Verdict {
  ok: boolean;
  violations: Violation[];
  warnings: string[];
}

export interface Judge {
  /** `recordPolicy` is the record's own policy (parsed JSON): used instead of the run's only when the run allows it. */
  judge(result: VerificationResult, recordPolicy: unknown, reportData: string | undefined): Verdict;
  /**
   * The `collateral.expiryGraceSeconds` of the policy the record will be judged under (its own with
   * --allow-record-policy, else the run's; the default policies name none), known before the
   * verification: verify gives the policy's grace to the collateral service and the verifier, and
   * batch does the same (review s13 CLI #2). Throws the record policy's ERR_POLICY_INVALID.
   */
  graceSeconds?(recordPolicy: unknown): number | undefined;
}

/** A loaded policy's collateral grace, as `tee-verify verify` reads it from its --policy file. */
export function graceOf(policy: Policy | undefined): number | undefined {
  return policy?.collateral?.expiryGraceSeconds;
}

/** The run's policy file cannot be used: a usage error before any record is read. */
export class PolicyFileError extends Error {}

/** Records of one archive usually share a handful of policies: load each once. */
const RECORD_POLICY_CACHE = 256;

/**
 * Depth up to which a record's policy is keyed by its JSON text. loadPolicy refuses a document nested
 * deeper than 32 levels (src/policy/load.ts), so anything deeper than this is refused by it anyway.
 */
const KEYED_DEPTH = 64;

/** Whether `value` (parsed JSON) nests objects / arrays deeper than `limit`; iterative, stops at the first such path. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** A record's policy and the warning its use puts on the result. */
interface RecordPolicy {
  policy: Policy;
  warning: string;
}

/** How a warning names a record's policy: its `id`, else a digest of the document (ids are optional). */
function policyName(policy: Policy, key: string): string {
  if (typeof policy.id === 'string' && policy.id.length > 0) return `"${policy.id.slice(0, 200)}"`;
  return `without id (sha256:${createHash('sha256').update(key).digest('hex').slice(0, 16)})`;
}

const IGNORED_WARNING = 'the record\'s own policy was ignored: it was judged under the run\'s policy (--allow-record-policy not given)';

class PolicyJudge implements Judge {
  readonly #runPolicy: Policy | undefined;
  readonly #allowRecordPolicy: boolean;
  readonly #defaults = new Map<PolicyTee, Policy>();
  readonly #recordPolicies = new Map<string, RecordPolicy>();

  constructor(runPolicy: Policy | undefined, allowRecordPolicy: boolean) {
    this.#runPolicy = runPolicy;
    this.#allowRecordPolicy = allowRecordPolicy;
  }

  #recordPolicy(doc: unknown): RecordPolicy {
    // JSON.stringify recurses: a record's policy nested 150,000 levels deep (JSON.parse is iterative,
    // so the line parses) overflowed the stack here, ERR_INTERNAL instead of ERR_POLICY_INVALID
    // (review s14 #4). Deeper than any valid policy: loadPolicy refuses it (bounded depth), before any stringify.
    if (nestedDeeperThan(doc, KEYED_DEPTH)) {
      loadPolicy(doc as object); // throws its ERR_POLICY_INVALID (maxDepth, with the path)
      throw new PolicyError([{ path: '', keyword: 'maxDepth', message: `nested deeper than ${KEYED_DEPTH}` }]);
    }
    const key = JSON.stringify(doc);
    let entry = this.#recordPolicies.get(key);
    if (!entry) {
      const policy = loadPolicy(doc as object); // PolicyError (ERR_POLICY_INVALID) becomes the record's error
      entry = { policy, warning: `relaxation: judged under the record's own policy ${policyName(policy, key)} instead of the run's (--allow-record-policy)` };
      if (this.#recordPolicies.size >= RECORD_POLICY_CACHE) this.#recordPolicies.delete(this.#recordPolicies.keys().next().value as string);
      this.#recordPolicies.set(key, entry);
    }
    return entry;
  }

  #default(tee: PolicyTee): Policy {
    let policy = this.#defaults.get(tee);
    if (!policy) {
      policy = defaultPolicy(tee);
      this.#defaults.set(tee, policy);
    }
    return policy;
  }

  /** The run's policy, whose grace builds the run's collateral service. */
  get runPolicy(): Policy | undefined {
    return this.#runPolicy;
  }

  graceSeconds(recordPolicy: unknown): number | undefined {
    const own = recordPolicy !== undefined && this.#allowRecordPolicy ? this.#recordPolicy(recordPolicy) : undefined;
    return graceOf(own?.policy ?? this.#runPolicy);
  }

  judge(result: VerificationResult, recordPolicy: unknown, reportData: string | undefined): Verdict {
    const own = recordPolicy !== undefined && this.#allowRecordPolicy ? this.#recordPolicy(recordPolicy) : undefined;
    const policy = own?.policy ?? this.#runPolicy ?? this.#default(result.tee);
    const appraisal = evaluatePolicy(result, policy, reportData === undefined ? {} : { reportData });
    const notice = own ? own.warning : recordPolicy !== undefined ? IGNORED_WARNING : undefined;
    return {
      ok: appraisal.ok,
      violations: appraisal.violations.map((v) => ({ path: v.path, expected: v.expected, actual: v.actual, check: v.check, class: v.errorClass, message: v.message })),
      warnings: notice === undefined ? appraisal.warnings : [notice, ...appraisal.warnings],
    };
  }
}

/**
 * The judge for a run: the policy file when given, else the defaults per TEE; records' own policies only when allowed.
 * `read`: the policy file's bytes as the run's main thread read them (review s14 #2); without it the file is read here.
 */
export function loadJudge(policyFile: string | undefined, allowRecordPolicy = false, read?: FileRead): Judge & { readonly runPolicy: Policy | undefined } {
  if (policyFile === undefined) return new PolicyJudge(undefined, allowRecordPolicy);
  let text: Uint8Array;
  if (read !== undefined) {
    if (!('bytes' in read)) throw new PolicyFileError(`--policy ${policyFile} cannot be read: ${read.error}`);
    text = read.bytes;
  } else {
    try {
      text = readFileSync(policyFile);
    } catch (err) {
      throw new PolicyFileError(`--policy ${policyFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  try {
    return new PolicyJudge(loadPolicy(new Uint8Array(text)), allowRecordPolicy);
  } catch (err) {
    const path = (err as { details?: { path?: string } }).details?.path;
    throw new PolicyFileError(`--policy ${policyFile} is not a valid policy${path ? ` (at ${path || '/'})` : ''}: ${(err as Error).message}`);
  }
}
