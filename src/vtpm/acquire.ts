/**
 * Evidence acquisition inside a confidential VM (docs/vtpm.md): quote the
 * vTPM with a fresh nonce through Debian's tpm2-tools, read the PCR values,
 * the boot event log and the IMA list, and, on Azure, the HCL report from NV
 * index 0x01400001; package everything as a vTPM evidence bundle.
 *
 * tpm2-tools is run as a child process with an argument vector (no shell).
 * PCRs are read after the quote and compared with its pcrDigest; a mismatch
 * (a PCR extended in between, typically PCR 10 by IMA) retries the quote.
 * The IMA list is read before and after the quote and must not change in
 * between (else the quote is retried). IMA appends an entry before it
 * extends PCR 10, so an extend still in flight at quote time makes the
 * verifier's replay differ: that fails closed, it is never accepted.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { VtpmBundle } from './bundle.js';
import { VtpmVerificationError, vtpmFail } from './errors.js';
import { parseTpmPublic, parseTpmQuote } from './parse.js';
import { TPM_HASHES, hashNameOf } from './tpm-key.js';
import type { TpmHashName, TpmPcrSelection } from './types.js';

export const DEFAULT_EVENT_LOG_PATH = '/sys/kernel/security/tpm0/binary_bios_measurements';
export const DEFAULT_IMA_PATH = '/sys/kernel/security/ima/binary_runtime_measurements';
/** Azure: the HCL report NV index, and the persistent AK handle the paravisor provisions. */
export const AZURE_HCL_NV_INDEX = 0x01400001;
export const AZURE_AK_HANDLE = 0x81000003;

/** Runs one command with an argument vector; resolves with stdout. Replaceable in tests. */
export type CommandRunner = (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => Promise<Buffer>;

/**
 * How long one tpm2-tools call may take by default. A software vTPM answers in milliseconds; a
 * wedged resource manager or a vanished swtpm peer never does, and one stuck call must not hold
 * every later attestation (review s7). Creating an RSA EK on a slow discrete TPM can take seconds.
 */
export const DEFAULT_TPM2_TOOL_TIMEOUT_MS = 30_000;

/**
 * How long the runner waits, after killing a child at its deadline, for the child to exit before it
 * settles on its own timer: a tool blocked in the TPM driver may not die on SIGKILL until the driver
 * returns (review s7b).
 */
export const TOOL_KILL_GRACE_MS = 1_000;

/** Marks a child process killed at its deadline (the runner's error), so callers can type it as retryable. */
export interface ToolTimeout {
  toolTimedOut: true;
  timeoutMs: number;
  /** false when the runner settled on its own timer, before the child had gone. */
  exited?: boolean;
}

export function isToolTimeout(err: unknown): err is ToolTimeout {
  return typeof err === 'object' && err !== null && (err as Partial<ToolTimeout>).toolTimedOut === true;
}

/**
 * The execFile runner: stdout up to `maxBuffer`, the child killed with SIGKILL after `timeoutMs`
 * (SIGTERM may be ignored by a process blocked in the kernel). A killed child rejects with an error
 * marked `toolTimedOut` (isToolTimeout); any failure carries the tool's stderr as `stderrText`.
 * execFile reports only once the killed child has exited, so the call is also settled on the
 * runner's own timer `killGraceMs` (default TOOL_KILL_GRACE_MS) after the deadline, whatever the
 * child does (`exited: false`; our ends of its pipes are closed, the child is left to the kernel).
 */
export function tpm2ToolsRunner(o: { timeoutMs?: number; maxBuffer?: number; killGraceMs?: number } = {}): CommandRunner {
  const timeoutMs = o.timeoutMs ?? DEFAULT_TPM2_TOOL_TIMEOUT_MS;
  const graceMs = o.killGraceMs ?? TOOL_KILL_GRACE_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new RangeError('the tpm2-tools timeout must be a positive whole number of milliseconds');
  if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new RangeError('the kill grace must be a whole number of milliseconds, 0 or more');
  return (file, args, env) =>
    new Promise((resolve, reject) => {
      let settled = false;
      const child = execFile(file, [...args], { env, encoding: 'buffer', maxBuffer: o.maxBuffer ?? 16 * 1024 * 1024, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
        clearTimeout(guard);
        if (settled) return;
        settled = true;
        if (!err) return resolve(stdout);
        const extra: Record<string, unknown> = { stderrText: Buffer.from(stderr).toString('utf8').trim() };
        if ((err as { killed?: boolean }).killed && (err as { signal?: string | null }).signal === 'SIGKILL') Object.assign(extra, { toolTimedOut: true, timeoutMs, exited: true });
        reject(Object.assign(err, extra));
      });
      const guard = setTimeout(() => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        child.stdout?.destroy();
        child.stderr?.destroy();
        reject(Object.assign(new Error(`${file} was killed at its ${timeoutMs} ms deadline but had not gone ${graceMs} ms later`), { toolTimedOut: true, timeoutMs, exited: false, stderrText: '' }));
      }, timeoutMs + graceMs);
    });
}

