/**
 * tee-model: keygen, encrypt, decrypt, load. `run(argv, io)` returns the exit
 * code and never touches process.* (tests call it in-process).
 *
 * Exit codes: 0 success; 1 refused (a GCM tag that does not verify, a broker
 * that refuses the key); 2 usage or unusable input; 3 broker or TEE
 * unavailable (retry later); 70 internal fault.
 */
import { constants } from 'node:fs';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { lineSafe } from '../cli/terminal-text.js';
import { parseEvidence } from '../evidence/index.js';
import type { BrokerCheck } from '../kbs-client/index.js';
import { USER_DATA_FORMS, checkBrokerTransport, requestKey, type UserDataForm } from '../kbs-client/index.js';
import { ConfigfsTsmProvider, DEFAULT_TSM_ROOT } from '../tee/configfs-tsm.js';
import { SimulatedTeeProvider } from '../tee/simulated.js';
import type { EvidenceProvider } from '../tee/types.js';
import { isModelKeyLength } from './container.js';
import { checkDecryptionOutput, checkDirectoryListing, decryptDirectory, encryptDirectory, readEncryptionConfig } from './directory.js';
import { EvidenceProviderError, KeyBrokerClientError, isModelError, type ModelError, type ModelErrorCode } from './errors.js';
import { decryptFile, encryptFile } from './file.js';
import { readModelKeyFile } from './key-file.js';
import { decodeModelKey, generateModelKey } from './keys.js';
import { resolveTrustedBroker } from './trusted-broker.js';

/** The binary installs it (run() itself never touches process): an interrupted decryption leaves no plaintext staging behind. */
export { installInterruptCleanup } from './interrupt-cleanup.js';

export interface ModelCliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env?: Record<string, string | undefined>;
}

/** Each command's usage lines: `tee-model <command> --help` prints its own, `tee-model --help` all of them. */
export const COMMAND_USAGE = {
  keygen: `  tee-model keygen [-o KEYFILE]
`,
  encrypt: `  tee-model encrypt -i DIR|FILE -o DIR|FILE (-k KEY | --key-file F) [--kbs-url URL] [--key-id ID]
                    [--loader-compatible] [--follow-links]
`,
  decrypt: `  tee-model decrypt -i DIR|FILE -o DIR|FILE (-k KEY | --key-file F)
`,
  load: `  tee-model load --kbs URL [--key-id ID] -i ENCRYPTED_DIR -o OUT_DIR
                 [--allow-insecure-http]
                 [--provider configfs|simulated] [--configfs-root DIR]
                 [--simulated-state FILE] [--simulated-tee tdx|snp]
                 [--ca-cert PEM] [--nonce auto|yes|no]
                 [--user-data-form spki-der|ita-raw]
`,
  'simulated-tee': `  tee-model simulated-tee --state FILE [--simulated-tee tdx|snp] [--trust-root-out PEM] [--collateral-out JSON]
                          [--policy-out JSON]
      prints the measurements a key-transfer policy pins (TDX: MRTD; SEV-SNP: MEASUREMENT);
      --policy-out writes a broker policy that pins them
`,
} as const;

type CommandName = keyof typeof COMMAND_USAGE;

const HELP_FOOTER = `
KEY is standard base64 of 16, 24 or 32 bytes (AES-128/192/256-GCM; keygen
makes 32). Prefer --key-file (mode 0600, no link, or /dev/fd/N, /dev/stdin):
-k shows the key to every local user, and a warning says so. load takes the broker and key id from its own configuration
(--kbs / --key-id or TEE_MODEL_KBS_URL / TEE_MODEL_KEY_ID), never from the
model directory, whose encryption-config.json may only repeat them.
Exit status: 0 success; 1 refused; 2 usage or unusable input; 3 broker or TEE
unavailable (retry later); 70 internal fault. See docs/model.md.
`;

export const HELP = `tee-model: confidential-ai-loader model containers (AES-GCM) and attested key release

${Object.values(COMMAND_USAGE).join('')}${HELP_FOOTER}`;

