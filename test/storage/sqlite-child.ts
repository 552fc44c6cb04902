/**
 * Runs sqlite-consumer-child.ts as a separate process on a SQLite file: the
 * "other instance" of storage.test.ts's cross-connection tests. The child is
 * bundled from src/ with esbuild (vite's own dependency) into
 * node_modules/.cache, where it resolves better-sqlite3 like the sources do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { ChildRequest } from './sqlite-consumer-child.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

type Request = ChildRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class SqliteChild {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>();
  readonly #ready: Promise<void>;
  #next = 0;
  #stderr = '';

  private constructor(bundle: string, file: string) {
    this.#child = spawn(process.execPath, [bundle, file], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    let ready!: () => void;
    let failed!: (e: Error) => void;
    this.#ready = new Promise<void>((res, rej) => ((ready = res), (failed = rej)));
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { ready?: true; id?: number; result?: number; error?: string };
      if (m.ready) return ready();
      const p = this.#pending.get(m.id as number);
      this.#pending.delete(m.id as number);
      if (m.error !== undefined) p?.reject(new Error(`child: ${m.error}`));
      else p?.resolve(m.result as number);
    });
    this.#child.once('exit', (code) => {
      const e = new Error(`the child exited (${code}): ${this.#stderr}`);
      failed(e);
      for (const p of this.#pending.values()) p.reject(e);
      this.#pending.clear();
    });
  }

  /** Bundles the child once; returns the bundle's path and a cleanup. */
  static async bundle(): Promise<{ bundle: string; remove: () => void }> {
    const cache = join(root, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const work = mkdtempSync(join(cache, 'sqlite-child-'));
    const esbuild = await import('esbuild');
    const bundle = join(work, 'child.mjs');
    await esbuild.build({ entryPoints: [join(here, 'sqlite-consumer-child.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, external: ['better-sqlite3', 'pg'], logLevel: 'silent' });
    return { bundle, remove: () => rmSync(work, { recursive: true, force: true }) };
  }

  /** Starts a child on `file`; resolves once it has opened the file. */
  static async start(bundle: string, file: string): Promise<SqliteChild> {
    const c = new SqliteChild(bundle, file);
    await c.#ready;
    return c;
  }

  call(request: Request): Promise<number> {
    const id = this.#next++;
    return new Promise<number>((resolvePromise, reject) => {
      this.#pending.set(id, { resolve: resolvePromise, reject });
      this.#child.stdin!.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }

  /** Ends the child's input (it closes the database) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#child.stdin!.end();
    await exited;
  }
}
