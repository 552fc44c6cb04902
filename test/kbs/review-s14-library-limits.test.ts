/**
 * Review s14 #4: startKeyBroker's `rateLimit` option was not checked with the other start-up options.
 * RateLimiter's constructor ran after the database had been created and migrated and the first admin
 * token written, and threw a plain RangeError for {burst: 0}; {burst: Infinity} or {perSecond: Infinity}
 * passed, and the broker ran with no per-client limit on its unauthenticated routes. Now rateLimit,
 * and with it shutdownGraceMs and databasePoolSize, are checked in limitsOf before any database work:
 * ERR_KBS_CONFIG naming the field, nothing created. The bounds are those of the CLI flags.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { RateLimiter, startKeyBroker, type KeyBrokerOptions } from '../../src/kbs/index.js';
import { collateralOf, makePlatform } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-s14-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const platform = makePlatform();

async function start(o: Partial<KeyBrokerOptions>): Promise<{ err: (Error & { code?: string }) | undefined; files: string[] }> {
  const sub = mkdtempSync(join(dir, 'b-'));
  const err = await startKeyBroker({ db: join(sub, 'kbs.sqlite'), plainHttp: true, port: 0, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {}, ...o }).then(
    async (b) => (await b.close(), undefined),
    (e: unknown) => e as Error & { code?: string },
  );
  return { err, files: readdirSync(sub) };
}

describe('startKeyBroker checks rateLimit, shutdownGraceMs and databasePoolSize before any database work (review s14 #4)', () => {
  const refused: [string, Partial<KeyBrokerOptions>, string][] = [
    ['burst 0', { rateLimit: { burst: 0 } }, 'rateLimit.burst'],
    ['burst -1', { rateLimit: { burst: -1 } }, 'rateLimit.burst'],
    ['burst NaN', { rateLimit: { burst: NaN } }, 'rateLimit.burst'],
    ['burst Infinity', { rateLimit: { burst: Infinity, perSecond: 1 } }, 'rateLimit.burst'],
    ['burst 1.5', { rateLimit: { burst: 1.5 } }, 'rateLimit.burst'],
    ['burst 1 000 001', { rateLimit: { burst: 1_000_001 } }, 'rateLimit.burst'],
    ['burst "60"', { rateLimit: { burst: '60' as unknown as number } }, 'rateLimit.burst'],
    ['perSecond 0', { rateLimit: { perSecond: 0 } }, 'rateLimit.perSecond'],
    ['perSecond -5', { rateLimit: { perSecond: -5 } }, 'rateLimit.perSecond'],
    ['perSecond NaN', { rateLimit: { perSecond: NaN } }, 'rateLimit.perSecond'],
    ['perSecond Infinity', { rateLimit: { burst: 10, perSecond: Infinity } }, 'rateLimit.perSecond'],
    ['rateLimit null', { rateLimit: null as unknown as KeyBrokerOptions['rateLimit'] }, 'rateLimit'],
    ['shutdownGraceMs NaN', { shutdownGraceMs: NaN }, 'shutdownGraceMs'],
    ['shutdownGraceMs -1', { shutdownGraceMs: -1 }, 'shutdownGraceMs'],
    ['shutdownGraceMs Infinity', { shutdownGraceMs: Infinity }, 'shutdownGraceMs'],
    ['databasePoolSize 0', { databasePoolSize: 0 }, 'databasePoolSize'],
    ['databasePoolSize 2.5', { databasePoolSize: 2.5 }, 'databasePoolSize'],
    ['databasePoolSize Infinity', { databasePoolSize: Infinity }, 'databasePoolSize'],
  ];
  for (const [name, o, field] of refused) {
    it(`${name}: ERR_KBS_CONFIG naming ${field}, no file created`, async () => {
      const { err, files } = await start(o);
      expect({ code: err?.code, named: err?.message.startsWith(`${field} must`) }).toEqual({ code: 'ERR_KBS_CONFIG', named: true });
      expect(files).toEqual([]); // no database, master key or admin token file
    });
  }

  it('control: the bounds themselves and the defaults start', async () => {
    for (const o of [{}, { rateLimit: { burst: 1, perSecond: 0.01 } }, { rateLimit: { burst: 1_000_000, perSecond: 1_000_000 } }, { shutdownGraceMs: 0 }, { databasePoolSize: 1000 }] as Partial<KeyBrokerOptions>[]) {
      const { err, files } = await start(o);
      expect([o, err?.message]).toEqual([o, undefined]);
      expect(files).toContain('kbs.sqlite');
    }
  });

  it('RateLimiter itself refuses Infinity with the same message (it no longer passes its own check)', () => {
    expect(() => new RateLimiter({} as never, { burst: Infinity })).toThrow(/^rateLimit\.burst must/);
    expect(() => new RateLimiter({} as never, { perSecond: Infinity })).toThrow(/^rateLimit\.perSecond must/);
  });
});
