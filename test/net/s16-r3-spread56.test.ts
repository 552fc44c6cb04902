/**
 * s16 change review of e60b2ef (round 2 of proxy finding 2, low): a full failure table kept every
 * unlimited /56 that had a limited /64 below it, so one /48 (one /64 in each of 16 /56s, 10 wrong
 * tokens each) held 33 keys the table could not drop, and a stranger was then refused. Only the /48
 * is kept for a limited key below it now: a dropped /56 is still bounded by its /48. Fails on e60b2ef.
 */
import { expect, it } from 'vitest';

import { AuthFailureLimiter } from '../../src/net/auth-failures.js';
import { clientKey } from '../../src/net/client-key.js';

const T0 = 1_000_000;
/** A /64 in the n-th /56 of 2001:db8:1::/48. */
const in56 = (n: number): string => clientKey(`2001:db8:1:${(n << 8).toString(16)}::1`);

it('one /48 failing from 16 /56s does not fill a 33-key table: a stranger is still let in, the /48 stays limited', () => {
  const limiter = new AuthFailureLimiter({ maxClients: 33 });
  for (let n = 0; n < 16; n++) for (let k = 0; k < 10; k++) limiter.fail(in56(n), T0);
  limiter.fail(clientKey('2001:db8:9:1::1'), T0 + 1);
  expect(limiter.retryAfter(in56(200), T0 + 1)).toBeGreaterThan(0);
  expect(limiter.retryAfter(clientKey('198.51.100.7'), T0 + 1)).toBe(0);
});
