/**
 * The key a per-client limit counts under, from the TCP peer address
 * (`socket.remoteAddress`). Keying by the exact address lets an IPv6 client
 * escape any limit: a host is normally given a whole /64 and may pick a new
 * address in it for every request. So:
 *
 *   IPv4 a.b.c.d                          a.b.c.d
 *   ::ffff:a.b.c.d (IPv4-mapped)          a.b.c.d   (a dual-stack listener reports IPv4 peers so)
 *   64:ff9b::a.b.c.d (NAT64, RFC 6052)    a.b.c.d   (else every IPv4 client of an IPv6-only host is one /64)
 *   any other IPv6                        its /64, "2001:db8:1:2::/64", with the zone id when Node
 *                                         reports one ("fe80:0:0:0::/64%eth0": one prefix on two links
 *                                         is two clients)
 *   not an IP address                     "other:<text>" ("unknown" when absent)
 */
import { isIP } from 'node:net';

/** The eight 16-bit groups of an IPv6 address already accepted by isIP (no zone); forwarded.ts matches ranges with them. */
export function ipv6Hextets(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // A dotted IPv4 tail ("::ffff:1.2.3.4") is the last two groups.
    const [a, b, c, d] = text.slice(lastColon + 1).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const gap = text.indexOf('::');
  if (gap < 0) return groups(text);
  const head = groups(text.slice(0, gap));
  const tail = groups(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

const dotted = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const percent = address.indexOf('%');
  const bare = percent < 0 ? address : address.slice(0, percent);
  const zone = percent < 0 ? '' : address.slice(percent);
  const kind = isIP(bare);
  if (kind === 4) return bare;
  if (kind !== 6 || zone === '%') return `other:${address}`;
  const g = ipv6Hextets(bare);
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return dotted(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return dotted(g6, g7);
  return `${[g0, g1, g2, g3].map((n) => n.toString(16)).join(':')}::/64${zone}`;
}
