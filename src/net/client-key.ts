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
 *
 * One holder of a whole /48 (a common delegation) owns 65 536 /64s, so an
 * IPv6 key also belongs to wider groups that limits count as well
 * (widerClientKeys: its /56 and /48).
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

const V6_64 = /^([0-9a-f]{1,4}):([0-9a-f]{1,4}):([0-9a-f]{1,4}):([0-9a-f]{1,4})::\/64(%.*)?$/;

/**
 * The wider groups an IPv6 /64 key belongs to, narrowest first: its /56 and
 * its /48 ("2001:db8:1:200::/56", "2001:db8:1::/48", zone kept). Empty for
 * IPv4 and other keys (an IPv4 address is already the unit a host gets).
 */
export function widerClientKeys(key: string): string[] {
  const m = V6_64.exec(key);
  if (!m) return [];
  const [, a, b, c, d, zone = ''] = m as unknown as [string, string, string, string, string, string | undefined];
  const d56 = (parseInt(d, 16) & 0xff00).toString(16);
  return [`${a}:${b}:${c}:${d56}::/56${zone}`, `${a}:${b}:${c}::/48${zone}`];
}
