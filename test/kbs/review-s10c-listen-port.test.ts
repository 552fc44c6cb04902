/**
 * Review s10 changes-c #6: `--listen 127.0.0.1:70000` passed the HOST:PORT check of tee-kbs and
 * tee-gateway, so the database, the master key and the first admin token file were made before
 * listen() threw a plain RangeError. The port is range-checked with the rest of the command line.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { runKbsCli } from '../../src/kbs/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-s10c-port-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--listen with a port past 65535', () => {
  it('tee-kbs serve: a usage error before any file is made', async () => {
    let stderr = '';
    const work = join(dir, 'kbs');
    const r = await runKbsCli(['serve', '--db', join(work, 'kbs.sqlite'), '--listen', '127.0.0.1:70000', '--plain-http'], { stdout: () => {}, stderr: (t) => void (stderr += t), env: {} });
    expect(r.code).toBe(2);
    expect(stderr).toContain('port from 0 to 65535');
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  });

  it('tee-gateway serve: a usage error before any file is made', async () => {
    let stderr = '';
    const work = join(dir, 'gateway');
    const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(work, 'g.sqlite'), '--simulated-tee', '--listen', '127.0.0.1:70000'], { stdout: () => {}, stderr: (t: string) => void (stderr += t), env: {} });
    expect(r.code).toBe(2);
    expect(stderr).toContain('port from 0 to 65535');
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  });
});
