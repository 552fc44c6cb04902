/**
 * The second consumer of storage.test.ts's cross-connection tests on SQLite: a
 * separate process on the same database file (two better-sqlite3 connections
 * in one thread would wait for each other synchronously). Bundled with esbuild
 * by sqlite-child.ts and run with the file as its argument; one JSON request a
 * line on stdin, one JSON answer a line on stdout, "ready" once the file is open.
 */
import { createInterface } from 'node:readline';

import { RateLimiter } from '../../src/kbs/rate-limit.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';

export type ChildRequest =
  | { id: number; op: 'consume'; item: string; by: number }
  | { id: number; op: 'take'; client: string; at: number; burst: number; perSecond: number };

const file = process.argv[2];
if (!file) throw new Error('usage: sqlite-consumer-child FILE');
const storage = await SqliteStorage.open(file, { synchronous: 'NORMAL' });

/** The conditional single-use UPDATE: 1 when this call consumed the item, 0 when someone had. */
const consume = (item: string, by: number): Promise<number> =>
  storage.transaction(async (tx) => (await tx.run('UPDATE items SET used = ? WHERE id = ? AND used IS NULL', [by, item])).changes);

const answer = (line: object): boolean => process.stdout.write(`${JSON.stringify(line)}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  const r = JSON.parse(line) as ChildRequest;
  const work = r.op === 'consume' ? consume(r.item, r.by) : new RateLimiter(storage, { burst: r.burst, perSecond: r.perSecond }).take(r.client, r.at);
  work.then(
    (result) => answer({ id: r.id, result }),
    (e: unknown) => answer({ id: r.id, error: e instanceof Error ? `${(e as { code?: string }).code ?? ''} ${e.message}` : String(e) }),
  );
});
process.stdin.on('end', () => void storage.close());
answer({ ready: true });
