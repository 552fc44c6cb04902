/**
 * Test helpers standing in for the upstream confidential-ai-loader
 * (protocols.md §2.2-2.3) and for a key broker:
 * - UPSTREAM_LOADER: Python (python3-cryptography) doing what hf_loader does
 *   with a model directory: read encryption-config.json, POST
 *   {quote, user_data} to `kbs_url` exactly as written (key_id is never sent),
 *   unwrap wrapped_swk (RSA-OAEP-SHA256) and wrapped_key (the §1.3 container),
 *   then decrypt every listed file as loader.py does: read
 *   os.path.join(snapshot, entry), write os.path.join(out, entry minus ".aes"),
 *   creating `out` but never an entry's parent folder (review s10: the stand-in
 *   used the entry's basename and so restored subfolder models the real loader
 *   cannot).
 * - UPSTREAM_ENCRYPT: crypto.py's directory mode (§2.1): each top-level
 *   regular file not starting with "." nor ending in ".md" becomes
 *   "<name>.aes", listed as os.path.join(<-o argument>, "<name>.aes").
 * - startReleasingBroker: a 127.0.0.1 broker that answers only
 *   POST /kbs/v1/keys/<keyId>/transfer, wrapping `key` to the RSA key it is sent.
 */
import { execFile, spawnSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { sealBuffer } from '../../src/model/index.js';

export const PY = '/usr/bin/python3';
export const pythonAvailable = spawnSync(PY, ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;

export const UPSTREAM_LOADER = `
import base64, json, os, struct, sys, urllib.request
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
snapshot, out = sys.argv[1], sys.argv[2]
cfg = json.load(open(os.path.join(snapshot, 'encryption-config.json')))
def open_container(key, data):
    iv_len, tag_len, _ = struct.unpack('<3I', data[:12])
    return AESGCM(key).decrypt(data[12:12 + iv_len], data[12 + iv_len:], None)
if len(sys.argv) > 3:
    key = base64.b64decode(sys.argv[3])
else:
    assert cfg['kbs'] == 'ITA_KBS', cfg
    priv = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    spki = priv.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = json.dumps({'quote': base64.b64encode(b'not a quote').decode(), 'user_data': base64.b64encode(spki).decode()}).encode()
    req = urllib.request.Request(cfg['kbs_url'], data=body, method='POST', headers={'Accept': 'application/json', 'Content-Type': 'application/json', 'Attestation-Type': 'TDX'})
    resp = json.load(urllib.request.urlopen(req, timeout=10))
    swk = priv.decrypt(base64.b64decode(resp['wrapped_swk']), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    key = open_container(swk, base64.b64decode(resp['wrapped_key']))
os.makedirs(out, exist_ok=True)
# As loader.py: each entry joined whole onto both directories; only the output directory itself is
# created, never an entry's folder, so a list entry in a subfolder fails here as it does there.
for f in cfg['files']:
    data = open(os.path.join(snapshot, f), 'rb').read()
    open(os.path.join(out, f.removesuffix('.aes')), 'wb').write(open_container(key, data))
print(len(cfg['files']))
`;

/** Runs the stand-in loader (asynchronously: a broker in this process must keep answering). A key skips the broker. */
export async function runUpstreamLoader(snapshot: string, out: string, keyBase64?: string): Promise<string> {
  const { stdout } = await promisify(execFile)(PY, ['-c', UPSTREAM_LOADER, snapshot, out, ...(keyBase64 ? [keyBase64] : [])]);
  return stdout;
}

export const UPSTREAM_ENCRYPT = `
import base64, json, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
src, out, key = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3])
os.makedirs(out, exist_ok=True)
files = []
for name in sorted(os.listdir(src)):
    path = os.path.join(src, name)
    if not os.path.isfile(path) or name.startswith('.') or name.endswith('.md'):
        continue
    iv = os.urandom(12)
    ct = AESGCM(key).encrypt(iv, open(path, 'rb').read(), None)
    target = os.path.join(out, name + '.aes')
    open(target, 'wb').write(struct.pack('<3I', 12, 16, len(ct)) + iv + ct)
    files.append(target)
json.dump({'kbs': '', 'kbs_url': '', 'key_id': '', 'files': files}, open(os.path.join(out, 'encryption-config.json'), 'w'))
`;

/** Runs crypto.py's directory mode with `cwd`, so `input` / `output` may be relative as a user would type them. */
export async function runUpstreamEncrypt(cwd: string, input: string, output: string, keyBase64: string): Promise<void> {
  await promisify(execFile)(PY, ['-c', UPSTREAM_ENCRYPT, input, output, keyBase64], { cwd });
}

export interface ReleasingBroker {
  base: string;
  /** Paths of every request received, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startReleasingBroker(keyId: string, key: Uint8Array): Promise<ReleasingBroker> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(req.url ?? '');
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST' || req.url !== `/kbs/v1/keys/${keyId}/transfer` || body.length === 0) {
        res.writeHead(404).end();
        return;
      }
      const { user_data } = JSON.parse(body.toString('utf8')) as { user_data: string };
      const pub = createPublicKey({ key: Buffer.from(user_data, 'base64'), format: 'der', type: 'spki' });
      const swk = randomBytes(32);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          wrapped_swk: publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, swk).toString('base64'),
          wrapped_key: sealBuffer(swk, key).toString('base64'),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
