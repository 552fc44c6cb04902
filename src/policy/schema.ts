/**
 * JSON Schema (2020-12) of the native policy format, version 1 (X07):
 * `additionalProperties: false` on every object, any-of lists with at least
 * one unique entry, hex of exact lengths. loadPolicy validates documents
 * against this object with the small validator in json-schema.ts, then
 * applies the rules a schema cannot say (docs/policy.md). src/policy/schema.json
 * is this object as JSON; test/policy/schema.test.ts keeps the two equal.
 */
import { deepFreeze } from '../deep-freeze.js';

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonSchema = { readonly [key: string]: Json };

/**
 * Upper bounds of the policy's lists (review s13 policy #1): far above real use (a policy pins a
 * handful of measurements; the advisory list Intel has published is a few hundred), and a list
 * above its bound is refused before any entry is looked at. docs/policy.md lists them.
 */
export const POLICY_LIST_LIMITS = {
  /** Any-of allow lists of measurements, SVNs, product ids, XFAM values, CSP ids; advisory id lists. */
  allowList: 1024,
  /** SEV-SNP chipIds.allow / chipIds.deny (a fleet's chips). */
  chipIds: 4096,
  /** Accepted values of one PCR (vtpm.pcrs.<bank>.<n>). */
  pcrValues: 256,
  /** vtpm.requiredImaEntries. */
  imaEntries: 4096,
} as const;

const hex = (bytes: number, description: string): JsonSchema => ({ type: 'string', pattern: `^[0-9a-fA-F]{${bytes * 2}}$`, description });
const allowList = (item: JsonSchema, description: string, maxItems: number = POLICY_LIST_LIMITS.allowList): JsonSchema => ({
  description,
  anyOf: [{ const: 'any' }, { type: 'array', minItems: 1, maxItems, uniqueItems: true, items: item }],
});
const intRange = (minimum: number, maximum: number, description?: string): JsonSchema => ({
  type: 'integer',
  minimum,
  maximum,
  ...(description === undefined ? {} : { description }),
});
const bool = (description: string): JsonSchema => ({ type: 'boolean', description });
const ref = (name: string): JsonSchema => ({ $ref: `#/$defs/${name}` });

const U64 = '^0x[0-9a-fA-F]{16}$';
const ABI = '^(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})$';
const SECONDS = intRange(1, 10 * 366 * 24 * 3600);

const common: Record<string, JsonSchema> = {
  $schema: { type: 'string', description: 'Ignored: a hint for editors.' },
  version: { const: 1, description: 'Policy format version.' },
  id: {
    type: 'string',
    minLength: 1,
    maxLength: 256,
    description: 'Policy identifier, reported as ear.appraisal-policy-id. Ids starting with "sha256:" or "tee-verify:" (any case) are reserved: the loader refuses them (the names it gives a policy without an id).',
  },
  allowDebug: bool('T34 / S21 / §3: accept a debug TD, guest or enclave (with a warning). Default false.'),
  reportData: {
    description: 'T41 / S29: exact 64-byte REPORT_DATA (128 hex digits), or "any". Default "any".',
    anyOf: [{ const: 'any' }, hex(64, 'REPORT_DATA')],
  },
};

const intelTcb: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Intel TCB status policy (T33, T18, §2.7).',
  properties: {
    acceptedStatuses: {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      uniqueItems: true,
      description: 'Converged statuses accepted. Default ["UpToDate"]. Revoked is never acceptable.',
      items: {
        enum: [
          'UpToDate',
          'SWHardeningNeeded',
          'ConfigurationNeeded',
          'ConfigurationAndSWHardeningNeeded',
          'OutOfDate',
          'OutOfDateConfigurationNeeded',
          'TD_RELAUNCH_ADVISED',
          'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED',
        ],
      },
    },
    acceptedAdvisoryIds: { type: 'array', minItems: 1, maxItems: POLICY_LIST_LIMITS.allowList, uniqueItems: true, items: ref('advisoryId'), description: 'When present, every advisory of the result must be listed.' },
    rejectedAdvisoryIds: { type: 'array', minItems: 1, maxItems: POLICY_LIST_LIMITS.allowList, uniqueItems: true, items: ref('advisoryId'), description: 'Any of these advisories in the result is a violation.' },
    minTcbEvaluationDataNumber: intRange(0, 1_000_000, 'T18 / T21: minimum tcbEvaluationDataNumber of both the TCB info and the QE identity used.'),
  },
};

