/**
 * s16 change review of the providers fixes (evidence queue a5e6fab, 3e410a9), round 2 (#2, /aTLS:
 * review-s16-r2-atls-queue.test.ts):
 *
 * #1 (medium) the queue defeated the vTPM TpmGate's fail-fast: after a TPM call past its deadline each
 *    waiting request got its turn and tried the hung TPM again, a whole deadline each. Now a turn that
 *    ends with the provider saying it does not answer refuses the waiting requests at once with the same
 *    answer, and while the TPM is tried again a new request is refused at once.
 * #4 (low) a provider call that never settled held the only in-flight place for ever. Now a turn has a
 *    deadline (evidenceTurnTimeoutMs), past which its request gets 503, its place is freed, the waiting
 *    requests are refused, a WARNING is logged and tee_gateway_evidence_turn_timeouts_total counts it.
 *
 * No timed assertions: the TPM's quote is held by the test and failed as a tool past its deadline when
 * the test says; the turn deadlines are a few milliseconds and the tests wait for their outcome, never
 * for a duration. Clients are told apart by X-Forwarded-For from a trusted 127.0.0.1.
 */
import { afterEach, afterAll, beforeAll, expect, it } from 'vitest';


import { EvidenceQueue, isProviderUnresponsive } from '../../src/gateway/attestation.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { SimulatedTeeProvider, Tpm2ToolsVtpmProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { EvidenceProviderError } from '../../src/model/errors.js';
import type { CommandRunner } from '../../src/vtpm/acquire.js';
import { FakeTpm2Tools, hardware, until } from '../tee/fake-tpm2-tools.js';
import { attest, cleanup, codeOf, runCleanup, start } from './review-s16-r2-queue-helpers.js';

afterEach(runCleanup);

// ------------------------------------------------------------------ #1: behind a hung TPM

let fake: FakeTpm2Tools;
beforeAll(async () => {
  fake = await FakeTpm2Tools.install('s16-r2-queue-');
  await fake.readpublicWorking();
  await fake.tool('tpm2_flushcontext', 'exit 0');
});
afterAll(async () => {
  await fake.uninstall();
});

/** tpm2_quote calls held until the test fails them, as a tool killed at its deadline (toolTimedOut) or as a TPM error; the rest run the fakes. */
function heldQuotes(): { run: CommandRunner; quotes: { timeOut: () => void; fail: () => void }[] } {
  const quotes: { timeOut: () => void; fail: () => void }[] = [];
  const run: CommandRunner = (file, args, env) => {
    if (file !== 'tpm2_quote') return fake.run(file, args, env);
    return new Promise((_resolve, reject) => {
      quotes.push({
        timeOut: () => reject(Object.assign(new Error('tpm2_quote killed at its deadline'), { toolTimedOut: true, timeoutMs: 300, exited: true, stderrText: '' })),
        fail: () => reject(Object.assign(new Error('tpm2_quote failed'), { stderrText: 'ERROR: TPM_RC_FAILURE' })),
      });
    });
  };
  return { run, quotes };
}

it('#1: a turn ending with a TPM call past its deadline refuses the waiting requests at once (the hung TPM is not tried by each in turn)', async () => {
  const { run, quotes } = heldQuotes();
  const provider = new Tpm2ToolsVtpmProvider({ hardware, ak: '0x81000003', run, eventLogPath: null, imaPath: null, stuckAfterMs: 600_000 });
  cleanup.push(() => provider.close());
  const { send, reads } = await start({ provider });
  const first = send('POST', '/v1/attestation', '10.1.0.1', attest(1, 'vtpm'));
  await until(() => quotes.length === 1);
  const base = reads();
  const waiting = ['10.1.0.2', '10.1.0.3', '10.1.0.4'].map((c, i) => send('POST', '/v1/attestation', c, attest(2 + i, 'vtpm')));
  await until(() => reads() === base + 3); // all three took their rate slot and joined the queue behind the first
  quotes[0]!.timeOut();
  const r1 = await first;
  expect(r1.status).toBe(503);
  expect(r1.headers['retry-after']).toBe('1');
  // Before the fix the second request got the turn and the gate let it try the hung TPM again (a second quote), and so on.
  let settled = 0;
  for (const w of waiting) void w.then(() => (settled += 1));
  await until(() => settled === 3 || quotes.length > 1);
  expect(quotes.length).toBe(1);
  for (const w of await Promise.all(waiting)) {
    expect(w.status).toBe(503);
    expect(w.body).toBe(r1.body); // the same answer
    expect(w.headers['retry-after']).toBe('1');
  }

  // Nothing runs: one request is let through to try the TPM again; while it runs, a new one is refused at once.
  const retry = send('POST', '/v1/attestation', '10.1.0.5', attest(5, 'vtpm'));
  await until(() => quotes.length === 2);
  const meanwhile = await send('POST', '/v1/attestation', '10.1.0.6', attest(6, 'vtpm'));
  expect(meanwhile.status).toBe(503);
  expect(codeOf(meanwhile)).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
  expect(quotes.length).toBe(2);
  // The TPM answers (with an error): the mark is cleared and the next request waits for its turn again.
  quotes[1]!.fail();
  expect((await retry).status).toBe(503);
  const after = send('POST', '/v1/attestation', '10.1.0.7', attest(7, 'vtpm'));
  await until(() => quotes.length === 3);
  quotes[2]!.fail();
  expect(codeOf(await after)).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
});

