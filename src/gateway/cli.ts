/**
 * tee-gateway command line. `serve` runs a gateway; `keys` manages API keys
 * and `admin-tokens` the admin API's tokens in the database (SQLite file or
 * PostgreSQL). runGatewayCli returns an exit code (and the gateway for
 * `serve`); it never exits the process. Exit statuses as the key broker's:
 * 2 usage, 75 database unreachable or port in use (retry later), 78 configuration refused.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { AmdKdsClient, BundleSource, CollateralService, HttpClient, IntelPcsClient } from '../index.js';
import { isModelError, EvidenceProviderError } from '../model/errors.js';
import { ConfigfsTsmProvider, DEFAULT_TSM_ROOT, SimulatedTeeProvider, type EvidenceProvider } from '../tee/index.js';
import type { AuthFailureLimitOptions } from '../net/auth-failures.js';
import { EXIT_CONFIG, parseStorageLocation, sqliteLocation, StorageError } from '../storage/index.js';
import { CUBE_ATTESTATION_HELP } from './cube-answer.js';
import { GatewayError } from './errors.js';
import { listenExitCode } from './listen.js';
import { MAX_TIMER_MS, startGateway, type Gateway, type GatewayOptions } from './server.js';
import { ApiKeyStore } from './store.js';
import { loadOrCreateTls, type TlsIdentity } from './tls.js';
import { VTPM_SERVE_OPTIONS, VTPM_USAGE, withVtpm } from './vtpm-cli.js';

export interface GatewayIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Default process.env (TEE_GATEWAY_DATABASE). */
  env?: NodeJS.ProcessEnv;
}

/** The environment variable that names the database (keeps a password off the command line). */
export const GATEWAY_DATABASE_ENV = 'TEE_GATEWAY_DATABASE';

/** Environment variables tee-gateway reads (the deployment recipes are checked against this list). */
export const GATEWAY_ENV = [GATEWAY_DATABASE_ENV] as const;

