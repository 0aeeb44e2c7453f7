// `npm run fuzz -- <target|all> [--seconds N] [--seed S]`: fuzzes targets and writes each new
// finding (the input and a .txt with the error and a replay command) under .fuzz/findings/;
// `--replay FILE` runs one saved input through its target and prints what happens.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fuzzTarget } from './run.ts';
import { FUZZ_TARGETS, InvariantError } from './targets.ts';

const USAGE = `usage: npm run fuzz -- <target|all> [--seconds N] [--seed S] [--findings DIR] [--work DIR]
       npm run fuzz -- <target> --replay FILE
targets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '60' },
      seed: { type: 'string' },
      findings: { type: 'string', default: '.fuzz/findings' },
      work: { type: 'string', default: '.fuzz/corpus' },
      replay: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [name] = positionals;
  if (values.help || name === undefined || positionals.length !== 1) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const targets = name === 'all' ? FUZZ_TARGETS : FUZZ_TARGETS.filter((t) => t.name === name);
  if (targets.length === 0) {
    console.error(`no fuzz target '${name}'\n${USAGE}`);
    return 2;
  }

  if (values.replay !== undefined) {
    const target = targets[0]!;
    const input = readFileSync(values.replay);
    const start = performance.now();
    try {
      target.run(input);
      console.log(`${target.name}: accepted (${(performance.now() - start).toFixed(1)} ms)`);
      return 0;
    } catch (error) {
      const expected = target.expected.some((cls) => error instanceof cls);
      console.log(
        `${target.name}: ${expected ? 'refused as documented' : error instanceof InvariantError ? 'INVARIANT BROKEN' : 'CRASH'} (${(performance.now() - start).toFixed(1)} ms)`,
      );
      console.log(error instanceof Error ? (error.stack ?? error.message) : String(error));
      return expected ? 0 : 1;
    }
  }

  const seconds = Number(values.seconds);
  const seed =
    values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed);
  if (!(seconds > 0) || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    console.error(`--seconds must be positive and --seed an integer from 0 to 2^32-1\n${USAGE}`);
    return 2;
  }
  let findings = 0;
  for (const target of targets) {
    let lastLine = 0;
    const report = await fuzzTarget({
      target: target.name,
      seconds,
      seed,
      findingsDir: values.findings,
      workDir: values.work,
      onStats: (s) => {
        if (Date.now() - lastLine < 10_000) return;
        lastLine = Date.now();
        console.log(`  ${s.target}: ${s.execs} execs, ${s.blocks} blocks, corpus ${s.corpus}`);
      },
    });
    console.log(
      `${report.target}: ${report.execs} execs in ${report.seconds.toFixed(0)} s (${(report.execs / report.seconds).toFixed(0)}/s), ` +
        `${report.blocks} blocks, corpus ${report.corpus}, ` +
        `${report.findings.length} findings (seed ${seed})`,
    );
    for (const f of report.findings)
      console.log(`  ${f.kind}: ${f.signature}\n    ${f.file ?? ''}`);
    findings += report.findings.length;
  }
  return findings > 0 ? 1 : 0;
}

process.exitCode = await main();
