/**
 * Review s11 (client-coll #1): `--pcs-url` / `--kds-url` with user:password.
 * The password used to be printed three times (the "collateral network (PCS
 * ...)" header, `error:` and the FAIL line, and --json's error.message) and
 * never sent. It is now a usage error (exit 2) that never repeats it.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { HAVE_VECTORS } from '../helpers/vectors.js';
import { cli, TempDirs, verifyArgs } from './helpers.js';

const ID = 'phala-dcap-qvl/tdx_quote';
const WITH_PASSWORD = 'http://u:pw@127.0.0.1:1';

describe.skipIf(!HAVE_VECTORS)('collateral URLs with credentials on the command line', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  for (const json of [false, true]) {
    for (const flag of ['--pcs-url', '--kds-url']) {
      it(`verify ${flag} ${WITH_PASSWORD}${json ? ' --json' : ''}: exit 2, "pw" printed nowhere`, async () => {
        const args = verifyArgs(ID, 'http://127.0.0.1:1', json ? ['--json'] : []);
        args[args.indexOf(flag) + 1] = WITH_PASSWORD;
        const r = await cli(args, { env: { HOME: dirs.make() } });
        expect(r.code).toBe(2);
        expect(r.stdout).not.toContain('pw');
        expect(r.stderr).not.toContain('pw');
        expect(r.stderr).toContain(flag);
        // The option is named, not the library's constructor field (session 12).
        expect(r.stdout + r.stderr).toContain(`${flag}: must not carry a user name or password`);
        expect(r.stdout + r.stderr).not.toContain('baseUrl');
      });
    }
  }

  it('collateral fetch --pcs-url with credentials: exit 2, "pw" printed nowhere', async () => {
    const args = verifyArgs(ID, WITH_PASSWORD, ['--out', `${dirs.make()}/bundle.json`]);
    args[0] = 'fetch';
    const r = await cli(['collateral', ...args], { env: { HOME: dirs.make() } });
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).not.toContain('pw');
  });
});

describe('tee-verify serve: collateral URLs with credentials', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  for (const flag of ['--pcs-url', '--kds-url']) {
    it(`serve ${flag} ${WITH_PASSWORD}: exit 2 before listening, naming the option, "pw" printed nowhere`, async () => {
      const r = await cli(['serve', '--listen', '127.0.0.1:0', '--no-cache', flag, WITH_PASSWORD], { env: { HOME: dirs.make() } });
      expect(r.code).toBe(2);
      expect(r.stdout + r.stderr).not.toContain('pw');
      expect(r.stderr).toContain(`${flag}: must not carry a user name or password`);
      expect(r.stderr).not.toContain('baseUrl');
    });
  }
});
