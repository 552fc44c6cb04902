/** The test PKI's AMD CRL, shaped as KDS serves them. */
import { constants, sign } from 'node:crypto';

import * as der from './der.js';
import type { AmdTestPki } from './pki-amd.js';
import { authorityKeyIdentifier, encodeName, signatureAlgorithm } from './x509-builder.js';

/** An ARK-signed v2 CRL (RSASSA-PSS SHA-384, AKI and CRL number 1) that revokes nothing. */
export function buildEmptyAmdCrl(pki: AmdTestPki, window: { notBefore: Date; notAfter: Date }): Uint8Array {
  const ext = (oid: string, value: Uint8Array) => der.sequence(der.objectIdentifier(oid), der.octetString(value));
  const aki = authorityKeyIdentifier(pki.ark.key.publicKey);
  const tbs = der.sequence(
    der.integer(1),
    signatureAlgorithm('rsa-pss-sha384'),
    encodeName(pki.ark.subject),
    der.time(window.notBefore),
    der.time(window.notAfter),
    der.explicit(0, der.sequence(ext(aki.oid, aki.value), ext('2.5.29.20', der.integer(1)))),
  );
  const signature = sign('sha384', tbs, { key: pki.ark.key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 });
  return der.sequence(tbs, signatureAlgorithm('rsa-pss-sha384'), der.bitString(new Uint8Array(signature)));
}