/** `tee-model <command> --help` (or -h): that command's usage and the common notes, on stdout, exit 0. */
function printUsage(command: CommandName, io: ModelCliIo): number {
  io.stdout.write(`usage:\n${COMMAND_USAGE[command]}${HELP_FOOTER}`);
  return 0;
}

/** Accepted by every command, as tee-verify's subcommands accept it (src/cli/args.ts). */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

class UsageError extends Error {}

/**
 * Exit status of every ModelError code (docs/model.md, "Commands"; docs/error-codes.md). A Record, so a
 * new code does not compile until it is placed. 'io' and 'http' are decided by the error's details.
 */
const EXIT_OF_CODE: Record<ModelErrorCode, 1 | 2 | 3 | 70 | 'io' | 'http'> = {
  ERR_MODEL_TOO_LARGE: 2,
  ERR_MODEL_TRUNCATED: 2,
  ERR_MODEL_HEADER: 2,
  ERR_MODEL_UNSUPPORTED: 2,
  ERR_MODEL_AUTH_FAILED: 1,
  ERR_MODEL_LENGTH_MISMATCH: 2,
  ERR_MODEL_KEY: 2,
  ERR_MODEL_CONFIG: 2,
  ERR_MODEL_IO: 'io',
  ERR_MODEL_UNLISTED_FILE: 2,
  ERR_MODEL_MISSING_FILE: 2,
  ERR_MODEL_KBS_MISMATCH: 1,
  ERR_MODEL_KEY_ID_MISMATCH: 1,
  ERR_MODEL_OUTPUT: 2,
  ERR_TSM_UNAVAILABLE: 3,
  ERR_TSM_GENERATION_RACE: 1,
  ERR_TSM_IO: 2,
  ERR_TSM_PROVIDER: 2,
  ERR_TEE_REPORT_DATA: 70, // we asked the provider for the wrong length: our fault
  ERR_KBS_HTTP: 'http',
  // The broker answered but gave no usable key (malformed answer, a key of the wrong length): refused, as ERR_KBS_UNWRAP.
  ERR_KBS_RESPONSE: 1,
  ERR_KBS_UNWRAP: 1,
  ERR_KBS_ARGUMENT: 2,
  ERR_KBS_INSECURE_TRANSPORT: 2,
};

/**
 * System codes of a path the user named that cannot be used (missing, a directory, no permission, a link
 * where none may be): exit 2. Any other system failure (EIO, ENOSPC, EMFILE, ...) is 70, as the project's
 * other tools report write failures (ERR_BATCH_WRITE).
 */
const UNUSABLE_PATH_ERRNO: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'ELOOP', 'EEXIST', 'ENAMETOOLONG', 'EROFS', 'ENXIO', 'ENOTEMPTY']);

function exitCodeOfErrno(errno: unknown): number {
  return typeof errno === 'string' && UNUSABLE_PATH_ERRNO.has(errno) ? 2 : 70;
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return 2;
  if (String((e as { code?: unknown })?.code).startsWith('ERR_PARSE_ARGS')) return 2; // node:util parseArgs: a bad command line
  if (isModelError(e)) {
    const rule = EXIT_OF_CODE[e.code] ?? 70;
    if (rule === 'io') return e.details['errno'] === undefined ? 2 : exitCodeOfErrno(e.details['errno']);
    if (rule === 'http') {
      // An untrusted broker certificate is configuration (--ca-cert), not an outage: retrying cannot help.
      if (e.details['reason'] === 'tls-certificate') return 2;
      const status = e.details['status'];
      return typeof status === 'number' && status < 500 && status !== 429 ? 1 : 3;
    }
    return rule;
  }
  // A system error that escaped typing (reading --key-file, --ca-cert, the simulated state): by its errno.
  const errno = (e as NodeJS.ErrnoException)?.code;
  if (typeof errno === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string') return exitCodeOfErrno(errno);
  return 70;
}

/** Why -k is discouraged (review s11): the command line is public on the machine for the whole run. */
export const KEY_ON_COMMAND_LINE_WARNING =
  '-k puts the model key on the command line, where every local user can read it for the whole run (/proc/PID/cmdline, ps); give it with --key-file F (a file of mode 0600, as keygen -o writes) instead';

async function keyFrom(values: { key?: string | undefined; 'key-file'?: string | undefined }, command: CommandName, io: ModelCliIo): Promise<Buffer> {
  if (values.key && values['key-file']) throw new UsageError('give either -k or --key-file, not both');
  if (values['key-file']) return readModelKeyFile(values['key-file']);
  if (values.key) {
    io.stderr.write(`tee-model ${command}: warning: ${KEY_ON_COMMAND_LINE_WARNING}\n`);
    return decodeModelKey(values.key);
  }
  throw new UsageError('a key is needed: -k KEY or --key-file FILE');
}

function need(v: string | undefined, flag: string): string {
  if (!v) throw new UsageError(`${flag} is required`);
  return v;
}

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p)).isDirectory();
}

