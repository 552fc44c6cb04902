/**
 * The gateway's deployment recipes, checked statically (no container engine
 * or cluster runs here; the broker's recipes: test/kbs/deploy.test.ts): the
 * YAML parses, every flag and TEE_* variable is one `tee-gateway serve`
 * reads, the database comes from TEE_GATEWAY_DATABASE (shared PostgreSQL,
 * never an SQLite file per replica), no TLS files are shared (each replica
 * has its own key), the upstream is inside the same TEE (a container of the
 * same pod / a service without published ports), probes and ports agree, the
 * grace period covers --shutdown-grace, and the comments state the TEE rules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { GATEWAY_ENV, GATEWAY_SERVE_OPTIONS } from '../src/gateway/cli.js';
import { root } from './kbs/processes.js';

const deploy = join(root, 'deploy');
type Obj = Record<string, any>;
const SERVE_FLAGS = new Set(Object.keys(GATEWAY_SERVE_OPTIONS));

function yamlDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  for (const d of docs) expect(d.errors.map((e) => e.message), file).toEqual([]);
  return docs.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

/** The flags of a `tee-gateway serve` argv, checked against the CLI's option table; returns their values. */
function serveArgs(argv: string[], where: string): Map<string, string | true> {
  expect(argv.slice(0, 2), where).toEqual(['tee-gateway', 'serve']);
  const out = new Map<string, string | true>();
  for (let i = 2; i < argv.length; i++) {
    const m = /^--([a-z][a-z-]*)$/.exec(argv[i] as string);
    expect(m, `${where}: ${argv[i]} is not a flag`).not.toBeNull();
    const flag = m![1] as string;
    expect(SERVE_FLAGS.has(flag), `${where}: --${flag} is not a flag of tee-gateway serve`).toBe(true);
    const spec = GATEWAY_SERVE_OPTIONS[flag as keyof typeof GATEWAY_SERVE_OPTIONS];
    if (spec.type === 'string') out.set(flag, argv[++i] as string);
    else out.set(flag, true);
  }
  // Shared state lives in PostgreSQL (from the environment); an SQLite file or shared TLS files would be per replica or shared keys.
  for (const f of ['db', 'database', 'tls-cert', 'tls-key', 'simulated-tee', 'no-api-key']) expect(out.has(f), `${where}: --${f} does not belong in a multi-instance recipe`).toBe(false);
  expect(out.get('configfs'), `${where}: evidence from the TEE (configfs-tsm)`).toBe(true);
  return out;
}

function checkEnv(names: string[], where: string): void {
  for (const n of names.filter((x) => x.startsWith('TEE_'))) expect((GATEWAY_ENV as readonly string[]).includes(n), `${where}: ${n} is not read by tee-gateway`).toBe(true);
  expect(names, where).toContain('TEE_GATEWAY_DATABASE');
}

const listenPort = (args: Map<string, string | true>): number => Number(/:(\d+)$/.exec(String(args.get('listen')))?.[1]);

