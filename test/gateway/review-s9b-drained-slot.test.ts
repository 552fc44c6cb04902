/**
 * Review s9 changes e #1: a slot refused by the connect hook (live === 0) emits connectionError (the
 * Pool and #slots drop it), then drain: the Pool hands its queued request to that dropped slot,
 * which a revocation then missed (the judged TEE's answer arrived). The slot is tracked again when
 * it is given a request.
 */
import { expect, it } from 'vitest';

import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub } from './review-s9-stub.js';

const nextImmediate = (): Promise<void> => new Promise((ok) => setImmediate(ok));
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await nextImmediate();
}

it('review s9 changes-e #1: a request queued in the Pool while the aborted slot is refused is cut off by a revocation', async () => {
  let release!: () => void;
  const held = new Promise<void>((ok) => (release = ok));
  const stub = await startStub(async (req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"done":true}\n'); // and never ends
      return true;
    }
    if (req.url !== '/b') return false;
    await held;
    res.writeHead(200, { 'content-length': 8 }).end('B-ANSWER');
    return true;
  });
  const client = new AttestedClient(stub.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 1 });
  try {
    const a = await client.fetch('/stream');
    const reader = a.body!.getReader();
    await reader.read();
    void reader.cancel().catch(() => {}); // what streamChat does after the end marker
    const b = client.fetch('/b').then((r) => r.text(), (e: unknown) => e);
    await until(() => stub.seen.some((r) => r.url === '/b'));
    stub.provider = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
    expect(((await client.attest().catch((e: unknown) => e)) as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
    release();
    const got = await b;
    expect(got, 'the answer of the revoked TEE arrived').toBeInstanceOf(AttestationRefusedError);
  } finally {
    release();
    await client.close().catch(() => {});
    await stub.close();
  }
});
