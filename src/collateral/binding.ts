/**
 * An artifact must be what its key asked for. Shape checks (validate.ts) only
 * say that a body is a well-formed TCB info, CRL or chain; a source (a PCCS
 * that mixes up its tables, a bundle with a mislabelled entry, a cache file)
 * can still hand over a genuine document for another platform, TEE, CA or
 * product. Caching it under the asked-for key would serve it to every later
 * verification of that key, each failing in the verifier (T19, T47, T14)
 * until the entry ages out. So what the document names is compared with the
 * key where the artifact enters: network answers, bundle entries and cache
 * files; a mismatch is ERR_COLLATERAL_FORMAT. The verifier still makes its own
 * checks against the evidence.
 */
import { CollateralFormatError, TeeVerifyError } from '../errors.js';
import { parseAmdKdsExtensions, parseCertificate, parseCrl, splitPemCertificates, type AmdKdsExtension } from '../x509/index.js';
import type { CollateralArtifact } from './artifact.js';
import { kindOfKey } from './keys.js';
import { parseSignedJson } from './strict-json.js';
import { printableUrl } from './source-url.js';

function mismatch(a: CollateralArtifact, what: string, check?: string): CollateralFormatError {
  return new CollateralFormatError('ERR_COLLATERAL_FORMAT', `${a.kind} ${a.key}: ${what}`, {
    details: { artifact: a.key, reason: 'not-the-requested-artifact', ...(a.source.url ? { url: printableUrl(a.source.url) } : {}) },
    ...(check === undefined ? {} : { check }),
  });
}

/** `eval=N` in a key: the evaluation data number asked for; undefined for an update channel. */
function askedEvaluation(selector: string | undefined): number | undefined {
  const m = /^eval=(\d+)$/.exec(selector ?? '');
  return m ? Number(m[1]) : undefined;
}

/** intel/tcb-info/<tee>/<fmspc>/<selector> */
function checkTcbInfo(a: CollateralArtifact): void {
  const [, , tee, fmspc, selector] = a.key.split('/');
  const doc = parseSignedJson(a.body, 'tcbInfo').value;
  // T47: a TDX key takes a TDX document; SGX TCB info v2 has no id at all.
  const id = doc['id'];
  if (tee === 'tdx' ? id !== 'TDX' : id !== undefined && id !== 'SGX') throw mismatch(a, `TCB info id ${JSON.stringify(id)} answers a ${tee} request`, 'T47');
  // T19: the FMSPC asked for (hex compared case-insensitively).
  if (typeof doc['fmspc'] !== 'string' || doc['fmspc'].toLowerCase() !== fmspc) throw mismatch(a, `TCB info for FMSPC ${String(doc['fmspc'])} answers a request for ${fmspc}`, 'T19');
  const asked = askedEvaluation(selector);
  if (asked !== undefined && doc['tcbEvaluationDataNumber'] !== asked) {
    throw mismatch(a, `TCB info with evaluation data number ${String(doc['tcbEvaluationDataNumber'])} answers a request for ${asked}`);
  }
}

/** intel/qe-identity/<tee>/<selector> */
function checkQeIdentity(a: CollateralArtifact): void {
  const [, , tee, selector] = a.key.split('/');
  const doc = parseSignedJson(a.body, 'enclaveIdentity').value;
  const expected = tee === 'tdx' ? 'TD_QE' : 'QE';
  // T21 / T47: the TDX quoting enclave's identity, or SGX's.
  if (doc['id'] !== expected) throw mismatch(a, `QE identity id ${JSON.stringify(doc['id'])} answers a ${tee} request (expected ${expected})`, 'T21');
  const asked = askedEvaluation(selector);
  if (asked !== undefined && doc['tcbEvaluationDataNumber'] !== asked) {
    throw mismatch(a, `QE identity with evaluation data number ${String(doc['tcbEvaluationDataNumber'])} answers a request for ${asked}`, 'T21');
  }
}

const PCK_CA_CN = { platform: 'Intel SGX PCK Platform CA', processor: 'Intel SGX PCK Processor CA' } as const;

/** intel/pck-crl/<platform|processor>: T14, the CRL of the CA asked for. */
function checkPckCrl(a: CollateralArtifact): void {
  const ca = a.key.split('/')[2] as keyof typeof PCK_CA_CN;
  const cn = parseCrl(a.body).issuerAttributes.CN;
  if (cn !== PCK_CA_CN[ca]) throw mismatch(a, `a CRL issued by ${JSON.stringify(cn)} answers a request for the ${ca} CA's`, 'T14');
}

