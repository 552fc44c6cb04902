/**
 * s16 change review of cce6563, gateway side (tee-gateway --tls-key, loadOrCreateTls):
 * - #4: the 4 KiB bound refused a certificate chain + key bundle given as both --tls-cert and
 *   --tls-key (Node and OpenSSL skip the certificate blocks in a key PEM), which used to start; the
 *   bound is 64 KiB, the mode / owner / link rules unchanged.
 * - #1: an empty key file is refused by the reader itself, naming the file.
 * - #5: a linked key is told `--tls-key /dev/fd/N` (and the Kubernetes ..data path), not tee-model's
 *   `--key-file /dev/fd/N`.
 */
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateTls, loadOrCreateTls, readPrivateKeyFile, type TlsIdentity } from '../../src/gateway/tls.js';

let dir: string;
let pair: TlsIdentity;
let chain: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gw-s16-r2-key-'));
  pair = await generateTls(['127.0.0.1']);
  const more = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => generateTls(['ca.example'])));
  chain = pair.cert + more.map((m) => m.cert).join('');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string, mode = 0o600): string {
  const path = join(mkdtempSync(join(dir, `f${n++}-`)), 'k.pem');
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

describe('tee-gateway --tls-key, round 2 (s16 change review of cce6563)', () => {
  it('#4: a chain + key bundle over 4 KiB loads as both files', async () => {
    const bundle = file(chain + pair.key);
    expect(chain.length + pair.key.length).toBeGreaterThan(4096);
    const tls = await loadOrCreateTls(bundle, bundle, ['127.0.0.1']);
    expect(tls.generated).toBe(false);
    expect(tls.key).toBe(chain + pair.key);
  });

  it('#4: over 64 KiB, and a bundle others may read, are still refused', async () => {
    const big = file(pair.key + '#'.repeat(65536));
    await expect(readPrivateKeyFile(big)).rejects.toThrow(`the key file ${big} is larger than 64 KiB`);
    const wide = file(chain + pair.key, 0o644);
    await expect(loadOrCreateTls(wide, wide, ['127.0.0.1'])).rejects.toThrow(`the key file ${wide} has mode 0644`);
  });

  it('#1: an empty key file is refused by the reader, naming it', async () => {
    const empty = file('');
    await expect(loadOrCreateTls(file(pair.cert, 0o644), empty, ['127.0.0.1'])).rejects.toThrow(`the key file ${empty} is empty`);
  });

  it("#5: a linked key's advice names --tls-key and the ..data path", async () => {
    const key = file(pair.key);
    symlinkSync(key, `${key}.link`);
    const e = (await readPrivateKeyFile(`${key}.link`).catch((x: unknown) => x)) as Error;
    expect(e.message).toContain('pass the key on a descriptor: --tls-key /dev/fd/N or /dev/stdin');
    expect(e.message).toContain('<mount>/..data/<name>');
    expect(e.message).not.toContain('--key-file');
  });
});
