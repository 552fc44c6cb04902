/**
 * ECDSA through the addon agrees with node:crypto on random keys, messages and
 * signatures (property-based), and rejects malformed keys and out-of-range
 * scalars explicitly.
 */
import { sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { ecdsaVerify, EcdsaPublicKey, type EcdsaCurve } from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';
import { rawEcPoint } from '../helpers/vectors.js';

const ORDER: Record<EcdsaCurve, bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384': 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};
const HASH: Record<EcdsaCurve, string> = { 'P-256': 'sha256', 'P-384': 'sha384' };
const SIZE: Record<EcdsaCurve, number> = { 'P-256': 32, 'P-384': 48 };

interface Pair {
  curve: EcdsaCurve;
  privateKey: KeyObject;
  publicKey: KeyObject;
  xy: Uint8Array;
}

function pair(curve: EcdsaCurve): Pair {
  const { privateKey, publicKey } = generateEcKeyObjects(curve); // no key-generation job: rawEcPoint exports a JWK
  return { curve, privateKey, publicKey, xy: rawEcPoint(publicKey) };
}

const pairs = [pair('P-256'), pair('P-256'), pair('P-384'), pair('P-384')];

function signRaw(p: Pair, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(HASH[p.curve], message, { key: p.privateKey, dsaEncoding: 'ieee-p1363' }));
}

