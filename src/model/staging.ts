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
import { constants, existsSync, renameSync, rmSync } from 'node:fs';
import { access, chmod, lstat, mkdtemp, open, readFile, readdir, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { makeDirectory } from '../fs/make-directory.js';
import { ModelFormatError } from './errors.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ioError } from './file.js';
import { onInterrupt } from './interrupt-cleanup.js';
import { processExists, stagingIdentity, type StagingIdentity } from './run-identity.js';

/** Written into every published output; its presence lets the next run replace the directory whole. */
export const OUTPUT_MARKER = '.tee-model-output';

const MARKER_TEXT = 'Written by tee-model: the next decrypt or load into this directory replaces it whole.\n';

function outputError(message: string, outputDir: string, reason: string, extra: Record<string, unknown> = {}): ModelFormatError {
  return new ModelFormatError('ERR_MODEL_OUTPUT', message, { details: { output: outputDir, reason, ...extra } });
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
  // The staging directory is renamed onto the output: rename(2) refuses a last component "." or ".."
  // (EBUSY) and "/" cannot be replaced, which used to show only after the key was released and
  // every file decrypted (review s15).
  const last = basename(outputDir);
  if (last === '.' || last === '..' || last === '') {
    throw outputError(`the output ${outputDir} cannot be renamed into (its last component is ${last === '' ? 'the root' : JSON.stringify(last)}): give the directory by its name, or a new directory`, outputDir, 'cannot-rename');
  }
  const st = await lstatOrUndefined(outputDir);
  if (st === undefined) return;
  if (st.isSymbolicLink() || !st.isDirectory()) throw outputError(`the output ${outputDir} is not a directory`, outputDir, 'not-a-directory');
  // The current directory by another name would be renamed over, leaving this process (and the shell that started it) in a deleted directory.
  const [here, real] = await Promise.all([realpath(process.cwd()).catch(() => undefined), realpath(outputDir).catch(() => undefined)]);
  if (here !== undefined && here === real) {
    throw outputError(`the output ${outputDir} is the current directory, which would be replaced (a shell in it is left in a deleted directory): give a new directory, e.g. -o out`, outputDir, 'cannot-rename');
  }
  const parent = await lstatOrUndefined(dirname(resolve(outputDir)));
  if (parent !== undefined && parent.dev !== st.dev) {
    throw outputError(`the output directory ${outputDir} is a mount point, which cannot be replaced: give a directory inside it`, outputDir, 'mount-point');
  }
  // A bind mount of a directory of the same file system (a container volume given as -o) has its
  // parent's device: the kernel's mount table names it (review s15 r5 #3).
  if (real !== undefined && (await mountPoints()).has(real)) {
    throw outputError(`the output directory ${outputDir} is a mount point, which cannot be replaced: give a directory inside it`, outputDir, 'mount-point');
  }
  const names = await readdir(outputDir).catch((e: unknown) => ioError(e, outputDir));
  if (names.length === 0) return;
  const marker = names.includes(OUTPUT_MARKER) ? await lstatOrUndefined(join(outputDir, OUTPUT_MARKER)) : undefined;
  if (!marker?.isFile()) {
    throw outputError(`the output directory ${outputDir} is not empty and is not a previous tee-model output (no ${OUTPUT_MARKER}); it is replaced whole, so give an empty or new directory`, outputDir, 'not-empty');
  }
}

/**
 * The mount points of this process's mount namespace, as /proc/self/mountinfo gives them (field 5,
 * with the kernel's octal escapes of space, tab, newline and backslash undone). Empty where there
 * is no procfs: the device comparison is then the only mount-point check.
 */
export async function mountPoints(mountinfo = '/proc/self/mountinfo'): Promise<Set<string>> {
  const text = await readFile(mountinfo, 'utf8').catch(() => '');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined && field.startsWith('/')) points.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return points;
}

/**
 * ERR_MODEL_OUTPUT (`parent-not-writable`) unless this process can create the staging directory
 * beside `outputDir`: its parent, or the nearest existing ancestor where the missing parents will be
 * created, must be writable and searchable by this user. An -o made for the service user inside a
 * directory it cannot write is refused here, before any key is requested, not after the broker
 * released one. Run by checkDecryptionOutput.
 */
export async function checkStagingParent(outputDir: string, accessCheck: (path: string, mode: number) => Promise<void> = access): Promise<void> {
  const parent = dirname(resolve(outputDir));
  for (let at = parent; ; at = dirname(at)) {
    try {
      await accessCheck(at, constants.W_OK | constants.X_OK);
      return;
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException)?.code;
      if (errno === 'ENOENT' && dirname(at) !== at) continue;
      if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') {
        throw outputError(
          `the output ${outputDir} is written through a staging directory created beside it, and this user cannot create one in ${at} (${errno}): make ${at} writable for it, or give an -o inside a directory it can write`,
          outputDir,
          'parent-not-writable',
          { path: at, errno },
        );
      }
      ioError(e, at);
    }
  }
}