const intelCollateral: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxAgeSeconds: { ...SECONDS, description: 'X02: maximum age of TCB info, QE identity and PCK CRL at the decision instant.' },
    expiryGraceSeconds: { ...SECONDS, description: 'Grace after a collateral notAfter; off when absent; each use is a warning.' },
  },
};

const snpCollateral: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    expiryGraceSeconds: { ...SECONDS, description: 'Grace after a collateral notAfter; off when absent; each use is a warning.' },
  },
};

/** Issue 9: expected PCR values, { bank: { "0".."23": [hex, ...] } }. */
const pcrBank = (bytes: number): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: Object.fromEntries(Array.from({ length: 24 }, (_, i) => [String(i), { type: 'array', minItems: 1, maxItems: POLICY_LIST_LIMITS.pcrValues, uniqueItems: true, items: hex(bytes, `PCR ${i}`) }])),
});

const vtpmPolicy: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'vTPM rules (docs/vtpm-reference.md). Absent: vTPM claims are not judged; present: vTPM evidence is required.',
  properties: {
    pcrs: {
      type: 'object',
      additionalProperties: false,
      description: 'Expected quoted PCR values, any-of per PCR.',
      properties: { sha1: pcrBank(20), sha256: pcrBank(32), sha384: pcrBank(48), sha512: pcrBank(64) },
    },
    unknownImaEntries: { enum: ['violation', 'allow'], description: 'An IMA entry whose path the reference list does not name. Default "violation".' },
    requiredImaEntries: {
      type: 'array',
      minItems: 1,
      maxItems: POLICY_LIST_LIMITS.imaEntries,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 4096 },
      description: 'Paths that must appear in the IMA list.',
    },
    imaViolations: { enum: ['violation', 'allow'], description: 'IMA violation entries (ToMToU, open writers). Default "violation".' },
  },
};

const maskedU64: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: {
    value: { type: 'string', pattern: U64 },
    mask: { type: 'string', pattern: U64, description: 'Default all ones (exact match).' },
  },
};

const tdx: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tee', 'mrTd', 'mrConfigId', 'mrOwner', 'mrOwnerConfig'],
  properties: {
    ...common,
    tee: { const: 'tdx' },
    vtpm: ref('vtpmPolicy'),
    tcb: ref('intelTcb'),
    collateral: ref('intelCollateral'),
    mrTd: allowList(ref('hex48'), 'T36: MRTD allowlist, or "any". Required.'),
    rtmr0: allowList(ref('hex48'), 'T37. Default "any".'),
    rtmr1: allowList(ref('hex48'), 'T37. Default "any".'),
    rtmr2: allowList(ref('hex48'), 'T37. Default "any".'),
    rtmr3: allowList(ref('hex48'), 'T37. Default "any".'),
    mrConfigId: allowList(ref('hex48'), 'T38: expected value(s) or explicit "any". Required.'),
    mrOwner: allowList(ref('hex48'), 'T38: expected value(s) or explicit "any". Required.'),
    mrOwnerConfig: allowList(ref('hex48'), 'T38: expected value(s) or explicit "any". Required.'),
    mrSeam: allowList(ref('hex48'), 'T39: TDX module measurements. Default "any".'),
    mrSignerSeam: allowList(ref('hex48'), 'T39: TDX module signers. Default "any".'),
    seamSvn: allowList(intRange(0, 65535), 'T39: module SVN major*256+minor, exact. Default "any".'),
    minSeamSvn: intRange(0, 65535, 'T39: minimum module SVN (major*256+minor).'),
    mrServiceTd: allowList(ref('hex48'), 'T40: MRSERVICETD (body type 3). Default all zero.'),
    tdAttributes: { description: 'T34: (TDATTRIBUTES & mask) == value, or "any". Default "any".', anyOf: [{ const: 'any' }, maskedU64] },
    allowMigratable: bool('T34: MIGRATABLE (bit 29). Default false.'),
    requireSeptVeDisable: bool('T34: SEPT_VE_DISABLE (bit 28) must be set. Default true; false accepts a TD without it, with a warning.'),
    xfam: allowList({ type: 'string', pattern: U64 }, 'T35: exact XFAM values. Default "any".'),
  },
};

