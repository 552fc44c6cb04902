/**
 * The gateway's vTPM path end to end on 127.0.0.1 with real TLS: the simulated
 * TDX TEE plus a simulated vTPM (TypeScript TPM extended with a generated boot
 * log and IMA list). A chat verifies through the vTPM path (library and the
 * CLI in process); old clients and plain gateways keep working; each named
 * refusal sends no prompt byte to the upstream.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import {
  AttestedClient,
  AttestationRefusedError,
  akPublicSha256,
  vtpmBindingReportData,
  vtpmQuoteExtraData,
  type AttestedClientOptions,
} from '../../src/gateway/index.js';
import { generateTls } from '../../src/gateway/tls.js';
import { SimulatedVtpmProvider, type VtpmEvidence, type VtpmEvidenceProvider, type VtpmRequest } from '../../src/tee/index.js';
import { generateBootEventLog } from '../../src/testing/vtpm-logs.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

/** The gateway's provider: a simulated vTPM, or a defect a test switches on. */
class SwitchProvider implements VtpmEvidenceProvider {
  readonly vtpm = true as const;
  readonly name = 'switch';
  current: VtpmEvidenceProvider;
  tamper: ((e: VtpmEvidence, r: VtpmRequest) => VtpmEvidence | Promise<VtpmEvidence>) | undefined;
  akOverride: Uint8Array | undefined;
  constructor(readonly base: SimulatedVtpmProvider) {
    this.current = base;
  }
  getEvidence(reportData: Uint8Array) {
    return this.current.getEvidence(reportData);
  }
  async attestationKeyPublic() {
    return this.akOverride ?? this.current.attestationKeyPublic();
  }
  async getVtpmEvidence(r: VtpmRequest) {
    const e = await this.current.getVtpmEvidence(r);
    return this.tamper ? this.tamper(e, r) : e;
  }
  reset(): void {
    this.current = this.base;
    this.tamper = undefined;
    this.akOverride = undefined;
  }
}

const base = new SimulatedVtpmProvider({ hardware: simulated });
const provider = new SwitchProvider(base);
let h: Harness;
let mrTd: string;
let strict: AttestedClientOptions;

const vtpmPolicy = (extra: Record<string, unknown> = {}) => tdxPolicy(mrTd, { vtpm: { unknownImaEntries: 'violation', ...extra } });

beforeAll(async () => {
  h = await startHarness({ provider, attestationsPerSecond: 10_000 });
  mrTd = await mrTdOf(simulated);
  strict = { ...clientOptions(vtpmPolicy()), reference: base.referenceList() };
});
afterAll(async () => h?.close());

async function chatThrough(options: AttestedClientOptions): Promise<{ client: AttestedClient; text: string }> {
  const client = new AttestedClient(h.gateway.url, options);
  const res = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat('hello vtpm') });
  return { client, text: await res.text() };
}

async function expectRefused(options: AttestedClientOptions, code: string, check?: string): Promise<AttestationRefusedError> {
  const before = h.upstream.received.length;
  const client = new AttestedClient(h.gateway.url, options);
  try {
    const err = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat(SECRET) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AttestationRefusedError);
    const refusal = err as AttestationRefusedError;
    expect(refusal.code).toBe(code);
    if (check) expect(refusal.details.checks).toContain(check);
    // No prompt byte reached the upstream.
    expect(h.upstream.received.slice(before).join('')).not.toContain(SECRET);
    expect(h.upstream.received.length).toBe(before);
    return refusal;
  } finally {
    await client.close();
    provider.reset();
  }
}

/** A relay with its own TLS key: forwards attestation requests to the gateway, records everything else. */
async function startRelay(): Promise<{ url: string; forwarded: number; received: string[]; close(): Promise<void> }> {
  const tls = await generateTls(['127.0.0.1']);
  const state = { forwarded: 0, received: [] as string[] };
  const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url !== '/v1/attestation') {
        state.received.push(body.toString('utf8'));
        return void res.writeHead(200).end('{}');
      }
      state.forwarded += 1;
      const up = httpsRequest(`${h.gateway.url}/v1/attestation`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => res.writeHead(r.statusCode ?? 502, { 'content-type': 'application/json' }).end(Buffer.concat(parts)));
      });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get forwarded() {
      return state.forwarded;
    },
    received: state.received,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

const spki = () => Buffer.from(h.gateway.spkiSha256, 'hex');

/** Re-quotes with the base TPM and another extraData (the hardware part stays genuine). */
function requote(extraData: Uint8Array) {
  return (e: VtpmEvidence): VtpmEvidence => ({ ...e, bundle: base.bundleOf(base.tpm.quote(base.selections, extraData), extraData) });
}

