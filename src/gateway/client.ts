/**
 * The attested client. `new AttestedClient(gatewayUrl, options)` (or the
 * one-shot `attestedFetch`) sends nothing to the gateway's chat API before the
 * TLS connection that will carry it is covered by a verified attestation.
 *
 * Requests go through an undici Agent whose `connect` hook opens each TLS
 * connection itself and reads the peer certificate. When the certificate's
 * key is not covered yet, the attestation happens in-band, on that very
 * socket (inband.ts): a fresh random 32-byte nonce is POSTed to
 * /v1/attestation, the answer is verified (verify.ts) against the caller's
 * policy with the binding recomputed from THIS socket's certificate, and only
 * then is the socket handed to undici for the requests. One TLS handshake and
 * no second HTTP stack per attested connection.
 *
 * If the server closes the connection after the answer (or announces it), the
 * verified key is still trusted and a new connection is opened, handed over
 * only if it presents that key (ERR_ATTEST_PINNING otherwise). A refusal is
 * an AttestationRefusedError; no request byte is sent. A refusal that judges
 * the TEE behind a key (policy, debug, evidence, vTPM, about evidence bound to
 * this connection: verify.ts judgesBoundTee) also ends the trust an earlier
 * attestation gave that key (#revoke), even when a framing error is what the
 * caller sees. A 429, or a 503 ERR_GATEWAY_EVIDENCE_BUSY, is retried once, after
 * its Retry-After, when that wait fits in timeoutMs.
 *
 * Trust is judged on the caller's clock (`at`), like the verification itself:
 * a key verified at instant T is trusted until min(T + maxAgeMs, collateral
 * expiry) of that clock, and also for at most maxAgeMs of elapsed monotonic
 * time (performance.now()): a fixed `at` never moves, yet trust still ends.
 */
import { randomFillSync } from 'node:crypto';
import { isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, type TLSSocket } from 'node:tls';

import { Agent, Client, fetch as undiciFetch, Pool, type Dispatcher, type RequestInit, type Response } from 'undici';

import { loadPolicy, type CollateralService, type Policy, type TrustRoots } from '../index.js';
import type { ReferenceList } from '../vtpm/reference.js';
import type { TpmHashName } from '../vtpm/types.js';
import { AttestationRefusedError } from './errors.js';
import { exchangeOnSocket } from './inband.js';
import { answerExcerpt, errorCodeOf, jsonShapeRefusal } from './json-guard.js';
import { handshakeServername, readPresentedCertificate, type HandshakeEvidence, type ReadCertificate } from './handshake-evidence.js';
import { judgesBoundTee, presentedCertificate, presentedCertificateBySpan, verifyAttestationAnswer, verifyBoundEvidence, type GatewayVerification, type PresentedCertificate } from './verify.js';
import { vtpmClientOptions, type VtpmClientOptions } from './vtpm-verify.js';

export interface AttestedClientOptions {
  /** The caller's policy: a loaded Policy, or JSON text / object for loadPolicy. */
  policy: Policy | string | object;
  collateral: CollateralService;
  /** Default: production roots. */
  trustRoots?: TrustRoots;
  /** The verification instant, also the clock collateral expiry of the trust is judged on; default: the wall clock. */
  at?: Date | (() => Date);
  /**
   * A verified key is re-attested after this long at most, on whichever runs further: the `at`
   * clock or elapsed monotonic time (so a fixed `at` does not make trust last forever); default 1 hour.
   * 0: no trust outlives its attestation: every request attests first, and a new connection is
   * handed over only with the attestation made on it, or the one it waited for.
   */
  maxAgeMs?: number;
  /** Connections per origin; default 64. */
  connections?: number;
  /** TLS handshake timeout, and the whole attestation exchange's; default 30 s. */
  timeoutMs?: number;
  /** Bounds of the in-band attestation answer; defaults 16 KiB of header block, 1 MiB of body. */
  maxAnswerHeaderBytes?: number;
  /** Default 1 MiB; 64 MiB when vTPM evidence is asked for (its logs can be large). */
  maxAnswerBytes?: number;
  /**
   * The vTPM path (docs/gateway.md): 'auto' (default) asks for vTPM evidence
   * (`"format": "vtpm"`) and verifies it when the gateway offers it; a gateway
   * without a vTPM answers as before. 'off' sends the plain request.
   */
  vtpm?: 'auto' | 'off';
  /** Reference list for the policy's vtpm section (a loaded list, or JSON text / object for loadReferenceList). Needs a policy with a vtpm section. */
  reference?: ReferenceList | string | object;
  /** Bank the TPM quote must cover; default sha256. */
  requiredBank?: TpmHashName;
  /** Relaxation: accept a SHA-1-only TPM quote (a warning). */
  allowSha1?: boolean;
  /**
   * Evidence in the TLS handshake (docs/gateway.md, "Evidence in the handshake"): a connection that
   * needs an attestation sends its fresh nonce in the ClientHello's server name, and a tee-gateway
   * answers with a certificate for its key that carries the evidence: no request, one round trip
   * less. A certificate without evidence (another server, or a gateway that is busy or has it off)
   * falls back to the in-band exchange on the same connection. The server name then is not the
   * gateway's host name (SNI-routing proxies in between would not route it). Hardware evidence
   * only: a policy with a vtpm section cannot use it. Default false.
   */
  handshakeEvidence?: boolean;
}


