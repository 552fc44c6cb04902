/**
 * Review s7d, items 3, 4 and 7: the key broker's documented commands, run as written.
 * - The PostgreSQL start examples of docs/kbs.md and docs/scale-out.md exited 78 on an empty
 *   database (no --admin-token-file): each is run against a fresh database and must start.
 * - The batch recipe for the broker's log (docs/kbs.md) judged every record under the default
 *   policy, so a transfer refused for a wrong MRTD came back ok: true: the recipe is run on an
 *   exported log and the refusal must come back rejected.
 * - Every code the broker answers with has its row in docs/error-codes.md, and the start-up table
 *   of docs/scale-out.md names ERR_KBS_UPGRADE_REQUIRED and ERR_KBS_INTEGRITY.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { exportBundle } from '../../src/index.js';
import { runKbsCli } from '../../src/kbs/cli.js';
import { selfSignedTls } from '../../src/kbs/files.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped } from '../helpers/postgres.js';
import { capture, readResults, requireBuilt } from '../batch/helpers.js';
import { makePlatform, newClient, quoteFor, sha512, startHarness, tdxPolicy, transferPath, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s7d-docs.test.ts');

const docs = new URL('../../docs/', import.meta.url);
const doc = (name: string): string => readFileSync(new URL(name, docs), 'utf8');

/** The commands of a document's ```sh blocks, continuation lines joined. */
function shellCommands(text: string): string[][] {
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] as string).replace(/\\\n\s*/g, ' '));
  return blocks.map((b) => b.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
}

