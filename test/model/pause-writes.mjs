// Preloaded (node --import) into a tee-model child by review-s7-interrupt.test.ts: the first
// FileHandle.write of the process never completes, and "paused" is printed on stderr instead, so
// the child is held mid-decryption (staging directory and .part file present) until the test
// signals it. Deterministic: no timing.
import { open } from 'node:fs/promises';

const probe = await open(process.execPath, 'r');
const proto = Object.getPrototypeOf(probe);
await probe.close();
const write = proto.write;
let paused = false;
proto.write = function (...args) {
  if (paused) return write.apply(this, args);
  paused = true;
  setInterval(() => {}, 1 << 30); // keeps the event loop alive while the write never settles
  process.stderr.write('paused\n');
  return new Promise(() => {});
};
