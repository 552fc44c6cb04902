import type { CollateralArtifact } from './artifact.js';

/** What a source answers for a fixed document: an artifact, whose origin says where it came from. */
type Answer = Pick<CollateralArtifact, 'source'>;

function fromNetwork(answer: Answer): boolean {
  return answer?.source?.origin === 'network';
}

/**
 * Whether a collateral source serves now (review s6b #2). A 404 for what the
 * evidence names (the VCEK of its chip; Intel gives no verdict since review
 * s8) is a verdict on the evidence only from a source that works: one that
 * answered 2xx for a fixed document (CRL, chain) within `windowMs` on the provider
 * clock. A warm cache holds those documents without asking, so when no such
 * answer is recent, one probe asks the source for a fixed document; a probe
 * that fails is remembered for the same window, so a flood of 404s during an
 * outage costs at most one probe per window.
 *
 * Only an answer that came from the network counts (review s13 #1): a source
 * that falls back to an explicit bundle when the network fails (the CLI's
 * `verify --collateral` and `serve --collateral`) answers the bundle's copy,
 * whose `source.origin` is `bundle`, and that says nothing about the KDS. A
 * custom source's answer counts only with `source.origin: 'network'`.
 *
 * The service keeps one per signing key kind and AMD product (vcek/vlek ×
 * Milan, Genoa, Turin): the KDS path names both (`/vcek/v1/<product>/...`,
 * `/vlek/v1/<product>/...`), and a mirror that serves the documents under one
 * prefix says nothing about another's (review s13 CR #1: a mirror of the
 * VLEK documents alone gave a VCEK 404 the final verdict).
 */
export class SourceLiveness {
  /** Last 2xx answer for a fixed document (provider clock). */
  #servedAt = Number.NEGATIVE_INFINITY;
  /** Last probe that failed (provider clock). */
  #failedAt = Number.NEGATIVE_INFINITY;
  #probe: Promise<boolean> | undefined;

  constructor(
    readonly windowMs: number,
    readonly clock: () => number,
  ) {}

  /** Records a 2xx answer for a fixed document. */
  served(): void {
    this.#servedAt = this.clock();
    this.#failedAt = Number.NEGATIVE_INFINITY;
  }

  /** `fetch` with its success recorded when the answer came from the network (wraps a fixed document's fetch). */
  track<T extends Answer>(fetch: () => Promise<T>): () => Promise<T> {
    return () =>
      fetch().then((value) => {
        if (fromNetwork(value)) this.served();
        return value;
      });
  }

  /**
   * True when the source served a fixed document within the window, else
   * after a successful probe (`probe` fetches one, bypassing any cache);
   * false after a failed probe, remembered for the window. A probe answered
   * from anywhere but the network (a bundle fallback) failed. Concurrent
   * callers share one probe.
   */
  serves(probe: () => Promise<Answer>): Promise<boolean> {
    const t = this.clock();
    if (this.#within(this.#servedAt, t)) return Promise.resolve(true);
    if (this.#within(this.#failedAt, t)) return Promise.resolve(false);
    this.#probe ??= probe().then(
      (answer) => {
        if (!fromNetwork(answer)) {
          this.#failedAt = this.clock();
          return false;
        }
        this.served();
        return true;
      },
      () => {
        this.#failedAt = this.clock();
        return false;
      },
    ).finally(() => {
      this.#probe = undefined;
    });
    return this.#probe;
  }

  #within(at: number, t: number): boolean {
    return t >= at && t - at < this.windowMs;
  }
}
