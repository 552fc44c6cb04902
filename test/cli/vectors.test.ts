/**
 * The committed synthetic vectors agree with their manifest, and the
 * generator is deterministic: two runs give the same manifest and the same
 * certificates up to signature bytes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { parseEvidence, type SnpReport, type TdxQuote } from '../../src/index.js';
import { defaultVectorsDir } from '../../src/cli/demo-vectors.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { hex, tbsOf } from '../testing/helpers.js';

interface Entry {
  id: string;
  kind: string;
  file: string;
  file_encoding: string;
  expected?: { fields: Record<string, unknown> };
}

const dir = defaultVectorsDir();
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { entries: Entry[]; verification_time: string };
const root = resolve(dir, '..');
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('committed vectors', () => {
  it('are marked synthetic, with a fixed verification instant', () => {
    expect(manifest).toMatchObject({ synthetic: true, verification_time: '2026-06-01T00:00:00Z' });
  });

  it.each(manifest.entries.filter((e) => e.kind.startsWith('tdx-quote')).map((e) => [e.file, e] as const))(
    '%s parses to the manifest fields',
    (_file, entry) => {
      const q = parseEvidence(readFileSync(join(dir, entry.file))) as TdxQuote;
      const f = entry.expected!.fields;
      expect([q.version, q.bodyType]).toEqual([f['version'], f['body_type']]);
      expect(hex(q.body.mrTd)).toBe(f['mr_td']);
      expect(hex(q.body.rtmr0)).toBe(f['rtmr0']);
      expect(hex(q.body.reportData)).toBe(f['report_data']);
      expect(hex(q.signatureData.attestationKey)).toBe(f['attestation_key']);
      expect(hex(q.signatureData.qeReport.reportData)).toBe(f['qe_report_data']);
      expect(q.bytes.length).toBe(f['file_size']);
    },
  );

  it.each(manifest.entries.filter((e) => e.kind === 'snp-report').map((e) => [e.file, e] as const))(
    '%s parses to the manifest fields',
    (_file, entry) => {
      const r = parseEvidence(readFileSync(join(dir, entry.file))) as SnpReport;
      const f = entry.expected!.fields;
      expect([r.version, r.product]).toEqual([f['version'], f['product']]);
      expect(hex(r.reportedTcbBytes)).toBe(f['reported_tcb_raw']);
      expect(hex(r.chipId)).toBe(f['chip_id']);
      expect(hex(r.measurement)).toBe(f['measurement']);
    },
  );

  it('hex vector holds the same bytes as the binary one', () => {
    const text = readFileSync(join(dir, 'tdx-v4.hex'), 'utf8').trim();
    expect(text).toBe(readFileSync(join(dir, 'tdx-v4.bin')).toString('hex'));
  });
});

const generator = join(root, 'scripts', 'generate-vectors.js');
const built = existsSync(join(root, 'dist', 'testing', 'index.js'));

describe.skipIf(!built)('scripts/generate-vectors.js (needs dist/: npx tsc -p tsconfig.json)', () => {
  function generate(): string {
    const out = mkdtempSync(join(tmpdir(), 'tee-verify-vectors-'));
    temps.push(out);
    execFileSync(process.execPath, [generator, '--out', out], { stdio: 'pipe' });
    return out;
  }

  it('produces the same manifest and certificates (up to signatures) on every run', () => {
    const [a, b] = [generate(), generate()];
    expect(readFileSync(join(a, 'manifest.json'), 'utf8')).toBe(readFileSync(join(b, 'manifest.json'), 'utf8'));
    for (const pem of ['intel-root.pem', 'intel-tcb-signing.pem', 'amd-milan-cert-chain.pem', 'amd-turin-cert-chain.pem']) {
      const tbs = (d: string) => splitPemCertificates(readFileSync(join(d, pem))).map((der) => hex(tbsOf(der)));
      expect(tbs(a)).toEqual(tbs(b));
    }
    expect(hex(tbsOf(readFileSync(join(a, 'snp-v3-milan-vcek.der'))))).toBe(hex(tbsOf(readFileSync(join(b, 'snp-v3-milan-vcek.der')))));
  });

  it('matches the committed manifest', () => {
    const out = generate();
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  });
});