/** The options of `tee-gateway serve` (the deployment recipes are checked against this list). */
export const GATEWAY_SERVE_OPTIONS = {
  upstream: { type: 'string' }, db: { type: 'string' }, database: { type: 'string' }, 'database-pool': { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:8443' },
  'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, configfs: { type: 'boolean' }, 'tsm-root': { type: 'string' }, 'configfs-root': { type: 'string' }, 'simulated-tee': { type: 'boolean' },
  'simulated-state': { type: 'string' }, 'attestations-per-second': { type: 'string' }, 'attestations-per-client': { type: 'string' }, 'evidence-in-flight': { type: 'string' }, 'evidence-queue': { type: 'string' }, 'evidence-turn-timeout': { type: 'string' }, 'max-body': { type: 'string' }, 'upstream-timeout': { type: 'string' },
  'no-api-key': { type: 'boolean' }, 'no-admin-api': { type: 'boolean' }, 'cube-attestation': { type: 'boolean' }, 'no-handshake-evidence': { type: 'boolean' }, 'shutdown-grace': { type: 'string' },
  'headers-timeout': { type: 'string' }, 'request-timeout': { type: 'string' }, 'keep-alive-timeout': { type: 'string' },
  'admin-max-failures': { type: 'string' }, 'admin-failure-window': { type: 'string' },
  'api-key-max-failures': { type: 'string' }, 'api-key-failure-window': { type: 'string' }, 'trusted-proxy': { type: 'string', multiple: true },
  'max-connections-per-client': { type: 'string' },
  ...VTPM_SERVE_OPTIONS,
} as const;

export const GATEWAY_USAGE = `usage:
  tee-gateway serve --upstream URL (--db FILE | --database sqlite:PATH | --database postgres://USER:PASSWORD@HOST:PORT/DB)
                    [--database-pool N] [--listen 127.0.0.1:8443]
                    [--tls-cert PEM --tls-key PEM]   (default: a fresh key in memory at every start; given: loaded, or generated
                                                      there when neither file exists; keep them on TEE-private storage)
                    (--configfs [--tsm-root DIR] | --simulated-tee [tdx|snp] [--simulated-state FILE])
                                     (--tsm-root: the configfs-tsm report directory, default ${DEFAULT_TSM_ROOT};
                                      --configfs-root DIR is the same option, as tee-model load names it)
${VTPM_USAGE}                    [--attestations-per-second N] [--attestations-per-client N] [--evidence-in-flight N] [--evidence-queue N] [--evidence-turn-timeout SECONDS] [--max-body BYTES] [--upstream-timeout MS] [--no-api-key] [--no-admin-api]
                    [--cube-attestation]   ${CUBE_ATTESTATION_HELP}
                    [--no-handshake-evidence]   (answer every TLS handshake with the normal certificate: no evidence in
                                      the handshake for clients that ask in their server name; they attest in-band)
                    [--shutdown-grace SECONDS] [--headers-timeout SECONDS] [--request-timeout SECONDS] [--keep-alive-timeout SECONDS]
                    [--admin-max-failures N] [--admin-failure-window SECONDS] [--api-key-max-failures N] [--api-key-failure-window SECONDS]
                    [--trusted-proxy CIDR]...   (reverse proxies whose X-Forwarded-For names the client; repeatable)
                    [--max-connections-per-client N]   (open connections one client address may hold, default 625
                                      of the gateway's 10000; more are closed before the TLS handshake; trusted proxies exempt)
  tee-gateway keys create NAME DB             prints the new API key once
  tee-gateway keys list DB
  tee-gateway keys revoke ID DB
  tee-gateway admin-tokens create NAME DB     a token for the HTTP admin API (/admin/v1/keys), printed once
  tee-gateway admin-tokens list DB
  tee-gateway admin-tokens revoke ID DB
      DB: --db FILE | --database sqlite:PATH | --database postgres://… | TEE_GATEWAY_DATABASE
      environment: TEE_GATEWAY_DATABASE (instead of --database, keeps the password off the command line)
      serve prints {"url","database","spkiSha256" (hex),"pinnedPubkey" (curl --pinnedpubkey form)} once it listens
      tee-gateway COMMAND --help prints this text
      exit status: 0 stopped cleanly (SIGTERM / SIGINT), or the command done; 1 revoke of an id that is not an active
                   key / token; 2 usage; 75 database unreachable or --listen port in use (retry later);
                   78 configuration refused (bad URL, authentication, gateway schema from a newer version,
                   a --listen address this machine lacks or a port it may not bind)
`;

/** Thrown for a malformed command line (exit status 2). */
class UsageError extends Error {}

/** --help / -h on every command, as tee-verify's subcommands (src/cli/args.ts): the usage on stdout, exit 0. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

function printUsage(io: GatewayIo): number {
  io.stdout(GATEWAY_USAGE);
  return 0;
}

/** --db FILE, --database LOCATION or TEE_GATEWAY_DATABASE (in that order; --db and --database exclude each other). */
function databaseOf(v: { db?: string | undefined; database?: string | undefined }, env: NodeJS.ProcessEnv, command: string): { db: string } | { database: string } {
  if (v.db && v.database) throw new UsageError(`${command}: give --db FILE or --database LOCATION, not both`);
  if (v.db) {
    sqliteLocation(v.db); // a URL after --db is refused like one after --database sqlite: (review s13 CR #2)
    return { db: v.db };
  }
  const database = v.database ?? env[GATEWAY_DATABASE_ENV];
  if (!database) throw new UsageError(`${command} needs --db FILE, --database sqlite:PATH | postgres://… or ${GATEWAY_DATABASE_ENV}`);
  parseStorageLocation(database);
  return { database };
}

/**
 * The evidence provider. A simulated TEE warns on every start, whether its state is new or read
 * back from --simulated-state (review s7: restoring skipped the warning), and louder when its keys
 * derive from a public seed. `tee`: the TEE named after --simulated-tee, undefined when none was.
 * configfs-tsm's warnings (an instance it could not remove) go to the gateway's log (review s7b),
 * not to process warnings.
 */
function providerOf(v: Record<string, unknown>, tee: 'tdx' | 'snp' | undefined, io: GatewayIo, log: (line: string) => void): EvidenceProvider {
  if (v['configfs']) {
    return new ConfigfsTsmProvider({ root: tsmRootOf(v), onWarning: (message) => log(`tee-gateway: WARNING: ${message}`) });
  }
  if (!v['simulated-tee']) throw new Error('serve needs --configfs or --simulated-tee');
  const stateFile = v['simulated-state'];
  let p: SimulatedTeeProvider;
  if (typeof stateFile === 'string' && existsSync(stateFile)) {
    p = SimulatedTeeProvider.fromState(readFileSync(stateFile, 'utf8'));
    // Serving another TEE than the one asked for would go unnoticed until a client's policy refuses it.
    if (tee !== undefined && p.tee !== tee) {
      throw new EvidenceProviderError('ERR_TSM_PROVIDER', `--simulated-tee ${tee}, but ${stateFile} holds a simulated ${p.tee} platform: name its TEE or another state file`, { details: { asked: tee, state: p.tee } });
    }
    io.stderr(`tee-gateway: simulated ${p.tee} TEE restored from ${stateFile}\n`);
  } else {
    p = new SimulatedTeeProvider({ tee: tee ?? 'tdx' });
    if (typeof stateFile === 'string') {
      writeFileSync(stateFile, JSON.stringify(p.exportState()), { mode: 0o600 });
      io.stderr(`tee-gateway: simulated ${p.tee} TEE state (test trust roots and collateral for clients) written to ${stateFile}\n`);
    }
  }
  io.stderr('tee-gateway: WARNING: simulated TEE: evidence chains to a test PKI; no production verifier accepts it\n');
  if (p.keysFromSeed) io.stderr('tee-gateway: WARNING: this simulated TEE\'s keys derive from a public seed (a state file from before random keys): anyone can forge evidence its roots accept; delete the state file to get fresh keys\n');
  return p;
}

/**
 * --tsm-root DIR, or --configfs-root DIR: tee-model load's name for the same directory (review s7), so
 * one deployment's flag works with both tools. Both, naming different directories, is a usage error.
 */
function tsmRootOf(v: Record<string, unknown>): string {
  const tsm = typeof v['tsm-root'] === 'string' ? v['tsm-root'] : undefined;
  const configfs = typeof v['configfs-root'] === 'string' ? v['configfs-root'] : undefined;
  if (tsm !== undefined && configfs !== undefined && tsm !== configfs) throw new UsageError('serve: --tsm-root and --configfs-root name the same setting; give one');
  return tsm ?? configfs ?? DEFAULT_TSM_ROOT;
}

/** The TEE named after --simulated-tee (serve's only positional); undefined when none is. */
function simulatedTeeOf(simulated: boolean | undefined, positionals: string[]): 'tdx' | 'snp' | undefined {
  if (positionals.length === 0) return undefined;
  if (!simulated) throw new UsageError(`serve: unexpected argument ${positionals[0]}`);
  const [tee, ...rest] = positionals;
  if ((tee !== 'tdx' && tee !== 'snp') || rest.length > 0) throw new UsageError('--simulated-tee takes tdx or snp');
  return tee;
}

/** Whatever the provider holds (the vTPM provider's AK directory) is released when the gateway stops. */
async function closeProvider(p: EvidenceProvider): Promise<void> {
  const close = (p as { close?: () => Promise<void> }).close;
  if (typeof close === 'function') await close.call(p);
}

/** A whole number of at least `min` (decimal digits only), or undefined when the flag is absent. */
function wholeNumber(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min)) throw new Error(`${name} must be a whole number of at least ${min}`);
  return n;
}

