/**
 * A per-client bound on open connections (s15 red team, service finding 2).
 *
 * `server.maxConnections` is global: connections beyond it are closed at
 * once, whoever opens them, so one client holding that many idle sockets
 * (reopening each one the server cuts) denies every other client. This caps
 * what one client may hold open at once; the global bound stays, for memory.
 *
 * The client is the TCP peer, keyed as every per-client limit of the project
 * keys it (src/net/client-key.ts): an IPv4 address (IPv4-mapped and NAT64
 * IPv6 folded to it), or an IPv6 /64 — and an IPv6 peer's /56 and /48 count
 * against the same cap (widerClientKeys), so that one holder of a /48 cannot
 * open `perClient` connections from each of its 65 536 /64s. X-Forwarded-For
 * is never read here: a connection is counted when it is accepted, before any
 * request on it.
 *
 * Peers for which `exempt(address)` is true are not counted: a trusted reverse
 * proxy multiplexes many clients over its connections, so capping its address
 * would cap every client behind it as one (the proxy must bound its own
 * clients' connections, and `maxConnections` still bounds the total).
 *
 * A connection over the cap is destroyed as soon as it is accepted (before any
 * TLS handshake or request byte is read) and counted in `refused`.
 *
 * Adopting it: `new ConnectionCap({ perClient, exempt }).attach(server)` once,
 * before `listen`, on a node:http, node:https or node:net server.
 */
import type { Server as NetServer, Socket } from 'node:net';

import { clientKey, widerClientKeys } from './client-key.js';

export interface ConnectionCapOptions {
  /** Open connections one client key (and each wider IPv6 group of it) may hold. */
  perClient: number;
  /** Peers not counted at all (trusted proxies); given the socket's remoteAddress. */
  exempt?: (address: string | undefined) => boolean;
}

/** The default cap for a server that holds at most `maxConnections`: a sixteenth of it, at least 8. */
export function defaultConnectionsPerClient(maxConnections: number): number {
  return Math.max(8, Math.ceil(maxConnections / 16));
}

export class ConnectionCap {
  readonly perClient: number;
  readonly #exempt: (address: string | undefined) => boolean;
  /** Open connections per key (and wider IPv6 group); only keys that hold one. */
  readonly #open = new Map<string, number>();
  #refused = 0;

  constructor(options: ConnectionCapOptions) {
    if (!Number.isSafeInteger(options.perClient) || options.perClient < 1) throw new RangeError('the per-client connection cap must be a positive integer');
    this.perClient = options.perClient;
    this.#exempt = options.exempt ?? (() => false);
  }

  /** Connections destroyed because their client was at its cap, since start (a counter for metrics). */
  get refused(): number {
    return this.#refused;
  }

  /** Client keys (and wider IPv6 groups) holding at least one counted connection. */
  get trackedKeys(): number {
    return this.#open.size;
  }

  /** Counted connections open under `key` (a clientKey, or a wider group); for tests and diagnostics. */
  openFor(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /**
   * Counts a newly accepted socket, or destroys it when its client is at the cap. Returns whether it
   * was admitted. The count is released when the socket closes.
   */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress;
    if (this.#exempt(address)) return true;
    const key = clientKey(address);
    const keys = [key, ...widerClientKeys(key)];
    if (keys.some((k) => (this.#open.get(k) ?? 0) >= this.perClient)) {
      this.#refused++;
      socket.destroy();
      return false;
    }
    for (const k of keys) this.#open.set(k, (this.#open.get(k) ?? 0) + 1);
    socket.once('close', () => {
      for (const k of keys) {
        const n = (this.#open.get(k) ?? 1) - 1;
        if (n > 0) this.#open.set(k, n);
        else this.#open.delete(k);
      }
    });
    return true;
  }

  /**
   * Applies the cap to every connection `server` accepts ('connection': the raw TCP socket, before
   * the TLS handshake on an https server). Listeners registered by the server itself run first, so
   * the socket is fully set up when it is destroyed.
   */
  attach(server: NetServer): this {
    server.on('connection', (socket: Socket) => void this.admit(socket));
    return this;
  }
}
