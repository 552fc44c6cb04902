/**
 * X09: the native reader checks the remaining length before every read. Every
 * prefix of genuine-shaped evidence (a signed TDX v4 and v5 quote, an SGX
 * quote, an SNP report, a certificate table) is a typed PARSE error with a
 * stable code: never a crash, a RangeError or a partly read result.
 */
import { describe, expect, it } from 'vitest';

import { TeeVerifyError, parseEvidence, parseSnpCertificateTable } from '../../src/index.js';
import { buildSnpCertTable } from '../../src/testing/index.js';
import { platform } from './intel/helpers/synthetic.js';
import { setup } from './snp/helpers/synthetic.js';

function errorOf(fn: () => unknown): { errorClass: string; code: string } | 'accepted' | 'untyped' {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return err instanceof TeeVerifyError ? { errorClass: err.errorClass, code: err.code } : 'untyped';
  }
}

/** Every strict prefix of `bytes` (all lengths up to 1 KiB, then every 7th) through `parse`. */
function prefixes(bytes: Uint8Array, parse: (b: Uint8Array) => unknown): { length: number; outcome: ReturnType<typeof errorOf> }[] {
  const out = [];
  for (let n = 0; n < bytes.length; n += n < 1024 ? 1 : 7) out.push({ length: n, outcome: errorOf(() => parse(bytes.slice(0, n))) });
  return out;
}

/** The prefixes that did not fail with `errorClass` and a stable ERR_ code. */
const otherThan = (errorClass: string, rows: ReturnType<typeof prefixes>) =>
  rows.filter((r) => typeof r.outcome !== 'object' || r.outcome.errorClass !== errorClass || !/^ERR_[A-Z_]+$/.test(r.outcome.code));

describe('X09: truncated evidence', () => {
  const quotes = {
    'TDX v4': platform().quote.bytes,
    'TDX v5': platform({ version: 5 }).quote.bytes,
    SGX: platform({ tee: 'sgx' }).quote.bytes,
  };

  for (const [name, bytes] of Object.entries(quotes)) {
    it(`X09: every prefix of a ${name} quote is a PARSE error with a code`, () => {
      expect(parseEvidence(bytes).kind).not.toBe('snp'); // the whole quote parses
      expect(otherThan('PARSE', prefixes(bytes, (b) => parseEvidence(b)))).toEqual([]);
    });
  }

  it('X09: every prefix of an SNP report is a PARSE error with a code', () => {
    const s = setup();
    expect(otherThan('PARSE', prefixes(s.bytes, (b) => parseEvidence(b, { snpProduct: 'Milan' })))).toEqual([]);
  });

  it('X09: every prefix of a certificate table short of its terminator is a PARSE error with a code', () => {
    const s = setup();
    const table = buildSnpCertTable([
      { guid: 'vcek', der: s.pki.vcek.der },
      { guid: 'ask', der: s.pki.ask.der },
      { guid: 'ark', der: s.pki.ark.der },
    ]);
    expect(parseSnpCertificateTable(table)).toHaveLength(3);
    // The entry headers and terminator: 4 x 24 bytes.
    expect(otherThan('PARSE', prefixes(table.subarray(0, 96), (b) => parseSnpCertificateTable(b)))).toEqual([]);
  });
});
