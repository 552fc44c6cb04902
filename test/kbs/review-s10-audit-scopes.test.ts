/**
 * Review s10 (docs walk, finding 3): every token.mint row of the admin audit trail records the
 * minted token's scopes, as docs/kbs.md says, except the first-start one, which had only
 * {label, expires_at}. Now the first-start row names its scopes too (all four), so every token.mint
 * row has them: minted by the first start, by the bootstrap secret and by an admin token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './helpers.js';

interface Entry {
  seq: number;
  actor: string;
  action: string;
  object_id: string;
  detail: Record<string, unknown>;
}

describe('token.mint rows of the admin audit trail', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ bootstrapSecret: 'a-bootstrap-secret-of-length' });
  }, 60_000);
  afterAll(async () => h?.close());

  const audit = async (): Promise<Entry[]> => {
    const r = await h.call('GET', '/kbs/v1/admin-audit');
    expect(r.status, r.text).toBe(200);
    return r.json as Entry[];
  };

  it('the first-start row names the scopes of the token it minted (all four)', async () => {
    const [first] = await audit();
    expect(first).toMatchObject({ seq: 1, actor: 'first-start', action: 'token.mint', detail: { label: 'first-start', expires_at: null, scopes: ['keys', 'policies', 'read', 'tokens'] } });
    const listed = (await h.call('GET', '/kbs/v1/tokens')).json as { id: string; scopes: string[] }[];
    expect(listed.find((t) => t.id === first!.object_id)?.scopes).toEqual(['keys', 'policies', 'read', 'tokens']);
  });

  it('every token.mint row has scopes: first start, bootstrap secret, admin token', async () => {
    const boot = await h.call('POST', '/kbs/v1/token', { body: { username: 'admin', password: 'a-bootstrap-secret-of-length' } });
    expect(boot.status, boot.text).toBe(200);
    const minted = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'reader', scopes: ['read'] } });
    expect(minted.status, minted.text).toBe(201);
    const mints = (await audit()).filter((e) => e.action === 'token.mint');
    expect(mints.map((e) => [e.actor, e.detail['scopes']])).toEqual([
      ['first-start', ['keys', 'policies', 'read', 'tokens']],
      ['bootstrap-secret', ['keys', 'policies', 'read', 'tokens']],
      ['admin-token', ['read']],
    ]);
  });
});
