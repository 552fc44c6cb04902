/**
 * Shared helpers of the batch tests. The worker pool runs the built worker
 * (dist/batch/worker.js): these suites rely on dist/ being built, as
 * `npm install` (prepare) or `npx tsc -p tsconfig.json` does; they fail with
 * that instruction when it is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { CliIo } from '../../src/cli/io.js';
import type { ResultRecord } from '../../src/batch/result.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAIN = join(ROOT, 'dist', 'batch', 'main.js');

export function requireBuilt(): void {
  for (const f of [MAIN, join(ROOT, 'dist', 'batch', 'worker.js'), join(ROOT, 'dist', 'testing', 'index.js')]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: the batch tests run the built worker; build with "npx tsc -p tsconfig.json" (npm install does it)`);
  }
}

export interface Archive {
  dir: string;
  jsonl: string;
  collateral: string;
  trustRoot: string;
  /** The generator's kind of record i ("up-to-date", "tampered", ...). */
  kindOf: (i: number) => string;
  expected: {
    records: number;
    at: string;
    now: Record<string, number>;
    collected: Record<string, number>;
    okNow: number;
    okCollected: number;
    changedCollectedVsNow: number;
    kinds: Record<string, number>;
  };
}

/** Generates an archive with scripts/generate-archive.js (which imports dist/testing). */
export async function makeArchive(records: number, at: Date): Promise<Archive> {
  const dir = mkdtempSync(join(tmpdir(), 'tee-verify-batch-'));
  const script = (await import(join(ROOT, 'scripts', 'generate-archive.js'))) as {
    generateArchive: (o: { records: number; out: string; at: Date }) => Promise<Archive['expected']>;
    kindOfIndex: (i: number) => { kind: string };
  };
  const expected = await script.generateArchive({ records, out: dir, at });
  const kindOf = (i: number): string => script.kindOfIndex(i).kind;
  return { dir, jsonl: join(dir, 'archive.jsonl'), collateral: join(dir, 'collateral.json'), trustRoot: join(dir, 'trust-root.pem'), kindOf, expected };
}

export function readResults(path: string): ResultRecord[] {
  const text = readFileSync(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ResultRecord);
}

/** Counts per status as the summary defines it (TCB status, else the error code). */
export function countStatuses(results: ResultRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const s = r.error ? r.error.code : (r.tcbStatus ?? 'Verified');
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

export function capture(tty = false): { io: CliIo; stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s), isTTY: tty } },
    stdout: () => out,
    stderr: () => err,
  };
}

/** Spawns `node dist/batch/main.js <args>`. */
export function spawnBatch(args: string[]): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise) => child.on('exit', (code, signal) => resolvePromise({ code, signal, stdout, stderr })));
}

export const ids = (results: ResultRecord[]): string[] => results.map((r) => r.id);