const ATTESTATION_PATH = '/v1/attestation';
/** An attested socket parked by attest() is used only while the server surely keeps it open: its Keep-Alive hint minus this margin. */
const SPARE_MARGIN_MS = 1000;
const SPARE_DEFAULT_IDLE_MS = 2000;

/** Fresh nonces from the CSPRNG, drawn in batches (one system call per NONCE_BATCH attestations); a slab is never reused. */
const NONCE_BYTES = 32;
const NONCE_BATCH = 64;
let nonceSlab = Buffer.alloc(0);
let nonceNext = 0;
function freshNonce(): Buffer {
  if (nonceNext + NONCE_BYTES > nonceSlab.length) {
    nonceSlab = randomFillSync(Buffer.allocUnsafeSlow(NONCE_BYTES * NONCE_BATCH));
    nonceNext = 0;
  }
  const nonce = nonceSlab.subarray(nonceNext, nonceNext + NONCE_BYTES);
  nonceNext += NONCE_BYTES;
  return nonce;
}

/** Evidence the gateway put in the certificate it presented, for the nonce this connection sent. */
interface HandshakeAttestation {
  nonce: Buffer;
  found: HandshakeEvidence;
  /** The verification instant, and performance.now() when the evidence was asked for (before the handshake). */
  at: Date;
  since: number;
}

interface Opened {
  socket: TLSSocket;
  certificate: PresentedCertificate;
  /** Present when the connection asked for evidence in its handshake and the certificate carries some. */
  handshake?: HandshakeAttestation | undefined;
  /** The pinned key: SHA-256 of the presented SPKI, hex. */
  spki: string;
  /**
   * Removes the error guard #open leaves on the socket. Until the socket is
   * handed to undici or parked (both listen for errors themselves), a reset
   * while it waits must close it, not crash the process (no 'error' listener).
   */
  unguard: () => void;
}

interface Spare extends Opened {
  /** Wall-clock end of the server's keep-alive window (a socket timer, not trust). */
  until: number;
  timer: NodeJS.Timeout;
  onGone: () => void;
}

/** A key's trust: the verification that gave it, until this instant of the caller's clock (ms), and for maxAgeMs of monotonic time from `since`. */
interface Trust {
  v: GatewayVerification;
  until: number;
  /** performance.now() when its evidence was asked for. */
  since: number;
}

interface Attested {
  v: GatewayVerification;
  reusable: boolean;
  idleMs: number;
}

/**
 * How long to wait before the one retry of a 429, or of a 503 ERR_GATEWAY_EVIDENCE_BUSY (the
 * gateway's evidence queue is full: s16): its Retry-After when that fits in `budgetMs`, else none.
 */
function retryWaitOf(e: unknown, budgetMs: number): number | undefined {
  if (!(e instanceof AttestationRefusedError) || e.code !== 'ERR_ATTEST_EXCHANGE') return undefined;
  const busy = e.details.status === 503 && e.details.serverCode === 'ERR_GATEWAY_EVIDENCE_BUSY';
  if (e.details.status !== 429 && !busy) return undefined;
  const wait = e.details.retryAfterMs;
  return wait !== undefined && wait <= budgetMs ? wait : undefined;
}

/**
 * One connection slot of undici's pool (a Client holds one connection at a time), knowing the key
 * its current connection presents. Every request it is given is checked again at the moment undici
 * is about to write it (StaleKeyGuard): a request queued while the key was replaced or revoked is
 * not written on a connection presenting that key (review s9, finding 1).
 */
class KeyedClient extends Client {
  /** SPKI SHA-256 (hex) of the current connection's key; set before undici writes on it. */
  key: string | undefined;
  /** Requests given to this slot that have not completed, failed or been aborted yet. */
  live = 0;

