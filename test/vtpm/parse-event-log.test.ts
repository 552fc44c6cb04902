/**
 * TCG boot event logs through the bounded native parser: every shared
 * tcg-event-log vector parses to the format, algorithms, event counts and
 * event types its manifest entry states, and replaying the parsed digests
 * (node:crypto, here in the test) reproduces the PCR values the manifest and
 * its source state - which proves every digest view sits at the right bytes.
 * Malformed logs give the exact typed code; trailing padding follows the
 * documented rule (docs/vtpm-formats.md).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { parseTcgEventLog } from '../../src/vtpm/parse.js';
import { TpmAlg, type TcgEventLog, type TpmHashName } from '../../src/vtpm/types.js';
import { catchError, expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, readVectorFile, type ManifestEntry } from '../helpers/vectors.js';

const EV_NO_ACTION = 3;
const EVENT_TYPE_NAMES: Record<number, string> = {
  0x1: 'EV_POST_CODE',
  0x4: 'EV_SEPARATOR',
  0x5: 'EV_ACTION',
  0x6: 'EV_EVENT_TAG',
  0x8: 'EV_S_CRTM_VERSION',
  0xa: 'EV_PLATFORM_CONFIG_FLAGS',
  0xc: 'EV_COMPACT_HASH',
  0xd: 'EV_IPL',
  0x11: 'EV_NONHOST_INFO',
  0x80000001: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
  0x80000002: 'EV_EFI_VARIABLE_BOOT',
  0x80000003: 'EV_EFI_BOOT_SERVICES_APPLICATION',
  0x80000004: 'EV_EFI_BOOT_SERVICES_DRIVER',
  0x80000006: 'EV_EFI_GPT_EVENT',
  0x80000007: 'EV_EFI_ACTION',
  0x80000008: 'EV_EFI_PLATFORM_FIRMWARE_BLOB',
  0x80000009: 'EV_EFI_HANDOFF_TABLES',
  0x800000e0: 'EV_EFI_VARIABLE_AUTHORITY',
};

interface LogChecks {
  file_size: number;
  log_format: 'crypto-agile' | 'sha1-legacy';
  spec_id: null | { algorithms: string[] };
  events_total: number;
  events_extended: number;
  event_types: Record<string, number>;
  trailing_zero_bytes: number;
  replayed_pcrs: Record<string, Record<string, string>>;
}

const logEntries = (): ManifestEntry[] => loadManifest().filter((e) => e.kind === 'tcg-event-log');
const file = (rel: string) => new Uint8Array(readVectorFile(rel));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const DIGEST_SIZE: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** PCR values of one bank: extend every event but EV_NO_ACTION from all-zero PCRs. */
function replay(log: TcgEventLog, bank: TpmHashName): Map<number, string> {
  const pcrs = new Map<number, Buffer>();
  for (const e of log.events) {
    if (e.eventType === EV_NO_ACTION) continue;
    const d = e.digests.find((x) => x.hash === bank);
    if (!d) throw new Error(`event ${e.index} has no ${bank} digest`);
    const old = pcrs.get(e.pcr) ?? Buffer.alloc(DIGEST_SIZE[bank]!);
    pcrs.set(e.pcr, createHash(bank).update(old).update(d.digest).digest());
  }
  return new Map([...pcrs].map(([k, v]) => [k, v.toString('hex')]));
}

