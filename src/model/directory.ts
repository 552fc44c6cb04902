/**
 * Directory mode, as the confidential-ai-loader's crypto.py (protocols.md
 * §2.1): every regular file whose name does not start with "." and does not
 * end in ".md" becomes "<name>.aes", and "encryption-config.json" lists them.
 * Differences, recorded in docs/model.md: subdirectories are walked (entries
 * are relative paths with "/"; the upstream loader cannot write those, so they
 * are warned about, or refused with `loaderCompatible`), and `files` holds paths relative to the
 * directory (upstream prefixes the output directory, which its own loader
 * cannot use; we read that form too: src/model/entries.ts). Files are
 * processed one at a time, so memory stays constant.
 */
import { lstat, mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { makeDirectory } from '../fs/make-directory.js';
import { readSmallRegularFile } from './bounded-read.js';
import { ModelFormatError } from './errors.js';
import { PRIVATE_DIR_MODE, decryptOpenedFile, encryptFile, ioError, writeFileReplacing, type FileResult } from './file.js';
import { checkReplaceableOutput, checkStagingParent, createStaging, discardStaging, publishStaging } from './staging.js';
import { configBrokerFields } from './config-broker.js';
import { entryRootsOf, indexFiles, listFiles, openListedEntry, opensInside, quoteEntry, resolveListedEntry } from './entries.js';
import { decodeModelKey } from './keys.js';

export const CONFIG_FILE = 'encryption-config.json';
export const ENCRYPTED_SUFFIX = '.aes';
/** Largest encryption-config.json read: a list of thousands of shards is a few hundred KiB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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
  /** A base URL (written as the full transfer URL when `keyId` is given) or a transfer URL (written as given). */
  kbsUrl?: string;
  keyId?: string;
  /**
   * Refuse a tree the upstream confidential-ai-loader cannot restore (an entry in a subfolder:
   * it writes os.path.join(out, entry) and never creates the folder) with ERR_MODEL_CONFIG
   * before anything is written. Default: encrypt it and say so in `warnings`.
   */
  loaderCompatible?: boolean;
  /**
   * Encrypt files that symbolic links in the input point to outside the input directory (and, for a
   * Hugging Face snapshot, its repository's `blobs/`), with a warning naming them. Default: refuse
   * such a tree with ERR_MODEL_CONFIG (`details.reason: "link-outside"`) before anything is written
   * (review s15: a cloned model repository could carry `tokenizer.model -> ~/.ssh/id_ed25519`).
   */
  followLinks?: boolean;
}

export interface DirectoryResult {
  files: FileResult[];
  config: EncryptionConfig;
  /**
   * Encryption: why the upstream loader could not use the config as written. Decryption: a killed
   * run's previous output that was moved back to the output, or left beside it (staging.ts, sweepDeadRuns).
   */
  warnings: string[];
}

function selected(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith('.md');
}

/** A path of listFiles that walk returns too: every segment selected, and not the top-level list itself. */
function isSelectedPath(rel: string): boolean {
  return rel !== CONFIG_FILE && rel.split('/').every(selected);
}

async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Selected regular files under `root`, relative with "/". Symbolic links to
 * regular files count as files (Hugging Face cache snapshots link to blobs;
 * encrypt refuses one that opens outside the input unless followLinks);
 * links to directories are not followed.
 */
async function walk(root: string, rel = ''): Promise<string[]> {
  const entries = await readdir(join(root, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    if (!selected(e.name)) continue;
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await walk(root, r)));
    else if (rel === '' && e.name === CONFIG_FILE) continue;
    else if (e.isFile() || (e.isSymbolicLink() && (await isRegularFile(join(root, toFs(r)))))) out.push(r);
  }
  return out;
}

/** How many subfolder entries a warning or error names; the full list is in encryption-config.json. */
const MAX_NAMED_ENTRIES = 10;

const namedEntries = (entries: string[]): string =>
  `${entries.slice(0, MAX_NAMED_ENTRIES).map((e) => JSON.stringify(e)).join(', ')}${entries.length > MAX_NAMED_ENTRIES ? ` and ${entries.length - MAX_NAMED_ENTRIES} more` : ''}`;

