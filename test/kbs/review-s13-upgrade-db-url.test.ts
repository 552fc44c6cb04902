/**
 * upgradeIntegrity({ db }) follows the same path rule as --db (review s13 storage #2): a URL given
 * as `db` is ERR_STORAGE_CONFIG and its text (a password) is never shown; before, the library took it
 * as a SQLite file and looked for `<URL>.master-key`, naming it in the message.
 */
import { describe, expect, it } from 'vitest';

import { upgradeIntegrity } from '../../src/kbs/upgrade.js';

describe('review s13: upgradeIntegrity db is a SQLite path or refused', () => {
  it('a PostgreSQL URL with the slashes forgotten, given as db: ERR_STORAGE_CONFIG, no password in the message', async () => {
    const err = await Promise.resolve()
      .then(() => upgradeIntegrity({ db: 'postgresql:kbs:S3cretPW@db.internal/kbs', env: {} }))
      .then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
    expect(err?.code).toBe('ERR_STORAGE_CONFIG');
    expect(err?.message).not.toContain('S3cretPW');
  });
});
