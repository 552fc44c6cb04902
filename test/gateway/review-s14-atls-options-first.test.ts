/**
 * Review s14 (lead change review F3): attestAtls checks the caller's policy
 * and vTPM options before it connects. A bad option (requiredBank 'sha1'
 * without allowSha1) was refused only after the client had connected and
 * POSTed /aTLS, making the gateway's TEE produce evidence for nothing.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';

import { InvalidArgumentError } from '../../src/errors.js';
import { attestAtls } from '../../src/gateway/index.js';
import { generateTls } from '../../src/gateway/tls.js';
import { clientOptions, tdxPolicy } from './helpers.js';

it('a bad vTPM option is refused before the gateway is contacted', async () => {
  const tls = await generateTls(['127.0.0.1']);
  let connections = 0;
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const port = (server.address() as AddressInfo).port;
    const err = await attestAtls(`https://127.0.0.1:${port}`, { ...clientOptions(tdxPolicy('00'.repeat(48))), requiredBank: 'sha1', timeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(connections).toBe(0);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
