/**
 * Adapters into AmdCollateralInput: from the collateral service's
 * AmdCollateral (fetched, cached or bundled artifacts) and from the
 * extended-report certificate table (S05). Both only move bytes; every
 * certificate is judged by the verifier against the pins.
 */
import type { AmdCollateral } from '../../collateral/service.js';
import type { SnpCertificateEntry } from '../../evidence/cert-table.js';
import { splitPemCertificates } from '../../x509/index.js';
import { fail } from '../errors.js';
import { attributed } from './attribution.js';
import type { AmdCollateralInput } from './types.js';
import { withCheck } from './x509-checks.js';

/** The collateral service's result as verifier input; provenance and fetch warnings travel along. */
export function amdCollateralInput(c: AmdCollateral): AmdCollateralInput {
  const provenance = {
    signingCertificate: { key: c.signingCertificate.key, origin: c.signingCertificate.source.origin },
    certChain: { key: c.certChain.key, origin: c.certChain.source.origin },
    crl: { key: c.crl.key, origin: c.crl.source.origin },
  };
  let certChain: Uint8Array[];
  try {
    certChain = withCheck('S37', 'AMD cert_chain', () => splitPemCertificates(c.certChain.body));
  } catch (err) {
    throw attributed(err, 'certChain', { signingCertificate: c.signingCertificate.body, provenance });
  }
  return {
    signingCertificate: c.signingCertificate.body,
    certChain,
    crl: c.crl.body,
    for: { product: c.product, signingKey: c.signingKey },
    provenance,
    warnings: [...c.warnings],
  };
}

/**
 * The certificates of an extended report (GHCB table / configfs-tsm
 * auxblob, parsed and bounds-checked by parseSnpCertificateTable: S05) as
 * verifier input. The leaf is the entry of the report's SIGNING_KEY kind; a
 * VLEK table carries its ASVK under the ASK GUID. The CRL never travels in
 * the table: pass it separately.
 */
export function amdCollateralFromCertTable(entries: readonly SnpCertificateEntry[], signingKey: 'vcek' | 'vlek', crl?: Uint8Array): AmdCollateralInput {
  const leaf = entries.find((e) => e.kind === signingKey);
  // S05: the table must hold the certificate of the key that signed the report
  if (leaf === undefined) fail('COLLATERAL_UNAVAILABLE', 'S05', `the certificate table has no ${signingKey.toUpperCase()} entry`, { kinds: entries.map((e) => e.kind) });
  const ask = entries.find((e) => e.kind === 'ask');
  const ark = entries.find((e) => e.kind === 'ark');
  const input: AmdCollateralInput = { signingCertificate: leaf.der, provenance: { signingCertificate: { origin: 'evidence' } } };
  if (ask !== undefined) {
    input.certChain = ark === undefined ? [ask.der] : [ask.der, ark.der];
    input.provenance = { ...input.provenance, certChain: { origin: 'evidence' } };
  }
  if (crl !== undefined) input.crl = crl;
  return input;
}
