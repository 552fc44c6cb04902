/**
 * PostgreSQL for the test suite. Tests never start a server themselves:
 *
 * - TEE_PG_URL set (`.ci/run` starts one cluster with scripts/pg-test-cluster.sh):
 *   each test file gets its own database on that server.
 * - Otherwise, when Debian's PostgreSQL binaries are installed, the first test
 *   file that asks starts one throwaway cluster for the whole vitest run
 *   (serialised by a lock directory from the global setup, postgres-global.ts)
 *   and the global teardown stops it.
 * - Otherwise the PostgreSQL tests skip, with the reason printed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { inject } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PG_CLUSTER_SCRIPT = join(root, 'scripts', 'pg-test-cluster.sh');

function binariesPresent(): boolean {
  try {
    if (readdirSync('/usr/lib/postgresql').some((v) => existsSync(join('/usr/lib/postgresql', v, 'bin', 'initdb')))) return true;
  } catch {
    /* not installed there */
  }
  return (process.env['PATH'] ?? '').split(':').some((d) => d && existsSync(join(d, 'initdb')));
}

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export const PG_SKIP_REASON: string | undefined = process.env['TEE_PG_URL'] || binariesPresent() ? undefined : 'no PostgreSQL: set TEE_PG_URL or install Debian\'s postgresql (.ci/run does)';

let warned = false;
/** Prints the skip reason once per test file. */
export function warnIfPgSkipped(file: string): void {
  if (PG_SKIP_REASON && !warned) {
    warned = true;
    console.warn(`SKIPPED PostgreSQL tests in ${file}: ${PG_SKIP_REASON}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sharedDir(): string | undefined {
  try {
    return (inject as (k: string) => string | undefined)('teePgSharedDir') ?? process.env['TEE_PG_SHARED_DIR'];
  } catch {
    return process.env['TEE_PG_SHARED_DIR'];
  }
}

function startCluster(): { url: string; dir: string } {
  const out = execFileSync('bash', [PG_CLUSTER_SCRIPT, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const url = /TEE_PG_URL=(\S+)/.exec(out)?.[1];
  const dir = /TEE_PG_DIR=(\S+)/.exec(out)?.[1];
  if (!url || !dir) throw new Error(`pg-test-cluster.sh start printed no URL: ${out}`);
  return { url: url.replace(/^'|'$/g, ''), dir: dir.replace(/^'|'$/g, '') };
}

let serverUrl: Promise<string> | undefined;

/** The URL of a server the tests may create databases on. */
export function pgServerUrl(): Promise<string> {
  serverUrl ??= (async () => {
    const given = process.env['TEE_PG_URL'];
    if (given) return given;
    if (PG_SKIP_REASON) throw new Error(PG_SKIP_REASON);
    const shared = sharedDir();
    if (!shared) {
      // Outside the vitest config (no global setup): a cluster for this process only.
      const c = startCluster();
      process.once('exit', () => execFileSync('bash', [PG_CLUSTER_SCRIPT, 'stop', c.dir], { stdio: 'ignore' }));
      return c.url;
    }
    const lock = join(shared, 'lock');
    const envFile = join(shared, 'cluster.json');
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        await sleep(200);
      }
    }
    try {
      if (existsSync(envFile)) return (JSON.parse(readFileSync(envFile, 'utf8')) as { url: string }).url;
      const c = startCluster();
      writeFileSync(envFile, JSON.stringify(c));
      return c.url;
    } finally {
      rmdirSync(lock);
    }
  })();
  return serverUrl;
}

export interface PgTestDatabase {
  /** URL of a fresh, empty database. */
  url: string;
  /** Drops the database (closing whatever still connects to it). */
  drop(): Promise<void>;
}

/** A fresh database on the test server, for one test file or one test. */
export async function createPgDatabase(): Promise<PgTestDatabase> {
  const server = await pgServerUrl();
  const name = `tee_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(server);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The storage backends a parameterised suite runs on; PostgreSQL carries its skip reason. */
export const BACKENDS: { name: 'sqlite' | 'postgres'; skip: string | undefined }[] = [
  { name: 'sqlite', skip: undefined },
  { name: 'postgres', skip: PG_SKIP_REASON },
];

/** Why a test cannot start a cluster of its own (outage tests stop and restart it), or undefined. */
export const PG_OWN_CLUSTER_SKIP: string | undefined = binariesPresent() ? undefined : 'no PostgreSQL binaries to start a private cluster (install Debian\'s postgresql)';

export interface OwnCluster {
  url: string;
  /** Stops the server (connections fail) and starts it again on the same port. */
  pause(): void;
  resume(): void;
  stop(): void;
}

/** A private throwaway cluster for a test that takes the database down. */
export function startOwnCluster(): OwnCluster {
  const c = startCluster();
  const run = (cmd: string): void => {
    execFileSync('bash', [PG_CLUSTER_SCRIPT, cmd, c.dir], { stdio: 'ignore', timeout: 120_000 });
  };
  return { url: c.url, pause: () => run('pause'), resume: () => run('resume'), stop: () => run('stop') };
}
