/**
 * Review s8, finding D6: relaxations are said at start. `--no-api-key` (requireApiKey: false) started
 * without a word, and nothing warned when the upstream is plain http to another host (prompts leave
 * the TEE unencrypted). Both are WARNING lines in the start log now; the strict configurations log none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { startGateway, type GatewayOptions } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s8-start-log-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The WARNING lines a start logs (no request is made: the upstream need not exist). */
async function startWarnings(o: Partial<GatewayOptions>): Promise<string[]> {
  const lines: string[] = [];
  const g = await startGateway({ upstream: 'http://127.0.0.1:9', db: join(dir, 'g.sqlite'), provider: simulated, port: 0, log: (l) => lines.push(l), ...o });
  await g.close();
  return lines.filter((l) => l.includes('WARNING'));
}

describe('start-log warnings (D6)', () => {
  it('requireApiKey: false warns that anyone can use the upstream', async () => {
    const w = await startWarnings({ requireApiKey: false });
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^tee-gateway: WARNING: API keys are off \(--no-api-key\)/);
  });

  it.each(['http://10.0.0.7:11434', 'http://ollama.internal:11434', 'http://[2001:db8::1]:8000'])('a plain-http upstream on another host (%s) warns', async (upstream) => {
    const w = await startWarnings({ upstream });
    expect(w).toHaveLength(1);
    expect(w[0]).toContain(`the upstream ${new URL(upstream).origin} is plain http to another host`);
  });

  it.each(['http://127.0.0.1:9', 'http://127.8.9.10:9', 'http://localhost:9', 'http://[::1]:9', 'http://[::ffff:127.0.0.1]:9', 'https://10.0.0.7:11434'])('no warning for %s with API keys on', async (upstream) => {
    expect(await startWarnings({ upstream })).toEqual([]);
  });

  it('tee-gateway serve --no-api-key says so on stderr', async () => {
    const o = { stdout: '', stderr: '' };
    const io = { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv };
    const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'cli.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', '--no-api-key'], io);
    try {
      expect(r.code).toBe(0);
      expect(o.stderr).toContain('tee-gateway: WARNING: API keys are off (--no-api-key)');
      expect(o.stderr).not.toContain('plain http to another host');
    } finally {
      await r.gateway?.close();
    }
  });
});
