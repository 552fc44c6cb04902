/**
 * Review s7d, items 5 and 6 (new user): help and admin-client errors of `tee-kbs`.
 * - `tee-kbs <command> --help` prints that command's usage on stdout and exits 0 (`serve --help`
 *   was "Unknown option '--help'", exit 2); `tee-kbs --help` on stdout; no arguments: usage on
 *   stderr, exit 2 (it exited 0).
 * - The admin client without `--ca` against the self-signed broker says what to do (`--ca`,
 *   `--insecure`), not only "self-signed certificate"; a token that was sent but refused is called
 *   refused, not "required". Also `admin key move` / `key rotate` (item 1 on the command line).
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KBS_ADMIN_USAGE, KBS_SERVE_USAGE, runKbsCli } from '../../src/kbs/cli.js';
import { newClient, quoteFor, sha512, startHarness, tdxPolicy, transferPath, unwrap, type Harness } from './helpers.js';

async function kbs(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const r = await runKbsCli(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), env });
  if (r.broker) await r.broker.close();
  return { code: r.code, out, err };
}

describe('tee-kbs help (review s7d item 5)', () => {
  it('serve --help: the serve usage on stdout, exit 0, nothing started', async () => {
    const r = await kbs(['serve', '--help']);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toContain('tee-kbs serve (--db FILE');
    expect(r.out).toContain('--admin-token-file');
    expect(r.out).not.toContain('tee-kbs admin');
    expect(r.out).toContain(KBS_SERVE_USAGE);
  });

  it('admin --help (also after a subcommand): the admin usage on stdout, exit 0', async () => {
    for (const argv of [['admin', '--help'], ['admin', 'key', 'create', '--help'], ['admin', '-h']]) {
      const r = await kbs(argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' });
      expect(r.out).toContain(KBS_ADMIN_USAGE);
      expect(r.out).toContain('key move ID --policy ID');
      expect(r.out).not.toContain('tee-kbs serve (--db');
    }
  });

  it('--help, -h and help: every command on stdout, exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await kbs(argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' });
      expect(r.out).toContain('tee-kbs serve (--db FILE');
      expect(r.out).toContain('tee-kbs admin key create');
    }
  });

  it('no arguments, an unknown command, or admin alone: usage on stderr, exit 2', async () => {
    for (const argv of [[], ['bogus'], ['admin']]) {
      const r = await kbs(argv);
      expect({ argv, code: r.code, out: r.out }).toEqual({ argv, code: 2, out: '' });
      expect(r.err).toMatch(/^usage:\n/);
    }
  });

  it('an unknown admin command points at admin --help', async () => {
    const r = await kbs(['admin', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown admin command (tee-kbs admin --help lists them)');
  });
});

describe('tee-kbs admin errors and key move (review s7d items 6, 1)', () => {
  let h: Harness;
  let ca: string;
  beforeAll(async () => {
    h = await startHarness({ rateLimit: { burst: 1000, perSecond: 1000 } });
    ca = `${h.db}.tls-cert.pem`;
  }, 60_000);
  afterAll(async () => h?.close());

  it('without --ca against the self-signed broker: the TLS error with the hint to give --ca (or --insecure), exit 2', async () => {
    const r = await kbs(['admin', 'key', 'list', '--url', h.broker.url], { TEE_KBS_TOKEN: h.token });
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^tee-kbs: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\): the broker's TLS certificate is not trusted here; give --ca PEM/);
    expect(r.err).toContain('FILE.tls-cert.pem');
    expect(r.err).toContain('--insecure (development only');
    // The hint's remedies work.
    expect((await kbs(['admin', 'key', 'list', '--url', h.broker.url, '--ca', ca], { TEE_KBS_TOKEN: h.token })).code).toBe(0);
    expect((await kbs(['admin', 'key', 'list', '--url', h.broker.url, '--insecure'], { TEE_KBS_TOKEN: h.token })).code).toBe(0);
  });

  it('a token that was sent but refused is "refused", never "required"; no token at all says how to give one', async () => {
    for (const token of ['bad', randomBytes(32).toString('base64url')]) {
      const r = await kbs(['admin', 'key', 'list', '--url', h.broker.url, '--ca', ca], { TEE_KBS_TOKEN: token });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.err)).toMatchObject({ code: 'ERR_KBS_UNAUTHORIZED', error: expect.stringMatching(/^the admin token was refused: /) });
      expect(r.err).not.toContain('required');
    }
    const none = await kbs(['admin', 'key', 'list', '--url', h.broker.url, '--ca', ca]);
    expect(none.code).toBe(1);
    expect(none.err).toContain('an admin bearer token is required');
    expect(none.err).toContain('tee-kbs: no admin token was sent: give --token T or set TEE_KBS_TOKEN');
    // Another scheme than Bearer: named as such.
    const basic = await h.call('GET', '/kbs/v1/keys', { token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect({ status: basic.status, error: basic.json.error }).toEqual({ status: 401, error: 'the Authorization header must be "Bearer <admin token>"' });
  });

  it('admin key move keeps the material and version; admin key rotate makes new material; move needs --policy', async () => {
    const admin = (args: string[]) => kbs(['admin', ...args, '--url', h.broker.url, '--ca', ca], { TEE_KBS_TOKEN: h.token });
    const p1 = (await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) })).json.id as string;
    const p2 = (await h.call('POST', '/kbs/v1/key-transfer-policies', { body: tdxPolicy(h.platform) })).json.id as string;
    const material = randomBytes(32);
    const key = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { key_data: material.toString('base64') }, transfer_policy_id: p1 } });
    const id = key.json.id as string;
    const client = newClient(2048);
    const release = async (): Promise<Buffer> => {
      const r = await h.call('POST', transferPath(id), { body: { quote: quoteFor(h.platform, sha512(client.spkiDer)).toString('base64'), user_data: client.userData }, headers: { 'attestation-type': 'TDX' }, token: null });
      expect(r.status, r.text).toBe(200);
      return unwrap(client, r.json);
    };

    const moved = await admin(['key', 'move', id, '--policy', p2]);
    expect(moved.code, moved.err).toBe(0);
    expect(JSON.parse(moved.out)).toMatchObject({ transfer_policy_id: p2, key_info: { version: 1 } });
    expect((await release()).equals(material)).toBe(true);

    const bare = await admin(['key', 'move', id]);
    expect(bare.code).toBe(2);
    expect(bare.err).toContain('admin key move needs --policy ID');

    const rotated = await admin(['key', 'rotate', id, '--policy', p1]);
    expect(rotated.code, rotated.err).toBe(0);
    expect(JSON.parse(rotated.out)).toMatchObject({ transfer_policy_id: p1, key_info: { version: 2 } });
    expect((await release()).equals(material)).toBe(false);
  });
});
