/**
 * Byte compatibility with an independent implementation: Debian's python3 with
 * python3-cryptography (installed by .ci/run) runs the confidential-ai-loader's
 * container algorithm (protocols.md §1.3: struct "<3I", AESGCM, data_len
 * ignored by the reader) on containers we wrote, and writes containers we read.
 * Skipped, with the reason, when that Python is not there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptFile, encryptFile } from '../../src/model/index.js';

const PY = '/usr/bin/python3';
const available = spawnSync(PY, ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;

const SCRIPT = `
import base64, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
mode, key, src, dst = sys.argv[1], base64.b64decode(sys.argv[2]), sys.argv[3], sys.argv[4]
data = open(src, 'rb').read()
if mode == 'decrypt':
    iv_len, tag_len, _data_len = struct.unpack('<3I', data[:12])
    iv = data[12:12 + iv_len]
    out = AESGCM(key).decrypt(iv, data[12 + iv_len:], None)
else:
    iv = os.urandom(12)
    ct = AESGCM(key).encrypt(iv, data, None)
    out = struct.pack('<3I', 12, 16, len(ct)) + iv + ct
open(dst, 'wb').write(out)
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-py-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('python3-cryptography interop (skipped: no /usr/bin/python3 with cryptography)', () => {
  it.each([0, 1, 4096, 300_001])('%i bytes: ours → Python and Python → ours', async (n) => {
    const key = randomBytes(32);
    const data = randomBytes(n);
    await writeFile(join(dir, 'p'), data);
    await encryptFile(join(dir, 'p'), join(dir, 'ours.aes'), key);
    execFileSync(PY, ['-c', SCRIPT, 'decrypt', key.toString('base64'), join(dir, 'ours.aes'), join(dir, 'py.out')]);
    expect((await readFile(join(dir, 'py.out'))).equals(data)).toBe(true);
    execFileSync(PY, ['-c', SCRIPT, 'encrypt', key.toString('base64'), join(dir, 'p'), join(dir, 'py.aes')]);
    await decryptFile(join(dir, 'py.aes'), join(dir, 'ours.out'), key);
    expect((await readFile(join(dir, 'ours.out'))).equals(data)).toBe(true);
    await rm(join(dir, 'ours.aes'));
    await rm(join(dir, 'py.aes'));
  });
});
