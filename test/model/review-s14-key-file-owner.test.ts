/**
 * Review s14 (KBS change review #2, applied to tee-model --key-file): a key
 * file must be owned by the user the process runs as or by root, as the
 * broker's secret files must. Another user's 0600 file was accepted, though
 * that user can read and rewrite the key. Owners are faked through
 * process.geteuid so the test runs as any user.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { checkKeyFileMode } from '../../src/model/key-file.js';

afterEach(() => vi.restoreAllMocks());

describe('review s14: tee-model key file owner', () => {
  it("another user's 0600 file is ERR_MODEL_KEY (reason owner)", () => {
    vi.spyOn(process, 'geteuid').mockReturnValue(1000);
    let err: unknown;
    try {
      checkKeyFileMode({ mode: 0o100600, uid: 1001 }, '/k');
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_MODEL_KEY');
    expect((err as { details?: { reason?: string } }).details?.reason).toBe('owner');
  });

  it('own file 0600 and a root-owned 0440 file are accepted (controls)', () => {
    vi.spyOn(process, 'geteuid').mockReturnValue(1000);
    expect(() => checkKeyFileMode({ mode: 0o100600, uid: 1000 }, '/k')).not.toThrow();
    expect(() => checkKeyFileMode({ mode: 0o100440, uid: 0 }, '/k')).not.toThrow();
  });
});
