/** The body and Content-Type of one answer to Cube's POST /attestation (protocols.md §8.2). */
export interface CubeAnswer {
  body: Buffer;
  contentType: 'application/json' | 'application/octet-stream';
}

/** Cube's rule (agent/api/transport.go): JSON when the body starts with '{' or '[', else octet-stream. */
export function cubeAnswer(body: Buffer): CubeAnswer {
  const first = body[0];
  return { body, contentType: first === 0x7b || first === 0x5b ? 'application/json' : 'application/octet-stream' };
}

/**
 * protojson's output as Cube asks for it (MarshalOptions{Multiline: true,
 * Indent: "\t"}): one field per line, tab-indented. protojson sometimes adds a
 * second space after a colon on purpose (its output is not stable); readers
 * parse JSON, so the single space here is one of its valid forms.
 */
export function cubeJson(json: unknown): Buffer {
  return Buffer.from(JSON.stringify(json, null, '\t'));
}

/**
 * An error answer in the shape of Cube's agent, `{"error": "<message>"}` (protocols.md §8.2): its
 * Go clients decode `error` as a string, so the gateway's usual `{"error": {code, message}}` would
 * be a decode error there. The stable code travels alongside as `code`.
 */
export function cubeErrorBody(code: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ error: message, code }));
}
