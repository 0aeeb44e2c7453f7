// Runs scripts/check-models.sh: Spin checks the cluster model (models/cluster.pml) exhaustively at
// small bounds and finds a counterexample for each deliberately broken rule. Without Spin the test
// skips with one loud line, or fails when KEYHOLD_REQUIRE_SPIN=1 (as CI sets it).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import process from 'node:process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/check-models.sh', import.meta.url));
/** The script's exit status when Spin or gcc is missing. */
const SKIPPED = 77;
/** Checks the script runs: three that must hold, six broken rules that must fail. */
const CHECKS = 9;

function run(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT], { timeout: 300_000 }, (error, stdout, stderr) => {
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
        output: stdout + stderr,
      });
    });
  });
}

test('the cluster model: its rules hold, and each broken rule yields a counterexample (Spin)', async (t) => {
  const { code, output } = await run();
  if (code === SKIPPED) {
    assert.notEqual(process.env.KEYHOLD_REQUIRE_SPIN, '1', output);
    t.skip(output.trim());
    return;
  }
  assert.equal(code, 0, output);
  assert.equal(output.match(/^ok {4}/gm)?.length, CHECKS, output);
  assert.match(output, /^check-models: all checks as expected$/m);
});
