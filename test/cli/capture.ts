/** In-memory streams for running the CLI in-process. */
import type { CliIo } from '../../src/cli/index.js';

export interface Captured {
  io: CliIo;
  stdout: () => string;
  stderr: () => string;
}

export function capture(options: { tty?: boolean; env?: Record<string, string> } = {}): Captured {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s), isTTY: options.tty ?? false },
    stderr: { write: (s: string) => (err += s) },
    env: options.env ?? {},
  };
  return { io, stdout: () => out, stderr: () => err };
}
