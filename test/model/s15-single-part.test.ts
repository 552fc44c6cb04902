/**
 * s15 red team, model finding 5 (low): a single-file `decrypt` killed with SIGKILL (or an OOM
 * kill) left its `.part` beside -o for ever: unverified plaintext (attacker-modified, for a tampered
 * file), and the next successful decrypt to the same -o left it in place. Only directory staging
 * had a dead-run sweep.
 *
 * Decision: the `.part` name carries the staging identity (`.<name>.part-<host>.pidns-<ns>.<pid>-<12
 * hex>.part`), and a single-file decrypt first removes the `.part` files of dead runs of this host
 * and pid namespace beside its output; those it cannot judge (another host or pid namespace, an
 * earlier version's `.<name>.<pid>.<hex>.part`, every one when the namespace is unknown) are left
 * and named in a warning. A live run's is left alone. docs/model.md, "Interrupted runs".
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/model/cli.js';
import { sweepDeadParts } from '../../src/model/file.js';
import { decryptFile, encryptFile } from '../../src/model/index.js';
import { stagingIdentity } from '../../src/model/staging.js';
import { buildFreshCli, type FreshCli } from './fresh-cli.js';

const here = dirname(fileURLToPath(import.meta.url));
const key = randomBytes(32);
let dir: string;
let enc: string;
let out: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tee-model-s15-part-'));
  await writeFile(join(dir, 'w.plain'), randomBytes(512 * 1024));
  enc = join(dir, 'w.bin.aes');
  await encryptFile(join(dir, 'w.plain'), enc, key);
  out = join(dir, 'single.bin');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A pid that named a process a moment ago and names none now (until the kernel reuses it). */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid as number;
const parts = async (): Promise<string[]> => (await readdir(dir)).filter((n) => n.startsWith('.single.bin.')).sort();

describe('s15 finding 5: a dead single-file decrypt\'s .part is swept', () => {
  let fresh: FreshCli;
  beforeAll(() => {
    fresh = buildFreshCli();
  }, 180_000);
  afterAll(() => fresh?.remove());

  it('SIGKILL mid-decryption leaves a .part carrying host, pid namespace and pid; the next decrypt removes it', async () => {
    // pause-writes.mjs holds the child at its first write into the .part: the kill lands mid-decryption on any machine.
    const child = spawn(process.execPath, ['--import', join(here, 'pause-writes.mjs'), fresh.bin, 'decrypt', '-i', enc, '-o', out, '-k', key.toString('base64')], { stdio: ['ignore', 'ignore', 'pipe'], env: fresh.env });
    const closed = new Promise<void>((r) => child.on('close', () => r()));
    await new Promise<void>((r) => child.stderr!.on('data', (d: Buffer) => d.toString().includes('paused') && r()));
    child.kill('SIGKILL');
    await closed;
    const id = stagingIdentity();
    const left = await parts();
    expect(left).toEqual([expect.stringMatching(new RegExp(`^\\.single\\.bin\\.part-${id.host}\\.pidns-${id.pidNamespace}\\.${child.pid}-[0-9a-f]{12}\\.part$`))]);
    const r = spawnSync(process.execPath, [fresh.bin, 'decrypt', '-i', enc, '-o', out, '-k', key.toString('base64')], { env: fresh.env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(await parts()).toEqual([]);
    expect(await readFile(out)).toEqual(await readFile(join(dir, 'w.plain')));
  });

  it('a dead run\'s .part of this identity goes; a live one\'s stays silently; other hosts\', namespaces\' and earlier versions\' stay and are named', async () => {
    const { host, pidNamespace } = stagingIdentity();
    const dead = deadPid();
    const name = (h: string, ns: string, pid: number, hex = 'a1b2c3d4e5f6'): string => `.single.bin.part-${h}.pidns-${ns}.${pid}-${hex}.part`;
    const deadOwn = name(host, pidNamespace, dead);
    const live = name(host, pidNamespace, process.ppid);
    const otherHost = name('elsewhere', pidNamespace, dead);
    const otherNs = name(host, '1', dead);
    const oldStyle = `.single.bin.${dead}.a1b2c3d4e5f6.part`;
    const notOurs = `.single.bin.part-${host}.pidns-${pidNamespace}.${dead}-backup.part`;
    for (const n of [deadOwn, live, otherHost, otherNs, oldStyle, notOurs]) await writeFile(join(dir, n), 'unverified plaintext', { mode: 0o600 });
    const r = await decryptFile(enc, out, key);
    expect(existsSync(join(dir, deadOwn))).toBe(false);
    expect(await parts()).toEqual([live, otherHost, otherNs, oldStyle, notOurs].sort());
    const named = (r.warnings ?? []).join('\n');
    for (const n of [otherHost, otherNs, oldStyle]) expect(named).toContain(join(dir, n));
    for (const n of [live, notOurs]) expect(named).not.toContain(join(dir, n));

    // The CLI prints them; with the pid namespace unknown nothing is removed and each is named.
    await writeFile(join(dir, deadOwn), 'unverified plaintext', { mode: 0o600 });
    const swept = await sweepDeadParts(out, { host, pidNamespace: 'unknown' });
    expect(swept.removed).toEqual([]);
    expect(swept.warnings.length).toBe(5); // every name of a shape tee-model writes (all but notOurs)
    const stderr: string[] = [];
    const code = await run(['decrypt', '-i', enc, '-o', out, '-k', key.toString('base64')], { stdout: { write: () => true }, stderr: { write: (s: string) => stderr.push(s) } });
    expect(code).toBe(0);
    expect(stderr.join('')).toContain(`tee-model decrypt: warning: ${join(dir, oldStyle)} is the temporary file of a tee-model decryption`);
    expect(existsSync(join(dir, deadOwn))).toBe(false);
  });
});