function positive(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

/**
 * A flag that becomes a timer (`unitMs` ms per unit), in whole milliseconds, at least 1: a
 * sub-millisecond value is a 1 ms timer, as Node runs it (s12 change review, finding 3: the library's
 * bound then refused it naming `upstreamTimeoutMs` / `shutdownGraceMs`, which a CLI user never wrote).
 * Longer than Node's timers hold (2^31−1 ms) is a configuration error naming the flag, exit 78
 * (review s12, finding 3: it became 1 ms).
 */
function timerFlag(n: number | undefined, name: string, unitMs: number): number | undefined {
  if (n === undefined) return undefined;
  const ms = Math.max(1, Math.round(n * unitMs));
  if (ms > MAX_TIMER_MS) {
    throw new GatewayError('ERR_GATEWAY_CONFIG', 500, `${name} must be at most ${unitMs === 1 ? `${MAX_TIMER_MS} ms` : `${Math.floor(MAX_TIMER_MS / unitMs)} s`} (about 24.8 days; Node's timers hold no more)`);
  }
  return ms;
}

/** --PREFIX-max-failures N and --PREFIX-failure-window SECONDS (fractions allowed), when either is given. */
function failureLimitOf(v: Record<string, unknown>, prefix: 'admin' | 'api-key'): AuthFailureLimitOptions | undefined {
  const maxFailures = positive(v[`${prefix}-max-failures`], `--${prefix}-max-failures`);
  const failureWindow = positive(v[`${prefix}-failure-window`], `--${prefix}-failure-window`);
  if (maxFailures !== undefined && !Number.isInteger(maxFailures)) throw new Error(`--${prefix}-max-failures must be a positive integer`);
  if (maxFailures === undefined && failureWindow === undefined) return undefined;
  return { ...(maxFailures !== undefined ? { maxFailures } : {}), ...(failureWindow !== undefined ? { windowMs: Math.max(1, Math.round(failureWindow * 1000)) } : {}) };
}

/** --tls-cert/--tls-key: the operator's files, loaded, or generated and written when neither exists. */
async function tlsFiles(certFile: string, keyFile: string, host: string, io: GatewayIo): Promise<TlsIdentity> {
  const names = [host === '0.0.0.0' || host === '::' ? 'localhost' : host, 'localhost'];
  try {
    const { generated, ...tls } = await loadOrCreateTls(certFile, keyFile, names);
    if (generated) io.stderr(`tee-gateway: generated a TLS key in ${keyFile} (mode 0600) and its certificate in ${certFile}\n`);
    return tls;
  } catch (e) {
    throw new GatewayError('ERR_GATEWAY_CONFIG', 500, `--tls-cert/--tls-key: ${(e as Error).message}`);
  }
}

async function serve(args: string[], io: GatewayIo): Promise<{ code: number; gateway?: Gateway }> {
  const { values: v, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { ...GATEWAY_SERVE_OPTIONS, ...HELP_OPTION } });
  if (v.help) return { code: printUsage(io) };
  if (!v.upstream) throw new UsageError('serve needs --upstream URL');
  const where = databaseOf(v, io.env ?? process.env, 'serve');
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(v.listen ?? '');
  // Checked here, before any database or token file is made: a port past 65535 threw a plain RangeError at listen (changes-c #6).
  if (!m || Number(m[2]) > 65535) throw new Error('--listen must be HOST:PORT with a port from 0 to 65535');
  if (Boolean(v['tls-cert']) !== Boolean(v['tls-key'])) throw new Error('--tls-cert and --tls-key go together');
  const log = (line: string): void => io.stderr(`${line}\n`);
  const provider = providerOf(v, simulatedTeeOf(v['simulated-tee'], positionals), io, log);
  const served = withVtpm(provider, v, io.stderr);
  const options: GatewayOptions = {
    upstream: v.upstream,
    ...where,
    provider: served,
    host: (m[1] as string).replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    requireApiKey: !v['no-api-key'],
    adminApi: !v['no-admin-api'],
    cubeAttestation: Boolean(v['cube-attestation']),
    handshakeEvidence: !v['no-handshake-evidence'],
    log,
  };
  if (v['tls-cert'] && v['tls-key']) options.tls = await tlsFiles(v['tls-cert'], v['tls-key'], options.host as string, io);
  // POST /tdx_attest: the simulated platform's collateral and roots, or Intel PCS / AMD KDS with the production roots.
  if (provider instanceof SimulatedTeeProvider) {
    const source = new BundleSource([...provider.collateral]);
    options.quoteVerifier = { collateral: new CollateralService({ intel: source, amd: source, cache: null }), trustRoots: provider.trustRoots };
  } else {
    const http = new HttpClient();
    options.quoteVerifier = { collateral: new CollateralService({ intel: new IntelPcsClient({ http }), amd: new AmdKdsClient({ http }) }) };
  }
  const rate = positive(v['attestations-per-second'], '--attestations-per-second');
  const maxBody = positive(v['max-body'], '--max-body');
  const timeout = timerFlag(positive(v['upstream-timeout'], '--upstream-timeout'), '--upstream-timeout', 1);
  if (rate !== undefined) options.attestationsPerSecond = rate;
  const perClient = positive(v['attestations-per-client'], '--attestations-per-client');
  if (perClient !== undefined) options.attestationsPerClient = perClient;
  // Evidence work at the provider and waiting for it (src/gateway/attestation.ts EvidenceQueue; s16).
  const inFlight = wholeNumber(v['evidence-in-flight'], '--evidence-in-flight', 1);
  const queue = wholeNumber(v['evidence-queue'], '--evidence-queue', 0);
  if (inFlight !== undefined) options.evidenceInFlight = inFlight;
  if (queue !== undefined) options.evidenceQueue = queue;
  const turnTimeout = timerFlag(positive(v['evidence-turn-timeout'], '--evidence-turn-timeout'), '--evidence-turn-timeout', 1000);
  if (turnTimeout !== undefined) options.evidenceTurnTimeoutMs = turnTimeout;
  if (maxBody !== undefined) options.maxRequestBytes = maxBody;
  if (timeout !== undefined) options.upstreamTimeoutMs = timeout;
  const pool = positive(v['database-pool'], '--database-pool');
  const grace = timerFlag(positive(v['shutdown-grace'], '--shutdown-grace'), '--shutdown-grace', 1000); // ms
  if (pool !== undefined) options.databasePoolSize = Math.floor(pool);
  if (grace !== undefined) options.shutdownGraceMs = grace;
  // Slow-client bounds in seconds, like --shutdown-grace (fractions allowed); timerFlag gives ms.
  const seconds = (flag: 'headers-timeout' | 'request-timeout' | 'keep-alive-timeout'): number | undefined => timerFlag(positive(v[flag], `--${flag}`), `--${flag}`, 1000);
  const headersTimeoutMs = seconds('headers-timeout');
  const requestTimeoutMs = seconds('request-timeout');
  const keepAliveTimeoutMs = seconds('keep-alive-timeout');
  if (headersTimeoutMs !== undefined) options.headersTimeoutMs = headersTimeoutMs;
  if (requestTimeoutMs !== undefined) options.requestTimeoutMs = requestTimeoutMs;
  if (keepAliveTimeoutMs !== undefined) options.keepAliveTimeoutMs = keepAliveTimeoutMs;
  const adminFailureLimit = failureLimitOf(v, 'admin');
  const apiKeyFailureLimit = failureLimitOf(v, 'api-key');
  if (adminFailureLimit) options.adminFailureLimit = adminFailureLimit;
  if (apiKeyFailureLimit) options.apiKeyFailureLimit = apiKeyFailureLimit;
  if (v['trusted-proxy']) options.trustedProxies = v['trusted-proxy'];
  const connectionsPerClient = positive(v['max-connections-per-client'], '--max-connections-per-client');
  if (connectionsPerClient !== undefined && !Number.isSafeInteger(connectionsPerClient)) throw new Error('--max-connections-per-client must be a positive integer');
  if (connectionsPerClient !== undefined) options.maxConnectionsPerClient = connectionsPerClient;
  let started: Gateway;
  try {
    started = await startGateway(options);
  } catch (e) {
    await closeProvider(served);
    throw e;
  }
  let closing: Promise<void> | undefined;
  const gateway: Gateway = { ...started, close: () => (closing ??= started.close().finally(() => closeProvider(served))) };
  // pinnedPubkey: the same digest in base64, as curl --pinnedpubkey takes it (review s7: docs asked for base64 of a hex value).
  const pinnedPubkey = `sha256//${Buffer.from(gateway.spkiSha256, 'hex').toString('base64')}`;
  io.stdout(`${JSON.stringify({ url: gateway.url, database: gateway.database, spkiSha256: gateway.spkiSha256, pinnedPubkey })}\n`);
  return { code: 0, gateway };
}

