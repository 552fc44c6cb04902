/**
 * `tee-verify serve`: the attestation-service mode (docs/attestation-service.md).
 * Parses options, reads every file first (a bad one is exit 2 before
 * listening), builds the collateral service, starts the service and runs
 * until SIGINT / SIGTERM.
 *
 * Collateral for a long-running service: the --collateral bundle first while
 * its artifacts are valid at the instant (X03 kept against the cache, see
 * docs/collateral.md), then one CollateralService whose cache (disk, or
 * memory with --no-cache) serves warm requests and refreshes artifacts
 * before their windows close, then the network (unless --offline). Unlike
 * one-shot `verify`, nothing is memoised per run: a transient fetch failure
 * is retried by the next request.
 */
import { createPrivateKey } from 'node:crypto';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

import { AttestationServiceError, startAttestationService, type AttestationService, type AttestationServiceOptions } from '../attestation-service/index.js';
import {
  AmdKdsClient,
  BundleSource,
  CollateralCache,
  CollateralService,
  HttpClient,
  IntelPcsClient,
  defaultCacheDirectory,
  type AmdCollateralSource,
  type CollateralArtifact,
  type IntelCollateralSource,
  type TrustRoots,
} from '../index.js';
import { printableUrl } from '../collateral/source-url.js';
import { isLoopbackHost } from '../attestation-service/loopback.js';
import { MAX_PRIVATE_KEY_FILE_BYTES, readPrivateKeyFile, type PrivateKeyFileNames } from '../gateway/tls.js';
import { listenExitCode } from '../net/listen.js';
import type { Policy } from '../policy/index.js';
import { givenTwice, helpAlone, instantOption, integerOption, repeatedOption, stringOption } from './args.js';
import { readTrustRoots } from './certificates.js';
import { UsageError } from './errors.js';
import { commandInput } from './command-input.js';
import { INPUT_LIMITS, readInput, readStreamInput } from './files.js';
import { writeLine, type CliIo } from './io.js';
import { lineSafe } from './terminal-text.js';
import { readPolicyFile } from './policy.js';
import { collateralClients, readBundle } from './sources.js';

export interface ServeArgs {
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  /** Plain HTTP on an address that is not loopback (behind a TLS-terminating proxy); a start WARNING. */
  forcePlainHttp: boolean;
  signingKey?: string;
  corsOrigins: string[];
  /** [name, file] pairs. */
  policies: [string | undefined, string][];
  defaultPolicies: string[];
  /** Named policies whose passing tokens carry open-webui's `tee` / `tcb-status` claims (besides the defaults). */
  openWebUiPolicies: string[];
  inlinePolicies: boolean;
  tokenTtl?: number;
  maxBody?: number;
  maxConcurrent?: number;
  maxConnections?: number;
  maxConnectionsPerClient?: number;
  maxQueued?: number;
  maxPerClient?: number;
  trustedProxies: string[];
  metrics: boolean;
  trustRoot?: string;
  skipCrl: boolean;
  /** A fixed verification instant for every request (recorded collateral, demos). */
  at?: Date;
  pcsUrl?: string;
  kdsUrl?: string;
  cacheDir?: string;
  noCache: boolean;
  offline: boolean;
  bundle?: string;
  retries?: number;
}

