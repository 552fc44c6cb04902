/**
 * The policies a request can name. The service holds named policies (from
 * its options / `--policy`), one default per TEE (the library's
 * defaultPolicy unless configured) and, when allowed, accepts a policy
 * document inline. A policy without an `id` gets one here, so the EAR's
 * ear.appraisal-policy-id always says which policy judged: the name it was
 * configured under, or for an inline document always
 * "inline:sha256:<digest of its canonical form>" (never the id it brings).
 *
 * A configured document whose `id` is not the name it is configured under is
 * refused at start, as is a name (or an unnamed default's id) in the reserved
 * "tee-verify:" (the library's defaults) and "inline:" (clients' documents)
 * spaces, or an unnamed default's id that is a configured name (review s12 #2:
 * a lax policy any client may pick, configured as "lax" from a relaxed copy of
 * prod.json, signed EARs naming "prod"). Refused rather than renamed: the id
 * the operator wrote and audits is the one every token carries.
 */
import { createHash } from 'node:crypto';

import { InvalidArgumentError, TeeVerifyError } from '../errors.js';
import { defaultPolicy, loadPolicy, type Policy } from '../policy/index.js';
import { withPolicyId } from '../policy/load.js';
import type { PolicyTee } from '../policy/types.js';
import { canonicalJson } from './encoding.js';
import { AttestationServiceError, badRequest, fromLibraryError } from './errors.js';

export type PolicyInput = Policy | Record<string, unknown> | string | Uint8Array;

const TEES: readonly PolicyTee[] = ['tdx', 'sgx', 'snp'];

/**
 * Ids only the service or the library gives: the library's default policies, clients' inline
 * documents, and content digests (sha256:, the EAR's name of an id-less policy). Compared without
 * case: a configured `TEE-VERIFY:default-tdx` or `sha256:…` would claim content it does not have
 * (s13 docs review #1, as loadPolicy refuses such ids in documents).
 */
const RESERVED_ID_PREFIXES = ['tee-verify:', 'inline:', 'sha256:'] as const;

function reserved(id: string): boolean {
  const lower = id.toLowerCase();
  return RESERVED_ID_PREFIXES.some((p) => lower.startsWith(p));
}

const refuse = (message: string): InvalidArgumentError => new InvalidArgumentError('ERR_INVALID_ARGUMENT', message);

/** The document loaded once, named `id` when it has no id of its own. */
function withId(input: PolicyInput, id: string): Policy {
  const loaded = loadPolicy(input);
  return loaded.id === undefined ? withPolicyId(loaded, id) : loaded;
}

/** A named policy: judged, and named in every EAR, under exactly its configured name. */
function namedPolicy(name: string, input: PolicyInput): Policy {
  if (reserved(name)) throw refuse(`policy name ${JSON.stringify(name)}: names starting with ${RESERVED_ID_PREFIXES.map((p) => `"${p}"`).join(' or ')} are reserved, in any case (the library's defaults, clients' inline documents, content digests)`);
  const policy = withId(input, name);
  if (policy.id !== name) {
    throw refuse(`policy ${JSON.stringify(name)}: its document says "id": ${JSON.stringify(policy.id)}; a configured policy's id must be the name it is configured under (the EAR's ear.appraisal-policy-id), so remove the id or configure it under that name`);
  }
  return policy;
}

export class PolicySet {
  readonly #named = new Map<string, Policy>();
  readonly #defaults = new Map<PolicyTee, Policy>();
  readonly #openWebUi = new Set<Policy>();

  /**
   * `openWebUi`: names of configured policies whose passing tokens carry the
   * claims open-webui trusts (`tee`, `tcb-status`), besides each TEE's default.
   */
  constructor(
    named: Record<string, PolicyInput> = {},
    defaults: Partial<Record<PolicyTee, string | PolicyInput>> = {},
    readonly allowInline = true,
    openWebUi: readonly string[] = [],
  ) {
    for (const [name, input] of Object.entries(named)) {
      if (name === 'default' || name.length === 0) throw new RangeError(`policy name ${JSON.stringify(name)} is reserved or empty`);
      this.#named.set(name, namedPolicy(name, input));
    }
    for (const tee of TEES) {
      const d = defaults[tee];
      if (d === undefined) {
        this.#defaults.set(tee, defaultPolicy(tee)); // built once: defaultPolicy makes a fresh frozen copy per call
        this.#openWebUi.add(this.#defaults.get(tee)!);
        continue;
      }
      const policy = typeof d === 'string' && this.#named.has(d) ? this.#named.get(d)! : this.#unnamedDefault(tee, d);
      if (policy.tee !== tee) throw new RangeError(`the default policy for ${tee} is a ${policy.tee} policy`);
      this.#defaults.set(tee, policy);
      this.#openWebUi.add(policy);
    }
    for (const name of openWebUi) {
      const policy = this.#named.get(name);
      if (!policy) throw new RangeError(`openWebUiPolicies names ${JSON.stringify(name)}, which is not a configured policy`);
      this.#openWebUi.add(policy);
    }
  }

  /** A default given as a document (not a configured name): its id, or "default-<tee>", must name no other policy. */
  #unnamedDefault(tee: PolicyTee, d: PolicyInput): Policy {
    const policy = withId(d, `default-${tee}`);
    const id = policy.id!;
    if (reserved(id)) throw refuse(`the default policy for ${tee}: its id ${JSON.stringify(id)} is reserved (leave the option out for the library's default)`);
    if (this.#named.has(id)) throw refuse(`the default policy for ${tee}: its id ${JSON.stringify(id)} is the name of another configured policy (name that policy instead)`);
    return policy;
  }

  /**
   * Whether a passing appraisal under `policy` may carry the claims open-webui
   * reads (it never looks at the EAR's policy id): each TEE's default and the
   * policies the operator listed, never a client's pick of a laxer named one.
   */
  approvesForOpenWebUi(policy: Policy): boolean {
    return this.#openWebUi.has(policy);
  }

  names(): string[] {
    return [...this.#named.keys()];
  }

  /** The default for the evidence's TEE. */
  defaultFor(tee: PolicyTee): Policy {
    return this.#defaults.get(tee)!;
  }

  /** A configured policy by name; "default" is the TEE's default. */
  named(name: string, tee: PolicyTee): Policy {
    if (name === 'default') return this.defaultFor(tee);
    const p = this.#named.get(name);
    if (!p) throw new AttestationServiceError('ERR_AS_UNKNOWN_POLICY', 400, `no policy named ${JSON.stringify(name.slice(0, 100))} is configured on this service`);
    return p;
  }

  /** A policy document sent with the request (an ERR_POLICY_INVALID answer names the bad field). */
  inline(doc: unknown): Policy {
    if (!this.allowInline) throw new AttestationServiceError('ERR_AS_UNKNOWN_POLICY', 400, 'this service accepts only the names of its configured policies');
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badRequest('"policy" must be a policy document (object) or the name of a configured policy');
    try {
      // Never the document's own id: a client must not borrow the name of a configured policy.
      // Loaded (validated) once per request, then renamed without a second validation (review s13 policy #1).
      const loaded = loadPolicy(doc as Record<string, unknown>);
      const digest = createHash('sha256').update(canonicalJson(loaded)).digest('hex');
      return withPolicyId(loaded, `inline:sha256:${digest}`);
    } catch (err) {
      if (err instanceof TeeVerifyError) throw fromLibraryError(err);
      throw err;
    }
  }
}