describe('gateway vTPM path', () => {
  it('a chat verifies through the vTPM path: hardware binds nonce, TLS key and AK; quote, boot log, IMA list and reference list pass', async () => {
    const before = h.upstream.received.length;
    const { client, text } = await chatThrough(strict);
    try {
      expect(text).toContain('"done":true');
      expect(h.upstream.received.length).toBe(before + 1);
      const v = client.last!;
      expect(v.tee).toBe('tdx');
      expect(v.spkiSha256).toBe(h.gateway.spkiSha256);
      expect(v.vtpm).toMatchObject({
        akSha256: akPublicSha256(base.tpm.akPublic).toString('hex'),
        quoted: ['sha256: 24 PCRs'],
        eventLogEvents: base.bootLog.log.events.length,
        imaEntries: base.imaList.entries.length,
        bootAggregate: 'match',
        reference: 'simulated vTPM image (tee-verify SimulatedVtpmProvider)',
      });
      expect(v.vtpm!.checks).toEqual(expect.arrayContaining(['VT04', 'VT07', 'VT10', 'VT12', 'VT15', 'VT16']));
    } finally {
      await client.close();
    }
  });

  it('the answer: format "vtpm", the vTPM preimage, a TPM-only bundle whose quote extraData is SHA-256(REPORTDATA)', async () => {
    const nonce = randomBytes(32);
    const r = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: nonce.toString('base64'), format: 'vtpm' }), token: null });
    expect(r.status).toBe(200);
    expect(r.json.format).toBe('vtpm');
    expect(Buffer.from(r.json.reportDataPreimage.label, 'base64').toString('latin1')).toBe('tee-verify gateway vtpm binding v1\0');
    expect(r.json.reportDataPreimage.akSha256).toBe(akPublicSha256(base.tpm.akPublic).toString('hex'));
    expect(r.json.vtpm.format).toBe('tee-verify/vtpm-bundle@1');
    expect(r.json.vtpm.hardware).toBeUndefined();
    const reportData = vtpmBindingReportData(nonce, spki(), akPublicSha256(base.tpm.akPublic));
    expect(Buffer.from(r.json.vtpm.nonce, 'base64')).toEqual(vtpmQuoteExtraData(reportData));
    expect(vtpmQuoteExtraData(reportData)).toEqual(createHash('sha256').update(reportData).digest());
  });

  it('old clients keep working: a request without "format" gets the plain answer, and an old-style client verifies it', async () => {
    const r = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: randomBytes(32).toString('base64') }), token: null });
    expect(r.json.vtpm).toBeUndefined();
    expect(r.json.format).toBeUndefined();
    const { client, text } = await chatThrough({ ...clientOptions(tdxPolicy(mrTd)), vtpm: 'off' });
    expect(text).toContain('"done":true');
    expect(client.last!.vtpm).toBeUndefined();
    await client.close();
  });

  it('a plain gateway answers "format": "plain"; a policy without vtpm section accepts it, one with a vtpm section refuses it', async () => {
    const plain = await startHarness();
    try {
      const r = await plain.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: randomBytes(32).toString('base64'), format: 'vtpm' }), token: null });
      expect(r.json.format).toBe('plain');
      const ok = new AttestedClient(plain.gateway.url, clientOptions(tdxPolicy(mrTd)));
      expect((await ok.attest()).vtpm).toBeUndefined();
      await ok.close();
      const refused = new AttestedClient(plain.gateway.url, strict);
      const err = (await refused.attest().catch((e: unknown) => e)) as AttestationRefusedError;
      await refused.close();
      expect(err.code).toBe('ERR_ATTEST_POLICY');
      expect(err.details.violations).toEqual([expect.objectContaining({ path: '/vtpm' })]);
    } finally {
      await plain.close();
    }
  });

  it('"format" other than vtpm / plain is 400', async () => {
    const r = await h.call('POST', '/v1/attestation', { body: JSON.stringify({ nonce: randomBytes(32).toString('base64'), format: 'tpm' }), token: null });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
  });

  it('a reference list without a policy vtpm section is refused at construction', () => {
    expect(() => new AttestedClient(h.gateway.url, { ...clientOptions(tdxPolicy(mrTd)), reference: base.referenceList() })).toThrow(/vtpm section/);
  });
});

