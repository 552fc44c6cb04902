/**
 * s16 change review of cce6563, #3 (low): `tee-kbs serve --tls-key` was still read with
 * readFileSync, through a symbolic link and whatever its mode or owner, although whoever reads the
 * broker's TLS key can relay it (clients of a PostgreSQL deployment pin it). Now it is read under the
 * shared secret-file rule (readPrivateKeyFile, as tee-gateway and tee-verify serve): ERR_KBS_CONFIG,
 * exit 78, naming --tls-key, the file and the fix, before any database file is made. A root-owned
 * 0440 file (a Kubernetes secret volume with fsGroup) is allowed; deploy/kubernetes/kbs.yaml mounts
 * the secret with defaultMode 0440 and names the file behind the volume's link.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { exportBundle } from '../../src/index.js';
import { generateTls, type TlsIdentity } from '../../src/gateway/tls.js';
import { runKbsCli } from '../../src/kbs/index.js';
import { makePlatform } from './helpers.js';
import { root } from './processes.js';

const platform = makePlatform();
let dir: string;
let pair: TlsIdentity;
let bundle: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kbs-s16-r2-tls-key-'));
  pair = await generateTls(['127.0.0.1']);
  const c = platform.collateral;
  bundle = join(dir, 'bundle.json');
  writeFileSync(bundle, exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string, mode: number): string {
  const path = join(mkdtempSync(join(dir, `f${n++}-`)), 'tls.key');
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
}

async function serve(key: string): Promise<{ code: number; stderr: string; db: string; url?: string }> {
  const db = join(mkdtempSync(join(dir, 'db-')), 'kbs.sqlite');
  let stderr = '';
  const r = await runKbsCli(['serve', '--db', db, '--listen', '127.0.0.1:0', '--collateral', bundle, '--tls-cert', file(pair.cert, 0o644), '--tls-key', key], {
    stdout: () => {},
    stderr: (t) => (stderr += t),
    env: {},
  });
  const url = r.broker?.url;
  await r.broker?.close();
  return { code: r.code, stderr, db, ...(url ? { url } : {}) };
}

describe('tee-kbs serve --tls-key under the secret-file rule (s16 change review of cce6563, #3)', () => {
  it('through a symbolic link: exit 78, naming --tls-key, the ..data path and --tls-key /dev/fd/N; no database made', async () => {
    const key = file(pair.key, 0o600);
    symlinkSync(key, `${key}.link`);
    const r = await serve(`${key}.link`);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`ERR_KBS_CONFIG: --tls-key: the key file ${key}.link is a symbolic link`);
    expect(r.stderr).toContain('<mount>/..data/<name>');
    expect(r.stderr).toContain('--tls-key /dev/fd/N');
    expect(r.url).toBeUndefined();
    expect(existsSync(r.db)).toBe(false);
  });

  it('others may read it (0644, 0604), or it is empty: exit 78', async () => {
    for (const mode of [0o644, 0o604]) {
      const key = file(pair.key, mode);
      const r = await serve(key);
      expect(r.code, mode.toString(8)).toBe(78);
      expect(r.stderr).toContain(`ERR_KBS_CONFIG: --tls-key: the key file ${key} has mode 0${mode.toString(8)}: group or others have access to it; chmod 600 ${key}`);
    }
    const empty = file('', 0o600);
    const r = await serve(empty);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`--tls-key: the key file ${empty} is empty`);
  });

  it('control: a 0600 key of this user starts HTTPS', async () => {
    const r = await serve(file(pair.key, 0o600));
    expect(r.code, r.stderr).toBe(0);
    expect(r.url).toMatch(/^https:\/\//);
  });

  it('deploy/kubernetes/kbs.yaml: the TLS secret is mounted 0440 and --tls-key names the file behind the link; docker-compose says chmod 600', () => {
    // Kubernetes reads YAML 1.1, where 0440 is octal.
    const docs = parseAllDocuments(readFileSync(join(root, 'deploy', 'kubernetes', 'kbs.yaml'), 'utf8'), { version: '1.1' }).map((d) => d.toJS() as Record<string, any>);
    const pod = docs.find((d) => d?.['kind'] === 'Deployment')!['spec']['template']['spec'];
    const volume = (pod['volumes'] as Record<string, any>[]).find((v) => v['name'] === 'tls')!;
    expect(volume['secret']['defaultMode'] & 0o077).toBe(volume['secret']['defaultMode'] & 0o040);
    expect(volume['secret']['defaultMode']).toBeDefined();
    const container = (pod['containers'] as Record<string, any>[]).find((c) => c['name'] === 'tee-kbs')!;
    const mount = (container['volumeMounts'] as Record<string, any>[]).find((m) => m['name'] === 'tls')!['mountPath'];
    const args = container['args'] as string[];
    const item = (volume['secret']['items'] as Record<string, string>[]).find((i) => i['key'] === 'tls.key')!['path'];
    expect(args[args.indexOf('--tls-key') + 1]).toBe(`${mount}/..data/${item}`);
    expect(readFileSync(join(root, 'deploy', 'docker-compose.yml'), 'utf8')).toMatch(/chmod 600 tls\/tls\.key/);
  });
});
