/**
 * Review s11 changes-a #1 (high): a broker that takes transfers without a nonce — the default until
 * then, and the deployment files set nothing else — hashes only user_data, so M's nonce val ‖ iat
 * followed by the TD's SPKI could be handed to it as ONE DER SPKI (an SPKI header and free bytes in
 * val, a real timestamp in iat, the TD's key and exponent as the modulus' tail), and it released the
 * key to that modulus (the reviewer's run factored a lucky one).
 *
 * Now a nonce is required by default (401 ERR_KBS_NONCE, T42); allowNoNonce / --allow-no-nonce is the
 * explicit relaxation: a start-up warning naming the relay, and a warning stored with every release
 * it allows. requireNonce: false is refused (it used to be the silent default).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NO_NONCE_WARNING } from '../../src/kbs/server.js';
import { NO_NONCE_RELEASE_WARNING } from '../../src/kbs/transfer.js';
import { KBS_SERVE_USAGE, runKbsCli } from '../../src/kbs/cli.js';
import { collateralOf, makePlatform, newClient, quoteFor, registerKey, sha512, startHarness, transferPath, type Client, type Harness } from './helpers.js';
import { startKeyBroker } from '../../src/kbs/index.js';

/** The 32 bytes that make `header ‖ m bytes ‖ 02 03 01 00 01` one DER SPKI (as in the reviewer's reproducer). */
function spkiHeader(m: number): Buffer {
  const len2 = (n: number): Buffer => Buffer.from([0x82, n >> 8, n & 0xff]);
  const algorithm = Buffer.from('300d06092a864886f70d0101010500', 'hex');
  const rsaKey = m + 4 + 5;
  const bitString = 1 + 4 + rsaKey;
  return Buffer.concat([Buffer.from([0x30]), len2(algorithm.length + 4 + bitString), algorithm, Buffer.from([0x03]), len2(bitString), Buffer.from([0x00, 0x30]), len2(rsaKey), Buffer.from([0x02]), len2(m)]);
}

/** M's nonce (SPKI header ‖ 32 free bytes, an ISO instant) followed by the TD's SPKI: one DER SPKI, as a broker without nonces reads it. */
function relayedUserData(td: Client): Buffer {
  const iat = Buffer.from(new Date().toISOString());
  const free = randomBytes(32);
  free[0] = 0x01 + (free[0]! % 0x7f);
  return Buffer.concat([spkiHeader(free.length + iat.length + td.spkiDer.length - 5), free, iat, td.spkiDer]);
}

describe('a nonce is required unless allowNoNonce says otherwise (review s11 changes-a #1)', () => {
  const material = randomBytes(32);

  async function transfer(h: Harness, keyId: string, userData: Buffer): Promise<Awaited<ReturnType<Harness['call']>>> {
    const quote = quoteFor(h.platform, sha512(userData));
    return h.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: userData.toString('base64') }, headers: { 'attestation-type': 'TDX' }, token: null });
  }

  describe('default options', () => {
    let h: Harness;
    let keyId: string;
    const logs: string[] = [];
    beforeAll(async () => {
      h = await startHarness({ plainHttp: true, allowNoNonce: undefined, log: (l) => logs.push(l) });
      keyId = await registerKey(h, material);
    }, 60_000);
    afterAll(async () => h?.close());

    it('the relayed body (M\'s nonce ‖ the TD\'s SPKI read as one SPKI, no nonce) is 401 ERR_KBS_NONCE (T42), nothing released', async () => {
      const r = await transfer(h, keyId, relayedUserData(newClient()));
      expect({ status: r.status, code: r.json?.code, check: r.json?.checks?.[0]?.check }).toEqual({ status: 401, code: 'ERR_KBS_NONCE', check: 'T42' });
      expect(r.json).not.toHaveProperty('wrapped_swk');
    });

    it('a genuine client without a nonce is refused the same way; with one it is released', async () => {
      const td = newClient();
      const r = await transfer(h, keyId, td.spkiDer);
      expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_NONCE' });
      const n = (await h.call('POST', transferPath(keyId), { token: null })).json as { val: string; iat: string; signature: string };
      const quote = quoteFor(h.platform, sha512(Buffer.from(n.val, 'base64'), Buffer.from(n.iat, 'base64'), td.spkiDer));
      const ok = await h.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: td.userData, nonce: n }, headers: { 'attestation-type': 'TDX' }, token: null });
      expect(ok.status, ok.text).toBe(200);
      expect(logs.join('\n')).not.toContain('--allow-no-nonce');
    });
  });

  describe('allowNoNonce: true', () => {
    let h: Harness;
    let keyId: string;
    const logs: string[] = [];
    beforeAll(async () => {
      h = await startHarness({ plainHttp: true, allowNoNonce: true, log: (l) => logs.push(l) });
      keyId = await registerKey(h, material);
    }, 60_000);
    afterAll(async () => h?.close());

    it('warns at start, naming the relay', () => {
      expect(logs).toContain(NO_NONCE_WARNING);
      expect(NO_NONCE_WARNING).toMatch(/relay/);
    });

    it('releases without a nonce, and the release row carries the relay warning', async () => {
      const r = await transfer(h, keyId, relayedUserData(newClient()));
      expect(r.status, r.text).toBe(200);
      const db = await h.storage();
      const row = await db.get<{ warnings: string }>("SELECT warnings FROM attestation_log WHERE decision = 'released' AND key_id = ? ORDER BY seq DESC LIMIT 1", [keyId]);
      expect(JSON.parse(row!.warnings)).toContain(NO_NONCE_RELEASE_WARNING);
      expect(NO_NONCE_RELEASE_WARNING).toMatch(/relay/);
    });
  });

  it('requireNonce: false (the old silent default) and requireNonce with allowNoNonce are refused (ERR_KBS_CONFIG)', async () => {
    const p = makePlatform();
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-no-nonce-'));
    try {
      for (const [i, bad] of [{ requireNonce: false }, { requireNonce: true, allowNoNonce: true }].entries()) {
        const started = startKeyBroker({ db: join(dir, `kbs-${i}.sqlite`), port: 0, plainHttp: true, collateral: collateralOf(p), trustRoots: p.trustRoots, log: () => {}, synchronous: 'NORMAL', ...bad });
        // A broker that starts anyway is closed before the assertion fails.
        const outcome = await started.then(async (b) => (await b.close(), 'started'), (e: unknown) => e);
        expect(outcome).toMatchObject({ code: 'ERR_KBS_CONFIG' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tee-kbs serve: --allow-no-nonce is in the usage; with --require-nonce it is a usage error (exit 2)', async () => {
    expect(KBS_SERVE_USAGE).toContain('--allow-no-nonce');
    let err = '';
    const r = await runKbsCli(['serve', '--db', '/nonexistent/kbs.sqlite', '--collateral', '/nonexistent.json', '--require-nonce', '--allow-no-nonce'], { stdout: () => {}, stderr: (t) => (err += t), env: {} });
    expect(r.code).toBe(2);
    expect(err).toContain('exclude each other');
  });
});
