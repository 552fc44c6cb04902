/**
 * The deployment recipes in deploy/, checked statically (no container engine
 * or Kubernetes runs here): the YAML parses (yaml), the manifests carry the
 * fields their kinds require, every command-line flag and environment variable
 * they use is one the broker or the batch verifier reads, ports and probe
 * paths agree with the server, and the Dockerfile is multi-stage on node:20,
 * runs npm ci, ends as a non-root user and copies only files that exist.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { BATCH_OPTIONS } from '../../src/cli/batch.js';
import { KBS_ENV, KBS_SERVE_OPTIONS } from '../../src/kbs/index.js';
import { root } from './processes.js';

const deploy = join(root, 'deploy');
type Obj = Record<string, any>;

function yamlDocs(file: string): Obj[] {
  // Merge keys (<<: *anchor) as Compose resolves them.
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  for (const d of docs) expect(d.errors.map((e) => e.message), file).toEqual([]);
  return docs.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

/** The `--flag`s of `tee-verify batch`: its exported option table. */
function batchFlags(): Set<string> {
  return new Set(Object.keys(BATCH_OPTIONS));
}

const SERVE_FLAGS = new Set(Object.keys(KBS_SERVE_OPTIONS));
const EXPORT_FLAGS = new Set(['db', 'database']);

/** Checks every flag of every tee-kbs / tee-verify invocation in a command (argv list or shell text). */
function checkCommand(words: string[], where: string): { listenPort?: number } {
  const text = words.join(' ');
  const out: { listenPort?: number } = {};
  for (const inv of text.split(/(?=\btee-kbs\b|\btee-verify\b)/)) {
    const flags = [...inv.matchAll(/(?:^|\s)--([a-z][a-z-]*)/g)].map((m) => m[1] as string);
    let allowed: Set<string> | undefined;
    if (/^tee-kbs\s+serve\b/.test(inv)) allowed = SERVE_FLAGS;
    else if (/^tee-kbs\s+admin\s+export-log\b/.test(inv)) allowed = EXPORT_FLAGS;
    else if (/^tee-verify\s+batch\b/.test(inv)) allowed = batchFlags();
    else if (/^tee-(kbs|verify)\b/.test(inv)) throw new Error(`${where}: unexpected invocation ${inv.slice(0, 40)}`);
    if (!allowed) continue;
    for (const f of flags) expect(allowed.has(f), `${where}: --${f} is not a flag of ${inv.split(/\s+/).slice(0, 2).join(' ')}`).toBe(true);
    const listen = /--listen\s+(\S+):(\d+)/.exec(inv);
    if (listen) out.listenPort = Number(listen[2]);
  }
  return out;
}

function checkEnv(env: Obj[] | Obj | undefined, where: string): string[] {
  const names = Array.isArray(env) ? env.map((e) => e.name as string) : Object.keys(env ?? {});
  for (const n of names.filter((x) => x.startsWith('TEE_'))) expect((KBS_ENV as readonly string[]).includes(n), `${where}: ${n} is not read by tee-kbs`).toBe(true);
  return names;
}

