/**
 * GET /health needs no credentials; each probe pinged the database, so a
 * flood of probes queued as many round trips ahead of transfers (and logged a
 * line each during an outage). The broker now shares the gateway's probe
 * (src/net/health-probe.ts): one ping at a time, its verdict reused for 1 s.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { SqliteStorage } from '../../src/storage/sqlite.js';
import { startHarness, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
  h = undefined;
});

describe('tee-kbs GET /health under a flood of probes', () => {
  it('100 concurrent probes cost at most 2 database pings and all answer 200', async () => {
    h = await startHarness();
    const ping = vi.spyOn(SqliteStorage.prototype, 'ping');
    const answers = await Promise.all(Array.from({ length: 100 }, () => h!.call('GET', '/health', { token: null })));
    expect(answers.every((a) => a.status === 200 && a.json.status === 'ok')).toBe(true);
    expect(ping.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(ping.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it('a failing database is logged once per outage, not once per probe', async () => {
    const logs: string[] = [];
    h = await startHarness({ log: (l) => logs.push(l) });
    vi.spyOn(SqliteStorage.prototype, 'ping').mockRejectedValue(new Error('disk gone'));
    for (let i = 0; i < 20; i++) expect((await h.call('GET', '/health', { token: null })).status).toBe(503);
    const failed = logs.filter((l) => l.includes('health check failed'));
    expect(failed.length).toBe(1);
    expect(failed[0]).toContain('disk gone'); // the driver's message, for the operator (changes-d #6)
  });

  it('a probe whose ping was running when shutdown began answers 503 shutting-down, not 200', async () => {
    h = await startHarness();
    let release!: () => void;
    vi.spyOn(SqliteStorage.prototype, 'ping').mockImplementation(() => new Promise<void>((ok) => (release = ok)));
    const probe = h.call('GET', '/health', { token: null });
    await vi.waitFor(() => expect(release).toBeTypeOf('function'));
    const closing = h.broker.close();
    release();
    const answer = await probe;
    await closing;
    expect({ status: answer.status, json: answer.json }).toMatchObject({ status: 503, json: { status: 'shutting-down' } });
  });
});
