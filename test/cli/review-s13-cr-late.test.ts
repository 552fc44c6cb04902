/**
 * s13 change review "late": show --product on a TDX quote is exit 2 (#1); batch refuses any spelling of
 * the table field other than "auxblob" (#2); a SQLite path starting with "~" is refused (#3).
 */
import { afterAll, describe, expect, it } from 'vitest';

import { parseRecordLine } from '../../src/batch/verify-record.js';
import type { ResultRecord } from '../../src/batch/result.js';
import { sqliteLocation } from '../../src/storage/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

describe('s13 change review late', () => {
  it('#1 show --product Milan on a TDX quote: exit 2; without it: exit 0', async () => {
    const tee = new SimulatedTeeProvider({ tee: 'tdx' });
    const quote = temps.file('q.bin', (await tee.getEvidence(new Uint8Array(64))).evidence);
    const r = await cli(['show', quote, '--product', 'Milan']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--product applies to SEV-SNP evidence/);
    expect((await cli(['show', quote])).code).toBe(0);
  });

  it('#2 batch: auxBlob, cert_table, certtable, CertTable, aux-blob are refused naming "auxblob"', () => {
    for (const key of ['auxBlob', 'cert_table', 'certtable', 'CertTable', 'aux-blob', 'certTable']) {
      const r = parseRecordLine(new Uint8Array(Buffer.from(JSON.stringify({ id: 'r', evidence: 'AAAA', [key]: 'AAAA' }))), 0) as ResultRecord;
      expect(r.error?.code, key).toBe('ERR_BAD_RECORD');
      expect(r.error?.message).toContain('"auxblob"');
    }
  });

  it('#3 storage: ~kbs/x.sqlite and ~root/x.sqlite are ERR_STORAGE_CONFIG', () => {
    for (const p of ['~kbs/kbs.sqlite', '~root/kbs.sqlite', '~/kbs.sqlite']) {
      expect(() => sqliteLocation(p), p).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
    }
  });
});
