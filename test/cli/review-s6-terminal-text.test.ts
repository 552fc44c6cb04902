/**
 * Review, session 6: library messages can carry certificate text (S10 names
 * the leaf's CN). The human report, the error line on stderr and --json must
 * never hand a terminal a raw ESC or C1 control (U+0080-U+009F, U+009B is CSI).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeError, UsageError } from '../../src/cli/errors.js';
import { jsonText, lineSafe } from '../../src/cli/terminal-text.js';
import type { TeeVerifyError } from '../../src/index.js';
import { fail } from '../../src/verify/errors.js';
import { ExitCode } from '../../src/cli/io.js';
import { printHuman, verifyJson, type VerifyOutcome } from '../../src/cli/verify-report.js';
import { capture } from './capture.js';
import { TempDirs, cli } from './helpers.js';

const vectors = (name: string) => fileURLToPath(new URL(`../../vectors/${name}`, import.meta.url));
const temps = new TempDirs();
afterAll(() => temps.cleanup());

/** Raw controls a terminal acts on: C0 but newline, DEL, C1. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const HOSTILE = 'SEV-VCEK\u001b]0;owned\u0007\u001b[2J\u009b31mTRUSTED\u001b[0m\u202e';

/** The error S10 throws for a leaf whose CN is neither SEV-VCEK nor SEV-VLEK (src/verify/snp/leaf.ts), naming the CN. */
function s10Error(cn: string): TeeVerifyError {
  try {
    fail('CHAIN', 'S10', `leaf CN is "${cn}", not SEV-VCEK or SEV-VLEK`);
  } catch (err) {
    return err as TeeVerifyError;
  }
}

describe('helpers', () => {
  it('lineSafe makes ESC, C1, newline, DEL and bidi overrides visible', () => {
    expect(lineSafe('a\u001b[2Jb\u009bc\nd\u007fe\u202ef')).toBe('a\\x1b[2Jb\\x9bc\\x0ad\\x7fe\\u{202e}f');
  });

  it('jsonText escapes C1 controls as JSON escapes: the same value parses back', () => {
    const value = { message: `x${HOSTILE}\u0085` };
    const text = jsonText(value);
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('\\u009b');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('describeError: a library message and a usage message with ESC [2J and CSI come out visible', () => {
    const lib = s10Error('\u001b[2J\u009b2J');
    expect(describeError(lib)).not.toMatch(RAW_CONTROL);
    expect(describeError(new UsageError('file \u001b[2J\u009bx'))).toBe('file \\x1b[2J\\x9bx');
  });
});

describe('the verify report with a library error naming a hostile certificate CN (as S10 does)', () => {
  const error = s10Error(HOSTILE);
  const outcome = (): VerifyOutcome => ({ exit: ExitCode.Rejected, file: 'report.bin', at: new Date(0), tee: 'snp', error, warnings: [`warning with ${HOSTILE}`] });

  it('human report (plain and on a terminal): the CN with its controls visible, no raw ESC / CSI but our colours', () => {
    for (const tty of [false, true]) {
      const c = capture({ tty });
      printHuman(outcome(), c.io);
      expect(c.stdout()).toContain('\\x1b[2J\\x9b31mTRUSTED');
      const withoutOurStyles = c.stdout().replace(/\u001b\[(?:1|2|22|31|32|39)m/g, '');
      expect(withoutOurStyles).not.toMatch(RAW_CONTROL);
      expect(c.stdout()).not.toContain('\u009b');
    }
  });

  it('--json: the message keeps the CN exactly, every control escaped', () => {
    const text = jsonText(verifyJson(outcome()));
    expect(text).not.toMatch(RAW_CONTROL);
    expect((JSON.parse(text) as { error: { message: string } }).error.message).toContain(HOSTILE);
  });
});

describe('tee-verify verify of a file whose name holds terminal controls', () => {
  let dev = '';
  beforeAll(async () => {
    dev = temps.make();
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--out', dev])).code).toBe(0);
  });
  const hostileName = () => {
    const path = join(temps.make(), `quote\u001b[2J\u009b31mTRUSTED.bin`);
    copyFileSync(join(dev, 'evidence.bin'), path);
    return path;
  };
  const offline = () => ['--offline', '--no-cache', '--collateral', join(dev, 'collateral.json'), '--trust-root', join(dev, 'trust-root.pem')];

  it('human report (plain and on a terminal): the name with its controls visible, no raw ESC / CSI but our colours', async () => {
    for (const tty of [false, true]) {
      const r = await cli(['verify', hostileName(), ...offline()], { tty });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('quote\\x1b[2J\\x9b31mTRUSTED.bin');
      expect(r.stdout.replace(/\u001b\[(?:1|2|22|31|32|39)m/g, '')).not.toMatch(RAW_CONTROL);
      expect(r.stderr).toBe('');
    }
  });

  it('a missing file with such a name: the one error line is safe too', async () => {
    const r = await cli(['show', '/nonexistent/\u001b[2J\u009bx.bin']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: cannot read evidence file /nonexistent/\\x1b[2J\\x9bx.bin: no such file\n');
  });

  it('--json: the error message (with the name) escapes C1 controls too, and parses back to the exact name', async () => {
    const name = '/nonexistent/\u001b[2J\u009bx.bin';
    const r = await cli(['verify', name, '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('\\u009b');
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect((JSON.parse(r.stdout) as { error: { message: string } }).error.message).toContain(name);
  });
});
