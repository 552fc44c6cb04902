/**
 * Review s14 (lead change review F1): parseSignedJson returned the value
 * parsed from the parse cache's private copy together with signed bytes that
 * were a live view of the caller's buffer. If the buffer changed after the
 * copy was taken (another thread writing shared memory; simulated here inside
 * the parse), the signature check verified the new bytes while the verifier
 * used the old value: a forged TCB info passed T17. Now the signed bytes are
 * a span of the same private copy the value was parsed from.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { expect, it } from 'vitest';

import { parseSignedJson } from '../../src/collateral/strict-json.js';
import { ecdsaVerify } from '../../src/crypto/ecdsa.js';

function keys() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, xy: new Uint8Array(Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])) };
}

const genuineMember = '{"id":"TDX","version":3,"fmspc":"00906ED50000","tcbEvaluationDataNumber":17}';
const forgedMember = '{"id":"TDX","version":3,"fmspc":"00906ED50000","tcbEvaluationDataNumber":99}';

it('the value and the signed bytes come from the same bytes, whatever happens to the caller buffer', () => {
  const { privateKey, xy } = keys();
  const sig = sign('sha256', Buffer.from(genuineMember), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('hex');
  const docGenuine = `{"tcbInfo":${genuineMember},"signature":"${sig}"}`;
  const docForged = `{"tcbInfo":${forgedMember},"signature":"${sig}"}`;
  const body = new Uint8Array(new SharedArrayBuffer(docForged.length));
  body.set(Buffer.from(docForged));

  // The other thread's write, simulated after the cache copied the forged bytes: freezeJson runs inside the parse.
  const freeze = Object.freeze;
  let wrote = false;
  Object.freeze = ((o: unknown) => {
    if (!wrote) {
      wrote = true;
      body.set(Buffer.from(docGenuine));
    }
    return freeze(o);
  }) as typeof Object.freeze;
  let doc;
  try {
    doc = parseSignedJson(body, 'tcbInfo');
  } finally {
    Object.freeze = freeze;
  }
  expect(wrote).toBe(true);
  // The value is the forged one; its signed bytes are the forged bytes too, so the signature fails.
  expect(doc.value['tcbEvaluationDataNumber']).toBe(99);
  expect(Buffer.from(doc.signedBytes).toString('utf8')).toBe(forgedMember);
  expect(ecdsaVerify('P-256', xy, doc.signedBytes, doc.signature)).toBe(false);
});

it('a caller buffer written after the parse does not change the signed bytes (cached and uncached paths)', () => {
  const { privateKey } = keys();
  const sig = sign('sha256', Buffer.from(genuineMember), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('hex');
  for (const limits of [undefined, { maxBytes: 1 << 20 }]) {
    const body = new Uint8Array(Buffer.from(`{"tcbInfo":${genuineMember},"signature":"${sig}"}`));
    const doc = parseSignedJson(body, 'tcbInfo', limits);
    body.set(Buffer.from(forgedMember), body.indexOf(0x7b, 1)); // overwrite the member in the caller's buffer
    expect(Buffer.from(doc.signedBytes).toString('utf8')).toBe(genuineMember);
    expect(doc.value['tcbEvaluationDataNumber']).toBe(17);
  }
});
