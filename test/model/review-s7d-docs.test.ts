/**
 * Review s7 (new-user findings) for tee-model:
 *
 * (1) The walk-through of docs/model.md, command for command, in process: `tee-model simulated-tee`
 * writes the platform's trust root, collateral and a policy, and prints the measurements a policy
 * must pin (it printed none: the reviewer found the MRTD only in the broker's refusal row);
 * `tee-kbs serve --trust-root --collateral` with `tee-kbs admin policy create` / `key create`;
 * `tee-model encrypt`, then `load --provider simulated`. A policy pinning another MRTD is refused,
 * and `load` now prints the broker's failed checks (`T36 /mrTd: …`), not only "1 violation(s)".
 * The checks of a broker's refusal reach the error bounded (at most 8, each string cut) and are
 * printed escaped, one line each.
 * (2) `tee-model <command> --help` printed "Unknown option '--help'" and exited 2: now the
 * command's usage on stdout, exit 0.
 * (4) The key option was spelled two ways (docs: `-k KEY [--key-file F]`); ERR_MODEL_HEADER,
 * ERR_GATEWAY_INTERNAL, ERR_CHAT and ERR_PARSE_ARGS were used in src but named in no doc.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseEvidence } from '../../src/index.js';
import { runKbsCli } from '../../src/kbs/cli.js';
import type { KeyBroker } from '../../src/kbs/index.js';
import { run } from '../../src/model/cli.js';
import { requestKey } from '../../src/model/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s7d-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} });
  return { code, out, err };
}

/** `tee-kbs ...` in process, as the walk-through runs it. */
async function kbs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string; broker?: KeyBroker }> {
  let out = '';
  let err = '';
  const r = await runKbsCli(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env });
  return { code: r.code, out, err, ...(r.broker ? { broker: r.broker } : {}) };
}

/** The value printed after `name` on its own line of simulated-tee's output. */
function printed(out: string, name: string): string | undefined {
  return new RegExp(`^\\s+${name}\\s+([0-9a-f]+)$`, 'm').exec(out)?.[1];
}