/**
 * Entries the upstream hf_loader cannot restore (protocols.md §2.3): it writes each to
 * os.path.join(<snapshot copy>, entry) without creating the parent folder, so "1_Pooling/config.json.aes"
 * fails with FileNotFoundError there. Our own decrypt / load create the folders.
 */
function subfolderEntries(files: string[]): string[] {
  return files.filter((f) => f.includes('/'));
}

/**
 * Names our own decrypt / load could not restore, refused before anything is written (review s10
 * changes-d #3, #4): a "\\" in a name (the loader reads it as a folder separator, as configs written
 * on Windows need), and a file whose output name is also a folder of the output ("foo" beside a
 * folder "foo.aes": the run failed half-written).
 */
function refuseUnrestorableNames(inputDir: string, rels: string[]): void {
  const backslash = rels.filter((r) => r.includes('\\'));
  if (backslash.length > 0) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${inputDir} holds file names with "\\" (${namedEntries(backslash)}), which tee-model load reads as folder separators; rename them. Nothing was written`, { details: { reason: 'backslash-name', entries: backslash } });
  }
  const folders = new Set<string>();
  for (const r of rels) {
    const parts = r.split('/');
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
  }
  const clashes = rels.filter((r) => folders.has(r + ENCRYPTED_SUFFIX));
  if (clashes.length > 0) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${inputDir} holds file(s) whose encrypted name is also a folder (${namedEntries(clashes)}); rename one of each pair. Nothing was written`, { details: { reason: 'name-collision', entries: clashes } });
  }
}

function toFs(rel: string): string {
  return rel.split('/').join(sep);
}

/** Encrypts a model directory into `outputDir` (created if needed). */
export async function encryptDirectory(inputDir: string, outputDir: string, key: string | Uint8Array, options: EncryptDirectoryOptions = {}): Promise<DirectoryResult> {
  const k = decodeModelKey(key);
  try {
    return await encryptDirectoryWith(inputDir, outputDir, k, options);
  } catch (e) {
    ioError(e, outputDir); // file system failures typed (review s7)
  } finally {
    k.fill(0); // our copy of the key (review s7)
  }
}

/** A file in `<cache>/models--…/blobs/` (or datasets--, spaces--): where a Hugging Face cache keeps the files its snapshots link to. */
function isHubCacheBlob(real: string): boolean {
  const blobs = dirname(real);
  return basename(blobs) === 'blobs' && /^(?:models|datasets|spaces)--/.test(basename(dirname(blobs)));
}

