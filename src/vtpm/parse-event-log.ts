/** TCG PC Client boot event log from the native frame: events with views of their digests and data. */
import { native, isNativeFailure } from '../native/index.js';
import { hashName, requireBytes, view, vtpmError } from './parse-common.js';
import type { TcgDigest, TcgEvent, TcgEventLog } from './types.js';

export function parseTcgEventLog(input: Uint8Array): TcgEventLog {
  const bytes = requireBytes(input, 'event log');
  const log = native().parseTcgEventLog(bytes);
  if (isNativeFailure(log)) throw vtpmError(log, 'TCG event log');
  const sizes = new Map<number, number>();
  const algorithms: TcgEventLog['algorithms'] = [];
  for (let i = 0; i < log.algorithms.length; i += 2) {
    const alg = log.algorithms[i]!;
    const digestSize = log.algorithms[i + 1]!;
    sizes.set(alg, digestSize);
    algorithms.push({ alg, hash: hashName(alg), digestSize });
  }
  const f = log.frame;
  const events: TcgEvent[] = new Array<TcgEvent>(log.eventCount);
  let w = 0;
  for (let index = 0; index < log.eventCount; index++) {
    const offset = f[w]!;
    const pcr = f[w + 1]!;
    const eventType = f[w + 2]!;
    const data = view(bytes, f[w + 3]!, f[w + 4]!);
    const count = f[w + 5]!;
    w += 6;
    const digests: TcgDigest[] = new Array<TcgDigest>(count);
    for (let d = 0; d < count; d++, w += 2) {
      const alg = f[w]!;
      digests[d] = { alg, hash: hashName(alg), digest: view(bytes, f[w + 1]!, sizes.get(alg)!) };
    }
    events[index] = { index, offset, pcr, eventType, digests, data };
  }
  return {
    format: log.cryptoAgile ? 'crypto-agile' : 'sha1',
    algorithms,
    events,
    trailingPadding: log.paddingSize === 0 ? undefined : { byte: log.paddingByte as 0 | 0xff, length: log.paddingSize },
  };
}
