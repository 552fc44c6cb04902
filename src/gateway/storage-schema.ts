/**
 * The gateway's schema, as versioned migrations on the shared storage
 * interface (src/storage/migrate.ts). It lives next to the key broker's: the
 * same `schema_migrations` table, rows told apart by `component = 'gateway'`,
 * and table names prefixed `gateway_`, so one database may hold both services
 * (or each its own) without a clash.
 *
 * Version 1 is the schema the SQLite-only gateway created. Its DDL is
 * `CREATE … IF NOT EXISTS`, so an existing gateway file is taken over as
 * version 1 with its rows (a file from before the admin API gains the admin
 * token table).
 */
import type { Migration, MigrationSet } from '../storage/index.js';

const tables = (blob: 'BLOB' | 'BYTEA'): string => `
CREATE TABLE IF NOT EXISTS gateway_api_keys (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, token_sha256 ${blob} NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS gateway_admin_tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, token_sha256 ${blob} NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT);
`;

export const GATEWAY_MIGRATIONS: readonly Migration[] = [{ version: 1, name: 'gateway API keys and admin tokens', sql: { sqlite: tables('BLOB'), postgres: tables('BYTEA') } }];

export const GATEWAY_SCHEMA: MigrationSet = { component: 'gateway', migrations: GATEWAY_MIGRATIONS };

export const GATEWAY_SCHEMA_VERSION = GATEWAY_MIGRATIONS.length;
