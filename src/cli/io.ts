/**
 * What the CLI writes to: two streams the caller owns. `run` never touches
 * process.*, so tests call it in-process with string sinks.
 */

export interface CliStream {
  write(chunk: string): unknown;
  /** Set by Node on terminal streams; marks and colour only then. */
  isTTY?: boolean;
  /** Set by Node on terminal streams: the terminal's width (the chat wraps its answer at it). */
  columns?: number;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  /** Environment for NO_COLOR, XDG_CACHE_HOME and TEE_GATEWAY_TOKEN (HOME comes from os.homedir()); default: none. */
  env?: Record<string, string | undefined>;
}

/**
 * Exit codes (docs/cli.md). Fixed: scripts depend on them.
 *   0 trusted / success, 1 rejected, 2 usage or unreadable input,
 *   3 collateral unavailable (retry later), 70 internal fault.
 */
export const ExitCode = {
  Ok: 0,
  /** Evidence, verification or policy rejected it (including malformed evidence), or a demo check failed. */
  Rejected: 1,
  /** Bad command line, or an input file that cannot be read or used. */
  Usage: 2,
  /** Collateral could not be obtained (class COLLATERAL_UNAVAILABLE): retryable, not a rejection. */
  CollateralUnavailable: 3,
  /** A bug or an unusable installation (e.g. the native addon did not load). */
  Internal: 70,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface Style {
  pass: string;
  fail: string;
  /** A check the verifier recorded as not checked (e.g. VT05 without a pinned AK Name): not a pass. */
  skip: string;
  bold(text: string): string;
  dim(text: string): string;
}

const plain: Style = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', bold: (t) => t, dim: (t) => t };

const colour: Style = {
  pass: '\u001b[32m✓\u001b[39m',
  fail: '\u001b[31m✗\u001b[39m',
  skip: '\u001b[33m–\u001b[39m',
  bold: (t) => `\u001b[1m${t}\u001b[22m`,
  dim: (t) => `\u001b[2m${t}\u001b[22m`,
};

/** Marks and colour only on a terminal, and never with NO_COLOR set. */
export function styleFor(io: CliIo): Style {
  const env = io.env ?? {};
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return plain;
  return io.stdout.isTTY === true ? colour : plain;
}

export function writeLine(stream: CliStream, line = ''): void {
  stream.write(`${line}\n`);
}
