/**
 * s16 red team, finding 3: a single-valued option given twice kept the last value silently, so a
 * wrapper that pins `--policy prod.json --report-data …` and appends the caller's arguments could have
 * its pins replaced (`--policy strict.json --policy lax.json` exited 0). Now a repeated single-valued
 * option is a usage error (exit 2, "--policy given twice") in every tee-verify command; list options
 * (serve --policy / --cors-origin …, batch --collateral) stay repeatable, and so do boolean flags.
 * Fails on the code before (the repeated options were accepted).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { parseBatchArgs } from '../../src/cli/batch.js';
import { parseServeArgs } from '../../src/cli/serve.js';
import { parseVerifyArgs } from '../../src/cli/verify-args.js';
import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const HEX64 = 'ab'.repeat(64);

describe('s16 finding 3: a single-valued option given twice is a usage error', () => {
  it.each([
    ['policy', ['--policy', 'strict.json', '--policy', 'lax.json']],
    ['policy', ['--policy=strict.json', '--policy', 'lax.json']],
    ['report-data', ['--report-data', HEX64, '--report-data', 'cd'.repeat(64)]],
    ['nonce', ['--nonce', '0011', '--nonce', '2233']],
    ['ak', ['--ak', 'a.pub', '--ak', 'b.pub']],
    ['ak-name', ['--ak-name', '00', '--ak-name', '11']],
    ['trust-root', ['--trust-root', 'a.pem', '--trust-root', 'b.pem']],
    ['at', ['--at', '2025-01-01', '--at', '2026-01-01']],
    ['collateral', ['--collateral', 'a.json', '--collateral', 'b.json']],
    ['cache-dir', ['--cache-dir', 'a', '--cache-dir', 'b']],
    ['pcs-url', ['--pcs-url', 'https://a.example', '--pcs-url', 'https://b.example']],
    ['encoding', ['--encoding', 'hex', '--encoding', 'binary']],
  ])('verify --%s twice: exit 2 naming the option', async (name, args) => {
    const r = await cli(['verify', 'evidence.bin', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--${name} given twice`);
  });

  it('verify --json with a repeated option: the usage-error JSON object', async () => {
    const r = await cli(['verify', 'evidence.bin', '--policy', 'a.json', '--json', '--policy', 'b.json']);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(json.ok).toBe(false);
    expect(json.error.code).toBe('ERR_USAGE');
    expect(json.error.message).toContain('--policy given twice');
  });

  it.each([
    [['show', 'e.bin', '--product', 'Milan', '--product', 'Genoa'], 'product'],
    [['collateral', 'fetch', 'e.bin', '--pcs-url', 'https://a.example', '--pcs-url', 'https://b.example'], 'pcs-url'],
    [['collateral', 'import', 'b.json', '--out', 'a', '--out', 'b'], 'out'],
    [['collateral', 'prune', '--cache-dir', 'a', '--cache-dir', 'b'], 'cache-dir'],
    [['dev', 'quote', '--tee', 'tdx', '--out', 'a', '--out', 'b'], 'out'],
    [['dev', 'quote', '--tee', 'tdx', '--tee', 'snp', '--out', 'a'], 'tee'],
    [['dev', 'vtpm-evidence', '--out', 'a', '--out', 'b'], 'out'],
    [['demo', '--vectors', 'a', '--vectors', 'b'], 'vectors'],
    [['chat', '--gateway', 'https://127.0.0.1:1', '--policy', 'a.json', '--policy', 'b.json'], 'policy'],
    [['serve', '--trust-root', 'a.pem', '--trust-root', 'b.pem'], 'trust-root'],
    [['serve', '--listen', '127.0.0.1:1', '--listen', '127.0.0.1:2'], 'listen'],
    [['batch', 'in.jsonl', '--out', 'r.jsonl', '--policy', 'a.json', '--policy', 'b.json'], 'policy'],
    [['batch', 'in.jsonl', '--out', 'r.jsonl', '--at', 'now', '--at', 'collected'], 'at'],
    [['batch', 'in.jsonl', '--out', 'a.jsonl', '--out', 'b.jsonl'], 'out'],
    [['batch', 'in.jsonl', '--out', 'r.jsonl', '--trust-root', 'a.pem', '--trust-root', 'b.pem'], 'trust-root'],
  ])('%j: exit 2, "--%s given twice"', async (argv, name) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--${name} given twice`);
  });

  it('list options stay repeatable: batch --collateral, serve --policy / --cors-origin; flags too', () => {
    const dir = temps.make();
    const config = parseBatchArgs([dir, '--out', join(dir, 'r.jsonl'), '--collateral', 'a.json', '--collateral', 'b.json'])!;
    expect(config.collateral).toHaveLength(2);
    const serve = parseServeArgs(['--policy', 'a=a.json', '--policy', 'b=b.json', '--cors-origin', 'https://a.example', '--cors-origin', 'https://b.example'])!;
    expect(serve.policies).toHaveLength(2);
    expect(serve.corsOrigins).toHaveLength(2);
    expect(parseVerifyArgs(['e.bin', '--offline', '--offline', '--json', '--json'])).toMatchObject({ collateral: { offline: true }, json: true });
  });

  it('end to end: --policy strict.json --policy lax.json no longer verifies with the lax one (exit 2, not 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-s16-twice-'));
    try {
      const AT = '2026-06-01T00:00:00Z';
      expect((await cli(['dev', 'quote', '--tee', 'tdx', '--at', AT, '--out', dir])).code).toBe(0);
      const strict = join(dir, 'strict.json');
      const lax = join(dir, 'lax.json');
      writeFileSync(strict, JSON.stringify({ tee: 'tdx', mrTd: ['00'.repeat(48)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
      writeFileSync(lax, JSON.stringify({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
      const base = ['verify', join(dir, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--at', AT];
      expect((await cli([...base, '--policy', strict])).code).toBe(1);
      expect((await cli([...base, '--policy', lax])).code).toBe(0);
      const both = await cli([...base, '--policy', strict, '--policy', lax]);
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('--policy given twice');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
