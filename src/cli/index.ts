/**
 * The tee-verify command line as a pure function: `run(argv, io)` returns
 * the exit code and never calls process.exit, so tests run it in-process
 * (antfu/ni style). bin/tee-verify.js is the only place that touches process.
 * Each subcommand parses its own options; this file only dispatches.
 */
import { runBatchCli } from './batch.js';
import { runCollateralCli } from './collateral.js';
import { parseDemoArgs, runDemo } from './demo.js';
import { runDevCli } from './dev.js';
import { UsageError, describeError, exitCodeFor } from './errors.js';
import { helpText } from './help.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { runPolicyCli } from './policy.js';
import { parseShowArgs, runShow } from './show.js';
import { parseVerifyArgs } from './verify-args.js';
import { runVerify, verifyUsageJson } from './verify.js';

export type { CliIo, CliStream } from './io.js';
export { ExitCode } from './io.js';

function printHelp(io: CliIo, topic?: string): ExitCodeValue {
  const text = helpText(topic);
  if (text === undefined) throw new UsageError(`no help for "${topic}"`);
  io.stdout.write(text);
  return ExitCode.Ok;
}

async function dispatch(command: string, rest: readonly string[], io: CliIo): Promise<number> {
  const help = () => printHelp(io, command);
  switch (command) {
    case 'verify': {
      const args = parseVerifyArgs(rest);
      return args ? runVerify(args, io) : help();
    }
    case 'show': {
      const args = parseShowArgs(rest);
      return args ? runShow(args, io) : help();
    }
    case 'demo': {
      const args = parseDemoArgs(rest);
      return args ? runDemo(args, io) : help();
    }
    case 'collateral':
      return runCollateralCli(rest, io, help);
    case 'policy':
      return runPolicyCli(rest, io, help);
    case 'dev':
      return runDevCli(rest, io, help);
    case 'batch':
      // The batch subcommand owns its whole argument list.
      return runBatchCli(rest, io);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '--help' || first === '-h') return printHelp(io);
    if (first === 'help') return rest[0] === 'batch' ? await dispatch('batch', ['--help'], io) : printHelp(io, rest[0]);
    return await dispatch(first, rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      if (first === 'verify' && rest.includes('--json')) verifyUsageJson(err, io);
      const helpFor = first && helpText(first) ? `${first} ` : '';
      writeLine(io.stderr, `error: ${describeError(err)} (see "tee-verify ${helpFor}--help")`);
      return ExitCode.Usage;
    }
    writeLine(io.stderr, `error: ${describeError(err)}`);
    return exitCodeFor(err);
  }
}
