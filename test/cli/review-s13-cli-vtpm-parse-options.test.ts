/**
 * Review s13 CLI, finding 3: --encoding and --trailing (parse options of a quote or report) on a vTPM
 * bundle, and --product on a bundle without hardware evidence, are refused (exit 2, a message naming
 * the option), not silently ignored: review s8 #2 refuses options that do not apply. Before the fix
 * `--trailing strict --encoding hex --product Milan` on the GCE TPM-only bundle gave exit 0 with no
 * word about any of them.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { HAVE_VECTORS } from '../helpers/vectors.js';
import { TempDirs, cliJson } from './helpers.js';
import { GCE_AT, GCE_DIR, gceBundleText, readVector } from './vtpm-bundles.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

describe.skipIf(!HAVE_VECTORS)('verify <vTPM bundle>: quote-only options are refused', () => {
  const base = (): string[] => {
    const bundle = temps.file('gce.json', gceBundleText());
    const ak = temps.file('ak.pub', readVector(`${GCE_DIR}/ak_pub.tpmt_public`));
    return ['verify', bundle, '--nonce', '9009', '--ak', ak, '--at', GCE_AT, '--offline', '--no-cache'];
  };

  it('control: the TPM-only bundle verifies without them (exit 0)', async () => {
    const r = await cliJson(base());
    expect(r.code).toBe(0);
  });

  for (const [option, value, pattern] of [
    ['--trailing', 'strict', /--trailing applies to quotes and reports only/],
    ['--trailing', 'default', /--trailing applies to quotes and reports only/],
    ['--encoding', 'hex', /--encoding applies to quotes and reports only/],
    ['--product', 'Milan', /--product applies to SEV-SNP evidence: .* is a vTPM bundle without hardware evidence/],
  ] as const) {
    it(`${option} ${value}: exit 2, the option named`, async () => {
      const r = await cliJson([...base(), option, value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.json['ok']).toBe(false);
      expect(r.json['vtpm']).toBeUndefined();
    });
  }

  it('--trailing and --encoding together: one message naming both', async () => {
    const r = await cliJson([...base(), '--trailing', 'strict', '--encoding', 'hex']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--encoding, --trailing apply to quotes and reports only/);
  });
});
