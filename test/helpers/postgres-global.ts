/**
 * vitest global setup: a directory where the first test file that needs
 * PostgreSQL starts one throwaway cluster for the run (test/helpers/postgres.ts);
 * teardown stops that cluster if one was started. Nothing starts otherwise.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { TestProject } from 'vitest/node';

const script = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'scripts', 'pg-test-cluster.sh');

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'tee-pg-shared-'));
  (project.provide as (k: string, v: string) => void)('teePgSharedDir', dir);
  process.env['TEE_PG_SHARED_DIR'] = dir;
  return () => {
    const envFile = join(dir, 'cluster.json');
    if (existsSync(envFile)) {
      const { dir: clusterDir } = JSON.parse(readFileSync(envFile, 'utf8')) as { dir: string };
      execFileSync('bash', [script, 'stop', clusterDir], { stdio: 'ignore' });
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
