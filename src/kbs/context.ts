/** What every request handler of one broker shares: resolved once at start, frozen. */
import type { CollateralService, TrustRoots } from '../index.js';
import type { KbsStore } from './store.js';

export interface BrokerContext {
  readonly store: KbsStore;
  readonly masterKey: Buffer;
  readonly collateral: CollateralService;
  readonly trustRoots: TrustRoots;
  readonly nonceTtlMs: number;
  readonly requireNonce: boolean;
  /** The one clock of the broker; tests inject their own. */
  readonly now: () => Date;
  /** Secret that POST /kbs/v1/token exchanges for an admin token; absent: the endpoint refuses. */
  readonly bootstrapSecret: string | undefined;
  /** The broker's event log (warnings an operator must see, e.g. an unpinned policy). */
  readonly log: (line: string) => void;
}
