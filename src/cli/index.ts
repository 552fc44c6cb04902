/**
 * The tee-verify command line as a pure function: `run(argv, io)` returns
 * the exit code and never calls process.exit, so tests run it in-process
 * (antfu/ni style). bin/tee-verify.js is the only place that touches process.
 * Each subcommand parses its own options; this file only dispatches.
 */
import type { Readable } from 'node:stream';

import { HELP_NOT_ALONE } from './args.js';
import { withCommandInput } from './command-input.js';
import { UsageError, describeError, exitCodeFor } from './errors.js';
import { helpText } from './help.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';

export type { CliIo, CliStream } from './io.js';
export { ExitCode } from './io.js';

/** run()'s io: also the stream `-` inputs and interactive chat read; default this process's stdin. */
export interface CliRunIo extends CliIo {
  stdin?: Readable & { isTTY?: boolean };
}

function printHelp(io: CliIo, topic?: string): ExitCodeValue {
  const text = helpText(topic);
  if (text === undefined) throw new UsageError(`no help for "${topic}"`);
  io.stdout.write(text);
  return ExitCode.Ok;
}

async function dispatch(command: string, rest: readonly string[], io: CliIo): Promise<number> {
  const help = () => printHelp(io, command);
  // Each subcommand's modules load only when it runs: a one-shot `verify`
  // must not pay for the test PKI, the batch pool or the policy linter.
  switch (command) {
    case 'verify': {
      const [{ parseVerifyArgs }, { runVerify }] = await Promise.all([import('./verify-args.js'), import('./verify.js')]);
      const args = parseVerifyArgs(rest);
      return args ? runVerify(args, io) : help();
    }
    case 'show': {
      const { parseShowArgs, runShow } = await import('./show.js');
      const args = parseShowArgs(rest);
      return args ? runShow(args, io) : help();
    }
    case 'demo': {
      const { parseDemoArgs, runDemo } = await import('./demo.js');
      const args = parseDemoArgs(rest);
      return args ? runDemo(args, io) : help();
    }
    case 'collateral':
      return (await import('./collateral.js')).runCollateralCli(rest, io, help);
    case 'policy':
      return (await import('./policy.js')).runPolicyCli(rest, io, help);
    case 'dev':
      return (await import('./dev.js')).runDevCli(rest, io, help);
    case 'chat':
      return (await import('./chat.js')).runChatCli(rest, io, help);
    case 'serve': {
      const { parseServeArgs, runServe } = await import('./serve.js');
      const args = parseServeArgs(rest);
      return args ? runServe(args, io) : help();
    }
    case 'batch':
      // The batch subcommand owns its whole argument list.
      return (await import('./batch.js')).runBatchCli(rest, io);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** With --json, a usage error is one JSON object on stdout as well (verify, show, chat; review s8). */
async function usageJson(command: string | undefined, rest: readonly string[], err: UsageError, io: CliIo): Promise<void> {
  if (command === 'verify') (await import('./verify.js')).verifyUsageJson(err, io);
  else if (command === 'show') (await import('./show.js')).showErrorJson(err, io);
  else if (command === 'chat') (await import('./chat.js')).chatUsageJson(err, rest, io);
}

/** One command; standard input is read once per call (command-input.ts), so run() may be called again. */
export function run(argv: readonly string[], io: CliRunIo): Promise<number> {
  return withCommandInput(io.stdin, () => runCommand(argv, io));
}

async function runCommand(argv: readonly string[], io: CliRunIo): Promise<number> {
  const [first, ...rest] = argv;
  try {
    // Help (exit 0) only alone: next to other arguments --help / -h is a usage error (s16 finding 2).
    if (first === undefined || first === '--help' || first === '-h') {
      if (rest.length > 0) throw new UsageError(`${HELP_NOT_ALONE}, or name a command: tee-verify help <command>`);
      return printHelp(io);
    }
    if (first === 'help') {
      if (rest.length > 1) throw new UsageError(`help takes one command name (got ${rest.length} arguments)`);
      return rest[0] === 'batch' ? await dispatch('batch', ['--help'], io) : printHelp(io, rest[0]);
    }
    return await dispatch(first, rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      if (rest.includes('--json')) await usageJson(first, rest, err, io);
      const helpFor = first && helpText(first) ? `${first} ` : '';
      writeLine(io.stderr, `error: ${describeError(err)} (see "tee-verify ${helpFor}--help")`);
      return ExitCode.Usage;
    }
    writeLine(io.stderr, `error: ${describeError(err)}`);
    return exitCodeFor(err);
  }
}
