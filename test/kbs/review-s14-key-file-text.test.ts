/**
 * s14 docs review: `tee-kbs admin key --key-file` and `tee-model --key-file`
 * read a key file's text by one rule (keyFileText: ASCII white space off both
 * ends, nothing else). The broker trimmed latin1 white space (a trailing 0xA0
 * went) and tee-model Unicode white space (a BOM went), so one tool could store
 * a key the other would not read, or refuse one it reads.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { keyInformationOf } from '../../src/kbs/key-file.js';
import { readModelKeyFile } from '../../src/model/key-file.js';

const dir = mkdtempSync(join(tmpdir(), 'key-file-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): string {
  const f = join(dir, name);
  writeFileSync(f, bytes, { mode: 0o600 });
  return f;
}

const outcome = async (p: Promise<unknown>): Promise<'accepted' | 'refused'> => p.then(() => 'accepted' as const, () => 'refused' as const);

describe('s14: both key-file readers trim the same way', () => {
  const key = randomBytes(32).toString('base64');
  it('a BOM, and a stray 0xA0 at the end, are refused by both', async () => {
    for (const [name, bytes] of [
      ['bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${key}\n`)])],
      ['nbsp', Buffer.concat([Buffer.from(key), Buffer.from([0xa0, 0x0a])])],
    ] as const) {
      const f = file(name, bytes);
      expect({ name, kbs: await outcome(keyInformationOf(f)), model: await outcome(readModelKeyFile(f)) }).toEqual({ name, kbs: 'refused', model: 'refused' });
    }
  });

  it('ASCII white space at both ends is accepted by both, as the same key (control)', async () => {
    const f = file('spaces', Buffer.from(` \t${key}\r\n\n`));
    const info = await keyInformationOf(f);
    const modelKey = await readModelKeyFile(f);
    expect(info.key_data).toBe(key);
    expect(modelKey.toString('base64')).toBe(key);
  });
});
