/**
 * Review s14 (native), finding 1: the event-log parser's padding test
 * (IsPadding in cpp/core/tcg_event_log.cc) compared every remaining byte at
 * every event boundary. A legacy log of all-zero TCG_PCClientPCREvents (valid
 * events: type 0, zero digest, no data) that ends in any other byte therefore
 * cost about 16·N² comparisons, synchronously on the JavaScript thread: at
 * the 100 000-event cap about 100 s for one 3.2 MB input. The parser now finds
 * the final run of one repeated byte once, so the test is O(1) per event.
 *
 * The 99 999-event cases fail on the old code through their 10 s per-test
 * timeout (no timed assertion: vitest fails a synchronous test that ran past
 * its timeout; the old parser took ~2 minutes). The 20 000-event case is a
 * control of the error and offset only: the old parser answered it in 5-7 s,
 * inside the default timeout (s14 native change review R2). The
 * small cases pin that the accepted inputs, the padding reported and the
 * error codes and offsets are exactly those of the old rule, modelled here in
 * TypeScript with the old rescan.
 */
import { describe, expect, it } from 'vitest';

import { parseTcgEventLog } from '../../src/vtpm/parse.js';
import { expectError } from '../helpers/expect-error.js';

const EVENT = 32; // legacy TCG_PCClientPCREvent header: pcr, type, SHA-1 digest, event size

/** `n` all-zero legacy events, then `tail`. */
function zeroEvents(n: number, tail: number[], first?: Uint8Array): Uint8Array {
  const head = first ?? new Uint8Array(0);
  const out = new Uint8Array(head.length + EVENT * n + tail.length);
  out.set(head, 0);
  out.set(tail, head.length + EVENT * n);
  return out;
}

/** A legacy event that is not all zero (PCR 0, EV_POST_CODE, digest 0x11…, `data`). */
function postCode(data: number[] = []): Uint8Array {
  const b = Buffer.alloc(EVENT + data.length);
  b.writeUInt32LE(1, 4);
  b.fill(0x11, 8, 28);
  b.writeUInt32LE(data.length, 28);
  Buffer.from(data).copy(b, EVENT);
  return new Uint8Array(b);
}

describe('review s14 #1: event-log padding detection is linear in the log', () => {
  it('20 000 all-zero legacy events and one trailing 0x01: ERR_EVENTLOG_TRUNCATED at the 0x01 (control: error and offset)', () => {
    const input = zeroEvents(20_000, [0x01]);
    expectError(() => parseTcgEventLog(input), { code: 'ERR_EVENTLOG_TRUNCATED', errorClass: 'PARSE', offset: EVENT * 20_000 });
  });

  it('99 999 all-zero legacy events (3.2 MB) and one trailing 0x01: the same error, within the timeout', { timeout: 10_000 }, () => {
    const input = zeroEvents(99_999, [0x01]);
    expectError(() => parseTcgEventLog(input), { code: 'ERR_EVENTLOG_TRUNCATED', errorClass: 'PARSE', offset: EVENT * 99_999 });
  });

  it('a log that parses to the end (both addon passes): one event, 99 998 zero events, 0xFF padding', { timeout: 10_000 }, () => {
    const input = zeroEvents(99_998, new Array<number>(EVENT).fill(0xff), postCode());
    const log = parseTcgEventLog(input);
    expect(log.format).toBe('sha1');
    expect(log.events.length).toBe(99_999);
    expect(log.trailingPadding).toEqual({ byte: 0xff, length: EVENT });
  });

  it('100 000 zero events and a 0x01: the event cap still applies first', { timeout: 10_000 }, () => {
    const input = zeroEvents(100_000, [0x01]);
    expectError(() => parseTcgEventLog(input), { code: 'ERR_EVENTLOG_TOO_MANY_EVENTS', errorClass: 'PARSE', offset: EVENT * 100_000 });
  });
});

// --- the old rule, modelled (legacy logs only) ------------------------------

type Outcome = { ok: true; events: number; padding?: { byte: number; length: number } } | { ok: false; code: string; offset: number };

