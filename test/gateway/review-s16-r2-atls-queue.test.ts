/**
 * s16 change review of the providers fixes (evidence queue a5e6fab, 3e410a9), round 2, #2 (low): POST
 * /aTLS joined the evidence queue before its body was parsed and before the rate limit (routes.ts
 * wrapped the whole answerAtls in evidenceTurn): a junk body or a client whose share was spent held a
 * waiting place without spending any rate, and honest clients were refused 503 BUSY meanwhile. Now only
 * its provider call is under the queue. With evidenceQueue 0 the difference shows without any wait:
 * whatever reaches the queue while a report runs is refused 503 BUSY at once.
 */
import { afterEach, expect, it } from 'vitest';


import { SimulatedTeeProvider, SimulatedVtpmProvider, type EvidenceProvider, type TeeEvidence } from '../../src/tee/index.js';
import { until } from '../tee/fake-tpm2-tools.js';
import { atls, attest, codeOf, runCleanup, start } from './review-s16-r2-queue-helpers.js';

afterEach(runCleanup);

class Held implements EvidenceProvider {
  readonly name = 'held';
  readonly sim = new SimulatedTeeProvider({ tee: 'tdx' });
  readonly pending: (() => void)[] = [];
  getEvidence(rd: Uint8Array): Promise<TeeEvidence> {
    return new Promise((res) => this.pending.push(() => void this.sim.getEvidence(rd).then(res)));
  }
}

it('#2: /aTLS parses its body and takes its rate slot before the queue; only the provider call waits for a turn', async () => {
  const held = new Held();
  // No waiting place at all: whatever reaches the queue while a report runs is refused 503 BUSY at once.
  const { send, reads } = await start({ provider: new SimulatedVtpmProvider({ hardware: held }), evidenceQueue: 0, attestationsPerClient: 1 });
  const running = send('POST', '/v1/attestation', '10.0.0.1', attest(1, 'vtpm'));
  await until(() => held.pending.length === 1);
  // A junk body: 400 at once (before the fix: 503 BUSY, it had joined the queue unparsed).
  const junk = await send('POST', '/aTLS', '10.9.0.1', 'not json at all');
  expect(junk.status).toBe(400);
  expect(codeOf(junk)).toBe('ERR_GATEWAY_BAD_REQUEST');
  // A client whose share is spent: 429 (before: 503 BUSY, without taking the rate).
  const base = reads();
  const spent = await send('POST', '/aTLS', '10.0.0.1', atls(2));
  expect(spent.status).toBe(429);
  expect(reads()).toBe(base + 1);
  // A well-formed request with its share: takes its rate slot, then finds no place: the queue's own 503 BUSY, as it is.
  const busy = await send('POST', '/aTLS', '10.0.0.2', atls(3));
  expect(busy.status).toBe(503);
  expect(codeOf(busy)).toBe('ERR_GATEWAY_EVIDENCE_BUSY');
  expect(busy.headers['retry-after']).toBe('1');
  expect(reads()).toBe(base + 2);
  held.pending[0]!();
  expect((await running).status).toBe(200);
  // And with the TEE free, /aTLS is served through its turn.
  const served = send('POST', '/aTLS', '10.0.0.3', atls(4));
  await until(() => held.pending.length === 2);
  held.pending[1]!();
  const ok = await served;
  expect(ok.status).toBe(200);
  expect(JSON.parse(ok.body)).toHaveProperty('evidence.tee_verify.format', 'tee-verify/atls@1');
});

