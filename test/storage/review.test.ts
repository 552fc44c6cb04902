/**
 * Adversarial review of the storage layer: a failed COMMIT must not leave the
 * SQLite connection inside the transaction (later statements would join it and
 * never be committed, and every later transaction would fail).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { describeLocation, parseStorageLocation, redactUrl, SqliteStorage } from '../../src/storage/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-storage-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('storage review: SQLite COMMIT failure', () => {
  it('a COMMIT refused by a deferred constraint rolls back; the next writes commit and the next transaction runs', async () => {
    const file = join(dir, 'commit-fails.sqlite');
    const storage = await SqliteStorage.open(file);
    await storage.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)`);
    // The foreign key is checked at COMMIT only, so COMMIT itself fails.
    await expect(storage.transaction((tx) => tx.run('INSERT INTO child (id, parent_id) VALUES (1, 42)'))).rejects.toMatchObject({ code: 'ERR_STORAGE_QUERY' });
    expect(await storage.get('SELECT id FROM child WHERE id = 1')).toBeUndefined();
    await storage.run('INSERT INTO parent (id) VALUES (7)');
    await storage.transaction((tx) => tx.run('INSERT INTO child (id, parent_id) VALUES (2, 7)'));
    await storage.close();
    // What was acknowledged is on disk (a fresh connection sees it).
    const again = await SqliteStorage.open(file);
    expect(await again.all('SELECT id FROM parent')).toEqual([{ id: 7 }]);
    expect(await again.all('SELECT id FROM child')).toEqual([{ id: 2 }]);
    await again.close();
  });
});

/** What logs and /health show for a location: the description, or the refusal's message. */
function describeLocationOf(url: string): string {
  try {
    return describeLocation(parseStorageLocation(url));
  } catch (e) {
    return (e as Error).message.replace(/^not a valid PostgreSQL URL: /, '');
  }
}

