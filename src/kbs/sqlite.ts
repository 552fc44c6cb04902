/**
 * The one loader of better-sqlite3 for the key broker, with the small typed
 * surface the broker uses (the package ships no types of its own here).
 */
import { createRequire } from 'node:module';

export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface Statement<Row = unknown> {
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): Row | undefined;
  all(...params: unknown[]): Row[];
  iterate(...params: unknown[]): IterableIterator<Row>;
}

export interface Database {
  prepare<Row = unknown>(sql: string): Statement<Row>;
  exec(sql: string): Database;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { immediate: (...args: A) => R };
  close(): void;
  readonly open: boolean;
}

type DatabaseConstructor = new (file: string, options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => Database;

const require = createRequire(import.meta.url);

/** Opens (creating when absent) an SQLite database file. */
export function openDatabase(file: string, options: { readonly?: boolean; fileMustExist?: boolean } = {}): Database {
  const Ctor = require('better-sqlite3') as DatabaseConstructor;
  return new Ctor(file, { timeout: 5000, ...options });
}
