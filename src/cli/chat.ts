/**
 * `tee-verify chat --gateway URL --policy FILE`: the attested terminal chat
 * (src/gateway/chat-cli.ts). This file reads the command line, the policy and
 * the trust material; the session verifies the gateway before any prompt leaves.
 */
import { AmdKdsClient, BundleSource, CollateralService, HttpClient, IntelPcsClient, type Policy, type TrustRoots } from '../index.js';
import type { AttestedClientOptions } from '../gateway/client.js';
import { runChatSession, type ChatApi } from '../gateway/chat-cli.js';
import { integerOption, oneOf, parseOptions, stringOption, UsageError } from './args.js';
import { readTrustRoots } from './certificates.js';
import { INPUT_LIMITS, readText } from './files.js';
import { writeLine, type CliIo, type CliStream } from './io.js';
import { readPolicyFile } from './policy.js';
import { readBundle } from './sources.js';
import { jsonLine, lineSafe } from './terminal-text.js';
import { REFERENCE_LIMITS, loadReferenceList, type ReferenceList } from '../vtpm/reference.js';

/** The CLI's io plus the input stream for interactive chat (default: the process's stdin). */
export interface ChatCliIo extends CliIo {
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export const CHAT_OPTIONS = {
  gateway: { type: 'string' },
  policy: { type: 'string' },
  prompt: { type: 'string' },
  json: { type: 'boolean' },
  token: { type: 'string' },
  api: { type: 'string' },
  model: { type: 'string' },
  'simulated-state': { type: 'string' },
  collateral: { type: 'string' },
  'trust-root': { type: 'string' },
  reference: { type: 'string' },
  'no-vtpm': { type: 'boolean' },
  'handshake-evidence': { type: 'boolean' },
  'answer-timeout': { type: 'string' },
} as const;

/** --answer-timeout's largest value, in seconds: Node's longest timer (2^31 - 1 ms). */
const MAX_ANSWER_TIMEOUT_S = 2_147_483;

/**
 * Collateral and roots: the simulated TEE's (test PKI), a bundle (+ roots), or Intel PCS / AMD KDS with the production roots.
 * A simulated platform whose keys derive from a public seed is trusted with a warning (review s7b): the client is the party a
 * forger fools, since anyone with the package can sign evidence those roots accept.
 */
async function trustOf(values: Record<string, string | boolean | undefined>, warn: (line: string) => void): Promise<Pick<AttestedClientOptions, 'collateral' | 'trustRoots'>> {
  const state = stringOption(values, 'simulated-state');
  const bundle = stringOption(values, 'collateral');
  const root = stringOption(values, 'trust-root');
  if (state && (bundle || root)) throw new UsageError('--simulated-state brings its own collateral and roots: not with --collateral / --trust-root');
  if (state) {
    const { SimulatedTeeProvider } = await import('../tee/index.js');
    let p;
    try {
      p = SimulatedTeeProvider.fromState(await readText(state, '--simulated-state', INPUT_LIMITS.document));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--simulated-state ${state}: ${(e as Error).message}`, 'ERR_INPUT');
    }
    if (p.keysFromSeed) {
      warn(`warning: --simulated-state ${state}: this simulated TEE's keys derive from a public seed (keySeed, or a state file from before random keys): anyone can forge evidence its roots accept, so passing attestation proves nothing about the gateway`);
    }
    const source = new BundleSource([...p.collateral]);
    return { collateral: new CollateralService({ intel: source, amd: source, cache: null }), trustRoots: p.trustRoots };
  }
  const trustRoots: TrustRoots | undefined = root ? await readTrustRoots(root) : undefined;
  if (bundle) {
    const source = new BundleSource((await readBundle(bundle)).artifacts);
    return { collateral: new CollateralService({ intel: source, amd: source, cache: null }), ...(trustRoots ? { trustRoots } : {}) };
  }
  const http = new HttpClient();
  // The service knows the roots too: under --trust-root its rollback floors stay its own (docs/collateral.md).
  return { collateral: new CollateralService({ intel: new IntelPcsClient({ http }), amd: new AmdKdsClient({ http }), ...(trustRoots ? { trustRoots } : {}) }), ...(trustRoots ? { trustRoots } : {}) };
}

const sink = (s: CliStream) => (t: string) => void s.write(t);

/**
 * The code measurement a policy leaves at "any" (X07; T36, S25), described for
 * the user, or undefined when it pins one. The same rule as the key broker's
 * and the ITA translation's refusal of unpinned policies; chat only warns: a
 * policy that pins no code still proves genuine, current hardware, which may
 * be all the user asked for (review s7).
 */
export function unpinnedMeasurement(policy: Policy): string | undefined {
  switch (policy.tee) {
    case 'tdx':
      return policy.mrTd === 'any' ? 'mrTd is "any"' : undefined;
    case 'sgx':
      return policy.mrEnclave === 'any' && policy.mrSigner === 'any' ? 'mrEnclave and mrSigner are "any"' : undefined;
    case 'snp':
      return policy.measurement === 'any' ? 'measurement is "any"' : undefined;
  }
}

/** The --gateway value of a command line that was refused (the JSON error names it when given). */
function gatewayArgument(args: readonly string[]): string | null {
  const i = args.indexOf('--gateway');
  if (i >= 0 && typeof args[i + 1] === 'string') return args[i + 1]!;
  return args.find((a) => a.startsWith('--gateway='))?.slice('--gateway='.length) ?? null;
}

/** With --json, a refused command line or unreadable file is one JSON line on stdout too, shaped as the chat's other errors (review s8); jsonLine, as every chat JSON line (s16 red team chat #1). */
export function chatUsageJson(err: UsageError, args: readonly string[], io: CliIo): void {
  writeLine(io.stdout, jsonLine({ ok: false, gateway: gatewayArgument(args), error: { code: err.code, message: err.message } }));
}

export async function runChatCli(args: readonly string[], io: ChatCliIo, help: () => number): Promise<number> {
  const parsed = parseOptions('chat', args, CHAT_OPTIONS);
  const v = parsed.values;
  if (v['help']) return help();
  if (parsed.positionals.length > 0) throw new UsageError(`chat: unexpected argument "${parsed.positionals[0]}"`);
  const gateway = stringOption(v, 'gateway');
  const policyFile = stringOption(v, 'policy');
  if (!gateway) throw new UsageError('chat needs --gateway https://HOST:PORT');
  if (!policyFile) throw new UsageError('chat needs --policy FILE (the gateway is judged by it before any prompt is sent)');
  let url: URL;
  try {
    url = new URL(gateway);
  } catch {
    throw new UsageError(`--gateway must be a URL (got "${gateway}")`);
  }
  if (url.protocol !== 'https:') throw new UsageError('--gateway must be an https: URL');
  const prompt = typeof v['prompt'] === 'string' ? v['prompt'] : undefined;
  if (v['json'] && prompt === undefined) throw new UsageError('--json needs --prompt (one-shot mode)');
  const api: ChatApi = oneOf('api', v['api'], ['ollama', 'openai'] as const) ?? 'ollama';
  const model = stringOption(v, 'model') ?? (api === 'ollama' ? 'llama3.2' : 'gpt-4o-mini');
  const token = stringOption(v, 'token') ?? (io.env?.['TEE_GATEWAY_TOKEN'] || undefined);
  // Whole seconds, 0 = none; absent: the session's default, ANSWER_TIMEOUT_MS (s16 red team chat #2).
  const answerTimeout = integerOption(v, 'answer-timeout', 0, MAX_ANSWER_TIMEOUT_S);
  const { policy } = await readPolicyFile(policyFile);
  const warn = (line: string) => writeLine(io.stderr, lineSafe(line));
  const gap = unpinnedMeasurement(policy);
  if (gap !== undefined) {
    warn(`warning: --policy ${policyFile} pins no measurement (${gap}): passing attestation shows genuine, current ${policy.tee.toUpperCase()} hardware, not which code the gateway runs; pin it to trust a specific image (X07, docs/policy.md)`);
  }
  const referenceFile = stringOption(v, 'reference');
  if (referenceFile && v['no-vtpm']) throw new UsageError('--reference judges vTPM evidence: not with --no-vtpm');
  // The policy's vtpm section names the rules, not the list: the image's reference list comes with --reference.
  if (referenceFile && !('vtpm' in policy && policy.vtpm)) throw new UsageError(`--reference needs a policy with a "vtpm" section (${policyFile} has none)`);
  if (v['handshake-evidence'] && 'vtpm' in policy && policy.vtpm) throw new UsageError(`--handshake-evidence carries the hardware report only: ${policyFile} has a "vtpm" section, judged on the in-band exchange`);
  let reference: ReferenceList | undefined;
  if (referenceFile) {
    try {
      reference = loadReferenceList(await readText(referenceFile, '--reference', REFERENCE_LIMITS.maxBytes));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--reference ${referenceFile}: ${(e as Error).message}`, 'ERR_INPUT');
    }
  }
  const client: AttestedClientOptions = { policy, ...(await trustOf(v, warn)), ...(reference ? { reference } : {}), ...(v['no-vtpm'] ? { vtpm: 'off' as const } : {}), ...(v['handshake-evidence'] ? { handshakeEvidence: true } : {}) };
  // Interactive input: the caller's stream, else this process's stdin (bin/tee-verify.js passes none).
  const stdin = prompt === undefined ? (io.stdin ?? process.stdin) : undefined;
  return runChatSession(
    { gateway: url.origin, client, api, model, ...(token ? { token } : {}), ...(prompt !== undefined ? { prompt } : {}), ...(answerTimeout !== undefined ? { answerTimeoutMs: answerTimeout * 1000 } : {}), json: v['json'] === true },
    { stdout: sink(io.stdout), stderr: sink(io.stderr), ...(io.stdout.isTTY === true && io.stdout.columns ? { columns: io.stdout.columns } : {}), ...(stdin ? { stdin, interactive: stdin.isTTY === true } : {}) },
  );
}
