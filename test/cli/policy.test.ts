/** `tee-verify policy lint | schema | default`. */
import { afterAll, describe, expect, it } from 'vitest';

import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

describe('tee-verify policy', () => {
  it('schema prints the JSON Schema', async () => {
    const r = await cli(['policy', 'schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(typeof schema).toBe('object');
    expect(JSON.stringify(schema)).toContain('tdx');
  });

  it.each([['tdx'], ['sgx'], ['snp']])('default %s prints a policy that lints clean', async (tee) => {
    const printed = await cli(['policy', 'default', tee]);
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.stdout)).toMatchObject({ tee, version: 1, allowDebug: false });
    const file = temps.file(`${tee}.json`, printed.stdout);
    const r = await cli(['policy', 'lint', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid policy');
  });

  it('lint: exit 1 with the JSON pointer of an unknown field', async () => {
    const doc = JSON.parse((await cli(['policy', 'default', 'tdx'])).stdout) as Record<string, unknown>;
    const file = temps.file('bad.json', JSON.stringify({ ...doc, tcb: { ...(doc['tcb'] as object), acceptedStatus: ['UpToDate'] } }));
    const r = await cli(['policy', 'lint', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^invalid: .*bad\.json: ERR_POLICY_INVALID at \/tcb\/acceptedStatus\b/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('lint: exit 1 for a file that is not JSON, 2 for a missing file', async () => {
    expect((await cli(['policy', 'lint', temps.file('x.json', '{nope')])).code).toBe(1);
    const missing = await cli(['policy', 'lint', '/nonexistent/policy.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read policy file \/nonexistent\/policy\.json: no such file/);
  });

  it.each([
    [['policy', 'frob'], /unknown policy command/],
    [['policy', 'lint'], /missing <policy-file>/],
    [['policy', 'default', 'nitro'], /must be one of tdx, sgx, snp/],
    [['policy', 'schema', 'extra'], /unexpected argument/],
  ])('exit 2 for %j', async (argv, pattern) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
  });
});