describe('storage review: a password in a URL that does not parse', () => {
  // An unencoded "/" in the password makes the URL invalid; the error and logs must still mask it.
  const url = 'postgres://tee_kbs:s3cr/et-pw@db.internal:5432/tee_kbs';

  it('redactUrl masks a password given as a query parameter too (review, session 3)', () => {
    const masked = redactUrl('postgres://u@db/x?password=s3cret&sslpassword=k3y&application_name=kbs');
    expect(masked).not.toContain('s3cret');
    expect(masked).not.toContain('k3y');
    expect(masked).toContain('application_name=kbs');
  });

  it('redactUrl masks the password', () => {
    expect(redactUrl(url)).not.toContain('s3cr');
    expect(redactUrl(url)).not.toContain('et-pw');
    expect(redactUrl(url)).toBe('postgres://tee_kbs:***@db.internal:5432/tee_kbs');
  });

  it('redactUrl masks passwords a URL parser reads as port, path, query or fragment (review s7)', () => {
    // Digits then "/", "?" or "#": the URL parses, with the password's start as the port.
    for (const pw of ['8080/Zq+x', '443?sslmode=disable', '1#frag', '5432/a@b', 's3cr/et-pw']) {
      const shown = describeLocationOf(`postgres://tee_kbs:${pw}@db.internal:5432/tee_kbs`);
      expect(shown, pw).toBe('postgres://tee_kbs:***@db.internal:5432/tee_kbs');
    }
    expect(redactUrl('postgres://tee_kbs:8080/Zq+x@db.internal:5432/tee_kbs?password=p4ss')).toBe('postgres://tee_kbs:***@db.internal:5432/tee_kbs?password=***');
    // An "@" after the host: masked up to it (the safe side), never shown.
    expect(redactUrl('postgres://u:pw@db/x?application_name=a@b')).not.toContain('pw');
    // Without an ambiguous "@" nothing changes.
    expect(redactUrl('postgres://u:pw@db.internal:5432/x')).toBe('postgres://u:***@db.internal:5432/x');
    expect(redactUrl('postgres://db.internal:5432/x')).toBe('postgres://db.internal:5432/x');
  });

  it('redactUrl: a secret query parameter stays masked when an "@" follows it; an "@" in a query value alone keeps the host (review s7, second round)', () => {
    const cases: [string, string][] = [
      ['postgres://db.internal/kbs?user=svc@corp&password=hunter2', 'postgres://db.internal/kbs?user=svc%40corp&password=***'],
      ['postgres://kbs@db/kbs?application_name=a@b&sslpassword=hunter2', 'postgres://kbs@db/kbs?application_name=a%40b&sslpassword=***'],
      ['postgres://db/kbs?application_name=kbs@eu', 'postgres://db/kbs?application_name=kbs@eu'],
      ['postgres://db/kbs?password=hun@ter2', 'postgres://db/kbs?password=***'],
    ];
    for (const [url, shown] of cases) expect(redactUrl(url), url).toBe(shown);
    // Ambiguous (a userinfo password may hold "/" and "@"): masked up to the last "@", host included; no secret shown.
    for (const url of ['postgres://kbs:pw@db/kbs?user=x@y#sslkey=hunter2', 'postgres://kbs:pw@db/kbs?sslkey=hunter2&user=x@y', 'postgres://kbs:p?password=hunter2@db/kbs']) {
      const shown = redactUrl(url);
      expect(shown, url).not.toMatch(/hunter2|pw/);
      expect(shown, url).toMatch(/^postgres:\/\/kbs:\*\*\*@/);
    }
  });

  it('redactUrl: a ":" after the userinfo\'s "@" (port, IPv6) starts no password, so an "@" in a query value keeps the host (review s7, third round)', () => {
    const cases: [string, string][] = [
      ['postgres://user@host:5432/db?application_name=x@y', 'postgres://user@host:5432/db?application_name=x@y'],
      ['postgres://user@[::1]:5432/db?application_name=x@y&password=hunter2', 'postgres://user@[::1]:5432/db?application_name=x%40y&password=***'],
      ['postgres://[::1]:5432/db?sslpassword=hunter2&options=-c%20x@y', 'postgres://[::1]:5432/db?sslpassword=***&options=-c+x%40y'],
      ['postgres://kbs@db.internal:5432/kbs?user=svc@corp&sslkey=hunter2', 'postgres://kbs@db.internal:5432/kbs?user=svc%40corp&sslkey=***'],
      ['postgres://kbs@db.internal:5432/kbs?password=hun@ter2', 'postgres://kbs@db.internal:5432/kbs?password=***'],
    ];
    for (const [url, shown] of cases) {
      expect(redactUrl(url), url).toBe(shown);
      expect(describeLocationOf(url), url).toBe(shown);
    }
    // A user name with an "@" (user@server): a ":" not followed by a port, or whose next "@" is not in a query parameter, still starts a password.
    for (const url of [
      'postgres://us@er:hun/ter2@db.internal/kbs',
      'postgres://us@er:hun?ter2@db.internal/kbs',
      'postgres://us@er:hun#ter2@db.internal/kbs',
      'postgres://us@er:80/hunter2@db.internal/kbs',
      'postgres://us@er:80#hun=ter2@db.internal/kbs',
      'postgres://us@er:80?hunter2@db.internal/kbs',
    ]) {
      expect(redactUrl(url), url).toBe('postgres://us%40er:***@db.internal/kbs');
    }
    // Still ambiguous (a password before the "@" may go on past "/", "?" or "#"): masked up to the last "@", never shown.
    for (const url of [
      'postgres://user:hunter2@host:5432/db?application_name=x@y',
      'postgres://u:hunter2@[::1]:5432/db?x=@',
      'postgres://us@er:hunter2@host:5432/db?x=a@b',
      'postgres://tee_kbs:5432/hunter2@db.internal:5432/tee_kbs',
    ]) {
      expect(redactUrl(url), url).not.toContain('hunter2');
      expect(redactUrl(url), url).toMatch(/^postgres:\/\/[^/]*:\*\*\*@/);
    }
  });

  it('parseStorageLocation refuses it without echoing the password', () => {
    let message = '';
    try {
      parseStorageLocation(url);
    } catch (e) {
      message = (e as Error).message;
      expect((e as { code?: string }).code).toBe('ERR_STORAGE_CONFIG');
    }
    expect(message).toMatch(/not a valid PostgreSQL URL/);
    expect(message).not.toContain('et-pw');
  });
});
