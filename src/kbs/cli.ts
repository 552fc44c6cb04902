/**
 * tee-kbs command line: `serve` runs a broker; `admin` talks to a running one
 * (or reads the database for `admin export-log --db`). runKbsCli returns an
 * exit code and a `wait` promise for `serve`; it never exits the process.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Agent, request } from 'undici';

import { AmdKdsClient, BundleSource, CollateralService, HttpClient, importBundle, IntelPcsClient, type TrustRoots } from '../index.js';
import { readTrustRoots } from '../cli/certificates.js';
import { readPrivateKeyFile } from '../gateway/tls.js';
import { listenExitCode } from '../net/listen.js';
import { EXIT_CONFIG, openStorage, parseStorageLocation, sqliteLocation, StorageError } from '../storage/index.js';
import { KbsError } from './errors.js';
import { KbsStore } from './store.js';
import { isLoopbackHost, MAX_CONNECTIONS, MAX_MAX_BODY_BYTES, MAX_MAX_CLOCK_SKEW_SECONDS, MAX_NONCE_TTL_SECONDS, MIN_MAX_BODY_BYTES, MIN_NONCE_TTL_SECONDS, startKeyBroker, type KeyBroker } from './server.js';
import { readBootstrapSecretFile } from './files.js';
import { keyInformationOf } from './key-file.js';
import { upgradeIntegrity } from './upgrade.js';

export interface KbsIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** `tee-kbs serve --help`. */
export const KBS_SERVE_USAGE = `  tee-kbs serve (--db FILE | --database sqlite:PATH | --database postgres://USER:PASSWORD@HOST:PORT/DB)
                [--database-pool N] [--listen 127.0.0.1:8443] [--tls-cert PEM --tls-key PEM | (self-signed, SQLite only)]
                [--plain-http [--force-plain-http]] [--master-key-file F] [--trust-root PEM]
                (--collateral BUNDLE | --pcs-url URL) [--allow-no-nonce] [--nonce-ttl SECONDS] [--max-clock-skew SECONDS]
                [--bootstrap-secret-file F] [--admin-token-file F] [--rate-burst N] [--rate-per-second N] [--max-body BYTES]
                [--shutdown-grace SECONDS] [--sqlite-synchronous FULL|NORMAL]
                [--headers-timeout SECONDS] [--request-timeout SECONDS] [--keep-alive-timeout SECONDS]
                [--admin-max-failures N] [--admin-failure-window SECONDS]
                [--refusal-rows-per-client N] [--refusal-rows-total N] [--refusal-window SECONDS]
                [--max-connections N] [--max-connections-per-client N] [--connection-cap-exempt CIDR|none]...
      numbers: checked at start, else usage (exit 2) naming the flag: --max-body 1024 to 67108864 (default
                   1 MiB), --nonce-ttl 1 to 3600 s (default 300; T42), --rate-burst / --database-pool /
                   --admin-max-failures / --refusal-rows-* / --max-connections* whole numbers, timers > 0 s
                   up to 2147483 s
      clock: with PostgreSQL the start is refused (exit 78) when this machine's clock is more than
                   --max-clock-skew seconds (1 to 86400, default 5; more is warned) from the database server's:
                   instances judge nonce and admin-token expiry and rate limits on their own clocks;
                   compared again every minute and with /health: beyond it /health and /kbs/v1 answer 503
                   (ERR_KBS_CLOCK_SKEW) until the clock is back within the bound
      connections: at most --max-connections open (default 1024), at most --max-connections-per-client
                   of them from one client address (default a sixteenth, at least 8: 64); more are closed
                   before the TLS handshake. Peers in --connection-cap-exempt (repeatable; default loopback,
                   where a TLS-terminating proxy for --plain-http sits; none: every peer) are not counted
      nonce: required by default (T42 / S30; --require-nonce, the old switch, is still accepted);
                   --allow-no-nonce accepts transfers without one (CNAP / confidential-ai-loader clients
                   send none): a relaxation, warned at start and logged with every release, because such a
                   broker accepts another broker's relay of a TD's evidence (docs/kbs.md)
      first admin token: written on the first start of an empty database to --admin-token-file F
                   (new file, mode 0600; an existing file refuses the start; default FILE.admin-token
                   with SQLite; with PostgreSQL required unless --bootstrap-secret-file), never logged;
                   the JSON start line names the file
      refusals: at most N full log rows per client (default 20) and in all (default 1000) per window
                   (default 3600 s); further refusals are answered the same and stored as counts
      environment: TEE_KBS_DATABASE (instead of --database, keeps the password off the command line),
                   TEE_KBS_MASTER_KEY (base64 of 32 bytes; required with PostgreSQL unless --master-key-file)
      exit status: 0 stopped cleanly (SIGTERM / SIGINT); 2 usage; 75 database unreachable or --listen port
                   in use (retry later); 78 configuration refused (bad URL, authentication, schema from a newer
                   version, master key, rows without a MAC: run admin upgrade-integrity after checking them,
                   a --listen address this machine lacks or a port it may not bind)
      PostgreSQL, an empty database: give --admin-token-file F (or --bootstrap-secret-file F), else exit 78
`;

