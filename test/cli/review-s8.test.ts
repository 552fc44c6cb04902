/**
 * Review, session 8 (CLI): each finding's reproduction, which failed on the
 * code before its fix. Real evidence from the shared vectors: the GCE
 * TPM-only vTPM bundle and phala's TDX quote.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { runChatSession, type ChatIo } from '../../src/gateway/chat-cli.js';
import { CollateralService, defaultPolicy } from '../../src/index.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy } from '../gateway/helpers.js';
import { startStub } from '../gateway/review-s6-stub.js';
import { HAVE_VECTORS, loadManifest, vectorPath } from '../helpers/vectors.js';
import { TempDirs, VectorServers, cli, cliJson, entryOf, verifyArgs } from './helpers.js';
import { GCE_AT, GCE_DIR, gceBundleText, gcePcrs, readVector } from './vtpm-bundles.js';

const temps = new TempDirs();
const servers = new VectorServers();
afterAll(async () => {
  await servers.closeAll();
  temps.cleanup();
});

const TDX = 'phala-dcap-qvl/tdx_quote';

/** The default SNP policy with a vtpm section, as `policy default snp` plus one member. */
function snpPolicyFile(extra: Record<string, unknown>): string {
  return temps.file('policy.json', JSON.stringify({ ...defaultPolicy('snp'), ...extra }));
}

describe.skipIf(!HAVE_VECTORS)('finding 1: an explicit --policy on a TPM-only bundle is applied (its vtpm section) or refused', () => {
  const gce = () => {
    const bundle = temps.file('gce.json', gceBundleText());
    const ak = temps.file('gce-ak.pub', readVector(`${GCE_DIR}/ak_pub.tpmt_public`));
    // An empty cache: nothing in it, and nothing needed.
    return ['verify', bundle, '--nonce', '9009', '--ak', ak, '--offline', '--cache-dir', temps.make(), '--at', GCE_AT];
  };
  const pcr0 = () => gcePcrs('sha256')['0']!;

  it("the review's command: a vtpm.pcrs value the quote does not have is a policy rejection (exit 1), not TRUSTED", async () => {
    const policy = snpPolicyFile({ vtpm: { pcrs: { sha256: { '0': ['00'.repeat(32)] } } } });
    const human = await cli([...gce(), '--policy', policy]);
    expect(human.code).toBe(1);
    expect(human.stdout).not.toMatch(/policy passed/);
    expect(human.stdout).toMatch(/VTPM-PCR\s+\/vtpm\/pcrs\/sha256\/0/);
    expect(human.stdout).toMatch(/Result: REJECTED by the policy \(exit 1\)/);
    const r = await cliJson([...gce(), '--policy', policy]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, tee: null, error: null });
    expect(r.json['violations']).toEqual([expect.objectContaining({ check: 'VTPM-PCR', path: '/vtpm/pcrs/sha256/0', actual: pcr0() })]);
    expect(r.json['warnings']).not.toContainEqual(expect.stringMatching(/not applied/));
  });

  it('a vtpm section the quoted PCRs meet passes (exit 0) and says the policy was applied', async () => {
    const policy = snpPolicyFile({ vtpm: { pcrs: { sha256: { '0': [pcr0()] }, sha384: { '7': [gcePcrs('sha384')['7']!] } } } });
    const r = await cli([...gce(), '--policy', policy]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/policy\s+.*policy\.json: its vtpm section/);
    expect(r.stdout).toMatch(/Policy\s+PASS\s+satisfied/);
    expect(r.stdout).toMatch(/Result: TRUSTED: verification and policy passed \(exit 0\)/);
  });

  it('a policy that pins hardware claims is a usage error (exit 2) naming them, before any verification', async () => {
    const policy = snpPolicyFile({ measurement: ['ab'.repeat(48)], vtpm: { pcrs: { sha256: { '0': [pcr0()] } } } });
    const r = await cli([...gce(), '--policy', policy]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/pins hardware claims \(\/measurement\) that a TPM-only bundle does not have/);
    const json = await cliJson([...gce(), '--policy', policy]);
    expect(json.code).toBe(2);
    expect(json.json).toMatchObject({ ok: false, error: { code: 'ERR_USAGE', errorClass: 'USAGE' }, checks: [] });
  });

  it('a TDX policy with measurements pinned is refused the same way', async () => {
    const tdx = { ...defaultPolicy('tdx'), mrTd: ['11'.repeat(48)], rtmr0: ['22'.repeat(48)] };
    const r = await cli([...gce(), '--policy', temps.file('tdx.json', JSON.stringify(tdx))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\(\/mrTd, \/rtmr0\)/);
  });

  it('a policy without a vtpm section has nothing to apply: exit 2', async () => {
    const r = await cli([...gce(), '--policy', snpPolicyFile({})]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no "vtpm" section: nothing in it applies to a TPM-only bundle/);
  });

  it('without --policy: exit 0, and the verdict does not claim a policy passed', async () => {
    const r = await cli(gce());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Result: TRUSTED: verification passed, no policy applied \(exit 0\)/);
    expect(r.stdout).not.toMatch(/policy passed/);
  });
});

