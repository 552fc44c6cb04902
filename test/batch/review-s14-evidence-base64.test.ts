/**
 * Review s14 (service / batch) finding 3: batch's base64 fast path took any record whose
 * `Buffer.from(evidence, 'base64')` had the expected length. Node's decoder ignores non-zero
 * unused bits in the last character and accepts `+/` and `-_` together, so a record that
 * `tee-verify verify` refuses with ERR_BAD_ENCODING (the strict decoder, src/evidence/base64.ts)
 * was trusted by batch: one archive line, two verdicts. Text over the parser's cap
 * (MAX_TEXT_INPUT, ERR_INPUT_TOO_LARGE in verify) was decoded too. Now batch takes the fast path
 * only for the exact canonical text of the decoded bytes and gives the rest to the parser.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { MAX_TEXT_INPUT } from '../../src/evidence/decode.js';
import { parseEvidence } from '../../src/evidence/index.js';
import { capture, makeArchive, readResults, requireBuilt, type Archive } from './helpers.js';

const AT = new Date('2026-06-01T00:00:00Z');
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

let archive: Archive;
let work: string;
/** Record 0 of the archive (a good TDX quote) and its evidence written several ways. */
let line: Record<string, unknown>;
let texts: Record<string, string>;

beforeAll(async () => {
  requireBuilt();
  archive = await makeArchive(1, AT);
  expect(archive.kindOf(0)).toBe('up-to-date');
  work = mkdtempSync(join(tmpdir(), 'tee-verify-batch-s14-b64-'));
  line = JSON.parse(readFileSync(archive.jsonl, 'utf8').split('\n')[0]!) as Record<string, unknown>;
  const ev = line['evidence'] as string;
  const m = /^(.*?)([A-Za-z0-9+/])(=+)$/.exec(ev);
  expect(m, 'the quote\'s base64 ends with padding (its last character has unused bits)').not.toBeNull();
  const plus = ev.indexOf('+');
  expect(plus).toBeGreaterThanOrEqual(0);
  texts = {
    canonical: ev,
    // The last data character with one of its unused bits set: same bytes for Node, not canonical.
    'non-canonical': `${m![1]}${ALPHABET[ALPHABET.indexOf(m![2]!) + 1]}${m![3]}`,
    // One "+" as "-" (the same value in the URL-safe alphabet): both alphabets in one text.
    mixed: `${ev.slice(0, plus)}-${ev.slice(plus + 1)}`,
    // The whole text in the URL-safe alphabet, padding kept: strict base64 too.
    'url-safe': ev.replace(/\+/g, '-').replace(/\//g, '_'),
    // Longer than the parser's text cap (a multiple of 4 characters, so it met the old fast path).
    'over-cap': 'A'.repeat(MAX_TEXT_INPUT + 4),
  };
}, 120_000);

afterAll(() => {
  for (const dir of [archive?.dir, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What `tee-verify verify` / verifyEvidence(string) make of the text: null (decoded) or the parser's code. */
function libraryCode(text: string): string | null {
  try {
    parseEvidence(text);
    return null;
  } catch (err) {
    return (err as { code: string }).code;
  }
}

describe('review s14 #3: batch decodes evidence text as verify does', () => {
  it('each way of writing the record gets the verdict the strict decoder gives', async () => {
    const input = join(work, 'records.jsonl');
    const names = Object.keys(texts);
    writeFileSync(input, names.map((name) => JSON.stringify({ ...line, id: name, evidence: texts[name] })).join('\n') + '\n');
    const out = join(work, 'results.jsonl');
    const c = capture();
    const code = await runBatchCli([input, '--out', out, '--at', AT.toISOString(), '--collateral', archive.collateral, '--trust-root', archive.trustRoot, '--workers', '1'], c.io);
    expect(code).toBe(1);
    const results = readResults(out);
    expect(results.map((r) => [r.id, r.ok, r.error?.code ?? null])).toEqual([
      ['canonical', true, null],
      ['non-canonical', false, 'ERR_BAD_ENCODING'],
      ['mixed', false, 'ERR_BAD_ENCODING'],
      ['url-safe', true, null],
      ['over-cap', false, 'ERR_INPUT_TOO_LARGE'],
    ]);
    // The same decisions as the library's (verify's) decoder, text by text.
    expect(names.map((name) => libraryCode(texts[name]!))).toEqual([null, 'ERR_BAD_ENCODING', 'ERR_BAD_ENCODING', null, 'ERR_INPUT_TOO_LARGE']);
    expect(results[1]!.error!.message).toContain('non-zero unused bits');
    expect(results[2]!.error!.message).toContain('both the standard (+/) and the URL-safe (-_) alphabet');
  });
});
