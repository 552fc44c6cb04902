/**
 * s15 red team, key-broker finding 1 (high): `--cube-attestation` makes the TEE sign any 64 bytes anyone
 * chooses, and the key broker binds SHA-512(val ‖ iat ‖ user_data) unlabelled (ITA clients need that).
 * So anyone who reaches Cube's route gets a genuine quote over the broker's binding for their own RSA
 * key, and the broker releases every key whose policy admits that TEE. Decision (lead): the flag stays
 * the explicit opt-in, off by default, and says so: the start-up warning, the --help text and the 404
 * name key-broker releases. These tests show
 * - the warning, the help text and the 404 name the key broker (they fail on the code before);
 * - with the flag on, the cross-protocol quote exists: a real tee-kbs releases the key to a caller
 *   with no TEE (what the warning describes);
 * - with the flag off, no route of a gateway signs the broker's binding: Cube's route is 404, and
 *   /v1/attestation (plain and vTPM), GET /api/v1/tee/quote and /aTLS, given the binding's bytes as
 *   their nonce, answer quotes whose REPORTDATA is never the binding, which the broker refuses.
 */
import { randomBytes } from 'node:crypto';

import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, parseEvidence, type TdxQuote } from '../../src/index.js';
import { runGatewayCli } from '../../src/gateway/cli.js';
import { SimulatedVtpmProvider } from '../../src/tee/index.js';
import { parseTpmQuote } from '../../src/vtpm/parse.js';
import { newClient, registerKey, sha512, startHarness as startBroker, transferPath, unwrap, type Harness as BrokerHarness } from '../kbs/helpers.js';
import { mrTdOf, simulated, startHarness, type Harness } from './helpers.js';

const KEY_BROKER = /KEY-BROKER RELEASES.*key policy \(tee-kbs or any ITA-style broker\) that admits this TEE's measurements releases its keys/;

let broker: BrokerHarness;
let keyId: string;
const material = randomBytes(32);

beforeAll(async () => {
  // The broker trusts the simulated TEE the gateway runs in, and its key policy pins that TEE's MRTD
  // (the deployment of the finding: tee-model load and tee-gateway in one TD). Nonces required (default).
  broker = await startBroker({ collateral: new CollateralService({ intel: new BundleSource([...simulated.collateral]), cache: null }), trustRoots: simulated.trustRoots, allowNoNonce: false });
  keyId = await registerKey(broker, material, { tee: 'tdx', mrTd: [await mrTdOf(simulated)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
}, 60_000);
afterAll(async () => broker?.close());

/** A fresh broker nonce and the binding an attacker computes for its own key: SHA-512(val ‖ iat ‖ SPKI). */
async function brokerBinding(attacker: ReturnType<typeof newClient>): Promise<{ nonce: { val: string; iat: string; signature: string }; binding: Buffer }> {
  const n = await broker.call('POST', transferPath(keyId), { token: null });
  expect(n.status).toBe(200);
  const nonce = n.json as { val: string; iat: string; signature: string };
  return { nonce, binding: sha512(Buffer.from(nonce.val, 'base64'), Buffer.from(nonce.iat, 'base64'), attacker.spkiDer) };
}

const reportDataOf = (quote: Buffer): Buffer => Buffer.from((parseEvidence(new Uint8Array(quote)) as TdxQuote).body.reportData as Uint8Array);

async function transfer(attacker: ReturnType<typeof newClient>, nonce: { val: string; iat: string; signature: string }, quote: Buffer) {
  return broker.call('POST', transferPath(keyId), { body: { quote: quote.toString('base64'), user_data: attacker.userData, nonce }, headers: { 'attestation-type': 'TDX' }, token: null });
}

/** Cube's route with raw report_data, as the attacker calls it: no API key. */
async function cubeRoute(h: Harness, reportData: Buffer): Promise<{ status: number; body: Buffer; json: () => any }> {
  const r = await request(`${h.gateway.url}/attestation`, { method: 'POST', dispatcher: h.insecure, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ report_data: reportData.toString('base64') }) });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, body, json: () => JSON.parse(body.toString('utf8')) };
}

