/**
 * Which transactions the current async context runs inside. A transaction's
 * `fn` runs in a scope of its own (AsyncLocalStorage), so a call made from it
 * through the storage instead of its `tx` is recognised and refused with a
 * typed error instead of waiting: on SQLite it would wait for the transaction
 * that waits for it, stalling every later statement of the process; on
 * PostgreSQL it would run outside the transaction on another connection, and
 * wait for the transaction's row locks, or for a pool connection, or (close())
 * for the transaction's own connection to come back.
 *
 * A scope stays attached to work that `fn` started and did not wait for; it
 * counts only while its transaction is open, so such work runs normally
 * once the transaction has ended.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import { StorageError } from './errors.js';

interface Scope {
  readonly owner: object;
  open: boolean;
  /** The transaction (of another storage) this one was started inside, if any. */
  readonly outer: Scope | undefined;
}

const current = new AsyncLocalStorage<Scope>();

/** Runs `fn` as the body of a transaction of `owner`; the scope closes when `fn` settles. */
export async function runTransactionBody<T>(owner: object, fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { owner, open: true, outer: current.getStore() };
  try {
    return await current.run(scope, fn);
  } finally {
    scope.open = false;
  }
}

/** Whether the caller runs inside an open transaction of `owner`. */
export function insideTransactionOf(owner: object): boolean {
  for (let s = current.getStore(); s !== undefined; s = s.outer) if (s.open && s.owner === owner) return true;
  return false;
}

/** Throws ERR_STORAGE_QUERY when the caller runs inside an open transaction of `owner` (`what`: the call refused). */
export function refuseInsideTransaction(owner: object, what: string): void {
  if (!insideTransactionOf(owner)) return;
  throw new StorageError('ERR_STORAGE_QUERY', `${what} through the storage inside one of its own transactions: statements there go through the transaction's tx (transaction(async (tx) => tx.run(...))); a nested transaction or close() waits for the transaction that waits for it`);
}