export interface AcquireOptions {
  /** Qualifying data for the quote; default 32 fresh random bytes. */
  nonce?: Uint8Array;
  /** tpm2-tools TCTI (e.g. "device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321"); default tpm2-tools' own. */
  tcti?: string;
  /** Banks and PCRs to quote, tpm2-tools syntax; default "sha256:0,1,...,23". */
  pcrs?: string;
  /**
   * The attestation key: a persistent handle ("0x81000003" on Azure) or a
   * context file. Default: Azure's handle when the HCL report exists, else a
   * new AK under the RSA EK (then nothing binds it: the verifier must pin it).
   */
  ak?: string;
  /** Boot event log path; null to leave it out. A missing file at the default path is left out with a note. */
  eventLogPath?: string | null;
  /** Binary IMA list path; null to leave it out (same rule). */
  imaPath?: string | null;
  /** Read the Azure HCL report from NV 0x01400001; default "auto" (when the index exists). */
  hcl?: boolean | 'auto';
  /** Azure TDX: the TD quote of the HCL's TD report, fetched beforehand (IMDS /acc/tdquote). */
  tdQuote?: Uint8Array;
  /** SEV-SNP: VCEK / ASK / ARK PEM fetched beforehand (Azure IMDS THIM). */
  certificatesPem?: string;
  /** Quote attempts when a PCR changes between quote and read; default 3. */
  attempts?: number;
  /** Deadline of each tpm2-tools call (the child is killed, SIGKILL); default DEFAULT_TPM2_TOOL_TIMEOUT_MS. Not used with `run`. */
  toolTimeoutMs?: number;
  run?: CommandRunner;
}

export interface AcquiredEvidence {
  bundle: VtpmBundle;
  /** What was left out or defaulted, for the operator. */
  notes: string[];
}

function fail(message: string, cause?: unknown): never {
  const stderr = (cause as { stderrText?: string } | undefined)?.stderrText;
  throw new VtpmVerificationError('ERR_VTPM_ACQUIRE', stderr ? `${message}: ${stderr}` : message, {}, cause === undefined ? {} : { cause });
}

/** A tool killed at its deadline: still ERR_VTPM_ACQUIRE, marked retryable (the TPM may answer again later). */
function timedOut(tool: string, cause: ToolTimeout): never {
  throw new VtpmVerificationError('ERR_VTPM_ACQUIRE', `${tool} did not finish within ${cause.timeoutMs} ms (killed): the TPM or its resource manager does not answer; retry later`, {
    tool,
    reason: 'timeout',
    timeoutMs: cause.timeoutMs,
    retryable: true,
    ...(cause.exited === false ? { exited: false } : {}),
  }, { cause });
}

async function readOptional(path: string | null | undefined, fallback: string, what: string, notes: string[]): Promise<Uint8Array | undefined> {
  if (path === null) return undefined;
  const file = path ?? fallback;
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    if (path === undefined && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      notes.push(`${what}: ${file} does not exist, left out`);
      return undefined;
    }
    return fail(`${what}: cannot read ${file} (${(err as Error).message})`, err);
  }
}

class Tpm2Tools {
  constructor(
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly run: CommandRunner,
  ) {}

