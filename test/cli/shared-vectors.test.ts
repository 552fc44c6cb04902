/** Every shared evidence file through the CLI, with the same outcome as the library. */
import { describe, expect, it } from 'vitest';

import { run } from '../../src/cli/index.js';
import { parseEvidence, TeeVerifyError } from '../../src/index.js';
import { HAVE_VECTORS, evidenceEntries, readEvidenceBytes, vectorPath } from '../helpers/vectors.js';
import { capture } from './capture.js';

describe.skipIf(!HAVE_VECTORS)('tee-verify show on every shared evidence file', () => {
  for (const entry of HAVE_VECTORS ? evidenceEntries() : []) {
    it(entry.id, async () => {
      let libraryCode: string | undefined;
      try {
        parseEvidence(readEvidenceBytes(entry));
      } catch (err) {
        libraryCode = (err as TeeVerifyError).code;
      }
      const c = capture();
      const exit = await run(['show', vectorPath(entry.file), '--json'], c.io);
      if (libraryCode === undefined) {
        expect(exit).toBe(0);
        expect(JSON.parse(c.stdout()).kind).toMatch(/^(tdx|sgx|snp)$/);
      } else {
        expect(exit).toBe(1);
        expect(c.stderr()).toContain(libraryCode);
      }
    });
  }
});
