/** `npm run demo:gateway` (the README's attested-chat flow) runs end to end in a fresh process. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe.skipIf(!existsSync(join(root, 'dist', 'gateway', 'index.js')))('demo:gateway', () => {
  it('attests the gateway, checks the binding to its TLS key, then chats over the pinned connection', () => {
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'demo-gateway.js')], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(out).toContain('TCB status: UpToDate');
    expect(out).toContain('bound TLS key');
    expect(out).toContain('demo:gateway: OK');
  }, 150_000);
});
