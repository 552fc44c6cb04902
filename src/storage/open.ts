/**
 * Where the data lives, from one string: `sqlite:PATH` (or a plain path) for
 * the embedded default, `postgres://…` / `postgresql://…` for a shared
 * PostgreSQL. Parsing never connects; openStorage does, and fails typed.
 */
import { StorageError } from './errors.js';
import { PostgresStorage, redactUrl, type PostgresOptions } from './postgres.js';
import { SqliteStorage, type SqliteOptions } from './sqlite.js';
import type { Storage } from './types.js';

export type StorageLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export function parseStorageLocation(spec: string): StorageLocation {
  const s = spec.trim();
  if (s.length === 0) throw new StorageError('ERR_STORAGE_CONFIG', 'the database location is empty');
  if (/^postgres(ql)?:\/\//i.test(s)) {
    try {
      new URL(s);
    } catch {
      throw new StorageError('ERR_STORAGE_CONFIG', `not a valid PostgreSQL URL: ${redactUrl(s)}`);
    }
    return { kind: 'postgres', url: s };
  }
  if (/^sqlite:/i.test(s)) {
    const file = s.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file.length === 0) throw new StorageError('ERR_STORAGE_CONFIG', 'sqlite: needs a file path (sqlite:PATH)');
    return { kind: 'sqlite', file };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw new StorageError('ERR_STORAGE_CONFIG', `unknown database scheme in ${redactUrl(s)}: use sqlite:PATH or postgres://…`);
  return { kind: 'sqlite', file: s };
}

export const describeLocation = (loc: StorageLocation): string => (loc.kind === 'sqlite' ? `sqlite:${loc.file}` : redactUrl(loc.url));

export interface OpenStorageOptions {
  sqlite?: SqliteOptions;
  postgres?: PostgresOptions;
}

export async function openStorage(location: string | StorageLocation, options: OpenStorageOptions = {}): Promise<Storage> {
  const loc = typeof location === 'string' ? parseStorageLocation(location) : location;
  return loc.kind === 'sqlite' ? SqliteStorage.open(loc.file, options.sqlite) : PostgresStorage.open(loc.url, options.postgres);
}
