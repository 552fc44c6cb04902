/**
 * Where the data lives, from one string: `sqlite:PATH` (or a plain path) for
 * the embedded default, `postgres://…` / `postgresql://…` for a shared
 * PostgreSQL. Parsing never connects; openStorage does, and fails typed.
 * Anything that starts like a URL (`scheme:`) but is neither is refused,
 * ERR_STORAGE_CONFIG (exit 78): a mistyped URL never becomes a SQLite file (review s13 #2).
 *
 * What a SQLite file IS (a positive rule, review s13 CR #3; sqliteLocation): `:memory:`, an absolute
 * path (one leading "/"), a path starting "./" or "../" (both taken as written), or a plain relative
 * path of letters, digits, spaces and `_ . - + ~ , /` only, without "//" and not starting with the
 * word postgres / postgresql. The same rule holds after `sqlite:` (`sqlite:///ABS` is `/ABS`), for
 * `--db FILE` / the `db` option (sqliteLocation) and for a `{ kind: 'sqlite' }` location given to
 * openStorage. Everything else is refused, ERR_STORAGE_CONFIG, without showing the text: it may be a
 * URL holding a password.
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
    return sqliteLocation(file);
  }
  const scheme = SCHEME.exec(s);
  if (scheme) {
    throw new StorageError('ERR_STORAGE_CONFIG', `unknown database scheme ${scheme[1]}: in the database location: use sqlite:PATH or postgres://… (a file name with a colon: sqlite:./NAME)`);
  }
  return sqliteLocation(s);
}

/** The characters a plain relative SQLite path (no leading "./", "../" or "/") may hold. */
const PLAIN_RELATIVE = /^[\p{L}\p{M}\p{N}_.\-+~, /]+$/u; // \p{M}: combining marks (Devanagari, Thai, a decomposed é)

/** Why `file` is not a SQLite path under the positive rule (module comment), or undefined when it is one. Never quotes `file`. */
function notASqlitePath(file: string): string | undefined {
  if (file === ':memory:') return undefined;
  if (file.length === 0) return 'the SQLite file path is empty';
  // Taken as written: the operator spelt out a path.
  if (/^(\.{1,2}\/|\/(?!\/))/.test(file)) return undefined;
  if (file.startsWith('//')) return 'it starts with "//" like a URL\'s host (sqlite://HOST…): a SQLite location is sqlite:PATH, sqlite:///ABSOLUTE/PATH or sqlite:./PATH';
  if (/^postgres(ql)?(?![\p{L}\p{N}])/iu.test(file)) return 'it starts with postgres / postgresql but not postgres://: a PostgreSQL URL is postgres://USER:PASSWORD@HOST:PORT/DATABASE';
  if (file.includes('//')) return 'it holds "//" like a URL whose scheme lost its colon';
  // No shell expands it here: "~/kbs.sqlite" would name a directory "~" that does not exist (exit 75, retried for ever).
  if (file.startsWith('~')) return 'it starts with "~" (~/ or ~user/), which is not expanded here: give the home directory\'s absolute path';
  if (/:.*@/.test(file)) return 'it looks like a URL with a mistyped scheme (it holds "user:password@")';
  if (!PLAIN_RELATIVE.test(file)) return 'a relative path without "./" may hold only letters, digits, spaces and _ . - + ~ , / (":", "@", "?", "=", "%" and the like look like a URL)';
  return undefined;
}

/**
 * A SQLite file location from a path: `--db FILE`, the `db` option, the part after `sqlite:`. The one
 * check for all of them (review s13 CR #2): a path that the positive rule (module comment) does not
 * accept is ERR_STORAGE_CONFIG (exit 78), the path not shown.
 */
export function sqliteLocation(file: string): StorageLocation {
  const why = notASqlitePath(file);
  if (why !== undefined) {
    throw new StorageError('ERR_STORAGE_CONFIG', `not a SQLite file path: ${why}; use postgres://… for PostgreSQL, or write the file as sqlite:./PATH or an absolute path (the location is not shown, it may hold a password)`);
  }
  return { kind: 'sqlite', file };
}

export const describeLocation = (loc: StorageLocation): string => (loc.kind === 'sqlite' ? `sqlite:${loc.file}` : redactUrl(loc.url));

export interface OpenStorageOptions {
  sqlite?: SqliteOptions;
  postgres?: PostgresOptions;
}

export async function openStorage(location: string | StorageLocation, options: OpenStorageOptions = {}): Promise<Storage> {
  // A location object is checked too: a SQLite file named like a URL is refused here whoever built it (review s13 CR #2).
  const loc = typeof location === 'string' ? parseStorageLocation(location) : location.kind === 'sqlite' ? sqliteLocation(location.file) : location;
  return loc.kind === 'sqlite' ? SqliteStorage.open(loc.file, options.sqlite) : PostgresStorage.open(loc.url, options.postgres);
}
