/**
 * The tee-verify command line as a pure function: `run(argv, io)` returns
 * the exit code and never calls process.exit, so tests run it in-process
 * (antfu/ni style). bin/tee-verify.js is the only place that touches process.
 */
import { parseCommand, UsageError } from './args.js';
import { runDemo } from './demo.js';
import { helpText } from './help.js';
import { ExitCode, writeLine, type CliIo } from './io.js';
import { runShow } from './show.js';

export type { CliIo, CliStream } from './io.js';
export { ExitCode } from './io.js';

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const command = parseCommand(argv);
    if (command.name === 'help') {
      const text = helpText(command.topic);
      if (text === undefined) {
        writeLine(io.stderr, `error: no help for "${command.topic}"`);
        return ExitCode.Usage;
      }
      io.stdout.write(text);
      return ExitCode.Ok;
    }
    if (command.name === 'demo') return await runDemo(command, io);
    return await runShow(command, io);
  } catch (err) {
    if (err instanceof UsageError) {
      writeLine(io.stderr, `error: ${err.message}`);
      writeLine(io.stderr, 'Run "tee-verify --help" for usage.');
      return ExitCode.Usage;
    }
    writeLine(io.stderr, `error: internal: ${err instanceof Error ? err.message : String(err)}`);
    return ExitCode.Internal;
  }
}
