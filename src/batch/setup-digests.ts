/**
 * SHA-256 of the content of every file that decides a run's verdicts: the
 * `--policy` file, each `--collateral` bundle and the `--trust-root` PEM.
 * The checkpoint records them next to the paths, so a resume with a file
 * edited in place (same path, other policy / collateral / root) is refused
 * instead of judging the rest of the archive under other rules than the
 * kept results (review s8).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { VerifySetup } from './config.js';

/** Hex SHA-256 per file; null for a file that cannot be read (the run's setup check then refuses it with its own message). */
export interface SetupDigests {
  policy?: string | null;
  trustRoot?: string | null;
  /** One per `--collateral` bundle, in the order given. */
  collateral?: (string | null)[];
}

function digestOf(path: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return null;
  }
}

/** The digests of the setup's files; empty when it names none. */
export function setupDigests(setup: Pick<VerifySetup, 'policy' | 'trustRoot' | 'collateral'>): SetupDigests {
  return {
    ...(setup.policy === undefined ? {} : { policy: digestOf(setup.policy) }),
    ...(setup.trustRoot === undefined ? {} : { trustRoot: digestOf(setup.trustRoot) }),
    ...(setup.collateral.length === 0 ? {} : { collateral: setup.collateral.map(digestOf) }),
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
