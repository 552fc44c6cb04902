/**
 * The attested client. `new AttestedClient(gatewayUrl, options)` (or the
 * one-shot `attestedFetch`) sends nothing to the gateway's chat API before:
 *
 *   1. a TLS connection to the gateway is opened and its peer certificate read;
 *   2. a fresh random 32-byte nonce is POSTed to /v1/attestation on it;
 *   3. the answer is verified (verify.ts) against the caller's policy, with the
 *      binding recomputed from the certificate actually presented on that connection.
 *
 * Requests then go through an undici Agent whose `connect` hook reads every
 * new connection's certificate and lets it through only when its public key
 * is one that a verified attestation covers (pinning); a new key triggers a
 * new attestation first. A refusal is an AttestationRefusedError; no request
 * byte is sent.
 */
import { randomBytes } from 'node:crypto';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

import { Agent, fetch as undiciFetch, type Dispatcher, type RequestInit, type Response } from 'undici';

import { loadPolicy, type CollateralService, type Policy, type TrustRoots } from '../index.js';
import { AttestationRefusedError } from './errors.js';
import { presentedSpkiSha256, verifyAttestationAnswer, type GatewayVerification } from './verify.js';

export interface AttestedClientOptions {
  /** The caller's policy: a loaded Policy, or JSON text / object for loadPolicy. */
  policy: Policy | string | object;
  collateral: CollateralService;
  /** Default: production roots. */
  trustRoots?: TrustRoots;
  /** The verification instant; default: the wall clock at each attestation. */
  at?: Date | (() => Date);
  /** A verified key is re-attested after this long at most; default 1 hour. */
  maxAgeMs?: number;
  /** Connections per origin; default 64. */
  connections?: number;
  /** Attestation exchange and TLS handshake timeout; default 30 s. */
  timeoutMs?: number;
}

const MAX_ANSWER_BYTES = 1 << 20;

interface Exchange {
  answer: unknown;
  certificate: Uint8Array;
}

/** POST /v1/attestation {nonce} on a new TLS connection; returns the answer and the certificate of that connection. */
function exchange(origin: URL, nonce: Buffer, timeoutMs: number, secureContext: SecureContext): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown): void => reject(new AttestationRefusedError('ERR_ATTEST_EXCHANGE', why, { cause }));
    const body = JSON.stringify({ nonce: nonce.toString('base64') });
    // secureContext is passed through to tls.connect (missing from @types/node's RequestOptions).
    const options: RequestOptions & { secureContext: SecureContext } = {
      method: 'POST',
      agent: false,
      // The certificate is self-signed: trust comes from the attestation bound to its key, checked below.
      rejectUnauthorized: false,
      secureContext,
      ...(isIP(origin.hostname) ? {} : { servername: origin.hostname }),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), accept: 'application/json' },
      timeout: timeoutMs,
    };
    const req = httpsRequest(new URL('/v1/attestation', origin), options);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => fail(`attestation exchange failed: ${e.message}`, e));
    req.on('response', (res) => {
      const certificate = new Uint8Array((res.socket as TLSSocket).getPeerCertificate().raw ?? []);
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_ANSWER_BYTES) req.destroy(new Error('attestation answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return fail(`the gateway answered ${res.statusCode} to /v1/attestation: ${text.slice(0, 300)}`);
        if (certificate.length === 0) return fail('no peer certificate on the attestation connection');
        try {
          resolve({ answer: JSON.parse(text), certificate });
        } catch (e) {
          fail('the attestation answer is not JSON', e);
        }
      });
    });
    req.end(body);
  });
}

export class AttestedClient {
  readonly origin: URL;
  readonly #policy: Policy;
  readonly #o: AttestedClientOptions;
  readonly #verified = new Map<string, { v: GatewayVerification; until: number }>();
  #inflight: Promise<GatewayVerification> | undefined;
  #agent: Agent;
  /** One TLS context for every connection: building one per connection (CA store, options) costs more than the handshake's own crypto. */
  readonly #secureContext = createSecureContext();
  /** The latest verification (undefined before the first). */
  last: GatewayVerification | undefined;

