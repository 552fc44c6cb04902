/** The default cache location follows XDG and stays inside the given directory. */
import { describe, expect, it } from 'vitest';

import { defaultCacheDirectory } from '../../src/collateral/index.js';

describe('defaultCacheDirectory', () => {
  it('uses $XDG_CACHE_HOME when absolute, else ~/.cache', () => {
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: '/var/cache/me' })).toBe('/var/cache/me/tee-verify');
    expect(defaultCacheDirectory({ XDG_CACHE_HOME: 'relative' })).toMatch(/\/\.cache\/tee-verify$/);
    expect(defaultCacheDirectory({})).toMatch(/\/\.cache\/tee-verify$/);
  });
});