/** `tee-kbs admin --help`. */
export const KBS_ADMIN_USAGE = `  tee-kbs admin upgrade-integrity (--db FILE | --database URL) [--master-key-file F]
                                                       once, on a database from before row integrity:
                                                       MAC and re-seal its rows as found (check them first)
  tee-kbs admin export-log (--db FILE | --database URL) [--after-seq N]
                                                       attestation log as batch JSONL (stdout), rows after
                                                       seq N (the last export's bound; default 0);
                                                       stderr: refusals stored only as counts, the bound
  tee-kbs admin log [--after-seq N]                     the same over HTTP (GET /kbs/v1/attestation-log?after_seq=N)
  tee-kbs admin audit [--after-seq N]                   the admin audit trail, 500 rows a page (GET /kbs/v1/admin-audit?after_seq=N)
  tee-kbs admin policy create FILE | policy list | policy delete ID
  tee-kbs admin key create --policy ID [--key-file F] | key list | key delete ID
  tee-kbs admin key move ID --policy ID                 re-seal the key's material to another policy (same material, same version)
  tee-kbs admin key rotate ID [--key-file F] [--policy ID]
                                                       NEW material (from F, else generated), version + 1; data encrypted
                                                       under the old material no longer decrypts with the key
      --key-file F: base64 text of a 16, 24 or 32-byte key (one line, as tee-model keygen -o writes),
                   else exactly 16, 24 or 32 raw bytes that are not all text
  tee-kbs admin token --secret-file F                  exchange the bootstrap secret for a token
  tee-kbs admin token create [--label L] [--expires-in S] [--scopes read,keys,policies,tokens] | token list | token revoke ID
                                                       mint (shown once; default: the caller's scopes), list (never
                                                       secrets), revoke admin tokens
      admin options: --url https://127.0.0.1:8443 --token T (or TEE_KBS_TOKEN) [--ca PEM | --insecure] [--allow-insecure-http]
                   --ca: the broker's certificate, e.g. FILE.tls-cert.pem next to a SQLite database (self-signed
                   default); --insecure skips the check (development only; warned on stderr)
                   plain http:// --url: loopback only (127.0.0.0/8, ::1, localhost) unless --allow-insecure-http
                   (warned on stderr: the admin token crosses the network in cleartext); no user:password@ in --url
`;

/** `tee-kbs --help`: every command. */
export const KBS_USAGE = `usage:
${KBS_SERVE_USAGE}${KBS_ADMIN_USAGE}  tee-kbs <command> --help                             one command's usage
`;

/** `trustRoots`: --trust-root's roots, so that a test PKI's evaluations never raise the disk cache's rollback floors. */
function collateralOf(v: Record<string, unknown>, trustRoots: TrustRoots | undefined): CollateralService {
  if (typeof v['collateral'] === 'string') {
    const source = new BundleSource(importBundle(readFileSync(v['collateral'])));
    return new CollateralService({ intel: source, amd: source, cache: null });
  }
  if (typeof v['pcs-url'] === 'string') {
    const http = new HttpClient();
    return new CollateralService({ intel: new IntelPcsClient({ http, baseUrl: v['pcs-url'] }), amd: new AmdKdsClient({ http }), update: 'early', ...(trustRoots ? { trustRoots } : {}) });
  }
  throw new Error('serve needs --collateral BUNDLE or --pcs-url URL');
}

