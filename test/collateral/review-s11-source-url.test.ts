/**
 * Review s11 (client-coll #1): a collateral source URL with a user name or
 * password. The credentials were never sent (undici drops userinfo) yet were
 * printed in every CollateralUnavailableError and kept in artifact sources and
 * exported bundles. The clients now refuse such a URL, with a message that
 * does not repeat the password, and every printed source URL drops userinfo.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AmdKdsClient } from '../../src/collateral/amd-kds.js';
import { exportBundle, importBundle } from '../../src/collateral/bundle.js';
import { HttpClient } from '../../src/collateral/http.js';
import { IntelPcsClient } from '../../src/collateral/intel-pcs.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { TeeVerifyError } from '../../src/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { setup } from '../verify/snp/helpers/synthetic.js';

const SECRET = 'S3CRET-PW';

function refusal(make: () => unknown): TeeVerifyError {
  try {
    make();
  } catch (err) {
    expect(err).toBeInstanceOf(TeeVerifyError);
    return err as TeeVerifyError;
  }
  throw new Error('expected the constructor to refuse the URL');
}

function expectRefused(make: () => unknown): void {
  const err = refusal(make);
  expect({ code: err.code, errorClass: err.errorClass }).toEqual({ code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  expect(err.message).not.toContain(SECRET);
  expect(JSON.stringify(err.details ?? {})).not.toContain(SECRET);
}

describe('collateral clients refuse a URL with userinfo', () => {
  const http = new HttpClient({ retries: 0 });
  afterEach(async () => {
    await http.close();
  });

  it('IntelPcsClient: a PCS / PCCS base with user:password, or a user name alone', () => {
    expectRefused(() => new IntelPcsClient({ http, baseUrl: `http://u:${SECRET}@127.0.0.1:1` }));
    expectRefused(() => new IntelPcsClient({ http, baseUrl: `https://pccsuser:${SECRET}@pccs.example:8081` }));
    expectRefused(() => new IntelPcsClient({ http, baseUrl: `https://${SECRET}@pccs.example:8081` }));
  });

  it('IntelPcsClient: a Root CA CRL URL with user:password', () => {
    expectRefused(() => new IntelPcsClient({ http, rootCaCrlUrl: `https://u:${SECRET}@certificates.example/IntelSGXRootCA.der` }));
  });

  it('AmdKdsClient: a KDS base with user:password', () => {
    expectRefused(() => new AmdKdsClient({ http, baseUrl: `http://u:${SECRET}@127.0.0.1:1` }));
  });

  it('a base that is no URL at all is refused without repeating a password either', () => {
    expectRefused(() => new IntelPcsClient({ http, baseUrl: `http://u:${SECRET}@127.0.0.1:notaport` }));
    expectRefused(() => new AmdKdsClient({ http, baseUrl: `http://u:${SECRET}@127.0.0.1:notaport` }));
  });

  it('the same URLs without userinfo are accepted (control)', () => {
    expect(new IntelPcsClient({ http, baseUrl: 'http://127.0.0.1:1' }).baseUrl).toBe('http://127.0.0.1:1');
    expect(new AmdKdsClient({ http, baseUrl: 'http://127.0.0.1:1' }).baseUrl).toBe('http://127.0.0.1:1');
  });
});

describe('a URL printed by the transport never carries userinfo', () => {
  let server: CollateralServer;
  let http: HttpClient;
  beforeEach(async () => {
    server = await CollateralServer.start([]);
    http = new HttpClient({ retries: 0 });
  });
  afterEach(async () => {
    await http.close();
    await server.close();
  });

  it('CollateralUnavailableError: message and details.url hold no password', async () => {
    const url = server.url.replace('http://', `http://u:${SECRET}@`) + '/missing';
    let caught: unknown;
    try {
      await http.get(url);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TeeVerifyError);
    const e = caught as TeeVerifyError;
    expect(e.message).not.toContain(SECRET);
    expect(e.message).toContain('/missing');
    expect(String(e.details?.['url'])).not.toContain(SECRET);
    expect(String(e.details?.['url'])).toBe(`${server.url}/missing`);
  });
});

describe('bundles never carry a source URL\'s userinfo', () => {
  const s = setup();
  const withPassword = `https://u:${SECRET}@kds.example/vcek/v1/Milan/crl`;
  const artifact = validateArtifact({ kind: 'amd-crl', key: 'amd/crl/Milan/vcek', body: s.collateral.crl!, source: { origin: 'network', url: withPassword } });

  it('export drops it (an artifact from an older cache may hold one)', () => {
    const doc = JSON.parse(exportBundle([artifact])) as { artifacts: { source: { url?: string } }[] };
    expect(doc.artifacts[0]?.source.url).toBe('https://kds.example/vcek/v1/Milan/crl');
  });

  it('import drops it (a bundle written before)', () => {
    const doc = JSON.parse(exportBundle([artifact])) as { artifacts: { source: { url?: string } }[] };
    doc.artifacts[0]!.source.url = withPassword;
    const [imported] = importBundle(JSON.stringify(doc));
    expect(imported?.source.url).toBe('https://kds.example/vcek/v1/Milan/crl');
    expect(imported?.source.origin).toBe('bundle');
  });
});
