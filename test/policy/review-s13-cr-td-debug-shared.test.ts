/**
 * Session 13 change review, policy finding 4: td-debug.ts said the policy check, the EAR vector
 * and the key broker share it "so they cannot drift", but only ear.ts imported it;
 * checks/tdx.ts kept TUD_BITS = 0xfe and kbs/transfer.ts TD_DEBUG_GROUP = 0xff. Now all three
 * call tdUnderDebug, and no other source file defines the group's bits. The key broker's
 * behaviour per bit is tested in test/kbs/review-td-debug.test.ts; the EAR's in
 * review-s13-ear-td-debug.test.ts; here the T34 policy check agrees with the helper bit by bit.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy } from '../../src/policy/index.js';
import { tdUnderDebug } from '../../src/policy/td-debug.js';
import { syntheticTdx, tdx, withClaims } from './helpers.js';
import type { TdxClaims } from '../../src/verify/types.js';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('one definition of the TD-under-debug group (review s13 change review policy #4)', () => {
  it('the policy check, the EAR vector and the key broker import tdUnderDebug', () => {
    for (const file of ['policy/checks/tdx.ts', 'policy/ear.ts', 'kbs/transfer.ts']) {
      const text = readFileSync(join(SRC, file), 'utf8');
      expect(text, file).toMatch(/import \{[^}]*\btdUnderDebug\b[^}]*\} from '[./]*(policy\/)?td-debug\.js'/);
      expect(text, file).toMatch(/\btdUnderDebug\(/);
    }
  });

  it('no other source file keeps its own copy of the bits', () => {
    const copies = sources(SRC)
      .filter((f) => relative(SRC, f) !== join('policy', 'td-debug.ts'))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => ({ where: `${relative(SRC, f)}:${i + 1}`, line }))
          // a definition of the group, or TDATTRIBUTES masked with the bits of it (byte masks elsewhere are not it)
          .filter(({ line }) => /\b(TUD_BITS|TD_DEBUG_GROUP)\s*=/.test(line) || (/tdAttributes|attrs/i.test(line) && /\b0x(fe|ff)n?\b/i.test(line))),
      )
      .map(({ where, line }) => `${where}: ${line.trim()}`);
    expect(copies).toEqual([]);
  });

  it('the T34 check refuses exactly the TDs the helper calls debuggable (bits 0 to 15)', () => {
    const strict = loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' });
    const r0 = syntheticTdx();
    const base = BigInt(tdx(r0).tdAttributes) & ~0xffffn;
    for (let bit = 0n; bit < 16n; bit++) {
      const claims = { tdAttributes: `0x${(base | (1n << bit)).toString(16).padStart(16, '0')}`, debug: bit === 0n };
      const r = withClaims<TdxClaims>(r0, claims);
      const refused = evaluatePolicy(r, strict).violations.some((v) => v.path === '/allowDebug');
      expect([bit, refused], `bit ${bit}`).toEqual([bit, tdUnderDebug(claims)]);
      expect(refused, `bit ${bit}`).toBe(bit < 8n);
    }
  });
});
