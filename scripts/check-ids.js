#!/usr/bin/env node
// Cross-checks that every checklist id (verifier-checklist.md: T01-T52, S01-S46,
// X01-X16) appears both where a check lives (src/ or cpp/) and in a test
// (test/), except the ids listed below as structural or as belonging to a later
// layer (clarifications: "Negative tests per checklist id"). Exit 1 on a gap.
//
//   node scripts/check-ids.js [--json]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const range = (prefix, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${String(from + i).padStart(2, '0')}`);
export const ALL_IDS = [...range('T', 1, 52), ...range('S', 1, 46), ...range('X', 1, 16)];

/** Structural rather than a decision (docs/checklist-coverage.md says why). */
export const STRUCTURAL = new Set(['T01', 'T44', 'T49', 'T50', 'X10', 'X14', 'S01', 'S33', 'S41']);

/** Checks of later layers: nonce freshness, key release, result caching (key broker). */
export const LATER_LAYERS = new Set(['T42', 'T52', 'S30', 'X11']);

function filesUnder(dir, exts) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(path);
  }
  return out;
}

function idsIn(files) {
  const found = new Set();
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\b([TSX]\d{2})\b/g)) found.add(m[1]);
  return found;
}

export function coverage() {
  const inSource = idsIn([...filesUnder(join(root, 'src'), ['.ts']), ...filesUnder(join(root, 'cpp'), ['.cc', '.h'])]);
  const inTests = idsIn(filesUnder(join(root, 'test'), ['.ts']));
  const required = ALL_IDS.filter((id) => !STRUCTURAL.has(id) && !LATER_LAYERS.has(id));
  return {
    required: required.length,
    missingInSource: required.filter((id) => !inSource.has(id)),
    missingInTests: required.filter((id) => !inTests.has(id)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const c = coverage();
  if (process.argv.includes('--json')) console.log(JSON.stringify(c, null, 2));
  else {
    console.log(`checklist ids required: ${c.required}`);
    console.log(`missing where checks live (src/, cpp/): ${c.missingInSource.join(' ') || 'none'}`);
    console.log(`missing in tests (test/): ${c.missingInTests.join(' ') || 'none'}`);
  }
  process.exit(c.missingInSource.length || c.missingInTests.length ? 1 : 0);
}