  constructor(
    origin: URL,
    opts: Client.Options,
    readonly stale: (key: string | undefined) => AttestationRefusedError | undefined,
    /** The pool generation (#newAgent call) the slot was made for. */
    readonly generation: number,
    /** Called once the slot is destroyed (close() ends in destroy() too): it can carry no request any more. */
    readonly gone: (slot: KeyedClient) => void,
    /** Called for every request the slot is given: a slot the Pool hands a request after a failed connect is tracked again. */
    readonly track: (slot: KeyedClient) => void,
  ) {
    super(origin, opts);
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.live += 1;
    // The Pool may hand a queued request to a slot it dropped after a refused connect (its 'drain'
    // follows the 'connectionError'): that slot carries requests again, so revocation and close()
    // must reach it (review s9 changes-e #1).
    this.track(this);
    return super.dispatch(opts, new StaleKeyGuard(handler, this));
  }

  override destroy(err: Error | null, callback: () => void): void;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null): Promise<void>;
  override destroy(): Promise<void>;
  override destroy(...a: unknown[]): Promise<void> | void {
    this.gone(this);
    return (super.destroy as (...x: unknown[]) => Promise<void> | void).apply(this, a);
  }
}

/**
 * Passes a request's handler through, except that when undici starts writing the request
 * (onConnect, before any byte) on a connection whose key is no longer the verified one, it aborts
 * the request with the client's refusal instead. The handler is undici's own (pre-v7) interface:
 * the pool hands its clients handlers in that form (fetch's, or an agent's unwrapped one).
 */
class StaleKeyGuard implements Dispatcher.DispatchHandler {
  readonly #h: Dispatcher.DispatchHandler;
  readonly #slot: KeyedClient;
  #ended = false;

  constructor(h: Dispatcher.DispatchHandler, slot: KeyedClient) {
    this.#h = h;
    this.#slot = slot;
  }

  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    const refusal = this.#slot.stale(this.#slot.key);
    if (refusal) return abort(refusal);
    (this.#h.onConnect as (abort: (err?: Error) => void, context?: unknown) => void)?.call(this.#h, abort, context);
  }

  onError(err: Error): void {
    this.#end();
    this.#h.onError?.(err);
  }

  onUpgrade(...a: Parameters<NonNullable<Dispatcher.DispatchHandler['onUpgrade']>>): void {
    this.#end();
    this.#h.onUpgrade?.(...a);
  }

  onResponseStarted(): void {
    this.#h.onResponseStarted?.();
  }

  onHeaders(...a: Parameters<NonNullable<Dispatcher.DispatchHandler['onHeaders']>>): boolean {
    return this.#h.onHeaders?.(...a) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.#h.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | null): void {
    this.#end();
    this.#h.onComplete?.(trailers);
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#h.onBodySent?.(chunkSize, totalBytesSent);
  }

  /** The request is over (once): the slot carries one request fewer. */
  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#slot.live -= 1;
  }
}

/** The connection for undici (which listens for errors itself); a socket that failed while it waited is refused. */
function handOver(c: Opened): Opened {
  if (c.socket.destroyed) throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', 'the connection closed while it waited for its attestation', { transient: 'closed' });
  c.unguard();
  return c;
}

export class AttestedClient {
  readonly origin: URL;
  readonly #policy: Policy;
  readonly #vtpm: VtpmClientOptions;
  readonly #o: AttestedClientOptions;
  /** Keys and their trust; an entry leaves when its key is revoked or another key is verified (expired ones stay, invalid). */
  readonly #verified = new Map<string, Trust>();
  /** The attestation in progress (on its own socket); concurrent connections wait for it instead of asking the TEE again. */
  #inflight: Promise<GatewayVerification> | undefined;
  /** An attested socket from attest() that the next connection takes instead of a new handshake. */
  #spare: Spare | undefined;
  /** The pool new requests go to; a retired pool is closed (key change) or destroyed (revocation). */
  #agent: Agent;
  /** The refusal that revoked the key in `key`: what a request still queued for that key fails with. */
  #revoked: { key: string; refusal: AttestationRefusedError } | undefined;
  /** One TLS context for every connection: building one per connection (CA store, options) costs more than the handshake's own crypto. */
  readonly #secureContext = createSecureContext();
  /** tls.connect options of every connection (host, port, SNI), derived once from the origin. */
  readonly #connectTo: { host: string; port: number; servername?: string };
  /** The latest verification (undefined before the first). */
  last: GatewayVerification | undefined;
  /** The key of the latest verification: the one the pooled connections present. */
  #lastKey: string | undefined;
  /**
   * Every connection slot the pools were given and not yet destroyed, of every pool generation:
   * undici's Agent drops a pool from its map (and only close()s it) once its open connections fall
   * to 0, even while another slot of it connects or carries a request, so destroying the Agent does
   * not reach that slot (review s9 changes b, R1). A revocation destroys the slots itself.
   */
  readonly #slots = new Set<KeyedClient>();
  /** The generation of the current pool (#agent): counts #newAgent calls. */
  #generation = 0;