async function cmdKeygen(args: string[], io: ModelCliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { ...HELP_OPTION, out: { type: 'string', short: 'o' } }, strict: true });
  if (values.help) return printUsage('keygen', io);
  const key = generateModelKey();
  if (values.out) {
    await writeFile(values.out, `${key}\n`, { mode: 0o600, flag: 'wx' });
    io.stdout.write(`wrote a 256-bit key to ${values.out}\n`);
  } else io.stdout.write(`${key}\n`);
  return 0;
}

const KEY_OPTIONS = {
  ...HELP_OPTION,
  in: { type: 'string', short: 'i' },
  out: { type: 'string', short: 'o' },
  key: { type: 'string', short: 'k' },
  'key-file': { type: 'string' },
} as const;

async function cmdEncrypt(args: string[], io: ModelCliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...KEY_OPTIONS, 'kbs-url': { type: 'string' }, 'key-id': { type: 'string' }, 'loader-compatible': { type: 'boolean', default: false }, 'follow-links': { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.help) return printUsage('encrypt', io);
  const input = need(values.in, '-i');
  const output = need(values.out, '-o');
  const key = await keyFrom(values, 'encrypt', io);
  try {
    if (await isDirectory(input)) {
      const r = await encryptDirectory(input, output, key, {
        ...(values['kbs-url'] ? { kbsUrl: values['kbs-url'] } : {}),
        ...(values['key-id'] ? { keyId: values['key-id'] } : {}),
        loaderCompatible: values['loader-compatible'] === true,
        followLinks: values['follow-links'] === true,
      });
      r.warnings.forEach((w) => io.stderr.write(`tee-model encrypt: warning: ${lineSafe(w)}\n`));
      io.stdout.write(`encrypted ${r.files.length} file(s) into ${output} (encryption-config.json written)\n`);
    } else {
      await encryptFile(input, output, key);
      io.stdout.write(`encrypted ${input} → ${output}\n`);
    }
  } finally {
    key.fill(0);
  }
  return 0;
}

async function cmdDecrypt(args: string[], io: ModelCliIo): Promise<number> {
  const { values } = parseArgs({ args, options: KEY_OPTIONS, strict: true });
  if (values.help) return printUsage('decrypt', io);
  const input = need(values.in, '-i');
  const output = need(values.out, '-o');
  const key = await keyFrom(values, 'decrypt', io);
  try {
    if (await isDirectory(input)) {
      const r = await decryptDirectory(input, output, key);
      r.warnings.forEach((w) => io.stderr.write(`tee-model decrypt: warning: ${lineSafe(w)}\n`));
      io.stdout.write(`decrypted ${r.files.length} file(s) into ${output}\n`);
    } else {
      const r = await decryptFile(input, output, key);
      (r.warnings ?? []).forEach((w) => io.stderr.write(`tee-model decrypt: warning: ${lineSafe(w)}\n`));
      io.stdout.write(`decrypted ${input} → ${output}\n`);
    }
  } finally {
    key.fill(0);
  }
  return 0;
}

