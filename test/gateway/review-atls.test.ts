/**
 * Adversarial review of attestAtls (src/gateway/atls.ts): a server that
 * accepts TCP but never completes the TLS handshake must not hang the client;
 * timeoutMs bounds the handshake too, as it does for AttestedClient.
 */
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

import { describe, expect, it } from 'vitest';

import { AttestationRefusedError, attestAtls } from '../../src/gateway/index.js';
import { clientOptions, tdxPolicy } from './helpers.js';

describe('review: attestAtls bounds the TLS handshake', () => {
  it('a silent server is refused with ERR_ATTEST_EXCHANGE instead of hanging', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {}); // never answers the ClientHello
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const err = (await attestAtls(url, { ...clientOptions(tdxPolicy('00'.repeat(48))), timeoutMs: 200 }).catch((x: unknown) => x)) as AttestationRefusedError;
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect(err.code).toBe('ERR_ATTEST_EXCHANGE');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 20_000);
});
