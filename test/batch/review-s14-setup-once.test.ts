/**
 * Review s14 (service / batch) finding 2: batch read `--policy` (and `--trust-root`, the bundles)
 * once for the checkpoint's content digest, again for the main thread's setup check, and again in
 * every worker. A policy file replaced while the run started (an operator's deploy) was judged
 * with the new content while the checkpoint certified the old one. Now the main thread reads each
 * file once; the digest is of those bytes and the setup check and the workers use them.
 *
 * The swap: `readFileSync` of this process is wrapped so that right after the first read of the
 * policy file a lax policy is renamed over it (what /tmp/s14-svc/repro-policy-toctou.sh did with
 * inotify). The workers (dist/batch/worker.js, their own threads) are not wrapped: they read the
 * file from disk if they read it at all. The strict policy pins an MRTD no record has.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const swap = vi.hoisted(() => ({ watched: undefined as string | undefined, replacement: undefined as string | undefined, reads: 0 }));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    const out = (real.readFileSync as (...a: unknown[]) => unknown)(path, ...rest);
    if (swap.watched !== undefined && String(path) === swap.watched) {
      swap.reads++;
      if (swap.replacement !== undefined) {
        real.renameSync(swap.replacement, swap.watched); // replaced atomically right after the first read
        swap.replacement = undefined;
      }
    }
    return out;
  }) as typeof real.readFileSync;
  return { ...real, readFileSync, default: { ...real, readFileSync } };
});

import { createContext } from '../../src/batch/context.js';
import { runBatch } from '../../src/batch/run.js';
import { parseBatchArgs } from '../../src/cli/batch.js';
import { makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-06-01T00:00:00Z');
const BASE = { version: 1, tee: 'tdx', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
const STRICT = JSON.stringify({ ...BASE, mrTd: ['00'.repeat(48)] }); // an MRTD the record does not have
const LAX = JSON.stringify({ ...BASE, mrTd: 'any' });
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

let archive: Archive;
let work: string;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(1, AT);
  expect(archive.kindOf(0)).toBe('up-to-date');
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s14-setup-'));
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(name: string, policy: string, workers: number) {
  const out = join(work, `${name}.jsonl`);
  const args = [archive.jsonl, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--policy', policy, '--workers', String(workers), '--fresh'];
  await runBatch(parseBatchArgs(args)!);
  const checkpoint = JSON.parse(readFileSync(`${out}.checkpoint`, 'utf8')) as { fingerprint: { contents: { policy: string } } };
  return { results: readResults(out), digest: checkpoint.fingerprint.contents.policy };
}

describe('review s14 #2: the setup files are read once', () => {
  it('control: the strict policy rejects the record, the lax one trusts it', async () => {
    const strict = join(work, 'strict.json');
    const lax = join(work, 'lax.json');
    writeFileSync(strict, STRICT);
    writeFileSync(lax, LAX);
    expect((await run('control-strict', strict, 1)).results.map((r) => r.ok)).toEqual([false]);
    expect((await run('control-lax', lax, 1)).results.map((r) => r.ok)).toEqual([true]);
  });

  for (const workers of [1, 2]) {
    it(`a policy replaced after the first read: judged with the first bytes, whose digest the checkpoint holds (${workers} worker${workers > 1 ? 's' : ''})`, async () => {
      const policy = join(work, `policy-${workers}.json`);
      writeFileSync(policy, STRICT);
      writeFileSync(join(work, `next-${workers}.json`), LAX);
      Object.assign(swap, { watched: policy, replacement: join(work, `next-${workers}.json`), reads: 0 });
      try {
        const r = await run(`swap-${workers}`, policy, workers);
        expect(swap.replacement).toBeUndefined(); // the swap happened
        expect(r.digest).toBe(sha256(STRICT));
        expect(r.results).toHaveLength(1);
        expect(r.results[0]).toMatchObject({ ok: false, error: null });
        expect(r.results[0]!.violations.map((v) => v.path)).toEqual(['/mrTd']);
        expect(swap.reads).toBe(1); // this thread read the file once (before the swap)
        expect(readFileSync(policy, 'utf8')).toBe(LAX);
      } finally {
        swap.watched = undefined;
      }
    });
  }

  it('createContext uses the bytes it is given, not the path', async () => {
    const files = { policy: { bytes: new Uint8Array(Buffer.from(STRICT)) }, trustRoot: { bytes: new Uint8Array(readFileSync(archive.trustRoot)) }, collateral: [{ bytes: new Uint8Array(readFileSync(archive.collateral)) }] };
    const missing = join(work, 'no-such-file');
    const ctx = await createContext({ instant: { mode: 'fixed', at: AT.toISOString() }, collateral: [missing], trustRoot: missing, policy: missing, skipCrl: false, allowRecordPolicy: false, files });
    expect(ctx.judge).toBeDefined();
    expect(fs.existsSync(missing)).toBe(false);
    // A read error kept from the main thread's read is the usual setup message.
    await expect(createContext({ instant: { mode: 'fixed', at: AT.toISOString() }, collateral: [], policy: missing, skipCrl: false, allowRecordPolicy: false, files: { policy: { error: 'ENOENT' } } })).rejects.toThrow(`--policy ${missing} cannot be read: ENOENT`);
  });
});
