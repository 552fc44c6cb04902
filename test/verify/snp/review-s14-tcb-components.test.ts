/**
 * Review s14 tests, finding 4: S15 (COMMITTED_TCB <= CURRENT_TCB) and S16
 * (REPORTED_TCB <= CURRENT_TCB) compare per component, but the synthetic
 * cases covered only the SNP SPL (and Turin FMC for S16): comparing SNP alone
 * left every verifier test green. One case per component and check, each the
 * only component above CURRENT_TCB, on synthetic reports signed by the test
 * PKI's VCEK (whose TCB is the report's REPORTED_TCB, so S13 passes).
 */
import { describe, expect, it } from 'vitest';

import type { SnpTcbValues } from '../../../src/testing/index.js';
import { verifySnpReport } from '../../../src/verify/snp/index.js';
import { catchError } from '../../helpers/expect-error.js';
import { setup, type SetupOptions } from './helpers/synthetic.js';

type Product = 'Milan' | 'Turin';
type Component = 'fmc' | 'bootloader' | 'tee' | 'snp' | 'microcode';

/** One above the other in every component, so each case can raise one component alone. */
const LOW: Record<Product, SnpTcbValues> = {
  Milan: { bootloader: 3, tee: 1, snp: 0x17, microcode: 0xda },
  Turin: { fmc: 1, bootloader: 1, tee: 1, snp: 3, microcode: 0x4f },
};
const raised = (product: Product, component: Component): SnpTcbValues => ({ ...LOW[product], [component]: (LOW[product][component] ?? 0) + 1 });

/**
 * S15: COMMITTED_TCB has `component` one above CURRENT_TCB (REPORTED = CURRENT = the VCEK's TCB).
 * S16: REPORTED_TCB (= the VCEK's TCB) has `component` one above CURRENT_TCB = COMMITTED_TCB.
 */
function options(check: 'S15' | 'S16', product: Product, component: Component): SetupOptions {
  const low = LOW[product];
  const high = raised(product, component);
  if (check === 'S15') return { product, pki: { tcb: low }, report: { reportedTcb: low, currentTcb: low, committedTcb: high, launchTcb: low } };
  return { product, pki: { tcb: high }, report: { reportedTcb: high, currentTcb: low, committedTcb: low, launchTcb: low } };
}

const CASES: [Product, Component][] = [
  ['Milan', 'bootloader'],
  ['Milan', 'tee'],
  ['Milan', 'snp'],
  ['Milan', 'microcode'],
  ['Turin', 'fmc'],
  ['Turin', 'bootloader'],
  ['Turin', 'tee'],
  ['Turin', 'snp'],
  ['Turin', 'microcode'],
];

describe('S15 / S16 per TCB component', () => {
  for (const check of ['S15', 'S16'] as const) {
    for (const [product, component] of CASES) {
      it(`${check}: ${product} ${component} alone above CURRENT_TCB is refused`, () => {
        const s = setup(options(check, product, component));
        const err = catchError(() => verifySnpReport(s.report, s.collateral, s.options));
        const refused = { code: err.code, errorClass: err.errorClass, check: err.check };
        if (check === 'S15') expect(refused).toEqual({ code: 'ERR_SNP_TCB', errorClass: 'SNP_TCB', check: 'S15' });
        else expect(refused).toEqual({ code: 'ERR_SNP_TCB', errorClass: 'SNP_TCB', check: 'S16' });
        const low = LOW[product][component] ?? 0;
        expect(err.details['components']).toEqual([{ component, value: low + 1, limit: low }]);
      });
    }
  }

  it('control: every component equal verifies (the same setups without the raised component)', () => {
    for (const product of ['Milan', 'Turin'] as const) {
      const low = LOW[product];
      const s = setup({ product, pki: { tcb: low }, report: { reportedTcb: low, currentTcb: low, committedTcb: low, launchTcb: low } });
      const r = verifySnpReport(s.report, s.collateral, s.options);
      expect(r.checks.filter((c) => c.id === 'S15' || c.id === 'S16').map((c) => [c.id, c.status])).toEqual([['S15', undefined], ['S16', undefined]]); // passed: no status
    }
  });
});