export const SERVE_OPTIONS = {
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'force-plain-http': { type: 'boolean' },
  'signing-key': { type: 'string' },
  'cors-origin': { type: 'string', multiple: true },
  policy: { type: 'string', multiple: true },
  'default-policy': { type: 'string', multiple: true },
  'open-webui-policy': { type: 'string', multiple: true },
  'no-inline-policy': { type: 'boolean' },
  'token-ttl': { type: 'string' },
  'max-body': { type: 'string' },
  'max-concurrent': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-client': { type: 'string' },
  'max-queued': { type: 'string' },
  'max-per-client': { type: 'string' },
  'trusted-proxy': { type: 'string', multiple: true },
  'no-metrics': { type: 'boolean' },
  'trust-root': { type: 'string' },
  'skip-crl': { type: 'boolean' },
  at: { type: 'string' },
  'pcs-url': { type: 'string' },
  'kds-url': { type: 'string' },
  'cache-dir': { type: 'string' },
  'no-cache': { type: 'boolean' },
  offline: { type: 'boolean' },
  collateral: { type: 'string' },
  retries: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function listenOption(text: string | undefined): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text ?? '127.0.0.1:8080');
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080 (got "${text}")`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * s16 red team, env finding 1: without TLS, --listen on an address that is not loopback sent the
 * verdicts, the tokens and the JWKS in cleartext with no word. Refused (exit 2, before any file is
 * read) unless --force-plain-http says a TLS-terminating proxy is in front; the service then logs a
 * WARNING at start. The library refuses the same (startAttestationService, ERR_INVALID_ARGUMENT).
 */
function refusePlainHttpElsewhere(a: ServeArgs): void {
  if (a.tlsCert !== undefined || a.forcePlainHttp || isLoopbackHost(a.host)) return;
  const at = a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  throw new UsageError(
    `--listen ${at}: plain HTTP is only served on loopback (an address in 127.0.0.0/8, ::1, or localhost); elsewhere verdicts, tokens and the JWKS would travel unencrypted. Give --tls-cert/--tls-key, or --force-plain-http behind a TLS-terminating proxy (a WARNING at start)`,
  );
}

function policyOption(text: string): [string | undefined, string] {
  const eq = text.indexOf('=');
  // NAME=FILE; a path holding "=" can be given as ./path
  if (eq > 0 && /^[A-Za-z0-9._:-]+$/.test(text.slice(0, eq))) return [text.slice(0, eq), text.slice(eq + 1)];
  return [undefined, text];
}

/** Parses `serve` arguments; undefined means --help. */
export function parseServeArgs(argv: readonly string[]): ServeArgs | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: SERVE_OPTIONS, allowPositionals: false, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError(`serve: ${(err as Error).message.split(/\.\s/)[0]}`);
  }
  const v = parsed.values;
  if (helpAlone('serve', argv, v.help)) return undefined;
  const twice = repeatedOption(parsed.tokens, SERVE_OPTIONS);
  if (twice !== undefined) throw new UsageError(`serve: ${givenTwice(twice)}`);
  const single = v as Record<string, string | boolean | undefined>;
  if (Boolean(v['tls-cert']) !== Boolean(v['tls-key'])) throw new UsageError('--tls-cert and --tls-key go together');
  if (v['force-plain-http'] && v['tls-cert'] !== undefined) throw new UsageError('--force-plain-http is for a service without TLS: drop it, or drop --tls-cert/--tls-key');
  if (v['cache-dir'] !== undefined && v['no-cache']) throw new UsageError('--cache-dir and --no-cache exclude each other');
  if (v.offline && (v['pcs-url'] !== undefined || v['kds-url'] !== undefined)) throw new UsageError('--offline fetches nothing: drop --pcs-url / --kds-url');
  const at = instantOption(single);
  const num = (name: string, min: number, max: number) => integerOption(single, name, min, max);
  const out: ServeArgs = {
    ...listenOption(v.listen),
    corsOrigins: v['cors-origin'] ?? [],
    policies: (v.policy ?? []).map(policyOption),
    defaultPolicies: v['default-policy'] ?? [],
    openWebUiPolicies: v['open-webui-policy'] ?? [],
    trustedProxies: v['trusted-proxy'] ?? [],
    inlinePolicies: !v['no-inline-policy'],
    metrics: !v['no-metrics'],
    skipCrl: v['skip-crl'] === true,
    noCache: v['no-cache'] === true,
    offline: v.offline === true,
    forcePlainHttp: v['force-plain-http'] === true,
  };
  const set = <K extends keyof ServeArgs>(k: K, value: ServeArgs[K] | undefined) => {
    if (value !== undefined) out[k] = value;
  };
  set('tlsCert', stringOption(single, 'tls-cert'));
  set('tlsKey', stringOption(single, 'tls-key'));
  set('signingKey', stringOption(single, 'signing-key'));
  set('trustRoot', stringOption(single, 'trust-root'));
  set('pcsUrl', stringOption(single, 'pcs-url'));
  set('kdsUrl', stringOption(single, 'kds-url'));
  set('cacheDir', stringOption(single, 'cache-dir'));
  set('bundle', stringOption(single, 'collateral'));
  set('at', at);
  set('tokenTtl', num('token-ttl', 1, 86_400));
  set('maxBody', num('max-body', 1024, 64 * 1024 * 1024));
  set('maxConcurrent', num('max-concurrent', 1, 4096));
  set('maxConnections', num('max-connections', 1, 1_000_000));
  set('maxConnectionsPerClient', num('max-connections-per-client', 1, 1_000_000));
  set('maxQueued', num('max-queued', 0, 1_000_000));
  set('maxPerClient', num('max-per-client', 1, 1_000_000));
  set('retries', num('retries', 0, 10));
  for (const o of out.corsOrigins) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) throw new UsageError(`--cors-origin must be "*" or scheme://host[:port] (got "${o}")`);
  }
  refusePlainHttpElsewhere(out);
  if (out.offline && out.bundle === undefined && out.noCache) throw new UsageError('--offline needs --collateral <bundle> (or the cache)');
  return out;
}