describe.skipIf(!HAVE_VECTORS)('shared tcg-event-log vectors', () => {
  it('the manifest lists eight real logs, two of them legacy SHA-1', () => {
    const entries = logEntries();
    expect(entries.length).toBe(8);
    expect(entries.filter((e) => (e.checks as unknown as LogChecks).log_format === 'sha1-legacy').length).toBe(2);
  });

  for (const entry of logEntries()) {
    const c = entry.checks as unknown as LogChecks;
    it(`${entry.id}: format, algorithms, events and types equal the manifest`, () => {
      const input = file(entry.file);
      expect(input.length).toBe(c.file_size);
      const log = parseTcgEventLog(input);
      expect(log.format).toBe(c.log_format === 'crypto-agile' ? 'crypto-agile' : 'sha1');
      if (c.spec_id) {
        expect(log.algorithms.map((a) => `${a.hash}/${a.digestSize}`)).toEqual(c.spec_id.algorithms);
      } else {
        expect(log.algorithms).toEqual([{ alg: TpmAlg.SHA1, hash: 'sha1', digestSize: 20 }]);
      }
      // The manifest counts the Spec ID header in events_total of crypto-agile logs only.
      expect(log.events.length).toBe(c.events_total);
      const extended = log.events.filter((e) => e.eventType !== EV_NO_ACTION);
      expect(extended.length).toBe(c.events_extended);
      const types: Record<string, number> = {};
      for (const e of extended) {
        const name = EVENT_TYPE_NAMES[e.eventType] ?? `0x${e.eventType.toString(16)}`;
        types[name] = (types[name] ?? 0) + 1;
      }
      expect(types).toEqual(c.event_types);
      expect(c.trailing_zero_bytes).toBe(0);
      expect(log.trailingPadding).toBeUndefined();
      // Index, offsets and views are consistent with the input.
      log.events.forEach((e, i) => {
        expect(e.index).toBe(i);
        // Views into one private copy of the input (review s8, finding 2).
        expect(e.data.buffer).toBe(log.events[0]!.data.buffer);
        expect(e.data.buffer).not.toBe(input.buffer);
        for (const d of e.digests) expect(d.digest.length).toBe(log.algorithms.find((a) => a.alg === d.alg)!.digestSize);
      });
      const last = log.events.at(-1)!;
      expect(last.data.byteOffset + last.data.length).toBe(input.length);
    });

    it(`${entry.id}: replaying the parsed digests gives the manifest's PCR values`, () => {
      const log = parseTcgEventLog(file(entry.file));
      const stated = entry.expected.pcrs ?? {};
      for (const [bank, values] of Object.entries(c.replayed_pcrs)) {
        const replayed = replay(log, bank as TpmHashName);
        expect(Object.fromEntries([...replayed].map(([k, v]) => [String(k), v]))).toEqual(values);
        // Where the source states a value for a PCR the log extends, it is the replayed one.
        for (const [pcr, value] of Object.entries(stated[bank] ?? {})) {
          if (replayed.has(Number(pcr))) expect(replayed.get(Number(pcr))).toBe(value);
        }
      }
    });
  }

  it('ima-evm-utils logs: the boot_aggregate of their IMA lists is SHA-256 over replayed PCRs 0-9 / 0-7', () => {
    const cases = [
      ['ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9', 9],
      ['ima-evm-utils/test_binary_bios_measurements', 7],
    ] as const;
    for (const [id, last] of cases) {
      const entry = logEntries().find((e) => e.id === id)!;
      const pcrs = replay(parseTcgEventLog(file(entry.file)), 'sha256');
      const h = createHash('sha256');
      for (let i = 0; i <= last; i++) h.update(Buffer.from(pcrs.get(i) ?? '00'.repeat(32), 'hex'));
      expect(h.digest('hex')).toBe(entry.expected.boot_aggregate!.digest);
    }
  });

  it('a real log cut inside any event is ERR_EVENTLOG_TRUNCATED; cut between events it is a shorter log', () => {
    for (const id of ['go-tpm-tools/arch-linux-workstation', 'go-tpm-tools/debian-10']) {
      const input = file(logEntries().find((e) => e.id === id)!.file);
      const log = parseTcgEventLog(input);
      const boundaries = new Set(log.events.map((e) => e.offset));
      for (let cut = 1; cut < input.length; cut += cut < 200 ? 1 : 37) {
        const prefix = input.subarray(0, cut);
        if (boundaries.has(cut)) {
          expect(parseTcgEventLog(prefix).events.length).toBe(log.events.findIndex((e) => e.offset === cut));
        } else {
          const err = catchError(() => parseTcgEventLog(prefix));
          expect({ cut, code: err.code, errorClass: err.errorClass }).toEqual({ cut, code: 'ERR_EVENTLOG_TRUNCATED', errorClass: 'PARSE' });
        }
      }
    }
  });

  it('erased (0xFF) or zeroed log area after the last event is padding, reported; anything else is an error', () => {
    const input = file(logEntries().find((e) => e.id === 'go-tpm-tools/ubuntu-2404-amd-sevsnp')!.file);
    const n = parseTcgEventLog(input).events.length;
    // Smallest event of this log: pcr, type, count, SHA-1 / SHA-256 / SHA-384 digests, size.
    const minEvent = 12 + 22 + 34 + 50 + 4;
    for (const byte of [0x00, 0xff] as const) {
      for (const length of [minEvent, 4096]) {
        const padded = new Uint8Array(Buffer.concat([input, Buffer.alloc(length, byte)]));
        const log = parseTcgEventLog(padded);
        expect(log.events.length).toBe(n);
        expect(log.trailingPadding).toEqual({ byte, length });
      }
      // Shorter than any event: indistinguishable from an event cut short, so read as an event.
      const tail = (length: number) => new Uint8Array(Buffer.concat([input, Buffer.alloc(length, byte)]));
      expectError(() => parseTcgEventLog(tail(1)), { code: 'ERR_EVENTLOG_TRUNCATED', offset: input.length });
      expectError(() => parseTcgEventLog(tail(minEvent - 1)), { code: 'ERR_EVENTLOG_BAD_DIGEST_COUNT', offset: input.length + 8 });
    }
    // Mixed padding is read as an event: all-0xFF then zero gives a digest count that is not 3.
    const mixed = new Uint8Array(Buffer.concat([input, Buffer.alloc(64, 0xff), Buffer.alloc(64)]));
    expectError(() => parseTcgEventLog(mixed), { code: 'ERR_EVENTLOG_BAD_DIGEST_COUNT', offset: input.length + 8 });
    const junk = new Uint8Array(Buffer.concat([input, Buffer.from('junk')]));
    expectError(() => parseTcgEventLog(junk), { code: 'ERR_EVENTLOG_TRUNCATED', offset: input.length });
  });
});

