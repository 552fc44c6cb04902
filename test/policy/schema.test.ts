/**
 * src/policy/schema.json is the policy schema shipped as a file; the schema
 * object in src/policy/schema.ts (exported as policySchema, so it is in dist)
 * is the source. They must be equal: regenerate the file with
 *   UPDATE_POLICY_SCHEMA=1 npx vitest run test/policy/schema.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { defaultPolicy, policySchema } from '../../src/policy/index.js';
import { validateAgainstSchema } from '../../src/policy/json-schema.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'policy', 'schema.json');

describe('policy schema', () => {
  it('src/policy/schema.json equals the exported policySchema', () => {
    const text = `${JSON.stringify(policySchema, null, 2)}\n`;
    if (process.env['UPDATE_POLICY_SCHEMA'] === '1') writeFileSync(file, text);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('is JSON Schema 2020-12 and closed: additionalProperties false on every object with properties', () => {
    expect(policySchema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    const open: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const o = node as Record<string, unknown>;
      if ((o['type'] === 'object' || 'properties' in o) && o['additionalProperties'] !== false) open.push(path);
      for (const [k, v] of Object.entries(o)) walk(v, `${path}/${k}`);
    };
    walk(policySchema, '');
    expect(open).toEqual([]);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(policySchema)).toBe(true);
    expect(Object.isFrozen(policySchema['$defs'])).toBe(true);
  });

  it('every default policy is a valid document of the schema', () => {
    for (const tee of ['tdx', 'sgx', 'snp'] as const) expect(validateAgainstSchema(policySchema, defaultPolicy(tee))).toEqual([]);
  });
});
