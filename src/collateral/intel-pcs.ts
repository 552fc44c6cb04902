/**
 * Intel PCS v4 and PCCS client (same API, configurable base URL). URL shapes
 * and issuer-chain headers: checklist §2.4. Every response is shape-checked
 * (validate.ts) before anyone uses or caches it.
 */
import { InvalidArgumentError } from '../errors.js';
import type { CollateralArtifact } from './artifact.js';
import type { HttpClient, HttpResponse } from './http.js';
import { artifactKey, type PckCa, type QeIdentityRequest, type TcbInfoRequest } from './keys.js';
import type { IntelCollateralSource } from './source.js';
import { validateArtifactForKey } from './validate.js';
import { notServedForPlatform } from './errors.js';
import { parseSourceUrl } from './source-url.js';

export const INTEL_PCS_BASE_URL = 'https://api.trustedservices.intel.com';
/** The Root CA CRL is published on Intel's certificates host, not the PCS API host. */
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

export interface IntelPcsOptions {
  http: HttpClient;
  /** Default: Intel PCS. A PCCS uses its own base, e.g. https://pccs.example:8081. */
  baseUrl?: string;
  /** Sent as Ocp-Apim-Subscription-Key where configured. */
  apiKey?: string;
  /**
   * Root CA CRL location. Default: Intel's certificates host for the PCS base,
   * `${baseUrl}/sgx/certification/v4/rootcacrl` for any other (PCCS) base.
   */
  rootCaCrlUrl?: string;
  /** PCK CRL encoding to ask for; default "der". PCS answers PEM when not asked; both are accepted. */
  pckCrlEncoding?: 'der' | 'pem';
  /** Wall clock for the provenance timestamp only; never used in checks. */
  wallClock?: () => Date;
  /** Allow plain http to a host other than loopback (a PCCS inside a private network). Off by default (X15). */
  allowPlainHttp?: boolean;
}

const FMSPC = /^[0-9a-fA-F]{12}$/;

function query(r: { update?: string; tcbEvaluationDataNumber?: number }): string {
  if (r.tcbEvaluationDataNumber !== undefined) {
    if (!Number.isSafeInteger(r.tcbEvaluationDataNumber) || r.tcbEvaluationDataNumber < 0) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'tcbEvaluationDataNumber must be a non-negative integer');
    }
    return `tcbEvaluationDataNumber=${r.tcbEvaluationDataNumber}`;
  }
  const update = r.update ?? 'standard';
  if (update !== 'standard' && update !== 'early') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `update must be standard or early`);
  return `update=${update}`;
}

export class IntelPcsClient implements IntelCollateralSource {
  readonly baseUrl: string;
  readonly rootCaCrlUrl: string;
  readonly #http: HttpClient;
  readonly #headers: Record<string, string>;
  /** Origin of baseUrl: the only one that gets the subscription key. */
  readonly #baseOrigin: string;
  readonly #wallClock: () => Date;
  readonly #pckCrlEncoding: 'der' | 'pem';

  constructor(options: IntelPcsOptions) {
    this.#pckCrlEncoding = options.pckCrlEncoding ?? 'der';
    const base = (options.baseUrl ?? INTEL_PCS_BASE_URL).replace(/\/+$/, '');
    const allowPlainHttp = options.allowPlainHttp === true;
    const parsed = parseSourceUrl(base, 'baseUrl', allowPlainHttp);
    this.baseUrl = base;
    this.rootCaCrlUrl = options.rootCaCrlUrl ?? (base === INTEL_PCS_BASE_URL ? INTEL_ROOT_CA_CRL_URL : `${base}/sgx/certification/v4/rootcacrl`);
    parseSourceUrl(this.rootCaCrlUrl, 'rootCaCrlUrl', allowPlainHttp); // X15 and no userinfo for every URL this client fetches
    this.#http = options.http;
    this.#headers = options.apiKey ? { 'Ocp-Apim-Subscription-Key': options.apiKey } : {};
    this.#baseOrigin = parsed.origin;
    this.#wallClock = options.wallClock ?? (() => new Date());
  }

  tcbInfoUrl(r: TcbInfoRequest): string {
    if (!FMSPC.test(r.fmspc)) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'fmspc must be 12 hex digits');
    return `${this.baseUrl}/${r.tee}/certification/v4/tcb?fmspc=${r.fmspc.toUpperCase()}&${query(r)}`;
  }

  qeIdentityUrl(r: QeIdentityRequest): string {
    return `${this.baseUrl}/${r.tee}/certification/v4/qe/identity?${query(r)}`;
  }

  pckCrlUrl(ca: PckCa): string {
    if (ca !== 'platform' && ca !== 'processor') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'ca must be platform or processor');
    return `${this.baseUrl}/sgx/certification/v4/pckcrl?ca=${ca}${this.#pckCrlEncoding === 'der' ? '&encoding=der' : ''}`;
  }

  /**
   * A 404 for a channel's TCB info is the retryable ERR_COLLATERAL_NOT_FOUND
   * with `details.reason` "platform-not-served" (review s8 #1): a PCCS in REQ
   * or OFFLINE mode has not cached the FMSPC yet, which is no verdict on the
   * quote. A 404 for a configured evaluation data number is the plain
   * ERR_COLLATERAL_NOT_FOUND (retryable): the configuration's problem.
   */
  async tcbInfo(r: TcbInfoRequest): Promise<CollateralArtifact> {
    const key = artifactKey.tcbInfo(r);
    const fetched = this.#fetch('intel-tcb-info', key, this.tcbInfoUrl(r), 'tcb-info-issuer-chain');
    return r.tcbEvaluationDataNumber === undefined ? fetched.catch((err: unknown) => notServedForPlatform(err, `TCB info for FMSPC ${r.fmspc}`, key)) : fetched;
  }

  async qeIdentity(r: QeIdentityRequest): Promise<CollateralArtifact> {
    return this.#fetch('intel-qe-identity', artifactKey.qeIdentity(r), this.qeIdentityUrl(r), 'sgx-enclave-identity-issuer-chain');
  }

  async pckCrl(ca: PckCa): Promise<CollateralArtifact> {
    return this.#fetch('intel-pck-crl', artifactKey.pckCrl(ca), this.pckCrlUrl(ca), 'sgx-pck-crl-issuer-chain');
  }

  async rootCaCrl(): Promise<CollateralArtifact> {
    return this.#fetch('intel-root-ca-crl', artifactKey.rootCaCrl(), this.rootCaCrlUrl, undefined);
  }

  async #fetch(kind: CollateralArtifact['kind'], key: string, url: string, chainHeader: string | undefined): Promise<CollateralArtifact> {
    // The subscription key is for the PCS / PCCS at baseUrl only, never for another host (the root CA CRL's).
    const res: HttpResponse = await this.#http.get(url, new URL(url).origin === this.#baseOrigin ? this.#headers : {});
    const chain = chainHeader ? res.headers[chainHeader] : undefined;
    return validateArtifactForKey({
      kind,
      key,
      body: res.body,
      ...(chainHeader ? { issuerChainPem: decodeIssuerChain(chain, url, chainHeader) } : {}),
      source: { origin: 'network', url, fetchedAt: this.#wallClock().toISOString() },
    });
  }
}

/** Issuer chains arrive URL-encoded in a header; a missing header is a format error of the response. */
function decodeIssuerChain(value: string | undefined, url: string, header: string): string {
  if (value === undefined) return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return `\u0000invalid ${header} from ${url}`;
  }
}