  constructor(gatewayUrl: string | URL, options: AttestedClientOptions) {
    this.origin = new URL(new URL(gatewayUrl).origin);
    if (this.origin.protocol !== 'https:') throw new RangeError('the gateway URL must be https:');
    if (!options?.collateral) throw new TypeError('options.collateral is required');
    if (options.policy === undefined) throw new TypeError('options.policy is required');
    this.#policy = loadPolicy(options.policy as object);
    this.#o = options;
    this.#agent = this.#newAgent();
  }

  #newAgent(): Agent {
    const connect = (opts: { hostname: string; port: string }, cb: (err: Error | null, socket: TLSSocket | null) => void): void => this.#connect(opts, cb);
    return new Agent({ connections: this.#o.connections ?? 64, connect: connect as unknown as Agent.Options['connect'] });
  }

  #now(): Date {
    const at = this.#o.at;
    return typeof at === 'function' ? at() : (at ?? new Date());
  }

  /** A fresh attestation on a new connection; its key joins the verified set. */
  attest(): Promise<GatewayVerification> {
    this.#inflight ??= (async () => {
      try {
        const nonce = randomBytes(32);
        const { answer, certificate } = await exchange(this.origin, nonce, this.#o.timeoutMs ?? 30_000, this.#secureContext);
        const v = await verifyAttestationAnswer(answer, nonce, certificate, {
          policy: this.#policy,
          collateral: this.#o.collateral,
          at: this.#now(),
          ...(this.#o.trustRoots ? { trustRoots: this.#o.trustRoots } : {}),
        });
        const until = Math.min(Date.parse(v.validUntil), Date.now() + (this.#o.maxAgeMs ?? 3_600_000));
        if (!this.#verified.has(v.spkiSha256) && this.#verified.size > 0) {
          // The gateway's key changed: only the newly verified key stays trusted, and pooled
          // connections to older keys are retired (in-flight requests finish first).
          this.#verified.clear();
          const old = this.#agent;
          this.#agent = this.#newAgent();
          void old.close();
        }
        this.#verified.set(v.spkiSha256, { v, until });
        this.last = v;
        return v;
      } finally {
        this.#inflight = undefined;
      }
    })();
    return this.#inflight;
  }

  async #ensure(spki: string): Promise<void> {
    const hit = this.#verified.get(spki);
    if (hit && hit.until > Date.now()) return;
    this.#verified.delete(spki);
    const v = await this.attest();
    if (v.spkiSha256 !== spki) throw new AttestationRefusedError('ERR_ATTEST_PINNING', 'this connection presented a TLS key that no verified attestation covers');
  }

  #connect(opts: { hostname: string; port: string }, cb: (err: Error | null, socket: TLSSocket | null) => void): void {
    let done = false;
    const once = (err: Error | null, s: TLSSocket | null): void => {
      if (done) return;
      done = true;
      cb(err, s);
    };
    const host = opts.hostname;
    const socket = tlsConnect({ host, port: Number(opts.port) || 443, rejectUnauthorized: false, secureContext: this.#secureContext, ALPNProtocols: ['http/1.1'], ...(isIP(host) ? {} : { servername: host }) });
    socket.setNoDelay(true);
    const timeoutMs = this.#o.timeoutMs ?? 30_000;
    const handshake = setTimeout(() => socket.destroy(new Error(`TLS handshake not done within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(handshake);
      once(e, null);
    });
    socket.once('secureConnect', () => {
      clearTimeout(handshake);
      const raw = socket.getPeerCertificate().raw;
      if (!raw) return once(new AttestationRefusedError('ERR_ATTEST_PINNING', 'no peer certificate'), null);
      this.#ensure(presentedSpkiSha256(new Uint8Array(raw)).toString('hex')).then(
        () => once(null, socket),
        (e: Error) => {
          socket.destroy();
          once(e, null);
        },
      );
    });
  }

  /** Attests first when no key is verified yet, then fetches over pinned connections. */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input, this.origin);
    if (url.origin !== this.origin.origin) throw new RangeError(`this client is for ${this.origin.origin}`);
    if (![...this.#verified.values()].some((e) => e.until > Date.now())) await this.attest();
    try {
      return await undiciFetch(url, { ...init, dispatcher: this.#agent as Dispatcher });
    } catch (e) {
      const cause = (e as { cause?: unknown }).cause;
      if (cause instanceof AttestationRefusedError) throw cause;
      throw e;
    }
  }

  /** Closes pooled connections once in-flight requests finish. */
  close(): Promise<void> {
    return this.#agent.close();
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
