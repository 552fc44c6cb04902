/**
 * s13 change review batch #2: a record that names the certificate table `certTable` (the attestation
 * service's field) is ERR_BAD_RECORD naming `auxblob`; before, the key was ignored and the record was
 * verified without its table (rejected at S05 with no word about the field).
 */
import { describe, expect, it } from 'vitest';

import { parseRecordLine, type RecordFields } from '../../src/batch/verify-record.js';
import type { ResultRecord } from '../../src/batch/result.js';

const line = (o: object): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(o)));

describe('batch record: certTable is refused, auxblob is the field', () => {
  it('certTable (any value) is ERR_BAD_RECORD whose message names auxblob', () => {
    for (const certTable of ['AAAA', '', null, 7]) {
      const r = parseRecordLine(line({ id: 'r1', evidence: 'AAAA', certTable }), 0) as ResultRecord;
      expect(r).toMatchObject({ id: 'r1', ok: false, error: { code: 'ERR_BAD_RECORD', class: 'ARGUMENT' } });
      expect(r.error?.message).toContain('"auxblob"');
    }
  });

  it('control: auxblob alone is kept', () => {
    const ok = parseRecordLine(line({ id: 'r2', evidence: 'AAAA', auxblob: 'AAAA' }), 0) as RecordFields;
    expect(ok.auxblob).toBe('AAAA');
  });
});
