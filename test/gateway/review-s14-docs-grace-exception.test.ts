/**
 * s14 change review (gateway), R4 (docs): "the gateway client applies no collateral grace" (review s14,
 * finding 2) was recorded in docs/gateway.md only. docs/policy.md's definition of
 * `collateral.expiryGraceSeconds` (the Intel and SEV-SNP rows) named no exception, and docs/decisions.md
 * still ended its grace decision with "the policy file is the only switch a user touches", with no
 * entry for the gateway client or the key broker. Both now say that neither applies the grace, and why.
 */
import { readFileSync } from 'node:fs';

import { expect, it } from 'vitest';

const read = (file: string): string => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

it('docs/policy.md: both rows defining collateral.expiryGraceSeconds name the key broker and the gateway client', () => {
  const rows = read('docs/policy.md')
    .split('\n')
    .filter((l) => l.startsWith('| `collateral.expiryGraceSeconds`'));
  expect(rows).toHaveLength(2);
  for (const row of rows) {
    expect(row).toMatch(/key broker/);
    expect(row).toMatch(/gateway client/);
  }
  expect(rows[0]).toMatch(/not applied|apply no grace/);
  expect(rows[0]).toMatch(/valid now/); // the reason
});

it('docs/decisions.md: a decision records that the gateway client and the key broker apply no collateral grace, with the reason', () => {
  const md = read('docs/decisions.md');
  const entry = md.split('\n- ').find((b) => /gateway client/.test(b) && /no collateral grace/i.test(b));
  expect(entry).toBeDefined();
  expect(entry).toMatch(/key broker/);
  expect(entry).toMatch(/valid now/);
  expect(entry).toMatch(/expiryGraceSeconds/);
});
