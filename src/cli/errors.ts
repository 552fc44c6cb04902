/** Turns a thrown error into the CLI's one-line report and exit code. */
import { TeeVerifyError } from '../index.js';
import { ExitCode, writeLine, type CliStream, type ExitCodeValue } from './io.js';

const REJECTED_CLASSES = new Set(['PARSE', 'UNSUPPORTED', 'PRODUCT']);

/** "error: ERR_X at offset N (check T05): message" on stderr. */
export function reportError(stderr: CliStream, err: unknown): ExitCodeValue {
  if (err instanceof TeeVerifyError) {
    const where = err.offset === undefined ? '' : ` at offset ${err.offset}`;
    const check = err.check === undefined ? '' : ` (check ${err.check})`;
    writeLine(stderr, `error: ${err.code}${where}${check}: ${err.message}`);
    return REJECTED_CLASSES.has(err.errorClass) ? ExitCode.EvidenceRejected : ExitCode.Internal;
  }
  writeLine(stderr, `error: internal: ${err instanceof Error ? err.message : String(err)}`);
  return ExitCode.Internal;
}
