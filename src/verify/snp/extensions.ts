/**
 * Step B4 (checklist §4.3 KDS extensions, S11, S40): the VCEK / VLEK carries
 * exactly the KDS extension set of its product (structVersion 0 with spl_4
 * for Milan / Genoa, 1 with fmcSPL for Turin), hwID for a VCEK and cspId for
 * a VLEK, and a productName that agrees with the product of S06. Nothing is
 * skipped when absent (S40).
 */
import type { SnpProduct } from '../../evidence/types.js';
import { TeeVerifyError } from '../../errors.js';
import { KDS_OID_PREFIX, parseAmdKdsExtensions, type AmdKdsExtension, type CertificateInfo } from '../../x509/index.js';
import { fail } from '../errors.js';
import type { SigningKeyKind } from './chain.js';
import type { SnpContext } from './context.js';

const KDS_ARC = `${KDS_OID_PREFIX}.`;

/** The OIDs outside the KDS arc, or undefined when there are none (the usual case: no array). */
function foreignExtensions(leaf: CertificateInfo): string[] | undefined {
  let foreign: string[] | undefined;
  for (const oid of leaf.extensionOids) if (!oid.startsWith(KDS_ARC)) (foreign ??= []).push(oid);
  return foreign;
}

function decode(leaf: CertificateInfo): AmdKdsExtension {
  try {
    return parseAmdKdsExtensions(leaf);
  } catch (err) {
    // Non-canonical INTEGER, duplicate or unknown KDS OID, bad hwID size, missing SPL.
    if (err instanceof TeeVerifyError && err.errorClass === 'PARSE') fail('SNP_CERT', 'S11', `KDS extensions: ${err.message}`, { cause: err.code, ...err.details });
    throw err;
  }
}

function presence(ext: AmdKdsExtension, field: keyof AmdKdsExtension, wanted: boolean, why: string): void {
  if ((ext[field] !== undefined) !== wanted) fail('SNP_CERT', 'S11', `${field} must be ${wanted ? 'present' : 'absent'} (${why})`, { field });
}

/** productName is the product itself or the product with a stepping suffix ("Milan-B0", "Genoa-B1"). */
function productNameMatches(name: string, product: SnpProduct): boolean {
  return name === product || name.startsWith(`${product}-`);
}

export function checkKdsExtensions(leaf: CertificateInfo, kind: SigningKeyKind, product: SnpProduct, ctx: SnpContext): AmdKdsExtension {
  // S11: exact set: a VCEK / VLEK carries the KDS extensions and nothing else.
  const foreign = foreignExtensions(leaf);
  if (foreign !== undefined) fail('SNP_CERT', 'S11', `${kind.toUpperCase()} has extensions outside the KDS set`, { oids: foreign });
  const ext = decode(leaf);
  const turin = product === 'Turin';
  const layout = turin ? 'Turin, structVersion 1' : `${product}, structVersion 0`;
  if (ext.structVersion !== (turin ? 1 : 0)) fail('SNP_CERT', 'S11', `structVersion is ${String(ext.structVersion)}, expected ${turin ? 1 : 0} for ${product}`, { structVersion: ext.structVersion ?? null });
  presence(ext, 'spl4', !turin, layout);
  presence(ext, 'spl5', true, layout);
  presence(ext, 'spl6', true, layout);
  presence(ext, 'spl7', true, layout);
  presence(ext, 'fmcSPL', turin, layout);
  // S11: VCEK => hwID and no cspId; VLEK => cspId and no hwID
  presence(ext, 'hwId', kind === 'vcek', `${kind.toUpperCase()}`);
  presence(ext, 'cspId', kind === 'vlek', `${kind.toUpperCase()}`);
  if (ext.hwId !== undefined && ext.hwId.length !== (turin ? 8 : 64)) fail('SNP_CERT', 'S11', `hwID is ${ext.hwId.length} bytes, expected ${turin ? 8 : 64} for ${product}`);
  if (ext.cspId !== undefined && ext.cspId.length === 0) fail('SNP_CERT', 'S11', 'cspId is empty');
  if (ext.productName === undefined) fail('SNP_CERT', 'S11', 'productName is missing');
  // S11: productName consistent with the product of S06 (for v2 the caller's product)
  if (!productNameMatches(ext.productName, product)) fail('PRODUCT', 'S11', `certificate productName "${ext.productName}" is not ${product}`, { productName: ext.productName, product });
  ctx.pass('S11', `KDS extensions: exactly the ${layout} set, productName ${ext.productName}, ${kind === 'vcek' ? 'hwID' : 'cspId'}`);
  return ext;
}