// --- synthetic logs --------------------------------------------------------

const le32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const le16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};

function legacyEvent(pcr: number, type: number, data: Buffer, digest = Buffer.alloc(20, 0x11)): Buffer {
  return Buffer.concat([le32(pcr), le32(type), digest, le32(data.length), data]);
}

function specId(algs: [number, number][], o: { vendor?: Buffer; countField?: number } = {}): Buffer {
  const vendor = o.vendor ?? Buffer.alloc(0);
  return Buffer.concat([
    Buffer.from('Spec ID Event03\0', 'latin1'),
    le32(0), // platformClass
    Buffer.from([0, 2, 0, 2]), // version minor, major, errata, uintnSize
    le32(o.countField ?? algs.length),
    ...algs.map(([alg, size]) => Buffer.concat([le16(alg), le16(size)])),
    Buffer.from([vendor.length]),
    vendor,
  ]);
}

function event2(pcr: number, type: number, digests: [number, number][], data: Buffer, count = digests.length): Buffer {
  return Buffer.concat([
    le32(pcr),
    le32(type),
    le32(count),
    ...digests.map(([alg, size]) => Buffer.concat([le16(alg), Buffer.alloc(size, alg & 0xff)])),
    le32(data.length),
    data,
  ]);
}

const SHA1: [number, number] = [TpmAlg.SHA1, 20];
const SHA256: [number, number] = [TpmAlg.SHA256, 32];
const header = (algs: [number, number][] = [SHA1, SHA256], o = {}) => legacyEvent(0, EV_NO_ACTION, specId(algs, o), Buffer.alloc(20));
const log = (...parts: Buffer[]) => new Uint8Array(Buffer.concat(parts));

