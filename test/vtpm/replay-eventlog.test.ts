/**
 * Boot event log replay (src/vtpm/replay-eventlog.ts) and boot components
 * (src/vtpm/boot-components.ts) on generated logs: PCR values, EV_NO_ACTION
 * and StartupLocality, the first differing PCR named, extraction rules.
 */
import { describe, expect, it } from 'vitest';

import { generateBootEventLog } from '../../src/testing/vtpm-logs.js';
import { extractBootComponents } from '../../src/vtpm/boot-components.js';
import { pcrValuesToHex, type PcrValues } from '../../src/vtpm/pcrs.js';
import { checkEventLogAgainstPcrs, eventLogMismatches, replayEventLog } from '../../src/vtpm/replay-eventlog.js';
import { EventType } from '../../src/vtpm/tcg-events.js';
import type { TcgEventLog } from '../../src/vtpm/types.js';
import { expectError } from '../helpers/expect-error.js';
import { flipByte } from '../helpers/bytes.js';

function withPcr(values: PcrValues, bank: 'sha1' | 'sha256', pcr: number, flip = 0x01): PcrValues {
  const copy: PcrValues = JSON.parse(JSON.stringify(pcrValuesToHex(values)), (_k, v: unknown) => (typeof v === 'string' ? new Uint8Array(Buffer.from(v, 'hex')) : v)) as PcrValues;
  const v = copy[bank]![pcr]!;
  v[0] = v[0]! ^ flip;
  return copy;
}

describe('generated boot event log', () => {
  const gen = generateBootEventLog({ seed: 'replay-1', banks: ['sha1', 'sha256', 'sha384', 'sha512'] });

  it('replays to the generator’s PCR values in all four banks; the header event is not extended', () => {
    const replay = replayEventLog(gen.log);
    expect(replay.banks).toEqual(['sha1', 'sha256', 'sha384', 'sha512']);
    expect(pcrValuesToHex(replay.pcrs)).toEqual(pcrValuesToHex(gen.pcrs));
    expect(replay.touched).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(replay.extendedEvents).toBe(gen.log.events.length - 1);
    expect(() => checkEventLogAgainstPcrs(replay, gen.pcrs)).not.toThrow();
  });

  it('a chosen bank only; a bank the log lacks is ERR_VTPM_EVENTLOG', () => {
    const sha256Only = generateBootEventLog({ seed: 'replay-2', banks: ['sha256'] });
    expect(replayEventLog(sha256Only.log, { banks: ['sha256'] }).banks).toEqual(['sha256']);
    expectError(() => replayEventLog(sha256Only.log, { banks: ['sha1'] }), { code: 'ERR_VTPM_EVENTLOG', errorClass: 'PARSE' });
  });

  it('PCR 4 altered: the mismatch names PCR 4 and the bank', () => {
    const replay = replayEventLog(gen.log);
    const err = expectError(() => checkEventLogAgainstPcrs(replay, withPcr(gen.pcrs, 'sha256', 4)), { code: 'ERR_VTPM_EVENTLOG_MISMATCH', errorClass: 'BINDING' });
    expect(err.details).toMatchObject({ pcr: 4, bank: 'sha256' });
    expect((err.details['mismatches'] as unknown[]).length).toBe(1);
  });

  it('the lowest differing PCR is named first, every difference is listed', () => {
    const replay = replayEventLog(gen.log);
    const quoted = withPcr(withPcr(gen.pcrs, 'sha1', 9), 'sha256', 7);
    const mismatches = eventLogMismatches(replay, quoted);
    expect(mismatches.map((m) => [m.pcr, m.bank])).toEqual([
      [7, 'sha256'],
      [9, 'sha1'],
    ]);
  });

  it('a quoted PCR the log never touched must be at its reset value (17-22 all ones), PCR 10 is excluded by default', () => {
    const replay = replayEventLog(gen.log);
    const quoted: PcrValues = { sha256: { ...gen.pcrs.sha256, 10: new Uint8Array(32).fill(7), 14: new Uint8Array(32), 17: new Uint8Array(32).fill(0xff) } };
    expect(eventLogMismatches(replay, quoted)).toEqual([]);
    const extended: PcrValues = { sha256: { 14: new Uint8Array(32).fill(1) } };
    expect(eventLogMismatches(replay, extended).map((m) => m.pcr)).toEqual([14]);
    expect(eventLogMismatches(replay, extended, { onlyTouched: true })).toEqual([]);
  });

  it('no bank in common with the quote is ERR_VTPM_EVENTLOG', () => {
    const sha1Only = replayEventLog(generateBootEventLog({ seed: 'replay-3', banks: ['sha1'] }).log);
    expectError(() => checkEventLogAgainstPcrs(sha1Only, { sha256: { 0: new Uint8Array(32) } }), { code: 'ERR_VTPM_EVENTLOG' });
  });

  it('an event that changes its digest changes the PCR it extends', () => {
    const events = gen.log.events.map((e) => ({ ...e, digests: e.digests.map((d) => ({ ...d, digest: d.digest.slice() })) }));
    const kernel = events.find((e) => e.pcr === 9 && e.eventType === EventType.EV_IPL && Buffer.from(e.data).toString().startsWith('/vmlinuz'))!;
    flipByte(kernel.digests[1]!.digest, 0);
    const err = expectError(() => checkEventLogAgainstPcrs(replayEventLog({ ...gen.log, events }), gen.pcrs), { code: 'ERR_VTPM_EVENTLOG_MISMATCH' });
    expect(err.details).toMatchObject({ pcr: 9, bank: 'sha256' });
  });
});

