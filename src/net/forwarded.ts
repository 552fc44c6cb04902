/**
 * Whom a request comes from when a server sits behind reverse proxies: the
 * address its per-client limits count (then keyed by client-key.ts).
 *
 * The TCP peer is the client unless the peer is inside a configured trusted
 * proxy range. Only then is X-Forwarded-For read, walked from the right
 * (each proxy appends the address of its own peer, so the right-most entries
 * are the ones our own proxies wrote): the first entry that is not itself a
 * trusted proxy is the client. An untrusted peer's header is never read, so a
 * client cannot pick its own key by rotating the header.
 *
 *   accepted entries   a.b.c.d, an IPv6 address, a.b.c.d:port, [IPv6], [IPv6]:port
 *                      (the port is dropped: some proxies append it; it is not part of the key)
 *   refused entries    names, "unknown", RFC 7239 obfuscated ids ("_hidden"), zone ids, garbage:
 *                      the walk stops and the peer (our trusted proxy) is the client, so a
 *                      malformed chain never lets the sender choose the key
 *   empty elements     skipped ("a, , b"; HTTP list syntax allows them)
 *   several headers    one list, in the order received (Node joins them with ", ")
 *   every entry trusted  the left-most one (a proxy asking on its own behalf)
 *
 * Only the right-most MAX_FORWARDED_CHARS characters are read; a walk that reaches
 * the cut falls back to the peer. The RFC 7239 `Forwarded` header is not read.
 * Ranges match IPv4 and IPv4-mapped IPv6 (`::ffff:a.b.c.d`) alike: a dual-stack
 * listener reports IPv4 peers in the mapped form.
 */
import { isIP } from 'node:net';

import { ipv6Hextets } from './client-key.js';

/** How much of X-Forwarded-For is read, from its right end; real chains are a few hops. */
export const MAX_FORWARDED_CHARS = 4096;

/** A range in the 128-bit IPv6 space; IPv4 ranges sit inside ::ffff:0:0/96. */
export interface Cidr {
  /** As configured. */
  text: string;
  base: bigint;
  /** 0..128, in the IPv6 space (an IPv4 /24 is 120). */
  prefix: number;
}

const V4_MAPPED = 0xffffn << 32n;

/** An address without zone or port as 128 bits (IPv4 as IPv4-mapped IPv6); undefined when it is not one. */
function addressBits(address: string): bigint | undefined {
  if (address.includes('%')) return undefined;
  const kind = isIP(address);
  if (kind === 4) return V4_MAPPED | address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
  if (kind === 6) return ipv6Hextets(address).reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
  return undefined;
}

const inRange = (bits: bigint, c: Cidr): boolean => bits >> BigInt(128 - c.prefix) === c.base >> BigInt(128 - c.prefix);

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or one address (`10.1.2.3` = /32, `2001:db8::1` = /128). Refused
 * (RangeError): a prefix longer than the address, host bits set beyond the prefix (`10.0.0.1/8` is
 * most likely a typo), and /0, which would trust X-Forwarded-For from every peer.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const bits = addressBits(address);
  if (bits === undefined) throw new RangeError(`trusted proxy "${text}": not an IP address or CIDR range`);
  const width = isIP(address) === 4 ? 32 : 128;
  let prefix = width;
  if (slash >= 0) {
    const given = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(given) || Number(given) > width) throw new RangeError(`trusted proxy "${text}": the prefix must be 0..${width}`);
    prefix = Number(given);
  }
  if (prefix === 0) throw new RangeError(`trusted proxy "${text}": a /0 range would trust X-Forwarded-For from every peer`);
  const cidr = { text, base: bits, prefix: prefix + 128 - width };
  const hostBits = (1n << BigInt(128 - cidr.prefix)) - 1n;
  if ((bits & hostBits) !== 0n) throw new RangeError(`trusted proxy "${text}": bits are set beyond the /${prefix} prefix`);
  return cidr;
}

/** The configured trusted proxy ranges (`trustedProxies`, `--trusted-proxy`). */
export class TrustedProxies {
  readonly ranges: readonly Cidr[];

  /** Throws RangeError for a malformed range (parseCidr). */
  constructor(cidrs: readonly string[] = []) {
    this.ranges = cidrs.map(parseCidr);
  }

  get size(): number {
    return this.ranges.length;
  }

  /** Whether an address is inside a trusted range; a peer's zone id (`fe80::1%eth0`) is ignored. */
  contains(address: string | undefined): boolean {
    if (!address || this.ranges.length === 0) return false;
    const percent = address.indexOf('%');
    const bits = addressBits(percent < 0 ? address : address.slice(0, percent));
    return bits !== undefined && this.ranges.some((c) => inRange(bits, c));
  }
}

const OWS = /^[ \t]+|[ \t]+$/g;

/** The address of one X-Forwarded-For element (forms in the header comment), or undefined when malformed. */
export function forwardedAddress(element: string): string | undefined {
  const e = element.replace(OWS, '');
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(e);
  const v4WithPort = bracketed ? null : /^([0-9.]+):(\d{1,5})$/.exec(e);
  const match = bracketed ?? v4WithPort;
  const address = match ? (match[1] as string) : e;
  const port = match?.[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return undefined;
  if (addressBits(address) === undefined) return undefined;
  // Brackets hold IPv6 only; "a.b.c.d:port" is IPv4 only.
  if ((bracketed && isIP(address) !== 6) || (v4WithPort && isIP(address) !== 4)) return undefined;
  return address;
}

/**
 * The address a request counts against: `peer` (socket.remoteAddress) unless it is a trusted proxy,
 * else from X-Forwarded-For as described in the header comment. `header` is the request's
 * x-forwarded-for value(s). Pure; never throws.
 */
export function forwardedClient(peer: string | undefined, header: string | readonly string[] | undefined, trusted: TrustedProxies): string | undefined {
  if (!trusted.contains(peer)) return peer;
  const text = typeof header === 'string' ? header : (header ?? []).join(',');
  const cut = text.length > MAX_FORWARDED_CHARS;
  const elements = (cut ? text.slice(-MAX_FORWARDED_CHARS) : text).split(',');
  let furthest = peer;
  for (let i = elements.length - 1; i >= 0; i--) {
    // The first element of a cut header may be a fragment, and what lies left of it is unknown.
    if (cut && i === 0) return peer;
    const element = elements[i] as string;
    if (element.replace(OWS, '') === '') continue;
    const address = forwardedAddress(element);
    if (address === undefined) return peer;
    if (!trusted.contains(address)) return address;
    furthest = address;
  }
  return furthest;
}
