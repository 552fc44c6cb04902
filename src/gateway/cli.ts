/**
 * tee-gateway command line. `serve` runs a gateway; `keys` manages API keys
 * and `admin-tokens` the admin API's tokens in the database. runGatewayCli
 * returns an exit code (and the gateway for `serve`); it never exits the process.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { AmdKdsClient, BundleSource, CollateralService, HttpClient, IntelPcsClient } from '../index.js';
import { ConfigfsTsmProvider, DEFAULT_TSM_ROOT, SimulatedTeeProvider, type EvidenceProvider } from '../tee/index.js';
import { startGateway, type Gateway, type GatewayOptions } from './server.js';
import { ApiKeyStore } from './store.js';

export interface GatewayIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const GATEWAY_USAGE = `usage:
  tee-gateway serve --upstream URL --db FILE [--listen 127.0.0.1:8443] [--tls-cert PEM --tls-key PEM | (self-signed next to --db)]
                    (--configfs [--tsm-root DIR] | --simulated-tee [tdx|snp] [--simulated-state FILE])
                    [--attestations-per-second N] [--max-body BYTES] [--upstream-timeout MS] [--no-api-key] [--no-admin-api]
  tee-gateway keys create NAME --db FILE      prints the new API key once
  tee-gateway keys list --db FILE
  tee-gateway keys revoke ID --db FILE
  tee-gateway admin-tokens create NAME --db FILE   a token for the HTTP admin API (/admin/v1/keys), printed once
  tee-gateway admin-tokens list --db FILE
  tee-gateway admin-tokens revoke ID --db FILE
`;

function providerOf(v: Record<string, string | boolean | undefined>, io: GatewayIo): EvidenceProvider {
  if (v['configfs']) return new ConfigfsTsmProvider({ root: typeof v['tsm-root'] === 'string' ? v['tsm-root'] : DEFAULT_TSM_ROOT });
  if (v['simulated-tee'] === undefined) throw new Error('serve needs --configfs or --simulated-tee');
  const stateFile = v['simulated-state'];
  if (typeof stateFile === 'string' && existsSync(stateFile)) return SimulatedTeeProvider.fromState(readFileSync(stateFile, 'utf8'));
  const tee = v['simulated-tee'] === 'snp' ? 'snp' : 'tdx';
  const p = new SimulatedTeeProvider({ tee });
  if (typeof stateFile === 'string') {
    writeFileSync(stateFile, JSON.stringify(p.exportState()), { mode: 0o600 });
    io.stderr(`tee-gateway: simulated ${tee} TEE state (test trust roots and collateral for clients) written to ${stateFile}\n`);
  }
  io.stderr('tee-gateway: WARNING: simulated TEE: evidence chains to a test PKI; no production verifier accepts it\n');
  return p;
}

function positive(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

async function serve(args: string[], io: GatewayIo): Promise<{ code: number; gateway?: Gateway }> {
  const { values: v, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      upstream: { type: 'string' }, db: { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:8443' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
      configfs: { type: 'boolean' }, 'tsm-root': { type: 'string' }, 'simulated-tee': { type: 'boolean' }, 'simulated-state': { type: 'string' },
      'attestations-per-second': { type: 'string' }, 'max-body': { type: 'string' }, 'upstream-timeout': { type: 'string' }, 'no-api-key': { type: 'boolean' }, 'no-admin-api': { type: 'boolean' },
    },
  });
  if (!v.upstream || !v.db) throw new Error('serve needs --upstream URL and --db FILE');
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(v.listen ?? '');
  if (!m) throw new Error('--listen must be HOST:PORT');
  if (Boolean(v['tls-cert']) !== Boolean(v['tls-key'])) throw new Error('--tls-cert and --tls-key go together');
  const sim = v['simulated-tee'] ? (positionals[0] === 'snp' ? 'snp' : 'tdx') : undefined;
  const provider = providerOf({ ...v, 'simulated-tee': sim }, io);
  const options: GatewayOptions = {
    upstream: v.upstream,
    db: v.db,
    provider,
    host: (m[1] as string).replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    requireApiKey: !v['no-api-key'],
    adminApi: !v['no-admin-api'],
    log: (l) => io.stderr(`${l}\n`),
    ...(v['tls-cert'] && v['tls-key'] ? { tls: { cert: readFileSync(v['tls-cert'], 'utf8'), key: readFileSync(v['tls-key'], 'utf8') } } : {}),
  };
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
  const timeout = positive(v['upstream-timeout'], '--upstream-timeout');
  if (rate !== undefined) options.attestationsPerSecond = rate;
  if (maxBody !== undefined) options.maxRequestBytes = maxBody;
  if (timeout !== undefined) options.upstreamTimeoutMs = timeout;
  const gateway = await startGateway(options);
  return { code: 0, gateway };
}

/** `keys` (API keys) and `admin-tokens` (tokens of the HTTP admin API): create, list, revoke on the database. */
function keys(command: 'keys' | 'admin-tokens', args: string[], io: GatewayIo): number {
  const { values: v, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { db: { type: 'string' } } });
  if (!v.db) throw new Error(`${command} needs --db FILE`);
  const store = new ApiKeyStore(v.db);
  const admin = command === 'admin-tokens';
  try {
    const [action, arg] = positionals;
    if (action === 'create' && arg) {
      const k = admin ? store.createAdminToken(arg) : store.create(arg);
      io.stdout(`${JSON.stringify({ id: k.id, name: k.name, createdAt: k.createdAt, token: k.token })}\n`);
      return 0;
    }
    if (action === 'list') {
      for (const k of admin ? store.listAdminTokens() : store.list()) io.stdout(`${JSON.stringify(k)}\n`);
      return 0;
    }
    if (action === 'revoke' && arg) {
      if (admin ? store.revokeAdminToken(arg) : store.revoke(arg)) return 0;
      io.stderr(`tee-gateway: no active ${admin ? 'admin token' : 'key'} ${arg}\n`);
      return 1;
    }
    io.stderr(GATEWAY_USAGE);
    return 2;
  } finally {
    store.close();
  }
}

export async function runGatewayCli(argv: string[], io: GatewayIo): Promise<{ code: number; gateway?: Gateway }> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(rest, io);
    if (command === 'keys' || command === 'admin-tokens') return { code: keys(command, rest, io) };
    if (command === 'help' || command === '--help' || command === undefined) {
      io.stdout(GATEWAY_USAGE);
      return { code: command === undefined ? 2 : 0 };
    }
    io.stderr(`tee-gateway: unknown command ${command}\n${GATEWAY_USAGE}`);
    return { code: 2 };
  } catch (e) {
    io.stderr(`tee-gateway: ${(e as Error).message}\n`);
    return { code: 2 };
  }
}
