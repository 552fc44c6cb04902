// Child process of constant-memory.test.ts: generates a file of SIZE bytes on
// the fly (hashing it as it goes), encrypts it, removes the plaintext,
// decrypts it, hashes the result, and prints one JSON line with the peak RSS.
// Runs the built library (dist/), like the other child-process suites.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decryptFile, encryptFile, generateModelKey } from '../../dist/model/index.js';

const [dir, sizeText] = process.argv.slice(2);
const size = Number(sizeText);
const CHUNK = 4 * 1024 * 1024;

async function generate(path) {
  const base = randomBytes(CHUNK);
  const h = createHash('sha256');
  const fh = await open(path, 'wx');
  try {
    for (let off = 0, i = 0; off < size; off += CHUNK, i++) {
      const n = Math.min(CHUNK, size - off);
      base.writeUInt32LE(i, 0); // every chunk differs
      const chunk = base.subarray(0, n);
      h.update(chunk);
      await fh.write(chunk, 0, n);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

async function hashFile(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: CHUNK })) h.update(c);
  return h.digest('hex');
}

const plain = join(dir, 'model.bin');
const enc = join(dir, 'model.bin.aes');
const out = join(dir, 'model.out');
const key = generateModelKey();
const t0 = Date.now();
const expected = await generate(plain);
const t1 = Date.now();
await encryptFile(plain, enc, key);
const t2 = Date.now();
const encSize = (await stat(enc)).size;
await rm(plain);
await decryptFile(enc, out, key);
const t3 = Date.now();
await rm(enc);
const actual = await hashFile(out);
await rm(out);
process.stdout.write(`${JSON.stringify({
  size,
  encSize,
  identical: actual === expected,
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
  ms: { generate: t1 - t0, encrypt: t2 - t1, decrypt: t3 - t2 },
})}\n`);