/**
 * What the collateral service fetches: the network, then the bundle. The
 * service serves the bundle's artifacts before the cache while they are valid
 * at the instant (see ArtifactResolver), so a bundle artifact reached here is
 * outside its window: a long-running service asks for a current one, and the
 * bundle's is the last answer (offline, or the network failed). The resolver
 * counts that last answer as a failed refresh and asks again only once a
 * refresh is due (refresh interval), so requests after it cost no fetch. No
 * memo: the CollateralService caches and single-flights.
 */
class ServeSource implements IntelCollateralSource, AmdCollateralSource {
  constructor(
    readonly bundle: BundleSource | undefined,
    readonly intel: IntelPcsClient | undefined,
    readonly amd: AmdKdsClient | undefined,
  ) {}

  async #get(fromBundle: ((b: BundleSource) => Promise<CollateralArtifact>) | undefined, fromNet: (() => Promise<CollateralArtifact>) | undefined, missing: () => Promise<CollateralArtifact>): Promise<CollateralArtifact> {
    if (!fromNet) return this.bundle && fromBundle ? fromBundle(this.bundle) : missing();
    try {
      return await fromNet();
    } catch (err) {
      if (!this.bundle || !fromBundle) throw err;
      // The network's failure is the answer when the bundle lacks the artifact too.
      return fromBundle(this.bundle).catch(() => Promise.reject(err));
    }
  }

  #intel(call: (s: IntelCollateralSource) => Promise<CollateralArtifact>): Promise<CollateralArtifact> {
    const net = this.intel;
    return this.#get(call, net && (() => call(net)), () => call(new BundleSource([])));
  }

  #amd(call: (s: AmdCollateralSource) => Promise<CollateralArtifact>): Promise<CollateralArtifact> {
    const net = this.amd;
    return this.#get(call, net && (() => call(net)), () => call(new BundleSource([])));
  }

  tcbInfo(r: Parameters<IntelCollateralSource['tcbInfo']>[0]) {
    return this.#intel((s) => s.tcbInfo(r));
  }
  qeIdentity(r: Parameters<IntelCollateralSource['qeIdentity']>[0]) {
    return this.#intel((s) => s.qeIdentity(r));
  }
  pckCrl(ca: Parameters<IntelCollateralSource['pckCrl']>[0]) {
    return this.#intel((s) => s.pckCrl(ca));
  }
  rootCaCrl() {
    return this.#intel((s) => s.rootCaCrl());
  }
  vcek(r: Parameters<AmdCollateralSource['vcek']>[0]) {
    return this.#amd((s) => s.vcek(r));
  }
  certChain(...a: Parameters<AmdCollateralSource['certChain']>) {
    return this.#amd((s) => s.certChain(...a));
  }
  crl(...a: Parameters<AmdCollateralSource['crl']>) {
    return this.#amd((s) => s.crl(...a));
  }
}

