/**
 * Binding a server's port, shared by the three servers that take --listen (tee-gateway, tee-kbs and
 * tee-verify serve; review s10, G3 and L1). A failed listen used to reach the command line as an
 * untyped "listen EADDRINUSE" and exit 2, which a supervisor reads as "fix the command line, do not
 * restart" for what is often a transient clash (the previous instance still stopping). Each server
 * now throws its own typed error (ERR_GATEWAY_LISTEN, ERR_KBS_LISTEN, ERR_AS_LISTEN) with the message
 * built here and the errno as `cause`, and its command exits with the status the storage errors use:
 * 75 (EX_TEMPFAIL) when a retry can succeed, 78 (EX_CONFIG) when the address or the permissions must change.
 */
import type { Server } from 'node:net';

import { EXIT_CONFIG, EXIT_TEMPFAIL } from '../storage/errors.js';

/** Failures that pass without any change: the port taken by another process, a DNS lookup that timed out. */
const TRANSIENT = new Set(['EADDRINUSE', 'EAI_AGAIN']);

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another process; retry once it is free',
  EACCES: 'no permission to bind this port (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now',
};

/** The errno of a listen failure (Node's `code`), undefined when it has none. */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "cannot listen on HOST:PORT: ERRNO: what it means" (an IPv6 host in brackets). */
export function listenFailureMessage(e: unknown, host: string, port: number): string {
  const errno = errnoOf(e);
  const reason = errno === undefined ? String((e as Error)?.message ?? e) : `${errno}${REASONS[errno] ? `: ${REASONS[errno]}` : ''}`;
  return `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${reason}`;
}

/** Resolves once `srv` listens; rejects with `toError(cause, message)`, the server's own typed error. */
export function listenOn(srv: Server, port: number, host: string, toError: (cause: unknown, message: string) => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Left attached once listening, as the gateway and the broker did: it absorbs one later server
    // error (an accept failure), which a settled promise ignores, instead of crashing the process.
    srv.once('error', (e) => reject(toError(e, listenFailureMessage(e, host, port))));
    srv.listen(port, host, () => resolve());
  });
}

/** 75 when the same start can succeed later (EADDRINUSE, EAI_AGAIN), 78 for everything else (EACCES, EADDRNOTAVAIL, ...). */
export function listenExitCode(cause: unknown): number {
  const errno = errnoOf(cause);
  return errno !== undefined && TRANSIENT.has(errno) ? EXIT_TEMPFAIL : EXIT_CONFIG;
}
