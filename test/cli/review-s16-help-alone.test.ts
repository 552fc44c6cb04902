/**
 * s16 red team, finding 2: --help / -h anywhere on the command line won over a full command line and
 * exited 0, which means "trusted" (an evidence file named "-h" in `for f in *; do tee-verify verify "$f"
 * --json ...`), and --json then printed help, not the promised JSON object. Now help (exit 0) is given
 * only when --help / -h is the sole argument of the (sub)command; next to anything else it is a usage
 * error (exit 2; with --json the usual usage-error JSON object). Fails on the code before (exit 0).
 */
import { describe, expect, it } from 'vitest';

import { cli } from './helpers.js';

describe('s16 finding 2: --help next to other arguments is a usage error', () => {
  it('verify <file named -h> --json ...: exit 2 and one usage-error JSON object, not help', async () => {
    for (const flag of ['-h', '--help']) {
      const r = await cli(['verify', flag, '--json', '--offline', '--no-cache']);
      expect(r.code).toBe(2);
      const json = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
      expect(json.ok).toBe(false);
      expect(json.error.code).toBe('ERR_USAGE');
      expect(json.error.message).toContain('--help (-h) must be the only argument');
      expect(r.stderr).toContain('must be the only argument');
    }
  });

  it.each([
    [['verify', 'evidence.bin', '--help']],
    [['verify', '--help', 'evidence.bin', '--policy', 'p.json']],
    [['show', 'evidence.bin', '-h']],
    [['show', '-h', '--json']],
    [['demo', '--help', '--vectors', 'x']],
    [['collateral', '--help', 'fetch']],
    [['collateral', '-h', 'x']],
    [['collateral', 'fetch', 'e.bin', '--help']],
    [['collateral', 'prune', '-h', '--older-than', '1']],
    [['policy', '--help', 'lint']],
    [['policy', 'lint', 'p.json', '-h']],
    [['dev', '-h', 'quote']],
    [['dev', 'quote', '--tee', 'tdx', '--help']],
    [['dev', 'vtpm-evidence', '--out', 'x', '--help']],
    [['chat', '--gateway', 'https://127.0.0.1:1', '-h']],
    [['serve', '--listen', '127.0.0.1:0', '--help']],
    [['batch', '-h', '--out', 'x']],
    [['batch', 'in.jsonl', '--help']],
    [['--help', 'verify']],
    [['-h', 'x']],
    [['help', 'verify', 'x']],
  ])('%j: exit 2, no help on stdout', async (argv) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('tee-verify ');
    expect(r.stderr).toMatch(/^error: /);
  });

  it.each([
    [['--help']],
    [['-h']],
    [[]],
    [['help', 'verify']],
    [['verify', '-h']],
    [['show', '--help']],
    [['collateral', '--help']],
    [['collateral', 'fetch', '--help']],
    [['policy', '-h']],
    [['policy', 'lint', '--help']],
    [['dev', '--help']],
    [['dev', 'quote', '-h']],
    [['dev', 'vtpm-evidence', '--help']],
    [['chat', '--help']],
    [['serve', '-h']],
    [['batch', '--help']],
  ])('%j alone: help on stdout, exit 0', async (argv) => {
    const r = await cli(argv);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tee-verify');
  });
});
