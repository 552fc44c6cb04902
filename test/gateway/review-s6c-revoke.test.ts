/**
 * Review session 6c, finding 3: two gaps in revocation (a refusal that judges the TEE behind the
 * trusted key ends that key's trust, docs/gateway.md).
 *   - Bytes after the answer ("tainted" framing) replaced a policy verdict with a framing error, so
 *     the key stayed trusted. Now the framing error is still what the caller sees (with the verdict
 *     as its cause), but the verdict revokes.
 *   - Refused evidence revoked before the binding was known. Now a refusal revokes only when the
 *     evidence carries this connection's binding: evidence for other REPORTDATA that fails
 *     verification leaves the key trusted, like any binding failure.
 * A stand-in gateway on 127.0.0.1 with real TLS; its TEE is switched per attestation and the test
 * counts attestation requests to see whether the client trusted the key or attested again.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { BundleSource, CollateralService, type EvidenceCollateral } from '../../src/index.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, tdxPolicy } from './helpers.js';
import { startStub, type Stub } from './review-s6-stub.js';

/** What the TEE behind the stub's key does now. */
let mode: 'genuine' | 'other-image' | 'unbound' | 'other-platform-unbound' = 'genuine';
/** Whether the next attestation answer is followed by bytes its Content-Length does not cover. */
let taint = false;
const otherImage = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
const otherPlatform = new SimulatedTeeProvider({ tee: 'tdx', seed: 'another platform' });
const switching: EvidenceProvider = {
  name: 'simulated',
  getEvidence: async (rd) => {
    if (mode === 'unbound') return simulated.getEvidence(new Uint8Array(64));
    if (mode === 'other-platform-unbound') return otherPlatform.getEvidence(new Uint8Array(64));
    return (mode === 'other-image' ? otherImage : simulated).getEvidence(rd);
  },
};

/** The client's TLS sockets (tls.connect wrapped), to wait for the moment one of them reads the stray bytes. */
const clientSockets = vi.hoisted(() => [] as TLSSocket[]);
vi.mock('node:tls', async (importOriginal) => {
  const tls = await importOriginal<typeof import('node:tls')>();
  const connect = (...args: Parameters<typeof tls.connect>): TLSSocket => {
    const socket = tls.connect(...args);
    clientSockets.push(socket);
    return socket;
  };
  return { ...tls, connect, default: { ...tls, connect } };
});

/** The server side of the connection that carried the latest attestation answer. */
let answeredOn: Socket | undefined;

/** The client end of the server socket `server` (same TCP connection: the ports cross). */
function clientEndOf(server: Socket): TLSSocket {
  const end = clientSockets.find((c) => c.localPort === server.remotePort && c.remotePort === server.localPort);
  if (!end) throw new Error('no client socket for the answering connection');
  return end;
}

/**
 * Bytes after a complete answer reach the client while it verifies (in one read with the answer
 * they fail at once, before any verdict): the client's collateral fetch, which comes after the answer
 * was read, sends them first and waits until the client's socket has read them (its 'data' event,
 * after the client's own listener), so the verdict comes after the taint, whatever the scheduling.
 */
class TaintingCollateral extends CollateralService {
  override cachedFor(): EvidenceCollateral | undefined {
    return undefined;
  }
  override async forEvidence(...args: Parameters<CollateralService['forEvidence']>): Promise<EvidenceCollateral> {
    if (taint && answeredOn) {
      const client = clientEndOf(answeredOn);
      const read = new Promise<void>((resolve) => client.once('data', () => resolve()));
      answeredOn.write('HTTP/1.1 200 OK\r\n\r\n');
      await read;
    }
    return super.forEvidence(...args);
  }
}

let policy: ReturnType<typeof tdxPolicy>;
let stub: Stub;
beforeAll(async () => {
  policy = tdxPolicy(await mrTdOf(simulated));
});
afterEach(async () => {
  mode = 'genuine';
  taint = false;
  await stub?.close();
});

const attestations = (): number => stub.requests.filter((r) => r.path === '/v1/attestation').length;
const chat = async (client: AttestedClient): Promise<number> => {
  const r = await client.fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat('hi', false) });
  await r.text();
  return r.status;
};

/** A client that trusts the stub's key (one genuine attestation), and the refusal of a second attestation in `m`. */
async function refusedAfterTrust(m: typeof mode, withTaint: boolean): Promise<{ client: AttestedClient; refusal: AttestationRefusedError }> {
  stub = await startStub(async (t) => {
    answeredOn = t.req.socket;
    await t.answer();
  }, switching);
  const client = new AttestedClient(stub.url, { ...clientOptions(policy), collateral: new TaintingCollateral({ intel: new BundleSource([...(simulated.collateral as never[])]), cache: null }) });
  expect(await chat(client)).toBe(200);
  mode = m;
  taint = withTaint;
  const refusal = await client.attest().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(refusal).toBeInstanceOf(AttestationRefusedError);
  mode = 'genuine';
  taint = false;
  return { client, refusal: refusal as AttestationRefusedError };
}

describe('a verdict on the bound TEE revokes even when the answer is badly framed', () => {
  it('policy refused (T36) with bytes after the answer: the caller sees the framing error, the key is revoked (the next request attests again)', async () => {
    const { client, refusal } = await refusedAfterTrust('other-image', true);
    try {
      expect(refusal.code).toBe('ERR_ATTEST_EXCHANGE');
      expect(refusal.message).toMatch(/after the end of the attestation answer/);
      expect((refusal.cause as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
      const before = attestations();
      expect(await chat(client)).toBe(200);
      expect(attestations()).toBe(before + 1);
    } finally {
      await client.close();
    }
  });

  it('evidence for other REPORTDATA with bytes after the answer (a binding failure): the key stays trusted', async () => {
    const { client, refusal } = await refusedAfterTrust('unbound', true);
    try {
      expect(refusal.code).toBe('ERR_ATTEST_EXCHANGE');
      expect((refusal.cause as AttestationRefusedError).code).toBe('ERR_ATTEST_BINDING');
      const before = attestations();
      expect(await chat(client)).toBe(200);
      expect(attestations()).toBe(before);
    } finally {
      await client.close();
    }
  });
});

describe('refused evidence revokes only when it carries this connection\'s binding', () => {
  it('a platform outside the trust roots, evidence for other REPORTDATA: ERR_ATTEST_EVIDENCE, the key stays trusted', async () => {
    const { client, refusal } = await refusedAfterTrust('other-platform-unbound', false);
    try {
      expect(refusal.code).toBe('ERR_ATTEST_EVIDENCE');
      const before = attestations();
      expect(await chat(client)).toBe(200);
      expect(attestations()).toBe(before);
    } finally {
      await client.close();
    }
  });
  // The bound case (the same platform, evidence for this nonce and key: revoked) is in review-s6-revoke.test.ts.
});
