// Preloaded (node --import) into a tee-model child by review-s11-aside.test.ts. HANG_AT selects a
// point of publishStaging's swap at which the child stops for good, printing the word on stderr,
// so the test can SIGKILL it exactly there (deterministic: no timing):
//   "swap":   after the previous output was renamed aside, before the new one is renamed to -o;
//   "remove": after the new output is in place, before the aside is deleted.
// node:fs/promises is patched through its CommonJS object, and syncBuiltinESMExports() carries the
// change to the named ESM imports of the modules loaded after this one.
import { createRequire, syncBuiltinESMExports } from 'node:module';

const fsp = createRequire(import.meta.url)('node:fs/promises');
const at = process.env.HANG_AT;
// `.<name>.old-<host>.pidns-<ns>.<pid>-<hex>`, and the `.<name>.<pid>.<hex>.old` of versions before review s11.
const isAside = (p) => /\/\.[^/]+\.old-[^/]+$/.test(String(p)) || /\/\.[^/]+\.\d+\.[0-9a-f]{12}\.old$/.test(String(p));
const hang = (word) => {
  setInterval(() => {}, 1 << 30); // keeps the process alive while the promise never settles
  process.stderr.write(`${word}\n`);
  return new Promise(() => {});
};
const { rename, rm } = fsp;
fsp.rename = async function (from, to, ...rest) {
  const r = await rename.call(this, from, to, ...rest);
  if (at === 'swap' && isAside(to)) return hang('swap');
  return r;
};
fsp.rm = async function (path, ...rest) {
  if (at === 'remove' && isAside(path)) return hang('remove');
  return rm.call(this, path, ...rest);
};
syncBuiltinESMExports();