/** The options of `tee-kbs serve` (the deployment recipes are checked against this list). */
export const KBS_SERVE_OPTIONS = {
  db: { type: 'string' }, database: { type: 'string' }, 'database-pool': { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:8443' },
  'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'plain-http': { type: 'boolean' }, 'force-plain-http': { type: 'boolean' },
  'master-key-file': { type: 'string' }, 'trust-root': { type: 'string' }, collateral: { type: 'string' }, 'pcs-url': { type: 'string' },
  'require-nonce': { type: 'boolean' }, 'allow-no-nonce': { type: 'boolean' }, 'nonce-ttl': { type: 'string' }, 'max-clock-skew': { type: 'string' }, 'bootstrap-secret-file': { type: 'string' }, 'rate-burst': { type: 'string' },
  'rate-per-second': { type: 'string' }, 'max-body': { type: 'string' }, 'shutdown-grace': { type: 'string' }, 'sqlite-synchronous': { type: 'string' },
  'headers-timeout': { type: 'string' }, 'request-timeout': { type: 'string' }, 'keep-alive-timeout': { type: 'string' },
  'admin-max-failures': { type: 'string' }, 'admin-failure-window': { type: 'string' }, 'admin-token-file': { type: 'string' },
  'refusal-rows-per-client': { type: 'string' }, 'refusal-rows-total': { type: 'string' }, 'refusal-window': { type: 'string' },
  'max-connections': { type: 'string' }, 'max-connections-per-client': { type: 'string' }, 'connection-cap-exempt': { type: 'string', multiple: true },
} as const;

/** Environment variables the key broker reads. */
export const KBS_ENV = ['TEE_KBS_DATABASE', 'TEE_KBS_MASTER_KEY', 'TEE_KBS_TOKEN'] as const;

/** --db FILE, --database LOCATION or TEE_KBS_DATABASE (in that order of precedence; --db and --database exclude each other). */
function databaseOf(v: { db?: string; database?: string }, env: NodeJS.ProcessEnv, command: string): { db: string } | { database: string } {
  if (v.db && v.database) throw new Error(`${command}: give --db FILE or --database LOCATION, not both`);
  if (v.db) {
    sqliteLocation(v.db); // a URL after --db is refused like one after --database sqlite: (review s13 CR #2)
    return { db: v.db };
  }
  const database = v.database ?? env['TEE_KBS_DATABASE'];
  if (!database) throw new Error(`${command} needs --db FILE, --database sqlite:PATH | postgres://… or TEE_KBS_DATABASE`);
  parseStorageLocation(database);
  return { database };
}

async function serve(args: string[], io: KbsIo): Promise<{ code: number; broker?: KeyBroker }> {
  const { values: v } = parseArgs({ args, strict: true, options: KBS_SERVE_OPTIONS });
  const where = databaseOf(v, io.env, 'serve');
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(v.listen ?? '');
  // Checked here, before any database or token file is made: a port past 65535 threw a plain RangeError at listen (changes-c #6).
  if (!m || Number(m[2]) > 65535) throw new Error('--listen must be HOST:PORT with a port from 0 to 65535');
  if (!!v['tls-cert'] !== !!v['tls-key']) throw new Error('--tls-cert and --tls-key go together');
  // Intel roots and AMD ARK/ASK/ASVK alike, sorted as `tee-verify --trust-root` sorts them (one reader for both CLIs).
  const trustRoots: TrustRoots | undefined = v['trust-root'] ? await readTrustRoots(v['trust-root']) : undefined;
  // Every numeric flag: digits (a fraction only where seconds allow one) within its range, else usage (exit 2)
  // naming the flag, before anything is created (review s12 kbs #1, #2: `--max-body 1MB` was NaN, no limit).
  const burst = wholeFlag('rate-burst', v['rate-burst'], 1, 1_000_000);
  const perSecond = secondsFlag('rate-per-second', v['rate-per-second'], 0, 1_000_000);
  const pool = wholeFlag('database-pool', v['database-pool'], 1, 1000);
  // Timers in seconds (fractions allowed; at least 1 ms, at most what Node's timers hold).
  const grace = timerFlag('shutdown-grace', v['shutdown-grace']);
  const headersTimeoutMs = timerFlag('headers-timeout', v['headers-timeout']);
  const requestTimeoutMs = timerFlag('request-timeout', v['request-timeout']);
  const keepAliveTimeoutMs = timerFlag('keep-alive-timeout', v['keep-alive-timeout']);
  const maxFailures = wholeFlag('admin-max-failures', v['admin-max-failures'], 1, 1_000_000);
  const failureWindowMs = timerFlag('admin-failure-window', v['admin-failure-window']);
  const perClient = wholeFlag('refusal-rows-per-client', v['refusal-rows-per-client'], 0, Number.MAX_SAFE_INTEGER);
  const total = wholeFlag('refusal-rows-total', v['refusal-rows-total'], 0, Number.MAX_SAFE_INTEGER);
  const windowSeconds = secondsFlag('refusal-window', v['refusal-window'], 1, 31_536_000, true); // up to a year
  const nonceTtlSeconds = secondsFlag('nonce-ttl', v['nonce-ttl'], MIN_NONCE_TTL_SECONDS, MAX_NONCE_TTL_SECONDS, true);
  const maxClockSkewSeconds = secondsFlag('max-clock-skew', v['max-clock-skew'], 1, MAX_MAX_CLOCK_SKEW_SECONDS, true);
  const maxBodyBytes = wholeFlag('max-body', v['max-body'], MIN_MAX_BODY_BYTES, MAX_MAX_BODY_BYTES);
  const maxConnections = wholeFlag('max-connections', v['max-connections'], 1, MAX_CONNECTIONS);
  const maxConnectionsPerClient = wholeFlag('max-connections-per-client', v['max-connections-per-client'], 1, MAX_CONNECTIONS);
  const exempt = v['connection-cap-exempt'];
  if (exempt && exempt.includes('none') && exempt.length > 1) throw new Error('--connection-cap-exempt none (every peer counted) excludes ranges');
  const refusalLog = { ...(perClient !== undefined ? { perClient } : {}), ...(total !== undefined ? { total } : {}), ...(windowSeconds !== undefined ? { windowSeconds } : {}) };
  if (v['require-nonce'] && v['allow-no-nonce']) throw new Error('--require-nonce and --allow-no-nonce exclude each other (a nonce is required by default)');
  const sync = v['sqlite-synchronous']?.toUpperCase();
  if (sync !== undefined && sync !== 'FULL' && sync !== 'NORMAL') throw new Error('--sqlite-synchronous must be FULL or NORMAL');
  // The operator's TLS key under the shared secret-file rule (readPrivateKeyFile, as tee-gateway and
  // tee-verify serve; s16 change review of cce6563, #3: it was read with readFileSync, through a link
  // and whatever its mode or owner): ERR_KBS_CONFIG, exit 78, before the database is opened.
  let tlsKey: string | undefined;
  if (v['tls-cert'] && v['tls-key']) {
    try {
      tlsKey = await readPrivateKeyFile(v['tls-key'], { option: '--tls-key', example: 'tls.key' });
    } catch (e) {
      throw new KbsError('ERR_KBS_CONFIG', 500, `--tls-key: ${(e as Error).message}`);
    }
  }
  const broker = await startKeyBroker({
    ...where,
    ...(pool !== undefined ? { databasePoolSize: pool } : {}),
    ...(grace !== undefined ? { shutdownGraceMs: grace } : {}),
    ...(sync ? { synchronous: sync } : {}),
    ...(headersTimeoutMs !== undefined ? { headersTimeoutMs } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    ...(keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs } : {}),
    ...(maxFailures !== undefined || failureWindowMs !== undefined ? { adminFailureLimit: { ...(maxFailures !== undefined ? { maxFailures } : {}), ...(failureWindowMs !== undefined ? { windowMs: failureWindowMs } : {}) } } : {}),
    host: (m[1] as string).replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    ...(v['tls-cert'] && tlsKey !== undefined ? { tls: { cert: readFileSync(v['tls-cert'], 'utf8'), key: tlsKey } } : {}),
    ...(v['plain-http'] ? { plainHttp: true } : {}),
    ...(v['force-plain-http'] ? { forcePlainHttp: true } : {}),
    ...(v['master-key-file'] ? { masterKeyFile: v['master-key-file'] } : {}),
    ...(trustRoots ? { trustRoots } : {}),
    collateral: collateralOf(v, trustRoots),
    ...(v['allow-no-nonce'] ? { allowNoNonce: true } : {}),
    ...(nonceTtlSeconds !== undefined ? { nonceTtlSeconds } : {}),
    ...(maxClockSkewSeconds !== undefined ? { maxClockSkewSeconds } : {}),
    // Held to the master key file's rules (a link, group or other bits: ERR_KBS_CONFIG, exit 78; review s14 #2).
    ...(v['bootstrap-secret-file'] ? { bootstrapSecret: readBootstrapSecretFile(v['bootstrap-secret-file']) } : {}),
    ...(v['admin-token-file'] ? { adminTokenFile: v['admin-token-file'] } : {}),
    ...(Object.keys(refusalLog).length > 0 ? { refusalLog } : {}),
    ...(burst !== undefined || perSecond !== undefined ? { rateLimit: { ...(burst !== undefined ? { burst } : {}), ...(perSecond !== undefined ? { perSecond } : {}) } } : {}),
    ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(maxConnectionsPerClient !== undefined ? { maxConnectionsPerClient } : {}),
    ...(exempt ? { connectionCapExempt: exempt.includes('none') ? [] : exempt } : {}),
    env: io.env,
    log: (l) => io.stderr(`${l}\n`),
  });
  // Never the token itself (stdout is collected like the logs): where it was written, on the first start only.
  io.stdout(`${JSON.stringify({ url: broker.url, database: broker.database, ...(broker.adminTokenFile ? { adminTokenFile: broker.adminTokenFile } : {}) })}\n`);
  return { code: 0, broker };
}

async function admin(args: string[], io: KbsIo): Promise<number> {
  const { values: v, positionals: p } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      db: { type: 'string' }, database: { type: 'string' }, url: { type: 'string', default: 'https://127.0.0.1:8443' }, token: { type: 'string' }, ca: { type: 'string' },
      insecure: { type: 'boolean' }, 'allow-insecure-http': { type: 'boolean' }, policy: { type: 'string' }, 'key-file': { type: 'string' }, 'secret-file': { type: 'string' },
      label: { type: 'string' }, 'expires-in': { type: 'string' }, scopes: { type: 'string' }, 'master-key-file': { type: 'string' }, 'after-seq': { type: 'string' },
    },
  });
  const [what, verb, arg] = p;
  if (what === 'upgrade-integrity') {
    const where = databaseOf(v, io.env, 'upgrade-integrity');
    await upgradeIntegrity({ ...where, ...(v['master-key-file'] ? { masterKeyFile: v['master-key-file'] } : {}), env: io.env, log: (l) => io.stderr(`${l}\n`) });
    return 0;
  }
  const afterSeq = afterSeqOf(v['after-seq']);
  if (what === 'export-log') {
    const where = databaseOf(v, io.env, 'export-log');
    // Reads only: no migration, no master key (the log holds no key material); an unknown newer schema is refused.
    const storage = await openStorage('db' in where ? sqliteLocation(where.db) : where.database, { sqlite: { readonly: true, fileMustExist: true } });
    try {
      const { store } = await KbsStore.open(storage, Buffer.alloc(32), { migrate: false });
      const throughSeq = await store.logHighWater();
      const stats = { gaps: 0 };
      for await (const line of store.exportBatchRecords({ afterSeq, throughSeq, stats })) io.stdout(`${line}\n`);
      const counted = await store.aggregatedRefusals();
      // stdout stays pure batch JSONL; the count of refusals that have no row goes to stderr.
      io.stderr(`tee-kbs: export-log: ${counted.refusals} refusal(s) beyond the log bounds stored only as counts (${counted.groups} group(s) of window, client, key id), not exported\n`);
      io.stderr(`tee-kbs: export-log: rows ${afterSeq > 0 ? `after seq ${afterSeq} ` : ''}through seq ${throughSeq}; ${stats.gaps} seq number(s) without a row when read (rolled back, or committed after the export read past them)\n`);
      const repeats = await store.releaseRepeats();
      io.stderr(`tee-kbs: export-log: ${repeats.repeats} repeat(s) of ${repeats.releases} release(s) without a nonce counted, not logged again (each first release's record has "repeats")\n`);
    } finally {
      await storage.close();
    }
    return 0;
  }
  const base = adminUrlOf(v.url ?? '', v['allow-insecure-http'] === true, io);
  if (v.insecure) io.stderr(`tee-kbs admin: warning: ${ADMIN_INSECURE_WARNING}\n`);
  // Server authentication is on unless --insecure says otherwise, whatever NODE_TLS_REJECT_UNAUTHORIZED holds (as the model client, review s7).
  const dispatcher = new Agent({ connect: v.insecure ? { rejectUnauthorized: false } : { rejectUnauthorized: true, ...(v.ca ? { ca: readFileSync(v.ca, 'utf8') } : {}) } });
  const token = v.token ?? io.env['TEE_KBS_TOKEN'];
  const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<number> => {
    try {
      const res = await request(`${base}/kbs/v1/${path}`, {
        method,
        dispatcher,
        headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.body.text();
      (res.statusCode < 300 ? io.stdout : io.stderr)(`${text}${text.endsWith('\n') || text === '' ? '' : '\n'}`);
      if (res.statusCode === 401 && !token && path !== 'token') io.stderr('tee-kbs: no admin token was sent: give --token T or set TEE_KBS_TOKEN\n');
      return res.statusCode < 300 ? 0 : 1;
    } catch (e) {
      throw withTlsHint(e);
    } finally {
      await dispatcher.close();
    }
  };
  if (what === 'token' && verb === 'list') return call('GET', 'tokens');
  if (what === 'token' && verb === 'revoke' && arg) return call('DELETE', `tokens/${arg}`);
  if (what === 'token' && verb === 'create') {
    const ttl = wholeFlag('expires-in', v['expires-in'], 1, Number.MAX_SAFE_INTEGER);
    return call('POST', 'tokens', { ...(v.label ? { label: v.label } : {}), ...(ttl !== undefined ? { expires_in_seconds: ttl } : {}), ...(v.scopes ? { scopes: v.scopes.split(',').map((x) => x.trim()) } : {}) });
  }
  if (what === 'token') {
    if (!v['secret-file']) throw new Error('admin token needs --secret-file F (or create | list | revoke ID)');
    return call('POST', 'token', { username: 'admin', password: readBootstrapSecretFile(v['secret-file']) });
  }
  if (what === 'log') return call('GET', `attestation-log${afterSeq > 0 ? `?after_seq=${afterSeq}` : ''}`);
  if (what === 'audit') return call('GET', `admin-audit${afterSeq > 0 ? `?after_seq=${afterSeq}` : ''}`);
  if (what === 'policy' && verb === 'create' && arg) return call('POST', 'key-transfer-policies', JSON.parse(readFileSync(arg, 'utf8')));
  if (what === 'policy' && verb === 'list') return call('GET', 'key-transfer-policies');
  if (what === 'policy' && verb === 'delete' && arg) return call('DELETE', `key-transfer-policies/${arg}`);
  // key_information present means new material: a rotation (from the file, else generated by the broker).
  const keyInfo = v['key-file'] ? { key_information: await keyInformationOf(v['key-file']) } : {};
  if (what === 'key' && verb === 'create') return call('POST', 'keys', { ...keyInfo, transfer_policy_id: v.policy });
  if (what === 'key' && verb === 'list') return call('GET', 'keys');
  if (what === 'key' && verb === 'move' && arg) {
    if (!v.policy || v['key-file']) throw new Error('admin key move needs --policy ID and no --key-file (new material is key rotate)');
    return call('PUT', `keys/${arg}`, { transfer_policy_id: v.policy });
  }
  if (what === 'key' && verb === 'rotate' && arg) return call('PUT', `keys/${arg}`, { key_information: {}, ...keyInfo, ...(v.policy ? { transfer_policy_id: v.policy } : {}) });
  if (what === 'key' && verb === 'delete' && arg) return call('DELETE', `keys/${arg}`);
  throw new Error('unknown admin command (tee-kbs admin --help lists them)');
}

/** The warning of `tee-kbs admin --insecure` (review s12 kbs #3). */
export const ADMIN_INSECURE_WARNING =
  "--insecure: TLS server authentication is off: the admin token (or bootstrap secret) goes to whoever answers at --url. Development only; give the broker's certificate with --ca instead";

/**
 * --url of the admin client, without trailing slashes. https:// always; plain http:// only to loopback
 * (127.0.0.0/8, ::1, localhost) unless --allow-insecure-http, which is warned whenever given, as the
 * model client does (src/kbs-client/http.ts): the admin token and the bootstrap secret would cross
 * the network in cleartext (review s12 kbs #3). User information in the URL is refused (it would be
 * a credential on the command line, and not the one the broker reads).
 */
function adminUrlOf(text: string, allowInsecureHttp: boolean, io: KbsIo): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('--url must be an absolute URL such as https://127.0.0.1:8443');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`--url must be http:// or https:// (got ${url.protocol})`);
  if (url.username || url.password) throw new Error('--url must not carry user information (user:password@); the admin token goes in --token or TEE_KBS_TOKEN');
  if (allowInsecureHttp) {
    io.stderr(`tee-kbs admin: warning: --allow-insecure-http: a plain http:// --url is accepted to any host${url.protocol === 'http:' ? ` (here ${url.host})` : ''}; the admin token (or bootstrap secret) then crosses the network in cleartext and anyone on the path can answer as the broker\n`);
  } else if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new Error(`refusing the plain http:// --url ${url.origin} (not loopback): the admin token would cross the network in cleartext; use https:// (or allow it explicitly: --allow-insecure-http)`);
  } else if (url.protocol === 'http:') {
    // Loopback stays allowed (a broker started with --plain-http for local tests), but never silently:
    // any local user who binds that port while the broker is down receives the token (s12 change review kbs2 #1).
    io.stderr(`tee-kbs admin: warning: plain http:// --url (${url.host}): the admin token (or bootstrap secret) is sent unauthenticated; any local process listening on that port receives it\n`);
  }
  return url.href.replace(/\/+$/, '');
}

