/**
 * vTPM reference-value lists (docs/vtpm-reference.md): which files IMA may
 * have measured (path → allowed digests), which boot components may have
 * booted (kernel, initrd, command line, EFI boot applications, Secure Boot)
 * and which PCR values are expected. Published by whoever builds the image;
 * the policy's `vtpm` section decides how strictly it is applied.
 *
 * Loading is strict like policies (X05, X07): strict JSON, unknown fields
 * rejected at every level, digests as "alg:hex" of the algorithm's exact
 * length, non-empty lists without duplicates (hex compared
 * case-insensitively), sizes bounded. Every problem is collected; the error
 * is ERR_VTPM_REFERENCE_INVALID with details.path (JSON pointer of the first
 * problem) and details.problems.
 */
import { parseStrictJson } from '../collateral/strict-json.js';
import { TeeVerifyError } from '../errors.js';
import { pointerToken } from '../policy/json-schema.js';
import { VtpmVerificationError } from './errors.js';
import { BANK_DIGEST_SIZE, PCR_COUNT, isReplayBank, type ReplayBank } from './pcrs.js';

export const REFERENCE_LIMITS = {
  /** Largest document, bytes (a distribution's full file list fits). */
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 8,
  maxFiles: 1_000_000,
  maxDigestsPerFile: 64,
  maxPathLength: 4096,
  maxListItems: 4096,
  maxCommandLineLength: 4096,
  maxIgnore: 1024,
} as const;

/** A digest as the list writes it: "sha256:…" (lowercase after loading). */
export type ReferenceDigest = `${ReplayBank}:${string}`;

/** Expected PCR values: bank → PCR index → allowed values (hex, lowercase). */
export type PcrExpectations = Partial<Record<ReplayBank, Readonly<Record<string, readonly string[]>>>>;

export interface ReferenceBoot {
  /** Kernel images: GRUB's file digest, or the Authenticode digest of an EFI-stub kernel / UKI. */
  kernels?: readonly ReferenceDigest[];
  initrds?: readonly ReferenceDigest[];
  /** Exact kernel command lines (without the trailing NUL). */
  commandLines?: readonly string[];
  /** Authenticode digests of EFI applications (shim, GRUB, systemd-boot). */
  bootApplications?: readonly ReferenceDigest[];
  /**
   * Other files GRUB measures into PCR 9 (grub.cfg, modules, fonts). With
   * kernels, initrds or this list present, every file measured into PCR 9 must
   * be in one of the three: the log cannot prove which PCR 9 file is the kernel.
   */
  otherFiles?: readonly ReferenceDigest[];
  secureBoot?: boolean;
}

export interface ReferenceList {
  version: 1;
  id?: string;
  ima: {
    /** Path → allowed digests. */
    files: ReadonlyMap<string, ReadonlySet<ReferenceDigest>>;
    /** Paths not judged: exact paths, or prefixes ending in "/". */
    ignore: readonly string[];
  };
  boot: ReferenceBoot;
  pcrs: PcrExpectations;
}

export interface ReferenceProblem {
  path: string;
  keyword: string;
  message: string;
}

type Doc = Record<string, unknown>;

class Checker {
  readonly problems: ReferenceProblem[] = [];

  add(path: string, keyword: string, message: string): void {
    this.problems.push({ path, keyword, message });
  }

