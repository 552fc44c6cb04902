/**
 * T49 (review 2, session 5): the collateral service is code outside the
 * verifier. verifyEvidence used to skip re-framing a quote it had parsed
 * itself when the service's prototype was exactly CollateralService's; a
 * genuine instance with an own forEvidence / cachedFor, or a Proxy around
 * one, passed that check and could edit the quote before it was verified.
 * Now the service is handed the parsed object and the verifier a snapshot
 * taken before (private bytes, framed again): whatever the service does to
 * the object (clear a field, overwrite its bytes in place with another
 * genuine report, swap in another genuine quote), the verdict and claims are
 * those of the evidence the caller passed.
 */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, verifyEvidence, type CollateralArtifact, type Evidence, type TdxQuote } from '../../src/index.js';
import type { SyntheticIntelPlatform } from '../../src/testing/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import type { SnpClaims, TdxClaims, VerificationResult } from '../../src/verify/types.js';
import { platform } from './intel/helpers/synthetic.js';

type Meddle = (q: Evidence) => void;

/** The three shapes of a service that passes for the library's own and edits what it is handed. */
function meddlingServices(make: () => CollateralService, meddle: Meddle): [string, CollateralService][] {
  const ownForEvidence = make();
  const realForEvidence = ownForEvidence.forEvidence.bind(ownForEvidence);
  ownForEvidence.cachedFor = () => undefined; // so forEvidence is asked
  ownForEvidence.forEvidence = (q, at, table) => {
    meddle(q);
    return realForEvidence(q, at, table);
  };
  const ownCachedFor = make();
  const realCachedFor = ownCachedFor.cachedFor.bind(ownCachedFor);
  ownCachedFor.cachedFor = (q, at, table) => {
    meddle(q);
    return realCachedFor(q, at, table);
  };
  const target = make();
  const proxy = new Proxy(target, {
    get(t, k) {
      if (k === 'forEvidence' || k === 'cachedFor') {
        const real = (t[k] as (...a: unknown[]) => unknown).bind(t);
        return (q: Evidence, ...rest: unknown[]) => {
          meddle(q);
          return real(q, ...rest);
        };
      }
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return [
    ['a CollateralService with an own forEvidence', ownForEvidence],
    ['a CollateralService with an own cachedFor', ownCachedFor],
    ['a Proxy around a CollateralService', proxy],
  ];
}

function intelService(p: SyntheticIntelPlatform): () => CollateralService {
  const artifacts = Object.values(p.collateral).filter((a): a is CollateralArtifact => a !== undefined);
  return () => new CollateralService({ intel: new BundleSource(artifacts), cache: null });
}

/** TDATTRIBUTES in a TDX v4 quote (header 48, TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8). */
const TD_ATTRIBUTES = 48 + 16 + 48 + 48 + 8;

describe('Intel: a debug TD stays debug whatever the service does to the quote it is handed', () => {
  const p = platform({ quote: { tdBody: { tdAttributes: 1n } } });
  const options = { at: p.at, trustRoots: p.trustRoots };
  const run = (collateral: CollateralService, evidence: Uint8Array | Evidence = p.quote.bytes): Promise<VerificationResult> =>
    verifyEvidence(evidence, { ...options, collateral });

  const meddles: [string, Meddle][] = [
    ['clears TDATTRIBUTES on the object', (q) => {
      (q as TdxQuote).body.tdAttributes = 0n;
    }],
    ['clears DEBUG in the bytes it was handed (the signature then no longer covers them)', (q) => {
      q.bytes[TD_ATTRIBUTES] = 0;
    }],
  ];

  for (const [what, meddle] of meddles) {
    describe(`a service that ${what}`, () => {
      it.each(meddlingServices(intelService(p), meddle))('%s: verifyEvidence(bytes)', async (_name, service) => {
        const honest = await run(intelService(p)());
        expect((honest.claims as TdxClaims).debug).toBe(true);
        const r = await run(service);
        expect(r.claims).toEqual(honest.claims);
        expect(r.tcbStatus).toBe(honest.tcbStatus);
      });

      it.each(meddlingServices(intelService(p), meddle))('%s: verifyEvidence(parsed object)', async (_name, service) => {
        const honest = await run(intelService(p)());
        const r = await run(service, parseEvidence(p.quote.bytes));
        expect(r.claims).toEqual(honest.claims);
      });
    });
  }
});

describe('Intel: REPORTDATA is the caller\'s when the service swaps in another genuine quote', async () => {
  const AT = new Date('2026-06-01T12:00:00Z');
  const tee = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
  const mine = (await tee.getEvidence(new Uint8Array(64).fill(1))).evidence;
  const theirs = (await tee.getEvidence(new Uint8Array(64).fill(2))).evidence;
  const make = () => new CollateralService({ intel: new BundleSource([...tee.collateral]), cache: null });
  const run = (collateral: CollateralService, evidence: Uint8Array | Evidence = mine) => verifyEvidence(evidence, { at: AT, trustRoots: tee.trustRoots, collateral });

  it('control: both quotes verify, with their own REPORTDATA', async () => {
    expect(((await run(make())).claims as TdxClaims).reportData).toBe('01'.repeat(64));
    expect(((await run(make(), theirs)).claims as TdxClaims).reportData).toBe('02'.repeat(64));
  });

  const swaps: [string, Meddle][] = [
    ['every field of the object replaced', (q) => {
      Object.assign(q, parseEvidence(theirs));
    }],
    ['the bytes overwritten in place', (q) => {
      q.bytes.set(theirs);
    }],
  ];
  for (const [what, meddle] of swaps) {
    it.each(meddlingServices(make, meddle))(`%s: ${what}`, async (_name, service) => {
      const honest = await run(make());
      const r = await run(service);
      expect((r.claims as TdxClaims).reportData).toBe('01'.repeat(64));
      expect(r.claims).toEqual(honest.claims);
      expect((await run(service, parseEvidence(mine))).claims).toEqual(honest.claims);
    });
  }
});

describe('SEV-SNP: REPORT_DATA is the caller\'s whatever the service does to the report it is handed', async () => {
  const AT = new Date('2026-06-01T12:00:00Z');
  const tee = new SimulatedTeeProvider({ tee: 'snp', at: AT });
  const mine = (await tee.getEvidence(new Uint8Array(64).fill(1))).evidence;
  const theirs = (await tee.getEvidence(new Uint8Array(64).fill(2))).evidence;
  const make = () => new CollateralService({ amd: new BundleSource([...tee.collateral]), cache: null });
  const run = (collateral: CollateralService, evidence: Uint8Array | Evidence = mine) => verifyEvidence(evidence, { at: AT, trustRoots: tee.trustRoots, collateral });

  it('control: both reports verify, with their own REPORT_DATA', async () => {
    expect(((await run(make())).claims as SnpClaims).reportData).toBe('01'.repeat(64));
    expect(((await run(make(), theirs)).claims as SnpClaims).reportData).toBe('02'.repeat(64));
  });

  const overwrite: Meddle = (q) => q.bytes.set(theirs); // another genuine report, in place
  it.each(meddlingServices(make, overwrite))('%s overwrites the bytes in place with another genuine report', async (_name, service) => {
    const honest = await run(make());
    const r = await run(service);
    expect((r.claims as SnpClaims).reportData).toBe('01'.repeat(64));
    expect(r.claims).toEqual(honest.claims);
    const fromObject = await run(service, parseEvidence(mine));
    expect(fromObject.claims).toEqual(honest.claims);
  });
});
