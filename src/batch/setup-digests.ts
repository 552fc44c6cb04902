/**
 * SHA-256 of the content of every file that decides a run's verdicts: the
 * `--policy` file, each `--collateral` bundle and the `--trust-root` PEM, of
 * the very bytes the run judges with (read once, readSetupFiles).
 * The checkpoint records them next to the paths, so a resume with a file
 * edited in place (same path, other policy / collateral / root) is refused
 * instead of judging the rest of the archive under other rules than the
 * kept results (review s8).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { VerifySetup } from './config.js';

/** One setup file as the main thread read it: its bytes, or the error code of the read. */
export type FileRead = { bytes: Uint8Array } | { error: string };

/**
 * The bytes of the run's `--policy`, `--trust-root` and `--collateral` files, each read exactly once
 * (review s14 #2: the checkpoint's digest, the main thread's setup check and every worker each read
 * the paths again, so a file replaced while the run started was judged with other content than the
 * checkpoint named, and workers could judge with different versions). A file that cannot be read is
 * kept as its error: the setup check refuses it with its usual message.
 */
export interface SetupFiles {
  policy?: FileRead;
  trustRoot?: FileRead;
  /** One per `--collateral` bundle, in the order given. */
  collateral?: FileRead[];
}

function readOnce(path: string): FileRead {
  try {
    return { bytes: readFileSync(path) };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/** Reads the setup's files (once each; see SetupFiles). */
export function readSetupFiles(setup: Pick<VerifySetup, 'policy' | 'trustRoot' | 'collateral'>): SetupFiles {
  return {
    ...(setup.policy === undefined ? {} : { policy: readOnce(setup.policy) }),
    ...(setup.trustRoot === undefined ? {} : { trustRoot: readOnce(setup.trustRoot) }),
    ...(setup.collateral.length === 0 ? {} : { collateral: setup.collateral.map(readOnce) }),
  };
}

/** Hex SHA-256 per file; null for a file that cannot be read (the run's setup check then refuses it with its own message). */
export interface SetupDigests {
  policy?: string | null;
  trustRoot?: string | null;
  /** One per `--collateral` bundle, in the order given. */
  collateral?: (string | null)[];
}

function digestOf(read: FileRead): string | null {
  return 'bytes' in read ? createHash('sha256').update(read.bytes).digest('hex') : null;
}

/** The digests of exactly the bytes read (readSetupFiles); empty when the setup names no file. */
export function setupDigests(files: SetupFiles): SetupDigests {
  return {
    ...(files.policy === undefined ? {} : { policy: digestOf(files.policy) }),
    ...(files.trustRoot === undefined ? {} : { trustRoot: digestOf(files.trustRoot) }),
    ...(files.collateral === undefined || files.collateral.length === 0 ? {} : { collateral: files.collateral.map(digestOf) }),
  };
}

/**
 * When the files' contents are why a checkpoint's options differ from a run's, the message naming
 * the file that changed (or saying the checkpoint predates digests); undefined otherwise.
 */
export function describeContentChange(then: Record<string, unknown>, now: Record<string, unknown>): string | undefined {
  const before = then['contents'] as SetupDigests | undefined;
  const after = now['contents'] as SetupDigests | undefined;
  if (JSON.stringify(before) === JSON.stringify(after)) return undefined;
  const { contents: _a, ...restThen } = then;
  const { contents: _b, ...restNow } = now;
  if (JSON.stringify(restThen) !== JSON.stringify(restNow)) return undefined; // other options differ too: the general message
  if (before === undefined) {
    return 'was written before checkpoints recorded the content of the policy, collateral and trust-root files, so it cannot show they are unchanged';
  }
  const changed: string[] = [];
  const paths = (k: 'policy' | 'trustRoot'): string => String(now[k]);
  if (before.policy !== after?.policy) changed.push(`the policy file ${paths('policy')}`);
  if (before.trustRoot !== after?.trustRoot) changed.push(`the trust-root file ${paths('trustRoot')}`);
  const bundles = (now['collateral'] as string[] | undefined) ?? [];
  bundles.forEach((path, i) => {
    if (before.collateral?.[i] !== after?.collateral?.[i]) changed.push(`the collateral bundle ${path}`);
  });
  return `was written for other content of ${changed.join(', ')} (same path, edited since): the kept results were judged with the old content`;
}
