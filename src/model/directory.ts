/**
 * Directory mode, as the confidential-ai-loader's crypto.py (protocols.md
 * §2.1): every regular file whose name does not start with "." and does not
 * end in ".md" becomes "<name>.aes", and "encryption-config.json" lists them.
 * Differences, recorded in docs/model.md: subdirectories are walked (entries
 * are relative paths with "/"), and `files` holds paths relative to the
 * directory (upstream prefixes the output directory, which its own loader
 * cannot use). Files are processed one at a time, so memory stays constant.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, sep } from 'node:path';
import { ModelFormatError } from './errors.js';
import { decryptFile, encryptFile, type FileResult } from './file.js';
import { decodeModelKey } from './keys.js';

export const CONFIG_FILE = 'encryption-config.json';
export const ENCRYPTED_SUFFIX = '.aes';

/** encryption-config.json (upstream keys; `kbs` is "ITA_KBS" when a broker is named). */
export interface EncryptionConfig {
  kbs: string;
  kbs_url: string;
  key_id: string;
  files: string[];
}

export interface EncryptDirectoryOptions {
  /** Fills encryption-config.json; default empty strings as upstream. */
  kbs?: string;
  kbsUrl?: string;
  keyId?: string;
}

export interface DirectoryResult {
  files: FileResult[];
  config: EncryptionConfig;
}

function selected(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith('.md');
}

async function walk(root: string, rel = ''): Promise<string[]> {
  const entries = await readdir(join(root, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    if (!selected(e.name)) continue;
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await walk(root, r)));
    else if (e.isFile() && !(rel === '' && e.name === CONFIG_FILE)) out.push(r);
  }
  return out;
}

function toFs(rel: string): string {
  return rel.split('/').join(sep);
}

/** Encrypts a model directory into `outputDir` (created if needed). */
export async function encryptDirectory(inputDir: string, outputDir: string, key: string | Uint8Array, options: EncryptDirectoryOptions = {}): Promise<DirectoryResult> {
  const k = decodeModelKey(key);
  const rels = await walk(inputDir);
  const files: FileResult[] = [];
  await mkdir(outputDir, { recursive: true });
  for (const rel of rels) {
    const out = join(outputDir, toFs(rel + ENCRYPTED_SUFFIX));
    await mkdir(dirname(out), { recursive: true });
    files.push(await encryptFile(join(inputDir, toFs(rel)), out, k));
  }
  const config: EncryptionConfig = {
    kbs: options.kbs ?? (options.kbsUrl ? 'ITA_KBS' : ''),
    kbs_url: options.kbsUrl ?? '',
    key_id: options.keyId ?? '',
    files: rels.map((r) => r + ENCRYPTED_SUFFIX),
  };
  await writeFile(join(outputDir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  return { files, config };
}

/** A listed path must stay inside the directory: relative, no "..", no empty segment. */
function safeRelative(entry: string, inputDir: string): string {
  let rel = entry.replaceAll('\\', '/');
  // Upstream writes "<output dir>/<name>.aes": accept that prefix too.
  const prefix = inputDir.replaceAll('\\', '/').replace(/\/+$/, '') + '/';
  if (rel.startsWith(prefix)) rel = rel.slice(prefix.length);
  const parts = rel.split('/');
  if (rel === '' || isAbsolute(rel) || posix.isAbsolute(rel) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists a path outside the model directory: ${JSON.stringify(entry)}`, { details: { entry } });
  }
  return rel;
}

export async function readEncryptionConfig(inputDir: string): Promise<EncryptionConfig | undefined> {
  let text: string;
  try {
    text = await readFile(join(inputDir, CONFIG_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} is not JSON`, { cause });
  }
  const d = doc as Partial<EncryptionConfig>;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.files) || !d.files.every((f) => typeof f === 'string')) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} needs a "files" array of strings`);
  }
  return { kbs: String(d.kbs ?? ''), kbs_url: String(d.kbs_url ?? ''), key_id: String(d.key_id ?? ''), files: d.files };
}

/**
 * Decrypts the files listed in encryption-config.json (or, without one,
 * every "*.aes" file) into `outputDir`, dropping the ".aes" suffix. Each file
 * appears only after its tag verified; the first failure stops the run.
 */
export async function decryptDirectory(inputDir: string, outputDir: string, key: string | Uint8Array): Promise<DirectoryResult> {
  const k = decodeModelKey(key);
  const config = (await readEncryptionConfig(inputDir)) ?? { kbs: '', kbs_url: '', key_id: '', files: (await walk(inputDir)).filter((f) => f.endsWith(ENCRYPTED_SUFFIX)) };
  const rels = config.files.map((f) => safeRelative(f, inputDir));
  await mkdir(outputDir, { recursive: true });
  const files: FileResult[] = [];
  for (const rel of rels) {
    const outRel = rel.endsWith(ENCRYPTED_SUFFIX) ? rel.slice(0, -ENCRYPTED_SUFFIX.length) : rel;
    const out = join(outputDir, toFs(outRel));
    await mkdir(dirname(out), { recursive: true });
    files.push(await decryptFile(join(inputDir, toFs(rel)), out, k));
  }
  return { files, config };
}
