/**
 * AMD Key Distribution Service client (checklist §4.3): VCEK by product,
 * hardware ID and TCB; ASK/ARK (or ASVK/ARK) cert_chain and CRL per product.
 * The base URL is fixed configuration, never taken from evidence (S34).
 */
import { InvalidArgumentError } from '../errors.js';
import type { CollateralArtifact } from './artifact.js';
import type { HttpClient } from './http.js';
import { artifactKey, type AmdKeyKind, type AmdProduct, type VcekRequest } from './keys.js';
import type { AmdCollateralSource } from './source.js';
import { validateArtifactForKey } from './validate.js';
import { unknownPlatformOn404 } from './errors.js';
import { parseSourceUrl } from './source-url.js';

export const AMD_KDS_BASE_URL = 'https://kdsintf.amd.com';
const PRODUCTS: readonly AmdProduct[] = ['Milan', 'Genoa', 'Turin'];

export interface AmdKdsOptions {
  http: HttpClient;
  baseUrl?: string;
  wallClock?: () => Date;
  /** Allow plain http to a host other than loopback (a KDS cache inside a private network). Off by default (X15). */
  allowPlainHttp?: boolean;
}

function spl(name: string, v: number | undefined): number {
  if (v === undefined || !Number.isInteger(v) || v < 0 || v > 255) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${name} must be 0..255`);
  return v;
}

export class AmdKdsClient implements AmdCollateralSource {
  readonly baseUrl: string;
  readonly #http: HttpClient;
  readonly #wallClock: () => Date;

  constructor(options: AmdKdsOptions) {
    this.baseUrl = (options.baseUrl ?? AMD_KDS_BASE_URL).replace(/\/+$/, '');
    parseSourceUrl(this.baseUrl, 'baseUrl', options.allowPlainHttp === true);
    this.#http = options.http;
    this.#wallClock = options.wallClock ?? (() => new Date());
  }

  /**
   * Milan / Genoa: 64-byte hwID (128 hex) and bl/tee/snp/ucode SPLs. Turin:
   * 8-byte hwID (16 hex; the long form answers 404) and fmcSPL first (V34).
   */
  vcekUrl(r: VcekRequest): string {
    const product = checkProduct(r.product);
    const hwLength = product === 'Turin' ? 8 : 64;
    if (!(r.hwId instanceof Uint8Array) || r.hwId.length < hwLength) {
      throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${product} hwId needs ${hwLength} bytes`);
    }
    const hwid = Buffer.from(r.hwId.subarray(0, hwLength)).toString('hex');
    const tcb = `blSPL=${spl('bootloader', r.bootloader)}&teeSPL=${spl('tee', r.tee)}&snpSPL=${spl('snp', r.snp)}&ucodeSPL=${spl('microcode', r.microcode)}`;
    const fmc = product === 'Turin' ? `fmcSPL=${spl('fmc', r.fmc)}&` : '';
    return `${this.baseUrl}/vcek/v1/${product}/${hwid}?${fmc}${tcb}`;
  }

  certChainUrl(product: AmdProduct, key: AmdKeyKind): string {
    return `${this.baseUrl}/${checkKey(key)}/v1/${checkProduct(product)}/cert_chain`;
  }

  crlUrl(product: AmdProduct, key: AmdKeyKind): string {
    return `${this.baseUrl}/${checkKey(key)}/v1/${checkProduct(product)}/crl`;
  }

  /** A 404 means KDS knows no such chip and TCB: ERR_COLLATERAL_UNKNOWN_PLATFORM, final for that report. */
  async vcek(r: VcekRequest): Promise<CollateralArtifact> {
    const key = artifactKey.vcek(r);
    return this.#fetch('amd-vcek', key, this.vcekUrl(r)).catch((err: unknown) => unknownPlatformOn404(err, 'VCEK for this chip ID and TCB', key));
  }

  async certChain(product: AmdProduct, key: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#fetch('amd-cert-chain', artifactKey.certChain(product, key), this.certChainUrl(product, key));
  }

  async crl(product: AmdProduct, key: AmdKeyKind): Promise<CollateralArtifact> {
    return this.#fetch('amd-crl', artifactKey.amdCrl(product, key), this.crlUrl(product, key));
  }

  async #fetch(kind: CollateralArtifact['kind'], key: string, url: string): Promise<CollateralArtifact> {
    const res = await this.#http.get(url);
    return validateArtifactForKey({ kind, key, body: res.body, source: { origin: 'network', url, fetchedAt: this.#wallClock().toISOString() } });
  }
}

function checkProduct(p: AmdProduct): AmdProduct {
  if (!PRODUCTS.includes(p)) throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `unknown AMD product ${String(p)}`);
  return p;
}

function checkKey(k: AmdKeyKind): AmdKeyKind {
  if (k !== 'vcek' && k !== 'vlek') throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'key must be vcek or vlek');
  return k;
}
