/**
 * Shared pieces of the CLI tests: in-process runs with captured streams,
 * temporary folders, and one local collateral server per shared vector
 * (recorded real collateral at the real PCS / KDS paths).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { run } from '../../src/cli/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { amdProductRecords, intelRecords, vcekRecord } from '../helpers/recorded-collateral.js';
import { findEntry, vectorPath, type ManifestEntry } from '../helpers/vectors.js';
import { capture } from './capture.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(argv: string[], options: { tty?: boolean; env?: Record<string, string> } = {}): Promise<CliRun> {
  const c = capture(options);
  const code = await run(argv, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** Runs with --json and parses stdout, which must be exactly one JSON object. */
export async function cliJson(argv: string[]): Promise<CliRun & { json: Record<string, unknown> }> {
  const r = await cli([...argv, '--json']);
  return { ...r, json: JSON.parse(r.stdout) as Record<string, unknown> };
}

export class TempDirs {
  readonly #dirs: string[] = [];
  make(prefix = 'tee-verify-cli-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }
  file(name: string, data: string | Uint8Array): string {
    const path = join(this.make(), name);
    writeFileSync(path, data);
    return path;
  }
  cleanup(): void {
    while (this.#dirs.length) rmSync(this.#dirs.pop()!, { recursive: true, force: true });
  }
}

/** One server per vector (their recorded answers differ at the same paths). */
export class VectorServers {
  readonly #servers = new Map<string, CollateralServer>();

  async for(id: string): Promise<CollateralServer> {
    let server = this.#servers.get(id);
    if (!server) {
      const entry = entryOf(id);
      const records = entry.kind === 'snp-report' ? [...amdProductRecords(), ...[vcekRecord(entry)].filter((r) => r !== undefined)] : intelRecords(entry);
      server = await CollateralServer.start(records);
      this.#servers.set(id, server);
    }
    return server;
  }

  async closeAll(): Promise<void> {
    for (const s of this.#servers.values()) await s.close();
    this.#servers.clear();
  }
}

export function entryOf(id: string): ManifestEntry {
  const e = findEntry(id);
  if (!e) throw new Error(`no shared vector ${id}`);
  return e;
}

/** `verify <file> --at <time> --pcs-url/--kds-url <server> --no-cache --retries 0` for a shared vector. */
export function verifyArgs(id: string, serverUrl: string, extra: string[] = []): string[] {
  const e = entryOf(id);
  return ['verify', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', serverUrl, '--kds-url', serverUrl, '--no-cache', '--retries', '0', ...extra];
}

export const VERIFY_KEYS = ['ok', 'tee', 'at', 'tcbStatus', 'advisoryIds', 'error', 'violations', 'warnings', 'checks', 'claims'];
