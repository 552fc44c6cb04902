/**
 * Review (session 5): building the transfer URL. Key id ".." became
 * `<base>/kbs/v1/transfer` and "." `<base>/kbs/v1/keys/transfer` (the URL
 * parser resolves dot segments, and encodeURIComponent keeps dots); a base
 * already ending in `/kbs/v1/keys/OTHER` got a doubled path with no conflict
 * error; a `#fragment` was written into kbs_url. All are ERR_KBS_ARGUMENT now.
 */
import { describe, expect, it } from 'vitest';
import { configBrokerFields, requestKey, transferUrlOf, type EvidenceProvider } from '../../src/model/index.js';

type Row = [base: string, keyId: string | undefined, expected: string | 'ERR_KBS_ARGUMENT'];

/** transferUrlOf and configBrokerFields (with a key id) must agree on every row. */
const TABLE: Row[] = [
  // dot segments and empty ids
  ['https://kbs.example', '..', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example', '.', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example/prefix/', '..', 'ERR_KBS_ARGUMENT'],
  // fragments, also an empty one and one on a transfer URL
  ['https://kbs.example/?a=b#f', 'k1', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example/#', 'k1', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example/kbs/v1/keys/k1/transfer#x', 'k1', 'ERR_KBS_ARGUMENT'],
  // a base already holding part of the key route
  ['https://kbs.example/kbs/v1/keys/OTHER', 'k1', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example/kbs/v1/keys/k1/', 'k1', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example/prefix/kbs/v1/keys', 'k1', 'ERR_KBS_ARGUMENT'],
  ['https://kbs.example/kbs/v1', 'k1', 'ERR_KBS_ARGUMENT'],
  // neighbours that stay accepted
  ['https://kbs.example', '...', 'https://kbs.example/kbs/v1/keys/.../transfer'],
  ['https://kbs.example', 'a.b', 'https://kbs.example/kbs/v1/keys/a.b/transfer'],
  ['https://kbs.example/prefix/', 'k1', 'https://kbs.example/prefix/kbs/v1/keys/k1/transfer'],
  ['https://kbs.example/kbs/v1/keysets', 'k1', 'https://kbs.example/kbs/v1/keysets/kbs/v1/keys/k1/transfer'],
  ['https://kbs.example/?tenant=a', 'k 1/?#', 'https://kbs.example/kbs/v1/keys/k%201%2F%3F%23/transfer?tenant=a'],
  ['https://kbs.example/kbs/v1/keys/k1/transfer', 'k1', 'https://kbs.example/kbs/v1/keys/k1/transfer'],
];

function outcome(f: () => string): string {
  try {
    return f();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

describe('transfer URL building', () => {
  it('table: transferUrlOf and encryption-config.json kbs_url', () => {
    for (const [base, keyId, expected] of TABLE) {
      expect(outcome(() => transferUrlOf(base, keyId).toString()), `transferUrlOf ${base} ${keyId}`).toBe(expected);
      const written = expected === 'ERR_KBS_ARGUMENT' ? expected : base.includes('/transfer') ? base : expected;
      expect(outcome(() => configBrokerFields(base, keyId).kbs_url), `configBrokerFields ${base} ${keyId}`).toBe(written);
    }
    // Without a key id: an empty id is no key id; a fragment is refused in every form.
    expect(outcome(() => transferUrlOf('https://kbs.example', '').toString())).toBe('ERR_KBS_ARGUMENT');
    expect(outcome(() => configBrokerFields('https://kbs.example#f', undefined).kbs_url)).toBe('ERR_KBS_ARGUMENT');
    expect(outcome(() => configBrokerFields(undefined, '..').key_id)).toBe('ERR_KBS_ARGUMENT');
  });

  it('requestKey refuses a key id ".." (e.g. from the model directory) before it asks for evidence', async () => {
    let asked = 0;
    const provider = { name: 'never', tee: 'tdx', getEvidence: async () => void asked++ } as unknown as EvidenceProvider;
    await expect(requestKey({ url: 'https://127.0.0.1:1', keyId: '..', provider })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    await expect(requestKey({ url: 'https://127.0.0.1:1/kbs/v1/keys/OTHER', keyId: 'k1', provider })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    expect(asked).toBe(0);
  });
});
