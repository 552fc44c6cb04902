/**
 * Where the data lives, from one string: `sqlite:PATH` (or a plain path) for
 * the embedded default, `postgres://…` / `postgresql://…` for a shared
 * PostgreSQL. Parsing never connects; openStorage does, and fails typed.
 * Anything that starts like a URL (`scheme:`) but is neither is refused,
 * ERR_STORAGE_CONFIG (exit 78), as is a plain relative path holding
 * `user:password@`: a mistyped URL never becomes a SQLite file (review s13 #2).
 */
import { StorageError } from './errors.js';
import { PostgresStorage, redactUrl, type PostgresOptions } from './postgres.js';
import { SqliteStorage, type SqliteOptions } from './sqlite.js';
import type { Storage } from './types.js';

export type StorageLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** `scheme:` at the start, as a URL has it (`postgresql:…`, `mysql:`, `file:`); a path never starts so (write `sqlite:PATH` or `./PATH`). */
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

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
  // A mistyped URL must not become a SQLite file named after it (review s13 #2): the service would run on a
  // private local database, with the URL's password in the file name, the logs and /health. Nothing of the
  // text after the scheme is shown: with the slashes missing, no URL parser finds the password to mask.
  if (/^postgres(ql)?:/i.test(s)) {
    throw new StorageError('ERR_STORAGE_CONFIG', 'a PostgreSQL URL needs "//" after the scheme: postgres://USER:PASSWORD@HOST:PORT/DATABASE (the location given is not shown, it may hold a password)');
  }
  if (/^sqlite:/i.test(s)) {
    const file = s.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file.length === 0) throw new StorageError('ERR_STORAGE_CONFIG', 'sqlite: needs a file path (sqlite:PATH)');
    if (SCHEME.test(file)) throw new StorageError('ERR_STORAGE_CONFIG', `sqlite: followed by another scheme (${SCHEME.exec(file)![1]}:): give sqlite:PATH, or sqlite:./PATH for a file name with a colon`);
    return { kind: 'sqlite', file };
  }
  const scheme = SCHEME.exec(s);
  if (scheme) {
    throw new StorageError('ERR_STORAGE_CONFIG', `unknown database scheme ${scheme[1]}: in the database location: use sqlite:PATH or postgres://… (a file name with a colon: sqlite:./NAME)`);
  }
  // Not a URL: a plain path. One holding both ":" and "@" looks like a URL's user:password@host with the scheme mangled.
  // An absolute (single "/") or ./ ../ path is taken as written.
  if (/:.*@/.test(s) && !/^(\.{1,2}\/|\/(?!\/))/.test(s)) {
    throw new StorageError('ERR_STORAGE_CONFIG', 'the database location looks like a URL with a mistyped scheme (it holds "user:password@"): use postgres://…, or sqlite:PATH for a file name like that (the location is not shown, it may hold a password)');
  }
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