  constructor(gatewayUrl: string | URL, options: AttestedClientOptions) {
    this.origin = new URL(new URL(gatewayUrl).origin);
    if (this.origin.protocol !== 'https:') throw new RangeError('the gateway URL must be https:');
    if (!options?.collateral) throw new TypeError('options.collateral is required');
    if (options.policy === undefined) throw new TypeError('options.policy is required');
    const maxAge = options.maxAgeMs;
    if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isFinite(maxAge) && maxAge >= 0)) throw new RangeError('options.maxAgeMs must be a finite number of milliseconds, 0 or more');
    this.#policy = loadPolicy(options.policy as object);
    this.#vtpm = vtpmClientOptions(this.#policy, options);
    if (options.handshakeEvidence !== undefined && typeof options.handshakeEvidence !== 'boolean') throw new RangeError('options.handshakeEvidence must be true or false');
    if (options.handshakeEvidence === true && 'vtpm' in this.#policy && this.#policy.vtpm !== undefined) {
      throw new RangeError('options.handshakeEvidence carries the hardware report only: a policy with a vtpm section needs the in-band exchange');
    }
    this.#o = options;
    const host = this.origin.hostname.replace(/^\[|\]$/g, '');
    this.#connectTo = { host, port: Number(this.origin.port) || 443, ...(isIP(host) ? {} : { servername: host }) };
    this.#agent = this.#newAgent();
  }

  #newAgent(): Agent {
    const stale = (key: string | undefined): AttestationRefusedError | undefined => this.#staleRefusal(key);
    const generation = ++this.#generation;
    const gone = (slot: KeyedClient): void => void this.#slots.delete(slot);
    const track = (slot: KeyedClient): void => void this.#slots.add(slot);
    // Each connection slot gets a connect hook that records the key its connection presents.
    const client = (origin: URL, opts: object): Dispatcher => {
      // undici asks for a pool per origin; only ours may have connections (review s9, finding 2: a
      // redirect to another origin was sent through a gateway connection, with that origin's Host).
      const ours = origin.origin === this.origin.origin;
      const slot: KeyedClient = new KeyedClient(origin, { ...opts, connect: ((_o: unknown, cb: (err: Error | null, socket: TLSSocket | null) => void): void => {
        if (!ours) return cb(new AttestationRefusedError('ERR_ATTEST_PINNING', `this client connects to ${this.origin.origin} only, not ${origin.origin} (a redirect?)`), null);
        // undici reconnects for a request aborted while its answer was read (the chat stops at the
        // answer's end marker), and drops it only once connected: no handshake, no attestation for it.
        // (Asynchronously, like any connect: undici does not resume a slot from within its own connect call.)
        if (slot.live === 0) return void queueMicrotask(() => cb(new Error('no request waits for this connection'), null));
        this.#connect().then(
          (c) => {
            slot.key = c.spki;
            cb(null, c.socket);
          },
          (e: Error) => cb(e, null),
        );
      }) as unknown as Client.Options['connect'] }, stale, generation, gone, track);
      this.#slots.add(slot);
      // A slot whose connection failed leaves its pool without being closed (undici drops it, and
      // it fails its queued requests): it is done, and must not stay in #slots.
      slot.once('connectionError', () => gone(slot));
      return slot;
    };
    return new Agent({ connections: this.#o.connections ?? 64, factory: (origin, opts) => new Pool(origin, { ...opts, factory: client }) });
  }

  /** Why a request must not go out on a connection presenting `key` now, if it must not. */
  #staleRefusal(key: string | undefined): AttestationRefusedError | undefined {
    if (key === this.#lastKey && key !== undefined) return undefined;
    if (this.#revoked && this.#revoked.key === key) return this.#revoked.refusal;
    return new AttestationRefusedError('ERR_ATTEST_PINNING', 'the gateway presented a new TLS key while this request waited for a connection; it was not sent on a connection with the replaced key (retry)', { transient: 'key-changed' });
  }

  /** The caller's clock: `at` (a fixed instant or a function), else the wall clock. */
  #now(): Date {
    const at = this.#o.at;
    return typeof at === 'function' ? at() : (at ?? new Date(Date.now()));
  }

  get #timeoutMs(): number {
    return this.#o.timeoutMs ?? 30_000;
  }

  get #maxAgeMs(): number {
    return this.#o.maxAgeMs ?? 3_600_000;
  }

  /**
   * `spki` is trusted now: within its bound on the caller's clock and within maxAgeMs of monotonic
   * time since its verification (with maxAgeMs 0 never: no clock is read).
   */
  #valid(spki: string): boolean {
    const hit = this.#verified.get(spki);
    return hit !== undefined && this.#maxAgeMs > 0 && performance.now() - hit.since < this.#maxAgeMs && hit.until > this.#now().getTime();
  }

  /**
   * `v` still stands for its key: not revoked, not replaced by another key. For connections that
   * waited for `v` or were attested by it (also with maxAgeMs 0, where #valid is never true).
   */
  #covers(v: GatewayVerification): boolean {
    const hit = this.#verified.get(v.spkiSha256);
    return hit !== undefined && (hit.v === v || this.#valid(v.spkiSha256));
  }

  /** A fresh nonce for the next connection's ClientHello when evidence in the handshake is on. */
  #handshakeNonce(): Buffer | undefined {
    return this.#o.handshakeEvidence === true ? freshNonce() : undefined;
  }

  /**
   * A new TLS connection to the origin and the SPKI hash of the certificate it presents. With
   * `nonce`, the ClientHello's server name asks for evidence bound to it, and the evidence the
   * presented certificate carries comes along (handshake-evidence.ts).
   */
  #open(nonce?: Buffer): Promise<Opened> {
    const at = nonce ? this.#now() : undefined;
    const since = performance.now();
    return new Promise((resolve, reject) => {
      const to = nonce ? { ...this.#connectTo, servername: handshakeServername(nonce) } : this.#connectTo;
      const socket = tlsConnect({ ...to, rejectUnauthorized: false, secureContext: this.#secureContext, ALPNProtocols: ['http/1.1'] });
      socket.setNoDelay(true);
      let timedOut = false;
      const onError = (e: Error): void => {
        clearTimeout(handshake);
        reject(new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `TLS connection to ${this.origin.host} failed: ${e.message}`, { cause: e, ...(timedOut ? { transient: 'timeout' as const } : {}) }));
      };
      const handshake = setTimeout(() => {
        timedOut = true;
        socket.destroy(new Error(`TLS handshake not done within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      socket.once('error', onError);
      socket.once('secureConnect', () => {
        clearTimeout(handshake);
        socket.off('error', onError);
        const guard = (): void => {}; // the socket is destroyed after an error; whoever waits sees it destroyed
        socket.on('error', guard);
        // The X509Certificate view: getPeerCertificate() would also build a parsed object and three fingerprints we never read.
        const peer = socket.getPeerX509Certificate();
        const raw = peer?.raw;
        if (!peer || !raw) {
          socket.destroy();
          return reject(new AttestationRefusedError('ERR_ATTEST_PINNING', 'no peer certificate'));
        }
        const der = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
        const unguard = (): void => void socket.off('error', guard);
        if (!nonce) {
          // Digests once per connection; the binding check reuses them.
          const certificate = presentedCertificate(der, peer);
          return resolve({ socket, certificate, spki: certificate.spkiSha256Hex, unguard });
        }
        let read: ReadCertificate | undefined;
        try {
          read = readPresentedCertificate(der);
        } catch (e) {
          socket.destroy();
          return reject(e);
        }
        // A per-connection certificate: its SPKI is hashed from its DER span once the span is shown to
        // hold the very key OpenSSL verified the handshake with (KeyObject.equals, not an SPKI re-encoding).
        const certificate = (read && presentedCertificateBySpan(der, read.spki, peer.publicKey)) ?? presentedCertificate(der, peer);
        const evidence = read?.evidence ? { nonce, found: read.evidence, at: at as Date, since } : undefined;
        resolve({ socket, certificate, spki: certificate.spkiSha256Hex, unguard, handshake: evidence });
      });
    });
  }

  /**
   * The in-band attestation on `c.socket`: nonce, bounded exchange, verification
   * against this socket's certificate. Resolves with the verification and
   * whether the socket can carry requests now; the socket is destroyed on refusal.
   */
  async #attestOn(c: Opened): Promise<Attested> {
    if (c.handshake) return this.#attestFromHandshake(c, c.handshake);
    const nonce = freshNonce();
    const at = this.#now();
    const since = performance.now();
    const vtpm = (this.#o.vtpm ?? 'auto') === 'auto';
    try {
      const res = await exchangeOnSocket(c.socket, this.origin.host, ATTESTATION_PATH, `{"nonce":"${nonce.toString('base64')}"${vtpm ? ',"format":"vtpm"' : ''}}`, {
        maxHeaderBytes: this.#o.maxAnswerHeaderBytes ?? 16 * 1024,
        maxBodyBytes: this.#o.maxAnswerBytes ?? (vtpm ? 64 << 20 : 1 << 20),
        timeoutMs: this.#timeoutMs,
      });
      let outcome: { ok: true; v: GatewayVerification } | { ok: false; refusal: unknown };
      try {
        if (res.status !== 200) {
          const serverCode = errorCodeOf(res.body);
          throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `the gateway answered ${res.status} to ${ATTESTATION_PATH}: ${answerExcerpt(res.body)}`, {
            status: res.status,
            ...(serverCode ? { serverCode } : {}),
            ...(res.retryAfterMs !== undefined ? { retryAfterMs: res.retryAfterMs } : {}),
          });
        }
        const shape = jsonShapeRefusal(res.body);
        if (shape !== undefined) throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', `the attestation answer is refused before parsing: ${shape}`);
        let answer: unknown;
        try {
          answer = JSON.parse(res.body.toString('utf8'));
        } catch (e) {
          throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', 'the attestation answer is not JSON', { cause: e });
        }
        const v = await verifyAttestationAnswer(answer, nonce, c.certificate, {
          policy: this.#policy,
          collateral: this.#o.collateral,
          at,
          ...(this.#o.trustRoots ? { trustRoots: this.#o.trustRoots } : {}),
          vtpm: this.#vtpm,
        });
        outcome = { ok: true, v };
      } catch (e) {
        outcome = { ok: false, refusal: e };
      }
      // Listeners off before anything else may touch the socket; a refused socket is never reused.
      const state = res.release();
      if (state === 'tainted') {
        c.socket.destroy();
        // A framing error outranks a verdict on the content for the caller (the answer's length was
        // wrong), but not for the key's trust: a verdict on the bound TEE still revokes.
        if (!outcome.ok && judgesBoundTee(outcome.refusal)) this.#revoke(c.spki, outcome.refusal as AttestationRefusedError);
        throw new AttestationRefusedError('ERR_ATTEST_EXCHANGE', 'bytes arrived after the end of the attestation answer (wrong Content-Length or framing)', outcome.ok ? {} : { cause: outcome.refusal });
      }
      if (state === 'closed' || res.closeAnnounced) c.socket.destroy();
      if (!outcome.ok) throw outcome.refusal;
      const { v } = outcome;
      this.#record(v, at.getTime(), since);
      const reusable = !c.socket.destroyed;
      return { v, reusable, idleMs: (res.keepAliveMs ?? SPARE_DEFAULT_IDLE_MS + SPARE_MARGIN_MS) - SPARE_MARGIN_MS };
    } catch (e) {
      c.socket.destroy();
      if (judgesBoundTee(e)) this.#revoke(c.spki, e as AttestationRefusedError);
      throw e;
    }
  }

  /**
   * The evidence the presented certificate carries, judged as an in-band answer would be: against
   * the nonce this connection sent in its server name and the key it presented. The socket is
   * destroyed on refusal; a verdict on the bound TEE revokes the key, as in #attestOn.
   */
  async #attestFromHandshake(c: Opened, h: HandshakeAttestation): Promise<Attested> {
    try {
      const parts = { evidence: h.found.evidence, auxblob: h.found.auxblob, claimedNonce: h.found.nonce.toString('base64') };
      const verified = await verifyBoundEvidence(parts, h.nonce, c.certificate, {
        policy: this.#policy,
        collateral: this.#o.collateral,
        at: h.at,
        ...(this.#o.trustRoots ? { trustRoots: this.#o.trustRoots } : {}),
        vtpm: this.#vtpm,
      });
      const v: GatewayVerification = { ...verified, evidenceIn: 'handshake' };
      this.#record(v, h.at.getTime(), h.since);
      // No answer told us the server's keep-alive window: the default one.
      return { v, reusable: !c.socket.destroyed, idleMs: SPARE_DEFAULT_IDLE_MS };
    } catch (e) {
      c.socket.destroy();
      if (e instanceof AttestationRefusedError) e.details.evidenceIn = 'handshake';
      if (judgesBoundTee(e)) this.#revoke(c.spki, e as AttestationRefusedError);
      throw e;
    }
  }

  /**
   * #attestOn, and once more on a new connection when the gateway answered 429 (or 503
   * ERR_GATEWAY_EVIDENCE_BUSY) with a Retry-After
   * that fits in timeoutMs (after waiting that long). Resolves with the connection attested.
   */
  async #attestRetrying(c: Opened): Promise<{ c: Opened; r: Attested }> {
    try {
      return { c, r: await this.#attestOn(c) };
    } catch (e) {
      const wait = retryWaitOf(e, this.#timeoutMs);
      if (wait === undefined) throw e;
      await new Promise((resolve) => setTimeout(resolve, wait));
      const next = await this.#open(this.#handshakeNonce());
      return { c: next, r: await this.#attestOn(next) };
    }
  }

  /**
   * A refusal judged the TEE behind `spki`: the key is trusted no more, whatever an earlier
   * attestation said. The parked socket goes, and so does the pool: destroyed with a refusal that
   * names the verdict, so requests queued in it fail unsent and requests in flight are cut off
   * (review s9, finding 1: close() let both run on the revoked key's connections).
   */
  #revoke(spki: string, verdict: AttestationRefusedError): void {
    const known = this.#verified.delete(spki);
    if (!known && this.#lastKey !== spki) return;
    this.#dropSpare();
    if (this.#lastKey === spki) {
      this.#lastKey = undefined;
      const checks = verdict.details.checks;
      const refusal = new AttestationRefusedError(verdict.code, `the gateway's TLS key was revoked by a verdict on its TEE (${verdict.code}${checks ? ` ${checks.join(',')}` : ''}): ${verdict.message}`, {
        ...(checks ? { checks } : {}),
        cause: verdict,
        revokedKey: spki,
      });
      this.#revoked = { key: spki, refusal };
      this.#retireAgent(this.#revoked);
    }
  }

  /**
   * New connections from here on, in a new pool. The old pool's connections present a replaced key
   * (StaleKeyGuard refuses to write a queued request on them): without `revoked` it closes once
   * its requests in flight finish; on a revocation it is destroyed, and every request in it, queued
   * or in flight, fails with the revocation's refusal.
   */
  #retireAgent(revoked?: { key: string; refusal: AttestationRefusedError }): void {
    const old = this.#agent;
    const retired = this.#generation;
    this.#agent = this.#newAgent();
    if (!revoked) return void old.close().catch(() => {});
    void old.destroy(revoked.refusal).catch(() => {});
    // Also the slots the Agent no longer holds (review s9 changes b, R1): every slot of the retired
    // pool, connected or still connecting, and every slot of an older pool presenting the revoked key.
    for (const slot of [...this.#slots]) {
      if (slot.generation === retired || slot.key === revoked.key) void slot.destroy(revoked.refusal).catch(() => {});
    }
  }

  /**
   * The newly verified key joins the verified set; a key other than the one
   * recorded last retires the older ones, also when their trust had already
   * expired (their pooled connections must not carry the next requests).
   */
  #record(v: GatewayVerification, atMs: number, since: number): void {
    // Both bounds on the caller's clock: the instant the evidence was judged at, and the collateral's
    // expiry; maxAgeMs runs on monotonic time from `since` as well (#valid), which a fixed `at` cannot stop.
    const until = Math.min(Date.parse(v.validUntil), atMs + this.#maxAgeMs);
    if (this.#lastKey !== undefined && this.#lastKey !== v.spkiSha256) {
      // The gateway's key changed: only the newly verified key stays trusted, and pooled
      // connections to older keys are retired: requests in flight finish; a queued request is
      // written only on a connection with the new key, and fails unsent (retryable) when one with
      // the old key comes free first (undici cannot move it to another connection).
      this.#verified.clear();
      this.#dropSpare();
      this.#retireAgent();
    }
    this.#verified.set(v.spkiSha256, { v, until, since });
    this.#lastKey = v.spkiSha256;
    this.last = v;
  }

  /** Runs `work` as the one attestation in progress. */
  #single(work: () => Promise<GatewayVerification>): Promise<GatewayVerification> {
    const p = work().finally(() => {
      if (this.#inflight === p) this.#inflight = undefined;
    });
    this.#inflight = p;
    return p;
  }

  #park(c: Opened, idleMs: number): void {
    this.#dropSpare();
    if (idleMs <= 0) return void c.socket.destroy();
    // Parked sockets must not keep the process alive; guard errors and closes while parked.
    const onGone = (): void => {
      if (this.#spare?.socket === c.socket) this.#dropSpare();
    };
    c.socket.unref();
    // The socket is paused (inband.ts): anything readable while parked (bytes nobody asked for, or
    // the end of the stream) means its framing cannot be trusted for a request. Drop it.
    c.socket.on('error', onGone).on('close', onGone).on('readable', onGone);
    c.unguard();
    const timer = setTimeout(onGone, idleMs).unref();
    this.#spare = { ...c, until: Date.now() + idleMs, timer, onGone };
  }

  /**
   * The parked socket, if still open within the server's keep-alive window; it is taken (not parked
   * any more). Its key's trust is not checked here (review s9, finding 5), as it is not for a pooled
   * keep-alive connection: trust is judged when fetch() dispatches. A request dispatched while trust
   * was valid may take the spare after expiry (a slot connecting for it late), like a pooled
   * connection (changes b, R7: this path is reachable). A revocation or a new key drops the spare
   * (#revoke, #record), and a request dispatched after expiry makes fetch() attest again first, whose
   * #park replaces the spare.
   */
  #takeSpare(): Opened | undefined {
    const s = this.#spare;
    if (!s) return undefined;
    this.#spare = undefined;
    clearTimeout(s.timer);
    s.socket.off('error', s.onGone).off('close', s.onGone).off('readable', s.onGone);
    if (s.socket.destroyed || s.socket.readableLength > 0 || s.until <= Date.now()) {
      s.socket.destroy();
      return undefined;
    }
    s.socket.ref();
    return s;
  }

  #dropSpare(): void {
    const s = this.#spare;
    if (!s) return;
    this.#spare = undefined;
    clearTimeout(s.timer);
    s.socket.destroy();
  }

  /**
   * A fresh attestation, in-band on a new connection; its key joins the
   * verified set and the attested connection is kept for the next request.
   * Returns the attestation in progress if there is one.
   */
  attest(): Promise<GatewayVerification> {
    return (this.#inflight ??= this.#single(async () => {
      const { c, r } = await this.#attestRetrying(await this.#open(this.#handshakeNonce()));
      if (r.reusable) this.#park(c, r.idleMs);
      return r.v;
    }));
  }

  /** undici's connect: a socket is handed over only when its key is covered by a valid verification. */
  async #connect(): Promise<Opened> {
    const spare = this.#takeSpare();
    if (spare) return spare;
    // Evidence in the handshake only for a connection that will need an attestation of its own.
    const needsAttestation = !this.#inflight && ![...this.#verified.keys()].some((k) => this.#valid(k));
    let c = await this.#open(needsAttestation ? this.#handshakeNonce() : undefined);
    try {
      if (this.#valid(c.spki)) return handOver(c);
      if (this.#inflight) {
        // Another connection is being attested: its verdict decides, no second evidence request.
        const v = await this.#inflight;
        if (v.spkiSha256 !== c.spki || !this.#covers(v)) throw new AttestationRefusedError('ERR_ATTEST_PINNING', 'this connection presented a TLS key that no verified attestation covers');
        return handOver(c);
      }
      let reusable = false;
      const v = await this.#single(async () => {
        const attested = await this.#attestRetrying(c);
        c = attested.c; // a retried attestation ran on a new connection
        reusable = attested.r.reusable;
        return attested.r.v;
      });
      if (reusable) return handOver(c);
      // The server closed the attested connection: the key is verified, the next connection must present it.
      const next = await this.#open();
      if (next.spki !== v.spkiSha256 || !this.#covers(v)) {
        next.socket.destroy();
        throw new AttestationRefusedError('ERR_ATTEST_PINNING', 'the connection after the attestation presented a TLS key that no verified attestation covers');
      }
      return handOver(next);
    } catch (e) {
      c.socket.destroy();
      throw e;
    }
  }

  /**
   * Attests (in-band, on the connection it will use) when no key is verified yet, then fetches over
   * pinned connections. Redirects are not followed unless `init.redirect` asks for it (the 3xx is
   * the answer); a redirect followed to another origin is refused (ERR_ATTEST_PINNING).
   */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input, this.origin);
    if (url.origin !== this.origin.origin) throw new RangeError(`this client is for ${this.origin.origin}`);
    // Pooled connections outlive a key's trust: re-attest first (the new attested connection is parked for this request).
    if (![...this.#verified.keys()].some((k) => this.#valid(k))) await this.attest();
    try {
      return await undiciFetch(url, { ...init, redirect: init.redirect ?? 'manual', dispatcher: this.#agent });
    } catch (e) {
      const cause = (e as { cause?: unknown }).cause;
      if (cause instanceof AttestationRefusedError) throw cause;
      throw e;
    }
  }

  /**
   * Closes pooled connections once in-flight requests finish, also those of slots the Agent no
   * longer lists (a slot its Pool dropped and then handed a queued request; review s9 changes-e #1).
   */
  async close(): Promise<void> {
    this.#dropSpare();
    await Promise.all([this.#agent.close(), ...[...this.#slots].map((slot) => slot.close().catch(() => {}))]);
  }
}

/**
 * One attested request. Pass `client` to reuse verified connections across
 * calls; without it a client is created and closed after this response.
 */
export async function attestedFetch(url: string | URL, init: RequestInit, options: AttestedClientOptions & { client?: AttestedClient }): Promise<Response> {
  const client = options.client ?? new AttestedClient(url, options);
  try {
    const res = await client.fetch(url, init);
    if (!options.client) void client.close();
    return res;
  } catch (e) {
    if (!options.client) void client.close();
    throw e;
  }
}

export type { GatewayVerification };
