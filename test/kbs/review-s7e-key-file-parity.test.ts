/**
 * Session 7, last review: `tee-kbs admin key create|rotate --key-file` and `tee-model --key-file`
 * must read a key file as the same key, or the broker refuses it. Before, the broker stripped only
 * one final newline and took any file of exactly 16, 24 or 32 bytes as a raw key: base64 of a 16-byte
 * key (24 characters) padded with 8 bytes of whitespace was a 32-byte "raw" AES-256 key for the
 * broker and the 16-byte key for tee-model, so `load` failed later with ERR_MODEL_AUTH_FAILED (and a
 * rotate had already replaced the material).
 */
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { parseKeyFile } from '../../src/kbs/key-file.js';
import { decodeModelKey } from '../../src/model/keys.js';

/** What `tee-model --key-file` reads from the same bytes (src/model/cli.ts keyFrom). */
const modelRead = (file: Buffer): Buffer => decodeModelKey(file.toString('utf8').trim());

describe('a key file reads as the same key in tee-kbs and tee-model', () => {
  const shapes: [string, (b64: string) => string][] = [
    ['8 trailing spaces (32 bytes in all for a 16-byte key)', (b) => `${b}        `],
    ['an 8-space indent', (b) => `        ${b}`],
    ['blank lines after it', (b) => `${b}${'  \n'.repeat(6)}`],
    ['CRLF line and a trailing tab', (b) => `${b}\t\r\n`],
    ['no newline', (b) => b],
  ];
  for (const size of [16, 24, 32]) {
    it.each(shapes)(`${size}-byte key, base64 with %s`, (_label, shape) => {
      const key = randomBytes(size);
      const file = Buffer.from(shape(key.toString('base64')), 'latin1');
      const broker = parseKeyFile(file);
      expect(broker.form).toBe('base64');
      expect(broker.material.equals(key)).toBe(true);
      expect(modelRead(file).equals(broker.material)).toBe(true);
    });
  }

  it('a 32-byte text that is no base64 key (a passphrase) is refused, not taken as raw AES-256', () => {
    const file = Buffer.from('correct horse battery staple 12!');
    expect(file.length).toBe(32);
    expect(() => parseKeyFile(file, 'pass.txt')).toThrow(/all of them text: tee-model would not read it as this key/);
    expect(() => modelRead(file)).toThrow();
  });

  it('raw binary key files still work (bytes outside printable ASCII)', () => {
    const key = Buffer.concat([Buffer.from([0x00, 0xff]), randomBytes(30)]);
    expect(parseKeyFile(key)).toMatchObject({ form: 'raw' });
    expect(parseKeyFile(key).material.equals(key)).toBe(true);
  });
});