it('#1 (unit): only a provider that says it does not answer refuses the waiting requests; any other failure hands the turn on', async () => {
  const unresponsive = new EvidenceProviderError('ERR_TSM_UNAVAILABLE', 'the TPM does not answer', { details: { reason: 'tpm-unresponsive', retryable: true } });
  const timeout = new EvidenceProviderError('ERR_TSM_UNAVAILABLE', 'tpm2_quote did not finish', { details: { reason: 'timeout', retryable: true } });
  const busy = new EvidenceProviderError('ERR_TSM_UNAVAILABLE', 'EBUSY', { details: { retryable: true } });
  expect(isProviderUnresponsive(unresponsive)).toBe(true);
  expect(isProviderUnresponsive(timeout)).toBe(true);
  expect(isProviderUnresponsive(new GatewayError('ERR_GATEWAY_EVIDENCE_PROVIDER', 503, 'x', {}, { cause: timeout }))).toBe(true);
  expect(isProviderUnresponsive(busy)).toBe(false);
  expect(isProviderUnresponsive(new Error('x'))).toBe(false);

  const q = new EvidenceQueue(1, 4);
  let fail!: (e: unknown) => void;
  const first = q.run('10.0.0.1', undefined, () => new Promise((_r, rej) => (fail = rej)));
  first.catch(() => {});
  let ran = 0;
  const waiting = ['10.0.0.2', '10.0.0.3'].map((c) => q.run(c, undefined, async () => (ran += 1)));
  for (const w of waiting) w.catch(() => {});
  expect(q.waiting).toBe(2);
  fail(unresponsive);
  await expect(first).rejects.toBe(unresponsive);
  for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'ERR_GATEWAY_EVIDENCE_PROVIDER', status: 503, headers: { 'Retry-After': '1' } });
  expect(ran).toBe(0);
  expect(q.running).toBe(0);

  // A failure that is not "does not answer" (EBUSY): the next request gets its turn as before.
  const q2 = new EvidenceQueue(1, 4);
  let fail2!: (e: unknown) => void;
  const a = q2.run('10.0.0.1', undefined, () => new Promise((_r, rej) => (fail2 = rej)));
  a.catch(() => {});
  const b = q2.run('10.0.0.2', undefined, async () => 'served');
  fail2(busy);
  await expect(a).rejects.toBe(busy);
  await expect(b).resolves.toBe('served');
});

// ------------------------------------------------------------------ #4: a turn's deadline

it('#4 (unit): a provider call that never settles loses its place at the turn deadline; its request and the waiting ones get 503', async () => {
  const timedOut: number[] = [];
  const q = new EvidenceQueue(1, 2, { turnTimeoutMs: 5, onTurnTimeout: (ms) => void timedOut.push(ms) });
  const ac = new AbortController();
  const hung = q.run('10.0.0.1', ac.signal, () => new Promise(() => {}));
  hung.catch(() => {});
  ac.abort(); // the client leaves after its turn started: the call is not dropped, only the deadline frees the place
  let ran = 0;
  const waiting = ['10.0.0.2', '10.0.0.3'].map((c) => q.run(c, new AbortController().signal, async () => (ran += 1)));
  for (const w of waiting) w.catch(() => {});
  await expect(hung).rejects.toMatchObject({ code: 'ERR_GATEWAY_EVIDENCE_PROVIDER', status: 503, headers: { 'Retry-After': '1' } });
  for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'ERR_GATEWAY_EVIDENCE_PROVIDER', status: 503 });
  expect(ran).toBe(0);
  expect(q.running).toBe(0);
  expect(q.waiting).toBe(0);
  expect(q.turnsTimedOut).toBe(1);
  expect(timedOut).toEqual([5]);
  // The place is free: the next request is served (one at a time is let through to try again).
  await expect(q.run('10.0.0.4', undefined, async () => 'served')).resolves.toBe('served');
  expect(() => new EvidenceQueue(1, 1, { turnTimeoutMs: 0 })).toThrow(RangeError);
});

it('#4: through the gateway, evidenceTurnTimeoutMs answers the hung call 503, logs a WARNING and counts it in /metrics', async () => {
  const never: EvidenceProvider = { name: 'never', getEvidence: () => new Promise(() => {}) };
  const { send, logs } = await start({ provider: never, evidenceTurnTimeoutMs: 5 });
  const r = await send('POST', '/v1/attestation', '10.2.0.1', attest(1));
  expect(r.status).toBe(503);
  expect(codeOf(r)).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
  expect(r.headers['retry-after']).toBe('1');
  expect(logs.some((l) => l.startsWith('tee-gateway: WARNING: evidence provider never has not answered a request within 5 ms'))).toBe(true);
  const m = await send('GET', '/metrics', '10.2.0.2');
  expect(m.body).toMatch(/^tee_gateway_evidence_turn_timeouts_total 1$/m);
  // The place was freed: the next request gets a turn (and its own deadline), not 503 BUSY.
  const again = await send('POST', '/v1/attestation', '10.2.0.3', attest(2));
  expect(codeOf(again)).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
});

it('#4: evidenceTurnTimeoutMs outside 1 to 2^31 - 1 is ERR_GATEWAY_CONFIG', async () => {
  for (const bad of [0, -1, 1.5e10, Number.NaN]) {
    await expect(start({ provider: new SimulatedTeeProvider({ tee: 'tdx' }), evidenceTurnTimeoutMs: bad })).rejects.toMatchObject({ code: 'ERR_GATEWAY_CONFIG' });
  }
});
