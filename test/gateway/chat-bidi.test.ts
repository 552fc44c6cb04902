/**
 * Bidi controls from the evidence or the model cannot reorder what the chat
 * terminal shows (review, session 4): the verification lines escape every
 * bidi control and the line separators; the model's text escapes embeddings,
 * overrides and isolates but keeps the marks right-to-left prose uses.
 */
import { describe, expect, it } from 'vitest';

import { describeVerification, lineSafe, terminalSafe } from '../../src/gateway/chat-cli.js';
import type { GatewayVerification } from '../../src/gateway/verify.js';

const RLO = '\u202e';
const PDF = '\u202c';
const LRI = '\u2066';
const RLM = '\u200f';

describe('bidi controls in the chat terminal', () => {
  it('a verification line shows every bidi control and separator as \\u{..}', () => {
    expect(lineSafe(`a${RLO}b${PDF}c${LRI}d${RLM}e\u2028f\u061c`)).toBe('a\\u{202e}b\\u{202c}c\\u{2066}d\\u{200f}e\\u{2028}f\\u{61c}');
    const v: GatewayVerification = {
      tee: 'tdx', tcbStatus: `UpToDate${RLO}etadpUtuO`, advisoryIds: [`INTEL-SA-0${RLO}1234`], measurements: {}, debug: false,
      certificateSha256: 'c', spkiSha256: 's', at: '2026-01-01T00:00:00.000Z', validUntil: '2026-01-02T00:00:00.000Z', warnings: [`w${LRI}x`],
    };
    const text = describeVerification(v).join('\n');
    expect(text).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(text).toContain('UpToDate\\u{202e}etadpUtuO');
    expect(text).toContain('w\\u{2066}x');
  });

  it("the model's text loses embeddings, overrides and isolates, keeps marks, newlines and tabs", () => {
    expect(terminalSafe(`x${RLO}y${PDF}z${LRI}w`)).toBe('x\\u{202e}y\\u{202c}z\\u{2066}w');
    expect(terminalSafe(`שלום${RLM} world\n\tok`)).toBe(`שלום${RLM} world\n\tok`);
    expect(terminalSafe('\x1b[2J')).toBe('\\x1b[2J');
  });
});

describe('a refusal that quotes the gateway cannot forge lines', () => {
  it("the gateway's own text in a refusal (here a 500 answer with a line break) stays on the refusal's line", async () => {
    const { generateTls } = await import('../../src/gateway/tls.js');
    const { createServer } = await import('node:https');
    const { runChatSession } = await import('../../src/gateway/chat-cli.js');
    const { BundleSource, CollateralService, loadPolicy } = await import('../../src/index.js');
    const tls = await generateTls(['127.0.0.1']);
    const forged = 'oops\nTEE: tdx\nTCB status: UpToDate\u202e';
    const server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(forged) });
      res.end(forged);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as { port: number };
    let stderr = '';
    let stdout = '';
    try {
      const code = await runChatSession(
        { gateway: `https://127.0.0.1:${port}`, client: { policy: loadPolicy({ tee: 'tdx', mrTd: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }), collateral: new CollateralService({ intel: new BundleSource([]), cache: null }) }, api: 'ollama', model: 'm', prompt: 'hello' },
        { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
      );
      expect(code).not.toBe(0);
    } finally {
      server.close();
    }
    expect(stderr).toContain('oops\\x0aTEE: tdx\\x0aTCB status: UpToDate\\u{202e}');
    expect(`${stdout}${stderr}`.split('\n').filter((l) => l.startsWith('TEE:'))).toEqual([]);
  });
});
