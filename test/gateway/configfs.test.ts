/**
 * The gateway with ConfigfsTsmProvider against the emulated configfs-tsm
 * tree (test/tee/fake-configfs.ts), whose reports come from the simulated
 * TDX platform: the attested client verifies it and chats.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient } from '../../src/gateway/index.js';
import { ConfigfsTsmProvider } from '../../src/tee/index.js';
import { FakeConfigfsTsm } from '../tee/fake-configfs.js';
import { clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';
import { replyWords } from './upstream.js';

let h: Harness;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-tsm-'));
  const root = join(dir, 'report');
  mkdirSync(root);
  const fake = new FakeConfigfsTsm({ root, provider: 'tdx_guest', generate: async (inblob) => ({ outblob: (await simulated.getEvidence(inblob)).evidence }) });
  h = await startHarness({ provider: new ConfigfsTsmProvider({ root, fs: fake.fs }) });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('configfs-tsm provider', () => {
  it('the client verifies evidence from configfs-tsm and streams a chat', async () => {
    const client = new AttestedClient(h.gateway.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    try {
      const r = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat('via configfs', false) });
      expect(((await r.json()) as { message: { content: string } }).message.content).toBe(replyWords('via configfs').join(''));
      expect(client.last!.tee).toBe('tdx');
    } finally {
      await client.close();
    }
  });
});