export { stagingIdentity, type StagingIdentity } from './run-identity.js';

/** `.<name>.staging-<host>.pidns-<namespace>.`: the pid and mkdtemp's six characters follow. */
function stagingPrefix(outputDir: string, id: StagingIdentity): string {
  return `.${basename(resolve(outputDir))}.staging-${id.host}.pidns-${id.pidNamespace}.`;
}

/** What follows the prefix in a name createStaging made: the pid, "-", and the six letters or digits mkdtemp puts for XXXXXX. */
const STAGING_TAIL = /^(\d+)-[A-Za-z0-9]{6}$/;

/**
 * `.<name>.old-<host>.pidns-<namespace>.`: the pid, "-" and 12 random hex digits follow. Where
 * publishStaging moves a previous output while it swaps the new one in; it carries the staging
 * identity so that the sweep can tell a dead run's from a live one's (review s11).
 */
function asidePrefix(outputDir: string, id: StagingIdentity): string {
  return `.${basename(resolve(outputDir))}.old-${id.host}.pidns-${id.pidNamespace}.`;
}

const ASIDE_TAIL = /^(\d+)-[0-9a-f]{12}$/;

/** The aside name of versions before review s11: `.<name>.<pid>.<12 hex>.old`, without host or pid namespace. */
function isOldStyleAside(name: string, outputDir: string): boolean {
  const head = `.${basename(resolve(outputDir))}.`;
  return name.startsWith(head) && /^\d+\.[0-9a-f]{12}\.old$/.test(name.slice(head.length));
}

/** What sweepDeadRuns did beside an output. */
export interface SweepReport {
  /** Dead runs' staging directories, and dead runs' asides of a previous output that the output replaced, now deleted. */
  removed: string[];
  /** A dead run's aside moved back to the output, which was missing (killed between the two renames). */
  restored?: string;
  /** Asides left in place, each named with what to do: they may hold decrypted model files. */
  warnings: string[];
}

/** `old-<host>.pidns-<namespace>.` or `staging-<host>.pidns-<namespace>.` after `.<name>.`: whose run made the directory. */
const RUN_IDENTITY = /^(?:old|staging)-([A-Za-z0-9_-]+)\.pidns-([^.]+)\./;

/**
 * Clears up beside `outputDir` after runs of this host and pid namespace that died without
 * cleaning up (SIGKILL, a crash, power loss): their name carries a pid no process has any more.
 * Best effort. Only names of exactly createStaging's and publishStaging's shapes are moved or
 * deleted, and only those of this host and pid namespace; a live process's are left alone.
 *
 * - a staging directory (`.<name>.staging-…`) is deleted;
 * - an aside (`.<name>.old-…`, the previous output being replaced; review s11): when the output is
 *   missing, the run died between the two renames and the aside goes back to the output; when the
 *   output is a tee-model output (it holds OUTPUT_MARKER), the new one was published and the aside
 *   is deleted; otherwise it is left and named in a warning.
 *
 * A directory another user owns is never moved or deleted (review s15 r5 #4).
 *
 * Every other aside or staging directory of this output is one the sweep cannot judge, and each is
 * named in a warning (they may hold decrypted model files; review s11 changes-a #3): another host's
 * or pid namespace's (every container start gets a new pid namespace, so a run killed in the
 * previous container is one of these), every one when this process's namespace is unknown, an aside
 * of an earlier version (`.<name>.<pid>.<hex>.old`, no host or namespace to judge its pid by) and a
 * name of this identity in no shape tee-model writes.
 */
