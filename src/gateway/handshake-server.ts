/**
 * The gateway's side of evidence in the TLS handshake (docs/gateway.md, "Evidence in the handshake").
 *
 * A client that wants its connection attested without a further round trip puts a fresh 32-byte
 * nonce in the ClientHello's server name (handshake-evidence.ts, handshakeServername). This SNI
 * callback recognises such a name, asks the TEE for evidence bound exactly as POST /v1/attestation
 * binds it (binding.ts: the nonce and the SPKI of the gateway's one TLS key), and finishes the
 * handshake with a per-connection self-signed certificate for that same key that carries the
 * evidence. Any other server name gets the gateway's normal certificate.
 *
 * The evidence budget is the one /v1/attestation spends: the same rate limiter (with the peer's
 * client key; no X-Forwarded-For exists before HTTP) and the same evidence queue. When either
 * refuses, or the TEE fails, the handshake completes with the normal certificate: the client then
 * finds no evidence in it and asks in-band, where the refusal is answered with its status and
 * Retry-After. The handshake itself never fails because of evidence.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

import { clientKey } from '../net/client-key.js';
import { evidenceProviderFailure, evidenceTurn, type AttestationContext } from './attestation.js';
import { bindingReportData } from './binding.js';
import { GatewayError } from './errors.js';
import { evidenceCertificate, evidenceCertificateSigner, HANDSHAKE_CERTIFICATE_MAX_BYTES, nonceOfServername, type EvidenceCertificateSigner } from './handshake-evidence.js';
import { certificatePem, leafCertificatePem, type TlsIdentity } from './tls.js';

export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

export interface HandshakeEvidenceOptions {
  attest: AttestationContext;
  tls: TlsIdentity;
  /** Counts evidence produced and refusals, as the evidence routes do. */
  observe: { produced: () => void; refused: (code: string) => void };
  /** The instant a certificate's validity starts from; default the wall clock. */
  now?: () => Date;
}

/**
 * A TLS context presenting `cert` (PEM) with the gateway's key, for the one connection whose SNI
 * callback is about to return it. A new context per connection costs ~0.8 ms of the gateway's CPU
 * (OpenSSL 3 makes an SSL_CTX), and the client waits for it. So one context is reused and only its
 * certificate is replaced (~0.3 ms): when the callback returns a context, Node copies its certificate
 * and key into that connection at once (UseSNIContext, before any later callback can run), so a later
 * replacement never reaches an earlier connection. The replacement is Node's own SecureContext
 * method (`context.setCert`, what createSecureContext calls); where it is missing, a new context.
 */
function contextFactory(tls: TlsIdentity): (cert: string, socket: TLSSocket | undefined) => SecureContext {
  // The leaf alone (s17 change review #1): setCert replaces the certificate, not the chain, so the
  // intermediates of a --tls-cert chain file would ride along with every evidence certificate and
  // push a certificate message the size check let through past what clients accept.
  const shared = createSecureContext({ key: tls.key, cert: leafCertificatePem(tls.cert) });
  const native = (shared as unknown as { context?: { setCert?: (pem: string) => void } }).context;
  const fresh = (cert: string): SecureContext => createSecureContext({ key: tls.key, cert });
  if (typeof native?.setCert !== 'function') return fresh;
  return (cert, socket) => {
    // Node hands the context over synchronously only while nobody listens for 'OCSPRequest'
    // (lib/_tls_wrap.js requestOCSP; s17 change review #2): then a context of its own.
    const server = (socket as unknown as { server?: { listenerCount?: (event: string) => number } } | undefined)?.server;
    if (typeof server?.listenerCount !== 'function' || server.listenerCount('OCSPRequest') > 0) return fresh(cert);
    native.setCert?.(cert);
    return shared;
  };
}

/**
 * What the certificates after the first in a --tls-cert chain file add to every certificate message:
 * Node hands an SNI context's certificate over without touching the chain the connection took from
 * the server's own context (UseSNIContext sets a chain only when the SNI context has one), so the
 * intermediates go out with each evidence certificate too (s17 change review #1). Each entry costs its
 * DER plus 5 bytes (a 3-byte length and TLS 1.3's 2-byte extensions length).
 */
function chainBytes(certificatePemText: string): number {
  const blocks = certificatePemText.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.slice(1).reduce((n, pem) => n + new X509Certificate(pem).raw.length + 5, 0);
}

/**
 * The SNI callback for the gateway's HTTPS server, or undefined (with the reason) when the TLS key
 * cannot sign the per-connection certificate (an RSA-PSS or Ed448 key, say): handshakes then stay
 * as they were and clients attest in-band.
 */
export function handshakeEvidenceCallback(o: HandshakeEvidenceOptions): { callback: SniCallback } | { disabled: string } {
  let signer: EvidenceCertificateSigner;
  try {
    signer = evidenceCertificateSigner(o.tls.key, o.tls.cert);
  } catch (e) {
    return { disabled: (e as Error).message };
  }
  const now = o.now ?? (() => new Date());
  const { attest } = o;
  const withCertificate = contextFactory(o.tls);
  const room = HANDSHAKE_CERTIFICATE_MAX_BYTES - chainBytes(o.tls.cert);
  // A normal function: Node calls it as a method of the server-side TLSSocket (`this`), whose peer is the client.
  const callback = function (this: TLSSocket | undefined, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    const nonce = nonceOfServername(servername);
    if (!nonce) return cb(null); // the server's own context: the normal certificate
    const socket = this;
    const client = clientKey(socket?.remoteAddress);
    try {
      attest.limiter.takeOrRefuse(client);
    } catch (e) {
      o.observe.refused(e instanceof GatewayError ? e.code : 'ERR_GATEWAY_INTERNAL');
      return cb(null);
    }
    // A client that goes away while it waits for its turn gives its place up (as on /v1/attestation).
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    socket?.once('close', onClose);
    const reportData = bindingReportData(nonce, attest.spkiHash);
    evidenceTurn(attest, client, gone.signal, async () => {
      try {
        return await attest.provider.getEvidence(new Uint8Array(reportData));
      } catch (err) {
        throw evidenceProviderFailure(attest, err);
      }
    })
      .then((ev) => {
        const der = evidenceCertificate(signer, { tee: ev.tee, nonce, evidence: ev.evidence, ...(ev.auxblob && ev.auxblob.length > 0 ? { auxblob: ev.auxblob } : {}) }, now());
        // Evidence too large for a certificate message clients accept: the normal certificate, and in-band.
        if (der.length > room) throw new RangeError(`the evidence certificate (${der.length} bytes, with ${HANDSHAKE_CERTIFICATE_MAX_BYTES - room} bytes of chain) exceeds what clients accept in a handshake`);
        const context = withCertificate(certificatePem(der), socket);
        o.observe.produced();
        cb(null, context); // synchronously after withCertificate: see contextFactory
      })
      .catch((e: unknown) => {
        o.observe.refused(e instanceof GatewayError ? e.code : 'ERR_GATEWAY_INTERNAL');
        if (!(e instanceof GatewayError)) attest.log?.(`tee-gateway: evidence in the handshake failed: ${(e as Error)?.message}`);
        cb(null);
      })
      .finally(() => socket?.off('close', onClose));
  };
  return { callback };
}
