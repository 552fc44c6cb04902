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
import { CollateralFormatError } from '../errors.js';
import { parseCertificate, parseCrl, splitPemCertificates } from '../x509/index.js';
import type { CollateralArtifact } from './artifact.js';
import { kindOfKey } from './keys.js';
import { parseSignedJson } from './strict-json.js';

function mismatch(a: CollateralArtifact, what: string, check?: string): CollateralFormatError {
  return new CollateralFormatError('ERR_COLLATERAL_FORMAT', `${a.kind} ${a.key}: ${what}`, {
    details: { artifact: a.key, reason: 'not-the-requested-artifact', ...(a.source.url ? { url: a.source.url } : {}) },
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

/** Throws ERR_COLLATERAL_FORMAT unless `a` is a shape-checked artifact of the kind and subject its key names. */
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
    default:
      return;
  }
}