describe.skipIf(!HAVE_VECTORS)('finding 2: bundle-only options on a quote are a usage error pointing to --report-data', () => {
  const quoteArgs = async (extra: string[]) => verifyArgs(TDX, (await servers.for(TDX)).url, extra);

  it('control: the phala TDX quote verifies (exit 0) without them', async () => {
    expect((await cli(await quoteArgs([]))).code).toBe(0);
  });

  it.each([
    [['--nonce', '9009'], '--nonce applies'],
    [['--ak', 'ak.pub'], '--ak applies'],
    [['--ak-name', `000b${'00'.repeat(32)}`], '--ak-name applies'],
    [['--allow-sha1'], '--allow-sha1 applies'],
    [['--nonce', '9009', '--ak-name', `000b${'00'.repeat(32)}`], '--nonce, --ak-name apply'],
  ])('%j: exit 2, nothing verified', async (extra, named) => {
    const r = await cli(await quoteArgs(extra));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`error: ${named} to vTPM bundles only`);
    expect(r.stderr).toContain('--report-data');
    const json = await cliJson(await quoteArgs(extra));
    expect(json.code).toBe(2);
    expect(json.json).toMatchObject({ ok: false, tee: null, error: { code: 'ERR_USAGE' }, checks: [], warnings: [] });
  });
});

