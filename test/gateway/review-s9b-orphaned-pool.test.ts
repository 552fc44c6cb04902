/**
 * Review s9 changes b, R1: undici's Agent drops an origin's pool from its map (and close()s it) once
 * the pool's count of open connections falls to 0, even while another slot of that pool is still
 * connecting. A request that slot then carries lived in a pool the revocation's agent.destroy() could
 * not reach: a verdict revoking the key did not cut it off, and its answer arrived as if trusted.
 * Now the client knows every slot its factory made, and a revocation destroys each one presenting the
 * revoked key or belonging to the retired pool.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

import { Agent, type Dispatcher } from 'undici';
import { expect, it, vi } from 'vitest';

import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub } from './review-s9-stub.js';

const nextImmediate = (): Promise<void> => new Promise((ok) => setImmediate(ok));

/** Until `cond` holds (bounded by the test's timeout, never by a timed assertion). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await nextImmediate();
}

it('a request in flight on the revoked key is cut off, also in a pool the Agent already dropped (its first connection closed)', async () => {
  // Three runs: the pool is dropped on a connection count, which depends on the order of events.
  for (let run = 0; run < 3; run++) {
    let release!: () => void;
    const held = new Promise<void>((ok) => (release = ok));
    const stub = await startStub(async (req, res) => {
      // The server closes the connection that answered /hello: the pool's open count falls to 0.
      if (req.url === '/hello') return void res.writeHead(200, { 'content-length': 2, connection: 'close' }).end('ok'), true;
      if (req.url !== '/slow') return false;
      await held;
      res.writeHead(200, { 'content-length': 12 }).end('SLOW-ANSWER!');
      return true;
    });
    const client = new AttestedClient(stub.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 2 });
    try {
      const revokedKey = stub.key;
      expect(await (await client.fetch('/hello')).text()).toBe('ok');
      // A second slot connects for /slow meanwhile (the first one is closing).
      const slow = client.fetch('/slow').then((r) => r.text()).catch((e: unknown) => e);
      await until(() => stub.seen.some((r) => r.url === '/slow'));
      stub.provider = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
      const verdict = (await client.attest().catch((e: unknown) => e)) as AttestationRefusedError;
      expect(verdict.code).toBe('ERR_ATTEST_POLICY');
      expect(verdict.details.checks).toEqual(['T36']);
      release();
      const got = (await slow) as AttestationRefusedError;
      expect(got, `run ${run}: the answer of the revoked key's TEE arrived`).toBeInstanceOf(AttestationRefusedError);
      expect(got.code).toBe('ERR_ATTEST_POLICY');
      expect(got.details.checks).toEqual(['T36']);
      expect(got.details.revokedKey).toBe(revokedKey);
      expect(got.details.cause).toBe(verdict);
    } finally {
      release();
      await client.close().catch(() => {});
      await stub.close();
    }
  }
});

/** A TCP forwarder to `port` that holds the connections `hold` picks until `release()`. */
async function gate(port: number, hold: (n: number) => boolean): Promise<{ url: string; arrived: number; release: () => void; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const waiting: (() => void)[] = [];
  let open = false;
  const g = {
    url: '',
    arrived: 0,
    release: (): void => {
      open = true;
      for (const go of waiting.splice(0)) go();
    },
    close: (): Promise<void> =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
  const server = createServer((inbound) => {
    sockets.push(inbound);
    g.arrived += 1;
    const go = (): void => {
      const outbound = connect(port, '127.0.0.1');
      sockets.push(outbound);
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy()).on('close', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy()).on('close', () => inbound.destroy());
    };
    if (hold(g.arrived) && !open) waiting.push(go);
    else go();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  g.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return g;
}

it('a revocation also fails a request whose slot of the retired pool is still connecting, after the Agent dropped that pool', async () => {
  let answerHello!: () => void;
  const helloHeld = new Promise<void>((ok) => (answerHello = ok));
  const stub = await startStub(async (req, res) => {
    if (req.url !== '/hello') return false;
    await helloHeld;
    res.writeHead(200, { 'content-length': 2, connection: 'close' }).end('ok');
    return true;
  });
  // Connection 1: the first attestation, then /hello; connection 2: the slot that carries /b, held
  // in its TCP connect until the test lets it on; connection 3: the attestation that revokes.
  const g = await gate(stub.port, (n) => n === 2);
  // The Agent announces a pool's lost connection after it updated its count (and dropped the pool at 0).
  const disconnects: string[] = [];
  const dispatch = Agent.prototype.dispatch;
  const watched = new Set<Agent>();
  vi.spyOn(Agent.prototype, 'dispatch').mockImplementation(function (this: Agent, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    if (!watched.has(this)) watched.add(this.on('disconnect', (origin) => disconnects.push(String(origin))));
    return dispatch.call(this, opts, handler);
  });
  const good = stub.provider;
  const client = new AttestedClient(g.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 2 });
  try {
    const revokedKey = stub.key;
    const hello = client.fetch('/hello').then((r) => r.text());
    await until(() => stub.seen.some((r) => r.url === '/hello'));
    const b = client.fetch('/b').then((r) => r.text(), (e: unknown) => e); // slot 2 connects, held at the gate
    await until(() => g.arrived === 2);
    answerHello();
    expect(await hello).toBe('ok');
    await until(() => disconnects.length > 0); // connection 1 is gone: the pool left the Agent's map
    stub.provider = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
    expect(((await client.attest().catch((e: unknown) => e)) as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
    // The TEE passes again: without the fix, slot 2 attested its connection anew and sent /b.
    stub.provider = good;
    g.release();
    const got = (await b) as AttestationRefusedError;
    expect(got).toBeInstanceOf(AttestationRefusedError);
    expect(got.code).toBe('ERR_ATTEST_POLICY');
    expect(got.details.revokedKey).toBe(revokedKey);
    expect(stub.seen.map((r) => r.url)).toEqual(['/hello']);
  } finally {
    vi.restoreAllMocks();
    answerHello();
    g.release();
    await client.close().catch(() => {});
    await g.close();
    await stub.close();
  }
});
