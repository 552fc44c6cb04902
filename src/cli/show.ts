/** `show <file>`: parse one evidence file, print a summary or JSON. */
import { evidenceToJSON, parseEvidence, type ParseOptions } from '../index.js';
import { PARSE_OPTION_SPEC, parseOptions, parseOptionsFrom, positionals, type OptionSpec } from './args.js';
import { UsageError, reportError } from './errors.js';
import { INPUT_LIMITS, readInput } from './files.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';
import { formatRows, summaryRows } from './summary.js';
import { jsonText, lineSafe } from './terminal-text.js';
import { errorJson } from './verify-report.js';

export interface ShowArgs {
  file: string;
  json: boolean;
  parse: ParseOptions;
}

/** Parses `show` arguments; undefined means --help. */
export const SHOW_OPTION_SPEC: OptionSpec = { json: { type: 'boolean' }, ...PARSE_OPTION_SPEC };

export function parseShowArgs(argv: readonly string[]): ShowArgs | undefined {
  const parsed = parseOptions('show', argv, SHOW_OPTION_SPEC);
  if (parsed.values['help']) return undefined;
  const [file] = positionals('show', parsed, ['evidence-file']);
  return { file: file as string, json: parsed.values['json'] === true, parse: parseOptionsFrom(parsed.values) };
}

export async function runShow(args: ShowArgs, io: CliIo): Promise<ExitCodeValue> {
  try {
    const bytes = await readInput(args.file, 'evidence file', INPUT_LIMITS.evidence);
    const evidence = parseEvidence(bytes, args.parse);
    // As verify, fetch and export: --product selects SEV-SNP report versions, refused on a quote (s13 change review late #1).
    if (args.parse.snpProduct !== undefined && evidence.kind !== 'snp') throw new UsageError(`--product applies to SEV-SNP evidence: ${args.file} is ${evidence.kind === 'tdx' ? 'a TDX' : 'an SGX'} quote`);
    if (args.json) {
      writeLine(io.stdout, jsonText(evidenceToJSON(evidence)));
    } else {
      for (const line of formatRows(summaryRows(evidence))) writeLine(io.stdout, lineSafe(line));
      writeLine(io.stdout);
      writeLine(io.stdout, 'Parsed only: signatures, certificate chains and collateral were not checked.');
    }
    return ExitCode.Ok;
  } catch (err) {
    if (args.json) showErrorJson(err, io);
    return reportError(io.stderr, err);
  }
}

/** With --json, a failure is one JSON object on stdout too (review s8): {"ok": false, "error": {code, message, errorClass, check}}. */
export function showErrorJson(err: unknown, io: CliIo): void {
  writeLine(io.stdout, jsonText({ ok: false, error: errorJson(err) }));
}