interface ServeCollateral {
  service: CollateralService;
  description: string;
  close(): Promise<void>;
}

async function collateralOf(a: ServeArgs, io: CliIo, trustRoots: TrustRoots | undefined): Promise<ServeCollateral> {
  const bundle = a.bundle === undefined ? undefined : await readBundle(a.bundle);
  const directory = a.noCache ? null : (a.cacheDir ?? defaultCacheDirectory((io.env ?? {}) as NodeJS.ProcessEnv));
  let cache: CollateralCache;
  try {
    cache = new CollateralCache({ directory });
  } catch (err) {
    throw new UsageError(`cannot use the cache directory ${directory}: ${(err as Error).message} (pass --cache-dir <dir> or --no-cache)`);
  }
  let http: HttpClient | undefined;
  let intel: IntelPcsClient | undefined;
  let amd: AmdKdsClient | undefined;
  if (!a.offline) {
    http = new HttpClient(a.retries === undefined ? {} : { retries: a.retries });
    ({ intel, amd } = collateralClients(http, a.pcsUrl, a.kdsUrl));
  }
  const explicit = bundle && new BundleSource(bundle.artifacts);
  const source = new ServeSource(explicit, intel, amd);
  const parts = [bundle ? `bundle ${a.bundle}` : undefined, `cache ${directory ?? 'in memory'}`, intel && amd ? `network (PCS ${printableUrl(intel.baseUrl)}, KDS ${printableUrl(amd.baseUrl)})` : undefined];
  return {
    // --collateral before the cache while valid (X03 ranked against --trust-root's roots, else the pinned ones).
    service: new CollateralService({ intel: source, amd: source, cache, ...(explicit ? { bundle: explicit } : {}), ...(trustRoots ? { trustRoots } : {}) }),
    description: parts.filter((p) => p !== undefined).join(', '),
    close: async () => {
      await http?.close();
    },
  };
}

async function policiesOf(a: ServeArgs): Promise<{ named: Record<string, Policy>; defaults: AttestationServiceOptions['defaultPolicies'] }> {
  const named: Record<string, Policy> = {};
  for (const [name, file] of a.policies) {
    const { policy } = await readPolicyFile(file);
    const key = name ?? policy.id ?? basename(file).replace(/\.json$/i, '');
    if (key === 'default') throw new UsageError(`--policy ${file}: "default" is reserved (it names each TEE's default policy)`);
    // The EAR's ear.appraisal-policy-id is the configured name, and only the service gives the
    // reserved ids (review s12 #2): a relaxed copy of prod.json configured as "lax" must not sign as "prod".
    if (key.startsWith('tee-verify:') || key.startsWith('inline:')) {
      throw new UsageError(`--policy ${name === undefined ? '' : `${name}=`}${file}: the name ${JSON.stringify(key)} is reserved (names starting with "tee-verify:" or "inline:" are the service's own)`);
    }
    if (policy.id !== undefined && policy.id !== key) {
      throw new UsageError(`--policy ${name}=${file}: the document says "id": ${JSON.stringify(policy.id)}, not ${JSON.stringify(key)}; a policy's id must be the name it is configured under (it is the token's ear.appraisal-policy-id)`);
    }
    if (named[key]) throw new UsageError(`--policy: two policies are named "${key}" (give NAME=FILE)`);
    named[key] = policy;
  }
  const defaults: NonNullable<AttestationServiceOptions['defaultPolicies']> = {};
  for (const name of a.defaultPolicies) {
    const p = named[name];
    if (!p) throw new UsageError(`--default-policy ${name}: no --policy has that name (${Object.keys(named).join(', ') || 'none given'})`);
    if (defaults[p.tee]) throw new UsageError(`--default-policy: two defaults for ${p.tee}`);
    defaults[p.tee] = name;
  }
  for (const name of a.openWebUiPolicies) {
    if (!named[name]) throw new UsageError(`--open-webui-policy ${name}: no --policy has that name (${Object.keys(named).join(', ') || 'none given'})`);
  }
  return { named, defaults };
}

