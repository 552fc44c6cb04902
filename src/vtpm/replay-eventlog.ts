/**
 * Replay of a TCG PC Client boot event log (as parsed by parseTcgEventLog)
 * into PCR values per bank, and the comparison with quoted PCRs that names
 * the first PCR that differs (issue 9).
 *
 * Rules (TCG PC Client Platform Firmware Profile 2.0, sections 10.2–10.4):
 * - PCRs start at their reset value: zeros, except PCRs 17–22 (all ones).
 * - Every event is extended into its PCR in log order, with its digest of
 *   that bank, except EV_NO_ACTION events (the Spec ID header event and any
 *   other informational event), which are never extended.
 * - One EV_NO_ACTION event changes a PCR: "StartupLocality\0" followed by a
 *   locality byte, in PCR 0, sets PCR 0's initial value in every bank to
 *   zeros with that locality in the last byte. It must come before any
 *   event extends PCR 0.
 * - The legacy (SHA-1, TCG 1.2-style) format replays the SHA-1 bank only.
 */
import type { OptionKeys } from '../option-keys.js';
import { VtpmVerificationError } from './errors.js';
import { BANK_DIGEST_SIZE, PCR_COUNT, bankOfAlg, comparePcrs, extend, resetValue, toPcrValues, type PcrInput, type PcrMismatch, type PcrValues, type ReplayBank } from './pcrs.js';
import { EventType, STARTUP_LOCALITY_SIGNATURE } from './tcg-events.js';
import type { TcgEvent, TcgEventLog } from './types.js';

export interface EventLogReplay {
  format: TcgEventLog['format'];
  /** The banks replayed. */
  banks: ReplayBank[];
  /** Final value of every PCR the log touched, per replayed bank. */
  pcrs: PcrValues;
  /** PCR indexes the log extended (or initialised with StartupLocality), ascending. */
  touched: number[];
  /** Locality of the StartupLocality event, when the log has one. */
  startupLocality?: number;
  /** Number of events extended. */
  extendedEvents: number;
}

export interface ReplayEventLogOptions {
  /** Banks to replay; default every bank the log declares that we can hash. Each must be in the log. */
  banks?: readonly ReplayBank[];
}

/** The replayable banks a log declares (Spec ID event, or SHA-1 for the legacy format). */
export function logBanks(log: TcgEventLog): ReplayBank[] {
  if (log.format === 'sha1') return ['sha1'];
  const out: ReplayBank[] = [];
  for (const a of log.algorithms) {
    const bank = bankOfAlg(a.alg);
    if (bank !== undefined && !out.includes(bank)) out.push(bank);
  }
  return out;
}

const LOCALITY_SIG = new TextEncoder().encode(STARTUP_LOCALITY_SIGNATURE);

/** The locality byte of a StartupLocality event, or undefined when the event is something else. */
function startupLocality(event: TcgEvent): number | undefined {
  if (event.eventType !== EventType.EV_NO_ACTION || event.data.length !== LOCALITY_SIG.length + 1) return undefined;
  for (let i = 0; i < LOCALITY_SIG.length; i++) if (event.data[i] !== LOCALITY_SIG[i]) return undefined;
  return event.data[LOCALITY_SIG.length];
}

function fail(message: string, details: Record<string, unknown>): never {
  throw new VtpmVerificationError('ERR_VTPM_EVENTLOG', message, details);
}

function digestFor(event: TcgEvent, bank: ReplayBank): Uint8Array {
  const found = event.digests.find((d) => bankOfAlg(d.alg) === bank);
  if (found === undefined) fail(`event ${event.index} (PCR ${event.pcr}) has no ${bank} digest`, { index: event.index, offset: event.offset, bank });
  if (found.digest.length !== BANK_DIGEST_SIZE[bank]) {
    fail(`event ${event.index} has a ${found.digest.length}-byte ${bank} digest`, { index: event.index, offset: event.offset, bank });
  }
  return found.digest;
}

