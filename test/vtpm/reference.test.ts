/**
 * Reference lists (src/vtpm/reference.ts) and the policy's vtpm section
 * (src/policy/checks/vtpm.ts): strict loading, the documented example, and
 * every mismatch reported with entry index, path, digest and reason.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { evaluatePolicy, loadPolicy, type VtpmAppraisalInput } from '../../src/policy/index.js';
import { generateBootEventLog, generateImaList } from '../../src/testing/vtpm-logs.js';
import { extractBootComponents } from '../../src/vtpm/boot-components.js';
import { parseImaAsciiList } from '../../src/vtpm/ima-ascii.js';
import { replayImaList } from '../../src/vtpm/ima-replay.js';
import { loadReferenceList, type ReferenceList } from '../../src/vtpm/reference.js';
import { expectError } from '../helpers/expect-error.js';
import { syntheticSnp } from '../policy/helpers.js';

const EXAMPLE = readFileSync(new URL('../../docs/examples/vtpm-reference.json', import.meta.url));
const H = (n: number, bytes: number) => n.toString(16).padStart(2, '0').repeat(bytes);

describe('loading a reference list', () => {
  it('the documented example (docs/examples/vtpm-reference.json) loads', () => {
    const ref = loadReferenceList(EXAMPLE);
    expect(ref.id).toMatch(/^example/);
    expect(ref.ima.files.get('/usr/lib64/libc.so.6')).toEqual(new Set(['sha256:b42dbbd392917eaedaf0b71a24f7db2833ce2cd35187148ad0ee136af90ecf5c']));
    expect(ref.ima.ignore).toEqual(['/etc/modprobe.d/', '/var/log/']);
    expect(ref.boot.secureBoot).toBe(false);
    expect(Object.keys(ref.pcrs.sha256!)).toEqual(['0', '4', '7']);
    expect(Object.isFrozen(ref)).toBe(true);
  });

  it('hex is lowercased; text, bytes and objects load alike', () => {
    const doc = { version: 1, ima: { files: { '/bin/a': [`sha256:${'AB'.repeat(32)}`] } } };
    expect([...loadReferenceList(doc).ima.files.get('/bin/a')!]).toEqual([`sha256:${'ab'.repeat(32)}`]);
    expect(loadReferenceList(JSON.stringify(doc)).ima.files.size).toBe(1);
    expect(loadReferenceList(new TextEncoder().encode(JSON.stringify(doc))).ima.files.size).toBe(1);
  });

  const bad: [string, unknown, string][] = [
    ['unknown root field', { version: 1, imaa: {} }, '/imaa'],
    ['unknown ima field', { version: 1, ima: { files: {}, exclude: [] } }, '/ima/exclude'],
    ['unknown boot field', { version: 1, boot: { kernel: [] } }, '/boot/kernel'],
    ['version missing', { ima: { files: {} } }, ''],
    ['version 2', { version: 2 }, '/version'],
    ['digest of the wrong length', { version: 1, ima: { files: { '/a': [`sha256:${'ab'.repeat(20)}`] } } }, '/ima/files/~1a/0'],
    ['unknown algorithm', { version: 1, ima: { files: { '/a': [`md5:${'ab'.repeat(16)}`] } } }, '/ima/files/~1a/0'],
    ['duplicate after case folding', { version: 1, boot: { kernels: [`sha1:${'AB'.repeat(20)}`, `sha1:${'ab'.repeat(20)}`] } }, '/boot/kernels/1'],
    ['empty digest list', { version: 1, ima: { files: { '/a': [] } } }, '/ima/files/~1a'],
    ['empty path', { version: 1, ima: { files: { '': [`sha1:${'ab'.repeat(20)}`] } } }, '/ima/files/'],
    ['PCR 24', { version: 1, pcrs: { sha256: { '24': [H(1, 32)] } } }, '/pcrs/sha256/24'],
    ['PCR value of another bank', { version: 1, pcrs: { sha1: { '0': [H(1, 32)] } } }, '/pcrs/sha1/0/0'],
    ['unknown bank', { version: 1, pcrs: { sm3_256: {} } }, '/pcrs/sm3_256'],
    ['secureBoot not boolean', { version: 1, boot: { secureBoot: 'yes' } }, '/boot/secureBoot'],
    ['not an object', [1], ''],
  ];
  for (const [name, doc, path] of bad) {
    it(`rejects: ${name}`, () => {
      const err = expectError(() => loadReferenceList(doc as object), { code: 'ERR_VTPM_REFERENCE_INVALID', errorClass: 'ARGUMENT' });
      expect(err.details['path']).toBe(path);
    });
  }

  it('rejects duplicate JSON keys, trailing data and oversize input as text', () => {
    expectError(() => loadReferenceList('{"version":1,"version":1}'), { code: 'ERR_VTPM_REFERENCE_INVALID' });
    expectError(() => loadReferenceList('{"version":1} x'), { code: 'ERR_VTPM_REFERENCE_INVALID' });
    expectError(() => loadReferenceList(new Uint8Array(64 * 1024 * 1024 + 1)), { code: 'ERR_VTPM_REFERENCE_INVALID' });
  });

  it('reports every problem, not just the first', () => {
    const err = expectError(() => loadReferenceList({ version: 1, a: 1, boot: { b: 2, kernels: ['x'] } }), { code: 'ERR_VTPM_REFERENCE_INVALID' });
    expect((err.details['problems'] as { path: string }[]).map((p) => p.path)).toEqual(['/a', '/boot/b', '/boot/kernels/0']);
  });
});

describe('the policy vtpm section', () => {
  it('loads with its defaults written out; hex lowercased; unknown fields and bad values rejected', () => {
    const p = loadPolicy({ tee: 'snp', measurement: 'any', hostData: 'any', vtpm: { pcrs: { sha256: { '7': ['AB'.repeat(32)] } } } });
    expect(p.tee === 'snp' && p.vtpm).toEqual({ pcrs: { sha256: { '7': ['ab'.repeat(32)] } }, unknownImaEntries: 'violation', imaViolations: 'violation' });
    expect(loadPolicy(JSON.stringify(p))).toEqual(p);
    for (const vtpm of [{ unknownImaEntry: 'allow' }, { unknownImaEntries: 'warn' }, { pcrs: { sha256: { '24': [H(1, 32)] } } }, { pcrs: { sha1: { '0': [H(1, 32)] } } }, { requiredImaEntries: [] }]) {
      expectError(() => loadPolicy({ tee: 'snp', measurement: 'any', hostData: 'any', vtpm }), { code: 'ERR_POLICY_INVALID' });
    }
    expectError(() => loadPolicy({ tee: 'sgx', mrEnclave: 'any', mrSigner: 'any', vtpm: {} }), { code: 'ERR_POLICY_INVALID' });
  });
});

describe('appraisal against the reference list (generated boot log and IMA list)', () => {
  const boot = generateBootEventLog({ seed: 'appraise', banks: ['sha1', 'sha256'] });
  const ima = generateImaList({ seed: 'appraise', count: 12, template: 'ima-sig', violations: [5], bootPcrs: boot.pcrs });
  const entries = parseImaAsciiList(ima.ascii);
  const replay = replayImaList(entries, { banks: ['sha256'] });
  const quoted = { sha256: { ...boot.pcrs.sha256!, 10: ima.pcrs.sha256![10]! } };
  const referenceDoc = {
    version: 1,
    ima: { files: Object.fromEntries(ima.files.map((f) => [f.path, [`${f.alg}:${f.digest}`]])) },
    boot: {
      kernels: [`sha256:${boot.components.kernel.digests.sha256}`],
      initrds: [`sha256:${boot.components.initrd.digests.sha256}`],
      commandLines: [boot.components.kernelCmdline],
      bootApplications: boot.components.bootApplications.map((d) => `sha256:${d.sha256}`),
      otherFiles: boot.components.otherFiles.map((o) => `sha256:${o.digests.sha256}`),
      secureBoot: true,
    },
    pcrs: { sha256: { '4': [Buffer.from(boot.pcrs.sha256![4]!).toString('hex')] } },
  };
  const input = (reference: ReferenceList, over: Partial<VtpmAppraisalInput> = {}): VtpmAppraisalInput => ({
    pcrs: quoted,
    ima: { entries, violations: replay.violations },
    // As verifyVtpmEvidence records for a quote of all 24 PCRs (untouched ones at their reset value).
    boot: extractBootComponents(boot.log, { replayedPcrs: Array.from({ length: 24 }, (_, i) => i).filter((p) => p !== 10) }),
    reference,
    ...over,
  });
  const policyDoc = { tee: 'snp', measurement: 'any', hostData: 'any', allowProvisionalFirmware: true } as const;
  const result = syntheticSnp();
  const judge = (vtpm: object, vin: VtpmAppraisalInput | undefined) => evaluatePolicy(result, loadPolicy({ ...policyDoc, vtpm }), vin === undefined ? {} : { vtpm: vin });
  const vtpmOnly = (a: ReturnType<typeof judge>) => a.violations.filter((v) => v.path.startsWith('/vtpm'));

  it('the genuine evidence passes (the violation entry allowed explicitly, with a warning)', () => {
    const a = judge({ imaViolations: 'allow', requiredImaEntries: [ima.files[0]!.path] }, input(loadReferenceList(referenceDoc)));
    expect(vtpmOnly(a)).toEqual([]);
    expect(a.warnings.filter((w) => w.startsWith('VTPM-IMA'))).toHaveLength(1);
  });

  it('a violation entry is a violation by default', () => {
    const v = vtpmOnly(judge({}, input(loadReferenceList(referenceDoc))));
    expect(v.map((x) => [x.path, x.actual])).toEqual([['/vtpm/imaViolations', { index: 5, path: null, unverifiedPath: ima.entries[5]!.path }]]);
  });

  it('unknown file under a strict list: entry index, path and digest reported; "allow" relaxes it', () => {
    const files = { ...referenceDoc.ima.files };
    delete files[ima.files[2]!.path];
    const ref = loadReferenceList({ ...referenceDoc, ima: { files } });
    const v = vtpmOnly(judge({ imaViolations: 'allow' }, input(ref)));
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ path: '/vtpm/unknownImaEntries', check: 'VTPM-IMA', errorClass: 'POLICY', actual: { index: ima.files[2]!.index, path: ima.files[2]!.path, digest: `sha256:${ima.files[2]!.digest}` } });
    expect(vtpmOnly(judge({ imaViolations: 'allow', unknownImaEntries: 'allow' }, input(ref)))).toEqual([]);
  });

  it('a digest the list does not allow names the reference entry; every mismatch is reported', () => {
    const files = { ...referenceDoc.ima.files, [ima.files[0]!.path]: [`sha256:${'00'.repeat(32)}`], [ima.files[3]!.path]: [`sha1:${'00'.repeat(20)}`] };
    const v = vtpmOnly(judge({ imaViolations: 'allow' }, input(loadReferenceList({ ...referenceDoc, ima: { files } }))));
    expect(v.map((x) => [x.path, (x.actual as { index: number }).index])).toEqual([
      [`/vtpm/reference/ima/files/${ima.files[0]!.path.replaceAll('/', '~1')}`, ima.files[0]!.index],
      [`/vtpm/reference/ima/files/${ima.files[3]!.path.replaceAll('/', '~1')}`, ima.files[3]!.index],
    ]);
  });

  it('ignored paths are not judged', () => {
    const ref = loadReferenceList({ ...referenceDoc, ima: { files: {}, ignore: ['/usr/', '/etc/', '/opt/'] } });
    expect(vtpmOnly(judge({ imaViolations: 'allow' }, input(ref)))).toEqual([]);
  });

  it('a required entry missing', () => {
    const v = vtpmOnly(judge({ imaViolations: 'allow', requiredImaEntries: ['/usr/bin/inference-server', ima.files[1]!.path] }, input(loadReferenceList(referenceDoc))));
    expect(v.map((x) => [x.path, x.expected, x.actual])).toEqual([['/vtpm/requiredImaEntries/0', '/usr/bin/inference-server', null]]);
  });

  it('boot components: kernel, initrd, command line, boot application and Secure Boot mismatches, each reported', () => {
    const ref = loadReferenceList({
      ...referenceDoc,
      boot: { kernels: [`sha256:${'11'.repeat(32)}`], initrds: [`sha1:${'22'.repeat(20)}`], commandLines: ['other'], bootApplications: [referenceDoc.boot.bootApplications[0]!], otherFiles: referenceDoc.boot.otherFiles, secureBoot: false },
    });
    const v = vtpmOnly(judge({ imaViolations: 'allow' }, input(ref)));
    expect(v.map((x) => x.path)).toEqual(['/vtpm/reference/boot/kernels', '/vtpm/reference/boot/bootApplications', '/vtpm/reference/boot/initrds', '/vtpm/reference/boot/commandLines', '/vtpm/reference/boot/secureBoot']);
    expect(v.every((x) => x.check === 'VTPM-BOOT' && x.message.startsWith('VTPM-BOOT: '))).toBe(true);
  });

  it('expected PCR values: policy and reference list; a PCR not quoted is a violation', () => {
    const altered = { sha256: { ...quoted.sha256, 4: new Uint8Array(32) } };
    const v = vtpmOnly(judge({ imaViolations: 'allow', pcrs: { sha256: { '4': [Buffer.from(boot.pcrs.sha256![4]!).toString('hex')] }, sha1: { '0': [H(0, 20)] } } }, input(loadReferenceList(referenceDoc), { pcrs: altered })));
    expect(v.map((x) => [x.path, x.actual])).toEqual([
      ['/vtpm/pcrs/sha256/4', H(0, 32)],
      ['/vtpm/pcrs/sha1/0', null],
      ['/vtpm/reference/pcrs/sha256/4', H(0, 32)],
    ]);
  });

  it('no vTPM evidence under a vtpm policy, no IMA list or boot log under a list that needs them: violations, not skips', () => {
    expect(vtpmOnly(judge({}, undefined)).map((x) => x.path)).toEqual(['/vtpm']);
    const ref = loadReferenceList(referenceDoc);
    const { ima: _i, boot: _b, ...bare } = input(ref);
    expect(vtpmOnly(judge({}, bare)).map((x) => x.path)).toEqual(['/vtpm/reference/ima/files', '/vtpm/reference/boot']);
  });

  it('a policy without a vtpm section does not judge vTPM claims', () => {
    const a = evaluatePolicy(result, loadPolicy(policyDoc), { vtpm: input(loadReferenceList({ version: 1, boot: { secureBoot: false } })) });
    expect(vtpmOnly(a)).toEqual([]);
  });
});
