/**
 * s13 docs review #1: configured policy names that claim content are refused in any case: a
 * `TEE-VERIFY:default-tdx` or `sha256:<digest>` name for a lax policy would put that name in every
 * EAR as the policy id (docs/policy.md: those names always identify the content).
 */
import { describe, expect, it } from 'vitest';

import { startService } from './helpers.js';

const OPEN = { version: 1, tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };

async function refused(name: string): Promise<void> {
  const err = await startService({ policies: { [name]: OPEN } }).then(
    async (s) => {
      await (s as { close?: () => Promise<void> }).close?.();
      return undefined;
    },
    (e: unknown) => e as { code?: string; message?: string },
  );
  expect(err?.code, name).toBe('ERR_INVALID_ARGUMENT');
  expect(err?.message).toContain('reserved');
}

describe('attestation service: reserved policy names, any case, sha256: too', () => {
  it('refuses TEE-VERIFY:, Inline: and sha256: / SHA256: names', async () => {
    for (const name of ['TEE-VERIFY:default-tdx', 'Inline:x', 'sha256:' + 'ab'.repeat(32), 'SHA256:x']) await refused(name);
  });

  it('control: an ordinary name starts', async () => {
    const s = await startService({ policies: { lax: OPEN } });
    await (s as { close?: () => Promise<void> }).close?.();
  });
});
