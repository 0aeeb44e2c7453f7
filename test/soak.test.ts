// The short soak of the test suite (`npm run soak` is the long one, docs/soak.md): a real server
// with the audit log on (rotated under it every window), a brief probe of its maximum, then 80 %
// of it for 8 s of a mixed workload in eight windows. Errors and resident-memory growth after
// warm-up are the checks; latency only for gross drift, since the machine is shared. The paced
// phase keeps both cores busy, which slows every file running beside it, so `npm test` keeps it
// short; KEYHOLD_SOAK_MS sets it (CI runs 20000, .ci/run; 35000 for a longer look).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runSoak } from '../bench/soak-run.ts';

const DURATION_MS = Number(process.env.KEYHOLD_SOAK_MS ?? '8000');

it('a short soak at 80 % of the probed maximum has no errors and no memory growth', async () => {
  const result = await runSoak({
    durationMs: DURATION_MS,
    windowMs: DURATION_MS / 8,
    warmupWindows: 2,
    probeMs: Math.min(4_000, DURATION_MS / 4),
    fraction: 0.8,
    concurrency: 16,
    // The production default on two cores (a primary and two workers), whatever the suite's default.
    serverArgs: ['--workers', '2'],
    // Three processes' heaps settle in steps of tens of MiB on a loaded machine; a per-request
    // leak of a few KiB over the ~thousands of requests shows above this.
    maxGrowthBytes: 96 * 1024 * 1024,
    driftFactor: 10,
    driftFloorMs: 50,
  });
  const summary = result.windows
    .map(
      (w) =>
        `${w.atSeconds.toFixed(0)}s ${w.opsPerSecond.toFixed(0)}/s rss ${w.rssBytes >> 20} MiB p50 ${w.p50Ms.toFixed(1)} ms`,
    )
    .join('\n');
  assert.ok(result.windows.length >= 6, summary);
  assert.ok(
    result.windows.every((w) => w.ops > 0),
    `a window without operations:\n${summary}`,
  );
  assert.ok(result.auditRotations >= 6);
  assert.deepEqual(result.failures, [], summary);
});