const text = async (path: string, option: string) => Buffer.from(await readInput(path, option, INPUT_LIMITS.document)).toString('utf8');

/** Who read this process's standard input as a key outside run() (inside, the command's record). */
const keyStdinReaders = new WeakMap<object, string>();

/**
 * A private key file (--tls-key, --signing-key) under the shared secret-file rule (s16 red team, env
 * finding 4; readPrivateKeyFile: no symbolic link, a regular file or an inherited descriptor, no
 * group or other access, owned by this user or root, not empty, at most 64 KiB): they were read with
 * any mode, owner or link, although the one signs every token and the other is the service's TLS
 * identity. A refusal is a usage error (exit 2) whose advice names the option.
 *
 * `-` is the command's standard input, as for every other `-` input (s16 change review of cce6563,
 * #2: it read fd 0 directly, so `--signing-key - --tls-key -` was accepted, the one taking the whole
 * stream and the other empty, and a stream given to run() was ignored): read once per command (a
 * second `-` is refused, naming the first); this process's own standard input is fd 0 under the
 * secret-file rule (a 0644 file redirected into it is refused), a stream an embedder passed to run()
 * is read up to the same bound.
 */
async function secretText(path: string, option: string): Promise<string> {
  const names: PrivateKeyFileNames = { option, example: option === '--signing-key' ? 'signing-key.pem' : 'tls.key' };
  if (path === '-') {
    const input = commandInput();
    const stdin = input?.stdin ?? process.stdin;
    if (stdin !== process.stdin) return Buffer.from(await readStreamInput(stdin, option, MAX_PRIVATE_KEY_FILE_BYTES)).toString('utf8');
    const readers = input?.readers ?? keyStdinReaders;
    const first = readers.get(stdin);
    if (first !== undefined) throw new UsageError(`${option} -: standard input is already read as the ${first}; only one input can be "-"`);
    readers.set(stdin, option);
  }
  try {
    return await readPrivateKeyFile(path === '-' ? '/dev/stdin' : path, names);
  } catch (err) {
    throw new UsageError(`${option}: ${(err as Error).message}`, 'ERR_INPUT');
  }
}

/** A private key file that OpenSSL cannot decode is a usage error naming the file, not a bare "DECODER routines::unsupported" (review s8). */
async function privateKeyText(path: string, option: string): Promise<string> {
  const pem = await secretText(path, option);
  try {
    createPrivateKey(pem);
  } catch (err) {
    throw new UsageError(`${option} ${path}: not a PEM private key (${(err as Error).message})`, 'ERR_INPUT');
  }
  return pem;
}

/**
 * --at judges every request at a past instant, and the token's iat / exp follow it; an instant
 * after the wall clock would date tokens after their signing, which a relying party that checks
 * only exp (open-webui's jsonwebtoken) accepts until then: a usage error (review s10 A2).
 */
function refuseFutureAt(at: Date | undefined, wallClock: Date): void {
  if (at && at.getTime() > wallClock.getTime()) {
    throw new UsageError(`--at ${at.toISOString()} is in the future (now ${wallClock.toISOString()}): serve judges only instants that have passed, since its tokens are dated at the judged instant`);
  }
}