export async function sweepDeadRuns(outputDir: string, id: StagingIdentity = stagingIdentity()): Promise<SweepReport> {
  const report: SweepReport = { removed: [], warnings: [] };
  const parent = dirname(resolve(outputDir));
  const names = (await readdir(parent).catch(() => [] as string[])).sort();
  const isDirectory = async (path: string): Promise<boolean> => (await lstat(path).catch(() => undefined))?.isDirectory() === true;
  const leftOver = (path: string, why: string): void => {
    report.warnings.push(`${path} holds the previous output of a tee-model run that was killed while replacing ${outputDir} (it may hold decrypted model files); ${why}: check it and delete it, or move it back to ${outputDir}`);
  };
  const unjudged = (path: string, isAside: boolean, why: string): void => {
    const what = isAside ? `the previous output of a tee-model run replacing ${outputDir}` : `the staging directory of a tee-model run writing ${outputDir}`;
    const remedy = isAside ? `when no run is replacing ${outputDir} any more, check it and delete it, or move it back to ${outputDir}` : `when no run is writing ${outputDir} any more, delete it`;
    report.warnings.push(`${path} is ${what} (it may hold decrypted model files); ${why}, so this run leaves it: ${remedy}`);
  };
  const head = `.${basename(resolve(outputDir))}.`;
  const staging = stagingPrefix(outputDir, id);
  const aside = asidePrefix(outputDir, id);
  for (const name of names) {
    const oldStyle = isOldStyleAside(name, outputDir);
    const isAside = oldStyle || name.startsWith(`${head}old-`);
    if (!isAside && !name.startsWith(`${head}staging-`)) continue;
    const path = join(parent, name);
    if (!(await isDirectory(path))) continue;
    if (id.pidNamespace === 'unknown') {
      unjudged(path, isAside, 'this process cannot read its pid namespace (/proc), so it cannot tell whether that run is still alive');
      continue;
    }
    if (oldStyle) {
      leftOver(path, 'its name (an earlier tee-model version) does not say on which host or in which pid namespace that run was');
      continue;
    }
    const prefix = isAside ? aside : staging;
    if (!name.startsWith(prefix)) {
      const run = RUN_IDENTITY.exec(name.slice(head.length));
      unjudged(
        path,
        isAside,
        run === null
          ? 'its name does not say on which host or in which pid namespace that run was'
          : `that run was on host ${run[1]} in pid namespace ${run[2]}, whose processes this one (host ${id.host}, pid namespace ${id.pidNamespace}) cannot see (another container or machine sharing the file system), so it cannot tell whether that run is still alive`,
      );
      continue;
    }
    const pid = Number((isAside ? ASIDE_TAIL : STAGING_TAIL).exec(name.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      unjudged(path, isAside, 'its name is in no shape tee-model writes, so it does not say which run made it');
      continue;
    }
    if (pid === process.pid || processExists(pid)) continue; // this process's or a live one's: that run is still at work
    // tee-model made it as this user: another user's directory of this name is not judged (review s15 r5 #4).
    const euid = process.geteuid?.();
    const owner = euid === undefined ? undefined : (await lstat(path).catch(() => undefined))?.uid;
    if (euid !== undefined && owner !== euid) {
      unjudged(path, isAside, `it belongs to user ${owner ?? 'unknown'}, not to this user (${euid}) as the directories tee-model makes do`);
      continue;
    }
    if (!isAside) {
      await rm(path, { recursive: true, force: true }).catch(() => undefined);
      report.removed.push(path);
      continue;
    }
    const output = await lstatOrUndefined(outputDir).catch(() => undefined);
    if (output === undefined && report.restored === undefined) {
      // Killed between the two renames: the previous output is the only output there is.
      const back = await rename(path, outputDir).then(() => true, () => false);
      if (back) report.restored = path;
      else leftOver(path, `it could not be moved back to the missing ${outputDir}`);
      continue;
    }
    const marker = output?.isDirectory() ? await lstatOrUndefined(join(outputDir, OUTPUT_MARKER)).catch(() => undefined) : undefined;
    if (marker?.isFile()) {
      // The new output was published; the run died while deleting the old one (or before).
      await rm(path, { recursive: true, force: true }).catch(() => undefined);
      report.removed.push(path);
      continue;
    }
    leftOver(path, output === undefined ? `another previous output was already moved back to ${outputDir}` : `${outputDir} is not a tee-model output (no ${OUTPUT_MARKER}), so which one to keep is not clear`);
  }
  return report;
}

/** The paths sweepDeadRuns removed (the interface of earlier versions; its restores and warnings are dropped). */
export async function sweepDeadStaging(outputDir: string, id: StagingIdentity = stagingIdentity()): Promise<string[]> {
  return (await sweepDeadRuns(outputDir, id)).removed;
}

/** A fresh staging directory and the function that stops its removal on interruption (publishStaging and discardStaging call it). */
export interface Staging {
  path: string;
  untrack: () => void;
  /** Whose pids its name and the aside's refer to. */
  id: StagingIdentity;
  /** What the sweep of dead runs left in place or moved back (sweepDeadRuns), for the caller to report. */
  warnings: string[];
}

/**
 * A fresh 0700 directory beside `outputDir` (its parents are created 0700 when missing), named
 * `.<name>.staging-<host>.pidns-<namespace>.<pid>-XXXXXX`; dead runs' staging directories there
 * are swept first, and this one is removed if the process is interrupted (interrupt-cleanup.ts).
 */
export async function createStaging(outputDir: string, id: StagingIdentity = stagingIdentity()): Promise<Staging> {
  const parent = dirname(resolve(outputDir));
  await makeDirectory(parent, PRIVATE_DIR_MODE).catch((e: unknown) => ioError(e, parent)); // not recursive mkdir (s16 #4)
  const swept = await sweepDeadRuns(outputDir, id);
  const warnings = [...swept.warnings];
  if (swept.restored !== undefined) warnings.push(`the previous output of a tee-model run killed while replacing ${outputDir} was moved back there from ${swept.restored}`);
  // mkdtemp creates the directory 0700 and never reuses an existing one.
  const path = await mkdtemp(join(parent, `${stagingPrefix(outputDir, id)}${process.pid}-`)).catch((e: unknown) => ioError(e, parent));
  const untrack = onInterrupt(() => rmSync(path, { recursive: true, force: true }));
  return { path, untrack, id, warnings };
}

/** Removes a staging directory after a failure (best effort: the first error is the one reported). */
export async function discardStaging(staging: Staging): Promise<void> {
  await rm(staging.path, { recursive: true, force: true }).catch(() => undefined);
  staging.untrack();
}

/**
 * Makes `staging` the output: marks it, then renames it to `outputDir`. An
 * empty output is replaced in one rename (its mode kept); a previous output
 * is moved aside (`.<name>.old-<host>.pidns-<namespace>.<pid>-<12 hex>`, which
 * the sweep of a later run recognises if this one is killed), replaced and then
 * deleted; on a failed swap it is put back, and when even that fails the error
 * names where it is (`details.previousOutput`).
 */
export async function publishStaging(staging: Staging, outputDir: string): Promise<void> {
  const markerPath = join(staging.path, OUTPUT_MARKER);
  const fh = await open(markerPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, PRIVATE_FILE_MODE).catch((e: unknown) => ioError(e, markerPath));
  try {
    await fh.writeFile(MARKER_TEXT);
  } finally {
    await fh.close();
  }
  await checkReplaceableOutput(outputDir);
  const st = await lstatOrUndefined(outputDir);
  if (st === undefined) {
    await rename(staging.path, outputDir).catch((e: unknown) => ioError(e, outputDir));
    staging.untrack();
    return;
  }
  await chmod(staging.path, st.mode & 0o7777).catch((e: unknown) => ioError(e, staging.path)); // an existing output keeps its mode
  if ((await readdir(outputDir)).length === 0) {
    await rename(staging.path, outputDir).catch((e: unknown) => ioError(e, outputDir)); // replaces an empty directory
    staging.untrack();
    return;
  }
  // Named with this run's identity: if it is killed from here on, the next run's sweep knows the aside is a dead run's (review s11).
  const aside = join(dirname(resolve(outputDir)), `${asidePrefix(outputDir, staging.id)}${process.pid}-${randomBytes(6).toString('hex')}`);
  await rename(outputDir, aside).catch((e: unknown) => ioError(e, outputDir));
  // Interrupted between the renames: the previous output goes back (the new one is not in place yet), or, once it is, the old one goes.
  const untrackAside = onInterrupt(() => {
    if (existsSync(staging.path)) {
      if (!existsSync(outputDir)) renameSync(aside, outputDir);
    } else rmSync(aside, { recursive: true, force: true });
  });
  try {
    await rename(staging.path, outputDir);
    staging.untrack();
  } catch (e) {
    const restored = await rename(aside, outputDir).then(
      () => undefined,
      (restoreError: unknown) => restoreError,
    );
    untrackAside();
    if (restored !== undefined) {
      // Another run published into -o between the two renames (concurrent loads into one -o), or the file system failed: say where the previous output is.
      const errno = (e as NodeJS.ErrnoException)?.code;
      const restoreErrno = (restored as NodeJS.ErrnoException)?.code;
      throw new ModelFormatError(
        'ERR_MODEL_IO',
        `I/O error on ${outputDir}: the new output could not be moved there (${(e as Error)?.message ?? String(e)}), and the previous output could not be put back (${(restored as Error)?.message ?? String(restored)}); it is at ${aside}: move it back by hand (were two runs writing into ${outputDir} at once?)`,
        { cause: e, details: { path: outputDir, previousOutput: aside, ...(typeof errno === 'string' ? { errno } : {}), ...(typeof restoreErrno === 'string' ? { restoreErrno } : {}) } },
      );
    }
    ioError(e, outputDir);
  }
  untrackAside();
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}