describe('gateway vTPM path: refusals (no prompt byte reaches the upstream)', () => {
  it('TPM quote bound to another nonce: ERR_ATTEST_BINDING (VT10)', async () => {
    const other = vtpmQuoteExtraData(vtpmBindingReportData(randomBytes(32), spki(), akPublicSha256(base.tpm.akPublic)));
    provider.tamper = requote(other);
    const err = await expectRefused(strict, 'ERR_ATTEST_BINDING', 'VT10');
    expect((err.details.cause as { code: string }).code).toBe('ERR_VTPM_NONCE');
  });

  it('TPM quote bound to another TLS key (the hardware part genuine): ERR_ATTEST_BINDING (VT10)', async () => {
    provider.tamper = (e, r) => {
      const nonceless = vtpmQuoteExtraData(vtpmBindingReportData(randomBytes(32), randomBytes(32), akPublicSha256(base.tpm.akPublic)));
      expect(r.extraData).not.toEqual(nonceless);
      return requote(nonceless)(e);
    };
    await expectRefused(strict, 'ERR_ATTEST_BINDING', 'VT10');
  });

  it('a relay terminating TLS with its own key and forwarding the genuine vTPM answer: ERR_ATTEST_BINDING (T41)', async () => {
    const relay = await startRelay();
    try {
      const before = h.upstream.received.length;
      const client = new AttestedClient(relay.url, strict);
      const err = (await client.fetch('/api/chat', { method: 'POST', body: ollamaChat(SECRET) }).catch((e: unknown) => e)) as AttestationRefusedError;
      await client.close();
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect(err.code).toBe('ERR_ATTEST_BINDING');
      expect(err.details.checks).toEqual(['T41']);
      expect(relay.forwarded).toBe(1);
      expect(relay.received.join('')).not.toContain(SECRET);
      expect(h.upstream.received.length).toBe(before);
    } finally {
      await relay.close();
    }
  });

  it('hardware report not committing to the bundle\'s AK (a genuine report paired with an unrelated TPM): ERR_ATTEST_BINDING (T41)', async () => {
    const unrelated = new SimulatedVtpmProvider({ hardware: simulated });
    // The gateway binds the genuine AK into the hardware report, then answers with another TPM's quote and AK.
    provider.akOverride = base.tpm.akPublic;
    provider.tamper = async (e, r) => ({ ...e, bundle: (await unrelated.getVtpmEvidence(r)).bundle });
    await expectRefused(strict, 'ERR_ATTEST_BINDING', 'T41');
  });

  it('PCR replay mismatch (altered boot event log): ERR_ATTEST_VTPM (VT15)', async () => {
    const altered = generateBootEventLog({ seed: 'another image', banks: ['sha1', 'sha256'] });
    provider.tamper = (e) => ({ ...e, bundle: { ...e.bundle, eventLog: altered.bytes } });
    const err = await expectRefused(strict, 'ERR_ATTEST_VTPM', 'VT15');
    expect((err.details.cause as { code: string }).code).toBe('ERR_VTPM_EVENTLOG_MISMATCH');
  });

  it('an unknown IMA file under a strict reference list: ERR_ATTEST_POLICY (VTPM-IMA) naming the entry', async () => {
    const reference = base.referenceList() as { ima: { files: Record<string, string[]> } };
    const dropped = base.imaList.files[3]!;
    delete reference.ima.files[dropped.path];
    const err = await expectRefused({ ...strict, reference }, 'ERR_ATTEST_POLICY', 'VTPM-IMA');
    expect(err.details.violations).toEqual([expect.objectContaining({ path: '/vtpm/unknownImaEntries', actual: expect.objectContaining({ index: dropped.index, path: dropped.path }) })]);
  });

  it('the same list with unknown entries allowed passes (the rule is what refuses)', async () => {
    const reference = base.referenceList() as { ima: { files: Record<string, string[]> } };
    delete reference.ima.files[base.imaList.files[3]!.path];
    const { client } = await chatThrough({ ...clientOptions(vtpmPolicy({ unknownImaEntries: 'allow' })), reference });
    expect(client.last!.vtpm).toBeDefined();
    await client.close();
  });

  it('SHA-1-only bank when SHA-256 is required: ERR_ATTEST_VTPM (VT12)', async () => {
    provider.current = new SimulatedVtpmProvider({ hardware: simulated, quoteBanks: ['sha1'] });
    const err = await expectRefused(strict, 'ERR_ATTEST_VTPM', 'VT12');
    expect((err.details.cause as { code: string }).code).toBe('ERR_VTPM_BANK');
  });
});

