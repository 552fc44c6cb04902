/** Every checklist id that is a decision lives in src/ (or cpp/) and in a test. */
import { describe, expect, it } from 'vitest';

// @ts-expect-error plain ESM script without declarations
import { coverage } from '../scripts/check-ids.js';

describe('checklist id coverage', () => {
  it('every required id appears where its check lives and in a test', () => {
    const c = coverage() as { missingInSource: string[]; missingInTests: string[] };
    expect(c.missingInSource).toEqual([]);
    expect(c.missingInTests).toEqual([]);
  });
});
