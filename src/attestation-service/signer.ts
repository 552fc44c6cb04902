/**
 * The service's token key: an EC private key given as PEM / KeyObject
 * (P-256 signs ES256, P-384 ES384) or a P-256 key generated at start. The
 * public half is published as a JWKS (RFC 7517) whose single key carries
 * `kid` = its RFC 7638 JWK thumbprint, `use: "sig"` and `alg`, which is what
 * JWKS clients (jwks-rsa in open-webui's browser code) select by.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

import { generateEcKeyObjects } from '../crypto/ec-keys.js';
import type { EarJwtAlgorithm } from '../policy/index.js';

export interface Jwk {
  kty: 'EC';
  crv: 'P-256' | 'P-384';
  x: string;
  y: string;
  kid: string;
  use: 'sig';
  alg: EarJwtAlgorithm;
}

const BY_CURVE: Record<string, { alg: EarJwtAlgorithm; crv: Jwk['crv'] }> = {
  prime256v1: { alg: 'ES256', crv: 'P-256' },
  secp384r1: { alg: 'ES384', crv: 'P-384' },
};

export class TokenSigner {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly alg: EarJwtAlgorithm;
  readonly jwk: Jwk;
  /** True when the key was generated at start (tokens do not survive a restart). */
  readonly generated: boolean;

  constructor(key?: KeyObject | string | Uint8Array) {
    this.generated = key === undefined;
    this.privateKey = key === undefined ? generateEcKeyObjects('P-256').privateKey : typeof key === 'object' && 'type' in key && !(key instanceof Uint8Array) ? key : createPrivateKey(Buffer.from(key as string | Uint8Array));
    if (this.privateKey.type !== 'private') throw new TypeError('the signing key must be a private key');
    const curve = this.privateKey.asymmetricKeyType === 'ec' ? this.privateKey.asymmetricKeyDetails?.namedCurve : undefined;
    const kind = curve === undefined ? undefined : BY_CURVE[curve];
    if (!kind) throw new TypeError('the signing key must be an EC key on P-256 (ES256) or P-384 (ES384)');
    this.alg = kind.alg;
    this.publicKey = createPublicKey(this.privateKey);
    const { x, y } = this.publicKey.export({ format: 'jwk' }) as { x: string; y: string };
    // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    const thumbprint = createHash('sha256').update(JSON.stringify({ crv: kind.crv, kty: 'EC', x, y })).digest('base64url');
    this.jwk = { kty: 'EC', crv: kind.crv, x, y, kid: thumbprint, use: 'sig', alg: kind.alg };
  }

  get kid(): string {
    return this.jwk.kid;
  }

  jwks(): { keys: Jwk[] } {
    return { keys: [this.jwk] };
  }
}