async function encryptDirectoryWith(inputDir: string, outputDir: string, k: Buffer, options: EncryptDirectoryOptions): Promise<DirectoryResult> {
  // Checked before any file is written: a bad URL or conflicting key id fails the run.
  const broker = configBrokerFields(options.kbsUrl, options.keyId);
  // The decrypt rules for the output apply here too: an output inside the input would be walked
  // (and encrypted again) on the next run, and a linked output would write wherever it points.
  await checkOutputDirectory(inputDir, outputDir);
  const rels = await walk(inputDir);
  refuseUnrestorableNames(inputDir, rels);
  // decrypt / load only read a listed file that opens inside the model directory (or its snapshot's
  // blobs/); encrypt holds the input to the same rule, so a link cannot carry a file from elsewhere
  // into the published model without a word (review s15).
  const roots = await entryRootsOf(inputDir);
  const outside: string[] = [];
  for (const rel of rels) if (!(await opensInside(roots, rel))) outside.push(rel);
  const linkWarnings: string[] = [];
  if (outside.length > 0) {
    const what = `${outside.length} symbolic link(s) to files outside ${inputDir} (${namedEntries(outside)})`;
    if (options.followLinks !== true) {
      // huggingface_hub before 0.23 left --local-dir trees whose large files link into the cache's
      // blobs/: the layout is named, and the flag stays the way to encrypt it (review s15 r5 #5: accepting
      // any cache's blobs/ outside the input is the exfiltration a planted link would use).
      const hf = (await Promise.all(outside.slice(0, MAX_NAMED_ENTRIES).map((rel) => realpath(join(inputDir, toFs(rel))).catch(() => '')))).some(isHubCacheBlob);
      const hint = hf
        ? ` They point into a Hugging Face cache's blobs/ (a huggingface-cli download --local-dir tree of huggingface_hub before 0.23): if that is what you downloaded, pass --follow-links (followLinks), or give the cache snapshot <repo>/snapshots/<revision> itself as the input.`
        : '';
      throw new ModelFormatError('ERR_MODEL_CONFIG', `${inputDir} holds ${what}, which would be encrypted into the model; remove them, or pass followLinks / --follow-links to encrypt what they point to.${hint} Nothing was written`, {
        details: { reason: 'link-outside', entries: outside },
      });
    }
    linkWarnings.push(`encrypted ${what}, as followLinks / --follow-links asked`);
  }
  const nested = subfolderEntries(rels.map((r) => r + ENCRYPTED_SUFFIX));
  const warnings = [...broker.warnings, ...linkWarnings];
  if (nested.length > 0) {
    const what = `${nested.length} file(s) in subfolders (${namedEntries(nested)}), which the upstream confidential-ai-loader cannot restore (it never creates the folder)`;
    if (options.loaderCompatible === true) {
      throw new ModelFormatError('ERR_MODEL_CONFIG', `loader-compatible output refused: ${inputDir} holds ${what}; nothing was written`, { details: { reason: 'loader-subfolder', entries: nested } });
    }
    warnings.push(`encryption-config.json lists ${what}; tee-model decrypt / load restore them (loaderCompatible / --loader-compatible refuses such a tree)`);
  }
  const files: FileResult[] = [];
  await makeDirectory(outputDir); // not recursive mkdir: it loops for ever under /proc on Node 20 (s16 #4)
  if ((await lstat(outputDir)).isSymbolicLink()) throw outputError(`the output directory ${outputDir} is a symbolic link`, outputDir);
  for (const rel of rels) {
    const out = join(outputDir, toFs(rel + ENCRYPTED_SUFFIX));
    await makeParentsInside(outputDir, rel + ENCRYPTED_SUFFIX);
    files.push(await encryptFile(join(inputDir, toFs(rel)), out, k));
  }
  const config: EncryptionConfig = {
    kbs: options.kbs ?? (options.kbsUrl ? 'ITA_KBS' : ''),
    kbs_url: broker.kbs_url,
    key_id: broker.key_id,
    files: rels.map((r) => r + ENCRYPTED_SUFFIX),
  };
  // Temporary file + rename (O_EXCL|O_NOFOLLOW): a link at the name is replaced, not written through, and an
  // existing list is replaced whole, as the .aes files are (review s7).
  await writeFileReplacing(join(outputDir, CONFIG_FILE), Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
  return { files, config, warnings };
}

/**
 * encryption-config.json of `inputDir`, or undefined without one. The host
 * writes the directory, so the file is read as readSmallRegularFile does (no
 * link, no FIFO, at most MAX_CONFIG_BYTES), and a parse failure carries no
 * parser text: the parser quotes the bytes it stopped at (review s7).
 */
export async function readEncryptionConfig(inputDir: string): Promise<EncryptionConfig | undefined> {
  const bytes = await readSmallRegularFile(join(inputDir, CONFIG_FILE), CONFIG_FILE, MAX_CONFIG_BYTES);
  if (bytes === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} is not JSON`, { details: { reason: 'not-json' } });
  }
  const d = doc as Partial<EncryptionConfig>;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.files) || !d.files.every((f) => typeof f === 'string')) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} needs a "files" array of strings`);
  }
  return { kbs: String(d.kbs ?? ''), kbs_url: String(d.kbs_url ?? ''), key_id: String(d.key_id ?? ''), files: d.files };
}

export interface DirectoryListing {
  config: EncryptionConfig;
  /** Listed paths, relative to the directory with "/", in list order. */
  entries: string[];
}

const outputNameOf = (rel: string): string => (rel.endsWith(ENCRYPTED_SUFFIX) ? rel.slice(0, -ENCRYPTED_SUFFIX.length) : rel);

