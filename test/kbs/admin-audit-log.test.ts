/**
 * The broker's audit trail (docs/kbs.md, "Keys: move or rotate"): besides key changes, every policy
 * creation and deletion and every admin token minted or revoked names the admin token that did it,
 * so an operator can tell which credential changed what a key broker releases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, tdxPolicy, type Harness } from './helpers.js';

describe('admin audit log: policies and tokens name the admin token that changed them', () => {
  let h: Harness;
  const logs: string[] = [];
  let rootId: string;

  beforeAll(async () => {
    h = await startHarness({ log: (l) => logs.push(l), bootstrapSecret: 'a-bootstrap-secret-of-some-length' });
    rootId = ((await h.call('GET', '/kbs/v1/tokens')).json as { id: string }[])[0]!.id;
  }, 60_000);
  afterAll(async () => h?.close());

  it('logs policy creation and deletion with the format and the caller', async () => {
    const created = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    expect(created.status, created.text).toBe(201);
    const id = created.json.id as string;
    expect(logs).toContainEqual(`tee-kbs: policy ${id} (${created.json.format}) created by admin token ${rootId}`);
    expect(logs.some((l) => l.includes(`policy ${id} deleted`))).toBe(false);
    const deleted = await h.call('DELETE', `/kbs/v1/key-transfer-policies/${id}`);
    expect(deleted.status, deleted.text).toBe(204);
    expect(logs).toContainEqual(`tee-kbs: policy ${id} deleted by admin token ${rootId}`);
  });

  it('does not log a refused deletion (the policy is in use by a key)', async () => {
    const created = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    const policyId = created.json.id as string;
    const key = await h.call('POST', '/kbs/v1/keys', { body: { transfer_policy_id: policyId } });
    expect(key.status, key.text).toBe(201);
    const refused = await h.call('DELETE', `/kbs/v1/key-transfer-policies/${policyId}`);
    expect(refused.status, refused.text).toBe(409);
    expect(logs.some((l) => l.includes(`policy ${policyId} deleted`))).toBe(false);
  });

  it('logs tokens minted and revoked, by which token, and never the secret', async () => {
    const minted = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'ci deploy', expires_in_seconds: 3600 } });
    expect(minted.status, minted.text).toBe(201);
    const { id, token, expires_at: expiresAt } = minted.json as { id: string; token: string; expires_at: string };
    expect(logs).toContainEqual(`tee-kbs: admin token ${id} ("ci deploy", expires ${expiresAt}) minted by admin token ${rootId}`);
    // The short-lived token revokes itself: the log names it as the revoker.
    const revoked = await h.call('DELETE', `/kbs/v1/tokens/${id}`, { token });
    expect(revoked.status, revoked.text).toBe(204);
    expect(logs).toContainEqual(`tee-kbs: admin token ${id} revoked by admin token ${id}`);
    expect(logs.some((l) => l.includes(token))).toBe(false);
  });

  it('logs a token minted with the bootstrap secret as such', async () => {
    const r = await h.call('POST', '/kbs/v1/token', { body: { username: 'admin', password: 'a-bootstrap-secret-of-some-length' }, token: null });
    expect(r.status, r.text).toBe(200);
    const ids = ((await h.call('GET', '/kbs/v1/tokens')).json as { id: string; label: string }[]).filter((t) => t.label === 'bootstrap').map((t) => t.id);
    expect(ids).toHaveLength(1);
    expect(logs).toContainEqual(`tee-kbs: admin token ${ids[0]} ("bootstrap") minted with the bootstrap secret`);
    expect(logs.some((l) => l.includes(r.text))).toBe(false);
  });
});
