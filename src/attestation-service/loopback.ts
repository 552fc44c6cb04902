/**
 * Where the attestation service may speak plain HTTP without being told to (s16 red team, env
 * finding 1): only on loopback. Over plain HTTP on any other address the verdicts, the EAR tokens
 * and the JWKS that relying parties check those tokens with go out in cleartext, so anyone on the
 * path can answer a failed appraisal with `ok: true` and a token of their own key, and serve that
 * key. The rule is tee-kbs's `isLoopbackHost` (src/kbs/server.ts, review s14 #3), repeated here so
 * the attestation service does not load the key broker's modules.
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `host` is loopback: an address literal in 127.0.0.0/8 or ::1 (an IPv4-mapped
 * ::ffff:127.x.y.z too; brackets allowed), or the name `localhost`. Decided by the address, never by
 * the text, and no name is resolved: any other host name is not loopback, even one that begins with
 * "127." (127.mycorp.example resolves wherever its owner likes).
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const bracketed = host.startsWith('[') && host.endsWith(']');
  const bare = bracketed ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 0 || (bracketed && family !== 6)) return false;
  return LOOPBACK.check(bare, family === 6 ? 'ipv6' : 'ipv4');
}

/** The start warning of a service forced to plain HTTP on `host` (forcePlainHttp / --force-plain-http). */
export function plainHttpWarning(host: string): string {
  return `tee-verify serve: WARNING: plain HTTP on ${host}, which is not loopback (--force-plain-http): verdicts, tokens and the JWKS travel unencrypted and unauthenticated unless a TLS-terminating proxy is all that reaches this address`;
}