function nodeSays(p: Pair, message: Uint8Array, sig: Uint8Array): boolean {
  return nodeVerify(HASH[p.curve], message, { key: p.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
}

const toBytes = (v: bigint, n: number) => new Uint8Array(Buffer.from(v.toString(16).padStart(2 * n, '0'), 'hex'));

describe('ECDSA: addon agrees with node:crypto', () => {
  it('valid signatures verify, with and without a reusable key', () => {
    fc.assert(
      fc.property(fc.constantFrom(...pairs), fc.uint8Array({ maxLength: 2048 }), (p, message) => {
        const sig = signRaw(p, message);
        expect(ecdsaVerify(p.curve, p.xy, message, sig)).toBe(true);
        expect(EcdsaPublicKey.import(p.curve, p.xy).verify(message, sig)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a changed message, signature bit or key gives the same answer as node:crypto', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...pairs),
        fc.uint8Array({ minLength: 1, maxLength: 512 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom('message', 'signature', 'key'),
        (p, message, index, bitIndex, target) => {
          const sig = signRaw(p, message);
          let m = message;
          let s = sig;
          let key = p;
          if (target === 'message') {
            m = Uint8Array.from(message);
            m[index % m.length]! ^= 1 << bitIndex;
          } else if (target === 'signature') {
            s = Uint8Array.from(sig);
            s[index % s.length]! ^= 1 << bitIndex;
          } else {
            key = pairs.find((o) => o.curve === p.curve && o !== p)!;
          }
          expect(ecdsaVerify(key.curve, key.xy, m, s)).toBe(nodeSays(key, m, s));
          expect(ecdsaVerify(key.curve, key.xy, m, s)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random signatures agree with node:crypto (all false)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...pairs), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 96, maxLength: 96 }), (p, m, raw) => {
        const sig = raw.subarray(0, 2 * SIZE[p.curve]);
        expect(ecdsaVerify(p.curve, p.xy, m, sig)).toBe(nodeSays(p, m, sig));
      }),
      { numRuns: 200 },
    );
  });
});

describe('ECDSA: explicit rejections', () => {
  for (const p of [pairs[0]!, pairs[2]!]) {
    const n = SIZE[p.curve];
    const message = new Uint8Array([1, 2, 3]);

    it(`${p.curve}: r or s of 0 or >= n never verifies`, () => {
      const sig = signRaw(p, message);
      const r = sig.subarray(0, n);
      const s = sig.subarray(n);
      for (const bad of [0n, ORDER[p.curve], ORDER[p.curve] + 1n, (1n << BigInt(8 * n)) - 1n]) {
        expect(ecdsaVerify(p.curve, p.xy, message, new Uint8Array([...toBytes(bad, n), ...s]))).toBe(false);
        expect(ecdsaVerify(p.curve, p.xy, message, new Uint8Array([...r, ...toBytes(bad, n)]))).toBe(false);
      }
    });

    it(`${p.curve}: scalars with leading zero bytes or the top bit set (shorter and padded DER integers) verify`, () => {
      // The addon encodes r and s as DER INTEGERs itself: a leading zero byte is dropped, a set top bit
      // gets a 0x00 in front. About one signature in 128 has a scalar starting with a zero byte.
      let short = 0;
      let padded = 0;
      const tries = p.curve === 'P-256' ? 4000 : 600;
      for (let i = 0; i < tries; i++) {
        const m = new Uint8Array([i & 0xff, i >> 8, 7]);
        const sig = signRaw(p, m);
        const lead = sig[0] === 0 || sig[n] === 0;
        if (lead) short++;
        if ((sig[0]! & 0x80) !== 0 || (sig[n]! & 0x80) !== 0) padded++;
        if (lead || i % 50 === 0) {
          expect(ecdsaVerify(p.curve, p.xy, m, sig)).toBe(true);
          const other = Uint8Array.from(sig);
          other[2 * n - 1]! ^= 1;
          expect(ecdsaVerify(p.curve, p.xy, m, other)).toBe(nodeSays(p, m, other));
        }
      }
      if (p.curve === 'P-256') expect(short).toBeGreaterThan(0);
      expect(padded).toBeGreaterThan(0);
    });

    it(`${p.curve}: s -> n - s also verifies (ECDSA malleability; nothing may key on signature bytes)`, () => {
      const sig = signRaw(p, message);
      const s = BigInt(`0x${Buffer.from(sig.subarray(n)).toString('hex')}`);
      const flipped = new Uint8Array([...sig.subarray(0, n), ...toBytes(ORDER[p.curve] - s, n)]);
      expect(ecdsaVerify(p.curve, p.xy, message, flipped)).toBe(true);
      expect(nodeSays(p, message, flipped)).toBe(true);
    });

    it(`${p.curve}: a point off the curve is ERR_BAD_PUBLIC_KEY, wrong sizes are typed errors`, () => {
      const offCurve = Uint8Array.from(p.xy);
      offCurve[2 * n - 1]! ^= 1;
      expectError(() => ecdsaVerify(p.curve, offCurve, message, signRaw(p, message)), { code: 'ERR_BAD_PUBLIC_KEY' });
      expectError(() => EcdsaPublicKey.import(p.curve, offCurve), { code: 'ERR_BAD_PUBLIC_KEY' });
      expectError(() => ecdsaVerify(p.curve, new Uint8Array(2 * n), message, signRaw(p, message)), { code: 'ERR_BAD_PUBLIC_KEY' });
      expectError(() => ecdsaVerify(p.curve, p.xy.subarray(1), message, signRaw(p, message)), { code: 'ERR_BAD_PUBLIC_KEY' });
      expectError(() => ecdsaVerify(p.curve, p.xy, message, new Uint8Array(2 * n + 1)), { code: 'ERR_BAD_SIGNATURE_ENCODING' });
      expectError(() => EcdsaPublicKey.import(p.curve, p.xy).verify(message, new Uint8Array(3)), { code: 'ERR_BAD_SIGNATURE_ENCODING' });
      expectError(() => ecdsaVerify(p.curve, p.xy, 'abc' as unknown as Uint8Array, signRaw(p, message)), { code: 'ERR_INVALID_ARGUMENT' });
      expectError(() => ecdsaVerify('P-521' as EcdsaCurve, p.xy, message, signRaw(p, message)), { code: 'ERR_INVALID_ARGUMENT' });
    });
  }

  it('a P-256 key is not accepted as P-384', () => {
    const p = pairs[0]!;
    expectError(() => ecdsaVerify('P-384', p.xy, new Uint8Array(1), new Uint8Array(96)), { code: 'ERR_BAD_PUBLIC_KEY' });
  });

  it('leaves no OpenSSL error behind for node:crypto after failures', () => {
    const p = pairs[0]!;
    const offCurve = Uint8Array.from(p.xy);
    offCurve[63]! ^= 1;
    for (let i = 0; i < 10; i++) {
      try {
        ecdsaVerify('P-256', offCurve, new Uint8Array(1), new Uint8Array(64).fill(1));
      } catch {
        /* expected */
      }
      expect(ecdsaVerify('P-256', p.xy, new Uint8Array(1), new Uint8Array(64).fill(1))).toBe(false);
    }
    const m = new Uint8Array([9]);
    expect(nodeSays(p, m, signRaw(p, m))).toBe(true);
  });
});