describe('review s7 (new user) item 1: simulated-tee prints what a policy pins', () => {
  it('TDX: the MRTD (and the other T38 fields) of the evidence it signs, and a policy pinning the MRTD', async () => {
    const state = join(dir, 'tdx.json');
    const r = await cli(['simulated-tee', '--state', state, '--policy-out', join(dir, 'tdx-policy.json')]);
    expect(r.code, r.err).toBe(0);
    const p = SimulatedTeeProvider.fromState(await readFile(state, 'utf8'));
    const quote = parseEvidence((await p.getEvidence(randomBytes(64))).evidence);
    if (quote.kind !== 'tdx') throw new Error('not TDX');
    const mrTd = Buffer.from(quote.body.mrTd).toString('hex');
    expect(printed(r.out, 'mrTd')).toBe(mrTd);
    expect(printed(r.out, 'mrConfigId')).toBe(Buffer.from(quote.body.mrConfigId).toString('hex'));
    expect(printed(r.out, 'mrOwner')).toBe(Buffer.from(quote.body.mrOwner).toString('hex'));
    expect(printed(r.out, 'mrOwnerConfig')).toBe(Buffer.from(quote.body.mrOwnerConfig).toString('hex'));
    const policy = JSON.parse(await readFile(join(dir, 'tdx-policy.json'), 'utf8'));
    expect(policy).toEqual({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
    expect(r.out).toContain(JSON.stringify(policy));
  });

  it('SEV-SNP: the MEASUREMENT and HOST_DATA of its report, and a policy pinning the measurement', async () => {
    const state = join(dir, 'snp.json');
    const r = await cli(['simulated-tee', '--state', state, '--simulated-tee', 'snp', '--policy-out', join(dir, 'snp-policy.json')]);
    expect(r.code, r.err).toBe(0);
    const p = SimulatedTeeProvider.fromState(await readFile(state, 'utf8'));
    const report = parseEvidence((await p.getEvidence(randomBytes(64))).evidence);
    if (report.kind !== 'snp') throw new Error('not SNP');
    const measurement = Buffer.from(report.measurement).toString('hex');
    expect(printed(r.out, 'measurement')).toBe(measurement);
    expect(printed(r.out, 'hostData')).toBe(Buffer.from(report.hostData).toString('hex'));
    const t = report.tcb!.reported;
    const product = report.product ?? 'Milan';
    // Review s10: a key-release policy for SEV-SNP needs a TCB floor (S17); the walk-through's policy carries the platform's own.
    expect(JSON.parse(await readFile(join(dir, 'snp-policy.json'), 'utf8'))).toEqual({
      tee: 'snp',
      measurement: [measurement],
      hostData: 'any',
      products: [product],
      tcbMinimums: { [product]: { reported: { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, ...(t.fmc === undefined ? {} : { fmc: t.fmc }) } } },
    });
  });
});

describe('review s7 (new user) item 1: the docs/model.md walk-through, command for command', () => {
  let broker: KeyBroker | undefined;
  afterAll(async () => {
    await broker?.close();
  });

  it('a policy pinning another MRTD is refused with the failed check printed; the printed policy releases the key', async () => {
    const w = join(dir, 'walk');
    await mkdir(join(w, 'model'), { recursive: true });
    const files = { 'config.json': Buffer.from('{"model_type":"demo"}'), 'model.safetensors': randomBytes(64 * 1024) };
    for (const [name, data] of Object.entries(files)) await writeFile(join(w, 'model', name), data);
    const at = (f: string): string => join(w, f);

    // 1. the simulated platform: state, trust root, collateral, policy
    const sim = await cli(['simulated-tee', '--state', at('s.json'), '--trust-root-out', at('r.pem'), '--collateral-out', at('c.json'), '--policy-out', at('policy.json')]);
    expect(sim.code, sim.err).toBe(0);
    // 2. the broker trusting that root and collateral
    const served = await kbs(['serve', '--db', at('kbs.sqlite'), '--listen', '127.0.0.1:0', '--trust-root', at('r.pem'), '--collateral', at('c.json'), '--sqlite-synchronous', 'NORMAL']);
    expect(served.code, served.err).toBe(0);
    broker = served.broker!;
    const url = (JSON.parse(served.out) as { url: string }).url;
    const token = (await readFile(at('kbs.sqlite.admin-token'), 'utf8')).trim();
    const adminArgs = ['--url', url, '--ca', at('kbs.sqlite.tls-cert.pem')];
    const env = { TEE_KBS_TOKEN: token };
    // 3. a model key: the broker's --key-file reads the base64 file keygen writes
    expect((await cli(['keygen', '-o', at('model.key')])).code).toBe(0);

    const keyUnder = async (policyFile: string): Promise<string> => {
      const policy = await kbs(['admin', 'policy', 'create', policyFile, ...adminArgs], env);
      expect(policy.code, policy.err).toBe(0);
      const key = await kbs(['admin', 'key', 'create', '--policy', (JSON.parse(policy.out) as { id: string }).id, '--key-file', at('model.key'), ...adminArgs], env);
      expect(key.code, key.err).toBe(0);
      return (JSON.parse(key.out) as { id: string }).id;
    };
    const load = async (keyId: string, out: string) => {
      const enc = at(`enc-${out}`);
      const e = await cli(['encrypt', '-i', at('model'), '-o', enc, '--key-file', at('model.key'), '--kbs-url', url, '--key-id', keyId]);
      expect(e.code, e.err).toBe(0);
      return cli(['load', '--kbs', url, '--key-id', keyId, '-i', enc, '-o', at(out), '--provider', 'simulated', '--simulated-state', at('s.json'), '--ca-cert', at('kbs.sqlite.tls-cert.pem')]);
    };

    // Another MRTD: refused, and the user is told which check failed and with which MRTD.
    const mrTd = printed(sim.out, 'mrTd')!;
    const other = JSON.parse(await readFile(at('policy.json'), 'utf8'));
    other.mrTd = ['00'.repeat(48)];
    await writeFile(at('other-policy.json'), JSON.stringify(other));
    const refused = await load(await keyUnder(at('other-policy.json')), 'out-refused');
    expect(refused.code, refused.err).toBe(1);
    expect(refused.err).toContain('does not meet the key-transfer policy (1 violation(s))');
    expect(refused.err).toMatch(new RegExp(`^tee-model load:\\s+T36 /mrTd: .*${mrTd}`, 'm'));

    // The policy simulated-tee wrote: the key is released and the files come back.
    const ok = await load(await keyUnder(at('policy.json')), 'out');
    expect(ok.code, ok.err).toBe(0);
    for (const [name, data] of Object.entries(files)) expect((await readFile(at(join('out', name)))).equals(data)).toBe(true);
  }, 120_000);
});

describe("review s7 (new user) item 1: a refusing broker's checks, bounded and escaped", () => {
  let server: Server;
  let base: string;
  const checks = Array.from({ length: 20 }, (_, i) => ({
    check: `T${i}`,
    path: i === 0 ? '/mrTd\n\u001b[2Jforged' : `/p${i}`,
    message: i === 1 ? 'x'.repeat(10_000) : `failed\r\ntee-model load: key released by evil ${i}`,
    extra: 'dropped',
  }));
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // Nonce requests (empty body) and transfers alike: a 401 with 20 checks.
        res.writeHead(401, { 'content-type': 'application/json' });
        // Key id "junk": 10 unusable entries first, then 3 real checks (they must not be hidden).
        const body = req.url?.includes('junk') ? [null, 'x', 7, {}, { check: 5 }, [], null, 'y', {}, { other: 'z' }, ...checks.slice(2, 5)] : checks;
        res.end(JSON.stringify({ error: 'refused\u009b', code: 'ERR_KBS_POLICY', checks: body }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('requestKey: details.checks holds at most 8 entries of known string fields, each bounded; checksOmitted the rest', async () => {
    const provider = new SimulatedTeeProvider();
    const e = await requestKey({ url: base, keyId: 'k', provider, nonce: false, allowInsecureHttp: true }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 401, checksOmitted: 12 } });
    const got = (e as { details: { checks: Record<string, string>[] } }).details.checks;
    expect(got).toHaveLength(8);
    expect(got[0]).toEqual({ check: 'T0', path: checks[0]!.path, message: checks[0]!.message });
    expect(got[1]!.message!.length).toBeLessThan(300);
    expect(got[1]!.message).toContain('(10000 characters)');
  });

  it('unusable entries at the head of the list do not hide the real checks (filtered before the bound)', async () => {
    const provider = new SimulatedTeeProvider();
    const e = await requestKey({ url: base, keyId: 'junk', provider, nonce: false, allowInsecureHttp: true }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_KBS_HTTP', details: { status: 401 } });
    const details = (e as { details: { checks: Record<string, string>[]; checksOmitted?: number } }).details;
    expect(details.checks.map((c) => c.check)).toEqual(['T2', 'T3', 'T4']);
    expect(details.checksOmitted ?? 0).toBe(0);
  });

  it('tee-model load prints one escaped line per check and says how many it left out', async () => {
    const src = join(dir, 'plain');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'config.json'), '{}');
    const key = (await cli(['keygen'])).out.trim();
    expect((await cli(['encrypt', '-i', src, '-o', join(dir, 'enc-bounded'), '-k', key])).code).toBe(0);
    const r = await cli(['load', '--kbs', base, '--key-id', 'k', '--allow-insecure-http', '--nonce', 'no', '-i', join(dir, 'enc-bounded'), '-o', join(dir, 'out-bounded'), '--provider', 'simulated', '--simulated-state', join(dir, 'bounded.json')]);
    expect(r.code).toBe(1);
    const lines = r.err.split('\n').filter((l) => l !== '');
    // No raw control characters: every line is one of ours.
    for (const l of lines) expect(l).toMatch(/^tee-model load: /);
    expect(r.err).not.toMatch(/[\u001b\r\u009b]/);
    expect(r.err).not.toMatch(/^tee-model load: key released/m);
    const checkLines = lines.filter((l) => /^tee-model load: {3}/.test(l));
    expect(checkLines).toHaveLength(9);
    expect(checkLines[0]).toContain('T0 /mrTd\\x0a\\x1b[2Jforged: failed\\x0d\\x0atee-model load: key released by evil 0');
    expect(checkLines[1]!.length).toBeLessThan(400);
    expect(checkLines[8]).toBe('tee-model load:   (12 more check(s) not shown)');
  });
});

describe('review s7 (new user) item 2: tee-model <command> --help', () => {
  for (const command of ['keygen', 'encrypt', 'decrypt', 'load', 'simulated-tee']) {
    for (const flag of ['--help', '-h']) {
      it(`${command} ${flag}: its usage on stdout, exit 0, nothing done`, async () => {
        const r = await cli([command, flag]);
        expect(r.code, r.err).toBe(0);
        expect(r.err).toBe('');
        expect(r.out).toMatch(new RegExp(`^usage:\\n  tee-model ${command} `));
        expect(r.out).toContain('See docs/model.md');
      });
    }
  }

  it('encrypt --help and decrypt --help name the key as (-k KEY | --key-file F), as docs/model.md does', async () => {
    for (const command of ['encrypt', 'decrypt']) expect((await cli([command, '--help'])).out).toContain('(-k KEY | --key-file F)');
    const doc = await readFile(new URL('../../docs/model.md', import.meta.url), 'utf8');
    for (const line of ['tee-model encrypt -i DIR|FILE -o DIR|FILE (-k KEY | --key-file F)', 'tee-model decrypt -i DIR|FILE -o DIR|FILE (-k KEY | --key-file F)']) {
      expect(doc.includes(line), `docs/model.md lacks: ${line}`).toBe(true);
    }
  });
});

describe('review s7 (new user) item 4: every code the loader and the gateway use is documented', () => {
  const docs = ['error-codes.md', 'model.md', 'gateway.md'].map((f) => readFileSync(new URL(`../../docs/${f}`, import.meta.url), 'utf8')).join('\n');
  const codesIn = (folder: string): string[] => {
    const root = new URL(`../../src/${folder}/`, import.meta.url);
    const found = new Set<string>();
    for (const f of readdirSync(root, { recursive: true }) as string[]) {
      if (!f.endsWith('.ts')) continue;
      for (const m of readFileSync(new URL(f, root), 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]+)/g)) found.add(m[1]!);
    }
    return [...found];
  };
  for (const folder of ['model', 'kbs-client', 'tee', 'gateway']) {
    it(`src/${folder}: each ERR_ code in docs/error-codes.md, model.md or gateway.md`, () => {
      const codes = codesIn(folder);
      expect(codes.length).toBeGreaterThan(0);
      expect(codes.filter((c) => !docs.includes(c))).toEqual([]);
    });
  }
  it('the four the review named have rows in docs/error-codes.md', () => {
    const table = readFileSync(new URL('../../docs/error-codes.md', import.meta.url), 'utf8');
    for (const code of ['ERR_MODEL_HEADER', 'ERR_GATEWAY_INTERNAL', 'ERR_CHAT', 'ERR_PARSE_ARGS']) expect(table).toMatch(new RegExp(`^\\| \`${code}`, 'm'));
  });
});