describe('Kubernetes: deploy/kubernetes/gateway/tee-gateway.yaml', () => {
  const file = join(deploy, 'kubernetes', 'gateway', 'tee-gateway.yaml');
  const text = readFileSync(file, 'utf8');
  const objects = yamlDocs(file);
  const deployment = objects.find((o) => o['kind'] === 'Deployment')!;
  const service = objects.find((o) => o['kind'] === 'Service')!;
  const pod = deployment['spec']['template']['spec'] as Obj;
  const containers = pod['containers'] as Obj[];
  const gateway = containers.find((c) => (c['args'] as string[] | undefined)?.[0] === 'tee-gateway')!;
  const args = serveArgs(gateway['args'], 'Deployment');

  it('objects: apiVersion, kind, name; a Deployment of several replicas, a Service and a PodDisruptionBudget selecting its pods', () => {
    for (const o of objects) {
      expect(typeof o['apiVersion']).toBe('string');
      expect(o['metadata']?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(objects.map((o) => `${o['apiVersion']} ${o['kind']}`)).toEqual(['apps/v1 Deployment', 'v1 Service', 'policy/v1 PodDisruptionBudget']);
    expect(deployment['spec']['replicas']).toBeGreaterThanOrEqual(2);
    const labels = deployment['spec']['template']['metadata']['labels'] as Obj;
    for (const sel of [deployment['spec']['selector']['matchLabels'], service['spec']['selector'], objects[2]!['spec']['selector']['matchLabels']] as Obj[]) {
      for (const [k, v] of Object.entries(sel)) expect(labels[k]).toBe(v);
    }
  });

  it('each replica in its own TEE (a confidential runtime class), the upstream in the same pod on loopback; the comments say so', () => {
    expect(typeof pod['runtimeClassName']).toBe('string');
    const upstream = new URL(String(args.get('upstream')));
    expect(['127.0.0.1', 'localhost']).toContain(upstream.hostname);
    const backend = containers.find((c) => c !== gateway)!;
    expect(backend).toBeDefined();
    const host = (backend['env'] as Obj[]).find((e) => e['name'] === 'OLLAMA_HOST')!['value'] as string;
    expect(host).toBe(`${upstream.hostname}:${upstream.port}`);
    // The backend is not reachable from outside the pod: it publishes no port the Service could target.
    expect(backend['ports']).toBeUndefined();
    expect(text).toMatch(/own TEE/);
    expect(text).toMatch(/same TEE/);
  });

  it('database from the secret via TEE_GATEWAY_DATABASE; probes, ports and the grace period agree with the server', () => {
    const env = gateway['env'] as Obj[];
    checkEnv(env.map((e) => e['name']), 'Deployment');
    expect(env.find((e) => e['name'] === 'TEE_GATEWAY_DATABASE')!['valueFrom']['secretKeyRef']['name']).toBe('tee-gateway');
    const ports = gateway['ports'] as Obj[];
    expect(ports.map((p) => p['containerPort'])).toContain(listenPort(args));
    const names = new Set(ports.map((p) => p['name']));
    expect(gateway['readinessProbe']['httpGet']).toMatchObject({ path: '/health', scheme: 'HTTPS' });
    expect(names.has(gateway['readinessProbe']['httpGet']['port'])).toBe(true);
    expect(names.has(gateway['livenessProbe']['tcpSocket']['port'])).toBe(true);
    for (const p of service['spec']['ports'] as Obj[]) expect(names.has(p['targetPort'])).toBe(true);
    const grace = Number(args.get('shutdown-grace'));
    const preStop = Number((gateway['lifecycle']['preStop']['exec']['command'] as string[]).at(-1));
    expect(pod['terminationGracePeriodSeconds']).toBeGreaterThan(grace + preStop);
    if (gateway['securityContext']?.readOnlyRootFilesystem) expect((gateway['volumeMounts'] as Obj[]).map((m) => m['mountPath'])).toContain('/var/cache/tee');
  });
});

describe('Compose: gateways in deploy/docker-compose.yml', () => {
  const compose = yamlDocs(join(deploy, 'docker-compose.yml'))[0] as Obj;
  const services = compose['services'] as Obj;
  const gateways = Object.entries(services).filter(([, s]) => (s['command'] as string[] | undefined)?.[0] === 'tee-gateway');
  const pgName = Object.keys(services).find((n) => String(services[n]['image']).startsWith('postgres:'))!;

  it('at least two gateways on the shared PostgreSQL, waiting for it; known flags; distinct published ports reaching the listen port', () => {
    expect(gateways.length).toBeGreaterThanOrEqual(2);
    const published = new Set<string>();
    for (const [name, s] of gateways) {
      const args = serveArgs(s['command'], name);
      expect(s['depends_on'][pgName]['condition'], name).toBe('service_healthy');
      const env = s['environment'] as Obj;
      checkEnv(Object.keys(env), name);
      expect(String(env['TEE_GATEWAY_DATABASE'])).toMatch(new RegExp(`^postgres://[^@]+@${pgName}:5432/`));
      for (const p of s['ports'] as string[]) {
        const [hostPort, target] = p.split(':');
        expect(Number(target), name).toBe(listenPort(args));
        expect(published.has(hostPort!), `${name}: port ${hostPort} published twice`).toBe(false);
        published.add(hostPort!);
      }
      expect(existsSync(join(deploy, s['build']['context'], s['build']['dockerfile']))).toBe(true);
      expect(Number(String(s['stop_grace_period']).replace(/s$/, ''))).toBeGreaterThan(Number(args.get('shutdown-grace')));
    }
  });

  it('the upstream is a service of the same file that publishes no port; the database and role of the URL are created by the init script', () => {
    for (const [name, s] of gateways) {
      const upstream = new URL(String(serveArgs(s['command'], name).get('upstream')));
      const backend = services[upstream.hostname];
      expect(backend, `${name}: upstream ${upstream.hostname} is not a service here`).toBeDefined();
      expect(backend['ports']).toBeUndefined();
      const db = new URL(String(s['environment']['TEE_GATEWAY_DATABASE']).replace(/\$\{[^}]+\}/g, 'x'));
      const init = (services[pgName]['volumes'] as string[]).find((v) => v.endsWith(':/docker-entrypoint-initdb.d:ro'))!;
      const dir = join(deploy, init.split(':')[0] as string);
      const script = readFileSync(join(dir, '10-tee-gateway.sh'), 'utf8');
      expect(script).toContain(`CREATE ROLE ${db.username} LOGIN`);
      expect(script).toContain(`CREATE DATABASE ${db.pathname.slice(1)} OWNER ${db.username}`);
      // The password variable the script reads is passed to the PostgreSQL container.
      const variable = /="\$([A-Z_]+)"/.exec(script)?.[1];
      expect(variable).toBeDefined();
      expect(Object.keys(services[pgName]['environment'])).toContain(variable);
    }
  });
});

describe('Dockerfile', () => {
  it('the image carries the gateway CLI, and its HEALTHCHECK (/health on 8443) fits the gateway as well', () => {
    const text = readFileSync(join(deploy, 'Dockerfile'), 'utf8');
    expect(text).toMatch(/COPY bin \.\/bin/);
    expect(existsSync(join(root, 'bin', 'tee-gateway.js'))).toBe(true);
    expect(text).toContain("path:'/health'");
    expect(text).toContain('port:8443');
  });
});
