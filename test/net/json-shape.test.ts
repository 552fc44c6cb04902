/**
 * The JSON shape pre-scan (src/net/json-shape.ts; s15 red team, service finding 3): structural
 * bytes are counted only outside strings, escaped quotes do not end a string, backslashes are
 * counted only inside strings, and the first bound passed is named.
 */
import { describe, expect, it } from 'vitest';

import { jsonShapeRefusal, type JsonShapeBounds } from '../../src/net/json-shape.js';

const loose: JsonShapeBounds = { maxDepth: 100, maxContainers: 100, maxMembers: 100, maxSeparators: 100, maxEscapes: 100 };
const scan = (text: string, bounds: Partial<JsonShapeBounds> = {}) => jsonShapeRefusal(Buffer.from(text), { ...loose, ...bounds });

describe('jsonShapeRefusal', () => {
  it('counts depth, containers, members and separators outside strings only', () => {
    const doc = '{"a":[1,2,{"b":"[{:,}]"}],"c":"\\"[,:]\\""}';
    expect(scan(doc)).toBeUndefined();
    expect(scan(doc, { maxDepth: 3 })).toBeUndefined();
    expect(scan(doc, { maxDepth: 2 })).toEqual({ kind: 'depth', message: 'JSON nested deeper than 2 levels' });
    expect(scan(doc, { maxContainers: 3 })).toBeUndefined();
    expect(scan(doc, { maxContainers: 2 })?.kind).toBe('count');
    expect(scan(doc, { maxMembers: 3 })).toBeUndefined();
    expect(scan(doc, { maxMembers: 2 })?.message).toBe('more than 2 JSON object members');
    expect(scan(doc, { maxSeparators: 3 })).toBeUndefined();
    expect(scan(doc, { maxSeparators: 2 })?.message).toBe('more than 2 JSON values');
  });

  it('counts backslashes inside strings, across strings, and an escaped backslash before a closing quote ends the string', () => {
    const doc = '["a\\\\", "\\n\\t", "x", "\\u0041"]'; // 2 + 2 + 0 + 1 backslashes
    expect(scan(doc, { maxEscapes: 5 })).toBeUndefined();
    expect(scan(doc, { maxEscapes: 4 })).toEqual({ kind: 'count', message: 'more than 4 escapes in JSON strings' });
    // "a\\" ends after the escaped backslash: the comma after it is a separator.
    expect(scan('["a\\\\",1]', { maxSeparators: 0 })?.message).toBe('more than 0 JSON values');
  });

  it('leaves malformed text to the parser', () => {
    expect(scan('{"unterminated')).toBeUndefined();
    expect(scan(']]]]')).toBeUndefined();
  });

  it('counts the escapes of a string left unclosed, which the parser decodes before refusing it (s15 change review, service finding 1)', () => {
    expect(scan(`{"a":"${'\\n'.repeat(10)}`, { maxEscapes: 10 })).toBeUndefined();
    expect(scan(`{"a":"${'\\n'.repeat(11)}`, { maxEscapes: 10 })).toEqual({ kind: 'count', message: 'more than 10 escapes in JSON strings' });
    expect(scan(`{"a":"x","b":"${'\\n'.repeat(262_000)}`, { maxEscapes: 8192 })?.message).toBe('more than 8192 escapes in JSON strings');
  });

  it('stops at the first bound passed on a large hostile body', () => {
    expect(scan('['.repeat(200_000) + ']'.repeat(200_000), { maxDepth: 40 })?.kind).toBe('depth');
    expect(scan(`{${Array.from({ length: 5000 }, (_, i) => `"k${i}":0`).join(',')}}`, { maxMembers: 2048, maxSeparators: 16_384 })?.message).toBe('more than 2048 JSON object members');
  });
});