const sgx: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tee', 'mrEnclave', 'mrSigner'],
  properties: {
    ...common,
    tee: { const: 'sgx' },
    tcb: ref('intelTcb'),
    collateral: ref('intelCollateral'),
    mrEnclave: allowList(ref('hex32'), '§3: MRENCLAVE allowlist, or "any". Required.'),
    mrSigner: allowList(ref('hex32'), '§3: MRSIGNER allowlist, or "any". Required.'),
    isvProdId: allowList(intRange(0, 65535), '§3: ISVPRODID. Default "any".'),
    isvSvn: allowList(intRange(0, 65535), '§3: exact ISVSVN values. Default "any".'),
    minIsvSvn: intRange(0, 65535, '§3: minimum ISVSVN.'),
    attributes: {
      description: '§3: (ATTRIBUTES & mask) == value bytewise over 16 bytes, or "any". Default "any".',
      anyOf: [
        { const: 'any' },
        { type: 'object', additionalProperties: false, required: ['value'], properties: { value: ref('hex16'), mask: ref('hex16') } },
      ],
    },
    miscSelect: {
      description: '§3: (MISCSELECT & mask) == value, or "any". Default "any".',
      anyOf: [
        { const: 'any' },
        { type: 'object', additionalProperties: false, required: ['value'], properties: { value: intRange(0, 4294967295), mask: intRange(0, 4294967295) } },
      ],
    },
  },
};

const tcbComponents = (turin: boolean): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    bootloader: intRange(0, 255),
    tee: intRange(0, 255),
    snp: intRange(0, 255),
    microcode: intRange(0, 255),
    ...(turin ? { fmc: intRange(0, 255) } : {}),
  },
});

const tcbMinimum = (turin: boolean): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    reported: { ...tcbComponents(turin), description: 'S17: REPORTED_TCB minimum per component; also the S18 LAUNCH_TCB minimum of each component the launch block does not name.' },
    launch: { ...tcbComponents(turin), description: 'S18: LAUNCH_TCB minimum per component; a component not named here takes its reported minimum. Below the reported minimum it is a relaxation, warned when it admits a guest.' },
  },
});

