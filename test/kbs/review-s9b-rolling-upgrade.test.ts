/**
 * Review s9 changes (a), R1: an instance of the previous release kept running on a shared database
 * while a new one migrated it to schema 7. From then on it found every admin token tampered (the row
 * MAC now covers scopes), minted tokens that stay refused on every instance, logged nonce-less
 * releases without release_digest and made admin changes without audit rows. Nothing in the
 * database tells a new instance reliably that an older one is still connected, so the rule is the
 * operator's: stop every instance before starting a release that migrates to schema 5 or later.
 * docs/kbs.md says so and lists what schemas 5, 6 and 7 add; a start (or upgrade-integrity) that
 * migrates an existing database from below that into it says so in its log. SQLite.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { hashToken, integrityKeys, tokenDigest, tokenRowMacV1 } from '../../src/kbs/crypto.js';
import { startKeyBroker } from '../../src/kbs/index.js';
import { KBS_MIGRATIONS } from '../../src/kbs/migrations.js';
import { upgradeIntegrity } from '../../src/kbs/upgrade.js';
import { migrate, openStorage } from '../../src/storage/index.js';
import { collateralOf, makePlatform } from './helpers.js';

const kbsDoc = readFileSync(new URL('../../docs/kbs.md', import.meta.url), 'utf8');
/** The docs' rule, as one sentence (line breaks of the Markdown source folded). */
const RULE = 'stop every instance before starting a release that migrates to schema 5 or later';

describe('a migration into schema 5 or later says to stop every older instance (review s9 changes a, R1)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A database left at `version` by an older release: one admin token of that era (row MAC v1, no scopes). */
  async function seed(version: number): Promise<{ db: string; master: Buffer; token: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s9b-rolling-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'kbs.sqlite');
    const master = randomBytes(32);
    const token = randomBytes(32).toString('base64url');
    const s = await openStorage(`sqlite:${db}`);
    try {
      await migrate(s, { component: 'kbs', migrations: KBS_MIGRATIONS.slice(0, version) });
      await s.run("INSERT INTO meta (name, value) VALUES ('master_key_check', ?)", [createHmac('sha256', master).update('tee-kbs master key check').digest('hex')]);
      await s.run("INSERT INTO meta (name, value) VALUES ('admin_bootstrapped', 'x')");
      const k = integrityKeys(master);
      const id = randomUUID();
      const digest = tokenDigest(k, hashToken(token));
      const created = new Date().toISOString();
      await s.run('INSERT INTO admin_tokens (id, hash, label, created_at, expires_at, mac) VALUES (?, ?, ?, ?, NULL, ?)', [id, digest, 'old', created, tokenRowMacV1(k, id, digest, created, null)]);
    } finally {
      await s.close();
    }
    return { db, master, token };
  }

  async function start(db: string, master: Buffer): Promise<{ lines: string[]; url: string }> {
    const lines: string[] = [];
    const platform = makePlatform();
    const broker = await startKeyBroker({ db, env: { TEE_KBS_MASTER_KEY: master.toString('base64') }, port: 0, plainHttp: true, collateral: collateralOf(platform), trustRoots: platform.trustRoots, synchronous: 'NORMAL', log: (l) => lines.push(l) });
    cleanups.push(() => broker.close());
    return { lines, url: broker.url };
  }
  const warnings = (lines: string[]): string[] => lines.filter((l) => l.includes('stop every instance'));

  it('docs/kbs.md states the rule and lists schemas 5, 6 and 7 with what each adds', () => {
    const folded = kbsDoc.replace(/\s+/g, ' ');
    const at = folded.indexOf('### Upgrading a deployment');
    expect(at, 'docs/kbs.md has a section "Upgrading a deployment"').toBeGreaterThan(0);
    const body = folded.slice(at, folded.indexOf('##', at + 4));
    expect(body.toLowerCase().includes(`**${RULE}**`), `the section states "${RULE}" in bold`).toBe(true);
    // One item per schema, naming what it adds.
    for (const [schema, adds] of [['5', '`attestation_log.release_digest`'], ['6', '`admin_audit`'], ['7', '`admin_tokens.scopes`']] as const) {
      expect(new RegExp(`\\* \\*\\*Schema ${schema}\\*\\* adds ${adds.replace(/[.]/g, '\\.')}`).test(body), `schema ${schema} adds ${adds}`).toBe(true);
    }
    // The storage overview names schema 7 as well.
    expect(folded.includes('schema 7 `admin_tokens.scopes`'), 'the storage overview names schema 7').toBe(true);
  });

  it('a start that migrates schema 4 to the current one logs the rule; the old token still works', async () => {
    const { db, master, token } = await seed(4);
    const { lines, url } = await start(db, master);
    const [warning, ...more] = warnings(lines);
    expect(more).toEqual([]);
    expect(warning).toMatch(/^tee-kbs: WARNING: schema 4 -> 8/);
    expect(warning).toContain(RULE);
    expect(warning).toContain('docs/kbs.md, Upgrading a deployment');
    // It names what an older instance still running now gets wrong, schema by schema.
    expect(warning).toMatch(/schema 5 adds [^;]*release_digest/);
    expect(warning).toMatch(/schema 6 adds [^;]*admin_audit/);
    expect(warning).toMatch(/schema 7 adds [^;]*ERR_KBS_INTEGRITY/);
    const r = await fetch(`${url}/kbs/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
  });

  it('from schema 6 it names only what schema 7 adds', async () => {
    const { db, master } = await seed(6);
    const [warning] = warnings((await start(db, master)).lines);
    expect(warning).toMatch(/^tee-kbs: WARNING: schema 6 -> 8/);
    expect(warning).toMatch(/schema 7 adds [^;]*ERR_KBS_INTEGRITY/);
    expect(warning).not.toMatch(/schema 5 adds|schema 6 adds|admin_audit/);
  });

  it('schema 8 (session 15: attestation_log.cert_table) needs no stop (an older instance decides and logs nothing wrongly; its export lacking auxblob is documented, docs/kbs.md): from schema 6 it is not listed, from schema 7 nothing is logged', async () => {
    const six = await seed(6);
    const [warning] = warnings((await start(six.db, six.master)).lines);
    expect(warning).not.toMatch(/schema 8 adds|cert_table/);
    const seven = await seed(7);
    const { lines } = await start(seven.db, seven.master);
    expect(lines.some((l) => /schema 7 -> 8/.test(l))).toBe(true);
    expect(warnings(lines)).toEqual([]);
  });

  it('no warning on a new database, nor at a start that migrates nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s9b-rolling-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const master = randomBytes(32);
    const db = join(dir, 'kbs.sqlite');
    const first = await start(db, master);
    expect(first.lines.some((l) => /schema 0 -> 8/.test(l))).toBe(true);
    expect(warnings(first.lines)).toEqual([]);
    await cleanups.pop()!();
    const again = await start(db, master);
    expect(again.lines.some((l) => /schema \d+ -> /.test(l))).toBe(false);
    expect(warnings(again.lines)).toEqual([]);
  });

  it('tee-kbs admin upgrade-integrity migrating schema 4 logs it too', async () => {
    const { db, master } = await seed(4);
    const lines: string[] = [];
    await upgradeIntegrity({ db, env: { TEE_KBS_MASTER_KEY: master.toString('base64') }, log: (l) => lines.push(l) });
    const [warning] = warnings(lines);
    expect(warning).toMatch(/^tee-kbs: WARNING: schema 4 -> 8/);
    expect(warning).toContain(RULE);
  });
});
