/** The addon's surface: loader, layout tables, argument handling. */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { loadNativeAddon } from '../../src/index.js';
import { native } from '../../src/native/index.js';
import { expectError } from '../helpers/expect-error.js';

describe('native loader', () => {
  it('loads the node-gyp build', () => {
    expect(typeof loadNativeAddon().parseIntelQuote).toBe('function');
  });

  it('reports why an explicit path failed, without falling back', () => {
    const missing = expectError(() => loadNativeAddon('/nonexistent/tee_verify.node'), { code: 'ERR_NATIVE_LOAD', errorClass: 'INTERNAL' });
    expect(missing.details['reasons']).toEqual(['/nonexistent/tee_verify.node: not found']);
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-'));
    const bogus = join(dir, 'bogus.node');
    writeFileSync(bogus, 'not a shared object');
    const broken = expectError(() => loadNativeAddon(bogus), { code: 'ERR_NATIVE_LOAD' });
    expect((broken.details['reasons'] as string[])[0]).toContain(bogus);
  });
});

describe('layout tables', () => {
  const tables = native().layouts();

  it('each table is contiguous or gapped only by reserved bytes, ends within its size', () => {
    for (const [name, table] of Object.entries(tables)) {
      let end = 0;
      for (const f of table.fields) {
        expect(f.offset, `${name}.${f.name}`).toBeGreaterThanOrEqual(end);
        end = f.offset + f.size;
      }
      expect(end, name).toBeLessThanOrEqual(table.size);
    }
  });

  it('has the documented sizes and key offsets (checklist §2.1, §4.1)', () => {
    const at = (t: keyof typeof tables, n: string) => tables[t].fields.find((f) => f.name === n);
    expect(tables.tdReport10.size).toBe(584);
    expect(tables.tdReport15.size).toBe(648);
    expect(tables.sgxReportBody.size).toBe(384);
    expect(tables.snpReport.size).toBe(0x4a0);
    expect(at('tdReport10', 'reportData')).toMatchObject({ offset: 0x208, size: 64 });
    expect(at('tdReport15', 'mrServiceTd')).toMatchObject({ offset: 0x258, size: 48 });
    expect(at('sgxReportBody', 'isvSvn')).toMatchObject({ offset: 0x102, type: 'u16' });
    expect(at('snpReport', 'chipId')).toMatchObject({ offset: 0x1a0, size: 64 });
    expect(at('snpReport', 'cpuidFamId')).toMatchObject({ offset: 0x188, minVersion: 3 });
    expect(at('snpReport', 'launchMitVector')).toMatchObject({ offset: 0x1f8, minVersion: 5 });
  });
});

describe('native argument handling', () => {
  it('throws TypeError for wrong argument types instead of crashing', () => {
    const n = native().raw as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => n['parseIntelQuote']!('x')).toThrow(TypeError);
    expect(() => n['parseIntelQuote']!(new Uint8Array(4), 0, new Uint32Array(3))).toThrow(TypeError);
    expect(() => n['parseSnpReport']!(new Uint8Array(4), 0, new Int32Array(4))).toThrow(TypeError);
    expect(() => n['parseIntelQuote']!(new Uint16Array(4))).toThrow(TypeError);
    expect(() => n['parseSnpReport']!()).toThrow(TypeError);
    expect(() => n['parseSnpCertTable']!(null)).toThrow(TypeError);
    expect(() => n['ecdsaVerify']!(255, new Uint8Array(64), new Uint8Array(1), new Uint8Array(64))).toThrow(TypeError);
    expect(() => n['ecdsaVerifyWithKey']!({}, new Uint8Array(1), new Uint8Array(64))).toThrow(TypeError);
  });

  it('parses an empty buffer into a typed failure', () => {
    expect(native().parseIntelQuote(new Uint8Array(0), 0)).toMatchObject({ code: 'ERR_TRUNCATED', offset: 0 });
    expect(native().parseSnpReport(new Uint8Array(0), 0)).toMatchObject({ code: 'ERR_TRUNCATED', offset: 0 });
  });
});
