/**
 * Review s14, vTPM finding 5: boot-components.ts withoutTrailingNuls made one subarray and one
 * every() call per trailing NUL byte, twice per GRUB PCR 8 string event (the text and textForms),
 * about 120 ms per MiB of NUL padding. Event data is not covered by the digests, so anyone relaying
 * a genuine log can pad it (1 MiB an event, 16 MiB a log) without changing the replay. The scan is
 * now an index loop with one subarray per trim, and a GRUB string is trimmed once.
 * No timing is asserted (project rule): the test counts the typed-array method calls the
 * extraction makes over 64 KiB of NUL padding, which the old code made once per padding byte.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

import { generateBootEventLog } from '../../src/testing/index.js';
import { extractBootComponents } from '../../src/vtpm/boot-components.js';
import { parseTcgEventLog } from '../../src/vtpm/parse.js';
import { EventType } from '../../src/vtpm/tcg-events.js';
import { agileEvent, logSpans } from './review-s6-bundle.js';

const PAD = 64 * 1024;
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as Uint8Array;

/** A generated log plus a GRUB command line, a GRUB command and a PCR 9 file event, each followed by PAD NUL bytes. */
function paddedLog(): Uint8Array {
  const gen = generateBootEventLog({ seed: 's14-nul', banks: ['sha256'] });
  const padded = (text: string) => new Uint8Array(Buffer.concat([Buffer.from(text), Buffer.alloc(PAD)]));
  const extra = [
    agileEvent(gen.bytes, 8, EventType.EV_IPL, padded('kernel_cmdline: console=ttyS0'), new Uint8Array(Buffer.from('console=ttyS0'))),
    agileEvent(gen.bytes, 8, EventType.EV_IPL, padded('grub_cmd: linux /vmlinuz'), new Uint8Array(Buffer.from('linux /vmlinuz\0'))),
    agileEvent(gen.bytes, 9, EventType.EV_IPL, padded('/vmlinuz'), new Uint8Array(Buffer.from('kernel image'))),
  ];
  return new Uint8Array(Buffer.concat([...logSpans(gen.bytes).map((s) => s.bytes), ...extra]));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('review s14 vTPM #5: trailing NULs are trimmed in one linear pass', () => {
  it('64 KiB of NUL padding per event costs no typed-array call per byte; text and verification are unchanged', () => {
    const log = parseTcgEventLog(paddedLog());
    const subarray = vi.spyOn(TYPED_ARRAY_PROTO, 'subarray');
    const every = vi.spyOn(TYPED_ARRAY_PROTO, 'every');
    const boot = extractBootComponents(log);
    const calls = subarray.mock.calls.length + every.mock.calls.length;
    vi.restoreAllMocks();
    // The old code: 2 x PAD calls per GRUB string event (text and textForms) and PAD for the file path.
    expect(calls).toBeLessThan(2000);
    const cmdline = boot.commandLines.find((c) => c.value === 'console=ttyS0');
    expect(cmdline).toMatchObject({ source: 'grub', verified: true, pcr: 8 });
    expect(boot.unrecognisedCommandEvents.filter((e) => e.pcr === 8)).toEqual([]);
    expect(boot.kernels.map((k) => k.path)).toContain('/vmlinuz');
  });
});
