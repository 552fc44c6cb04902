/**
 * A small emulator of the Linux configfs-tsm report directory (protocols.md
 * §7) on a real temporary directory tree, plugged into ConfigfsTsmProvider
 * through its `fs` option:
 *
 * - mkdir <root>/<name> creates an instance with `generation` "0\n" and
 *   `provider` ("tdx_guest\n" / "sev_guest\n"); ENOENT when the root is
 *   missing (configfs not mounted);
 * - a write to `inblob` (at most 64 bytes, else EINVAL) bumps `generation`;
 * - reading `outblob` / `auxblob` before any inblob write is EINVAL, and so
 *   is generating a report for an inblob that is not exactly 64 bytes (both
 *   kernel providers, tdx_report_new and sev_report_new, refuse it); otherwise
 *   the report is regenerated lazily when the generation changed since the
 *   last generation, from the *current* inblob (the kernel's behaviour);
 *   `auxblob` exists only for sev_guest;
 * - rmdir removes the instance (configfs removes the item with its
 *   attributes, which plain rmdir cannot do on a normal file system);
 * - `privlevelFloor` (sev_guest only) gives instances the kernel's
 *   `privlevel_floor` (RO) and `privlevel` (WO, a decimal floor..3, else
 *   EINVAL; each write bumps `generation`; a new instance starts at 0, as the
 *   kernel zero-fills it). A report asked below the floor fails with EIO: the
 *   firmware refuses a VMPL above the guest's own (a guest under an SVSM).
 *   `generate` receives the privilege level the report is asked for.
 *
 * `afterInblobWrite` lets a test play a concurrent writer between the
 * client's inblob write and its outblob read. `reportErrno` makes report
 * generation fail with that errno, as the TDX driver does when busy (EBUSY),
 * interrupted (EINTR) or timed out (ETIMEDOUT).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TsmFs } from '../../src/tee/index.js';

export interface FakeConfigfsOptions {
  root: string;
  provider?: 'tdx_guest' | 'sev_guest';
  /** Builds the report for an inblob (zero-padded to 64 bytes as the kernel copies it), at a privilege level (VMPL). */
  generate: (inblob: Uint8Array, o: { privlevel: number }) => Promise<{ outblob: Uint8Array; auxblob?: Uint8Array }>;
  /** sev_guest: the `privlevel_floor` of the guest (its VMPCK's VMPL); absent: the instance has no privlevel attributes. */
  privlevelFloor?: number;
}