/** amd/cert-chain/<product>/<vcek|vlek>[/evidence]: ASK (or ASVK) then ARK of the product asked for. */
function checkAmdChain(a: CollateralArtifact): void {
  const [, , product, signingKey] = a.key.split('/');
  const names = splitPemCertificates(a.body).map((der) => parseCertificate(der).subjectAttributes.CN);
  const intermediate = signingKey === 'vlek' ? `SEV-VLEK-${product}` : `SEV-${product}`;
  // S07 / S08: the chain of the product and signing-key kind the request names.
  if (names[0] !== intermediate || names[1] !== `ARK-${product}`) {
    throw mismatch(a, `a chain of ${names.map((n) => JSON.stringify(n)).join(', ')} answers a request for ${intermediate}, ARK-${product}`, 'S08');
  }
}

/** The VCEK SPL extensions a key's TCB selector names (`bl=..,tee=..,snp=..,ucode=..[,fmc=..]`), in key order. */
const VCEK_SPL_FIELDS = { bl: 'blSPL', tee: 'teeSPL', snp: 'snpSPL', ucode: 'ucodeSPL', fmc: 'fmcSPL' } as const;

/**
 * amd/vcek/<product>/<hwID hex>/<TCB>: the certificate is the VCEK of the chip
 * and TCB asked for (review s11 changes-b #1). KDS serves a genuine, ASK-signed
 * VCEK for every chip and TCB, so a mirror can answer one for another chip or
 * another TCB; its signature and chain verify, and the report's signature
 * (S12) then fails as though the TEE had signed wrongly. Compared here, where
 * the artifact enters (network, bundle, cache), such an answer is a collateral
 * mismatch (ERR_COLLATERAL_MISMATCH, S13 / S14 on the certificate's side) and
 * never reaches the cache or the verifier. A VCEK taken from the evidence's
 * certificate table (amd/vcek/<product>/evidence/<sha256>) names no chip: the
 * verifier's S13 / S14 judge it against the report.
 */
function checkVcek(a: CollateralArtifact): void {
  const [, , , hwIdHex, tcb] = a.key.split('/');
  if (hwIdHex === 'evidence' || hwIdHex === undefined || tcb === undefined) return;
  let ext: AmdKdsExtension;
  try {
    ext = parseAmdKdsExtensions(parseCertificate(a.body));
  } catch (err) {
    throw new CollateralFormatError('ERR_COLLATERAL_FORMAT', `${a.kind} ${a.key}: the certificate's KDS extensions do not parse`, {
      check: 'S11',
      details: { artifact: a.key, reason: 'not-the-requested-artifact', ...(a.source.url ? { url: printableUrl(a.source.url) } : {}) },
      cause: err,
    });
  }
  const mismatches: { field: string; asked: string | number; answered: string | number }[] = [];
  const hwId = ext.hwId === undefined ? 'absent' : Buffer.from(ext.hwId).toString('hex');
  if (hwId !== hwIdHex.toLowerCase()) mismatches.push({ field: 'hwID', asked: hwIdHex, answered: hwId });
  const asked = new Map(tcb.split(',').map((kv) => kv.split('=') as [string, string]));
  for (const [name, field] of Object.entries(VCEK_SPL_FIELDS)) {
    const want = asked.get(name);
    const have = ext[field];
    // fmc is part of a Turin key only; elsewhere the certificate must not carry it either.
    if (want === undefined ? have !== undefined : have !== Number(want)) mismatches.push({ field, asked: want ?? 'absent', answered: have ?? 'absent' });
  }
  if (mismatches.length === 0) return;
  const chip = mismatches.some((m) => m.field === 'hwID');
  throw new TeeVerifyError('COLLATERAL_MISMATCH', 'ERR_COLLATERAL_MISMATCH', `${a.kind} ${a.key}: the certificate is the VCEK of another ${chip ? 'chip' : 'TCB'} (${mismatches.map((m) => m.field).join(', ')})`, {
    check: chip ? 'S14' : 'S13',
    details: { artifact: a.key, reason: 'not-the-requested-artifact', mismatches, ...(a.source.url ? { url: printableUrl(a.source.url) } : {}) },
  });
}

/** Throws ERR_COLLATERAL_FORMAT (ERR_COLLATERAL_MISMATCH for a VCEK of another chip or TCB) unless `a` is a shape-checked artifact of the kind and subject its key names. */
export function checkKeyBinding(a: CollateralArtifact): void {
  const kind = kindOfKey(a.key);
  if (kind !== a.kind) throw mismatch(a, `a ${a.kind} artifact under a key for ${kind ?? 'nothing known'}`);
  switch (a.kind) {
    case 'intel-tcb-info':
      return checkTcbInfo(a);
    case 'intel-qe-identity':
      return checkQeIdentity(a);
    case 'intel-pck-crl':
      return checkPckCrl(a);
    case 'amd-cert-chain':
      return checkAmdChain(a);
    case 'amd-vcek':
      return checkVcek(a);
    default:
      return;
  }
}