describe('Kubernetes manifests', () => {
  const files = readdirSync(join(deploy, 'kubernetes')).filter((f) => f.endsWith('.yaml'));
  const objects = files.flatMap((f) => yamlDocs(join(deploy, 'kubernetes', f)).map((o) => ({ file: f, o })));

  it('every object has apiVersion, kind, metadata.name; the expected kinds are there', () => {
    for (const { file, o } of objects) {
      expect(typeof o['apiVersion'], file).toBe('string');
      expect(typeof o['kind'], file).toBe('string');
      expect(o['metadata']?.name, file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    const kinds = objects.map(({ o }) => `${o['apiVersion']} ${o['kind']}`);
    expect(kinds).toEqual(expect.arrayContaining(['apps/v1 Deployment', 'v1 Service', 'batch/v1 Job']));
  });

  const deployment = objects.find(({ o }) => o['kind'] === 'Deployment')!.o;
  const service = objects.find(({ o }) => o['kind'] === 'Service')!.o;
  const pod = deployment['spec']['template']['spec'] as Obj;
  const container = pod['containers'][0] as Obj;

  it('Deployment: several replicas, selector matches the pod labels, non-root, the broker command with known flags and env', () => {
    expect(deployment['spec']['replicas']).toBeGreaterThanOrEqual(2);
    const labels = deployment['spec']['template']['metadata']['labels'] as Obj;
    for (const [k, v] of Object.entries(deployment['spec']['selector']['matchLabels'] as Obj)) expect(labels[k]).toBe(v);
    expect(pod['securityContext']['runAsNonRoot']).toBe(true);
    expect(pod['securityContext']['runAsUser']).not.toBe(0);
    const { listenPort } = checkCommand([...(container['command'] ?? []), ...container['args']], 'Deployment');
    expect(container['args'].slice(0, 2)).toEqual(['tee-kbs', 'serve']);
    const env = checkEnv(container['env'], 'Deployment');
    expect(env).toEqual(expect.arrayContaining(['TEE_KBS_DATABASE', 'TEE_KBS_MASTER_KEY']));
    const ports = container['ports'] as Obj[];
    expect(ports.map((p) => p['containerPort'])).toContain(listenPort);
    // The TLS files the command names are where the secret volume is mounted.
    const tlsMount = (container['volumeMounts'] as Obj[]).find((m) => m['name'] === 'tls')!;
    for (const f of ['--tls-cert', '--tls-key']) expect(container['args'][container['args'].indexOf(f) + 1]).toMatch(new RegExp(`^${tlsMount['mountPath']}/`));
    // A read-only root file system needs the collateral cache on a volume (XDG_CACHE_HOME of the image).
    if (container['securityContext']?.readOnlyRootFilesystem) expect((container['volumeMounts'] as Obj[]).map((m) => m['mountPath'])).toContain('/var/cache/tee');
    // Graceful stop fits in the pod's grace period.
    const grace = Number(container['args'][container['args'].indexOf('--shutdown-grace') + 1]);
    expect(pod['terminationGracePeriodSeconds']).toBeGreaterThan(grace + 5);
  });

  it('probes: readiness on /health (database), liveness on /version, over HTTPS on a named container port', () => {
    const names = new Set((container['ports'] as Obj[]).map((p) => p['name']));
    expect(container['readinessProbe']['httpGet']).toMatchObject({ path: '/health', scheme: 'HTTPS' });
    expect(container['livenessProbe']['httpGet']).toMatchObject({ path: '/version', scheme: 'HTTPS' });
    expect(names.has(container['readinessProbe']['httpGet']['port'])).toBe(true);
    expect(names.has(container['livenessProbe']['httpGet']['port'])).toBe(true);
  });

  it('Service: selects the Deployment pods and targets the container port by name', () => {
    const labels = deployment['spec']['template']['metadata']['labels'] as Obj;
    for (const [k, v] of Object.entries(service['spec']['selector'] as Obj)) expect(labels[k]).toBe(v);
    const names = new Set((container['ports'] as Obj[]).map((p) => p['name']));
    for (const p of service['spec']['ports'] as Obj[]) expect(names.has(p['targetPort'])).toBe(true);
  });

  it('re-verification: an export Job, then an Indexed Job whose --shard i/n matches its completions', () => {
    const jobs = objects.filter(({ o }) => o['kind'] === 'Job').map(({ o }) => o);
    const exporter = jobs.find((j) => JSON.stringify(j).includes('export-log'))!;
    const indexed = jobs.find((j) => j['spec']['completionMode'] === 'Indexed')!;
    expect(exporter).toBeDefined();
    expect(indexed).toBeDefined();
    for (const j of jobs) {
      const spec = j['spec']['template']['spec'] as Obj;
      expect(spec['restartPolicy']).toBe('Never');
      expect(spec['securityContext']['runAsNonRoot']).toBe(true);
      const c = spec['containers'][0] as Obj;
      checkCommand([...(c['command'] ?? []), ...(c['args'] ?? [])], j['metadata']['name']);
      checkEnv(c['env'], j['metadata']['name']);
    }
    const script = (indexed['spec']['template']['spec']['containers'][0]['args'] as string[]).join('\n');
    const shard = /--shard \$\{JOB_COMPLETION_INDEX\}\/(\d+)/.exec(script);
    expect(shard?.[1]).toBe(String(indexed['spec']['completions']));
    // The exported file is the batch input.
    const exportScript = (exporter['spec']['template']['spec']['containers'][0]['args'] as string[]).join('\n');
    const exported = /mv \S+ (\S+)/.exec(exportScript)?.[1];
    expect(script).toContain(`tee-verify batch ${exported}`);
    // A podFailurePolicy needs restartPolicy Never and names the container.
    expect(indexed['spec']['podFailurePolicy']['rules'][0]['onExitCodes']['containerName']).toBe(indexed['spec']['template']['spec']['containers'][0]['name']);
  });
});

describe('Compose file', () => {
  const compose = yamlDocs(join(deploy, 'docker-compose.yml'))[0] as Obj;
  const services = compose['services'] as Obj;
  const brokers = Object.entries(services).filter(([, s]) => JSON.stringify(s['command'] ?? '').includes('tee-kbs'));

  it('PostgreSQL with a health check and at least two brokers that wait for it', () => {
    const pgName = Object.keys(services).find((n) => String(services[n]['image']).startsWith('postgres:'));
    expect(pgName).toBeDefined();
    expect(services[pgName!]['healthcheck']['test'].join(' ')).toContain('pg_isready');
    expect(brokers.length).toBeGreaterThanOrEqual(2);
    for (const [name, s] of brokers) {
      expect(s['depends_on'][pgName!]['condition'], name).toBe('service_healthy');
      const env = s['environment'] as Obj;
      checkEnv(env, name);
      expect(String(env['TEE_KBS_DATABASE'])).toMatch(new RegExp(`^postgres://[^@]+@${pgName}:5432/`));
      expect(env['TEE_KBS_MASTER_KEY']).toBeDefined();
    }
  });

  it('broker commands use known flags; published ports are distinct and reach the listen port', () => {
    const published = new Set<string>();
    for (const [name, s] of brokers) {
      const { listenPort } = checkCommand(s['command'] as string[], name);
      for (const p of s['ports'] as string[]) {
        const [host, target] = p.split(':');
        expect(Number(target), name).toBe(listenPort);
        expect(published.has(host!), `${name}: port ${host} published twice`).toBe(false);
        published.add(host!);
      }
      expect(s['build']['dockerfile']).toBe('deploy/Dockerfile');
      expect(existsSync(join(deploy, s['build']['context'], s['build']['dockerfile']))).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: (op as string).toUpperCase(), args: rest.join(' ') };
    });
  const stages: { from: string; name?: string; ins: typeof instructions }[] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args)!;
      stages.push({ from: m[1] as string, ...(m[2] ? { name: m[2] } : {}), ins: [] });
    } else stages.at(-1)?.ins.push(i);
  }

  it('multi-stage on node:20, npm ci in the build stage, an unprivileged user at the end', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:20(\.|-|$)/);
    expect(stages[0]!.ins.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    const users = stages.at(-1)!.ins.filter((i) => i.op === 'USER');
    expect(users.length).toBe(1);
    expect(users[0]!.args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('every COPY from the context names files that exist and the ignore file keeps; COPY --from names a stage', () => {
    const ignore = readFileSync(join(deploy, 'Dockerfile.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/\*\*$/, ''));
    for (const s of stages) {
      for (const i of s.ins.filter((x) => x.op === 'COPY')) {
        const words = i.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const sources = paths.slice(0, -1);
        if (from) {
          expect(stages.some((x) => x.name === from), `COPY --from=${from}`).toBe(true);
          continue;
        }
        for (const src of sources) {
          expect(existsSync(join(root, src)), `COPY ${src}`).toBe(true);
          expect(ignore.includes(src), `${src} is excluded by Dockerfile.dockerignore`).toBe(true);
        }
      }
    }
    // The addon build needs every source binding.gyp names, inside a copied directory.
    const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')) as { targets: { sources: string[] }[] };
    for (const src of gyp.targets[0]!.sources) expect(ignore.some((d) => src.startsWith(`${d}/`)), src).toBe(true);
  });

  it('the runtime stage copies what the package needs at run time from the build stage; CMD starts the broker on the EXPOSEd port', () => {
    const runtime = stages.at(-1)!;
    const copied = runtime.ins.filter((i) => i.op === 'COPY').map((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--'))[0] as string);
    for (const need of ['/src/package.json', '/src/node_modules', '/src/dist', '/src/bin', '/src/build/Release/tee_verify.node']) expect(copied).toContain(need);
    const cmd = JSON.parse(runtime.ins.find((i) => i.op === 'CMD')!.args) as string[];
    const { listenPort } = checkCommand(cmd, 'CMD');
    expect(runtime.ins.find((i) => i.op === 'EXPOSE')!.args.split(/\s+/)).toContain(String(listenPort));
    const health = runtime.ins.find((i) => i.op === 'HEALTHCHECK')!.args;
    expect(health).toContain("path:'/health'");
    expect(health).toContain(`port:${listenPort}`);
    // The CLI the image runs exists in the repository.
    expect(existsSync(join(root, 'bin', 'tee-kbs.js'))).toBe(true);
    expect(existsSync(join(root, 'bin', 'tee-verify.js'))).toBe(true);
  });
});
