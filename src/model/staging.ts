/**
 * Where a directory decryption writes before it is done. Files are decrypted
 * into a fresh 0700 staging directory beside the output (same file system),
 * and the staging directory becomes the output only once every tag has
 * verified: a failed run publishes nothing, and a second run never leaves
 * files of an earlier model (under another key) beside the new ones (review s7).
 *
 * An existing output is replaced only when that loses nothing: it is empty, or
 * it is a previous output (it holds OUTPUT_MARKER, which publishing writes).
 * Any other non-empty directory is refused (ERR_MODEL_OUTPUT), as is a mount
 * point, which cannot be renamed over. docs/model.md, "Where the plaintext goes".
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelFormatError } from './errors.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ioError } from './file.js';

/** Written into every published output; its presence lets the next run replace the directory whole. */
export const OUTPUT_MARKER = '.tee-model-output';

const MARKER_TEXT = 'Written by tee-model: the next decrypt or load into this directory replaces it whole.\n';

function outputError(message: string, outputDir: string, reason: string): ModelFormatError {
  return new ModelFormatError('ERR_MODEL_OUTPUT', message, { details: { output: outputDir, reason } });
}

const lstatOrUndefined = (path: string) =>
  lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    return ioError(e, path);
  });

/**
 * ERR_MODEL_OUTPUT unless publishing into `outputDir` would lose nothing: it
 * is absent, an empty directory or a previous output, and not a mount point.
 * Run before any key is requested, and again when publishing.
 */
export async function checkReplaceableOutput(outputDir: string): Promise<void> {
  const st = await lstatOrUndefined(outputDir);
  if (st === undefined) return;
  if (st.isSymbolicLink() || !st.isDirectory()) throw outputError(`the output ${outputDir} is not a directory`, outputDir, 'not-a-directory');
  const parent = await lstatOrUndefined(dirname(resolve(outputDir)));
  if (parent !== undefined && parent.dev !== st.dev) {
    throw outputError(`the output directory ${outputDir} is a mount point, which cannot be replaced: give a directory inside it`, outputDir, 'mount-point');
  }
  const names = await readdir(outputDir).catch((e: unknown) => ioError(e, outputDir));
  if (names.length === 0) return;
  const marker = names.includes(OUTPUT_MARKER) ? await lstatOrUndefined(join(outputDir, OUTPUT_MARKER)) : undefined;
  if (!marker?.isFile()) {
    throw outputError(`the output directory ${outputDir} is not empty and is not a previous tee-model output (no ${OUTPUT_MARKER}); it is replaced whole, so give an empty or new directory`, outputDir, 'not-empty');
  }
}

/** A fresh 0700 directory beside `outputDir` (its parents are created 0700 when missing). */
export async function createStaging(outputDir: string): Promise<string> {
  const parent = dirname(resolve(outputDir));
  await mkdir(parent, { recursive: true, mode: PRIVATE_DIR_MODE }).catch((e: unknown) => ioError(e, parent));
  // mkdtemp creates the directory 0700 and never reuses an existing one.
  return mkdtemp(join(parent, `.${basename(resolve(outputDir))}.staging-`)).catch((e: unknown) => ioError(e, parent));
}

/** Removes a staging directory after a failure (best effort: the first error is the one reported). */
export async function discardStaging(staging: string): Promise<void> {
  await rm(staging, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Makes `staging` the output: marks it, then renames it to `outputDir`. An
 * empty output is replaced in one rename (its mode kept); a previous output
 * is moved aside, replaced and then deleted; on a failed swap it is put back.
 */
export async function publishStaging(staging: string, outputDir: string): Promise<void> {
  const markerPath = join(staging, OUTPUT_MARKER);
  const fh = await open(markerPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, PRIVATE_FILE_MODE).catch((e: unknown) => ioError(e, markerPath));
  try {
    await fh.writeFile(MARKER_TEXT);
  } finally {
    await fh.close();
  }
  await checkReplaceableOutput(outputDir);
  const st = await lstatOrUndefined(outputDir);
  if (st === undefined) {
    await rename(staging, outputDir).catch((e: unknown) => ioError(e, outputDir));
    return;
  }
  await chmod(staging, st.mode & 0o7777).catch((e: unknown) => ioError(e, staging)); // an existing output keeps its mode
  if ((await readdir(outputDir)).length === 0) {
    await rename(staging, outputDir).catch((e: unknown) => ioError(e, outputDir)); // replaces an empty directory
    return;
  }
  const aside = join(dirname(resolve(outputDir)), `.${basename(resolve(outputDir))}.${process.pid}.${randomBytes(6).toString('hex')}.old`);
  await rename(outputDir, aside).catch((e: unknown) => ioError(e, outputDir));
  try {
    await rename(staging, outputDir);
  } catch (e) {
    await rename(aside, outputDir).catch(() => undefined);
    ioError(e, outputDir);
  }
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}
