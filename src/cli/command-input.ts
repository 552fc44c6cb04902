/**
 * Standard input per command. run() never exits the process and may be
 * called again (an embedder, an in-process test), so "`-` is read once" is
 * recorded per run() call, not per process (review s6c #3). Kept apart from
 * files.ts so that run() sets it up without loading the input parsers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Readable } from 'node:stream';

/** One command's standard input and the role of the input that took each stream already. */
export interface CommandInput {
  stdin: Readable;
  readers: WeakMap<Readable, string>;
}

const current = new AsyncLocalStorage<CommandInput>();

/** Runs `body` as one command whose `-` inputs read `stdin` (default: this process's), each stream once. */
export function withCommandInput<T>(stdin: Readable | undefined, body: () => Promise<T>): Promise<T> {
  return current.run({ stdin: stdin ?? process.stdin, readers: new WeakMap() }, body);
}

/** The running command's input, undefined outside run(). */
export function commandInput(): CommandInput | undefined {
  return current.getStore();
}