  object(v: unknown, path: string, allowed: readonly string[], required: readonly string[] = []): Doc | undefined {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.add(path, 'type', 'must be an object');
      return undefined;
    }
    const o = v as Doc;
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.add(`${path}/${pointerToken(k)}`, 'additionalProperties', `unknown field (allowed: ${allowed.join(', ')})`);
    for (const k of required) if (!(k in o)) this.add(path, 'required', `missing field "${k}"`);
    return o;
  }

  list(v: unknown, path: string, max: number): unknown[] | undefined {
    if (!Array.isArray(v)) {
      this.add(path, 'type', 'must be an array');
      return undefined;
    }
    if (v.length === 0) this.add(path, 'minItems', 'must not be empty');
    if (v.length > max) this.add(path, 'maxItems', `at most ${max} entries`);
    return v;
  }

  string(v: unknown, path: string, max: number): string | undefined {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) {
      this.add(path, 'type', `must be a string of 1 to ${max} characters`);
      return undefined;
    }
    return v;
  }

  unique(values: readonly string[], path: string, what: string): void {
    const seen = new Set<string>();
    values.forEach((v, i) => {
      if (seen.has(v)) this.add(`${path}/${i}`, 'uniqueItems', `duplicates an earlier ${what} (hex is compared case-insensitively)`);
      seen.add(v);
    });
  }

  digest(v: unknown, path: string): ReferenceDigest | undefined {
    const m = typeof v === 'string' ? /^(sha1|sha256|sha384|sha512):([0-9a-fA-F]+)$/.exec(v) : null;
    if (m === null || m[2]!.length !== BANK_DIGEST_SIZE[m[1] as ReplayBank] * 2) {
      this.add(path, 'pattern', 'must be "alg:hex" with alg sha1, sha256, sha384 or sha512 and a digest of its length');
      return undefined;
    }
    return `${m[1] as ReplayBank}:${m[2]!.toLowerCase()}`;
  }

  digests(v: unknown, path: string, max: number): ReferenceDigest[] | undefined {
    const items = this.list(v, path, max);
    if (items === undefined) return undefined;
    const out = items.map((d, i) => this.digest(d, `${path}/${i}`)).filter((d): d is ReferenceDigest => d !== undefined);
    this.unique(out, path, 'digest');
    return out;
  }
}

function checkIma(c: Checker, v: unknown): ReferenceList['ima'] {
  const files = new Map<string, ReadonlySet<ReferenceDigest>>();
  const o = c.object(v, '/ima', ['files', 'ignore'], ['files']);
  if (o === undefined) return { files, ignore: [] };
  const f = o['files'];
  if (typeof f !== 'object' || f === null || Array.isArray(f)) c.add('/ima/files', 'type', 'must be an object: path → digests');
  else {
    const paths = Object.keys(f);
    if (paths.length > REFERENCE_LIMITS.maxFiles) c.add('/ima/files', 'maxProperties', `at most ${REFERENCE_LIMITS.maxFiles} files`);
    for (const path of paths) {
      const at = `/ima/files/${pointerToken(path)}`;
      if (path.length === 0 || path.length > REFERENCE_LIMITS.maxPathLength) c.add(at, 'propertyNames', `a path of 1 to ${REFERENCE_LIMITS.maxPathLength} characters`);
      const digests = c.digests((f as Doc)[path], at, REFERENCE_LIMITS.maxDigestsPerFile);
      if (digests !== undefined) files.set(path, new Set(digests));
    }
  }
  let ignore: string[] = [];
  if (o['ignore'] !== undefined) {
    const items = c.list(o['ignore'], '/ima/ignore', REFERENCE_LIMITS.maxIgnore) ?? [];
    ignore = items.map((p, i) => c.string(p, `/ima/ignore/${i}`, REFERENCE_LIMITS.maxPathLength)).filter((p): p is string => p !== undefined);
    c.unique(ignore, '/ima/ignore', 'path');
  }
  return { files, ignore };
}

function checkBoot(c: Checker, v: unknown): ReferenceBoot {
  const o = c.object(v, '/boot', ['kernels', 'initrds', 'commandLines', 'bootApplications', 'otherFiles', 'secureBoot']);
  const out: ReferenceBoot = {};
  if (o === undefined) return out;
  for (const key of ['kernels', 'initrds', 'bootApplications', 'otherFiles'] as const) {
    if (o[key] === undefined) continue;
    const d = c.digests(o[key], `/boot/${key}`, REFERENCE_LIMITS.maxListItems);
    if (d !== undefined) out[key] = d;
  }
  if (o['commandLines'] !== undefined) {
    const items = c.list(o['commandLines'], '/boot/commandLines', REFERENCE_LIMITS.maxListItems) ?? [];
    const lines = items.map((s, i) => c.string(s, `/boot/commandLines/${i}`, REFERENCE_LIMITS.maxCommandLineLength)).filter((s): s is string => s !== undefined);
    c.unique(lines, '/boot/commandLines', 'command line');
    out.commandLines = lines;
  }
  if (o['secureBoot'] !== undefined) {
    if (typeof o['secureBoot'] !== 'boolean') c.add('/boot/secureBoot', 'type', 'must be a boolean');
    else out.secureBoot = o['secureBoot'];
  }
  return out;
}

