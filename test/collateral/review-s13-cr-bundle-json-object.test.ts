/**
 * Review s13 CR #2: a JSON document of a bundle or a dcap-qvl import that is `null` where an object
 * is expected was read as an object: importBundle("null"), importDcapQvlCollateral("null") and a
 * dcap-qvl `tcb_info` of the JSON text `null` threw an untyped TypeError (`Cannot read properties
 * of null`), and `verify --collateral` printed it (exit 2, no error code). Every document and field
 * that is not the expected non-null object (null, a number, a string, an array) is now
 * ERR_COLLATERAL_FORMAT from the bundle's error helper ("collateral bundle: ..."). Fails on the
 * code before.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle, importBundle, importDcapQvlCollateral } from '../../src/collateral/index.js';
import { parseSignedJson } from '../../src/collateral/strict-json.js';
import { readBundle } from '../../src/cli/sources.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';

const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date('2026-06-01T00:00:00Z'), seed: 'review s13 cr json object' });
const { tcbInfo, qeIdentity, pckCrl, rootCaCrl } = p.collateral as Required<typeof p.collateral>;
const dir = mkdtempSync(join(tmpdir(), 'tee-verify-s13-cr-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** ERR_COLLATERAL_FORMAT from bundleError (its message prefix), never a TypeError. */
const bundleFormatError = { name: 'CollateralFormatError', code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT', message: expect.stringMatching(/^collateral bundle: /) };

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return 'no error';
}

type Json = { [k: string]: unknown };

/** A valid bundle of the TCB info and the Root CA CRL, with the TCB info's JSON changed by `edit`. */
function bundleWith(edit: (a: Json) => void): string {
  const doc = JSON.parse(exportBundle([tcbInfo, rootCaCrl])) as { artifacts: Json[] };
  edit(doc.artifacts.find((a) => a['kind'] === 'intel-tcb-info')!);
  return JSON.stringify(doc);
}

/** A valid dcap-qvl QuoteCollateralV3 document of the synthetic platform. */
function dcapQvl(): Json {
  const tcb = parseSignedJson(tcbInfo.body, 'tcbInfo');
  const qe = parseSignedJson(qeIdentity.body, 'enclaveIdentity');
  return {
    tcb_info: Buffer.from(tcb.signedBytes).toString('utf8'),
    tcb_info_signature: Buffer.from(tcb.signature).toString('hex'),
    tcb_info_issuer_chain: tcbInfo.issuerChainPem,
    qe_identity: Buffer.from(qe.signedBytes).toString('utf8'),
    qe_identity_signature: Buffer.from(qe.signature).toString('hex'),
    qe_identity_issuer_chain: qeIdentity.issuerChainPem,
    pck_crl: Buffer.from(pckCrl.body).toString('hex'),
    pck_crl_issuer_chain: pckCrl.issuerChainPem,
    root_ca_crl: Buffer.from(rootCaCrl.body).toString('hex'),
  };
}

const notObjects: [string, string][] = [
  ['null', 'null'],
  ['a number', '5'],
  ['a string', '"x"'],
  ['an array', '[]'],
  ['true', 'true'],
];

describe('bundle documents that are not JSON objects (review s13 CR #2)', () => {
  it('control: the unchanged bundle imports', () => {
    expect(importBundle(bundleWith(() => {})).map((a) => a.kind).sort()).toEqual(['intel-root-ca-crl', 'intel-tcb-info']);
  });

  it.each(notObjects)('the document is %s', (_, text) => {
    expect(thrown(() => importBundle(text))).toMatchObject(bundleFormatError);
  });

  it.each(notObjects)('an artifact is %s', (_, text) => {
    const doc = `{"format":"tee-verify-collateral-bundle","version":1,"artifacts":[${text}]}`;
    expect(thrown(() => importBundle(doc))).toMatchObject(bundleFormatError);
  });

  it.each(notObjects)('an artifact source is %s', (_, text) => {
    expect(thrown(() => importBundle(bundleWith((a) => (a['source'] = JSON.parse(text)))))).toMatchObject(bundleFormatError);
  });

  it.each([
    ['source.url is a number', (a: Json) => (a['source'] = { url: 5 })],
    ['source.url is null', (a: Json) => (a['source'] = { url: null })],
    ['source.fetchedAt is an object', (a: Json) => (a['source'] = { fetchedAt: {} })],
    ['issuerChainPem is null', (a: Json) => (a['issuerChainPem'] = null)],
    ['issuerChainPem is an array', (a: Json) => (a['issuerChainPem'] = [tcbInfo.issuerChainPem])],
    ['issuerChainPem is a number', (a: Json) => (a['issuerChainPem'] = 123)],
  ])('%s', (_, edit) => {
    expect(thrown(() => importBundle(bundleWith(edit)))).toMatchObject(bundleFormatError);
  });

  it('a source without url or fetchedAt still imports (origin is always bundle)', () => {
    const [a] = importBundle(bundleWith((x) => (x['source'] = {}))).filter((x) => x.kind === 'intel-tcb-info');
    expect(a!.source).toEqual({ origin: 'bundle' });
  });
});

describe('dcap-qvl documents that are not JSON objects (review s13 CR #2)', () => {
  it('control: the unchanged dcap-qvl collateral imports', () => {
    expect(importDcapQvlCollateral(JSON.stringify(dcapQvl())).map((a) => a.kind)).toEqual(['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-ca-crl']);
  });

  it.each(notObjects)('the document is %s', (_, text) => {
    expect(thrown(() => importDcapQvlCollateral(text))).toMatchObject(bundleFormatError);
  });

  it.each(notObjects)('tcb_info is the JSON text %s', (_, text) => {
    expect(thrown(() => importDcapQvlCollateral(JSON.stringify({ ...dcapQvl(), tcb_info: text })))).toMatchObject(bundleFormatError);
  });

  it.each(notObjects)('qe_identity is the JSON text %s', (_, text) => {
    expect(thrown(() => importDcapQvlCollateral(JSON.stringify({ ...dcapQvl(), qe_identity: text })))).toMatchObject(bundleFormatError);
  });

  it('verify --collateral names the typed error for a tcb_info of null, not a TypeError', async () => {
    const file = join(dir, 'dcap-null.json');
    writeFileSync(file, JSON.stringify({ ...dcapQvl(), tcb_info: 'null' }));
    const err = (await readBundle(file).then(
      () => 'no error',
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toContain('ERR_COLLATERAL_FORMAT');
    expect(err.message).not.toContain('TypeError');
  });
});