/** The serve commands of a document that run on PostgreSQL (the URL on the line or exported before it in its block). */
function postgresServeCommands(text: string): string[] {
  const found: string[] = [];
  for (const block of shellCommands(text)) {
    let pgExported = false;
    for (const line of block) {
      if (/^export TEE_KBS_DATABASE='postgres:/.test(line)) pgExported = true;
      if (/tee-kbs serve/.test(line) && (pgExported || /postgres:\/\//.test(line))) found.push(line);
    }
  }
  return found;
}

describe('the PostgreSQL start examples start on an empty database (review s7d item 3)', () => {
  const examples = [
    ...postgresServeCommands(doc('kbs.md')).map((line) => ({ doc: 'kbs.md', line })),
    ...postgresServeCommands(doc('scale-out.md')).map((line) => ({ doc: 'scale-out.md', line })),
  ];

  it('each document has one', () => {
    expect(examples.map((e) => e.doc)).toEqual(['kbs.md', 'scale-out.md']);
  });

  describe.skipIf(PG_SKIP_REASON)('', () => {
    let dir: string;
    let tls: { cert: string; key: string };
    let bundle: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s7d-docs-'));
      tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
      await selfSignedTls(tls.cert, tls.key, ['127.0.0.1']);
      bundle = join(dir, 'bundle.json');
      writeFileSync(bundle, exportBundle(Object.values(makePlatform().collateral)));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each(examples)('docs/$doc: the serve command as written', async ({ line }) => {
      const args = (line.split(/tee-kbs serve\s+/)[1] as string).split(/\s+/);
      const tokenFile = join(dir, `token-${randomBytes(4).toString('hex')}`);
      // Only paths and the address change: the files of this test, a free loopback port, no network
      // (--pcs-url is never contacted at start; the offline bundle stands in for it all the same).
      const replace: Record<string, string> = { 'cert.pem': tls.cert, 'tls.crt': tls.cert, 'key.pem': tls.key, 'tls.key': tls.key, 'bundle.json': bundle, '0.0.0.0:8443': '127.0.0.1:0' };
      const argv: string[] = [];
      for (let i = 0; i < args.length; i++) {
        const a = args[i] as string;
        if (a === '--pcs-url') {
          argv.push('--collateral', bundle);
          i++;
        } else if (args[i - 1] === '--admin-token-file') argv.push(tokenFile);
        else argv.push(replace[a] ?? a);
      }
      const pg = await createPgDatabase();
      const env = { TEE_KBS_DATABASE: pg.url, TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') };
      let err = '';
      const r = await runKbsCli(['serve', ...argv], { stdout: () => {}, stderr: (t) => (err += t), env });
      try {
        expect(r.code, err).toBe(0);
        expect(args).toContain('--admin-token-file');
        expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
        // Without the flag the same command is refused on a fresh database: why the docs carry it.
        const pg2 = await createPgDatabase();
        try {
          const i = argv.indexOf('--admin-token-file');
          const without = argv.filter((_, j) => j !== i && j !== i + 1);
          let err2 = '';
          const refused = await runKbsCli(['serve', ...without], { stdout: () => {}, stderr: (t) => (err2 += t), env: { ...env, TEE_KBS_DATABASE: pg2.url } });
          expect(refused.code).toBe(78);
          expect(err2).toContain('ERR_KBS_CONFIG');
        } finally {
          await pg2.drop();
        }
      } finally {
        await r.broker?.close();
        await pg.drop();
      }
    }, 60_000);
  });
});

describe("the batch recipe for the broker's log (review s7d item 4)", () => {
  let h: Harness;
  let dir: string;
  const OTHER_MRTD = Buffer.alloc(48, 0x5a);

  beforeAll(async () => {
    requireBuilt();
    h = await startHarness({ rateLimit: { burst: 1000, perSecond: 1000 } });
    dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s7d-recipe-'));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const recipes = (): string[][] =>
    shellCommands(doc('kbs.md'))
      .flat()
      .filter((l) => l.startsWith('tee-verify batch log.jsonl'))
      .map((l) => l.split(/\s+/).slice(2));

  it('every recipe line asks for the records\' own policies; the dev one names the trust root', () => {
    const all = recipes();
    expect(all.length).toBeGreaterThan(0);
    for (const args of all) expect(args).toContain('--allow-record-policy');
    expect(all.some((a) => a.includes('--trust-root'))).toBe(true);
  });

  it('run on an exported log: the release trusted, the refusal for a wrong MRTD rejected (without the flag it came back ok)', async () => {
    const policy = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) });
    const key = await h.call('POST', '/kbs/v1/keys', { body: { transfer_policy_id: policy.json.id } });
    const client = newClient(2048);
    const transfer = (mrTd?: Buffer) =>
      h.call('POST', transferPath(key.json.id), { body: { quote: quoteFor(h.platform, sha512(client.spkiDer), mrTd ? { mrTd } : {}).toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'TDX' }, token: null });
    expect((await transfer()).status).toBe(200);
    expect((await transfer(OTHER_MRTD)).json.code).toBe('ERR_KBS_POLICY');

    const log = await h.call('GET', '/kbs/v1/attestation-log');
    const records = log.text.trim().split('\n');
    expect(records).toHaveLength(2);
    writeFileSync(join(dir, 'log.jsonl'), log.text);
    writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(h.platform.collateral)));
    writeFileSync(join(dir, 'trust-root.pem'), h.platform.pki.root.pem);
    const files: Record<string, string> = { 'log.jsonl': join(dir, 'log.jsonl'), 'bundle.json': join(dir, 'bundle.json'), 'dev/trust-root.pem': join(dir, 'trust-root.pem') };

    const run = async (args: string[], out: string) => {
      const c = capture();
      const argv = args.map((a) => (a === 'results.jsonl' ? join(dir, out) : files[a] ?? a));
      const code = await runBatchCli([...argv, '--workers', '1'], c.io);
      return { code, results: readResults(join(dir, out)) as { ok: boolean; violations: { check?: string; path?: string; message: string }[] }[], err: c.stderr() };
    };

    const dev = recipes().find((a) => a.includes('--trust-root')) as string[];
    const asDocumented = await run(dev, 'documented.jsonl');
    expect(asDocumented.code, asDocumented.err).toBe(1);
    const [released, refused] = asDocumented.results;
    expect(released).toMatchObject({ ok: true });
    expect(refused?.ok).toBe(false);
    expect(JSON.stringify(refused?.violations)).toContain('mrTd');

    // The recipe before review s7d (no --allow-record-policy): the refusal is judged under the
    // default policy, which pins no MRTD, and comes back trusted.
    const old = await run(dev.filter((a) => a !== '--allow-record-policy'), 'old.jsonl');
    expect(old.results.map((r) => r.ok)).toEqual([true, true]);
  }, 120_000);
});

describe('error codes and start-up statuses are documented (review s7d item 7)', () => {
  const kbsDir = new URL('../../src/kbs/', import.meta.url);
  const codes = new Set<string>();
  for (const name of readdirSync(kbsDir).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(new URL(name, kbsDir), 'utf8').matchAll(/['"`](ERR_KBS_[A-Z0-9_]+)['"`]/g)) codes.add(m[1] as string);
  }

  it("every ERR_KBS_ code of src/kbs has its row in docs/error-codes.md's key-broker table", () => {
    const text = doc('error-codes.md');
    const start = text.indexOf('## Key broker (`src/kbs/errors.ts`, `KbsError`)');
    expect(start).toBeGreaterThan(0);
    const next = text.indexOf('\n## ', start + 1);
    const section = text.slice(start, next < 0 ? undefined : next);
    expect([...codes]).toEqual(expect.arrayContaining(['ERR_KBS_NOT_FOUND', 'ERR_KBS_UNSUPPORTED_MEDIA_TYPE', 'ERR_KBS_POLICY_IN_USE']));
    expect([...codes].filter((c) => !section.includes(`| \`${c}\` |`))).toEqual([]);
  });

  it("docs/scale-out.md's start-up table names ERR_KBS_UPGRADE_REQUIRED and ERR_KBS_INTEGRITY with exit 78", () => {
    const text = doc('scale-out.md');
    const table = text.slice(text.indexOf('* **Start-up**'), text.indexOf('* **While serving**'));
    for (const code of ['ERR_KBS_UPGRADE_REQUIRED', 'ERR_KBS_INTEGRITY']) expect(table).toMatch(new RegExp(`\\| 78 \\|[^\\n]*\`${code}\``));
  });
});
