/**
 * Review s13 CR #5: docs/error-codes.md still said "ENXIO ... and other mkdir
 * errors stay ERR_TSM_UNAVAILABLE" and had nothing on the s13 configfs-tsm
 * errno rule (an allow-list of transient errnos, every other errno the
 * permanent ERR_TSM_IO) or on an unusable --simulated-state (ERR_TSM_PROVIDER,
 * exit 2). This test reads the review s13 paragraph of docs/error-codes.md
 * and checks each errno it names against the provider, so the reference and
 * the code cannot drift apart again.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { exitCodeOf } from '../../src/model/cli.js';
import { ConfigfsTsmProvider, SimulatedTeeProvider, type TsmFs } from '../../src/tee/index.js';

const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'error-codes.md'), 'utf8');

function failingMkdir(code: string | undefined): TsmFs {
  return {
    mkdir: async () => {
      throw Object.assign(new Error(code ?? 'no errno'), code === undefined ? {} : { code });
    },
    rmdir: async () => undefined,
    readFile: async () => new Uint8Array(),
    writeFile: async () => undefined,
  };
}

async function mkdirOutcome(errno: string | undefined): Promise<{ code: string; retryable: unknown; exit: number }> {
  const e = (await new ConfigfsTsmProvider({ root: '/tsm', fs: failingMkdir(errno) }).getEvidence(randomBytes(64)).then(
    () => undefined,
    (err: unknown) => err,
  )) as { code: string; details: Record<string, unknown> } | undefined;
  expect(e, 'getEvidence resolved').toBeDefined();
  return { code: e!.code, retryable: e!.details['retryable'], exit: exitCodeOf(e) };
}

/** The review s13 evidence-provider paragraph of docs/error-codes.md. */
function s13Paragraph(): string {
  const p = doc.split(/\n\s*\n/).find((para) => /^Evidence-provider mapping changes with review s13\b/.test(para.trim()));
  expect(p, 'docs/error-codes.md has no "Evidence-provider mapping changes with review s13" paragraph').toBeDefined();
  return p!.replace(/\s+/g, ' ');
}
const errnos = (text: string): string[] => [...new Set(text.match(/\bE[A-Z]{2,}\b/g) ?? [])].filter((e) => !e.startsWith('ERR'));

describe('review s13 CR #5: docs/error-codes.md states the s13 configfs-tsm and simulated-state mapping', () => {
  it('every errno the paragraph calls retryable is ERR_TSM_UNAVAILABLE (exit 3); every one it calls permanent is ERR_TSM_IO (exit 2)', async () => {
    const p = s13Paragraph();
    const [retryPart, rest] = p.split(/are the retryable `ERR_TSM_UNAVAILABLE`/);
    expect(rest, 'the paragraph names the retryable errnos').toBeDefined();
    const retryable = errnos(retryPart!.slice(retryPart!.indexOf('only')));
    const permanentPart = rest!.slice(rest!.indexOf('Every other mkdir errno'), rest!.indexOf('is the permanent `ERR_TSM_IO`'));
    const permanent = errnos(permanentPart);
    expect(retryable.sort()).toEqual(['EAGAIN', 'EBUSY', 'EEXIST', 'EINTR', 'EMFILE', 'ENFILE', 'ENOMEM', 'ENXIO', 'ETIMEDOUT']);
    expect(permanent).toEqual(expect.arrayContaining(['ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EINVAL', 'EIO', 'ENOENT', 'EACCES']));
    for (const errno of retryable) expect({ errno, ...(await mkdirOutcome(errno)) }).toEqual({ errno, code: 'ERR_TSM_UNAVAILABLE', retryable: true, exit: 3 });
    for (const errno of [...permanent, 'ESOMETHINGNEW', undefined]) expect({ errno, ...(await mkdirOutcome(errno)) }).toEqual({ errno, code: 'ERR_TSM_IO', retryable: false, exit: 2 });
  });

  it('the older sentences that kept "other mkdir errors" retryable are marked as superseded', () => {
    const flat = doc.replace(/\s+/g, ' ');
    const stale = flat.indexOf('other mkdir errors stay `ERR_TSM_UNAVAILABLE`');
    if (stale >= 0) expect(flat.slice(stale, stale + 300)).toMatch(/superseded by review s13/);
    expect(flat).not.toMatch(/ENOENT and ENXIO stayed `ERR_TSM_UNAVAILABLE`, ENOENT until s11\)/);
  });

  it('an unusable --simulated-state: the paragraph says ERR_TSM_PROVIDER, exit 2, and the provider does so', () => {
    const p = s13Paragraph();
    expect(p).toMatch(/unusable `--simulated-state`.*`ERR_TSM_PROVIDER`.*exit 2/);
    expect(p).toMatch(/EC P-256.*EC P-384/);
    for (const text of ['{', JSON.stringify({ ...new SimulatedTeeProvider({ tee: 'tdx' }).exportState(), signingKeyPem: 'nope' })]) {
      const e = (() => {
        try {
          SimulatedTeeProvider.fromState(text);
        } catch (err) {
          return err as { code: string };
        }
        return undefined;
      })();
      expect(e?.code).toBe('ERR_TSM_PROVIDER');
      expect(exitCodeOf(e)).toBe(2);
    }
  });
});
