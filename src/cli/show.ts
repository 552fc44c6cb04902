/** `show <file>`: parse one evidence file, print a summary or JSON. */
import { readFile } from 'node:fs/promises';

import { evidenceToJSON, parseEvidence, type ParseOptions } from '../index.js';
import { reportError } from './errors.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { formatRows, summaryRows } from './summary.js';

export interface ShowArgs {
  file: string;
  json: boolean;
  parse: ParseOptions;
}

export async function runShow(args: ShowArgs, io: CliIo): Promise<ExitCodeValue> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(args.file));
  } catch (err) {
    writeLine(io.stderr, `error: cannot read ${args.file}: ${(err as Error).message}`);
    return ExitCode.NoInput;
  }
  try {
    const evidence = parseEvidence(bytes, args.parse);
    if (args.json) {
      writeLine(io.stdout, JSON.stringify(evidenceToJSON(evidence), null, 2));
    } else {
      for (const line of formatRows(summaryRows(evidence))) writeLine(io.stdout, line);
      writeLine(io.stdout);
      writeLine(io.stdout, 'Parsed only: signatures, certificate chains and collateral were not checked.');
    }
    return ExitCode.Ok;
  } catch (err) {
    return reportError(io.stderr, err);
  }
}