/** Node's codes for a server certificate that does not verify against the trusted CAs. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/**
 * A TLS failure of the admin client, with what to do about it (review s7d: "self-signed certificate"
 * alone did not say that the broker's own certificate must be given with --ca).
 */
function withTlsHint(e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code ?? (e as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof code !== 'string' || !(e instanceof Error)) return e;
  if (UNTRUSTED_CERTIFICATE.has(code)) {
    return new Error(`${e.message} (${code}): the broker's TLS certificate is not trusted here; give --ca PEM, the broker's certificate (with SQLite and no --tls-cert the broker generated FILE.tls-cert.pem next to its database FILE), or --insecure (development only: no server authentication)`, { cause: e });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new Error(`${e.message} (${code}): the broker's certificate does not name the host of --url; use a host name or address it names`, { cause: e });
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return new Error(`${e.message} (${code}): the broker's TLS certificate is outside its validity period`, { cause: e });
  return e;
}

/** Node's timers hold at most 2^31 - 1 ms (beyond, they fire at once); in whole seconds. */
const MAX_TIMER_S = Math.floor((2 ** 31 - 1) / 1000);

/** A whole-number flag: digits only (no sign, exponent, hex or blanks), from min to max; else usage naming the flag. */
function wholeFlag(name: string, s: string | undefined, min: number, max: number): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^\d{1,16}$/.test(s) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/**
 * A number flag (seconds, a rate): digits with an optional decimal fraction, above `min` (or from `min`
 * when `inclusive`) and at most `max`; else usage naming the flag.
 */
function secondsFlag(name: string, s: string | undefined, min: number, max: number, inclusive = false): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^\d{1,16}(\.\d{1,16})?$/.test(s) || !Number.isFinite(n) || (inclusive ? n < min : n <= min) || n > max) {
    throw new Error(`--${name} must be a number ${inclusive ? `from ${min}` : `above ${min}`} to ${max}`);
  }
  return n;
}

