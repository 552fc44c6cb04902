/**
 * What an interrupted decryption must not leave behind. SIGINT (Ctrl-C),
 * SIGTERM (systemd / docker stop) and SIGHUP end Node at once, without
 * unwinding the `finally` blocks that would remove a staging directory with
 * plaintext in it and an unverified `.part` file. The code that creates such
 * a path registers a synchronous cleanup here while the path exists;
 * `installInterruptCleanup` (the tee-model binary calls it) runs the
 * registered cleanups on those signals and then lets the signal end the
 * process as it would have. A library caller that wants the same installs it
 * too (or handles the signals itself). SIGKILL and power loss cannot be
 * caught: the next run sweeps dead runs' staging directories (staging.ts).
 */

const cleanups = new Set<() => void>();

/** Registers `cleanup` (synchronous, best effort) to run if the process is interrupted; returns the function that unregisters it. */
export function onInterrupt(cleanup: () => void): () => void {
  const entry = (): void => cleanup();
  cleanups.add(entry);
  return () => void cleanups.delete(entry);
}

/** Runs every registered cleanup, newest first (a restore registered after a staging directory runs before its removal), each at most once. */
export function runInterruptCleanups(): void {
  for (const entry of [...cleanups].reverse()) {
    cleanups.delete(entry);
    try {
      entry();
    } catch {
      // best effort: the others still run
    }
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Until the returned function is called, SIGINT / SIGTERM / SIGHUP first run the registered
 * cleanups, then end the process by the same signal (its exit status stays 128 + the signal's number).
 */
export function installInterruptCleanup(proc: NodeJS.Process = process): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    runInterruptCleanups();
    uninstall();
    // With no listener left the signal's default action applies again: the process ends as it would have without us.
    proc.kill(proc.pid, signal);
  };
  const uninstall = (): void => {
    for (const s of SIGNALS) proc.off(s, handler);
  };
  for (const s of SIGNALS) proc.on(s, handler);
  return uninstall;
}
