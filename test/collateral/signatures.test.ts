/** Collateral signature checks over exact bytes, memoised by content digest. */
import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, importDcapQvlCollateral } from '../../src/collateral/index.js';
import { chainOf, checkArtifactSignatures } from '../../src/collateral/signatures.js';
import { SignatureMemo } from '../../src/crypto/memo.js';
import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { parseCrl } from '../../src/x509/index.js';
import { amdProductRecords } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, findEntry, readEvidenceBytes, readVectorFile } from '../helpers/vectors.js';

describe.skipIf(!HAVE_VECTORS)('collateral signatures', () => {
  for (const id of ['phala-dcap-qvl/tdx_quote', 'phala-dcap-qvl/sgx_quote', 'phala-dcap-qvl/tdx_quote_outdated']) {
    it(`${id}: TCB info, QE identity, PCK CRL and root CA CRL all verify, once each`, async () => {
      const e = findEntry(id)!;
      const service = new CollateralService({ intel: new BundleSource(importDcapQvlCollateral(readVectorFile(e.collateral['collateral_bundle']!))), cache: null });
      const c = await service.forQuote(parseEvidence(readEvidenceBytes(e)) as TdxQuote, new Date(e.verification_time!));
      const memo = new SignatureMemo();
      const root = chainOf(c.tcbInfo).at(-1)!;
      const all = [
        ...checkArtifactSignatures(c.tcbInfo, undefined, memo),
        ...checkArtifactSignatures(c.qeIdentity, undefined, memo),
        ...checkArtifactSignatures(c.pckCrl, undefined, memo),
        ...checkArtifactSignatures(c.rootCaCrl, root, memo),
      ];
      expect(all.map((x) => x.subject)).toContain('tcbInfo signature');
      expect(all.every((x) => x.ok)).toBe(true);
      const misses = memo.misses;
      checkArtifactSignatures(c.tcbInfo, undefined, memo);
      checkArtifactSignatures(c.pckCrl, undefined, memo);
      expect(memo.misses).toBe(misses); // warm: nothing re-verified
      expect(memo.hits).toBeGreaterThan(0);
    });
  }

  it('a flipped byte in the signed tcbInfo or in a CRL fails its signature', async () => {
    const e = findEntry('phala-dcap-qvl/tdx_quote')!;
    const [tcbInfo, , pckCrl] = importDcapQvlCollateral(readVectorFile(e.collateral['collateral_bundle']!));
    const body = Uint8Array.from(tcbInfo!.body);
    const at = Buffer.from(body).indexOf('"tcbEvaluationDataNumber":') + 26;
    body[at] = body[at] === 0x31 ? 0x32 : 0x31;
    const checks = checkArtifactSignatures({ ...tcbInfo!, body }, undefined, new SignatureMemo());
    expect(checks.find((x) => x.subject === 'tcbInfo signature')!.ok).toBe(false);
    const crlBytes = Uint8Array.from(pckCrl!.body);
    const tbsEnd = parseCrl(crlBytes).tbs.length;
    crlBytes[tbsEnd - 3]! ^= 1;
    const crlChecks = checkArtifactSignatures({ ...pckCrl!, body: crlBytes }, undefined, new SignatureMemo());
    expect(crlChecks.find((x) => x.subject === 'CRL signature')!.ok).toBe(false);
  });

  it('AMD: ASK by ARK (RSA-PSS) and the CRL by the ARK', () => {
    const records = amdProductRecords();
    const chainRecord = records.find((r) => r.path === '/vcek/v1/Milan/cert_chain')!;
    const crlRecord = records.find((r) => r.path === '/vcek/v1/Milan/crl')!;
    const chainArtifact = { kind: 'amd-cert-chain' as const, key: 'k', body: chainRecord.body, validity: { notBefore: '', notAfter: '' }, source: { origin: 'bundle' as const } };
    const chainChecks = checkArtifactSignatures(chainArtifact, undefined, new SignatureMemo());
    expect(chainChecks).toEqual([{ subject: 'chain[0] signed by chain[1]', ok: true }]);
    const ark = chainOf(chainArtifact)[1]!;
    const crlArtifact = { kind: 'amd-crl' as const, key: 'c', body: crlRecord.body, validity: { notBefore: '', notAfter: '' }, source: { origin: 'bundle' as const } };
    expect(checkArtifactSignatures(crlArtifact, ark, new SignatureMemo())).toEqual([{ subject: 'CRL signature', ok: true }]);
    const ask = chainOf(chainArtifact)[0]!;
    expect(checkArtifactSignatures(crlArtifact, ask, new SignatureMemo())).toEqual([{ subject: 'CRL signature', ok: false }]);
  });
});
