/**
 * Review s11 #2: the transfer parsed the decoded `quote` with encoding 'auto', so the field could
 * itself hold the quote as hex or base64 text (case, 0x, whitespace, line breaks). Each spelling
 * verified and had its own release digest, so one recorded nonce-less body gave any number of
 * "first" releases with full rows, past the s9 K1 replay count. The field carries the evidence's
 * bytes (ITA reads raw bytes): text inside it is now refused (401 ERR_KBS_EVIDENCE), and only
 * byte-equal replays release again, each raising the repeat count of the first release.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Storage } from '../../src/storage/index.js';
import { newClient, quoteFor, registerKey, sha512, startHarness, transferPath, unwrap, type Client, type Harness } from './helpers.js';

describe('the transfer reads `quote` as the evidence bytes only (review s11 #2)', () => {
  let h: Harness;
  let db: Storage;
  let keyId: string;
  let client: Client;
  let quote: Buffer;
  const material = randomBytes(32);

  beforeAll(async () => {
    h = await startHarness({ plainHttp: true, rateLimit: { burst: 10_000, perSecond: 10_000 } });
    db = await h.storage();
    keyId = await registerKey(h, material);
    client = newClient();
    quote = quoteFor(h.platform, sha512(client.spkiDer));
  }, 60_000);
  afterAll(async () => h?.close());

  const post = (evidence: Buffer) =>
    h.call('POST', transferPath(keyId), { body: { quote: evidence.toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'TDX' }, token: null });
  const released = () => db.all<{ id: string }>("SELECT id FROM attestation_log WHERE decision = 'released' AND key_id = ? ORDER BY seq", [keyId]);

  const hex = (): string => quote.toString('hex');
  it.each([
    ['hex text', () => Buffer.from(hex())],
    ['upper-case hex text', () => Buffer.from(hex().toUpperCase())],
    ['0x-prefixed hex text', () => Buffer.from(`0x${hex()}`)],
    ['hex text and a line break', () => Buffer.from(`${hex()}\n`)],
    ['hex text between spaces', () => Buffer.from(`  ${hex()}  `)],
    ['base64 text', () => Buffer.from(quote.toString('base64'))],
  ])('the quote as %s: 401 ERR_KBS_EVIDENCE, nothing released', async (_name, spelling) => {
    const before = (await released()).length;
    const r = await post(spelling());
    expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE' });
    expect(r.json).not.toHaveProperty('wrapped_key');
    expect((await released()).length).toBe(before);
  });

  it('the bytes themselves, three times: three releases, one full row, a repeat count of 2', async () => {
    expect(await released()).toHaveLength(0);
    for (let i = 0; i < 3; i++) {
      const r = await post(quote);
      expect(r.status, r.text).toBe(200);
      expect(unwrap(client, r.json).equals(material)).toBe(true);
    }
    const rows = await released();
    expect(rows).toHaveLength(1);
    const rep = await db.get<{ count: number | string }>('SELECT count FROM release_repeats WHERE log_id = ?', [rows[0]!.id]);
    expect(Number(rep?.count)).toBe(2);
  });
});
