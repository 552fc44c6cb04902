/**
 * Test honesty review s14, finding 2 (checklist X16): a key leaves only inside the result's
 * window, min(nonce expiry, earliest collateral expiry), checked in the release transaction
 * (docs/kbs.md step 7; 401 ERR_KBS_WINDOW, docs/error-codes.md). Before this file no test sent
 * ERR_KBS_WINDOW: with the check in src/kbs/transfer.ts made a no-op every key-broker test stayed
 * green, and a key went out under collateral that had expired between verification and release
 * (no other check catches that: the nonce half is also refused by consumeNonce, the collateral
 * half nowhere else).
 *
 * The broker's injected clock (`now`, KeyBrokerOptions) reads t0 until the verification has
 * passed (verifyEvidence marks the collateral it verified, CollateralService.markVerified, on
 * success only), then the instant the case chooses: the verification itself and the policy run
 * at t0, only the release transaction sees the later instant.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, verifyEvidence } from '../../src/index.js';
import { makePlatform, newClient, quoteFor, registerKey, sha512, startHarness, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

/** A collateral service that runs a callback each time a verification with it has passed. */
class NotifyingCollateral extends CollateralService {
  onVerified: () => void = () => {};
  override markVerified(...a: Parameters<CollateralService['markVerified']>): void {
    super.markVerified(...a);
    this.onVerified();
  }
}

const NONCE_TTL_SECONDS = 300;

describe('key broker: no key after the X16 window closed between verification and release (review s14 honesty #2)', () => {
  const t0 = Date.now();
  const platform = makePlatform(new Date(t0));
  const c = platform.collateral;
  const collateral = new NotifyingCollateral({ intel: new BundleSource([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined)), cache: null });
  let clock = t0;
  /** The instant the clock moves to once a verification passed (undefined: it stays). */
  let after: number | undefined;
  let verified = 0;
  collateral.onVerified = () => {
    verified += 1;
    if (after !== undefined) clock = after;
  };
  let h: Harness;
  let client: Client;
  let expiry: number; // the earliest expiry of the collateral these quotes are judged with
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness({ collateral, now: () => new Date(clock), nonceTtlSeconds: NONCE_TTL_SECONDS }, platform);
    client = newClient();
    // The window's collateral end, from the same artifacts at t0 (a separate service: nothing marked).
    const plain = new CollateralService({ intel: new BundleSource([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined)), cache: null });
    const result = await verifyEvidence(parseEvidence(quoteFor(platform, sha512(client.spkiDer))), { collateral: plain, trustRoots: platform.trustRoots, at: new Date(t0) });
    expiry = Date.parse(result.collateral.earliestExpiry);
    expect(expiry).toBeGreaterThan(t0 + NONCE_TTL_SECONDS * 1000); // the nonce case below is decided by the nonce's end
  }, 60_000);
  afterAll(async () => h?.close());

  /** One transfer: the clock at t0 until the verification passed, then at `moveTo` (if given). */
  async function transfer(moveTo: number | undefined, nonce?: { val: string; iat: string; signature: string }) {
    const id = await registerKey(h, material);
    clock = t0;
    after = moveTo;
    verified = 0;
    try {
      const r = await h.call('POST', transferPath(id), { body: transferBody(h, client, nonce ? { nonce } : {}), headers: { 'attestation-type': 'TDX' }, token: null });
      expect(verified).toBe(1); // the verification passed, at t0
      return { id, r };
    } finally {
      clock = t0;
      after = undefined;
    }
  }

  async function logOf(id: string) {
    const db = await h.storage();
    return db.all<{ decision: string; error_code: string | null }>('SELECT decision, error_code FROM attestation_log WHERE key_id = ?', [id]);
  }

  function expectWindowRefusal(r: Awaited<ReturnType<Harness['call']>>) {
    expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_WINDOW', check: 'X16' });
    expect(r.json).not.toHaveProperty('wrapped_key');
    expect(r.json).not.toHaveProperty('wrapped_swk');
  }

  it('control: the clock does not move: released', async () => {
    const { id, r } = await transfer(undefined);
    expect(r.status).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
    expect(await logOf(id)).toEqual([{ decision: 'released', error_code: null }]);
  });

  it('control: the clock moves to 1 ms before the earliest collateral expiry: released (still inside the window)', async () => {
    const { r } = await transfer(expiry - 1);
    expect(r.status).toBe(200);
    expect(unwrap(client, r.json).equals(material)).toBe(true);
  });

  it.each([
    ['exactly the earliest collateral expiry', () => expiry],
    ['60 days after t0', () => t0 + 60 * 86_400_000],
  ])('the collateral expired between verification and release (clock at %s): 401 ERR_KBS_WINDOW (X16), nothing released', async (_name, moveTo) => {
    const { id, r } = await transfer(moveTo());
    expectWindowRefusal(r);
    expect(await logOf(id)).toEqual([{ decision: 'refused', error_code: 'ERR_KBS_WINDOW' }]);
  });

  it('the nonce expired between verification and release: 401 ERR_KBS_WINDOW (X16), the nonce not consumed', async () => {
    const id = await registerKey(h, material);
    clock = t0;
    const issued = await h.call('POST', transferPath(id), { token: null });
    expect(issued.status).toBe(200);
    const nonce = issued.json as { val: string; iat: string; signature: string };
    clock = t0;
    after = t0 + NONCE_TTL_SECONDS * 1000;
    verified = 0;
    try {
      const r = await h.call('POST', transferPath(id), { body: transferBody(h, client, { nonce }), headers: { 'attestation-type': 'TDX' }, token: null });
      expect(verified).toBe(1);
      expectWindowRefusal(r);
    } finally {
      clock = t0;
      after = undefined;
    }
    const db = await h.storage();
    const rows = await db.all<{ consumed_at: unknown }>('SELECT consumed_at FROM nonces WHERE key_id = ?', [id]);
    expect(rows).toEqual([{ consumed_at: null }]);
    // Control: the same nonce, the clock not moving, releases (the refusal left it unused).
    const again = await h.call('POST', transferPath(id), { body: transferBody(h, client, { nonce }), headers: { 'attestation-type': 'TDX' }, token: null });
    expect(again.status).toBe(200);
    expect(unwrap(client, again.json).equals(material)).toBe(true);
  });
});
