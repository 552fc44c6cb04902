/**
 * `dev quote --tee tdx|sgx|snp --out <dir>`: writes simulated evidence of the
 * synthetic test PKI, its collateral bundle and the test trust roots, so
 * `verify --offline --collateral ... --trust-root ...` runs end to end with
 * no hardware and no network. For development only.
 */
import { join } from 'node:path';

import { exportBundle } from '../index.js';
import { PRODUCTS, TEES, UsageError, groupHelp, instantOption, oneOf, parseOptions, positionals, stringOption, type OptionSpec, type Tee } from './args.js';
import { buildDevEvidence } from './dev-evidence.js';
import { writeOutput } from './files.js';
import { ExitCode, writeLine, type CliIo, type ExitCodeValue } from './io.js';

export const DEV_SEED = 'tee-verify dev';

/** A command line with the file names quoted only where the shell needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export const DEV_QUOTE_OPTION_SPEC: OptionSpec = {
  tee: { type: 'string' },
  out: { type: 'string' },
  at: { type: 'string' },
  seed: { type: 'string' },
  version: { type: 'string' },
  product: { type: 'string' },
};

async function quote(argv: readonly string[], io: CliIo, help: () => ExitCodeValue): Promise<ExitCodeValue> {
  const parsed = parseOptions('dev quote', argv, DEV_QUOTE_OPTION_SPEC);
  const { values } = parsed;
  if (values['help']) return help();
  positionals('dev quote', parsed, []);
  const tee = oneOf('tee', values['tee'], TEES) as Tee | undefined;
  if (!tee) throw new UsageError('dev quote: --tee tdx|sgx|snp is required');
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError('dev quote: --out <dir> is required');
  const version = oneOf('version', values['version'], ['4', '5']);
  if (version && tee !== 'tdx') throw new UsageError('--version applies to --tee tdx only');
  const product = oneOf('product', values['product'], PRODUCTS);
  if (product && tee !== 'snp') throw new UsageError('--product applies to --tee snp only');
  const at = instantOption(values) ?? new Date();
  const dev = buildDevEvidence({ tee, at, seed: stringOption(values, 'seed') ?? DEV_SEED, ...(version ? { version: Number(version) as 4 | 5 } : {}), ...(product ? { product } : {}) });
  const files = { evidence: join(out, 'evidence.bin'), collateral: join(out, 'collateral.json'), trustRoot: join(out, 'trust-root.pem') };
  writeOutput(files.evidence, dev.evidence, 'evidence');
  writeOutput(files.collateral, exportBundle(dev.artifacts), 'collateral bundle');
  writeOutput(files.trustRoot, dev.trustRootPem, 'trust root');
  const w = (line = '') => writeLine(io.stdout, line);
  w(`wrote a simulated ${dev.description} signed by the synthetic test PKI:`);
  w(`  ${files.evidence}      evidence`);
  w(`  ${files.collateral}   collateral bundle (${dev.artifacts.length} artifacts, valid ${dev.window.notBefore.toISOString()} .. ${dev.window.notAfter.toISOString()})`);
  w(`  ${files.trustRoot}    test trust root${tee === 'snp' ? 's (ARK, ASK, ASVK)' : ' (Intel-shaped root CA)'}`);
  w();
  w('Verify it offline (the test root is never trusted in production, hence --trust-root):');
  w(`  tee-verify verify ${shellWord(files.evidence)} --offline --collateral ${shellWord(files.collateral)} --trust-root ${shellWord(files.trustRoot)}`);
  return ExitCode.Ok;
}

/** `dev <sub> ...`. */
export async function runDevCli(argv: readonly string[], io: CliIo, help: () => ExitCodeValue): Promise<ExitCodeValue> {
  const [sub, ...rest] = argv;
  if (groupHelp('dev', argv)) return help();
  if (sub === 'vtpm-evidence') return (await import('./dev-vtpm.js')).runDevVtpm(rest, io);
  if (sub !== 'quote') throw new UsageError(`unknown dev command "${sub}" (quote, vtpm-evidence)`);
  return quote(rest, io, help);
}
