// The short fuzzing run of CI: every target runs its seed corpus and then a fixed number of
// mutated inputs from a fixed seed (KEYHOLD_FUZZ_SEED overrides it), so that a loaded machine runs
// the same inputs, only slower. Any finding fails the test; `npm run fuzz` is the long run
// (docs/fuzzing.md).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzTarget } from './run.ts';
import { FUZZ_TARGETS } from './targets.ts';

const SEED = Number(process.env.KEYHOLD_FUZZ_SEED ?? 20261204);
/** Mutated inputs per target: a few seconds' worth on an idle core. */
const EXECS: Readonly<Record<string, number>> = { config: 40, http1: 250 };
const DEFAULT_EXECS = 400;
/** A safety stop on a very loaded machine; the input count normally ends the run first. */
const MAX_SECONDS = 15;

for (const target of FUZZ_TARGETS) {
  const execs = EXECS[target.name] ?? DEFAULT_EXECS;
  test(`fuzz ${target.name}: ${execs} inputs (seed ${SEED})`, async (t) => {
    const report = await fuzzTarget({
      target: target.name,
      seconds: MAX_SECONDS,
      maxExecs: execs,
      scaleChecks: 3,
      seed: SEED,
    });
    t.diagnostic(
      `${report.execs} execs, ${report.blocks} blocks, corpus ${report.corpus}, ${report.findings.length} findings`,
    );
    // Every target runs its seeds and then mutations: a run that executed nothing tested nothing.
    assert.ok(report.execs >= Math.min(execs, 20), `only ${report.execs} inputs ran`);
    assert.ok(report.blocks > 0, 'no coverage was collected');
    assert.deepEqual(
      report.findings.map(
        (f) =>
          `${f.kind}: ${f.signature}\n  input (base64): ${f.input.toString('base64').slice(0, 2000)}\n` +
          `  save it to a file and run: npm run fuzz -- ${target.name} --replay FILE\n${f.detail}`,
      ),
      [],
    );
  });
}
