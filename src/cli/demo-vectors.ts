/**
 * Loads the synthetic vectors for `demo` from the package's vectors/ folder
 * (resolved from this module, not the working directory) through its
 * manifest.json. I/O only: no checks here.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DemoVector {
  id: string;
  family: 'intel' | 'snp';
  file: string;
  bytes: Uint8Array;
  /** SNP: DER of the VCEK that signed the report. */
  vcekDer?: Uint8Array;
  /** SNP: extended-report certificate table, when the manifest lists one. */
  certTable?: Uint8Array;
}

interface ManifestEntry {
  id: string;
  kind: string;
  file: string;
  collateral?: { vcek?: string };
  report?: string;
}

/** src/cli or dist/cli -> <package>/vectors. */
export function defaultVectorsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'vectors');
}

function familyOf(kind: string): DemoVector['family'] | undefined {
  if (kind.startsWith('tdx-quote') || kind.startsWith('sgx-quote')) return 'intel';
  if (kind === 'snp-report') return 'snp';
  return undefined;
}

async function readEntries(dir: string): Promise<ManifestEntry[]> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { entries?: unknown };
  if (!Array.isArray(manifest.entries)) throw new Error(`${join(dir, 'manifest.json')} has no "entries" list`);
  return manifest.entries as ManifestEntry[];
}

/** Every evidence entry of the manifest with the files its checks need. */
export async function loadDemoVectors(dir: string): Promise<DemoVector[]> {
  const entries = await readEntries(dir);
  const read = async (name: string) => new Uint8Array(await readFile(join(dir, name)));
  const vectors: DemoVector[] = [];
  for (const entry of entries) {
    const family = familyOf(entry.kind);
    if (!family) continue;
    const vector: DemoVector = { id: entry.id, family, file: entry.file, bytes: await read(entry.file) };
    if (family === 'snp') {
      if (entry.collateral?.vcek) vector.vcekDer = await read(entry.collateral.vcek);
      const table = entries.find((e) => e.kind === 'snp-cert-table' && e.report === entry.file);
      if (table) vector.certTable = await read(table.file);
    }
    vectors.push(vector);
  }
  return vectors;
}
