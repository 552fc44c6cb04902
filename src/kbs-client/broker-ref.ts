/**
 * Which broker (and, when the URL carries one, which key) a URL names, so that
 * two spellings of the same broker compare equal: the base URL, or the full
 * ITA-style transfer URL `<base>/kbs/v1/keys/<id>/transfer` that upstream
 * encryption-config.json files hold (protocols.md §2.2, §10.3). Scheme and host
 * are compared as WHATWG URL normalises them (lower case, default port
 * dropped); trailing slashes do not count.
 */
import { KeyBrokerClientError } from '../model/errors.js';

export interface BrokerRef {
  /** scheme://host[:port][/base path][?query]: equal for the same broker. */
  base: string;
  /** The key id inside a standard transfer URL. */
  keyId?: string;
  /** The URL is a transfer URL (standard or not) and is used verbatim. */
  isTransferUrl: boolean;
}

const STANDARD_TRANSFER = /^(.*?)\/kbs\/v1\/keys\/([^/]+)\/transfer\/?$/;

export function brokerRefOf(url: string): BrokerRef {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `not a URL: ${url}`, { cause });
  }
  if (u.username !== '' || u.password !== '') throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', 'a key broker URL must not carry credentials');
  const origin = `${u.protocol}//${u.host}`;
  const m = STANDARD_TRANSFER.exec(u.pathname);
  if (m) {
    let keyId: string;
    try {
      keyId = decodeURIComponent(m[2]!);
    } catch (cause) {
      throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `bad key id in ${url}`, { cause });
    }
    return { base: `${origin}${m[1]!.replace(/\/+$/, '')}${u.search}`, keyId, isTransferUrl: true };
  }
  // A non-standard transfer URL names its key in a way we cannot read: the whole URL is the identity.
  if (/\/transfer\/?$/.test(u.pathname)) return { base: `${origin}${u.pathname.replace(/\/+$/, '')}${u.search}`, isTransferUrl: true };
  return { base: `${origin}${u.pathname.replace(/\/+$/, '')}${u.search}`, isTransferUrl: false };
}
