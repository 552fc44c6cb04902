/**
 * The clock of the rate and failure limiters (gateway; review s8 D2): milliseconds that never go
 * back. A limiter fed the wall clock blocks for as long as a backward step (an NTP correction, a
 * restored VM): grants and failures made "in the future" stay inside every window until the wall
 * clock catches up. These limiters measure only durations, so they read `performance.now()`, which
 * is monotonic; an injected source (tests) that steps back is absorbed the same way: the limiter
 * time goes on from where it was and advances as the source advances again. A forward step only
 * ends windows early, which errs towards serving. (A source that is not monotonic loses the time
 * between its last reading before a step and the step itself.)
 */
export type LimiterClock = () => number;

export function steadyClock(source: () => number = () => performance.now()): LimiterClock {
  let last: number | undefined;
  let offset = 0;
  return () => {
    const raw = source();
    if (last !== undefined && raw < last) offset += last - raw;
    last = raw;
    return raw + offset;
  };
}