describe('s15: --cube-attestation names key-broker releases', () => {
  it('the start-up warning names the key broker', async () => {
    const lines: string[] = [];
    const h = await startHarness({ cubeAttestation: true, log: (l) => lines.push(l) });
    await h.close();
    const warnings = lines.filter((l) => l.includes('WARNING') && l.includes('/attestation'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^tee-gateway: WARNING: Cube's POST \/attestation is on \(--cube-attestation\)/);
    expect(warnings[0]).toMatch(KEY_BROKER);
    expect(warnings[0]).toMatch(/No key-release policy may admit a TEE that serves this route/);
  });

  it('--help names the key broker on the --cube-attestation line', async () => {
    let out = '';
    const r = await runGatewayCli(['serve', '--help'], { stdout: (t) => void (out += t), stderr: () => {}, env: {} });
    expect(r.code).toBe(0);
    const at = out.indexOf('[--cube-attestation]');
    expect(at).toBeGreaterThan(0);
    const text = out.slice(at, out.indexOf('[--shutdown-grace', at)).replace(/\s+/g, ' ');
    expect(text).toMatch(/voids the \/v1\/attestation binding AND lets anyone obtain key-broker keys \(tee-kbs or any ITA-style broker\) whose key policy admits this TEE's measurements/);
  });

  it('the 404 of the route when off names the key broker too', async () => {
    const h = await startHarness();
    try {
      const r = await cubeRoute(h, Buffer.alloc(64, 1));
      expect(r.status).toBe(404);
      expect(r.json().error).toMatch(/anyone obtain the keys a key broker releases to this TEE/);
    } finally {
      await h.close();
    }
  });
});

describe('s15: the cross-protocol quote exists only with --cube-attestation', () => {
  it('flag on: anyone who reaches Cube\'s route obtains the broker\'s key (the accepted, warned-about hazard)', async () => {
    const h = await startHarness({ cubeAttestation: true });
    try {
      const attacker = newClient();
      const { nonce, binding } = await brokerBinding(attacker);
      const r = await cubeRoute(h, binding);
      expect(r.status).toBe(200);
      expect(reportDataOf(r.body)).toEqual(binding);
      const t = await transfer(attacker, nonce, r.body);
      expect(t.status, t.text).toBe(200);
      expect(unwrap(attacker, t.json)).toEqual(material);
    } finally {
      await h.close();
    }
  });

  it('flag off, default gateway: Cube\'s route is 404; /v1/attestation and GET /api/v1/tee/quote never sign the binding', async () => {
    const h = await startHarness();
    try {
      const attacker = newClient();
      const { binding } = await brokerBinding(attacker);
      expect((await cubeRoute(h, binding)).status).toBe(404);

      const quotes: Buffer[] = [];
      const plain = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: binding.toString('base64') }), token: null });
      expect(plain.status).toBe(200);
      quotes.push(Buffer.from(plain.json.evidence, 'base64'));
      const vtpmAsked = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: binding.toString('base64'), format: 'vtpm' }), token: null });
      expect(vtpmAsked.status).toBe(200);
      expect(vtpmAsked.json.format).toBe('plain');
      quotes.push(Buffer.from(vtpmAsked.json.evidence, 'base64'));
      const open = await h.call('GET', `/api/v1/tee/quote?nonce=${encodeURIComponent(binding.toString('base64'))}`, { token: null });
      expect(open.status).toBe(200);
      quotes.push(Buffer.from(open.json.quote, 'hex'));
      for (const q of quotes) expect(reportDataOf(q)).not.toEqual(binding);
      // /aTLS needs a vTPM: 404 here.
      expect((await h.call('POST', '/aTLS', { body: JSON.stringify({ nonce: binding.subarray(0, 32).toString('base64') }), token: null })).status).toBe(404);

      // And the broker refuses each of them, with a fresh nonce each time (the quote cannot carry it).
      for (const q of quotes) {
        const { nonce } = await brokerBinding(attacker);
        const t = await transfer(attacker, nonce, q);
        expect({ status: t.status, code: t.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_BINDING' });
      }
    } finally {
      await h.close();
    }
  });

  it('flag off, vTPM gateway: /v1/attestation (vtpm) and /aTLS never sign the binding as REPORTDATA', async () => {
    const vtpm = new SimulatedVtpmProvider({ hardware: simulated });
    const h = await startHarness({ provider: vtpm });
    try {
      const attacker = newClient();
      const { binding } = await brokerBinding(attacker);
      expect((await cubeRoute(h, binding)).status).toBe(404);

      const v = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: binding.toString('base64'), format: 'vtpm' }), token: null });
      expect(v.status).toBe(200);
      expect(v.json.format).toBe('vtpm');
      const vQuote = Buffer.from(v.json.evidence, 'base64');
      expect(reportDataOf(vQuote)).not.toEqual(binding);

      // /aTLS takes 16-32 bytes: the 64-byte binding is refused; a 32-byte nonce becomes the TPM quote's
      // extraData (caller-chosen, but tee-kbs takes no TPM quote), never the hardware REPORTDATA.
      expect((await h.call('POST', '/aTLS', { body: JSON.stringify({ nonce: binding.toString('base64') }), token: null })).status).toBe(400);
      const half = binding.subarray(0, 32);
      const a = await h.call('POST', '/aTLS', { body: JSON.stringify({ nonce: half.toString('base64') }), token: null });
      expect(a.status).toBe(200);
      const aQuote = Buffer.from(a.json.evidence.report, 'hex');
      expect(reportDataOf(aQuote)).not.toEqual(binding);
      expect(reportDataOf(aQuote).subarray(0, 32)).not.toEqual(half);
      expect(Buffer.from(parseTpmQuote(new Uint8Array(Buffer.from(a.json.evidence.quote.message, 'hex'))).extraData)).toEqual(half);

      for (const q of [vQuote, aQuote]) {
        const { nonce } = await brokerBinding(attacker);
        const t = await transfer(attacker, nonce, q);
        expect({ status: t.status, code: t.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_BINDING' });
      }
    } finally {
      await h.close();
    }
  });
});