/** "...aes" and ".aes" (also "sub/...aes") would be written to "..", "" or "sub/..": outside the output or onto it (review s7). */
const namesNoFile = (outputName: string): boolean => {
  const last = outputName.split('/').at(-1)!;
  return last === '' || last === '.' || last === '..';
};

/**
 * The directory against its own list, before any key is asked for or any byte
 * decrypted. The list itself is not authenticated (docs/model.md, "What the
 * loader does not protect"); this only refuses directories that contradict it:
 * a listed path outside the directory or listed twice (ERR_MODEL_CONFIG), a
 * listed file that is absent (ERR_MODEL_MISSING_FILE), and a "*.aes" file the
 * list does not name (ERR_MODEL_UNLISTED_FILE: the list was shortened).
 */
export async function checkDirectoryListing(inputDir: string): Promise<DirectoryListing> {
  try {
    return await checkListing(inputDir);
  } catch (e) {
    ioError(e, inputDir); // a tree deeper than PATH_MAX, a link loop, EACCES, EIO: typed, as decrypt reports them (review s15)
  }
}

async function checkListing(inputDir: string): Promise<DirectoryListing> {
  // One listing of the tree: the selected files are what encrypt would have written, and every file is
  // what an entry may resolve to, matched tail by tail in one pass (review s15: no per-tail lstat chains).
  const all = await listFiles(inputDir);
  const present = all.filter(isSelectedPath);
  const config = (await readEncryptionConfig(inputDir)) ?? { kbs: '', kbs_url: '', key_id: '', files: present.filter((f) => f.endsWith(ENCRYPTED_SUFFIX)) };
  const index = indexFiles(all);
  const entries: string[] = [];
  const outputs = new Set<string>();
  for (const f of config.files) {
    const rel = await resolveListedEntry(inputDir, f, index);
    const name = outputNameOf(rel);
    if (namesNoFile(name)) {
      throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists ${quoteEntry(rel)}, whose decrypted name ${quoteEntry(name)} names no file`, { details: { entry: rel } });
    }
    if (outputs.has(name)) throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists ${quoteEntry(name)} twice`, { details: { entry: rel } });
    outputs.add(name);
    entries.push(rel);
  }
  // Before any key is asked for: each listed file opens inside the directory (decryption opens and checks again).
  const roots = await entryRootsOf(inputDir);
  for (const rel of entries) await (await openListedEntry(roots, rel)).close();
  const listed = new Set(entries);
  const unlisted = present.filter((f) => f.endsWith(ENCRYPTED_SUFFIX) && !listed.has(f));
  if (unlisted.length > 0) {
    throw new ModelFormatError('ERR_MODEL_UNLISTED_FILE', `the model directory holds encrypted file(s) ${CONFIG_FILE} does not list: ${unlisted.slice(0, 5).map((f) => quoteEntry(f)).join(', ')}${unlisted.length > 5 ? ', ...' : ''}`, {
      details: { unlisted },
    });
  }
  return { config, entries };
}

const within = (path: string, dir: string): boolean => path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** realpath of the longest existing prefix of `path`, with the missing rest appended. */
async function realPathOfPossiblyMissing(path: string): Promise<string> {
  const missing: string[] = [];
  for (let at = resolve(path); ; at = dirname(at)) {
    try {
      return join(await realpath(at), ...missing.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) throw e;
      missing.push(basename(at));
    }
  }
}

function outputError(message: string, outputDir: string): ModelFormatError {
  return new ModelFormatError('ERR_MODEL_OUTPUT', message, { details: { output: outputDir } });
}

/**
 * Where plaintext may go. In `load` the host writes the input directory, so an
 * output directory that is a symbolic link (`-o m/plain` with `plain ->
 * victim`), that lies inside the input directory, or that contains it would
 * let the host steer the TEE's writes; each is ERR_MODEL_OUTPUT, checked
 * before any key is asked for. The output's own ancestors are the caller's
 * choice and are not inspected.
 */
