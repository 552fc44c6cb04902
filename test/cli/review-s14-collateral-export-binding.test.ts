/**
 * Review s14 collateral finding 2: `collateral export` / `collateral fetch` re-filed the evidence's
 * (or --certs) VCEK under the key of the report's CHIP_ID and REPORTED_TCB, and its chain under the
 * product's key, without the binding check every reader of a bundle makes (importBundle:
 * validateArtifactForKey). A VCEK of another chip or TCB (a stale certificate table after a TCB update,
 * a wrong --certs file) gave exit 0, "wrote 3 artifacts", and a file that `collateral show`,
 * `verify --collateral`, serve and tee-kbs all refused whole (ERR_COLLATERAL_MISMATCH, exit 2).
 * Such a certificate is now left out with a note on stderr, as a VLEK is; the written file reads back.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { importBundle } from '../../src/index.js';
import { TempDirs, cli, cliJson } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const AT = '2026-06-01T00:00:00Z';

async function devQuote(args: string[]): Promise<string> {
  const dir = temps.make();
  const r = await cli(['dev', 'quote', '--tee', 'snp', ...args, '--at', AT, '--out', dir]);
  expect(r.code).toBe(0);
  return dir;
}

/** The body of the bundle's `kind` artifact, written as a DER file. */
function extract(dir: string, kind: string, name: string): string {
  const doc = JSON.parse(readFileSync(join(dir, 'collateral.json'), 'utf8')) as { artifacts: { kind: string; body: string }[] };
  const path = join(temps.make(), name);
  writeFileSync(path, Buffer.from(doc.artifacts.find((x) => x.kind === kind)!.body, 'base64'));
  return path;
}

const kinds = (file: string) => importBundle(readFileSync(file)).map((a) => a.kind).sort();

let a: string;
let aVcek: string;
let bVcek: string;
beforeAll(async () => {
  a = await devQuote(['--seed', 'review s14 export A']);
  const b = await devQuote(['--seed', 'review s14 export B']);
  aVcek = extract(a, 'amd-vcek', 'a-vcek.der');
  bVcek = extract(b, 'amd-vcek', 'b-vcek.der');
});

function run(sub: 'export' | 'fetch', certs: string) {
  const out = join(temps.make(), 'out.json');
  const args = ['collateral', sub, join(a, 'evidence.bin'), '--collateral', join(a, 'collateral.json'), '--certs', certs, '--no-cache', '--at', AT, '--out', out];
  return { out, result: cli(sub === 'fetch' ? [...args, '--offline'] : args) };
}

describe('collateral export / fetch: a re-filed VCEK must be the report\'s chip and TCB (review s14 collateral #2)', () => {
  for (const sub of ['export', 'fetch'] as const) {
    it(`${sub} control: the report's own VCEK with --certs is written under its chip key, and the file reads back`, async () => {
      const { out, result } = run(sub, aVcek);
      const r = await result;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^wrote 3 artifacts/);
      expect(kinds(out)).toEqual(['amd-cert-chain', 'amd-crl', 'amd-vcek']);
      const show = await cli(['collateral', 'show', out]);
      expect(show.code).toBe(0);
    });

    it(`${sub}: another chip's VCEK is left out with a note on stderr; the file reads back and verifies with the right VCEK`, async () => {
      const { out, result } = run(sub, bVcek);
      const r = await result;
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^wrote 2 artifacts/);
      expect(r.stdout).not.toContain('amd-vcek');
      expect(r.stderr).toMatch(/^warning: the evidence's \(or --certs\) VCEK is not the VCEK of this report's chip and TCB \(S13 \/ S14\): not written to the bundle \(ERR_COLLATERAL_MISMATCH \(check S14\): .*another chip \(hwID\)\)$/m);
      // The file reads back: import, show and verify --collateral take it.
      expect(kinds(out)).toEqual(['amd-cert-chain', 'amd-crl']);
      const show = await cli(['collateral', 'show', out]);
      expect(show.stderr).toBe('');
      expect(show.code).toBe(0);
      const v = await cliJson(['verify', join(a, 'evidence.bin'), '--offline', '--no-cache', '--collateral', out, '--certs', aVcek, '--trust-root', join(a, 'trust-root.pem'), '--at', AT]);
      expect(v.json['error']).toBeNull();
      expect(v.code).toBe(0);
      expect(v.json['ok']).toBe(true);
    });
  }
});
