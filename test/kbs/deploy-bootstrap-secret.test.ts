/**
 * The bootstrap secret as deploy/ mounts it. A Kubernetes secret volume
 * (deploy/kubernetes/kbs.yaml: root-owned files, defaultMode 0440, fsGroup)
 * shows each key as a symbolic link `<mount>/<key>` -> `..data/<key>`, and
 * `..data` as a link to a timestamped directory; the broker refuses a link as
 * the final component (review s14 #2), so the manifest names
 * `<mount>/..data/<key>`. This rebuilds that layout and reads the path the
 * manifest gives, and the link it must not give.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { readBootstrapSecretFile } from '../../src/kbs/files.js';
import { root } from './processes.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-secret-volume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The --bootstrap-secret-file argument of the broker's container in kbs.yaml. */
function manifestSecretPath(): string {
  const docs = parseAllDocuments(readFileSync(join(root, 'deploy/kubernetes/kbs.yaml'), 'utf8')).map((d) => d.toJS());
  const deployment = docs.find((d) => d?.kind === 'Deployment');
  const args: string[] = deployment.spec.template.spec.containers[0].args;
  const path = args[args.indexOf('--bootstrap-secret-file') + 1];
  if (path === undefined) throw new Error('kbs.yaml gives no --bootstrap-secret-file');
  return path;
}

describe('deploy/kubernetes/kbs.yaml bootstrap secret path', () => {
  // As root the file is what Kubernetes makes (root-owned, 0440 for fsGroup); as another user, the
  // user's own file with mode 0400, so the test runs (and can fail) either way.
  const isRoot = process.getuid?.() === 0;
  it('the path the manifest names is readable in a secret-volume layout; the key link is refused', () => {
    const mount = join(dir, 'bootstrap');
    const stamped = join(mount, '..2026_11_30_21_00_00.123');
    mkdirSync(stamped, { recursive: true });
    writeFileSync(join(stamped, 'secret'), 'a-bootstrap-secret-of-24-chars\n');
    chmodSync(join(stamped, 'secret'), isRoot ? 0o440 : 0o400);
    symlinkSync('..2026_11_30_21_00_00.123', join(mount, '..data'));
    symlinkSync('..data/secret', join(mount, 'secret'));

    const given = manifestSecretPath();
    expect(given.startsWith('/run/secrets/bootstrap/')).toBe(true);
    const local = join(mount, given.slice('/run/secrets/bootstrap/'.length));
    expect(readBootstrapSecretFile(local)).toBe('a-bootstrap-secret-of-24-chars');
    expect(() => readBootstrapSecretFile(join(mount, 'secret'))).toThrow(/symbolic link/);
  });
});