/** `keys` (API keys) and `admin-tokens` (tokens of the HTTP admin API): create, list, revoke on the database. */
async function keys(command: 'keys' | 'admin-tokens', args: string[], io: GatewayIo): Promise<number> {
  const { values: v, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { db: { type: 'string' }, database: { type: 'string' }, ...HELP_OPTION } });
  if (v.help) return printUsage(io);
  const where = databaseOf(v, io.env ?? process.env, command);
  // Migrates like serve, so keys can be created before the first start.
  const store = await ApiKeyStore.open('db' in where ? sqliteLocation(where.db) : where.database, { postgres: { poolMax: 1, applicationName: 'tee-gateway' } });
  const admin = command === 'admin-tokens';
  try {
    const [action, arg] = positionals;
    if (action === 'create' && arg) {
      const k = admin ? await store.createAdminToken(arg) : await store.create(arg);
      io.stdout(`${JSON.stringify({ id: k.id, name: k.name, createdAt: k.createdAt, token: k.token })}\n`);
      return 0;
    }
    if (action === 'list') {
      for (const k of admin ? await store.listAdminTokens() : await store.list()) io.stdout(`${JSON.stringify(k)}\n`);
      return 0;
    }
    if (action === 'revoke' && arg) {
      if (admin ? await store.revokeAdminToken(arg) : await store.revoke(arg)) return 0;
      io.stderr(`tee-gateway: no active ${admin ? 'admin token' : 'key'} ${arg}\n`);
      return 1;
    }
    io.stderr(GATEWAY_USAGE);
    return 2;
  } finally {
    await store.close();
  }
}