describe('tee-verify chat through the vTPM path (CLI in process)', () => {
  let files: { state: string; policy: string; reference: string; plainPolicy: string };
  beforeAll(() => {
    files = { state: join(h.dir, 'state.json'), policy: join(h.dir, 'vtpm-policy.json'), reference: join(h.dir, 'reference.json'), plainPolicy: join(h.dir, 'plain-policy.json') };
    writeFileSync(files.state, JSON.stringify(simulated.exportState()));
    const doc = { tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' };
    writeFileSync(files.policy, JSON.stringify({ ...doc, vtpm: { unknownImaEntries: 'violation' } }));
    writeFileSync(files.plainPolicy, JSON.stringify(doc));
    writeFileSync(files.reference, JSON.stringify(base.referenceList()));
  });

  async function chat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io = { stdout: { write: (t: string) => void (stdout += t) }, stderr: { write: (t: string) => void (stderr += t) }, env: {} };
    const code = await run(['chat', '--gateway', h.gateway.url, '--simulated-state', files.state, '--token', h.token, ...args], io);
    return { code, stdout, stderr };
  }

  it('--reference: prints the vTPM verification, then the answer', async () => {
    const r = await chat(['--policy', files.policy, '--reference', files.reference, '--prompt', 'hi vtpm']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('vTPM: attestation key bound by the hardware report');
    expect(r.stdout).toContain('boot_aggregate match');
    expect(r.stdout).toContain('reference list simulated vTPM image');
  });

  it('--json carries the vtpm summary', async () => {
    const r = await chat(['--policy', files.policy, '--reference', files.reference, '--prompt', 'hi', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { ok: boolean; verification: { vtpm: { imaEntries: number } } };
    expect(doc.ok).toBe(true);
    expect(doc.verification.vtpm.imaEntries).toBe(base.imaList.entries.length);
  });

  it('refused (exit 1) when the reference list misses a measured file; nothing sent', async () => {
    const reference = base.referenceList() as { ima: { files: Record<string, string[]> } };
    delete reference.ima.files[base.imaList.files[0]!.path];
    const partial = join(h.dir, 'partial-reference.json');
    writeFileSync(partial, JSON.stringify(reference));
    const before = h.upstream.received.length;
    const r = await chat(['--policy', files.policy, '--reference', partial, '--prompt', SECRET]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused (ERR_ATTEST_POLICY VTPM-IMA)');
    expect(h.upstream.received.length).toBe(before);
  });

  it('--reference with a policy without vtpm section is a usage error (exit 2)', async () => {
    const r = await chat(['--policy', files.plainPolicy, '--reference', files.reference, '--prompt', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vtpm');
  });
});

describe('tee-gateway serve --simulated-tee tdx --simulated-vtpm (in process)', () => {
  it('serves the vTPM path; tee-verify chat with the written state and reference list verifies it', async () => {
    const { runGatewayCli } = await import('../../src/gateway/cli.js');
    const state = join(h.dir, 'cli-state.json');
    const reference = join(h.dir, 'cli-reference.json');
    const policy = join(h.dir, 'cli-policy.json');
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (t: string) => void (stderr += t) };
    const served = await runGatewayCli(
      ['serve', '--upstream', h.upstream.url, '--db', join(h.dir, 'cli.sqlite'), '--listen', '127.0.0.1:0', '--no-api-key', '--simulated-tee', 'tdx', '--simulated-state', state, '--simulated-vtpm', '--simulated-vtpm-reference', reference],
      io,
    );
    expect(served.code).toBe(0);
    const gateway = served.gateway!;
    try {
      expect(stderr).toContain('simulated vTPM');
      const { SimulatedTeeProvider } = await import('../../src/tee/index.js');
      const hw = SimulatedTeeProvider.fromState((await import('node:fs')).readFileSync(state, 'utf8'));
      writeFileSync(policy, JSON.stringify({ tee: 'tdx', mrTd: [await mrTdOf(hw)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', vtpm: {} }));
      let out = '';
      let err = '';
      const code = await run(['chat', '--gateway', gateway.url, '--simulated-state', state, '--policy', policy, '--reference', reference, '--prompt', 'hi'], {
        stdout: { write: (t: string) => void (out += t) },
        stderr: { write: (t: string) => void (err += t) },
        env: {},
      });
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(out).toContain('vTPM: reference list simulated vTPM image');
    } finally {
      await gateway.close();
    }
  });

  it('vTPM flags that do not go together are refused (exit 2)', async () => {
    const { runGatewayCli } = await import('../../src/gateway/cli.js');
    let stderr = '';
    const r = await runGatewayCli(['serve', '--upstream', h.upstream.url, '--db', join(h.dir, 'x.sqlite'), '--listen', '127.0.0.1:0', '--simulated-tee', '--simulated-vtpm', '--vtpm'], { stdout: () => undefined, stderr: (t) => void (stderr += t) });
    expect(r.code).toBe(2);
    expect(stderr).toContain('not both');
  });
});
