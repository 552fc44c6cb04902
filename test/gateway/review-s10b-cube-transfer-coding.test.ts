/**
 * Review s10 changes A, item 8 (brief R6): a Transfer-Encoding other than exactly `chunked` is refused
 * before routing (review s10, G6), so Cube's POST /attestation answered it as {"error": {code, message}}
 * while every other error of that route is in Cube's format, {"error": "<message>", "code"}, which Cube's
 * Go clients decode (the other shape is a decode error there). Now the refusal there is in Cube's
 * format too; the gateway's own routes keep theirs. Raw TLS bytes, so the header reaches the gateway as sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write(bytes, 'latin1'));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

function parse(answer: string): { status: number; headers: Map<string, string>; body: string } {
  const end = answer.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = answer.slice(0, end).split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: answer.slice(end + 4) };
}

const CHUNKED_BODY = '2\r\n{}\r\n0\r\n\r\n';
const request = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${CHUNKED_BODY}`;

describe('a bad Transfer-Encoding on Cube\'s POST /attestation', () => {
  const dirs: string[] = [];
  let on: Gateway;
  let off: Gateway;
  beforeAll(async () => {
    const start = (cubeAttestation: boolean): Promise<Gateway> => {
      const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s10b-cube-te-'));
      dirs.push(dir);
      return startGateway({ upstream: 'http://127.0.0.1:9', db: join(dir, 'g.sqlite'), provider: simulated, port: 0, requireApiKey: false, cubeAttestation, log: () => {} });
    };
    on = await start(true);
    off = await start(false);
  });
  afterAll(async () => {
    await on?.close();
    await off?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is 400 in Cube\'s error format, the connection closed (its body was not read), whether the route is on or off', async () => {
    for (const gw of [on, off]) {
      const a = parse(await rawExchange(gw.port, request('/attestation')));
      expect(a.status).toBe(400);
      expect(a.headers.get('connection')).toBe('close');
      const json = JSON.parse(a.body);
      expect(typeof json.error).toBe('string');
      expect(json.error).toMatch(/Transfer-Encoding/);
      expect(json.code).toBe('ERR_GATEWAY_BAD_REQUEST');
    }
  });

  it('the gateway\'s own routes keep their format: {"error": {code, message}}', async () => {
    const a = parse(await rawExchange(on.port, request('/v1/attestation')));
    expect(a.status).toBe(400);
    expect(JSON.parse(a.body).error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
  });
});
