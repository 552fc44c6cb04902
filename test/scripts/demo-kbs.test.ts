/** `npm run demo:kbs` (the README's key-broker flow) runs end to end in a fresh process. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe.skipIf(!existsSync(join(root, 'dist', 'kbs', 'index.js')))('demo:kbs', () => {
  it('encrypts, registers, attests, releases and decrypts byte-identical files', () => {
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'demo-kbs.js')], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(out).toContain('[5/5]');
    expect(out).toMatch(/identical {2}model\.safetensors/);
    expect(out).not.toMatch(/DIFFERENT/);
    // The demo pins broker and key id from the TEE's side: the only warning is that its TEE is simulated.
    const warnings = out.split('\n').filter((l) => /warning:/.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/tee-model load: warning: the evidence is SIMULATED/);
  }, 150_000);
});
