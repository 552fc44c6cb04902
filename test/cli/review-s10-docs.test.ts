/**
 * Review s10, docs walk (items 6, 8, 9, 12): the README and docs/cli.md say
 * what the command line does. docs/cli.md named only NO_COLOR and
 * XDG_CACHE_HOME as the environment `run` reads (chat also reads
 * TEE_GATEWAY_TOKEN); the README and cli.md exit tables left out batch's 4;
 * `collateral --help` gave prune's 70 only for a version it could not remove,
 * not for a rollback floor file it could not write; the README's `npm test`
 * row named only the vectors among the suites that skip.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { BatchExit } from '../../src/cli/batch.js';
import { cli } from './helpers.js';

const read = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** Names read as `env['X']` / `env?.['X']` in these source files. */
function envNamesIn(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const f of files) for (const m of read(f).matchAll(/env\??\.?\[\s*'([A-Z][A-Z0-9_]*)'\s*\]/g)) names.add(m[1]!);
  return names;
}

describe('docs/cli.md and the README (review s10 docs walk)', () => {
  it('docs/cli.md\'s opening names every variable the CLI reads from io.env', () => {
    const cliFiles = readdirSync(fileURLToPath(new URL('../../src/cli/', import.meta.url))).filter((n) => n.endsWith('.ts')).map((n) => `src/cli/${n}`);
    // The CLI's cache directory comes from defaultCacheDirectory(io.env).
    const names = envNamesIn([...cliFiles, 'src/collateral/cache.ts']);
    expect([...names]).toEqual(expect.arrayContaining(['NO_COLOR', 'XDG_CACHE_HOME', 'TEE_GATEWAY_TOKEN']));
    const opening = read('docs/cli.md').split('\n| Command |')[0]!;
    expect([...names].filter((n) => !opening.includes(`\`${n}\``))).toEqual([]);
    expect(opening).toMatch(/`HOME`/);
  });

  it('every exit status of batch is in docs/cli.md\'s table and the README\'s summary', () => {
    const table = read('docs/cli.md').split('## Exit codes')[1]!.split('\n## ')[0]!;
    const readme = read('README.md');
    const summary = readme.slice(readme.indexOf('Exit codes:'), readme.indexOf('[docs/cli.md](docs/cli.md)', readme.indexOf('Exit codes:')));
    const values = new Set(Object.values(BatchExit));
    expect(values.has(4)).toBe(true);
    for (const v of values) {
      expect(table, `cli.md row ${v}`).toMatch(new RegExp(`^\\| ${v} \\|`, 'm'));
      expect(summary, `README ${v}`).toMatch(new RegExp(`\\b${v} [a-z(]`));
    }
    expect(table).toMatch(/^\| 4 \| `batch` only/m);
  });

  it('collateral --help gives prune\'s exit 70 for a floor file it could not write too', async () => {
    const r = await cli(['collateral', '--help']);
    expect(r.code).toBe(0);
    const exits = r.stdout.slice(r.stdout.indexOf('Exit codes:')).replace(/\s+/g, ' ');
    expect(exits).toMatch(/70 prune could not remove an expired version, or could not write the rollback floor file/);
    expect(read('docs/cli.md')).toMatch(/70 an expired version the disk refused to remove, or a floor file that could not be written/);
  });

  it('the README names the suites that skip and what cannot run here', () => {
    const readme = read('README.md');
    const testRow = readme.split('\n').find((l) => l.startsWith('| `npm test` |'))!;
    for (const what of ['TEE_VECTORS_DIR', 'PostgreSQL', '/usr/bin/python3', 'swtpm', '.ci/run']) expect(testRow).toContain(what);
    const development = readme.slice(readme.indexOf('## Development'), readme.indexOf('\n## ', readme.indexOf('## Development') + 3));
    expect(development).toMatch(/deploy\/`[^.]*checked\s+only statically/);
    expect(development).toMatch(/configfs-tsm[^.]*emulates the kernel/);
  });
});