async function simulatedProvider(statePath: string | undefined, tee: string | undefined): Promise<SimulatedTeeProvider> {
  if (tee !== undefined && tee !== 'tdx' && tee !== 'snp') throw new UsageError('--simulated-tee must be tdx or snp');
  if (statePath) {
    try {
      const restored = SimulatedTeeProvider.fromState(await readFile(statePath, 'utf8'));
      // The state decides the platform; a different --simulated-tee would otherwise be ignored without a word.
      if (tee !== undefined && tee !== restored.tee) throw new UsageError(`--simulated-tee ${tee} does not match the ${restored.tee.toUpperCase()} platform in ${statePath}`);
      return restored;
    } catch (e) {
      // A state file that cannot be used (not JSON, a key that does not parse): typed, exit 2, naming the file (review s13 #4).
      if (isModelError(e) && e.code === 'ERR_TSM_PROVIDER') throw new EvidenceProviderError('ERR_TSM_PROVIDER', `--simulated-state ${statePath}: ${e.message}`, { cause: e, details: { ...e.details, state: statePath } });
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  const p = new SimulatedTeeProvider({ tee: (tee ?? 'tdx') as 'tdx' | 'snp' });
  if (statePath) await writeFile(statePath, `${JSON.stringify(p.exportState(), null, 2)}\n`, { mode: 0o600 });
  return p;
}

/**
 * The measurements a key-release policy must name for this platform (docs/policy.md: TDX mrTd T36 and
 * mrConfigId / mrOwner / mrOwnerConfig T38; SEV-SNP measurement S25 and hostData S26), read from a
 * report the platform signs, so they are exactly what the broker will see; and a policy that pins the
 * code (MRTD / MEASUREMENT) and leaves the rest "any", as scripts/demo-kbs.js registers.
 */
async function simulatedMeasurements(p: SimulatedTeeProvider): Promise<{ fields: Record<string, string>; policy: Record<string, unknown> }> {
  const evidence = parseEvidence((await p.getEvidence(new Uint8Array(64))).evidence);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  if (evidence.kind === 'tdx') {
    const b = evidence.body;
    const fields = { mrTd: hex(b.mrTd), mrConfigId: hex(b.mrConfigId), mrOwner: hex(b.mrOwner), mrOwnerConfig: hex(b.mrOwnerConfig) };
    return { fields, policy: { tee: 'tdx', mrTd: [fields.mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' } };
  }
  if (evidence.kind === 'snp') {
    const fields = { measurement: hex(evidence.measurement), hostData: hex(evidence.hostData) };
    // A key-release policy for SEV-SNP also needs a TCB floor (S17, review s10): the simulated
    // platform's own REPORTED_TCB, for its product only.
    const product = evidence.product ?? 'Milan';
    const t = evidence.tcb!.reported;
    const reported = { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode, ...(t.fmc === undefined ? {} : { fmc: t.fmc }) };
    return { fields, policy: { tee: 'snp', measurement: [fields.measurement], hostData: 'any', products: [product], tcbMinimums: { [product]: { reported } } } };
  }
  throw new EvidenceProviderError('ERR_TSM_PROVIDER', `the simulated platform produced ${evidence.kind} evidence`);
}

/** Writes (or replaces) a regular file, never through a symbolic link at its name (O_NOFOLLOW). */
async function writeOutput(path: string, data: string): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

async function cmdSimulatedTee(args: string[], io: ModelCliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...HELP_OPTION, state: { type: 'string' }, 'simulated-tee': { type: 'string' }, 'trust-root-out': { type: 'string' }, 'collateral-out': { type: 'string' }, 'policy-out': { type: 'string' } },
    strict: true,
  });
  if (values.help) return printUsage('simulated-tee', io);
  const state = need(values.state, '--state');
  // Checked before anything is written: an output must not replace the state file (its keys) or another output.
  const outs = (['trust-root-out', 'collateral-out', 'policy-out'] as const).filter((k) => values[k] !== undefined);
  const seen = new Map<string, string>([[resolve(state), '--state']]);
  for (const k of outs) {
    const at = resolve(values[k] as string);
    const clash = seen.get(at);
    if (clash) throw new UsageError(`--${k} names the same file as ${clash}`);
    seen.set(at, `--${k}`);
  }
  const p = await simulatedProvider(state, values['simulated-tee']);
  const { fields, policy } = await simulatedMeasurements(p);
  if (values['trust-root-out']) await writeOutput(values['trust-root-out'], p.trustRootPem);
  if (values['collateral-out']) await writeOutput(values['collateral-out'], p.collateralBundle());
  if (values['policy-out']) await writeOutput(values['policy-out'], `${JSON.stringify(policy, null, 2)}\n`);
  io.stdout.write(`simulated ${p.tee.toUpperCase()} platform in ${values.state} (test PKI; trusted only by a broker given its trust root)\n`);
  // A broker policy must pin the code's measurement (X07); the user has no other way to learn it (review s7).
  io.stdout.write('measurements its evidence carries (a key-transfer policy pins them; docs/model.md, "Walk-through"):\n');
  for (const [name, value] of Object.entries(fields)) io.stdout.write(`  ${name.padEnd(14)}${value}\n`);
  io.stdout.write(`policy pinning its ${p.tee === 'tdx' ? 'MRTD' : 'MEASUREMENT'}: ${JSON.stringify(policy)}\n`);
  if (values['policy-out']) io.stdout.write(`wrote that policy to ${values['policy-out']}\n`);
  return 0;
}

/** The broker and key id come from the TEE's configuration: flags, else the environment (never the model directory). */
const KBS_ENV = 'TEE_MODEL_KBS_URL';
const KEY_ID_ENV = 'TEE_MODEL_KEY_ID';

async function cmdLoad(args: string[], io: ModelCliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...HELP_OPTION,
      kbs: { type: 'string' },
      'key-id': { type: 'string' },
      'allow-insecure-http': { type: 'boolean', default: false },
      in: { type: 'string', short: 'i' },
      out: { type: 'string', short: 'o' },
      provider: { type: 'string', default: 'configfs' },
      'configfs-root': { type: 'string' },
      'simulated-state': { type: 'string' },
      'simulated-tee': { type: 'string' },
      'ca-cert': { type: 'string' },
      nonce: { type: 'string', default: 'auto' },
      'user-data-form': { type: 'string', default: 'spki-der' },
    },
    strict: true,
  });
  if (values.help) return printUsage('load', io);
  const input = need(values.in, '-i');
  const output = need(values.out, '-o');
  const kbs = values.kbs || io.env?.[KBS_ENV] || undefined;
  const pinnedKeyId = values['key-id'] || io.env?.[KEY_ID_ENV] || undefined;
  if (!kbs) throw new UsageError(`--kbs URL (or ${KBS_ENV}) is required: the key broker comes from the TEE's configuration, not from the model directory`);
  const nonce = values.nonce === 'auto' ? 'auto' : values.nonce === 'yes' ? true : values.nonce === 'no' ? false : undefined;
  if (nonce === undefined) throw new UsageError('--nonce must be auto, yes or no');
  const userDataForm = values['user-data-form'] as UserDataForm;
  if (!USER_DATA_FORMS.includes(userDataForm)) throw new UsageError(`--user-data-form must be ${USER_DATA_FORMS.join(' or ')}`);
  const allowInsecureHttp = values['allow-insecure-http'] === true;
  // Everything about the directory and the broker is checked before any evidence or request.
  const broker = resolveTrustedBroker({ url: kbs, ...(pinnedKeyId ? { keyId: pinnedKeyId } : {}) }, await readEncryptionConfig(input));
  checkBrokerTransport(new URL(broker.url), allowInsecureHttp);
  await checkDirectoryListing(input);
  await checkDecryptionOutput(input, output);
  // Host-written text (key ids, URLs) can reach a warning: one visible line each, never a forged one (review s7).
  const warn = (w: string): void => void io.stderr.write(`tee-model load: warning: ${lineSafe(w)}\n`);
  broker.warnings.forEach(warn);
  let provider: EvidenceProvider;
  if (values.provider === 'configfs') provider = new ConfigfsTsmProvider({ root: values['configfs-root'] ?? DEFAULT_TSM_ROOT });
  else if (values.provider === 'simulated') {
    provider = await simulatedProvider(values['simulated-state'], values['simulated-tee']);
    warn('the evidence is SIMULATED (--provider simulated): it is signed by a test PKI, not by TEE hardware, and proves nothing about this machine; only a broker configured to trust that test PKI releases keys to it. Never use it in production');
  } else throw new UsageError('--provider must be configfs or simulated');
  const ca = values['ca-cert'] ? await readFile(values['ca-cert']) : undefined;
  const released = await requestKey({ url: broker.url, ...(broker.keyId ? { keyId: broker.keyId } : {}), provider, nonce, allowInsecureHttp, userDataForm, ...(ca ? { ca } : {}) });
  released.warnings.forEach(warn);
  try {
    const origin = new URL(released.transferUrl).origin;
    if (!isModelKeyLength(released.key.length)) {
      throw new KeyBrokerClientError('ERR_KBS_RESPONSE', `the key broker ${origin} released a ${released.key.length}-byte key; a model key is 16, 24 or 32 bytes`, { details: { url: origin, length: released.key.length } });
    }
    const r = await decryptDirectory(input, output, released.key);
    r.warnings.forEach(warn);
    io.stdout.write(`key released by ${new URL(released.transferUrl).origin} (${released.attestationType}, ${provider.name}${released.nonceUsed ? ', nonce' : ''}${released.userDataForm === 'ita-raw' ? ', ita-raw user_data' : ''}); decrypted ${r.files.length} file(s) into ${output}\n`);
  } finally {
    released.key.fill(0);
  }
  return 0;
}

