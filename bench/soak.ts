// `npm run soak -- --minutes N [--rate R | --fraction F]`: a long run of a mixed KMS workload at
// a fraction of the measured maximum (80 % by default) against a real server with the audit log
// on; prints one line per window and a JSON summary, and exits 1 on any error, on memory growth
// beyond the bound after warm-up, or on latency drift (docs/soak.md).

import { parseArgs } from 'node:util';
import { mib, runSoak } from './soak-run.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    rate: { type: 'string' },
    fraction: { type: 'string', default: '0.8' },
    'window-seconds': { type: 'string', default: '60' },
    'warmup-windows': { type: 'string', default: '2' },
    'probe-seconds': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    'max-growth-mib': { type: 'string', default: '64' },
    'drift-factor': { type: 'string', default: '3' },
    workers: { type: 'string' },
  },
});

const result = await runSoak({
  durationMs: Number(values.minutes) * 60_000,
  windowMs: Number(values['window-seconds']) * 1000,
  warmupWindows: Number(values['warmup-windows']),
  probeMs: Number(values['probe-seconds']) * 1000,
  ...(values.rate === undefined ? {} : { rate: Number(values.rate) }),
  fraction: Number(values.fraction),
  concurrency: Number(values.concurrency),
  maxGrowthBytes: Number(values['max-growth-mib']) * 1024 * 1024,
  driftFactor: Number(values['drift-factor']),
  driftFloorMs: 5,
  ...(values.workers === undefined ? {} : { serverArgs: ['--workers', values.workers] }),
  onNote: (line) => console.log(line),
  onWindow: (w) =>
    console.log(
      `${w.atSeconds.toFixed(0).padStart(6)} s  ${w.opsPerSecond.toFixed(0).padStart(6)} ops/s` +
        `  errors ${w.errors}  late ${w.late}  rss ${mib(w.rssBytes)}` +
        `  p50 ${w.p50Ms.toFixed(2)} ms  p99 ${w.p99Ms.toFixed(2)} ms  max ${w.maxMs.toFixed(1)} ms`,
    ),
});
console.log(JSON.stringify(result));
if (result.failures.length > 0) {
  console.error(`soak FAILED: ${result.failures.join('; ')}`);
  process.exit(1);
}
console.log('soak passed');
