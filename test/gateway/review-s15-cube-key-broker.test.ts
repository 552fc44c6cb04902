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
 * s15 change review of bb22d56, finding 1 (medium): the first deployment rule ("a separately measured
 * image, or pin an MRCONFIGID / RTMR / HOST_DATA value the Cube deployment cannot have") does not hold,
 * because the flag is not measured. These tests show
 * - the warning and --help say the flag is not measured, that only measured content that cannot have
 *   it on separates a TEE from one serving the route, and that a host-chosen MRCONFIGID / HOST_DATA
 *   alone proves nothing (they fail on the code before);
 * - the flag changes no measured value: a key policy that pins every TDX measurement of a gateway
 *   without the flag releases the key through the same TD started with it (the review's
 *   reproduction; a regression guard for what the docs say, passes before too).
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

describe('s15 change review, finding 1: the flag is not measured, and the texts say so', () => {
  it('the start-up warning says the flag is not measured and what can separate such a TEE', async () => {
    const lines: string[] = [];
    const h = await startHarness({ cubeAttestation: true, log: (l) => lines.push(l) });
    await h.close();
    const warning = lines.find((l) => l.includes('WARNING') && l.includes('/attestation')) ?? '';
    expect(warning).toMatch(/THIS FLAG IS NOT MEASURED: with it this TEE quotes the same MRTD, RTMRs, MRCONFIGID and HOST_DATA/);
    expect(warning).toMatch(/only through measured content that cannot have the flag on/);
    expect(warning).toMatch(/init-data \/ agent policy that fixes the container arguments, is enforced by the measured guest, and is hashed into the pinned MRCONFIGID \(TDX\) or HOST_DATA \(SEV-SNP\)/);
    expect(warning).toMatch(/A host-chosen MRCONFIGID \/ HOST_DATA value alone proves nothing/);
    expect(warning).toMatch(/Kata \/ Confidential Containers MRTD and the RTMRs cover neither the container image nor its args/);
    // The rule as first written is gone.
    expect(warning).not.toMatch(/separately measured image|cannot have \(docs/);
  });

  it('--help says the flag is not measured', async () => {
    let out = '';
    const r = await runGatewayCli(['serve', '--help'], { stdout: (t) => void (out += t), stderr: () => {}, env: {} });
    expect(r.code).toBe(0);
    const at = out.indexOf('[--cube-attestation]');
    const text = out.slice(at, out.indexOf('[--shutdown-grace', at)).replace(/\s+/g, ' ');
    expect(text).toMatch(/The flag is NOT MEASURED: only measured content that cannot have it on \(the image, the kernel command line, or an enforced init-data \/ agent policy hashed into MRCONFIGID \/ HOST_DATA\) keeps such a TEE apart; a host-chosen value alone proves nothing/);
  });

  it('the flag changes no measured value: a policy pinning every TDX measurement of the TD without it releases through the TD with it', async () => {
    const hex = (u: unknown): string => (typeof u === 'bigint' ? u.toString(16) : Buffer.from(u as Uint8Array).toString('hex'));
    const bodyOf = (q: Buffer) => (parseEvidence(new Uint8Array(q)) as TdxQuote).body;
    // The model-loading deployment: a gateway WITHOUT the flag, and its measurements as a key policy pins them.
    const off = await startHarness();
    let offBody: TdxQuote['body'];
    try {
      const own = await off.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: randomBytes(32).toString('base64') }), token: null });
      expect(own.status).toBe(200);
      offBody = bodyOf(Buffer.from(own.json.evidence, 'base64'));
    } finally {
      await off.close();
    }
    const pinned = ['mrTd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrConfigId', 'mrOwner', 'mrOwnerConfig'] as const;
    const policy: Record<string, unknown> = { tee: 'tdx' };
    for (const m of pinned) policy[m] = [hex(offBody[m])];
    const allPinned = await registerKey(broker, material, policy);

    // The same TD started with --cube-attestation.
    const on = await startHarness({ cubeAttestation: true });
    try {
      const attacker = newClient();
      const n = await broker.call('POST', transferPath(allPinned), { token: null });
      expect(n.status).toBe(200);
      const nonce = n.json as { val: string; iat: string; signature: string };
      const binding = sha512(Buffer.from(nonce.val, 'base64'), Buffer.from(nonce.iat, 'base64'), attacker.spkiDer);
      const r = await cubeRoute(on, binding);
      expect(r.status).toBe(200);
      const onBody = bodyOf(r.body);
      for (const m of [...pinned, 'mrSeam', 'mrSignerSeam', 'xfam'] as const) expect(hex(onBody[m]), m).toBe(hex(offBody[m]));
      const t = await broker.call('POST', transferPath(allPinned), { body: { quote: r.body.toString('base64'), user_data: attacker.userData, nonce }, headers: { 'attestation-type': 'TDX' }, token: null });
      expect(t.status, t.text).toBe(200);
      expect(unwrap(attacker, t.json)).toEqual(material);
    } finally {
      await on.close();
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
