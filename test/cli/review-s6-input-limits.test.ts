/**
 * Review, session 6: every input file of the CLI has a size limit
 * (INPUT_LIMITS, docs/cli.md "Input files"). Above it is ERR_INPUT_TOO_LARGE,
 * exit 2, found before the input is in memory: a regular file by its size,
 * a pipe or device after one byte past the limit. FIFOs (what `<(cmd)` gives)
 * still work when their writer ends within the limit.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { INPUT_LIMITS } from '../../src/cli/files.js';
import { MAX_TEXT_INPUT } from '../../src/evidence/decode.js';
import { VTPM_BUNDLE_LIMITS } from '../../src/vtpm/bundle.js';
import { TempDirs, cli, cliJson } from './helpers.js';

const quote = fileURLToPath(new URL('../../vectors/tdx-v4.bin', import.meta.url));
const temps = new TempDirs();
const writers: ChildProcess[] = [];
afterAll(() => {
  for (const w of writers) if (w.exitCode === null && w.signalCode === null) w.kill();
  temps.cleanup();
});

/** A sparse file of `size` bytes starting with `head`: large on paper, nothing on disk. */
function sparse(name: string, size: number, head: string | Uint8Array = 'x'): string {
  const path = join(temps.make(), name);
  const fd = openSync(path, 'w');
  writeSync(fd, typeof head === 'string' ? Buffer.from(head) : head);
  ftruncateSync(fd, size);
  closeSync(fd);
  return path;
}

/** A FIFO whose writer is a shell running `command` into it. */
function fifoFedBy(command: string): string {
  const path = join(temps.make(), 'fifo');
  execFileSync('mkfifo', [path]);
  const writer = spawn('sh', ['-c', `${command} > "$1"`, 'sh', path], { stdio: 'ignore' });
  writers.push(writer);
  return path;
}

describe('the limits', () => {
  it('evidence: above every evidence parser (64 KiB quote, 256 KiB text); a vTPM bundle its own bound', () => {
    expect(INPUT_LIMITS.evidence).toBeGreaterThan(MAX_TEXT_INPUT);
    expect(INPUT_LIMITS.evidence).toBeLessThanOrEqual(1024 * 1024);
    expect(INPUT_LIMITS.vtpmBundle).toBe(VTPM_BUNDLE_LIMITS.document);
    expect(INPUT_LIMITS.document).toBe(4 * 1024 * 1024);
  });
});

describe('devices and endless input', () => {
  it('show /dev/zero: exit 2, refused at the evidence limit', async () => {
    const r = await cli(['show', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: evidence file /dev/zero is larger than 1 MiB, the limit for this input\n');
  });

  it('verify /dev/zero --json: exit 2 with ERR_INPUT_TOO_LARGE (class USAGE)', async () => {
    const r = await cliJson(['verify', '/dev/zero']);
    expect(r.code).toBe(2);
    expect(r.json['error']).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE', errorClass: 'USAGE' });
  });

  it('--policy /dev/zero, --certs /dev/zero, --collateral /dev/zero: exit 2 with ERR_INPUT_TOO_LARGE', async () => {
    for (const option of ['--policy', '--certs', '--trust-root', '--collateral']) {
      const r = await cliJson(['verify', quote, option, '/dev/zero']);
      expect(r.code, option).toBe(2);
      expect(r.json['error'], option).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE' });
      expect((r.json['error'] as { message: string }).message, option).toContain('larger than 4 MiB');
    }
    const lint = await cli(['policy', 'lint', '/dev/zero']);
    expect(lint.code).toBe(2);
    expect(lint.stderr).toContain('larger than 4 MiB');
  });

  it('/dev/null is empty (exit 2), a directory is refused (exit 2)', async () => {
    expect((await cli(['show', '/dev/null'])).stderr).toBe('error: evidence file /dev/null is empty\n');
    const dir = temps.make();
    const r = await cli(['show', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: cannot read evidence file ${dir}: is a directory\n`);
  });
});

describe('FIFOs (named pipes; process substitution gives the same kind of file)', () => {
  it('a FIFO whose writer ends within the limit is read whole', async () => {
    const r = await cli(['show', fifoFedBy(`cat "${quote}"`), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'tdx' });
  });

  it('a FIFO whose writer never ends is refused at the limit', async () => {
    const r = await cliJson(['verify', fifoFedBy('exec cat /dev/zero')]);
    expect(r.code).toBe(2);
    expect(r.json['error']).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE' });
  });

  it('a FIFO whose writer comes later is waited for (as cat does), not taken for empty', async () => {
    const path = join(temps.make(), 'fifo');
    execFileSync('mkfifo', [path]);
    let settled = false;
    const pending = cli(['show', path, '--json']).finally(() => (settled = true));
    // The writer opens only once the reader has the FIFO open (a non-blocking open for writing
    // fails with ENXIO before that), so the reader has certainly met a FIFO without a writer.
    let writer: number | undefined;
    while (writer === undefined && !settled) {
      try {
        writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    expect(writer, 'the reader settled before any writer came').toBeDefined();
    try {
      writeSync(writer!, readFileSync(quote)); // 4855 bytes: within the pipe's buffer, one write
    } finally {
      closeSync(writer!);
    }
    const r = await pending;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'tdx' });
  });
});

describe('regular files', () => {
  it('a 1.9 GiB file is refused by its size (exit 2), not read', async () => {
    const big = sparse('big.bin', Math.floor(1.9 * 1024 ** 3));
    const r = await cliJson(['verify', big]);
    expect(r.code).toBe(2);
    expect(r.json['error']).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE' });
    expect((await cli(['show', big])).code).toBe(2);
  });

  it('evidence one byte above the limit is refused; at the limit it reaches the parser', async () => {
    const over = sparse('over.bin', INPUT_LIMITS.evidence + 1);
    expect((await cliJson(['verify', over])).json['error']).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE', errorClass: 'USAGE' });
    const at = sparse('at.bin', INPUT_LIMITS.evidence);
    const r = await cliJson(['verify', at]);
    expect(r.code).toBe(1); // malformed evidence: the parser's rejection, not the CLI's limit
    expect(r.json['error']).toMatchObject({ errorClass: 'PARSE' });
  });

  it('a vTPM bundle may be larger than evidence (its own bound), not larger than that', async () => {
    const head = '{"format":"tee-verify/vtpm-bundle@1",';
    const mid = sparse('bundle.json', 2 * INPUT_LIMITS.evidence, head);
    const r = await cliJson(['verify', mid]);
    expect(r.json['error']).not.toMatchObject({ code: 'ERR_INPUT_TOO_LARGE' }); // read, then refused by the bundle parser
    const huge = sparse('huge.json', VTPM_BUNDLE_LIMITS.document + 1, head);
    const big = await cliJson(['verify', huge]);
    expect(big.code).toBe(2);
    expect(big.json['error']).toMatchObject({ code: 'ERR_INPUT_TOO_LARGE' });
    // show reads evidence only: the bundle limit does not apply there.
    expect((await cli(['show', mid])).stderr).toContain('larger than 1 MiB');
  });

  it('a policy above 4 MiB is refused before it is read; a good file is unchanged', async () => {
    const r = await cli(['policy', 'lint', sparse('p.json', 4 * 1024 * 1024 + 1, '{')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('larger than 4 MiB');
    expect((await cli(['show', quote])).code).toBe(0);
    expect(readFileSync(quote).length).toBeLessThan(INPUT_LIMITS.evidence);
  });
});


