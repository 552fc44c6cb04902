/**
 * Review s12 docs #4: a PostgreSQL URL naming an sslrootcert / sslcert / sslkey file that is missing
 * or unreadable failed as ERR_STORAGE_UNREACHABLE (exit 75, "retry later": a supervisor restarts it
 * forever). node-postgres reads those files when it connects; the open / read errno is now
 * ERR_STORAGE_CONFIG (exit 78). A missing Unix socket (ENOENT of connect) stays unreachable. No
 * server is needed: the file is read before any connection is made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openStorage, StorageError } from '../../src/storage/index.js';
import { classifyPostgresError } from '../../src/storage/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'review-s12-pg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function openError(url: string): Promise<StorageError> {
  try {
    const s = await openStorage(url);
    await s.close();
  } catch (e) {
    expect(StorageError.is(e)).toBe(true);
    return e as StorageError;
  }
  throw new Error('expected openStorage to fail');
}

describe('TLS files named by the URL', () => {
  const base = 'postgres://u:pw@127.0.0.1:1/kbs?sslmode=verify-full';

  it('a missing sslrootcert is ERR_STORAGE_CONFIG, the password masked', async () => {
    const e = await openError(`${base}&sslrootcert=/nonexistent/ca.pem`);
    expect(e.code).toBe('ERR_STORAGE_CONFIG');
    expect(e.message).toContain('ENOENT');
    expect(e.message).not.toContain(':pw@');
  });

  it('a missing sslcert / sslkey, or a directory as sslrootcert, is ERR_STORAGE_CONFIG; the sslkey path is not shown', async () => {
    expect((await openError(`${base}&sslcert=/nonexistent/client.pem`)).code).toBe('ERR_STORAGE_CONFIG');
    const key = await openError(`${base}&sslkey=/nonexistent/secret-key-path.pem`);
    expect(key.code).toBe('ERR_STORAGE_CONFIG');
    expect(key.message).not.toContain('secret-key-path');
    expect((await openError(`${base}&sslrootcert=${encodeURIComponent(dir)}`)).code).toBe('ERR_STORAGE_CONFIG');
  });
});

describe('classifyPostgresError: file errno vs socket errno', () => {
  const err = (code: string, syscall: string) => Object.assign(new Error(`${code}: ${syscall}`), { code, syscall });

  it('open / read errors at the first connection are configuration', () => {
    for (const [code, syscall] of [['ENOENT', 'open'], ['EACCES', 'open'], ['EISDIR', 'read']] as const) {
      expect(classifyPostgresError(err(code, syscall), true).code).toBe('ERR_STORAGE_CONFIG');
    }
  });

  it('a missing Unix socket (ENOENT of connect) stays unreachable; after opening nothing changes', () => {
    expect(classifyPostgresError(err('ENOENT', 'connect'), true).code).toBe('ERR_STORAGE_UNREACHABLE');
    expect(classifyPostgresError(err('ECONNREFUSED', 'connect'), true).code).toBe('ERR_STORAGE_UNREACHABLE');
    expect(classifyPostgresError(err('ENOENT', 'open'), false).code).toBe('ERR_STORAGE_UNAVAILABLE');
  });
});
