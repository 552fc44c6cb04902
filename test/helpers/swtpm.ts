/**
 * A software TPM for the tests: Debian's swtpm on two consecutive free
 * 127.0.0.1 ports (server, control) in a temporary directory, driven with
 * tpm2-tools over the swtpm TCTI. Without a resource manager every tool call
 * leaves its transient objects loaded, so each call is followed by a flush.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const TOOLS = ['swtpm', 'tpm2_startup', 'tpm2_createek', 'tpm2_createak', 'tpm2_quote', 'tpm2_pcrextend', 'tpm2_pcrread', 'tpm2_flushcontext'];

/** Which required binaries are missing (empty when swtpm tests can run). */
export async function missingSwtpmTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of TOOLS) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  return missing;
}

function listenOn(port: number): Promise<import('node:net').Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A port P with P and P+1 free on 127.0.0.1 (the swtpm TCTI puts the control channel on P+1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await listenOn(0);
    if (!first) continue;
    const port = (first.address() as import('node:net').AddressInfo).port;
    const second = port < 65535 ? await listenOn(port + 1) : undefined;
    await new Promise<void>((r) => first.close(() => r()));
    if (second) {
      await new Promise<void>((r) => second.close(() => r()));
      return port;
    }
  }
  throw new Error('no pair of consecutive free ports on 127.0.0.1');
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export type AkKind = 'rsa' | 'rsapss' | 'ecc';

export interface SwtpmAk {
  /** TPMT_PUBLIC (the TPM2B_PUBLIC file without its size prefix). */
  public: Uint8Array;
  name: Uint8Array;
  qualifiedName: Uint8Array;
  context: string;
  /** tpm2-tools signing scheme name of the key (rsassa, rsapss, ecdsa). */
  scheme: string;
}

export interface SwtpmQuote {
  /** TPMS_ATTEST as tpm2_quote -m writes it. */
  attest: Uint8Array;
  /** TPMT_SIGNATURE (tpm2_quote -s, tss format). */
  signature: Uint8Array;
}

export class Swtpm {
  private counter = 0;
  private ekContext: string | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Starts swtpm and runs TPM2_Startup(CLEAR). */
  static async start(): Promise<Swtpm> {
    const dir = await mkdtemp(join(tmpdir(), 'tee-verify-swtpm-'));
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePortPair();
      const child = spawn(
        'swtpm',
        ['socket', '--tpm2', '--tpmstate', `dir=${dir}`, '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`, '--flags', 'not-need-init'],
        { stdio: 'ignore' },
      );
      let exited = false;
      child.once('exit', () => (exited = true));
      for (let i = 0; i < 100 && !exited; i++) {
        if (await reachable(port)) {
          const tpm = new Swtpm(dir, port, child);
          await tpm.tool('tpm2_startup', ['-c']);
          return tpm;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!exited) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
    throw new Error('swtpm did not start');
  }

  /** Runs one tpm2-tools command against this TPM and flushes what it left loaded. */
  async tool(name: string, args: string[]): Promise<string> {
    const env = { ...process.env, TPM2TOOLS_TCTI: this.tcti };
    const { stdout } = await run(name, args, { env, cwd: this.dir });
    if (name !== 'tpm2_flushcontext') {
      await run('tpm2_flushcontext', ['-t'], { env, cwd: this.dir });
      await run('tpm2_flushcontext', ['-s'], { env, cwd: this.dir });
    }
    return stdout;
  }

  private file(stem: string): string {
    return join(this.dir, `${stem}-${++this.counter}`);
  }

  /** An attestation key under the RSA EK (tpm2_createak: a restricted signing key). */
  async createAk(kind: AkKind = 'rsa'): Promise<SwtpmAk> {
    if (!this.ekContext) {
      this.ekContext = this.file('ek.ctx');
      await this.tool('tpm2_createek', ['-c', this.ekContext, '-G', 'rsa', '-u', this.file('ek.pub')]);
    }
    const [ctx, pub, name, qname, priv] = ['ak.ctx', 'ak.pub', 'ak.name', 'ak.qname', 'ak.priv'].map((s) => this.file(s)) as [string, string, string, string, string];
    const alg = kind === 'ecc' ? ['-G', 'ecc', '-s', 'ecdsa'] : ['-G', 'rsa', '-s', kind === 'rsapss' ? 'rsapss' : 'rsassa'];
    await this.tool('tpm2_createak', ['-C', this.ekContext, '-c', ctx, ...alg, '-g', 'sha256', '-u', pub, '-f', 'tss', '-n', name, '-q', qname, '-r', priv]);
    const tpm2bPublic = await readFile(pub);
    const scheme = kind === 'ecc' ? 'ecdsa' : kind === 'rsapss' ? 'rsapss' : 'rsassa';
    return { public: new Uint8Array(tpm2bPublic.subarray(2)), name: new Uint8Array(await readFile(name)), qualifiedName: new Uint8Array(await readFile(qname)), context: ctx, scheme };
  }

  /** Extends a PCR in the given banks with a digest of the bank's size. */
  async extend(pcr: number, digests: Partial<Record<'sha1' | 'sha256' | 'sha384', Uint8Array>>): Promise<void> {
    const spec = Object.entries(digests)
      .map(([bank, d]) => `${bank}=${Buffer.from(d).toString('hex')}`)
      .join(',');
    await this.tool('tpm2_pcrextend', [`${pcr}:${spec}`]);
  }

  /** PCR values of a selection such as "sha256:0,16,23+sha1:16", bank → index → value. */
  async readPcrs(selection: string): Promise<Record<string, Record<string, Uint8Array>>> {
    const out = this.file('pcrs.bin');
    await this.tool('tpm2_pcrread', [selection, '-o', out]);
    const raw = await readFile(out);
    const sizes: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48 };
    const result: Record<string, Record<string, Uint8Array>> = {};
    let offset = 0;
    for (const part of selection.split('+')) {
      const [bank, list] = part.split(':') as [string, string];
      const size = sizes[bank]!;
      for (const index of list.split(',')) {
        (result[bank] ??= {})[index] = new Uint8Array(raw.subarray(offset, offset + size));
        offset += size;
      }
    }
    return result;
  }

  /** TPM2_Quote with `nonce` as qualifying data over `selection`, signed by `ak`. */
  async quote(ak: SwtpmAk, selection: string, nonce: Uint8Array): Promise<SwtpmQuote> {
    const [msg, sig] = [this.file('quote.msg'), this.file('quote.sig')];
    const args = ['-c', ak.context, '-l', selection, '-m', msg, '-s', sig, '-g', 'sha256', '--scheme', ak.scheme];
    if (nonce.length > 0) args.push('-q', Buffer.from(nonce).toString('hex'));
    await this.tool('tpm2_quote', args);
    return { attest: new Uint8Array(await readFile(msg)), signature: new Uint8Array(await readFile(sig)) };
  }

  async writeFile(stem: string, data: Uint8Array): Promise<string> {
    const path = this.file(stem);
    await writeFile(path, data);
    return path;
  }

  /** Stops swtpm (the child this helper started) and removes its directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      this.child.kill('SIGTERM');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