  async call(tool: string, args: string[]): Promise<Buffer> {
    let stuck = false;
    try {
      return await this.run(tool, args, this.env);
    } catch (err) {
      if (isToolTimeout(err)) {
        stuck = true;
        timedOut(tool, err);
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') fail(`${tool} not found: install tpm2-tools (apt-get install tpm2-tools)`, err);
      return fail(`${tool} failed`, err);
    } finally {
      // Without a resource manager (a raw device or swtpm) transient objects stay loaded. Not after
      // a timeout: the TPM does not answer, and a flush would wait for its own deadline too.
      if (tool !== 'tpm2_flushcontext' && !stuck) await this.run('tpm2_flushcontext', ['-t'], this.env).catch(() => undefined);
    }
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  async file(name: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.path(name)));
    } catch (err) {
      return fail(`cannot read the tpm2-tools output ${name} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
    }
  }
}

const ALL_PCRS = `sha256:${Array.from({ length: 24 }, (_, i) => i).join(',')}`;

/**
 * "sha256:0,1+sha1:0" → [[sha256, [0,1]], [sha1, [0]]]. Indexes ascending without repeats and each
 * bank once: the TPM answers each bank's PCRs in ascending order, and the values read back are
 * matched to the selection by position, so another order would pair values with the wrong PCRs.
 */
export function parsePcrSelection(spec: string): [TpmHashName, number[]][] {
  const seen = new Set<string>();
  return spec.split('+').map((part) => {
    const [bank, list, extra] = part.split(':');
    if (bank !== 'sha1' && bank !== 'sha256' && bank !== 'sha384' && bank !== 'sha512') vtpmFail('ERR_VTPM_ACQUIRE', `PCR selection "${spec}": unknown bank ${String(bank)}`);
    if (extra !== undefined || seen.has(bank)) vtpmFail('ERR_VTPM_ACQUIRE', `PCR selection "${spec}": each bank once, as bank:i,j,...`);
    seen.add(bank);
    const pcrs = (list ?? '').split(',').map((s) => (/^\d{1,2}$/.test(s) ? Number(s) : NaN));
    if (pcrs.some((n) => !Number.isInteger(n) || n < 0 || n > 23)) vtpmFail('ERR_VTPM_ACQUIRE', `PCR selection "${spec}": PCR indexes must be 0 to 23`);
    if (pcrs.some((n, i) => i > 0 && n <= (pcrs[i - 1] as number))) vtpmFail('ERR_VTPM_ACQUIRE', `PCR selection "${spec}": list each bank's PCR indexes in ascending order, without repeats`);
    return [bank, pcrs];
  });
}

async function hclReport(t: Tpm2Tools, mode: AcquireOptions['hcl'], notes: string[]): Promise<Uint8Array | undefined> {
  if (mode === false) return undefined;
  const handle = `0x${AZURE_HCL_NV_INDEX.toString(16)}`;
  try {
    await t.call('tpm2_nvread', ['-C', 'o', handle, '-o', t.path('hcl.bin')]);
    return await t.file('hcl.bin');
  } catch (err) {
    if (mode === true) throw err;
    notes.push(`no Azure HCL report (NV ${handle} not readable): a TPM-only bundle`);
    return undefined;
  }
}

async function attestationKey(t: Tpm2Tools, options: AcquireOptions, azure: boolean, notes: string[]): Promise<{ context: string; public: Uint8Array }> {
  let context = options.ak ?? (azure ? `0x${AZURE_AK_HANDLE.toString(16)}` : undefined);
  if (context === undefined) {
    await t.call('tpm2_createek', ['-c', t.path('ek.ctx'), '-G', 'rsa', '-u', t.path('ek.pub')]);
    await t.call('tpm2_createak', ['-C', t.path('ek.ctx'), '-c', t.path('ak.ctx'), '-G', 'rsa', '-g', 'sha256', '-s', 'rsassa', '-u', t.path('ak.pub'), '-f', 'tss', '-n', t.path('ak.name')]);
    context = t.path('ak.ctx');
    notes.push('new attestation key created under the EK: nothing binds it to hardware, so the verifier must pin it (--ak)');
  }
  await t.call('tpm2_readpublic', ['-c', context, '-f', 'tss', '-o', t.path('ak-read.pub')]);
  const public_ = parseTpmPublic(await t.file('ak-read.pub'), { sized: true }).bytes;
  return { context, public: new Uint8Array(public_) };
}