describe('EV_NO_ACTION and StartupLocality', () => {
  it('StartupLocality 3 sets the initial PCR 0 value (…03) in every bank', () => {
    const gen = generateBootEventLog({ seed: 'loc', startupLocality: 3 });
    const replay = replayEventLog(gen.log);
    expect(replay.startupLocality).toBe(3);
    expect(pcrValuesToHex(replay.pcrs)).toEqual(pcrValuesToHex(gen.pcrs));
    const without = generateBootEventLog({ seed: 'loc' });
    expect(Buffer.from(gen.pcrs.sha256![0]!).equals(Buffer.from(without.pcrs.sha256![0]!))).toBe(false);
  });

  it('other EV_NO_ACTION events are never extended, whatever their digests', () => {
    const gen = generateBootEventLog({ seed: 'noaction' });
    const noise = { ...gen.log.events[3]!, index: 99, eventType: EventType.EV_NO_ACTION, pcr: 4, digests: gen.log.events[3]!.digests };
    const log: TcgEventLog = { ...gen.log, events: [...gen.log.events.slice(0, 5), noise, ...gen.log.events.slice(5)] };
    expect(pcrValuesToHex(replayEventLog(log).pcrs)).toEqual(pcrValuesToHex(gen.pcrs));
  });

  it('a StartupLocality after PCR 0 was extended, a PCR above 23 and a missing bank digest are ERR_VTPM_EVENTLOG', () => {
    const gen = generateBootEventLog({ seed: 'bad', startupLocality: 3 });
    const [header, locality, ...rest] = gen.log.events;
    expectError(() => replayEventLog({ ...gen.log, events: [header!, rest[0]!, locality!, ...rest.slice(1)] }), { code: 'ERR_VTPM_EVENTLOG' });
    expectError(() => replayEventLog({ ...gen.log, events: [header!, { ...rest[0]!, pcr: 24 }] }), { code: 'ERR_VTPM_EVENTLOG' });
    expectError(() => replayEventLog({ ...gen.log, events: [header!, { ...rest[0]!, digests: rest[0]!.digests.slice(0, 1) }] }), { code: 'ERR_VTPM_EVENTLOG' });
  });
});

describe('boot components of a generated log', () => {
  const gen = generateBootEventLog({ seed: 'components', kernelCmdline: 'root=/dev/vda1 ro quiet' });
  const c = extractBootComponents(gen.log);

  it('boot applications, kernel, initrd, command line, Secure Boot', () => {
    expect(c.bootApplications.map((a) => a.digests)).toEqual(gen.components.bootApplications);
    expect(c.bootApplications.map((a) => a.path)).toEqual(['\\EFI\\BOOT\\BOOTX64.EFI', '\\EFI\\ubuntu\\grubx64.efi']);
    expect(c.kernels.map((k) => [k.path, k.digests])).toEqual([[gen.components.kernel.path, gen.components.kernel.digests]]);
    expect(c.initrds.map((k) => [k.path, k.digests])).toEqual([[gen.components.initrd.path, gen.components.initrd.digests]]);
    expect(c.otherFiles.map((f) => f.path)).toEqual(['(hd0,gpt1)/boot/grub/grub.cfg']);
    expect(c.commandLines).toEqual([{ eventIndex: expect.any(Number), pcr: 8, source: 'grub', value: '/vmlinuz-6.8.0-generated root=/dev/vda1 ro quiet', verified: true }]);
    expect(c.secureBoot).toMatchObject({ enabled: true, verified: true });
    expect(extractBootComponents(generateBootEventLog({ seed: 'sb-off', secureBoot: false }).log).secureBoot).toMatchObject({ enabled: false, verified: true });
  });

  it('event data that its digest does not cover is reported unverified (command line) or ignored (GRUB commands)', () => {
    const events = gen.log.events.map((e) => {
      const text = Buffer.from(e.data).toString('latin1');
      if (text.startsWith('kernel_cmdline: ')) return { ...e, data: new Uint8Array(Buffer.from(text.replace('quiet', 'init=/bin/sh'), 'latin1')) };
      if (text.startsWith('grub_cmd: linux ')) return { ...e, data: new Uint8Array(Buffer.from('grub_cmd: insmod x\0', 'latin1')) };
      if (e.eventType === EventType.EV_EFI_VARIABLE_DRIVER_CONFIG && e.data.length < 60) {
        const data = e.data.slice();
        data[data.length - 1] = 0;
        return { ...e, data };
      }
      return e;
    });
    const forged = extractBootComponents({ ...gen.log, events });
    expect(forged.commandLines[0]).toMatchObject({ value: '/vmlinuz-6.8.0-generated root=/dev/vda1 ro init=/bin/sh', verified: false });
    // The relabelled `linux` command no longer verifies, so the kernel file is not recognised as one.
    expect(forged.kernels).toEqual([]);
    expect(forged.secureBoot).toMatchObject({ enabled: false, verified: false });
  });
});