/** Raw controls a terminal acts on: C0 but newline, DEL, C1, and the bidi override. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/;
const HOSTILE = '\u001b]0;pwned\u0007\u001b[31mRED\u009b2J\u202e';

describe('finding 3: batch prints file names and messages with their controls visible', () => {
  it('an unreadable input named with ESC / CSI / a bidi override: the error line is safe', async () => {
    const r = await cli(['batch', `x${HOSTILE}`, '--out', join(temps.make(), 'out.jsonl')]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(r.stderr).toContain('error: input x\\x1b]0;pwned\\x07\\x1b[31mRED\\x9b2J\\u{202e} cannot be read');
  });

  it('a policy whose unknown member name carries controls: the error line is safe', async () => {
    const policy = temps.file('p.json', JSON.stringify({ ...defaultPolicy('tdx'), [HOSTILE]: 1 }));
    const input = temps.file('in.jsonl', '');
    const r = await cli(['batch', input, '--out', join(temps.make(), 'out.jsonl'), '--policy', policy, '--workers', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*\\x1b\]0;pwned/);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
  });

  it('the summary names --out and --summary paths with controls made visible', async () => {
    const dir = temps.make();
    mkdirSync(join(dir, HOSTILE));
    const input = temps.file('in.jsonl', '');
    const r = await cli(['batch', input, '--out', join(dir, HOSTILE, 'out.jsonl'), '--summary', join(dir, HOSTILE, 's.json'), '--workers', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('results: ');
    expect(r.stdout).toContain('\\x1b[31mRED');
    expect(r.stdout + r.stderr).not.toMatch(RAW_CONTROL);
  });
});

describe.skipIf(!HAVE_VECTORS)('finding 4: --offline --no-cache is refused only where collateral is needed', () => {
  const offline = ['--offline', '--no-cache'];

  it('a TPM-only bundle needs no collateral: exit 0 with --offline --no-cache alone', async () => {
    const bundle = temps.file('gce.json', gceBundleText());
    const ak = temps.file('gce-ak.pub', readVector(`${GCE_DIR}/ak_pub.tpmt_public`));
    const r = await cliJson(['verify', bundle, '--nonce', '9009', '--ak', ak, '--at', GCE_AT, ...offline]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tee: null, error: null });
  });

  it('a quote still needs a source: exit 2 naming --collateral', async () => {
    const e = entryOf(TDX);
    const r = await cli(['verify', vectorPath(e.file), '--at', e.verification_time!, ...offline]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--offline needs --collateral <bundle>/);
  });

  it('collateral fetch and export too', async () => {
    const e = entryOf(TDX);
    for (const sub of ['fetch', 'export']) {
      const r = await cli(['collateral', sub, vectorPath(e.file), '--out', join(temps.make(), 'b.json'), ...offline]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--offline needs --collateral <bundle>/);
    }
  });
});

describe('finding 5: chat exits 3 (retry later) when the gateway cannot be reached or answers 5xx; 1 stays "refused"', () => {
  const chatIo = (): ChatIo & { out: () => string; err: () => string } => {
    let out = '';
    let err = '';
    return { stdout: (t) => void (out += t), stderr: (t) => void (err += t), out: () => out, err: () => err };
  };
  let policy: ReturnType<typeof tdxPolicy>;
  // Port 1 on loopback: nothing listens there, and no test server can be given it (port 0 picks from
  // the ephemeral range), unlike a port closed after a probe, which another test file may take.
  const CLOSED_PORT = 1;
  /** A server that drops every connection at once; it keeps its port until closed. */
  const droppingServer = async (): Promise<{ port: number; close: () => Promise<void> }> => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
  };

  it('a closed port (ECONNREFUSED): tee-verify chat exits 3, --json names ERR_ATTEST_EXCHANGE', async () => {
    const gateway = `https://127.0.0.1:${CLOSED_PORT}`;
    const policyFile = temps.file('chat-policy.json', JSON.stringify({ ...defaultPolicy('tdx'), mrTd: ['11'.repeat(48)] }));
    const r = await cli(['chat', '--gateway', gateway, '--policy', policyFile, '--prompt', 'hi']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(r.stderr).toContain('(retry later)');
    const json = await cli(['chat', '--gateway', gateway, '--policy', policyFile, '--prompt', 'hi', '--json']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'ERR_ATTEST_EXCHANGE' } });
  });

  it('the attestation answered 503: exit 3; answered 403: still refused (exit 1)', async () => {
    policy = tdxPolicy(await mrTdOf(simulated));
    for (const [status, code] of [
      [503, 3],
      [500, 3],
      [403, 1],
    ] as const) {
      const stub = await startStub((t) => {
        t.res.writeHead(status, { 'content-type': 'application/json' });
        t.res.end(JSON.stringify({ error: { code: 'ERR_GATEWAY_X', message: 'no' } }));
      });
      try {
        const io = chatIo();
        expect(await runChatSession({ gateway: stub.url, client: clientOptions(policy), api: 'ollama', model: 'm', prompt: 'hi' }, io)).toBe(code);
        expect(io.err()).toContain(`answered ${status}`);
      } finally {
        await stub.close();
      }
    }
  });

  it('the chat request answered 502 (the model backend is down) after a good attestation: exit 3, ERR_CHAT_UNAVAILABLE', async () => {
    policy = tdxPolicy(await mrTdOf(simulated));
    const dead = await droppingServer();
    const h = await startHarness({ upstream: `http://127.0.0.1:${dead.port}`, requireApiKey: false });
    try {
      const io = chatIo();
      const code = await runChatSession({ gateway: h.gateway.url, client: clientOptions(policy), api: 'ollama', model: 'm', prompt: 'hi', json: true }, io);
      expect(JSON.parse(io.out())).toMatchObject({ ok: false, error: { code: 'ERR_CHAT_UNAVAILABLE', message: expect.stringMatching(/^the gateway answered 5\d\d/) } });
      expect(code).toBe(3);
    } finally {
      await h.close();
      await dead.close();
    }
  });
});

