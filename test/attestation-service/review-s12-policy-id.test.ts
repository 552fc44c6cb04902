/**
 * Review s12 (svc #2): a configured policy kept the `id` its document brought, so a lax policy any client
 * may select (`lax`, whose document says "id": "prod", or "tee-verify:default-tdx") signed EARs whose
 * ear.appraisal-policy-id named another policy. Decision: the EAR names the configured name; a document
 * id that differs from it, or a configured name starting with "tee-verify:" or "inline:", is refused at
 * start (ERR_INVALID_ARGUMENT in the library, a usage error, exit 2, in `tee-verify serve`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { TeeVerifyError, verifyEarJwt } from '../../src/index.js';
import { TempDirs, cli } from '../cli/helpers.js';
import { NOW_SECONDS, post, startService, tdxQuote } from './helpers.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const OPEN = { version: 1, tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const PINNED = { ...OPEN, mrTd: ['00'.repeat(48)] };
const STRICT = { ...PINNED, id: 'prod' };

async function refusal(options: Parameters<typeof startService>[0], code = 'ERR_INVALID_ARGUMENT'): Promise<TeeVerifyError> {
  const err = await startService(options).then(
    async (svc) => {
      await svc.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TeeVerifyError);
  expect((err as TeeVerifyError).code).toBe(code);
  return err as TeeVerifyError;
}

/**
 * A document whose own id is "tee-verify:…" is refused earlier since session 13's change review
 * (policy #2): loadPolicy reserves that form (ERR_POLICY_INVALID at /id), for every caller.
 */
async function reservedIdRefusal(options: Parameters<typeof startService>[0]): Promise<void> {
  const err = await refusal(options, 'ERR_POLICY_INVALID');
  expect(err.details).toMatchObject({ path: '/id', keyword: 'reserved' });
}

describe('startAttestationService', () => {
  it('refuses a named policy whose document id is not its name', async () => {
    const err = await refusal({ policies: { prod: STRICT, lax: { ...OPEN, id: 'prod' } } });
    expect(err.message).toContain('"lax"');
    expect(err.message).toContain('"prod"');
    await reservedIdRefusal({ policies: { lax2: { ...OPEN, id: 'tee-verify:default-tdx' } } });
    await refusal({ policies: { lax3: { ...OPEN, id: 'inline:sha256:' + '00'.repeat(32) } } });
  });

  it('refuses configured names in the reserved tee-verify: and inline: spaces, with or without an id', async () => {
    await refusal({ policies: { 'tee-verify:default-tdx': OPEN } });
    await refusal({ policies: { 'tee-verify:default-tdx': { ...OPEN, id: 'tee-verify:default-tdx' } } });
    await refusal({ policies: { 'inline:x': OPEN } });
  });

  it('refuses a default policy document whose id is reserved or names a configured policy', async () => {
    await reservedIdRefusal({ defaultPolicies: { tdx: { ...OPEN, id: 'tee-verify:default-tdx' } } });
    await refusal({ defaultPolicies: { tdx: { ...OPEN, id: 'inline:abc' } } });
    await refusal({ policies: { prod: STRICT }, defaultPolicies: { tdx: { ...OPEN, id: 'prod' } } });
    await refusal({ policies: { 'default-tdx': PINNED }, defaultPolicies: { tdx: OPEN } });
  });

  it('the EAR names the configured name: a document without id gets it, one with the same id keeps it', async () => {
    const quote = await tdxQuote();
    const svc = await startService({ policies: { prod: STRICT, lax: OPEN, same: { ...OPEN, id: 'same' } }, defaultPolicies: { tdx: OPEN } });
    try {
      for (const [policy, id] of [['lax', 'lax'], ['same', 'same'], ['prod', 'prod'], [undefined, 'default-tdx']] as const) {
        const r = await post(svc.url, '/v1/verify', { evidence: quote.toString('base64'), ...(policy ? { policy } : {}) });
        expect(r.status).toBe(200);
        const s = (verifyEarJwt(r.json.token, svc.publicKey, { now: NOW_SECONDS }).claims as any).submods.cpu0;
        expect([policy, r.json.policy.id, s['ear.appraisal-policy-id']]).toEqual([policy, id, id]);
      }
    } finally {
      await svc.close();
    }
  });
});

describe('tee-verify serve --policy', () => {
  it('a document id other than NAME, or a reserved name, is a usage error (exit 2) naming the file', async () => {
    const dir = dirs.make('tee-as-s12-policy-');
    const prodCopy = join(dir, 'prod-relaxed.json');
    writeFileSync(prodCopy, JSON.stringify({ ...OPEN, id: 'prod' }));
    const fakeDefault = join(dir, 'fake-default.json');
    writeFileSync(fakeDefault, JSON.stringify({ ...OPEN, id: 'tee-verify:default-tdx' }));
    const plain = join(dir, 'plain.json');
    writeFileSync(plain, JSON.stringify(OPEN));
    for (const spec of [`lax=${prodCopy}`, fakeDefault, `tee-verify:x=${plain}`, `inline:x=${plain}`]) {
      const r = await cli(['serve', '--listen', '127.0.0.1:0', '--no-cache', '--policy', spec]);
      expect(r.code, spec).toBe(2);
      expect(r.stderr, spec).toMatch(/^error: .*--policy/);
    }
  });
});
