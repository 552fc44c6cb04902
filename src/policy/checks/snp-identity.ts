/**
 * SEV-SNP identity (checklist §4.4): report version (S03), product (S06),
 * MEASUREMENT (S25), HOST_DATA (S26), ID block and keys (S27), CHIP_ID lists
 * (S31), signing key kind (S32) and the VLEK's CSP (S45).
 */
import type { SnpClaims } from '../../verify/types.js';
import type { SnpPolicy } from '../types.js';
import type { Findings } from './findings.js';

const ZERO_48 = '0'.repeat(96);

function checkKeys(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  // S27: AUTHOR_KEY_EN = 0 implies AUTHOR_KEY_DIGEST zero (always)
  if (!c.authorKeyEnabled && c.authorKeyDigest !== ZERO_48) f.fail('/authorKeyDigest', 'S27', 'POLICY', ZERO_48, c.authorKeyDigest, 'AUTHOR_KEY_DIGEST is set while AUTHOR_KEY_EN is 0');
  const ids = p.idKeyDigest;
  const authors = p.authorKeyDigest;
  if (ids === 'any' && authors === 'any') return;
  const idOk = ids !== 'any' && ids.includes(c.idKeyDigest);
  const authorOk = authors !== 'any' && c.authorKeyEnabled && authors.includes(c.authorKeyDigest);
  // S27: ID_KEY_DIGEST trusted, or AUTHOR_KEY_EN = 1 and AUTHOR_KEY_DIGEST trusted (go-sev-guest validateKeys)
  if (!idOk && !authorOk) {
    const path = ids !== 'any' ? '/idKeyDigest' : '/authorKeyDigest';
    f.fail(path, 'S27', 'POLICY', { idKeyDigest: ids, authorKeyDigest: authors }, { idKeyDigest: c.idKeyDigest, authorKeyDigest: c.authorKeyDigest, authorKeyEnabled: c.authorKeyEnabled }, 'the ID block is signed by neither a trusted ID key nor a trusted author key');
  }
}

function checkSigner(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  // S32: VLEK-signed reports only if the policy enables VLEK (trust moves to the CSP)
  if (!p.signingKeys.includes(c.signingKey)) f.fail('/signingKeys', 'S32', 'POLICY', p.signingKeys, c.signingKey, `reports signed by a ${c.signingKey.toUpperCase()} are not accepted`);
  else if (c.signingKey === 'vlek') f.warn('S32', `VLEK-signed report accepted by the policy (signingKeys ${JSON.stringify(p.signingKeys)}): the cloud provider holding the VLEK is trusted${c.cspId === undefined ? '' : ` (${c.cspId})`}`);
  // S45: the CSP behind a VLEK
  if (c.signingKey === 'vlek' && p.cspIds !== 'any' && (c.cspId === undefined || !p.cspIds.includes(c.cspId))) {
    f.fail('/cspIds', 'S45', 'POLICY', p.cspIds, c.cspId ?? null, `VLEK CSP ${c.cspId ?? '(none)'} is not in the policy's allowlist`);
  }
}

function checkChip(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  // S31: CHIP_ID allow / deny lists
  if (p.chipIds.allow !== undefined && !p.chipIds.allow.includes(c.chipId)) f.fail('/chipIds/allow', 'S31', 'POLICY', p.chipIds.allow, c.chipId, 'CHIP_ID is not on the allow list');
  if (p.chipIds.deny?.includes(c.chipId)) f.fail('/chipIds/deny', 'S31', 'POLICY', { none: p.chipIds.deny }, c.chipId, 'CHIP_ID is on the deny list');
}

export function checkSnpIdentity(c: SnpClaims, p: SnpPolicy, f: Findings): void {
  // S03: the policy's minimum report version
  if (p.minReportVersion !== undefined && c.reportVersion < p.minReportVersion) f.fail('/minReportVersion', 'S03', 'UNSUPPORTED', { minimum: p.minReportVersion }, c.reportVersion, `report version ${c.reportVersion} is below the policy's minimum ${p.minReportVersion}`);
  // S06: product allowlist (owners can exclude Milan)
  if (!p.products.includes(c.product)) f.fail('/products', 'S06', 'PRODUCT', p.products, c.product, `product ${c.product} is not accepted`);
  checkSigner(c, p, f);
  checkChip(c, p, f);
  f.allowed(p.measurement, c.measurement, '/measurement', 'S25', 'MEASUREMENT'); // S25: MEASUREMENT in the allowlist
  f.allowed(p.hostData, c.hostData, '/hostData', 'S26', 'HOST_DATA'); // S26: HOST_DATA expected or explicit "any"
  checkKeys(c, p, f);
  // S27: FAMILY_ID / IMAGE_ID expected, GUEST_SVN minimum
  f.allowed(p.familyId, c.familyId, '/familyId', 'S27', 'FAMILY_ID');
  f.allowed(p.imageId, c.imageId, '/imageId', 'S27', 'IMAGE_ID');
  f.atLeast(p.minGuestSvn, c.guestSvn, '/minGuestSvn', 'S27', 'GUEST_SVN');
}