describe('finding 6: --at with a field out of range is a usage error, not another instant', () => {
  it.each(['2025-06-31T10:00:34Z', '2025-02-30', '2025-02-29T00:00:00Z', '2025-07-19T24:00:00Z', '2025-07-19T10:60:00Z', '2025-07-19T10:00:60Z', '2025-13-01', '2025-00-10', '2025-07-00', '2025-07-19T10:00:00+24:00', '2025-07-19T10:00:00+05:60'])(
    '%s: exit 2',
    async (at) => {
      const r = await cliJson(['verify', temps.file('q.bin', 'x'), '--at', at]);
      expect(r.code).toBe(2);
      expect(r.json['error']).toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining(`--at must be an ISO-8601 instant`) });
      // Smaller finding: no instant was fixed, so none is reported.
      expect(r.json['at']).toBeNull();
    },
  );

  it('a usage error after the instant was fixed (an unreadable --policy) still reports it', async () => {
    const r = await cliJson(['verify', temps.file('q.bin', 'x'), '--at', '2025-07-19T10:00:34Z', '--policy', join(temps.make(), 'missing.json')]);
    expect(r.code).toBe(2);
    expect(r.json['at']).toBe('2025-07-19T10:00:34.000Z');
  });

  it.each([
    ['2024-02-29T23:59:59Z', '2024-02-29T23:59:59.000Z'],
    ['2025-06-30', '2025-06-30T00:00:00.000Z'],
    ['2025-07-19T10:00:34+02:00', '2025-07-19T08:00:34.000Z'],
    ['2025-07-19T10:00', '2025-07-19T10:00:00.000Z'],
  ])('%s is accepted as %s', async (at, iso) => {
    const { parseVerifyArgs } = await import('../../src/cli/verify-args.js');
    expect(parseVerifyArgs(['q.bin', '--at', at])!.at!.toISOString()).toBe(iso);
  });
});

