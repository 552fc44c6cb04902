/**
 * Binding the gateway's port (review s10, G3): ERR_GATEWAY_LISTEN, exit 75 / 78. The errno mapping and
 * the message are shared with tee-kbs and tee-verify serve (src/net/listen.ts).
 */
import type { Server } from 'node:net';

import { listenExitCode as exitCodeForCause, listenOn as listenWith } from '../net/listen.js';
import { GatewayError } from './errors.js';

/** Resolves once `srv` listens; rejects with ERR_GATEWAY_LISTEN (the errno as `cause`). */
export function listenOn(srv: Server, port: number, host: string): Promise<void> {
  return listenWith(srv, port, host, (cause, message) => new GatewayError('ERR_GATEWAY_LISTEN', 500, message, {}, { cause }));
}

/** 75 when the same start can succeed later (EADDRINUSE, EAI_AGAIN), 78 for everything else (EACCES, EADDRNOTAVAIL, ...). */
export function listenExitCode(e: GatewayError): number {
  return exitCodeForCause(e.cause);
}
