/**
 * The caches of the warm path (parse caches, signature memo, per-document
 * reads, valid dates) never carry a result across to inputs they do not
 * stand for: the instant, the options and each quote's own bytes are judged
 * on every call, after the same collateral was verified before.
 */
import { describe, expect, it } from 'vitest';

import { parseSignedJson } from '../../../src/collateral/strict-json.js';
import { SignatureMemo } from '../../../src/crypto/memo.js';
import { parseEvidence, type TdxQuote } from '../../../src/index.js';
import { intelArtifact, intelDate, signCollateralJson } from '../../../src/testing/index.js';
import { splitPemCertificates } from '../../../src/x509/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { AT, platform, verifySynthetic } from './helpers/synthetic.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

describe('warm caches', () => {
  const p = platform();
  const warm = () => verifySynthetic(p); // fills every cache for this platform

  it('a warm platform still rejects a quote whose own signature was altered (T26)', () => {
    warm();
    const bytes = new Uint8Array(p.quote.bytes);
    const q = parseEvidence(bytes) as TdxQuote;
    const offset = q.signatureData.quoteSignature.byteOffset - q.bytes.byteOffset;
    const altered = new Uint8Array(q.bytes);
    altered[offset + 5]! ^= 0x01;
    const err = catchError(() => verifySynthetic(p, { quote: parseEvidence(altered) as TdxQuote }));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'SIG_QUOTE', check: 'T26' });
  });

  it('a warm platform still rejects an altered QE report signature with the same QE report (T22)', () => {
    warm();
    const q = parseEvidence(p.quote.bytes) as TdxQuote;
    const offset = q.signatureData.qeReportSignature.byteOffset - q.bytes.byteOffset;
    const altered = new Uint8Array(q.bytes);
    altered[offset + 40]! ^= 0x01;
    const err = catchError(() => verifySynthetic(p, { quote: parseEvidence(altered) as TdxQuote }));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'SIG_QE_REPORT', check: 'T22' });
  });

  it('cached document dates are judged against each call\'s instant (T18 / T21)', () => {
    // One document at a time ends (or starts) inside the other windows, so the instant reaches its own check.
    const short = intelDate(new Date(AT.getTime() + 2 * DAY));
    const recent = intelDate(new Date(AT.getTime() - HOUR));
    const cases = [
      { p: platform({ tcbInfo: { fields: { nextUpdate: short } } }), at: new Date(AT.getTime() + 3 * DAY), check: 'T18' },
      { p: platform({ tcbInfo: { fields: { issueDate: recent } } }), at: new Date(AT.getTime() - 2 * HOUR), check: 'T18' },
      { p: platform({ qeIdentity: { fields: { nextUpdate: short } } }), at: new Date(AT.getTime() + 3 * DAY), check: 'T21' },
      { p: platform({ qeIdentity: { fields: { issueDate: recent } } }), at: new Date(AT.getTime() - 2 * HOUR), check: 'T21' },
    ];
    for (const c of cases) {
      expect(verifySynthetic(c.p).tcbStatus).toBe('UpToDate'); // warm at AT
      const err = catchError(() => verifySynthetic({ ...c.p, at: c.at }));
      expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'EXPIRED', check: c.check });
      expect(verifySynthetic(c.p).tcbStatus).toBe('UpToDate');
    }
  });

  it('the cached QE identity is judged against each call\'s options (minimum evaluation data number, T21)', () => {
    warm(); // TCB info and QE identity both at evaluation data number 17
    expect(p.qeIdentity['tcbEvaluationDataNumber']).toBe(17);
    // The same QE identity artifact, next to a TCB info of the same signer at 18: the minimum 18 passes T18 and fails T21.
    const tcbInfo18 = intelArtifact(
      'intel-tcb-info',
      p.collateral.tcbInfo!.key,
      signCollateralJson('tcbInfo', { ...p.tcbInfo, tcbEvaluationDataNumber: 18 }, p.pki.tcbSigning.key.privateKey),
      p.pki.tcbSigningChainPem,
    );
    const err = catchError(() => verifySynthetic(p, { minTcbEvaluationDataNumber: 18, collateral: { ...p.collateral, tcbInfo: tcbInfo18 } }));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'COLLATERAL_MISMATCH', check: 'T21' });
    expect(verifySynthetic(p, { minTcbEvaluationDataNumber: 17 }).tcbStatus).toBe('UpToDate');
  });

  it('a parsed signed document is shared frozen, so what is read from it stays true to its bytes', () => {
    const doc = parseSignedJson(p.collateral.qeIdentity!.body, 'enclaveIdentity');
    expect(Object.isFrozen(doc.value)).toBe(true);
    expect(() => {
      (doc.value as Record<string, unknown>)['version'] = 3;
    }).toThrow(TypeError);
    // the signed span is a view of the private copy the value was parsed from (review s14), the same
    // view object on every call while the document is cached (the signature memo finds it by identity)
    expect(doc.signedBytes.buffer).not.toBe(p.collateral.qeIdentity!.body.buffer);
    expect(parseSignedJson(p.collateral.qeIdentity!.body, 'enclaveIdentity').signedBytes).toBe(doc.signedBytes);
  });
});

