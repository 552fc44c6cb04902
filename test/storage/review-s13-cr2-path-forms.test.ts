/**
 * s13 change review storage2 #2, #3: the plain relative SQLite path rule accepts letters with their
 * combining marks (Hindi, Thai, a decomposed é), and refuses a leading "~/" (never expanded here: it
 * failed as the retryable ERR_STORAGE_UNREACHABLE, exit 75, and a supervisor restarted for ever).
 */
import { describe, expect, it } from 'vitest';

import { parseStorageLocation, sqliteLocation } from '../../src/storage/index.js';

describe('SQLite path rule: combining marks, "~"', () => {
  it('relative names with combining marks are SQLite paths', () => {
    for (const name of ['डेटा.sqlite', 'ข้อมูล.sqlite', 'cafe\u0301.sqlite', 'தரவு/kbs.sqlite']) {
      expect(sqliteLocation(name)).toEqual({ kind: 'sqlite', file: name });
      expect(parseStorageLocation(`sqlite:${name}`)).toEqual({ kind: 'sqlite', file: name });
    }
  });

  it('"~/kbs.sqlite" and "~" are ERR_STORAGE_CONFIG, not a path that fails later', () => {
    for (const name of ['~/kbs.sqlite', '~']) {
      expect(() => sqliteLocation(name)).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
      expect(() => parseStorageLocation(`sqlite:${name}`)).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
    }
  });

  it('control: "~" inside a name is still allowed ("backup~1.sqlite", "a/~b.sqlite")', () => {
    expect(sqliteLocation('backup~1.sqlite')).toEqual({ kind: 'sqlite', file: 'backup~1.sqlite' });
    expect(sqliteLocation('a/~b.sqlite')).toEqual({ kind: 'sqlite', file: 'a/~b.sqlite' });
  });
});