/**
 * The quote must cover exactly the PCRs asked, bank by bank and index by index (the bundle keys values by bank). A
 * TPM leaves out of both the quote and tpm2_pcrread a bank it has not allocated (or the PCRs of a bank
 * it allocated only in part): the bundle held an empty value for each such PCR that no quote covers,
 * which every client refused as malformed, or, with that bank first, the values read back were paired
 * with the wrong PCRs and the only outcome was "kept changing" (review s16 providers #4). Permanent:
 * not retried.
 */
function checkQuotedSelection(banks: [TpmHashName, number[]][], quoted: TpmPcrSelection[], selection: string): void {
  const shown = (q: TpmPcrSelection): string => `${q.hash ?? hashNameOf(q.hashAlg) ?? `0x${q.hashAlg.toString(16)}`}:${q.pcrs.join(',')}`;
  const covered = quoted.filter((q) => q.pcrs.length > 0);
  const details = { reason: 'pcr-selection-not-quoted', asked: selection, quoted: covered.map(shown).join('+') };
  for (const [bank, list] of banks) {
    const q = covered.filter((c) => (c.hash ?? hashNameOf(c.hashAlg)) === bank);
    if (q.length === 0) {
      throw new VtpmVerificationError('ERR_VTPM_ACQUIRE', `PCR bank ${bank} is not allocated on this TPM: the quote covers none of its PCRs asked in "${selection}" (tpm2_getcap pcrs lists the allocated banks; ask for those in --vtpm-pcrs / pcrs)`, { ...details, bank });
    }
    const got = q.flatMap((c) => c.pcrs);
    if (q.length > 1 || got.length !== list.length || got.some((n, i) => n !== list[i])) {
      throw new VtpmVerificationError('ERR_VTPM_ACQUIRE', `PCR bank ${bank}: the quote covers PCRs ${got.join(',')}, not the ${list.join(',')} asked in "${selection}" (the bank is allocated only in part on this TPM: tpm2_getcap pcrs)`, { ...details, bank });
    }
  }
  // Each bank asked is covered once (above); anything more is a bank not asked.
  if (covered.length !== banks.length) {
    throw new VtpmVerificationError('ERR_VTPM_ACQUIRE', `the quote covers "${details.quoted}", not the "${selection}" asked`, details);
  }
}

/**
 * Quote, then read the same PCRs; retry while the values do not hash to the
 * quote's digest, or while the IMA list grew during the quote (so the list
 * returned is exactly the one the quoted PCR 10 covers).
 */
async function quoteWithPcrs(
  t: Tpm2Tools,
  ak: string,
  selection: string,
  nonce: Uint8Array,
  attempts: number,
  readIma: () => Promise<Uint8Array | undefined>,
): Promise<{ attest: Uint8Array; signature: Uint8Array; pcrs: VtpmBundle['tpm']['pcrs']; ima: Uint8Array | undefined }> {
  const banks = parsePcrSelection(selection);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const imaBefore = await readIma();
    const args = ['-c', ak, '-l', selection, '-m', t.path('quote.msg'), '-s', t.path('quote.sig'), '-g', 'sha256'];
    if (nonce.length > 0) args.push('-q', Buffer.from(nonce).toString('hex'));
    await t.call('tpm2_quote', args);
    await t.call('tpm2_pcrread', [selection, '-o', t.path('pcrs.bin')]);
    const [attest, signature, raw] = await Promise.all([t.file('quote.msg'), t.file('quote.sig'), t.file('pcrs.bin')]);
    const quote = parseTpmQuote(attest);
    checkQuotedSelection(banks, quote.pcrSelections, selection);
    // Exactly one value of its bank's size per PCR asked, in the order asked: else the slices below would pair values with the wrong PCRs.
    const expected = banks.reduce((n, [bank, list]) => n + TPM_HASHES[bank].size * list.length, 0);
    if (raw.length !== expected) {
      throw new VtpmVerificationError('ERR_VTPM_ACQUIRE', `tpm2_pcrread returned ${raw.length} bytes of PCR values for "${selection}", not the ${expected} its banks' digest sizes make`, {
        reason: 'pcr-read-length',
        asked: selection,
        length: raw.length,
        expected,
      });
    }
    const pcrs: VtpmBundle['tpm']['pcrs'] = {};
    const ordered: Uint8Array[] = [];
    let offset = 0;
    for (const [bank, list] of banks) {
      const size = TPM_HASHES[bank].size;
      for (const index of list) {
        const value = raw.subarray(offset, offset + size);
        offset += size;
        (pcrs[bank] ??= {})[String(index)] = value;
      }
    }
    // The digest covers the quote's own selection order (the TPM's, ascending per bank).
    for (const sel of quote.pcrSelections) for (const index of sel.pcrs) ordered.push(pcrs[(sel.hash ?? hashNameOf(sel.hashAlg))!]?.[String(index)] ?? new Uint8Array(0));
    const digest = createHash('sha256').update(Buffer.concat(ordered)).digest();
    const ima = await readIma();
    const imaStable = imaBefore === undefined || (ima !== undefined && Buffer.from(ima).equals(Buffer.from(imaBefore)));
    if (digest.equals(Buffer.from(quote.pcrDigest)) && imaStable) return { attest, signature, pcrs, ima };
  }
  return fail(`PCR values or the IMA list kept changing around the quote (${attempts} attempts)`);
}