describe('signature memo', () => {
  it('runs the check again when the same message object changed in place', () => {
    const memo = new SignatureMemo();
    const message = new Uint8Array(64).fill(1);
    const signature = new Uint8Array(64).fill(2);
    const key = new Uint8Array(64).fill(3);
    let runs = 0;
    const check = () => {
      runs++;
      return message[0] === 1;
    };
    expect(memo.verify('ecdsa-p256', [message, signature, key], check)).toBe(true);
    expect(memo.verify('ecdsa-p256', [message, signature, key], check)).toBe(true);
    expect(runs).toBe(1);
    message[0] = 9;
    expect(memo.verify('ecdsa-p256', [message, signature, key], check)).toBe(false);
    expect(runs).toBe(2);
    // another scheme over the same parts is another check
    expect(memo.verify('x509-cert', [message, signature, key], () => true)).toBe(true);
    expect(memo.misses).toBe(3);
  });

  it('a new view of bytes checked before is found among the recent entries; one changed byte is not', () => {
    const memo = new SignatureMemo();
    const bytes = new Uint8Array(384).fill(7);
    const signature = new Uint8Array(64).fill(2);
    const key = new Uint8Array(64).fill(3);
    let runs = 0;
    const check = () => ++runs > 0;
    memo.verify('ecdsa-p256', [bytes, signature, key], check);
    // Fresh evidence brings fresh views (new objects) of the same QE report bytes.
    for (let i = 0; i < 5; i++) expect(memo.verify('ecdsa-p256', [new Uint8Array(bytes), new Uint8Array(signature), key], check)).toBe(true);
    expect(runs).toBe(1);
    expect(memo.size).toBe(1);
    const changed = new Uint8Array(bytes);
    changed[383] = 8;
    // The changed bytes are checked, not served the original's result (a failure is not
    // remembered, review s12 x509 finding 1: checked again when they come back).
    expect(memo.verify('ecdsa-p256', [changed, signature, key], () => false)).toBe(false);
    expect(memo.verify('ecdsa-p256', [new Uint8Array(changed), signature, key], () => false)).toBe(false);
    expect(memo.verify('ecdsa-p256', [new Uint8Array(bytes), signature, key], check)).toBe(true);
    expect(runs).toBe(1);
    expect(memo.misses).toBe(3);
    expect(memo.size).toBe(1);
  });

  it('keys are length-prefixed: parts that concatenate alike do not share a key', () => {
    const a = SignatureMemo.keyOf('s', [new Uint8Array([1, 2]), new Uint8Array([3])]);
    const b = SignatureMemo.keyOf('s', [new Uint8Array([1]), new Uint8Array([2, 3])]);
    expect(a).not.toBe(b);
  });
});

describe('PEM split cache', () => {
  it('a string chain and its bytes split alike, and a changed buffer is split again', () => {
    const p = platform();
    const q = parseEvidence(p.quote.bytes) as TdxQuote;
    const bytes = new Uint8Array(q.signatureData.pckCertChainPem);
    const text = Buffer.from(bytes).toString('latin1');
    const fromBytes = splitPemCertificates(bytes);
    expect(splitPemCertificates(text).map((d) => Buffer.from(d).toString('hex'))).toEqual(fromBytes.map((d) => Buffer.from(d).toString('hex')));
    bytes.fill(0x41); // no longer PEM
    expect(catchError(() => splitPemCertificates(bytes)).code).toBe('ERR_BAD_PEM');
  });
});
