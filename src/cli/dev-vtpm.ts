/**
 * `dev vtpm-evidence --out <file> [options]`: inside a confidential VM, quote
 * the vTPM with a fresh nonce through tpm2-tools, read the boot event log and
 * the IMA list, and write one vTPM evidence bundle that `verify` accepts
 * (docs/vtpm.md, "Acquisition").
 */
import { TeeVerifyError } from '../index.js';
import { acquireVtpmEvidence, type AcquireOptions, type AcquiredEvidence } from '../vtpm/acquire.js';
import { serializeVtpmBundle } from '../vtpm/bundle.js';
import { UsageError, parseOptions, positionals, stringOption, type OptionSpec, type Parsed } from './args.js';
import { describeError } from './errors.js';
import { INPUT_LIMITS, readInput, writeOutput } from './files.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';

export const DEV_VTPM_HELP = `tee-verify dev vtpm-evidence --out <file> [options]

Quotes the (v)TPM with a fresh nonce through tpm2-tools and writes a vTPM
evidence bundle (docs/vtpm.md). Run it inside the confidential VM.

  --out <file>          where to write the bundle (JSON)
  --nonce <hex>         qualifying data (1-64 bytes); default 32 random bytes
  --tcti <tcti>         tpm2-tools TCTI, e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321
  --pcrs <selection>    tpm2-tools PCR selection; default sha256:0,...,23
  --ak <handle|ctx>     attestation key; default Azure's 0x81000003 when the HCL report exists,
                        else a new AK under the EK (the verifier must then pin it with --ak)
  --event-log <path>    default /sys/kernel/security/tpm0/binary_bios_measurements
  --ima <path>          default /sys/kernel/security/ima/binary_runtime_measurements
  --no-event-log, --no-ima, --no-hcl   leave that part out
  --td-quote <file>     Azure TDX: the TD quote of the HCL TD report (IMDS /acc/tdquote)
  --certs <file>        SEV-SNP: VCEK / ASK / ARK PEM (Azure IMDS THIM)

Exit status: 0 written; 2 usage; 3 the TPM did not answer in time (a tpm2-tools
call past its 30 s deadline; retry later); 70 any other acquisition failure.
`;

function hexOption(values: Parsed['values'], name: string): Uint8Array | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const hex = text.replace(/^0x/i, '');
  if (!/^(?:[0-9a-fA-F]{2}){1,64}$/.test(hex)) throw new UsageError(`--${name} must be 1 to 64 bytes of hex`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export const DEV_VTPM_OPTION_SPEC: OptionSpec = {
  out: { type: 'string' },
  nonce: { type: 'string' },
  tcti: { type: 'string' },
  pcrs: { type: 'string' },
  ak: { type: 'string' },
  'event-log': { type: 'string' },
  ima: { type: 'string' },
  'no-event-log': { type: 'boolean' },
  'no-ima': { type: 'boolean' },
  'no-hcl': { type: 'boolean' },
  'td-quote': { type: 'string' },
  certs: { type: 'string' },
};

export async function runDevVtpm(argv: readonly string[], io: CliIo): Promise<ExitCodeValue> {
  const parsed = parseOptions('dev vtpm-evidence', argv, DEV_VTPM_OPTION_SPEC);
  const { values } = parsed;
  if (values['help']) {
    io.stdout.write(DEV_VTPM_HELP);
    return ExitCode.Ok;
  }
  positionals('dev vtpm-evidence', parsed, []);
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError('dev vtpm-evidence: --out <file> is required');
  const nonce = hexOption(values, 'nonce');
  const tdQuotePath = stringOption(values, 'td-quote');
  const certsPath = stringOption(values, 'certs');
  const options: AcquireOptions = {
    ...(nonce ? { nonce } : {}),
    ...(stringOption(values, 'tcti') ? { tcti: stringOption(values, 'tcti')! } : {}),
    ...(stringOption(values, 'pcrs') ? { pcrs: stringOption(values, 'pcrs')! } : {}),
    ...(stringOption(values, 'ak') ? { ak: stringOption(values, 'ak')! } : {}),
    eventLogPath: values['no-event-log'] ? null : stringOption(values, 'event-log'),
    imaPath: values['no-ima'] ? null : stringOption(values, 'ima'),
    ...(values['no-hcl'] ? { hcl: false } : {}),
    ...(tdQuotePath ? { tdQuote: await readInput(tdQuotePath, '--td-quote', INPUT_LIMITS.evidence) } : {}),
    ...(certsPath ? { certificatesPem: Buffer.from(await readInput(certsPath, '--certs', INPUT_LIMITS.document)).toString('utf8') } : {}),
  };
  let acquired: AcquiredEvidence;
  try {
    acquired = await acquireVtpmEvidence(options);
  } catch (err) {
    // ERR_VTPM_ACQUIRE is class INTERNAL (70), but a TPM that did not answer in time may answer later:
    // exit 3, "unavailable, retry later" (docs/cli.md), as for collateral (review s7b).
    if (err instanceof TeeVerifyError && err.details['retryable'] === true) {
      writeLine(io.stderr, `error: ${describeError(err)}`);
      return ExitCode.CollateralUnavailable;
    }
    throw err;
  }
  const { bundle, notes } = acquired;
  writeOutput(out, new TextEncoder().encode(serializeVtpmBundle(bundle)), 'vTPM evidence bundle');
  const w = (line: string) => writeLine(io.stdout, line);
  w(`wrote ${out}: ${bundle.hardware ? 'Azure HCL report, ' : ''}${bundle.tpm.quotes.length} quote, ${Object.keys(bundle.tpm.pcrs).join('+')} PCRs${bundle.eventLog ? ', boot event log' : ''}${bundle.ima ? ', IMA list' : ''}`);
  w(`nonce ${Buffer.from(bundle.nonce!).toString('hex')}`);
  for (const n of notes) w(`note: ${n}`);
  return ExitCode.Ok;
}