/**
 * The environment tpm2-tools runs with: what the tools need, nothing else. The caller's own
 * environment may hold secrets (a database URL with its password) that a child process has no
 * business seeing (review, session 3).
 */
export function tpm2ToolsEnvironment(tcti: string | undefined, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LANG: 'C' };
  for (const name of ['PATH', 'TMPDIR', 'TPM2TOOLS_TCTI']) if (from[name] !== undefined) env[name] = from[name];
  if (tcti !== undefined) env['TPM2TOOLS_TCTI'] = tcti;
  return env;
}

/** Acquires a vTPM evidence bundle through tpm2-tools. */
export async function acquireVtpmEvidence(options: AcquireOptions = {}): Promise<AcquiredEvidence> {
  const notes: string[] = [];
  const nonce = options.nonce ?? new Uint8Array(randomBytes(32));
  if (nonce.length > 64) vtpmFail('ERR_VTPM_ACQUIRE', 'the nonce is longer than 64 bytes (TPM2B_DATA)');
  const selection = options.pcrs ?? ALL_PCRS;
  parsePcrSelection(selection);
  const run = options.run ?? tpm2ToolsRunner(options.toolTimeoutMs === undefined ? {} : { timeoutMs: options.toolTimeoutMs });
  const env = tpm2ToolsEnvironment(options.tcti);
  const dir = await mkdtemp(join(tmpdir(), 'tee-verify-acquire-')).catch((err: unknown) => fail(`cannot create a temporary directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err));
  try {
    const t = new Tpm2Tools(dir, env, run);
    const hcl = await hclReport(t, options.hcl ?? 'auto', notes);
    const ak = await attestationKey(t, options, hcl !== undefined, notes);
    const eventLog = await readOptional(options.eventLogPath, DEFAULT_EVENT_LOG_PATH, 'boot event log', notes);
    let imaNoted = false;
    const readIma = async () => {
      const seen: string[] = [];
      const list = await readOptional(options.imaPath, DEFAULT_IMA_PATH, 'IMA list', seen);
      if (!imaNoted) notes.push(...seen);
      imaNoted = true;
      return list;
    };
    const quoted = await quoteWithPcrs(t, ak.context, selection, nonce, options.attempts ?? 3, readIma);
    const ima = quoted.ima;
    const bundle: VtpmBundle = {
      nonce,
      tpm: { ak: { public: ak.public }, quotes: [{ attest: quoted.attest, signature: quoted.signature }], pcrs: quoted.pcrs },
      ...(eventLog ? { eventLog } : {}),
      ...(ima ? { ima: { binary: ima } } : {}),
    };
    if (hcl) {
      bundle.hardware = { hclReport: hcl, ...(options.tdQuote ? { tdQuote: options.tdQuote } : {}) };
      if (options.certificatesPem) bundle.hardware.certificatesPem = options.certificatesPem;
    } else if (options.tdQuote || options.certificatesPem) {
      notes.push('TD quote / certificates given but no HCL report: left out');
    }
    return { bundle, notes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
