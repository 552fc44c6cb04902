/**
 * Review s14 (verifiers #2): evidence is bounded before it is copied (T02:
 * cap before any allocation, V11). Binary evidence was copied whole and only
 * then refused by the parser's 64 KiB cap (a 256 MiB input allocated 255 MiB
 * more); the SEV-SNP certificate table was copied whole before its 1 MiB cap.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { MAX_BINARY_INPUT } from '../../src/evidence/decode.js';
import { decodeEvidenceInput, parseEvidence, parseSnpCertificateTable } from '../../src/index.js';
import { expectError } from '../helpers/expect-error.js';

afterEach(() => vi.restoreAllMocks());

describe('review s14: evidence is capped before it is copied', () => {
  it('binary evidence longer than MAX_BINARY_INPUT is ERR_INPUT_TOO_LARGE from the decoder, before any copy', () => {
    const big = new Uint8Array(MAX_BINARY_INPUT + 1).fill(4);
    const err = expectError(() => decodeEvidenceInput(big), { code: 'ERR_INPUT_TOO_LARGE', errorClass: 'PARSE' });
    expect(err.message).toMatch(/binary evidence is longer than/);
    expect(err.offset).toBe(MAX_BINARY_INPUT);
    expectError(() => parseEvidence(big), { code: 'ERR_INPUT_TOO_LARGE' });
    // a length at the bound is decoded (and left to the parser's own cap)
    expect(decodeEvidenceInput(new Uint8Array(MAX_BINARY_INPUT).fill(4)).bytes.length).toBe(MAX_BINARY_INPUT);
  });

  it('a certificate table over 1 MiB is refused without being copied (the native S05 error, unchanged)', () => {
    const from = vi.spyOn(Uint8Array, 'from');
    const err = expectError(() => parseSnpCertificateTable(new Uint8Array(1024 * 1024 + 1)), { code: 'ERR_INPUT_TOO_LARGE', errorClass: 'PARSE', check: 'S05' });
    expect(err.offset).toBe(1024 * 1024);
    expect(from).not.toHaveBeenCalled();
  });
});