/** Replays the log into per-bank PCR values. Throws ERR_VTPM_EVENTLOG when the log cannot be replayed. */
export function replayEventLog(log: TcgEventLog, options: ReplayEventLogOptions = {}): EventLogReplay {
  const declared = logBanks(log);
  const banks = options.banks === undefined ? declared : [...options.banks];
  for (const bank of banks) {
    if (!declared.includes(bank)) fail(`the event log has no ${bank} bank (it has ${declared.join(', ') || 'none we replay'})`, { bank, banks: declared });
  }
  if (banks.length === 0) fail('the event log declares no bank that can be replayed', { banks: declared });

  const pcrs: PcrValues = {};
  for (const bank of banks) pcrs[bank] = {};
  const touched = new Set<number>();
  let locality: number | undefined;
  let extended = 0;

  for (const event of log.events) {
    if (!Number.isInteger(event.pcr) || event.pcr < 0 || event.pcr >= PCR_COUNT) {
      fail(`event ${event.index} is for PCR ${event.pcr}: a TPM has PCRs 0-23`, { index: event.index, offset: event.offset, pcr: event.pcr });
    }
    if (event.eventType === EventType.EV_NO_ACTION) {
      const loc = event.pcr === 0 ? startupLocality(event) : undefined;
      if (loc === undefined) continue;
      if (touched.has(0)) fail(`StartupLocality event ${event.index} comes after PCR 0 was extended`, { index: event.index, offset: event.offset });
      locality = loc;
      for (const bank of banks) {
        const initial = new Uint8Array(BANK_DIGEST_SIZE[bank]);
        initial[initial.length - 1] = loc;
        pcrs[bank]![0] = initial;
      }
      touched.add(0);
      continue;
    }
    for (const bank of banks) {
      const values = pcrs[bank]!;
      values[event.pcr] = extend(bank, values[event.pcr] ?? resetValue(bank, event.pcr), digestFor(event, bank));
    }
    touched.add(event.pcr);
    extended++;
  }
  return {
    format: log.format,
    banks,
    pcrs,
    touched: [...touched].sort((a, b) => a - b),
    ...(locality === undefined ? {} : { startupLocality: locality }),
    extendedEvents: extended,
  };
}

export interface CheckEventLogOptions {
  /**
   * PCRs the boot log does not explain and that are checked elsewhere.
   * Default [10] (IMA). A quoted PCR the log never touched must hold its
   * reset value unless it is excluded here or `onlyTouched` is set.
   */
  exclude?: readonly number[];
  /** Compare only the PCRs the log touched (runtime PCRs such as systemd's 11–15 are then not judged). Default false. */
  onlyTouched?: boolean;
  /** Banks to compare; default every quoted bank the replay has (at least one must be in common). */
  banks?: readonly ReplayBank[];
}

/** The keys CheckEventLogOptions accepts (verifyVtpmEvidence's `eventLog`; the compiler keeps this list equal to the type's keys). */
export const CHECK_EVENT_LOG_OPTION_KEYS: OptionKeys<CheckEventLogOptions> = { exclude: true, onlyTouched: true, banks: true };

/** Every difference between a replay and quoted PCR values, first differing PCR first. */
export function eventLogMismatches(replay: EventLogReplay, quotedInput: PcrInput, options: CheckEventLogOptions = {}): PcrMismatch[] {
  const quoted = toPcrValues(quotedInput);
  const banks = options.banks ?? replay.banks.filter((b) => quoted[b] !== undefined);
  if (banks.length === 0) {
    fail(`no quoted bank is in the event log (log: ${replay.banks.join(', ')}; quoted: ${Object.keys(quoted).join(', ') || 'none'})`, { banks: replay.banks });
  }
  for (const bank of banks) if (!replay.banks.includes(bank)) fail(`the replay has no ${bank} bank`, { bank, banks: replay.banks });
  return comparePcrs(replay.pcrs, quoted, {
    banks,
    exclude: options.exclude ?? [10],
    ...(options.onlyTouched === true ? { pcrs: replay.touched } : {}),
  });
}

/**
 * Throws ERR_VTPM_EVENTLOG_MISMATCH naming the first PCR (and bank) whose
 * quoted value the log does not reproduce; details.mismatches lists all.
 */
export function checkEventLogAgainstPcrs(replay: EventLogReplay, quoted: PcrInput, options: CheckEventLogOptions = {}): void {
  const mismatches = eventLogMismatches(replay, quoted, options);
  const first = mismatches[0];
  if (first === undefined) return;
  throw new VtpmVerificationError(
    'ERR_VTPM_EVENTLOG_MISMATCH',
    `the boot event log does not reproduce PCR ${first.pcr} (${first.bank}): quoted ${first.expected}, replayed ${first.replayed}` +
      (mismatches.length > 1 ? ` (${mismatches.length} PCR values differ)` : ''),
    { bank: first.bank, pcr: first.pcr, expected: first.expected, replayed: first.replayed, mismatches },
  );
}
