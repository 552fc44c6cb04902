/**
 * Review s14 (native change review R1): the signature memo copies the parts
 * first and the check verifies those copies, so bytes changed by another
 * thread during the check (a SharedArrayBuffer, simulated here inside the
 * check) cannot leave a remembered success for content that was never
 * verified. Before, the check read the caller's bytes and the memo copied them
 * afterwards: the forged document then hit the memo without a check.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { expect, it } from 'vitest';

import { ecdsaVerify } from '../../src/crypto/ecdsa.js';
import { SignatureMemo } from '../../src/crypto/memo.js';

it('a success is remembered only for the bytes the check verified', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const xy = new Uint8Array(Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
  const genuine = Buffer.alloc(64, 0x41);
  const forged = Buffer.alloc(64, 0x42);
  const rs = new Uint8Array(sign('sha256', genuine, { key: privateKey, dsaEncoding: 'ieee-p1363' }));

  const memo = new SignatureMemo();
  const shared = new Uint8Array(new SharedArrayBuffer(64));
  shared.set(genuine);
  let checks = 0;
  const ok = memo.verify('ecdsa-p256', [shared, rs, xy], (copies) => {
    checks++;
    // The copies are the bytes as they were at the call, in private memory.
    expect(copies[0]).not.toBe(shared);
    expect(Buffer.from(copies[0]!).equals(genuine)).toBe(true);
    shared.set(forged); // the concurrent writer, during the check
    return ecdsaVerify('P-256', copies[2]!, copies[0]!, copies[1]!);
  });
  expect(ok).toBe(true);

  // The forged bytes are not remembered as verified: the check runs, and fails.
  const viaMemo = memo.verify('ecdsa-p256', [new Uint8Array(forged), rs, xy], (copies) => {
    checks++;
    return ecdsaVerify('P-256', copies[2]!, copies[0]!, copies[1]!);
  });
  expect({ viaMemo, checks }).toEqual({ viaMemo: false, checks: 2 });
  // The genuine bytes are: a hit, no check.
  expect(memo.verify('ecdsa-p256', [new Uint8Array(genuine), rs, xy], () => (checks++, false))).toBe(true);
  expect(checks).toBe(2);
});