describe('TCG event log (synthetic)', () => {
  it('crypto-agile: header event, then events with one digest per declared bank', () => {
    const parsed = parseTcgEventLog(log(header(), event2(7, 0x80000001, [SHA1, SHA256], Buffer.from('abc')), event2(4, 4, [SHA256, SHA1], Buffer.alloc(4))));
    expect(parsed.format).toBe('crypto-agile');
    expect(parsed.algorithms.map((a) => a.hash)).toEqual(['sha1', 'sha256']);
    expect(parsed.events.map((e) => [e.index, e.pcr, e.eventType, e.data.length])).toEqual([
      [0, 0, 3, specId([SHA1, SHA256]).length],
      [1, 7, 0x80000001, 3],
      [2, 4, 4, 4],
    ]);
    // Digests keep the order of the event, with the declared sizes.
    expect(parsed.events[2]!.digests.map((d) => [d.hash, d.digest.length, d.digest[0]])).toEqual([
      ['sha256', 32, 0x0b],
      ['sha1', 20, 0x04],
    ]);
    expect(Buffer.from(parsed.events[1]!.data).toString()).toBe('abc');
  });

  it('an algorithm unknown to this library keeps the size the header declares', () => {
    const odd: [number, number] = [0x7777, 17];
    const parsed = parseTcgEventLog(log(header([SHA256, odd]), event2(1, 1, [odd, SHA256], Buffer.alloc(0))));
    expect(parsed.events[1]!.digests.map((d) => [d.alg, d.hash, d.digest.length])).toEqual([
      [0x7777, undefined, 17],
      [TpmAlg.SHA256, 'sha256', 32],
    ]);
  });

  it('legacy SHA-1: a first event that is not a Spec ID Event03 means every event is TCG_PCClientPCREvent', () => {
    const parsed = parseTcgEventLog(log(legacyEvent(0, 8, Buffer.from('v1')), legacyEvent(4, 4, Buffer.alloc(4)), legacyEvent(0, EV_NO_ACTION, Buffer.from('Spec ID Event00\0', 'latin1'))));
    expect(parsed.format).toBe('sha1');
    expect(parsed.events.map((e) => [e.pcr, e.eventType, e.digests.length, e.digests[0]!.hash])).toEqual([
      [0, 8, 1, 'sha1'],
      [4, 4, 1, 'sha1'],
      [0, 3, 1, 'sha1'],
    ]);
  });

  it('an event digest of an undeclared algorithm: ERR_EVENTLOG_UNKNOWN_ALGORITHM at its id', () => {
    const h = header([SHA1, SHA256]);
    expectError(() => parseTcgEventLog(log(h, event2(0, 1, [SHA1, [TpmAlg.SHA384, 48]], Buffer.alloc(0)))), {
      code: 'ERR_EVENTLOG_UNKNOWN_ALGORITHM',
      check: 'TCG_PCR_EVENT2',
      offset: h.length + 12 + 22,
    });
  });

  it('digest count other than the declared banks, or one bank twice: ERR_EVENTLOG_BAD_DIGEST_COUNT', () => {
    const h = header([SHA1, SHA256]);
    expectError(() => parseTcgEventLog(log(h, event2(0, 1, [SHA1], Buffer.alloc(0)))), { code: 'ERR_EVENTLOG_BAD_DIGEST_COUNT', offset: h.length + 8 });
    expectError(() => parseTcgEventLog(log(h, event2(0, 1, [SHA1, SHA256], Buffer.alloc(0), 0xffffffff))), { code: 'ERR_EVENTLOG_BAD_DIGEST_COUNT', offset: h.length + 8 });
    expectError(() => parseTcgEventLog(log(h, event2(0, 1, [SHA1, SHA1], Buffer.alloc(0)))), { code: 'ERR_EVENTLOG_BAD_DIGEST_COUNT', offset: h.length + 12 + 22 });
  });

  it('malformed Spec ID events: ERR_EVENTLOG_BAD_SPEC_ID', () => {
    const cases: [Buffer, number][] = [
      [specId([]), 32 + 24], // no algorithm
      [specId([SHA1], { countField: 17 }), 32 + 24], // above 16
      [specId([[TpmAlg.SHA256, 20]]), 32 + 28 + 2], // wrong size of a known algorithm
      [specId([[0x7777, 65]]), 32 + 28 + 2], // above 64
      [specId([[0x7777, 0]]), 32 + 28 + 2],
      [specId([SHA1, SHA1]), 32 + 32], // twice
      [specId([SHA1], { countField: 3 }), 32 + 28], // count beyond the event data
    ];
    for (const [spec, offset] of cases) {
      expectError(() => parseTcgEventLog(log(legacyEvent(0, EV_NO_ACTION, spec, Buffer.alloc(20)))), { code: 'ERR_EVENTLOG_BAD_SPEC_ID', check: 'TCG_EfiSpecIDEvent', offset });
    }
    // vendorInfoSize that does not fill the event data exactly.
    const extra = Buffer.concat([specId([SHA1]), Buffer.from([0])]);
    expectError(() => parseTcgEventLog(log(legacyEvent(0, EV_NO_ACTION, extra, Buffer.alloc(20)))), { code: 'ERR_EVENTLOG_BAD_SPEC_ID', offset: 32 + 32 });
    const vendor = specId([SHA1], { vendor: Buffer.from('xyz') });
    expect(parseTcgEventLog(log(legacyEvent(0, EV_NO_ACTION, vendor, Buffer.alloc(20)))).events.length).toBe(1);
  });

  it('event data above 1 MiB: ERR_EVENTLOG_BAD_SIZE at the size field, before looking for the bytes', () => {
    const h = header([SHA1]);
    const big = event2(0, 1, [SHA1], Buffer.alloc(0));
    big.writeUInt32LE(1024 * 1024 + 1, 12 + 22);
    expectError(() => parseTcgEventLog(log(h, big)), { code: 'ERR_EVENTLOG_BAD_SIZE', offset: h.length + 34 });
    const legacy = legacyEvent(0, 1, Buffer.alloc(0));
    legacy.writeUInt32LE(0xffffffff, 28);
    expectError(() => parseTcgEventLog(log(legacy)), { code: 'ERR_EVENTLOG_BAD_SIZE', offset: 28 });
  });

  it('an all-0xFF or all-zero buffer (an erased CCEL area) has no first event: ERR_EVENTLOG_TRUNCATED at 0', () => {
    for (const byte of [0x00, 0xff]) {
      expectError(() => parseTcgEventLog(new Uint8Array(65536).fill(byte)), { code: 'ERR_EVENTLOG_TRUNCATED', offset: 0 });
    }
    expectError(() => parseTcgEventLog(new Uint8Array(0)), { code: 'ERR_EVENTLOG_TRUNCATED', offset: 0 });
  });

  it('more than 100,000 events: ERR_EVENTLOG_TOO_MANY_EVENTS; 100,000 parse', () => {
    const one = legacyEvent(1, 1, Buffer.alloc(0));
    const at = (n: number) => log(...Array.from({ length: n }, () => one));
    expect(parseTcgEventLog(at(100000)).events.length).toBe(100000);
    expectError(() => parseTcgEventLog(at(100001)), { code: 'ERR_EVENTLOG_TOO_MANY_EVENTS', offset: 100000 * one.length });
  });

  it('above 16 MiB: ERR_INPUT_TOO_LARGE', () => {
    expectError(() => parseTcgEventLog(new Uint8Array(16 * 1024 * 1024 + 1)), { code: 'ERR_INPUT_TOO_LARGE' });
  });
});
