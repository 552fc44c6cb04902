/**
 * Review session 6, finding 1: the gateway's TLS private key was written next to the SQLite file,
 * unsealed, and read back at every start. A client trusts the KEY its attestation bound, so another
 * image restarted on the same database kept being sent prompts without a new attestation, and a
 * host reading the file could relay with it. Now every start generates a fresh key in memory; a key
 * is loaded or persisted only from files the operator names (--tls-cert/--tls-key), with a WARNING.
 * Real gateways on 127.0.0.1 with the simulated TDX TEE.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { AttestationRefusedError, AttestedClient, startGateway, type Gateway } from '../../src/gateway/index.js';
import { spkiSha256 } from '../../src/gateway/binding.js';
import { generateTls } from '../../src/gateway/tls.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, tdxPolicy } from './helpers.js';
import { startChatUpstream, type ChatUpstream } from './upstream.js';

let upstream: ChatUpstream;
let dir: string;
beforeAll(async () => {
  upstream = await startChatUpstream();
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s6-tls-'));
});
afterAll(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

const start = (db: string, provider: EvidenceProvider, o: { log?: (l: string) => void; tls?: { cert: string; key: string } } = {}): Promise<Gateway> =>
  startGateway({ upstream: upstream.url, db, provider, port: 0, log: o.log ?? (() => {}), requireApiKey: false, ...(o.tls ? { tls: o.tls } : {}) });

/**
 * A TCP relay on a port of its own to the gateway port `to` names at connect time: the client's
 * origin stays while the gateway behind it is restarted, and no test binds a port another
 * process may have taken since it was freed. Each side's end or failure ends the other.
 */
async function relay(to: { port: number }): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((inbound) => {
    const outbound = tcpConnect(to.port, '127.0.0.1');
    for (const [a, b] of [[inbound, outbound], [outbound, inbound]] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const chat = async (client: AttestedClient, prompt: string): Promise<number> => {
  const r = await client.fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ollamaChat(prompt, false) });
  await r.text();
  return r.status;
};

describe('the TLS key of a gateway without --tls-cert/--tls-key lives in memory only', () => {
  it('restarted on the same database with another image: the client attests again and refuses it (T36); the upstream receives nothing', async () => {
    const db = join(dir, 'same.sqlite');
    const first = await start(db, simulated);
    const behind = { port: first.port };
    const origin = await relay(behind);
    const client = new AttestedClient(origin.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    let second: Gateway | undefined;
    try {
      expect(await chat(client, 'hello')).toBe(200);
      const firstKey = client.last!.spkiSha256;
      await first.close();
      const otherImage = new SimulatedTeeProvider({ state: { ...simulated.exportState(), seed: 'another image' } });
      expect(await mrTdOf(otherImage)).not.toBe(await mrTdOf(simulated));
      second = await start(db, otherImage);
      behind.port = second.port; // the restarted gateway answers at the client's origin
      expect(second.spkiSha256).not.toBe(firstKey);
      // Nothing of the key reached the disk.
      expect(existsSync(`${db}.tls-key.pem`)).toBe(false);
      expect(existsSync(`${db}.tls-cert.pem`)).toBe(false);
      const before = upstream.received.length;
      const err = await chat(client, SECRET).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_POLICY');
      expect((err as AttestationRefusedError).details.checks).toContain('T36');
      expect(upstream.received.length).toBe(before);
    } finally {
      await client.close();
      await origin.close();
      await first.close();
      await second?.close();
    }
  });

  it('an existing <db>.tls-key.pem (written by earlier versions) is not read, and the log says so', async () => {
    const db = join(dir, 'old.sqlite');
    const old = await generateTls(['127.0.0.1']);
    writeFileSync(`${db}.tls-key.pem`, old.key, { mode: 0o600 });
    writeFileSync(`${db}.tls-cert.pem`, old.cert);
    const lines: string[] = [];
    const g = await start(db, simulated, { log: (l) => lines.push(l) });
    try {
      expect(g.spkiSha256).not.toBe(spkiSha256(old.cert).toString('hex'));
      expect(lines.some((l) => l.includes(`WARNING: ${db}.tls-key.pem is no longer read`))).toBe(true);
      expect(readFileSync(`${db}.tls-key.pem`, 'utf8')).toBe(old.key); // left for the operator to delete
    } finally {
      await g.close();
    }
  });

  it('a key given by the operator is used, with a WARNING that it must live on TEE-private storage', async () => {
    const tls = await generateTls(['127.0.0.1']);
    const lines: string[] = [];
    const g = await start(join(dir, 'given.sqlite'), simulated, { tls, log: (l) => lines.push(l) });
    try {
      expect(g.spkiSha256).toBe(spkiSha256(tls.cert).toString('hex'));
      expect(lines.some((l) => l.startsWith('tee-gateway: WARNING: TLS key given') && l.includes('private to the TEE'))).toBe(true);
    } finally {
      await g.close();
    }
  });

  it('without a key given there is no such warning', async () => {
    const lines: string[] = [];
    const g = await start(join(dir, 'quiet.sqlite'), simulated, { log: (l) => lines.push(l) });
    try {
      // Only the TLS-key warnings: this gateway runs with requireApiKey: false, which warns of its own (review s8 D6).
      expect(lines.filter((l) => l.includes('WARNING') && !l.includes('API keys are off'))).toEqual([]);
    } finally {
      await g.close();
    }
  });
});

describe('tee-gateway serve --tls-cert/--tls-key', () => {
  const io = () => {
    const o = { stdout: '', stderr: '' };
    return { o, io: { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv } };
  };
  const serve = (db: string, cert: string, key: string, c: ReturnType<typeof io>['io']) =>
    runGatewayCli(['serve', '--upstream', upstream.url, '--db', db, '--listen', '127.0.0.1:0', '--simulated-tee', '--tls-cert', cert, '--tls-key', key], c);

  it('neither file exists: generated there (key mode 0600) and loaded again at the next start', async () => {
    const cert = join(dir, 'op-cert.pem');
    const key = join(dir, 'op-key.pem');
    const a = io();
    const first = await serve(join(dir, 'op.sqlite'), cert, key, a.io);
    expect(first.code).toBe(0);
    try {
      expect(a.o.stderr).toContain(`generated a TLS key in ${key}`);
      expect(a.o.stderr).toContain('WARNING: TLS key given');
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(first.gateway!.spkiSha256).toBe(spkiSha256(readFileSync(cert, 'utf8')).toString('hex'));
    } finally {
      await first.gateway?.close();
    }
    const b = io();
    const second = await serve(join(dir, 'op.sqlite'), cert, key, b.io);
    try {
      expect(second.code).toBe(0);
      expect(b.o.stderr).not.toContain('generated a TLS key');
      expect(second.gateway!.spkiSha256).toBe(first.gateway!.spkiSha256);
    } finally {
      await second.gateway?.close();
    }
  });

  it('only one of the two files exists: refused (exit 78), nothing generated', async () => {
    const cert = join(dir, 'half-cert.pem');
    const key = join(dir, 'half-key.pem');
    writeFileSync(cert, (await generateTls(['127.0.0.1'])).cert);
    const c = io();
    const r = await serve(join(dir, 'half.sqlite'), cert, key, c.io);
    await r.gateway?.close();
    expect(r.code).toBe(78);
    expect(c.o.stderr).toContain('ERR_GATEWAY_CONFIG');
    expect(existsSync(key)).toBe(false);
  });
});
