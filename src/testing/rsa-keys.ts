/**
 * The committed RSA keys of the AMD-shaped test PKI (test/pki/, made once by
 * scripts/generate-test-pki-keys.js). RSA-2048 rather than AMD's RSA-4096
 * keeps tests fast; pass your own keys to createAmdTestPki for 4096.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { TestKeyPair } from './seed.js';
import type { TestSnpProduct } from './snp-tcb.js';

export interface AmdRsaKeys {
  ark: TestKeyPair;
  ask: TestKeyPair;
  asvk: TestKeyPair;
}

/** src/testing or dist/testing -> package root. */
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function defaultTestPkiDir(): string {
  return join(packageRoot, 'test', 'pki');
}

function loadKey(file: string): TestKeyPair {
  const privateKey = createPrivateKey(readFileSync(file));
  return { curve: 'RSA', privateKey, publicKey: createPublicKey(privateKey) };
}

/** Reads amd-<product>-{ark,ask,asvk}.pem from `dir` (default: the package's test/pki). */
export function loadAmdRsaKeys(product: TestSnpProduct, dir = defaultTestPkiDir()): AmdRsaKeys {
  const base = join(dir, `amd-${product.toLowerCase()}`);
  return { ark: loadKey(`${base}-ark.pem`), ask: loadKey(`${base}-ask.pem`), asvk: loadKey(`${base}-asvk.pem`) };
}