const snp: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tee', 'measurement', 'hostData'],
  properties: {
    ...common,
    tee: { const: 'snp' },
    vtpm: ref('vtpmPolicy'),
    collateral: ref('snpCollateral'),
    measurement: allowList(ref('hex48'), 'S25: MEASUREMENT allowlist, or "any". Required.'),
    hostData: allowList(ref('hex32'), 'S26: HOST_DATA expected value(s) or explicit "any". Required.'),
    idKeyDigest: allowList(ref('hex48'), 'S27: trusted ID keys. Default "any".'),
    authorKeyDigest: allowList(ref('hex48'), 'S27: trusted author keys. Default "any".'),
    familyId: allowList(ref('hex16'), 'S27. Default "any".'),
    imageId: allowList(ref('hex16'), 'S27. Default "any".'),
    minGuestSvn: intRange(0, 4294967295, 'S27: minimum GUEST_SVN.'),
    vmpl: allowList(intRange(0, 3), 'S24: allowed VMPLs. Default [0].', 4),
    products: { type: 'array', minItems: 1, maxItems: 3, uniqueItems: true, items: { enum: ['Milan', 'Genoa', 'Turin'] }, description: 'S06. Default all.' },
    minReportVersion: intRange(2, 5, 'S03: minimum report version.'),
    signingKeys: { type: 'array', minItems: 1, maxItems: 2, uniqueItems: true, items: { enum: ['vcek', 'vlek'] }, description: 'S32. Default ["vcek"].' },
    cspIds: allowList({ type: 'string', minLength: 1, maxLength: 256 }, 'S45: allowed VLEK CSP IDs. Default "any".'),
    chipIds: {
      type: 'object',
      additionalProperties: false,
      description: 'S31: CHIP_ID allow / deny lists.',
      properties: {
        allow: { type: 'array', minItems: 1, maxItems: POLICY_LIST_LIMITS.chipIds, uniqueItems: true, items: ref('hex64') },
        deny: { type: 'array', minItems: 1, maxItems: POLICY_LIST_LIMITS.chipIds, uniqueItems: true, items: ref('hex64') },
      },
    },
    allowMigrationAgent: bool('S22 MIGRATE_MA / S28 REPORT_ID_MA. Default false.'),
    allowProvisionalFirmware: bool('S15 / S19: committed TCB / version may differ from current. Default false.'),
    guestPolicy: {
      type: 'object',
      additionalProperties: false,
      description: 'S22: guest POLICY bits.',
      properties: {
        allowSmt: bool('Default true.'),
        allowCxl: bool('Default false.'),
        requireSingleSocket: bool('Default false.'),
        requireMemAes256Xts: bool('Default false.'),
        requireRaplDis: bool('Default false.'),
        requireCiphertextHiding: bool('Default false.'),
        requirePageSwapDisable: bool('Default false.'),
        minAbi: { type: 'string', pattern: ABI, description: 'Minimum ABI_MAJOR.ABI_MINOR of the guest policy.' },
      },
    },
    platformInfo: {
      type: 'object',
      additionalProperties: false,
      description: 'S23: required value of each named PLATFORM_INFO bit.',
      properties: {
        smtEnabled: { type: 'boolean' },
        tsmeEnabled: { type: 'boolean' },
        eccEnabled: { type: 'boolean' },
        raplDisabled: { type: 'boolean' },
        ciphertextHidingDramEnabled: { type: 'boolean' },
        aliasCheckComplete: { type: 'boolean' },
        tioEnabled: { type: 'boolean' },
      },
    },
    tcbMinimums: {
      type: 'object',
      additionalProperties: false,
      description: 'S17 / S18: minimum TCB per product.',
      properties: { Milan: tcbMinimum(false), Genoa: tcbMinimum(false), Turin: tcbMinimum(true) },
    },
    firmware: {
      type: 'object',
      additionalProperties: false,
      description: 'S19: current firmware minimums.',
      properties: {
        minAbi: { type: 'string', pattern: ABI, description: 'CURRENT_MAJOR.CURRENT_MINOR at least this.' },
        minBuild: intRange(0, 255, 'CURRENT_BUILD at least this.'),
      },
    },
    requiredMitigations: {
      type: 'object',
      additionalProperties: false,
      description: 'S20 (report v5): mitigation bits that must be set.',
      properties: { launch: { type: 'string', pattern: U64 }, current: { type: 'string', pattern: U64 } },
    },
  },
};

const schema: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:tee-verify:policy:1',
  title: 'tee-verify reference-value policy, format version 1',
  description: 'Unknown keys are errors. Lists are any-of and never empty; "any" says explicitly that a field is not constrained.',
  oneOf: [ref('tdxPolicy'), ref('sgxPolicy'), ref('snpPolicy')],
  $defs: {
    hex16: hex(16, '16 bytes as hex'),
    hex32: hex(32, '32 bytes as hex'),
    hex48: hex(48, '48 bytes as hex'),
    hex64: hex(64, '64 bytes as hex'),
    advisoryId: { type: 'string', pattern: '^INTEL-(SA|DOC)-[0-9]{5}$' },
    intelTcb,
    intelCollateral,
    snpCollateral,
    vtpmPolicy,
    tdxPolicy: tdx,
    sgxPolicy: sgx,
    snpPolicy: snp,
  },
};


/** The schema, frozen: print it, never change it. */
export const policySchema: JsonSchema = deepFreeze(schema);
