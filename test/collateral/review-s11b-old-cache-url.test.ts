/**
 * Review s11 changes-b #7 (first half): a cache written before review s11 may
 * hold a PCCS URL with user:password in an entry's source (such URLs were
 * accepted then; the credentials were never sent). Bundles were cleaned on
 * import and export, the cache kept it: every artifact read back, the entry
 * written again, and ERR_COLLATERAL_FORMAT's details.url carried it. Also the
 * cosmetic "(X15): null" for a URL without a scheme.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache } from '../../src/collateral/cache.js';
import { parseSourceUrl } from '../../src/collateral/source-url.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { TeeVerifyError } from '../../src/index.js';
import { setup } from '../verify/snp/helpers/synthetic.js';

const SECRET = 'S3CRET-PW';
const WITH_PASSWORD = `https://u:${SECRET}@kds.example/vcek/v1/Milan/crl`;
const CLEAN = 'https://kds.example/vcek/v1/Milan/crl';
const KEY = 'amd/crl/Milan/vcek';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s11b-url-'));
  dirs.push(d);
  return d;
}
/** Every file under `dir` (the cache's v1 and anything else), concatenated. */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
    .join('\n');
}
function thrown(f: () => unknown): TeeVerifyError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TeeVerifyError);
    return err as TeeVerifyError;
  }
  throw new Error('expected an error');
}

describe('source URLs of caches written before review s11', () => {
  const s = setup();
  const artifact = () => validateArtifact({ kind: 'amd-crl', key: KEY, body: s.collateral.crl!, source: { origin: 'network', url: WITH_PASSWORD } });

  it('an entry is written without the userinfo', () => {
    const directory = tempDir();
    new CollateralCache({ directory }).put(artifact());
    const text = allText(directory);
    expect(text).toContain(CLEAN);
    expect(text).not.toContain(SECRET);
  });

  it('an entry that holds it is read back without it', () => {
    const directory = tempDir();
    new CollateralCache({ directory }).put(artifact());
    // What an earlier version wrote: the same entry, its source URL with user:password.
    const v1 = join(directory, 'v1');
    const [entry] = readdirSync(v1).filter((n) => /^[0-9a-f]{64}-[0-9a-f]{16}\.json$/.test(n));
    const stored = JSON.parse(readFileSync(join(v1, entry!), 'utf8')) as { source: { url?: string } };
    stored.source.url = WITH_PASSWORD;
    writeFileSync(join(v1, entry!), JSON.stringify(stored));

    const read = new CollateralCache({ directory }).get(KEY);
    expect(read?.source).toMatchObject({ origin: 'cache', url: CLEAN });
    expect(JSON.stringify(read?.source)).not.toContain(SECRET);
  });

  it('ERR_COLLATERAL_FORMAT names the source URL without it', () => {
    const err = thrown(() => validateArtifact({ kind: 'amd-crl', key: KEY, body: new TextEncoder().encode('<html>not a CRL</html>'), source: { origin: 'cache', url: WITH_PASSWORD } }));
    expect(err.code).toBe('ERR_COLLATERAL_FORMAT');
    expect(err.details?.['url']).toBe(CLEAN);
    expect(err.message + JSON.stringify(err.details)).not.toContain(SECRET);
  });
});

describe('a collateral URL without a scheme', () => {
  it('"u:password@host:1" is refused by name (X15), repeating neither the password nor "null"', () => {
    const err = thrown(() => parseSourceUrl(`u:${SECRET}@127.0.0.1:1`, '--pcs-url', false));
    expect({ code: err.code, check: err.check }).toEqual({ code: 'ERR_INVALID_ARGUMENT', check: 'X15' });
    expect(err.message).toContain('--pcs-url');
    expect(err.message).not.toMatch(/\bnull\b/);
    expect(err.message + JSON.stringify(err.details ?? {})).not.toContain(SECRET);
  });

  it('an https URL is accepted (control)', () => {
    expect(parseSourceUrl('https://pccs.example:8081', '--pcs-url', false).host).toBe('pccs.example:8081');
  });
});
