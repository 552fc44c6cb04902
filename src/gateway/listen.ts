/**
 * Binding the gateway's port (review s10, G3). A failed listen used to reach the command line as an
 * untyped "listen EADDRINUSE" and exit 2, which a supervisor reads as "fix the command line, do not
 * restart" for what is often a transient clash (the previous instance still stopping). Now it is
 * ERR_GATEWAY_LISTEN, with the exit status the storage errors use: 75 (EX_TEMPFAIL) when a retry can
 * succeed, 78 (EX_CONFIG) when the address or the permissions must change.
 */
import type { Server } from 'node:net';

import { EXIT_CONFIG, EXIT_TEMPFAIL } from '../storage/index.js';
import { GatewayError } from './errors.js';

/** Failures that pass without any change: the port taken by another process, a DNS lookup that timed out. */
const TRANSIENT = new Set(['EADDRINUSE', 'EAI_AGAIN']);

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another process; retry once it is free',
  EACCES: 'no permission to bind this port (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now',
};

function listenError(e: unknown, host: string, port: number): GatewayError {
  const errno = (e as NodeJS.ErrnoException)?.code;
  const reason = errno === undefined ? (e as Error)?.message : `${errno}${REASONS[errno] ? `: ${REASONS[errno]}` : ''}`;
  return new GatewayError('ERR_GATEWAY_LISTEN', 500, `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${reason}`, {}, { cause: e });
}

/** Resolves once `srv` listens; rejects with ERR_GATEWAY_LISTEN (the errno as `cause`). */
export function listenOn(srv: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Left attached once listening, as before: it absorbs one later server error (a settled promise ignores it).
    srv.once('error', (e) => reject(listenError(e, host, port)));
    srv.listen(port, host, () => resolve());
  });
}

/** 75 when the same start can succeed later (EADDRINUSE, EAI_AGAIN), 78 for everything else (EACCES, EADDRNOTAVAIL, ...). */
export function listenExitCode(e: GatewayError): number {
  const errno = (e.cause as NodeJS.ErrnoException | undefined)?.code;
  return errno !== undefined && TRANSIENT.has(errno) ? EXIT_TEMPFAIL : EXIT_CONFIG;
}
