/**
 * Per-client token buckets for the transfer and token endpoints, keyed by the
 * client key of the TCP peer (its IPv4 address or IPv6 /64, src/net/client-key.ts;
 * X-Forwarded-For is not trusted), kept in
 * the database so that every instance behind a load balancer draws from the
 * same bucket. One statement per request takes a token atomically (an upsert
 * that refills by the time elapsed, caps at the burst and decrements only when
 * a whole token is there); the row lock orders concurrent takers, whichever
 * instance they run on. Instants come from each instance's clock (the
 * bucket is shared, so no single monotonic clock exists); a clock behind the
 * last stored instant refills nothing (never a negative refill), so an
 * instance whose clock is behind gives no free tokens (review s8: a rule that
 * reset the bucket when a clock was far behind gave alternating skewed
 * instances a full bucket on every request). The instant is each instance's
 * raw wall clock: after a step back, requests through that instance refill
 * nothing until its clock passes the bucket's last instant, while the other
 * instances refill as before. (Review s8: feeding a clock that never goes
 * back instead kept the stepped instance ahead of the others for as long as
 * it ran, and its future instants stopped their refills.)
 */
import type { SqlExecutor } from '../storage/index.js';

export interface RateLimitOptions {
  /** Requests a client may send at once; default 60 (CNAP clients retry a refusal twice). */
  burst?: number;
  /** Sustained requests per second per client; default 20. */
  perSecond?: number;
}

/** The largest burst and rate accepted (the bounds of `tee-kbs serve --rate-burst / --rate-per-second`). */
export const MAX_RATE_BURST = 1_000_000;
export const MAX_RATE_PER_SECOND = 1_000_000;

/**
 * The options with their defaults, checked: burst a whole number from 1 to MAX_RATE_BURST, perSecond a
 * finite number above 0 up to MAX_RATE_PER_SECOND. Anything else (Infinity, which turned the limit off
 * silently; 0, negative, NaN, a fraction of a burst) is a RangeError naming the field (review s14 #4);
 * startKeyBroker makes it ERR_KBS_CONFIG before any database work.
 */
export function rateLimitOf(o: RateLimitOptions | undefined): { burst: number; perSecond: number } {
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw new RangeError('rateLimit must be an object { burst?, perSecond? }');
  const burst = o?.burst ?? 60;
  const perSecond = o?.perSecond ?? 20;
  if (typeof burst !== 'number' || !Number.isSafeInteger(burst) || burst < 1 || burst > MAX_RATE_BURST) {
    throw new RangeError(`rateLimit.burst must be a whole number of requests from 1 to ${MAX_RATE_BURST} (got ${String(burst)})`);
  }
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || !(perSecond > 0) || perSecond > MAX_RATE_PER_SECOND) {
    throw new RangeError(`rateLimit.perSecond must be a number of requests per second above 0 up to ${MAX_RATE_PER_SECOND} (got ${String(perSecond)})`);
  }
  return { burst, perSecond };
}

/** The refilled token count R of the row being updated (SQL expression). */
const ELAPSED = 'CASE WHEN excluded.last_ms > rate_limits.last_ms THEN excluded.last_ms - rate_limits.last_ms ELSE 0 END';
const REFILLED = `CASE WHEN rate_limits.tokens + (${ELAPSED}) * excluded.per_ms > excluded.burst THEN excluded.burst ELSE rate_limits.tokens + (${ELAPSED}) * excluded.per_ms END`;

const TAKE = `INSERT INTO rate_limits (client, tokens, last_ms, burst, per_ms, denied)
VALUES (?, CAST(? AS DOUBLE PRECISION), CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION), 0)
ON CONFLICT (client) DO UPDATE SET
  tokens = CASE WHEN ${REFILLED} >= 1 THEN ${REFILLED} - 1 ELSE ${REFILLED} END,
  denied = CASE WHEN ${REFILLED} >= 1 THEN 0 ELSE 1 END,
  last_ms = CASE WHEN excluded.last_ms > rate_limits.last_ms THEN excluded.last_ms ELSE rate_limits.last_ms END,
  burst = excluded.burst, per_ms = excluded.per_ms
RETURNING tokens, denied`;

export class RateLimiter {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #db: SqlExecutor;
  #lastPrune = 0;

  constructor(db: SqlExecutor, o: RateLimitOptions = {}) {
    const { burst, perSecond } = rateLimitOf(o);
    this.#burst = burst;
    this.#perMs = perSecond / 1000;
    this.#db = db;
  }

  /** 0 when allowed (a token is taken), else the seconds to wait. */
  async take(client: string, nowMs: number): Promise<number> {
    const row = await this.#db.get<{ tokens: number; denied: number }>(TAKE, [client, this.#burst - 1, Math.floor(nowMs), this.#burst, this.#perMs]);
    if (nowMs - this.#lastPrune > 60_000) {
      this.#lastPrune = nowMs;
      // A bucket idle long enough to be full again is the same as no row: drop it (any instance may).
      await this.#db.run('DELETE FROM rate_limits WHERE last_ms < ?', [Math.floor(nowMs - this.#burst / this.#perMs - 60_000)]);
    }
    if (!row || Number(row.denied) === 0) return 0;
    return Math.max(1, Math.ceil((1 - Number(row.tokens)) / this.#perMs / 1000));
  }
}
