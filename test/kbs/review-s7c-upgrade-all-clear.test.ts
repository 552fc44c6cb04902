/**
 * Session 7, third review: `tee-kbs admin upgrade-integrity` on a database already at schema 4 that
 * holds rows without a valid MAC (written outside the broker, or left by a crash of an older
 * upgrade) logged "no row needed a MAC; nothing was trusted" and exited 0: a false all-clear. It
 * trusts only rows from before schema 4, so now it names such rows and fails (ERR_KBS_INTEGRITY).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { KbsStore, SCHEMA_VERSION, upgradeIntegrity } from '../../src/kbs/index.js';
import { openStorage } from '../../src/storage/index.js';

const ROGUE = '11111111-1111-4111-8111-111111111111';

describe('upgrade-integrity on a schema-4 database (review s7, third round)', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function schema4(rogue: boolean): Promise<{ file: string; genuine: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s7c-upgrade-'));
    dirs.push(dir);
    const file = join(dir, 'kbs.sqlite');
    const master = randomBytes(32);
    writeFileSync(`${file}.master-key`, `${master.toString('base64')}\n`, { mode: 0o600 });
    const s = await openStorage({ kind: 'sqlite', file });
    try {
      const { store } = await KbsStore.open(s, master);
      const genuine = (await store.addPolicy('native', JSON.stringify({ tee: 'tdx', mrTd: ['aa'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }), new Date())).id;
      if (rogue) await s.run('INSERT INTO policies (id, format, document, created_at, mac) VALUES (?, ?, ?, ?, NULL)', [ROGUE, 'native', '{}', new Date().toISOString()]);
      return { file, genuine };
    } finally {
      await s.close();
    }
  }

  it('a policy row without a MAC is named and the command fails, instead of "nothing was trusted"', async () => {
    const { file, genuine } = await schema4(true);
    const log: string[] = [];
    const err = await upgradeIntegrity({ db: file, env: {}, log: (l) => log.push(l) }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_KBS_INTEGRITY' });
    expect((err as Error).message).toContain(ROGUE);
    expect((err as Error).message).not.toContain(genuine);
    expect(log.join('\n')).not.toContain('nothing was trusted');
  });

  it('an intact schema-4 database still gets the all-clear', async () => {
    const { file } = await schema4(false);
    const log: string[] = [];
    // Created by this broker: at the current schema (4 or later: review s9 added 5 and 6).
    await expect(upgradeIntegrity({ db: file, env: {}, log: (l) => log.push(l) })).resolves.toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    expect(log.join('\n')).toContain(`no row needed a MAC (schema ${SCHEMA_VERSION}); nothing was trusted`);
  });
});