function fsError(code: string, path: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${path}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

interface InstanceState {
  generation: number;
  generatedAt: number;
  inblob?: Uint8Array;
  /** Bytes of the last inblob write (the kernel keeps the length; the providers want exactly 64). */
  inblobLength?: number;
  privlevel: number;
}

export class FakeConfigfsTsm {
  readonly root: string;
  readonly provider: 'tdx_guest' | 'sev_guest';
  readonly fs: TsmFs;
  /** Every instance directory ever created. */
  readonly created: string[] = [];
  /** Reports generated (one per generation actually read). */
  generatedReports = 0;
  afterInblobWrite: ((instanceDir: string) => Promise<void>) | undefined;
  /** When set, reading outblob / auxblob when a report would be generated fails with this errno. */
  reportErrno: string | undefined;
  readonly privlevelFloor: number | undefined;
  readonly #generate: FakeConfigfsOptions['generate'];
  readonly #state = new Map<string, InstanceState>();

  constructor(o: FakeConfigfsOptions) {
    this.root = o.root;
    this.provider = o.provider ?? 'tdx_guest';
    this.#generate = o.generate;
    if (o.privlevelFloor !== undefined && this.provider !== 'sev_guest') throw new Error('privlevelFloor is for sev_guest only');
    this.privlevelFloor = o.privlevelFloor;
    this.fs = {
      mkdir: (p) => this.#mkdir(p),
      rmdir: (p) => this.#rmdir(p),
      readFile: (p) => this.#readFile(p),
      writeFile: (p, d) => this.#writeFile(p, d, true),
    };
  }

  async #mkdir(path: string): Promise<void> {
    if (dirname(path) !== this.root) throw fsError('EPERM', path);
    await mkdir(path); // ENOENT without a root, EEXIST for a taken name
    await writeFile(join(path, 'generation'), '0\n');
    await writeFile(join(path, 'provider'), `${this.provider}\n`);
    if (this.privlevelFloor !== undefined) await writeFile(join(path, 'privlevel_floor'), `${this.privlevelFloor}\n`);
    this.#state.set(path, { generation: 0, generatedAt: -1, privlevel: 0 });
    this.created.push(path);
  }

  async #rmdir(path: string): Promise<void> {
    if (!this.#state.has(path)) throw fsError('ENOENT', path);
    this.#state.delete(path);
    await rm(path, { recursive: true });
  }

  #instance(path: string): { dir: string; attr: string; st: InstanceState } {
    const dir = dirname(path);
    const st = this.#state.get(dir);
    if (!st) throw fsError('ENOENT', path);
    return { dir, attr: basename(path), st };
  }

  async #writeFile(path: string, data: Uint8Array, fromClient: boolean): Promise<void> {
    const { dir, attr, st } = this.#instance(path);
    if (attr === 'privlevel' && this.privlevelFloor !== undefined) return this.#writePrivlevel(path, data, st);
    if (attr !== 'inblob') throw fsError('EACCES', path);
    if (data.length > 64) throw fsError('EINVAL', path);
    const blob = new Uint8Array(64);
    blob.set(data);
    st.inblob = blob;
    st.inblobLength = data.length;
    st.generation += 1;
    await writeFile(join(dir, 'inblob'), blob);
    await writeFile(join(dir, 'generation'), `${st.generation}\n`);
    if (fromClient && this.afterInblobWrite) await this.afterInblobWrite(dir);
  }

  /** The kernel's privlevel store: a decimal between the floor and 3 (TSM_PRIVLEVEL_MAX), else EINVAL; the write bumps generation. */
  async #writePrivlevel(path: string, data: Uint8Array, st: InstanceState): Promise<void> {
    const text = Buffer.from(data).toString('ascii').trim();
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(value >= (this.privlevelFloor as number) && value <= 3)) throw fsError('EINVAL', path);
    st.privlevel = value;
    st.generation += 1;
    await writeFile(join(dirname(path), 'generation'), `${st.generation}\n`);
  }

  /** Another process writing the same instance's inblob. */
  writeInblob(instanceDir: string, data: Uint8Array): Promise<void> {
    return this.#writeFile(join(instanceDir, 'inblob'), data, false);
  }

  /** Another process writing an attribute (privlevel, inblob) of the same instance. */
  writeAttribute(instanceDir: string, attr: string, data: Uint8Array): Promise<void> {
    return this.#writeFile(join(instanceDir, attr), data, false);
  }

  async #readFile(path: string): Promise<Uint8Array> {
    const { dir, attr, st } = this.#instance(path);
    if (attr === 'inblob' || attr === 'privlevel') throw fsError('EACCES', path);
    if (attr === 'outblob' || attr === 'auxblob') {
      if (!st.inblob) throw fsError('EINVAL', path);
      if (attr === 'auxblob' && this.provider !== 'sev_guest') throw fsError('ENOENT', path);
      if (st.generatedAt !== st.generation) {
        if (st.inblobLength !== 64) throw fsError('EINVAL', path);
        if (this.reportErrno) throw fsError(this.reportErrno, path);
        if (this.privlevelFloor !== undefined && st.privlevel < this.privlevelFloor) throw fsError('EIO', path);
        const r = await this.#generate(st.inblob, { privlevel: st.privlevel });
        this.generatedReports += 1;
        await writeFile(join(dir, 'outblob'), r.outblob);
        if (r.auxblob) await writeFile(join(dir, 'auxblob'), r.auxblob);
        st.generatedAt = st.generation;
      }
    }
    return new Uint8Array(await readFile(path));
  }
}
