/**
 * Turning a thrown error into the CLI's one-line report and exit code
 * (docs/cli.md): never a stack trace for user error.
 */
import { TeeVerifyError } from '../index.js';
import { ExitCode, writeLine, type CliStream, type ExitCodeValue } from './io.js';
import { lineSafe } from './terminal-text.js';

/**
 * A bad command line (code ERR_USAGE) or an input file that cannot be read
 * or used (ERR_INPUT, or the library's code such as ERR_POLICY_INVALID): exit 2.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly code: string = 'ERR_USAGE',
  ) {
    super(message);
  }
}

/** Exit code of a failure by its class: unavailable collateral is 3, a fault of ours 70, the rest a rejection (1). */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof UsageError) return ExitCode.Usage;
  if (!(err instanceof TeeVerifyError)) return ExitCode.Internal;
  if (err.errorClass === 'COLLATERAL_UNAVAILABLE') return ExitCode.CollateralUnavailable;
  if (err.errorClass === 'INTERNAL') return ExitCode.Internal;
  if (err.errorClass === 'ARGUMENT') return ExitCode.Usage;
  return ExitCode.Rejected;
}

/** The message without the "T30: " prefix verification errors repeat from their check id. */
export function messageOf(err: TeeVerifyError): string {
  const text = oneLine(err.message);
  return err.check !== undefined && text.startsWith(`${err.check}: `) ? text.slice(err.check.length + 2) : text;
}

/**
 * "ERR_X at offset N (check T05): message", on one line; `withCheck: false` leaves the check id out.
 * Safe for a terminal: messages can carry certificate text (an S10 leaf CN), so control characters are made visible.
 */
export function describeError(err: unknown, withCheck = true): string {
  return lineSafe(describeErrorText(err, withCheck));
}

function describeErrorText(err: unknown, withCheck: boolean): string {
  if (err instanceof TeeVerifyError) {
    const where = err.offset === undefined ? '' : ` at offset ${err.offset}`;
    const check = err.check === undefined || !withCheck ? '' : ` (check ${err.check})`;
    return `${err.code}${where}${check}: ${messageOf(err)}`;
  }
  if (err instanceof UsageError) return oneLine(err.message);
  return `internal: ${oneLine(err instanceof Error ? err.message : String(err))}`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Prints "error: ..." on stderr and returns the exit code. */
export function reportError(stderr: CliStream, err: unknown): ExitCodeValue {
  writeLine(stderr, `error: ${describeError(err)}`);
  return exitCodeFor(err);
}
