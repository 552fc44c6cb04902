/**
 * The human report's warnings with the collateral grace period said once per
 * artifact. Each layer reports the same use of the grace on its own: the
 * collateral service per artifact, the verifier per check (T14, T18, T21) and
 * again for T45, and the policy restates each as X02; three expired artifacts
 * made 21 lines (review s8). Here the grace lines that name an artifact key
 * become one line per artifact and expiry, listing the checks that reported
 * it; a per-check line without a key is dropped when a keyed line has the
 * same expiry instant (every artifact used in grace has one). --json keeps
 * every warning as the layers wrote it.
 */

interface GraceLine {
  instant: string;
  key?: string;
  ids: string[];
  seconds?: string;
  byPolicy: boolean;
}

const GRACE = /grace period used: /;

function parseGrace(line: string): GraceLine | undefined {
  if (!GRACE.test(line)) return undefined;
  const instant = /expired at (\d{4}-\d{2}-\d{2}T[\d:.]+Z)/.exec(line)?.[1];
  if (instant === undefined) return undefined;
  const key = /\b((?:intel|amd)\/[^\s,()]+)/.exec(line)?.[1];
  const ids = [/^([TSX]\d{2}):/.exec(line)?.[1], /grace period used: ([TSX]\d{2}) /.exec(line)?.[1]].filter((id): id is string => id !== undefined);
  const seconds = /grace(?: of)? (\d+) s\b/.exec(line)?.[1];
  return { instant, ...(key === undefined ? {} : { key }), ids, ...(seconds === undefined ? {} : { seconds }), byPolicy: /policy/.test(line) };
}

function order(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort((a, b) => (a[0] === b[0] ? Number(a.slice(1)) - Number(b.slice(1)) : a < b ? -1 : 1));
}

/** The warnings in their order, the grace lines of one artifact collapsed into the first one's place. */
export function collapseGraceWarnings(warnings: readonly string[]): string[] {
  const parsed = warnings.map(parseGrace);
  const keyedInstants = new Set(parsed.filter((g) => g?.key !== undefined).map((g) => g!.instant));
  // An unkeyed line (its check id, the grace it names) belongs to every artifact of its instant.
  const byInstant = new Map<string, GraceLine[]>();
  for (const g of parsed) if (g) byInstant.set(g.instant, [...(byInstant.get(g.instant) ?? []), g]);
  const out: string[] = [];
  const done = new Set<string>();
  warnings.forEach((line, i) => {
    const g = parsed[i];
    if (!g) return void out.push(line);
    if (g.key === undefined) {
      if (!keyedInstants.has(g.instant)) out.push(line);
      return;
    }
    const id = `${g.key} ${g.instant}`;
    if (done.has(id)) return;
    done.add(id);
    const all = byInstant.get(g.instant)!;
    const seconds = all.find((x) => x.seconds !== undefined)?.seconds;
    const grace = seconds === undefined ? '' : all.some((x) => x.byPolicy) ? `, within the policy's grace of ${seconds} s` : ` (grace ${seconds} s)`;
    const ids = order(all.flatMap((x) => x.ids));
    out.push(`grace period used: ${g.key} expired at ${g.instant}${grace}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}`);
  });
  return [...new Set(out)];
}
