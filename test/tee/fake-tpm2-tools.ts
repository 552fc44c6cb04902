/**
 * Fake tpm2-tools for the Tpm2ToolsVtpmProvider tests: shell scripts in a temporary bin directory
 * put first on PATH. Tools installed as hanging get a short deadline; every other call a generous
 * one, because a fake that must answer can take 100 ms to start on a loaded machine (review s7b:
 * a single 300 ms deadline for every call made the answering fakes flaky).
 */
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { buildAkPublic } from '../../src/testing/tpm-builders.js';
import { tpm2ToolsRunner, type CommandRunner } from '../../src/vtpm/acquire.js';

export const hardware: EvidenceProvider = {
  name: 'stub',
  getEvidence: async (reportData) => ({ tee: 'tdx', provider: 'tdx_guest', evidence: new Uint8Array(16), reportData: new Uint8Array(reportData) }),
};

/** The deadline of a call to a tool installed as hanging. */
export const SHORT_DEADLINE_MS = 300;
/** The deadline of every other call: far above any spawn time, never reached by a fake that answers. */
export const LONG_DEADLINE_MS = 20_000;

export class FakeTpm2Tools {
  readonly akPublic = buildAkPublic(generateEcKeyObjects('P-256').publicKey); // no key-generation job: buildAkPublic exports a JWK
  readonly #hanging = new Set<string>();
  #savedPath: string | undefined;
  readonly #short = tpm2ToolsRunner({ timeoutMs: SHORT_DEADLINE_MS });
  readonly #long = tpm2ToolsRunner({ timeoutMs: LONG_DEADLINE_MS });
  readonly #runs = new Map<string, number>();
  /** The short deadline for tools installed with hanging(), the long one for the rest; every call counted (runsOf). */
  readonly run: CommandRunner = (file, args, env) => {
    this.#runs.set(file, (this.#runs.get(file) ?? 0) + 1);
    return (this.#hanging.has(file) ? this.#short : this.#long)(file, args, env);
  };

  private constructor(
    readonly dir: string,
    readonly bin: string,
  ) {}

  /** A temporary directory with bin/ first on PATH, a succeeding tpm2_flushcontext and a tpm2_quote that fails. */
  static async install(prefix: string): Promise<FakeTpm2Tools> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const tools = new FakeTpm2Tools(dir, join(dir, 'bin'));
    await mkdir(tools.bin);
    await writeFile(join(dir, 'ak.pub'), Buffer.concat([Buffer.from([tools.akPublic.length >> 8, tools.akPublic.length & 0xff]), tools.akPublic]));
    await tools.tool('tpm2_flushcontext', 'exit 0');
    await tools.failing('tpm2_quote', 'ERROR: /dev/tpmrm0 busy');
    tools.#savedPath = process.env['PATH'];
    process.env['PATH'] = `${tools.bin}:${tools.#savedPath ?? ''}`;
    return tools;
  }

  async uninstall(): Promise<void> {
    process.env['PATH'] = this.#savedPath;
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Installs (atomically: a running copy of the old script is not disturbed) a fake tool that answers. */
  async tool(name: string, body: string): Promise<void> {
    const tmp = join(this.dir, `${name}.new`);
    await writeFile(tmp, `#!/bin/sh\n${body}\n`);
    await chmod(tmp, 0o755);
    await rename(tmp, join(this.bin, name));
    this.#hanging.delete(name);
  }

  /** A tool that prints `message` on stderr and exits 1. */
  failing(name: string, message: string): Promise<void> {
    return this.tool(name, `echo "${message}" >&2\nexit 1`);
  }

  /**
   * Records its pid in <dir>/<name>.pids, then becomes a process that never answers (exec: the pid
   * is the sleeper's). `deadline: "long"` keeps the long deadline (the test ends it with kill()).
   */
  async hanging(name: string, o: { deadline?: 'short' | 'long' } = {}): Promise<void> {
    await this.tool(name, `echo $$ >> "${this.dir}/${name}.pids"\nexec sleep 60`);
    if (o.deadline !== 'long') this.#hanging.add(name);
  }

  /** tpm2_readpublic writing the AK's TPM2B_PUBLIC to its -o argument (and recording that path). */
  readpublicWorking(): Promise<void> {
    return this.tool('tpm2_readpublic', `while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then cp "${this.dir}/ak.pub" "$2"; echo "$2" >> "${this.dir}/readpublic.out"; fi; shift; done`);
  }

  /**
   * How many times `name` was started through run() since the last resetRuns(). Unlike pidsOf() this
   * does not depend on the script getting as far as its first line: a tool killed at the short
   * deadline may not have started yet on a loaded machine, and then recorded no pid.
   */
  runsOf(name: string): number {
    return this.#runs.get(name) ?? 0;
  }

  resetRuns(): void {
    this.#runs.clear();
  }

  /** The pids a hanging tool recorded (none yet: []). */
  async pidsOf(name: string): Promise<number[]> {
    const text = await readFile(join(this.dir, `${name}.pids`), 'utf8').catch(() => '');
    return text.trim() === '' ? [] : text.trim().split('\n').map(Number);
  }
}

export function stillRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (polling; the test's own timeout bounds it) until `ready` holds. */
export async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ready())) await new Promise((r) => setTimeout(r, 10));
}
