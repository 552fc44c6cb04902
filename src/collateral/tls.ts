/**
 * X15: collateral travels over TLS with certificate verification (undici's
 * default; nothing here turns it off). Plain http is refused except to the
 * loopback interface (a local PCCS or a test server) or when the caller says
 * so explicitly. Responses are verified by their signatures either way.
 */
import { InvalidArgumentError } from '../errors.js';

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

export function requireTls(url: URL, allowPlainHttp: boolean): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && (allowPlainHttp || LOOPBACK.test(url.hostname))) return;
  throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `collateral base URL must use https (X15): ${url.origin}`, { check: 'X15' });
}