/** The legacy parser with the pre-s14 IsPadding: rescan every remaining byte at each boundary. */
function oldRule(b: Uint8Array): Outcome {
  const size = b.length;
  if (size === 0 || (b.every((x) => x === b[0]) && (b[0] === 0 || b[0] === 0xff))) return { ok: false, code: 'ERR_EVENTLOG_TRUNCATED', offset: 0 };
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const event = (at: number): Outcome | number => {
    if (size - at < EVENT) return { ok: false, code: 'ERR_EVENTLOG_TRUNCATED', offset: at };
    const n = view.getUint32(at + 28, true);
    if (n > 1024 * 1024) return { ok: false, code: 'ERR_EVENTLOG_BAD_SIZE', offset: at + 28 };
    if (n > size - at - EVENT) return { ok: false, code: 'ERR_EVENTLOG_TRUNCATED', offset: at + EVENT };
    return at + EVENT + n;
  };
  const isPadding = (pos: number) => {
    const first = b[pos]!;
    if (size - pos < EVENT || (first !== 0 && first !== 0xff)) return false;
    for (let i = pos + 1; i < size; ++i) if (b[i] !== first) return false;
    return true;
  };
  let pos = event(0);
  if (typeof pos !== 'number') return pos;
  let events = 1;
  while (pos < size) {
    if (isPadding(pos)) return { ok: true, events, padding: { byte: b[pos]!, length: size - pos } };
    const next = event(pos);
    if (typeof next !== 'number') return next;
    pos = next;
    ++events;
  }
  return { ok: true, events };
}

function newRule(b: Uint8Array): Outcome {
  try {
    const log = parseTcgEventLog(b);
    expect(log.format).toBe('sha1');
    return log.trailingPadding === undefined ? { ok: true, events: log.events.length } : { ok: true, events: log.events.length, padding: { ...log.trailingPadding } };
  } catch (err) {
    const e = err as { code: string; offset: number };
    return { ok: false, code: e.code, offset: e.offset };
  }
}

describe('review s14 #1: the accepted inputs are exactly those of the old rule', () => {
  // Pieces whose joins land event boundaries on, before and inside runs of 0x00 / 0xFF.
  const pieces: Record<string, number[]> = {
    zeroEvent: new Array<number>(EVENT).fill(0),
    ffEvent: new Array<number>(EVENT).fill(0xff),
    post: [...postCode()],
    postData: [...postCode([0, 0, 0xff])],
    z1: [0],
    z31: new Array<number>(31).fill(0),
    f1: [0xff],
    f31: new Array<number>(31).fill(0xff),
    one: [0x01],
  };
  const names = Object.keys(pieces);

  it('every log of a post-code event and up to three pieces gives the old outcome', () => {
    let compared = 0;
    let accepted = 0;
    let padded = 0;
    const walk = (parts: string[]) => {
      const input = new Uint8Array([...pieces['post']!, ...parts.flatMap((p) => pieces[p]!)]);
      const want = oldRule(input);
      expect({ parts, got: newRule(input) }).toEqual({ parts, got: want });
      ++compared;
      if (want.ok) ++accepted;
      if (want.ok && want.padding) ++padded;
      if (parts.length < 3) for (const n of names) walk([...parts, n]);
    };
    walk([]);
    // The enumeration exercises all three outcomes, not only errors.
    expect(compared).toBe(1 + 9 + 81 + 729);
    expect(accepted).toBeGreaterThan(50);
    expect(padded).toBeGreaterThan(20);
    expect(compared - accepted).toBeGreaterThan(50);
  });

  it('logs that start with a zero event give the old outcome too', () => {
    for (const tail of [[], [0x01], new Array<number>(EVENT).fill(0xff), new Array<number>(EVENT - 1).fill(0xff), [...postCode()], [...postCode(), 0]]) {
      for (const n of [1, 2, 3]) {
        const input = zeroEvents(n, tail);
        expect({ n, tail: tail.length, got: newRule(input) }).toEqual({ n, tail: tail.length, got: oldRule(input) });
      }
    }
  });
});