/** Expected PCR values: { bank: { "index": [hex, …] } }. */
function checkPcrExpectations(checker: Checker, v: unknown, path: string): PcrExpectations {
  const out: PcrExpectations = {};
  const o = checker.object(v, path, ['sha1', 'sha256', 'sha384', 'sha512']);
  if (o === undefined) return out;
  for (const [bank, values] of Object.entries(o)) {
    if (!isReplayBank(bank)) continue;
    const pcrs = checker.object(values, `${path}/${bank}`, Array.from({ length: PCR_COUNT }, (_, i) => String(i)));
    if (pcrs === undefined) continue;
    const bankOut: Record<string, string[]> = {};
    for (const [pcr, list] of Object.entries(pcrs)) {
      const at = `${path}/${bank}/${pcr}`;
      const items = checker.list(list, at, 64) ?? [];
      const hexes: string[] = [];
      items.forEach((h, i) => {
        if (typeof h !== 'string' || !/^[0-9a-fA-F]+$/.test(h) || h.length !== BANK_DIGEST_SIZE[bank] * 2) checker.add(`${at}/${i}`, 'pattern', `must be ${BANK_DIGEST_SIZE[bank] * 2} hex digits`);
        else hexes.push(h.toLowerCase());
      });
      checker.unique(hexes, at, 'value');
      bankOut[pcr] = hexes;
    }
    out[bank] = bankOut;
  }
  return out;
}

function invalid(problems: readonly ReferenceProblem[], cause?: unknown): VtpmVerificationError {
  const first = problems[0] ?? { path: '', keyword: 'invalid', message: 'invalid reference list' };
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new VtpmVerificationError(
    'ERR_VTPM_REFERENCE_INVALID',
    `invalid vTPM reference list at ${first.path === '' ? '/' : first.path}: ${first.message}${more}`,
    { path: first.path, keyword: first.keyword, problems: problems.slice(0, 100) },
    cause === undefined ? {} : { cause },
  );
}

/** Loads a reference list: JSON text, UTF-8 bytes or a parsed object. ERR_VTPM_REFERENCE_INVALID on any problem. */
export function loadReferenceList(input: string | Uint8Array | object): ReferenceList {
  let doc: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
    if (bytes.length > REFERENCE_LIMITS.maxBytes) throw invalid([{ path: '', keyword: 'maxBytes', message: `the document exceeds ${REFERENCE_LIMITS.maxBytes} bytes` }]);
    try {
      doc = parseStrictJson(bytes, { maxBytes: REFERENCE_LIMITS.maxBytes, maxDepth: REFERENCE_LIMITS.maxDepth });
    } catch (err) {
      throw invalid([{ path: '', keyword: 'json', message: err instanceof TeeVerifyError ? err.message : 'not JSON' }], err);
    }
  } else {
    // A parsed object goes through JSON so nothing of the caller's object (cycles, classes) is kept.
    try {
      doc = JSON.parse(JSON.stringify(input)) as unknown;
    } catch (err) {
      throw invalid([{ path: '', keyword: 'type', message: 'must be plain JSON data' }], err);
    }
  }
  const c = new Checker();
  const o = c.object(doc, '', ['$schema', 'version', 'id', 'ima', 'boot', 'pcrs'], ['version']);
  if (o === undefined) throw invalid(c.problems);
  if (o['version'] !== undefined && o['version'] !== 1) c.add('/version', 'const', 'must be 1');
  let id: string | undefined;
  if (o['id'] !== undefined) id = c.string(o['id'], '/id', 256);
  const ima = o['ima'] === undefined ? { files: new Map<string, ReadonlySet<ReferenceDigest>>(), ignore: [] } : checkIma(c, o['ima']);
  const boot = o['boot'] === undefined ? {} : checkBoot(c, o['boot']);
  const pcrs = o['pcrs'] === undefined ? {} : checkPcrExpectations(c, o['pcrs'], '/pcrs');
  if (c.problems.length > 0) throw invalid(c.problems);
  return Object.freeze({ version: 1, ...(id === undefined ? {} : { id }), ima: Object.freeze(ima), boot: Object.freeze(boot), pcrs });
}

/** True when the path is under one of the ignore entries (exact, or a prefix ending in "/"). */
export function isIgnoredPath(path: string, ignore: readonly string[]): boolean {
  return ignore.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));
}
