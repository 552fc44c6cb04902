/**
 * Slow clients for the server-hardening tests (gateway and key broker): a
 * real TLS (or TCP) socket on 127.0.0.1 that sends one byte at a time and
 * never finishes. Each resolves with what the server did once it cut the
 * connection; it rejects only when the server has not cut it by a generous
 * deadline (the test then fails: the server would have held it forever).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Far above any bound the tests configure (a few hundred ms): only "it happened", never "how fast". */
export const GENEROUS_DEADLINE_MS = 10_000;

export interface Cut {
  /** What the server sent back before closing (for example "HTTP/1.1 408 Request Timeout…"), or "". */
  answer: string;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Sends `prefix` at once, then `fill` one byte every `everyMs` until the server closes the connection. */
function dribbleOn(socket: Socket, ready: string, prefix: string, fill: string, everyMs: number): Promise<Cut> {
  return new Promise<Cut>((resolve, reject) => {
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`the server held a dribbling connection for ${GENEROUS_DEADLINE_MS} ms without cutting it`));
    }, GENEROUS_DEADLINE_MS);
    socket.on(ready, () => {
      if (prefix) socket.write(prefix);
      if (!fill) return;
      let i = 0;
      timer = setInterval(() => {
        if (!socket.destroyed && socket.writable) socket.write(fill[i++ % fill.length] as string);
      }, everyMs);
    });
    socket.on('data', (d: Buffer) => void (answer += d.toString('latin1')));
    socket.on('error', () => {}); // a reset is a cut too
    socket.on('close', () => {
      clearTimeout(deadline);
      clearInterval(timer);
      resolve({ answer });
    });
  });
}

/** TLS established, then a request head that never ends (slowloris on the headers). */
export function dribbleHeaders(url: string, path = '/health', everyMs = 50): Promise<Cut> {
  const s = tlsConnect({ host: '127.0.0.1', port: portOf(url), rejectUnauthorized: false });
  return dribbleOn(s, 'secureConnect', `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `, 'a', everyMs);
}

/** Complete headers announcing a body that then arrives one byte at a time and never completes. */
export function dribbleBody(url: string, path: string, headers: Record<string, string> = {}, everyMs = 50): Promise<Cut> {
  const s = tlsConnect({ host: '127.0.0.1', port: portOf(url), rejectUnauthorized: false });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return dribbleOn(s, 'secureConnect', `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n${extra}\r\n{"nonce": "`, 'A', everyMs);
}

/** TLS established, then silence (the server must not wait for a first byte forever). */
export function silentAfterHandshake(url: string): Promise<Cut> {
  const s = tlsConnect({ host: '127.0.0.1', port: portOf(url), rejectUnauthorized: false });
  return dribbleOn(s, 'secureConnect', '', '', 0);
}

/** Plain TCP dribbling the start of a TLS ClientHello: the handshake itself never completes. */
export function dribbleHandshake(url: string, everyMs = 50): Promise<Cut> {
  const s = tcpConnect(portOf(url), '127.0.0.1');
  // A TLS record header (handshake, TLS 1.0 record version, 512 bytes) then ClientHello bytes, one at a time.
  return dribbleOn(s, 'connect', '', Buffer.from('160301020001000200', 'hex').toString('latin1') + '\u0003'.repeat(600), everyMs);
}

/** True when the server answered 408 before closing, or closed without a word (both are a cut). */
export const isCut = (c: Cut): boolean => c.answer === '' || c.answer.startsWith('HTTP/1.1 408');