export async function runGatewayCli(argv: string[], io: GatewayIo): Promise<{ code: number; gateway?: Gateway }> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(rest, io);
    if (command === 'keys' || command === 'admin-tokens') return { code: await keys(command, rest, io) };
    if (command === 'help' || command === '--help' || command === '-h' || command === undefined) {
      io.stdout(GATEWAY_USAGE);
      return { code: command === undefined ? 2 : 0 };
    }
    io.stderr(`tee-gateway: unknown command ${command}\n${GATEWAY_USAGE}`);
    return { code: 2 };
  } catch (e) {
    io.stderr(`tee-gateway: ${StorageError.is(e) || e instanceof GatewayError || isModelError(e) ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}\n`);
    return { code: exitCodeOf(e) };
  }
}

/**
 * 75: the database is unreachable now or the port is in use (a supervisor may retry); 78: the
 * configuration must change (also an address this machine lacks, a port it may not bind); 2: usage.
 */
export function exitCodeOf(e: unknown): number {
  if (StorageError.is(e)) return e.exitCode;
  if (e instanceof GatewayError && e.code === 'ERR_GATEWAY_CONFIG') return EXIT_CONFIG;
  if (e instanceof GatewayError && e.code === 'ERR_GATEWAY_LISTEN') return listenExitCode(e);
  return 2;
}
