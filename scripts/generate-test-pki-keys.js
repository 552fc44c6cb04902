#!/usr/bin/env node
// One-off generator of the RSA keys of the synthetic AMD-shaped test PKI
// (ARK, ASK, ASVK per product). RSA keys cannot be derived from a seed
// cheaply, so they are generated once and committed under test/pki/. EC keys
// (Intel chain, VCEK, VLEK) are derived from the seed at run time instead.
// RSA-2048, not AMD's RSA-4096, keeps tests fast; the PSS parameters
// (SHA-384, MGF1-SHA-384, salt 48) are AMD's. Existing files are kept, so a
// rerun never changes the committed keys; pass --force to replace them.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'pki');
const force = process.argv.includes('--force');
mkdirSync(dir, { recursive: true });

for (const product of ['milan', 'genoa', 'turin']) {
  for (const role of ['ark', 'ask', 'asvk']) {
    const file = join(dir, `amd-${product}-${role}.pem`);
    if (existsSync(file) && !force) continue;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    console.log(`wrote ${file}`);
  }
}
