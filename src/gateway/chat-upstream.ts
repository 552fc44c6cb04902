/**
 * A fake chat backend for tests and the demo (never for production), speaking the shapes of Ollama's
 * `/api/chat` and `/api/generate` (NDJSON stream by default, one object with
 * `stream: false`) and OpenAI's `/v1/chat/completions` (one
 * `chat.completion`, or with `stream: true` server-sent `chat.completion.chunk`
 * events ending in `data: [DONE]`), as those projects document them. It
 * records every request body it receives, so tests can prove that no prompt
 * byte reached it. `/slow` never answers; `/stall` sends headers then stalls.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatUpstream {
  url: string;
  /** Every request: method, path, headers and body text. */
  received: { method: string; path: string; body: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/** The reply is the prompt's words echoed back, one word per chunk. */
export function replyWords(prompt: string): string[] {
  return `You said: ${prompt}`.split(/(?<= )/);
}

const iso = (): string => new Date().toISOString();

function lastUserContent(doc: { messages?: { role: string; content: string }[]; prompt?: string }): string {
  return doc.prompt ?? [...(doc.messages ?? [])].reverse().find((m) => m.role === 'user')?.content ?? '';
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const ollamaFinal = (model: string, n: number) => ({
  model, created_at: iso(), done: true, done_reason: 'stop',
  total_duration: 4_883_583_458, load_duration: 1_334_875, prompt_eval_count: 26, prompt_eval_duration: 342_546_000, eval_count: n, eval_duration: 4_535_599_000,
});

export async function startChatUpstream(o: { chunkDelayMs?: number } = {}): Promise<ChatUpstream> {
  const received: ChatUpstream['received'] = [];
  const delay = (): Promise<void> => new Promise((r) => setTimeout(r, o.chunkDelayMs ?? 1));
  const server: Server = createServer(async (req, res) => {
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      return; // the client went away mid-body (for example the gateway cut an oversized request)
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    received.push({ method: req.method ?? '', path, body, headers: req.headers });
    if (path === '/slow') return; // never answers
    if (path === '/stall') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"partial":true}\n');
      return;
    }
    let doc: { model?: string; stream?: boolean; messages?: { role: string; content: string }[]; prompt?: string };
    try {
      doc = body ? JSON.parse(body) : {};
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid JSON"}');
      return;
    }
    const model = doc.model ?? 'llama3.2';
    const words = replyWords(lastUserContent(doc));
    if (path === '/api/chat' || path === '/api/generate') {
      const chat = path === '/api/chat';
      const piece = (w: string) => (chat ? { message: { role: 'assistant', content: w } } : { response: w });
      if (doc.stream === false) {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ ...ollamaFinal(model, words.length), ...piece(words.join("")) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const w of words) {
        res.write(`${JSON.stringify({ model, created_at: iso(), ...piece(w), done: false })}\n`);
        await delay();
      }
      res.end(`${JSON.stringify({ ...ollamaFinal(model, words.length), ...piece('') })}\n`);
      return;
    }
    if (path === '/v1/chat/completions') {
      const id = `chatcmpl-${Math.random().toString(36).slice(2, 12)}`;
      const created = Math.floor(Date.now() / 1000);
      if (doc.stream !== true) {
        const content = words.join('');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          id, object: 'chat.completion', created, model, system_fingerprint: 'fp_tee_verify',
          choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 9, completion_tokens: words.length, total_tokens: 9 + words.length },
        }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_tee_verify', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }, null));
      for (const w of words) {
        res.write(chunk({ content: w }, null));
        await delay();
      }
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
