/**
 * Review s7 items 2 and 4: what `demo --help`, the top-level help, docs/cli.md
 * and the README say matches what the commands do. The demo fully verifies
 * simulated TDX and SEV-SNP evidence (pinned test roots, CRLs, TCB info, QE
 * identity); `dev vtpm-evidence` is a command; the README's exit codes and
 * JSON keys are those of `verify`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { ExitCode } from '../../src/cli/io.js';
import { VERIFY_JSON_KEYS } from '../../src/cli/verify-report.js';
import { cli } from './helpers.js';

const read = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** The text of a markdown section, from its heading to the next heading of the same level. */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(heading);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + heading.length);
  return doc.slice(start, next < 0 ? undefined : next);
}

describe('tee-verify demo: help and docs say what it checks (review s7 item 2)', () => {
  it('demo --help describes the full verification part and no longer says CRLs, TCB info and QE identity are not checked', async () => {
    const r = await cli(['demo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/NOT checked/i);
    expect(r.stdout).toMatch(/Full verification of a simulated TDX quote and a simulated SEV-SNP report/);
    for (const what of ['CRLs', 'TCB info', 'QE identity', 'TCB status', 'default', 'never in production']) expect(r.stdout).toContain(what);
  });

  it('what the help promises is what the demo prints (CRL, TCB info and QE identity checks pass)', async () => {
    const r = await cli(['demo']);
    expect(r.code).toBe(0);
    // T13 Root CA CRL, T14 PCK CRL, T16-T19 TCB info, T20 QE identity, S09 AMD CRL.
    for (const id of ['T13', 'T14', 'T17', 'T20', 'S07', 'S09']) expect(r.stdout).toMatch(new RegExp(`PASS {2}${id} `));
  });

  it('docs/cli.md says the same', () => {
    const demo = section(read('docs/cli.md'), '## `tee-verify demo');
    expect(demo).not.toMatch(/what it did \*\*not\*\* do|no CRLs, TCB Info/);
    expect(demo).toMatch(/Full verification of simulated evidence/);
    for (const what of ['CRLs', 'TCB info', 'QE identity', 'default policy']) expect(demo).toContain(what);
  });
});

describe('command lists, exit codes and JSON keys (review s7 item 4)', () => {
  it('the top-level help and the docs/cli.md command table list dev vtpm-evidence beside dev quote', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tee-verify dev quote /);
    expect(r.stdout).toMatch(/tee-verify dev vtpm-evidence --out <file>/);
    const table = read('docs/cli.md').split('## Exit codes')[0]!;
    expect(table).toMatch(/^\| \[`dev quote`\]/m);
    expect(table).toMatch(/^\| `dev vtpm-evidence` \|/m);
  });

  it('the README names every exit code and every key of verify --json', () => {
    const readme = read('README.md');
    const summary = readme.slice(readme.indexOf('Exit codes:'), readme.indexOf('[docs/cli.md](docs/cli.md)', readme.indexOf('Exit codes:')));
    for (const code of Object.values(ExitCode)) expect(summary).toMatch(new RegExp(`\\b${code} [a-z]`));
    for (const key of VERIFY_JSON_KEYS) expect(summary).toContain(`\`${key}\``);
  });
});