describe.skipIf(!HAVE_VECTORS)('finding 7: collateral fetch prints its warnings on stderr, the report on stdout', () => {
  afterEach(() => vi.restoreAllMocks());

  it("a collateral warning (here added to the service's real answer) goes to stderr only", async () => {
    const original = CollateralService.prototype.forEvidence;
    vi.spyOn(CollateralService.prototype, 'forEvidence').mockImplementation(async function (this: CollateralService, ...a: Parameters<typeof original>) {
      const c = await original.apply(this, a);
      return { ...c, warnings: [...c.warnings, 'grace period used: test warning'] };
    });
    const e = entryOf(TDX);
    const server = await servers.for(TDX);
    const r = await cli(['collateral', 'fetch', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', server.url, '--no-cache', '--retries', '0', '--out', join(temps.make(), 'b.json')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote 4 artifacts/);
    expect(r.stdout).not.toContain('warning');
    expect(r.stderr).toBe('warning: grace period used: test warning\n');
  });
});

describe('finding 8: every option a command parses is named in its --help', () => {
  const commands: [string[], () => Promise<Record<string, unknown>>][] = [
    [['verify'], async () => (await import('../../src/cli/verify-args.js')).VERIFY_OPTION_SPEC],
    [['show'], async () => (await import('../../src/cli/show.js')).SHOW_OPTION_SPEC],
    [['collateral', 'fetch'], async () => (await import('../../src/cli/collateral.js')).COLLATERAL_SUBCOMMAND_OPTIONS.fetch],
    [['collateral', 'export'], async () => (await import('../../src/cli/collateral.js')).COLLATERAL_SUBCOMMAND_OPTIONS.export],
    [['collateral', 'import'], async () => (await import('../../src/cli/collateral.js')).COLLATERAL_SUBCOMMAND_OPTIONS.import],
    [['dev', 'quote'], async () => (await import('../../src/cli/dev.js')).DEV_QUOTE_OPTION_SPEC],
    [['dev', 'vtpm-evidence'], async () => (await import('../../src/cli/dev-vtpm.js')).DEV_VTPM_OPTION_SPEC],
    [['demo'], async () => (await import('../../src/cli/demo.js')).DEMO_OPTION_SPEC],
    [['chat'], async () => (await import('../../src/cli/chat.js')).CHAT_OPTIONS],
    [['serve'], async () => (await import('../../src/cli/serve.js')).SERVE_OPTIONS],
    [['batch'], async () => (await import('../../src/cli/batch.js')).BATCH_OPTIONS],
  ];

  it('the list covers every help topic', async () => {
    const { HELP_TOPICS } = await import('../../src/cli/help.js');
    expect(new Set(commands.map(([argv]) => argv[0]))).toEqual(new Set(HELP_TOPICS.filter((t) => t !== 'policy'))); // policy's subcommands take no option
  });

  it.each(commands)('%j --help names every option', async (argv, spec) => {
    const r = await cli([...argv, '--help']);
    expect(r.code).toBe(0);
    const missing = Object.keys(await spec()).filter((k) => k !== 'help' && !new RegExp(`--${k}(?![\\w-])`).test(r.stdout));
    expect(missing).toEqual([]);
  });
});

describe.skipIf(!HAVE_VECTORS)('finding 9: a check recorded as "not checked" is not printed as PASS', () => {
  const gce = (extra: string[] = []) => {
    const bundle = temps.file('gce.json', gceBundleText());
    const ak = temps.file('gce-ak.pub', readVector(`${GCE_DIR}/ak_pub.tpmt_public`));
    return ['verify', bundle, '--nonce', '9009', '--ak', ak, '--offline', '--no-cache', '--at', GCE_AT, ...extra];
  };

  it('VT05 without --ak-name: SKIP in the human report, status "not-checked" in --json; the others pass', async () => {
    const human = await cli(gce());
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ {2}SKIP {2}VT05 {2}not checked: /m);
    expect(human.stdout).not.toMatch(/PASS\s+VT05/);
    expect(human.stdout).toMatch(/^ {2}PASS {2}VT04 /m);
    const r = await cliJson(gce());
    const checks = r.json['checks'] as { id: string; description: string; status: string }[];
    expect(checks.find((c) => c.id === 'VT05')).toMatchObject({ status: 'not-checked', description: expect.stringMatching(/^not checked: /) });
    expect(checks.filter((c) => c.id !== 'VT05').every((c) => c.status === 'pass')).toBe(true);
    expect(Object.keys(checks[0]!)).toEqual(['id', 'description', 'status']);
  });

  it('on a terminal the mark is a yellow dash, not the green check', async () => {
    const r = await cli(gce(), { tty: true });
    expect(r.stdout).toMatch(/\u001b\[33m–\u001b\[39m {2}VT05/);
  });

  it('with the pinned AK Name VT05 passes', async () => {
    const name = (loadManifest().find((m) => m.id === 'go-tpm-tools/gce-cos-85-nonce9009-quote-sha256')!.checks['ak_public'] as { name: string }).name;
    const r = await cliJson(gce(['--ak-name', name]));
    expect((r.json['checks'] as { id: string; status: string }[]).find((c) => c.id === 'VT05')).toMatchObject({ status: 'pass' });
  });
});

describe.skipIf(!HAVE_VECTORS)('smaller: the grace period is reported once per expired artifact in the human report', () => {
  const graceArgs = () => {
    const e = entryOf(TDX);
    const policy = temps.file('grace.json', JSON.stringify({ ...defaultPolicy('tdx'), collateral: { expiryGraceSeconds: 7200 } }));
    // An hour after the PCK CRL, TCB info and QE identity of the recorded bundle expired.
    return ['verify', vectorPath(e.file), '--at', '2025-07-19T11:00:00Z', '--offline', '--no-cache', '--collateral', vectorPath(e.collateral['collateral_bundle']!), '--policy', policy];
  };

  it('three artifacts in grace: three lines naming key, expiry, grace and the checks that reported it; --json keeps them all', async () => {
    const human = await cli(graceArgs());
    expect(human.code).toBe(0);
    const lines = human.stdout.split('\n').filter((l) => l.includes('grace period used'));
    expect(lines).toEqual([
      "  - grace period used: intel/tcb-info/tdx/b0c06f000000/update=standard expired at 2025-07-19T10:16:03.000Z, within the policy's grace of 7200 s (T18, T45, X02)",
      "  - grace period used: intel/qe-identity/tdx/update=standard expired at 2025-07-19T10:32:27.000Z, within the policy's grace of 7200 s (T21, T45, X02)",
      "  - grace period used: intel/pck-crl/platform expired at 2025-07-19T10:00:35.000Z, within the policy's grace of 7200 s (T14, T45, X02)",
    ]);
    const json = await cliJson(graceArgs());
    expect((json.json['warnings'] as string[]).filter((w) => w.includes('grace period used')).length).toBeGreaterThan(3);
  });

  it('collapseGraceWarnings keeps other warnings in place and a keyless grace line that no keyed line covers', async () => {
    const { collapseGraceWarnings } = await import('../../src/cli/grace-warnings.js');
    expect(
      collapseGraceWarnings([
        'first',
        'grace period used: amd/crl/Milan/vcek expired at 2025-01-01T00:00:00.000Z',
        'grace period used: S09 AMD CRL expired at 2025-01-01T00:00:00.000Z (grace 60 s)',
        'middle',
        'grace period used: T14 PCK CRL expired at 2025-02-02T00:00:00.000Z (grace 60 s)',
        'middle',
      ]),
    ).toEqual(['first', 'grace period used: amd/crl/Milan/vcek expired at 2025-01-01T00:00:00.000Z (grace 60 s) (S09)', 'middle', 'grace period used: T14 PCK CRL expired at 2025-02-02T00:00:00.000Z (grace 60 s)']);
  });
});

describe.skipIf(!HAVE_VECTORS)('smaller: the collateral header names --certs when it supplied the VCEK', () => {
  it('an air-gapped SEV-SNP report: "certificates --certs <file>", not "none"', async () => {
    const e = entryOf('ms-tee-attestation-verification/milan');
    const certs = temps.file('certs.pem', ['vcek', 'ask', 'ark'].map((role) => readFileSync(vectorPath(e.collateral[role]!), 'latin1')).join('\n'));
    const r = await cli(['verify', vectorPath(e.file), '--at', e.verification_time!, '--offline', '--no-cache', '--certs', certs, '--skip-crl']);
    expect(r.stdout).toContain(`  collateral   certificates --certs ${certs}\n`);
    const cached = await cli(['verify', vectorPath(e.file), '--at', e.verification_time!, '--offline', '--cache-dir', temps.make(), '--certs', certs, '--skip-crl']);
    expect(cached.stdout).toMatch(new RegExp(`collateral {3}certificates --certs ${certs.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, cache `));
  });
});

describe('smaller: show --json and chat --prompt --json print a JSON object on usage and file errors too', () => {
  it.each([
    [['show', 'missing.bin'], 2, 'ERR_INPUT'],
    [['show', 'q.bin', '--frobnicate'], 2, 'ERR_USAGE'],
  ])('%j --json: exit %i, {"ok": false, "error": {"code": %s}} on stdout', async (argv, code, errorCode) => {
    const dir = temps.make();
    const r = await cli([...argv.map((a) => (a.endsWith('.bin') ? join(dir, a) : a)), '--json']);
    expect(r.code).toBe(code);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: errorCode, errorClass: 'USAGE' } });
    expect(r.stderr).toMatch(/^error: /);
  });

  it('show --json of malformed evidence: exit 1 and the parse error as JSON', async () => {
    const r = await cli(['show', temps.file('short.bin', new Uint8Array(100)), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { errorClass: 'PARSE' } });
  });

  it('chat --prompt --json with an unreadable --policy or a bad --gateway: exit 2 and one JSON line', async () => {
    const missing = await cli(['chat', '--gateway', 'https://127.0.0.1:9', '--policy', join(temps.make(), 'none.json'), '--prompt', 'hi', '--json']);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toEqual({ ok: false, gateway: 'https://127.0.0.1:9', error: { code: 'ERR_INPUT', message: expect.stringContaining('none.json') } });
    const http = await cli(['chat', '--gateway=http://127.0.0.1:9', '--policy', 'p.json', '--prompt', 'hi', '--json']);
    expect(http.code).toBe(2);
    expect(JSON.parse(http.stdout)).toMatchObject({ ok: false, gateway: 'http://127.0.0.1:9', error: { code: 'ERR_USAGE', message: '--gateway must be an https: URL' } });
  });
});

describe('smaller: serve --signing-key that cannot be decoded names the file', () => {
  it('exit 2, ERR_INPUT, the file in the message; nothing listens', async () => {
    const key = temps.file('junk-key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    chmodSync(key, 0o600); // a key file others may read is refused first (s16 env finding 4)
    const r = await cli(['serve', '--listen', '127.0.0.1:0', '--signing-key', key, '--offline', '--cache-dir', temps.make()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --signing-key ${key}: not a PEM private key (`);
  });
});