/** Reads every file, starts the service; the caller closes it. `wallClock` is read once, for the --at check. */
export async function startServe(a: ServeArgs, io: CliIo, wallClock: () => Date = () => new Date()): Promise<{ service: AttestationService; close(): Promise<void> }> {
  refuseFutureAt(a.at, wallClock());
  const { named, defaults } = await policiesOf(a);
  const trustRoots = a.trustRoot === undefined ? undefined : await readTrustRoots(a.trustRoot);
  const signingKey = a.signingKey === undefined ? undefined : await privateKeyText(a.signingKey, '--signing-key');
  const tls = a.tlsCert && a.tlsKey ? { cert: await text(a.tlsCert, '--tls-cert'), key: await privateKeyText(a.tlsKey, '--tls-key') } : undefined;
  const collateral = await collateralOf(a, io, trustRoots);
  // Request logs can carry what clients sent: shown with control characters visible.
  const log = (line: string) => writeLine(io.stderr, lineSafe(line));
  if (trustRoots) log(`tee-verify serve: WARNING: trust roots replaced by --trust-root ${a.trustRoot}: not the pinned Intel / AMD production roots`);
  if (a.skipCrl) log('tee-verify serve: WARNING: --skip-crl: revocation may be unchecked (every result says so)');
  if (a.at) log(`tee-verify serve: WARNING: --at: every request is judged at ${a.at.toISOString()}, not at the current time (every result says so; tokens are dated at that instant)`);
  const fixed = a.at;
  let service: AttestationService;
  try {
    service = await startAttestationService({
      collateral: collateral.service,
      policies: named,
      defaultPolicies: defaults,
      allowInlinePolicies: a.inlinePolicies,
      openWebUiPolicies: a.openWebUiPolicies,
      host: a.host,
      port: a.port,
      corsOrigins: a.corsOrigins,
      metrics: a.metrics,
      log,
      ...(trustRoots ? { trustRoots } : {}),
      ...(signingKey === undefined ? {} : { signingKey }),
      ...(tls ? { tls } : {}),
      ...(a.forcePlainHttp ? { forcePlainHttp: true } : {}),
      // Collateral it cannot obtain is gathered again with the CRLs optional, as verify --skip-crl does.
      ...(a.skipCrl ? { relaxations: { skipCrl: true } } : {}),
      ...(fixed ? { fixedInstant: fixed } : {}),
      ...(a.tokenTtl === undefined ? {} : { tokenTtlSeconds: a.tokenTtl }),
      ...(a.maxBody === undefined ? {} : { maxBodyBytes: a.maxBody }),
      ...(a.maxConcurrent === undefined ? {} : { maxConcurrent: a.maxConcurrent }),
      ...(a.maxConnections === undefined ? {} : { maxConnections: a.maxConnections }),
      ...(a.maxConnectionsPerClient === undefined ? {} : { maxConnectionsPerClient: a.maxConnectionsPerClient }),
      ...(a.maxQueued === undefined ? {} : { maxQueued: a.maxQueued }),
      ...(a.maxPerClient === undefined ? {} : { maxPerClient: a.maxPerClient }),
      ...(a.trustedProxies.length > 0 ? { trustedProxies: a.trustedProxies } : {}),
    });
  } catch (err) {
    await collateral.close();
    // A --listen address it cannot bind: typed, for runServe's 75 / 78 (review s10, L1).
    if (isListenError(err)) throw err;
    // A bad key or option value: the service never started (exit 2).
    throw new UsageError(`serve: cannot start: ${(err as Error).message}`);
  }
  log(`tee-verify serve: collateral from ${collateral.description}; policies: ${['default', ...Object.keys(named)].join(', ')}; CORS: ${a.corsOrigins.join(' ') || 'none'}`);
  return {
    service,
    close: async () => {
      await service.close();
      await collateral.close();
    },
  };
}

const isListenError = (err: unknown): err is AttestationServiceError => err instanceof AttestationServiceError && err.code === 'ERR_AS_LISTEN';

/**
 * Runs until SIGINT or SIGTERM (the one place this command touches process). A --listen address it
 * cannot bind exits 75 when the same start can succeed later (EADDRINUSE, EAI_AGAIN) and 78 otherwise,
 * as tee-kbs and tee-gateway do (src/net/listen.ts); it was exit 2, "usage", until review s10 (L1).
 */
export async function runServe(a: ServeArgs, io: CliIo): Promise<number> {
  let running: Awaited<ReturnType<typeof startServe>>;
  try {
    running = await startServe(a, io);
  } catch (err) {
    if (!isListenError(err)) throw err;
    writeLine(io.stderr, `error: ${err.code}: ${lineSafe(err.message)}`);
    return listenExitCode(err.cause);
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await running.close();
  return 0;
}