const COMMANDS: Record<string, (args: string[], io: ModelCliIo) => Promise<number>> = {
  keygen: cmdKeygen,
  encrypt: cmdEncrypt,
  decrypt: cmdDecrypt,
  load: cmdLoad,
  'simulated-tee': cmdSimulatedTee,
};

/**
 * The failed checks a refusing broker listed (details.checks, bounded by the client: src/kbs-client),
 * one line each: "T36 /mrTd: <message>". Broker-written text, so every line is lineSafe (review s7).
 */
function brokerCheckLines(e: ModelError): string[] {
  const checks = e.details['checks'];
  if (!Array.isArray(checks)) return [];
  // A check the error's own text already states (a single failed verification step) is not repeated.
  const lines = (checks as BrokerCheck[]).filter((c) => !(c.message && e.message.includes(c.message))).map((c) => {
    const head = [c.check, c.path].filter((v): v is string => typeof v === 'string').join(' ');
    let text = c.message ?? c.code ?? '';
    if (c.check && text.startsWith(`${c.check}: `)) text = text.slice(c.check.length + 2); // the verifier's messages repeat their id
    return lineSafe(head && text ? `${head}: ${text}` : head || text);
  });
  const omitted = e.details['checksOmitted'];
  if (typeof omitted === 'number' && omitted > 0) lines.push(`(${omitted} more check(s) not shown)`);
  return lines;
}

export async function run(argv: readonly string[], io: ModelCliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.stdout.write(HELP);
    return command ? 0 : 2;
  }
  const fn = COMMANDS[command];
  if (!fn) {
    io.stderr.write(`tee-model: unknown command ${lineSafe(JSON.stringify(command))}\n${HELP}`);
    return 2;
  }
  try {
    return await fn(rest, io);
  } catch (e) {
    const label = isModelError(e) ? `${e.code}: ` : '';
    // Messages quote host-written names (files, key ids): control characters are made visible, so one error is one line.
    io.stderr.write(`tee-model ${lineSafe(command)}: ${label}${lineSafe((e as Error)?.message ?? String(e))}\n`);
    if (isModelError(e)) brokerCheckLines(e).forEach((line) => io.stderr.write(`tee-model ${lineSafe(command)}:   ${line}\n`));
    return exitCodeOf(e);
  }
}