/** A timer flag in seconds (fractions allowed) as whole milliseconds, at least 1 (a sub-millisecond value is a 1 ms timer, as Node runs it). */
function timerFlag(name: string, s: string | undefined): number | undefined {
  const n = secondsFlag(name, s, 0, MAX_TIMER_S);
  return n === undefined ? undefined : Math.max(1, Math.round(n * 1000));
}

/** --after-seq N: a whole number from 0 (the default) to 2^53 - 1. */
function afterSeqOf(s: string | undefined): number {
  if (s === undefined) return 0;
  const n = Number(s);
  if (!/^\d{1,16}$/.test(s) || !Number.isSafeInteger(n)) throw new Error('--after-seq must be a whole number from 0 to 2^53 - 1');
  return n;
}

/** Runs one command. For `serve`, `broker` is the running broker (the shim keeps the process alive). */
export async function runKbsCli(argv: string[], io: KbsIo): Promise<{ code: number; broker?: KeyBroker }> {
  const [cmd, ...rest] = argv;
  // Help asked for goes to stdout with 0; usage after a mistake (no command, an unknown one) to stderr with 2.
  if (cmd === 'help' || cmd === '--help' || cmd === '-h') {
    io.stdout(KBS_USAGE);
    return { code: 0 };
  }
  const asksHelp = rest.includes('--help') || rest.includes('-h');
  if (cmd === 'serve' && asksHelp) {
    io.stdout(`usage:\n${KBS_SERVE_USAGE}`);
    return { code: 0 };
  }
  if (cmd === 'admin' && (asksHelp || rest.length === 0)) {
    (asksHelp ? io.stdout : io.stderr)(`usage:\n${KBS_ADMIN_USAGE}`);
    return { code: asksHelp ? 0 : 2 };
  }
  try {
    if (cmd === 'serve') return await serve(rest, io);
    if (cmd === 'admin') return { code: await admin(rest, io) };
    io.stderr(KBS_USAGE);
    return { code: 2 };
  } catch (e) {
    io.stderr(`tee-kbs: ${StorageError.is(e) || KbsError.is(e) ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}\n`);
    return { code: exitCodeOf(e) };
  }
}

/**
 * 75: the database is unreachable or the --listen port in use now (a supervisor may retry); 78: the
 * configuration must change (including a --listen address this machine lacks or may not bind); 2: usage.
 */
export function exitCodeOf(e: unknown): number {
  if (StorageError.is(e)) return e.exitCode;
  if (KbsError.is(e) && e.code === 'ERR_KBS_LISTEN') return listenExitCode(e.cause);
  // At start-up ERR_KBS_STORAGE means the master key does not fit the database (or cannot be read).
  // ERR_KBS_UPGRADE_REQUIRED / ERR_KBS_INTEGRITY at start-up: rows the broker will not trust on its own (docs/kbs.md, Row integrity).
  if (KbsError.is(e) && (e.code === 'ERR_KBS_CONFIG' || e.code === 'ERR_KBS_STORAGE' || e.code === 'ERR_KBS_UPGRADE_REQUIRED' || e.code === 'ERR_KBS_INTEGRITY')) return EXIT_CONFIG;
  return 2;
}
