/**
 * Collateral source URLs (PCS / PCCS, KDS, the Root CA CRL): parsed once at
 * construction, and printable anywhere. A URL with a user name or password is
 * refused: undici's request() drops the userinfo, so the credentials were
 * never sent (a basic-auth PCCS just failed), yet every message and artifact
 * naming the URL printed them (review s11 client-coll #1).
 */
import { InvalidArgumentError } from '../errors.js';
import { redactUrl } from '../storage/postgres.js';
import { requireTls } from './tls.js';

/** The URL for messages, details and provenance: userinfo dropped, secret parameters masked (redactUrl). */
export function printableUrl(url: string): string {
  const masked = redactUrl(url);
  try {
    const u = new URL(masked);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return masked.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
  }
}

/**
 * `text` as a collateral URL: parseable, without userinfo, and over TLS unless
 * loopback or allowed (X15). `option` names the setting in the error; the
 * message never repeats a password.
 */
export function parseSourceUrl(text: string, option: string, allowPlainHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${option} is not a URL: ${printableUrl(text)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidArgumentError(
      'ERR_INVALID_ARGUMENT',
      `${option} must not carry a user name or password (${url.origin}): credentials in a collateral URL are never sent`,
      { details: { reason: 'credentials-in-url' } },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    // Not repeated: without a scheme, "user:password@host" parses with "user:" as one and the password in the path.
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${option} must be an https:// URL (X15): it names no http(s) scheme (write https://host[:port])`, {
      check: 'X15',
      details: { reason: 'not-http' },
    });
  }
  requireTls(url, allowPlainHttp);
  return url;
}
