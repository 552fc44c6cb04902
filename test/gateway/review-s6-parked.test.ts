/**
 * Review session 6, finding 4: bytes that arrived while an attested socket was parked were lost
 * without notice (release() removed the 'data' listener and left the socket flowing), so a spare
 * whose stream carried unsolicited bytes was still handed to undici. Now release() pauses the
 * socket, and a parked socket with anything readable is dropped. Real TLS on 127.0.0.1.
 */
import { connect as tlsConnect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';

import { describe, expect, it } from 'vitest';

import { AttestedClient } from '../../src/gateway/index.js';
import { exchangeOnSocket } from '../../src/gateway/inband.js';
import { generateTls } from '../../src/gateway/tls.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub } from './review-s6-stub.js';

const limits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1 << 20, timeoutMs: 10_000 };

describe('exchangeOnSocket: release() pauses the socket', () => {
  it('bytes the server sends after the answer stay readable for whoever takes the socket', async () => {
    const tls = await generateTls(['127.0.0.1']);
    let serverSide!: TLSSocket;
    const server = createServer({ cert: tls.cert, key: tls.key }, (s) => {
      serverSide = s;
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\n{}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const socket = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false });
    try {
      await new Promise<void>((r) => socket.once('secureConnect', () => r()));
      const res = await exchangeOnSocket(socket, '127.0.0.1', '/v1/attestation', '{}', limits);
      expect(res.release()).toBe('reusable');
      expect(socket.readableFlowing).toBe(false); // flowing with no listener would drop what comes next
      serverSide.write('LATE');
      const late = await new Promise<string>((resolve) => {
        const read = (): void => {
          const chunk = socket.read() as Buffer | null;
          if (chunk) {
            socket.off('readable', read);
            resolve(chunk.toString('latin1'));
          }
        };
        socket.on('readable', read);
      });
      expect(late).toBe('LATE');
    } finally {
      socket.destroy();
      server.close();
    }
  });
});

describe('a parked attested socket that receives bytes is dropped, not used', () => {
  it('the server writes bytes after its answer: the spare is closed and the next request goes over a new connection', async () => {
    const stub = await startStub();
    const client = new AttestedClient(stub.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    try {
      await client.attest(); // parks the attested connection (the stub's answer allows keep-alive)
      expect(stub.sockets).toHaveLength(1);
      const parked = stub.sockets[0]!;
      const closed = new Promise<void>((r) => (parked.destroyed ? r() : parked.once('close', () => r())));
      parked.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged');
      await closed; // the client dropped the spare (before the fix it kept it, and this never resolved)
      const r = await client.fetch('/after', { method: 'POST', body: 'x' });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('ok');
      const request = stub.requests.find((q) => q.path === '/after');
      expect(request?.connection).toBe(2);
      // the new connection presented the attested key: no second attestation
      expect(stub.requests.filter((q) => q.path === '/v1/attestation')).toHaveLength(1);
    } finally {
      await client.close();
      await stub.close();
    }
  }, 15_000);
});
