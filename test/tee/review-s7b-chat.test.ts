/**
 * Review s7b, item 6: `tee-verify chat --simulated-state FILE` trusted a platform whose keys derive
 * from a public seed without a word; the client is the party a forger fools (anyone with the
 * package can sign evidence those roots accept). It now warns on stderr, before it contacts the
 * gateway (here nothing listens on it: only the warning matters).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { SIMULATED_TEE_SEED, SimulatedTeeProvider } from '../../src/tee/index.js';

const WARNING = "keys derive from a public seed";

let dir: string;
let policy: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7b-chat-'));
  policy = join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({ tee: 'tdx', mrTd: ['00'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function chatWith(state: object): Promise<string> {
  const file = join(dir, `state-${Math.random().toString(16).slice(2)}.json`);
  await writeFile(file, JSON.stringify(state));
  let stderr = '';
  const io = { stdout: { write: () => undefined }, stderr: { write: (t: string) => void (stderr += t) }, env: {} };
  await run(['chat', '--gateway', 'https://127.0.0.1:9', '--policy', policy, '--simulated-state', file, '--prompt', 'hello'], io);
  return stderr;
}

describe('review s7b item 6: chat warns about a seed-derived simulated platform', () => {
  it('keySeed keys, and a state file from before random keys: a warning naming the file', async () => {
    const seeded = new SimulatedTeeProvider({ tee: 'tdx', keySeed: SIMULATED_TEE_SEED }).exportState();
    const stderr = await chatWith(seeded);
    expect(stderr).toContain(WARNING);
    expect(stderr).toMatch(/warning: --simulated-state .*state-[0-9a-f]+\.json: /);
    const { keys: _k, attestationKeyPem: _a, ...legacy } = seeded;
    expect(await chatWith(legacy)).toContain(WARNING);
  });

  it('random keys: no such warning', async () => {
    expect(await chatWith(new SimulatedTeeProvider({ tee: 'tdx' }).exportState())).not.toContain(WARNING);
  });
});
