/**
 * Claims in the shape trustee's attestation service gives them
 * (`ear.veraison.annotated-evidence`, protocols.md §6.3), so policies and UIs
 * written for trustee read ours: nested objects whose flattened names are
 * `tdx.quote.header.version`, `tdx.quote.body.mr_td`,
 * `tdx.td_attributes.debug`, `snp.measurement`, `snp.reported_tcb_snp`, ...
 * Only verified claims appear (T44: header user_data never does). Header
 * fields are those T03 pinned, as trustee prints them (hex of the raw
 * little-endian bytes).
 */
import type { Claims, SgxClaims, SnpClaims, TdxClaims, VerificationResult } from '../verify/types.js';

type JsonObject = Record<string, unknown>;

const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';

/** "0x0000000010000000" (numeric) to the 8 raw little-endian bytes as hex, trustee's form. */
function u64LeHex(value: string): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b.toString('hex');
}

function tdAttributeBits(c: TdxClaims): JsonObject {
  const v = BigInt(c.tdAttributes);
  const bit = (n: bigint) => (v & (1n << n)) !== 0n;
  return { debug: bit(0n), septve_disable: bit(28n), migratable: bit(29n), protection_keys: bit(30n), key_locker: bit(31n), perfmon: bit(63n) };
}

function tdx(c: TdxClaims, r: VerificationResult): JsonObject {
  const body: JsonObject = {
    tcb_svn: c.teeTcbSvn,
    mr_seam: c.mrSeam,
    mrsigner_seam: c.mrSignerSeam,
    seam_attributes: u64LeHex(c.seamAttributes),
    td_attributes: u64LeHex(c.tdAttributes),
    xfam: u64LeHex(c.xfam),
    mr_td: c.mrTd,
    mr_config_id: c.mrConfigId,
    mr_owner: c.mrOwner,
    mr_owner_config: c.mrOwnerConfig,
    rtmr_0: c.rtmr0,
    rtmr_1: c.rtmr1,
    rtmr_2: c.rtmr2,
    rtmr_3: c.rtmr3,
    report_data: c.reportData,
  };
  if (c.teeTcbSvn2 !== undefined) body['tee_tcb_svn2'] = c.teeTcbSvn2;
  if (c.mrServiceTd !== undefined) body['mr_servicetd'] = c.mrServiceTd;
  const version = c.quoteVersion === 5 ? '0500' : '0400';
  return {
    quote: { header: { version, att_key_type: '0200', tee_type: '81000000', vendor_id: INTEL_QE_VENDOR_ID }, body },
    td_attributes: tdAttributeBits(c),
    tcb_status: r.tcbStatus ?? null,
    advisory_ids: [...r.advisoryIds],
    fmspc: c.fmspc,
  };
}

function sgx(c: SgxClaims, r: VerificationResult): JsonObject {
  return {
    quote: {
      header: { version: '0300', att_key_type: '0200', vendor_id: INTEL_QE_VENDOR_ID },
      body: {
        mr_enclave: c.mrEnclave,
        mr_signer: c.mrSigner,
        isv_prod_id: c.isvProdId,
        isv_svn: c.isvSvn,
        attributes: c.attributes,
        misc_select: c.miscSelect,
        report_data: c.reportData,
      },
    },
    is_debuggable: c.debug,
    tcb_status: r.tcbStatus ?? null,
    advisory_ids: [...r.advisoryIds],
    fmspc: c.fmspc,
  };
}

function snp(c: SnpClaims): JsonObject {
  const out: JsonObject = {
    report_version: c.reportVersion,
    product: c.product,
    signing_key: c.signingKey,
    measurement: c.measurement,
    host_data: c.hostData,
    report_data: c.reportData,
    id_key_digest: c.idKeyDigest,
    author_key_digest: c.authorKeyDigest,
    family_id: c.familyId,
    image_id: c.imageId,
    chip_id: c.chipId,
    guest_svn: c.guestSvn,
    vmpl: c.vmpl,
    policy_abi_major: c.policy.abiMajor,
    policy_abi_minor: c.policy.abiMinor,
    policy_smt_allowed: c.policy.smt,
    policy_migrate_ma: c.policy.migrateMa,
    policy_debug_allowed: c.policy.debug,
    policy_single_socket: c.policy.singleSocket,
    platform_smt_enabled: c.platformInfo.smtEnabled,
    platform_tsme_enabled: c.platformInfo.tsmeEnabled,
    platform_ecc_enabled: c.platformInfo.eccEnabled,
    platform_alias_check_complete: c.platformInfo.aliasCheckComplete,
    current_version: c.currentVersion,
  };
  for (const kind of ['reported', 'current', 'committed', 'launch'] as const) {
    const t = c.tcb[kind];
    out[`${kind}_tcb_bootloader`] = t.bootloader;
    out[`${kind}_tcb_tee`] = t.tee;
    out[`${kind}_tcb_snp`] = t.snp;
    out[`${kind}_tcb_microcode`] = t.microcode;
    if (t.fmc !== undefined) out[`${kind}_tcb_fmc`] = t.fmc;
  }
  if (c.cspId !== undefined) out['csp_id'] = c.cspId;
  return out;
}

/** The result's claims in trustee's nested form, under the TEE's name. */
export function annotatedEvidence(result: VerificationResult): JsonObject {
  const c: Claims = result.claims;
  const inner = c.kind === 'tdx' ? tdx(c, result) : c.kind === 'sgx' ? sgx(c, result) : snp(c);
  return { [c.kind]: inner, report_data: c.reportData };
}

/** Flattens nested objects to dotted names; arrays and scalars are leaves. */
export function flattenClaims(value: JsonObject, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const name = prefix === '' ? k : `${prefix}.${k}`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) Object.assign(out, flattenClaims(v as JsonObject, name));
    else out[name] = v;
  }
  return out;
}
