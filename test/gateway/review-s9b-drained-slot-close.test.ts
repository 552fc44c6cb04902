/**
 * Review s9 changes e #1: after a body is cancelled, undici's Pool drops the slot whose reconnect the
 * client refused (no request waits for it) and then hands that slot its queued request: close() must
 * still close that slot's connection (it kept a TLS socket open until the server's keep-alive ended).
 */
import { expect, it } from 'vitest';

import { AttestedClient } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub } from './review-s9-stub.js';

it('review s9 changes-e #1: close() leaves no socket of the slot the Pool dropped', async () => {
  const stub = await startStub(async (req, res) => {
    if (req.url !== '/stream') return false;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write('{"done":true}\n');
    return true;
  });
  const client = new AttestedClient(stub.url, { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), connections: 1 });
  try {
    const a = await client.fetch('/stream');
    const reader = a.body!.getReader();
    await reader.read();
    void reader.cancel().catch(() => {});
    expect(await (await client.fetch('/b')).text()).toBe('ok');
    await client.close();
    for (let i = 0; i < 20; i++) await new Promise((ok) => setImmediate(ok));
    const tls = process.getActiveResourcesInfo().filter((r) => r === 'TLSWrap' || r === 'TCPSocketWrap').length;
    expect(tls).toBe(0);
  } finally {
    await stub.close();
  }
});