export async function checkOutputDirectory(inputDir: string, outputDir: string): Promise<void> {
  const st = await lstat(outputDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (st?.isSymbolicLink()) throw outputError(`the output directory ${outputDir} is a symbolic link`, outputDir);
  if (st !== undefined && !st.isDirectory()) throw outputError(`the output ${outputDir} exists and is not a directory`, outputDir);
  const input = await realpath(inputDir);
  const output = await realPathOfPossiblyMissing(outputDir);
  if (output === input || within(output, input)) throw outputError(`the output directory ${outputDir} lies inside the input directory ${inputDir}`, outputDir);
  if (within(input, output)) throw outputError(`the output directory ${outputDir} contains the input directory ${inputDir}`, outputDir);
}

/**
 * Creates `rel`'s parent directories under `outputDir` one by one (0700),
 * refusing an existing component that is not a real directory, so a link left
 * inside the output is never written through.
 */
async function makeParentsInside(outputDir: string, rel: string): Promise<void> {
  let dir = outputDir;
  for (const segment of rel.split('/').slice(0, -1)) {
    dir = join(dir, segment);
    try {
      await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = await lstat(dir);
      if (!st.isDirectory()) throw outputError(`${dir} in the output directory is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`, outputDir);
    }
  }
}

/**
 * Decrypts the files listed in encryption-config.json (or, without one,
 * every "*.aes" file) into `outputDir`, dropping the ".aes" suffix, after
 * checkDirectoryListing and checkOutputDirectory. Each file appears only
 * after its tag verified (mode 0600; directories the loader creates are
 * 0700); the first failure stops the run.
 */
export async function decryptDirectory(inputDir: string, outputDir: string, key: string | Uint8Array): Promise<DirectoryResult> {
  const k = decodeModelKey(key);
  try {
    return await decryptDirectoryWith(inputDir, outputDir, k);
  } catch (e) {
    ioError(e, outputDir); // file system failures typed (review s7)
  } finally {
    k.fill(0); // our copy of the key (review s7)
  }
}

/**
 * The output checks decryption needs before any key is requested:
 * checkOutputDirectory, that publishing loses nothing (an absent, empty
 * or previous output; not a mount point) and that the staging directory can
 * be created beside the output (src/model/staging.ts).
 */
export async function checkDecryptionOutput(inputDir: string, outputDir: string): Promise<void> {
  try {
    await checkOutputDirectory(inputDir, outputDir);
    await checkReplaceableOutput(outputDir);
    await checkStagingParent(outputDir);
  } catch (e) {
    ioError(e, outputDir); // system errors typed (review s15), as checkDirectoryListing's
  }
}

async function decryptDirectoryWith(inputDir: string, outputDir: string, k: Buffer): Promise<DirectoryResult> {
  const { config, entries } = await checkDirectoryListing(inputDir);
  await checkDecryptionOutput(inputDir, outputDir);
  const roots = await entryRootsOf(inputDir);
  // Everything is decrypted into a staging directory beside the output, which becomes the output only once every tag verified.
  const staging = await createStaging(outputDir);
  try {
    const files: FileResult[] = [];
    for (const rel of entries) {
      const name = outputNameOf(rel);
      const out = join(staging.path, toFs(name));
      const inside = relative(staging.path, out);
      if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
        throw new ModelFormatError('ERR_MODEL_CONFIG', `${CONFIG_FILE} lists ${JSON.stringify(rel)}, which would be written outside the output directory`, { details: { entry: rel } });
      }
      await makeParentsInside(staging.path, name);
      // Containment is decided on the descriptor that is then read (openListedEntry), not on the listing check.
      const fh = await openListedEntry(roots, rel);
      try {
        const r = await decryptOpenedFile(fh, join(inputDir, toFs(rel)), out, k);
        files.push({ ...r, output: join(outputDir, toFs(name)) });
      } finally {
        await fh.close();
      }
    }
    await publishStaging(staging, outputDir);
    // What the sweep of dead runs beside the output left or put back (review s11).
    return { files, config, warnings: staging.warnings };
  } catch (e) {
    await discardStaging(staging);
    throw e;
  }
}
