// `npm run bench`: Keyhold against a bare node:https baseline in the same run, over mTLS with
// keep-alive, driven by the Go load generator (as MinIO and the Go SDKs talk) and a Node one.
// Prints a table and one JSON line. Options: --duration MS --warmup MS --connections N
// --rounds N (keep-alive scenarios measured N times beside the baseline, median reported)
// --keys N (scale test; 0 skips it). `npm run bench -- single` runs only the keep-alive
// single-request scenarios and the 100-frame batch with the Go client (server CPU per request
// against the baseline's), five rounds by default, without the crypto core, scale or handshakes;
// `--workers N` starts the server with N workers; `--only TEXT` keeps the scenarios whose name contains TEXT; BENCH_CPU_PROF=DIR profiles the
// server (see below). `--compare-crypto` (with `single`) also starts a server with
// KEYHOLD_NATIVE_CRYPTO=0 and runs every Keyhold scenario on it right after the default one, in
// the same rounds: the native data-key crypto against its node:crypto fallback. `--pin` runs the
// servers on CPU 0 and the load generator on CPU 1. `--help` lists the options.

import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeKmsResponse, encodeKmsRequest } from '../src/protocol/kms/index.ts';
import { BENCH_CONTEXT, generateRequest } from './kms-requests.ts';
import { rawRequest } from '../test/helpers/raw-https.ts';
import { ApiKey, KmsClient } from '../src/sdk/index.ts';
import { startServer, type ServerProcess } from '../test/helpers/server-process.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { buildGoLoadgen, goLoad, nodeLoad, sleep, treeCpuSeconds } from './load.ts';
import { pipelinedLoad } from './pipelined-load.ts';
import { runScale } from './scale.ts';
import type { ScaleResult } from './scale.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '1500' },
    connections: { type: 'string', default: '32' },
    keys: { type: 'string', default: '1000000' },
    rounds: { type: 'string' },
    only: { type: 'string' },
    workers: { type: 'string' },
    'compare-crypto': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    pin: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(`Usage: npm run bench -- [single] [options]

Keyhold against a bare node:https baseline in the same run, over mTLS with keep-alive, driven by
the Go load generator (built here; needs golang-go) and a Node one. Prints a table and one JSON
line; docs/performance.md explains the method and the figures.

  single                 only the single-request scenarios (KES and KMS generate / decrypt) and
                         the 100-frame batch, Go client, server CPU per request against the
                         baseline's; five rounds by default
  --rounds N             keep-alive scenarios measured N times beside the baseline (median)
  --duration MS          measured window per scenario (default 4000)
  --warmup MS            load before the window (default 1500)
  --connections N        keep-alive connections (default 32)
  --keys N               keys of the scale test (default 1000000; 0 skips it)
  --workers N            start the Keyhold server with N workers (default: its own default)
  --only TEXT            only the scenarios whose name contains TEXT (and the baselines)
  --compare-crypto       with single: also run every scenario on a server with the native
                         data-key crypto off (KEYHOLD_NATIVE_CRYPTO=0), in the same rounds
  --pin                  servers on CPU 0, the load generator on CPU 1 (taskset): each side a
                         core of its own, as when the client is another machine; the figures
                         move far less from run to run
  -h, --help             this text

Environment: BENCH_CPU_PROF=DIR writes V8 CPU profiles of the Keyhold server into DIR;
BENCH_NODE_ARGS="ARG ..." passes Node options to the Keyhold and baseline servers
(e.g. --perf-basic-prof, for perf).
`);
  process.exit(0);
}
/** Set in the bench process that --pin started under taskset. */
const PINNED_ENV = 'BENCH_PINNED';
if (values.pin && process.env[PINNED_ENV] === undefined) {
  // Everything this process starts inherits CPU 0; load.ts moves the load generator to CPU 1.
  const run = spawnSync('taskset', ['-c', '0', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [PINNED_ENV]: '1', BENCH_CLIENT_CPUS: '1' },
  });
  if (run.error) {
    process.stderr.write(`bench: --pin needs taskset (util-linux): ${run.error.message}\n`);
    process.exit(2);
  }
  process.exit(run.status ?? 1);
}
/** `--workers N`: the server's worker processes (default: the server's own default). */
const WORKERS = values.workers === undefined ? [] : ['--workers', values.workers];
/** `--only TEXT`: only the scenarios whose name contains TEXT (and the baselines). */
const ONLY = values.only;
/**
 * BENCH_CPU_PROF=DIR: the Keyhold server (primary and workers) writes V8 CPU profiles into DIR
 * when it stops (`node --cpu-prof`), to see where a scenario's server CPU goes.
 */
const CPU_PROF = process.env.BENCH_CPU_PROF;
/**
 * BENCH_NODE_ARGS="ARG ...": more Node options for the Keyhold server and the baseline server
 * alike, e.g. `--perf-basic-prof` so that `perf` names their JavaScript frames.
 */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
/** Node options of a Keyhold server the bench starts. */
const SERVER_NODE_ARGS = [
  ...NODE_ARGS,
  ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []),
];
/** `single`: only the scenarios of a single generate / decrypt request and the 100-frame batch. */
const SINGLE = positionals.includes('single');
/** `--compare-crypto` (`single` only): each Keyhold scenario also on a node:crypto-only server. */
const COMPARE_CRYPTO = SINGLE && values['compare-crypto'];
/** Name suffix of the scenarios run on the KEYHOLD_NATIVE_CRYPTO=0 server. */
const FALLBACK_SUFFIX = ' [node:crypto]';
/** Scenarios the `single` mode runs (Go client, keep-alive). */
const SINGLE_SCENARIOS = [
  'baseline: bare node:https, 100-byte JSON',
  'KMS health/live (pipeline and audit line, no key)',
  'KES generate (1 data key per request)',
  'KES decrypt',
  'KMS KEY:GENERATE, 1 frame',
  'KMS KEY:DECRYPT, 1 frame',
  'KMS KEY:GENERATE, 100 frames',
];
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const KEYS = SINGLE ? 0 : Number(values.keys);
const ROUNDS = Math.max(1, Number(values.rounds ?? (SINGLE ? '5' : '3')));
/** Requests each connection writes at once in the pipelined scenarios (Node client only). */
const PIPELINE_DEPTH = 16;
/** The Node load generator repeats only the headline comparison. */
const NODE_SCENARIOS = [
  'baseline: bare node:https, 100-byte JSON',
  'KMS KEY:GENERATE, 1 frame',
  'KES generate (1 data key per request)',
  `baseline: bare node:https, ${PIPELINE_DEPTH} pipelined per connection`,
  `KMS KEY:GENERATE, 1 frame, ${PIPELINE_DEPTH} pipelined per connection`,
];

type Connection = 'keep-alive' | 'pipelined' | 'full handshake' | 'resumed handshake';

interface Row {
  readonly scenario: string;
  readonly client: 'go' | 'node';
  readonly rps: number;
  readonly opsPerSecond: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly serverCpuMicrosPerOp: number;
  /** The Go load generator's CPU per operation (null for the Node one, which runs in-process). */
  readonly clientCpuMicrosPerOp: number | null;
  /** Requests/s relative to the baseline measured with the same client in this run. */
  readonly ratioToBaseline: number | null;
  /**
   * Server CPU per operation over the baseline server's CPU per request, measured with the same
   * client in the same round (lower is better; 1.0 = as cheap as the bare server).
   */
  readonly cpuRatio: number | null;
  readonly errors: number;
  readonly non200: number;
  /** TCP connections the client opened (32 when its pool filled and stayed; more = churn). */
  readonly connectionsOpened: number | null;
  /** Go client: share of the measured responses that came over a resumed TLS session. */
  readonly resumedShare: number | null;
  /** Every round's ratio to its baseline (requests/s for the baselines), when run in rounds. */
  readonly rounds?: readonly number[];
  /** Every round's CPU ratio (server CPU µs per request for the baselines). */
  readonly cpuRounds?: readonly number[];
}

const work = mkdtempSync(join(tmpdir(), 'keyhold-bench-'));
const rows: Row[] = [];

async function main(): Promise<void> {
  const crypto = SINGLE ? null : runCryptoBench();
  const goBinary = buildGoLoadgen(work);
  if (!goBinary)
    process.stderr.write(
      'bench: Go is not installed (apt-get install golang-go); Go scenarios skipped\n',
    );

  const server = await startServer({
    args: [...WORKERS, ...auditArgs('keyhold')],
    timeout: 30_000,
    nodeArgs: SERVER_NODE_ARGS,
  });
  // The same server with the native data-key crypto turned off, for `--compare-crypto`.
  const fallback = COMPARE_CRYPTO
    ? await startServer({
        args: [...WORKERS, ...auditArgs('keyhold-node-crypto')],
        timeout: 30_000,
        env: { KEYHOLD_NATIVE_CRYPTO: '0' },
        nodeArgs: SERVER_NODE_ARGS,
      })
    : null;
  for (const [label, s] of [
    ['keyhold', server],
    ['keyhold [node:crypto]', fallback],
  ] as const) {
    const line = s === null ? undefined : /^Data keys:\s+(.*)$/m.exec(s.output())?.[1];
    if (line !== undefined) process.stdout.write(`bench: ${label} seals data keys with ${line}\n`);
  }
  const baseline = await startBaseline(
    join(server.dir, 'certs', 'server.crt'),
    join(server.dir, 'certs', 'server.key'),
  );
  try {
    const key = await prepareServer(server);
    const kms = `https://${server.endpoint}/v1/kms/default`;
    const kes = `https://${server.endpoint}`;
    const context = BENCH_CONTEXT;
    const generated = await rawRequest(
      server.endpoint,
      key,
      'POST',
      '/v1/kms/default',
      generateRequest(1),
    );
    const [dek] = decodeKmsResponse('KEY:GENERATE', generated.body, 1);
    const ciphertext = dek!.ciphertext.toString('base64');
    const decrypt = encodeKmsRequest('KEY:DECRYPT', [
      { name: 'bench', version: 0, ciphertext: dek!.ciphertext, associatedData: context },
    ]);
    const b64context = context.toString('base64');
    // The fallback server's own caller and ciphertext, for its copies of the scenarios.
    const other =
      fallback === null
        ? null
        : await (async () => {
            const apiKey = await prepareServer(fallback);
            const answer = await rawRequest(
              fallback.endpoint,
              apiKey,
              'POST',
              '/v1/kms/default',
              generateRequest(1),
            );
            const [made] = decodeKmsResponse('KEY:GENERATE', answer.body, 1);
            return { apiKey, ciphertext: made!.ciphertext };
          })();

    const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
    const scenarios: {
      name: string;
      url: string;
      method: LoadSpec['method'];
      body?: Buffer;
      ops: number;
      type?: string;
      /** Keep-alive connections (default), or a new connection per request. */
      connection?: Connection;
      timeoutMs?: number;
      target: 'keyhold' | 'baseline' | 'fallback';
      /** The caller's API key when not the default server's benchmark caller. */
      apiKey?: string;
    }[] = [
      {
        name: 'baseline: bare node:https, 100-byte JSON',
        url: `https://127.0.0.1:${baseline.port}/`,
        method: 'GET',
        ops: 1,
        target: 'baseline',
      },
      {
        // What a request costs Keyhold without key work: the HTTP/1.1 layer, the pipeline (the
        // caller's identity, routing, metrics) and the audit line, against the baseline's cost.
        name: 'KMS health/live (pipeline and audit line, no key)',
        url: `${kes}/v1/health/live`,
        method: 'GET',
        ops: 1,
        target: 'keyhold',
      },
      {
        name: 'KES generate (1 data key per request)',
        url: `${kes}/v1/key/generate/bench`,
        method: 'POST',
        body: json({ context: b64context }),
        ops: 1,
        type: 'application/json',
        target: 'keyhold',
      },
      {
        name: 'KES decrypt',
        url: `${kes}/v1/key/decrypt/bench`,
        method: 'POST',
        body: json({ ciphertext, context: b64context }),
        ops: 1,
        type: 'application/json',
        target: 'keyhold',
      },
      {
        name: 'KMS KEY:GENERATE, 1 frame',
        url: kms,
        method: 'POST',
        body: generateRequest(1),
        ops: 1,
        target: 'keyhold',
      },
      {
        name: 'KMS KEY:DECRYPT, 1 frame',
        url: kms,
        method: 'POST',
        body: decrypt,
        ops: 1,
        target: 'keyhold',
      },
      {
        name: 'KMS KEY:GENERATE, 100 frames',
        url: kms,
        method: 'POST',
        body: generateRequest(100),
        ops: 100,
        target: 'keyhold',
      },
      {
        name: 'KES bulk decrypt, 1000 items',
        url: `${kes}/v1/key/bulk/decrypt/bench`,
        method: 'POST',
        body: json(Array.from({ length: 1000 }, () => ({ ciphertext, context: b64context }))),
        ops: 1000,
        type: 'application/json',
        target: 'keyhold',
      },
      {
        // Go clients before 1.23 with a per-request timeout abort dials that lose a race against
        // reused connections (src/http/handshake-gate.ts): the pool must still fill up.
        name: 'KMS KEY:GENERATE, 1 frame, Go client with a 5 s request timeout',
        url: kms,
        method: 'POST',
        body: generateRequest(1),
        ops: 1,
        timeoutMs: 5000,
        target: 'keyhold',
      },
      {
        // HTTP/1.1 pipelining (neither Go's nor Node's HTTP client does it; bench/pipelined-load.ts).
        name: `baseline: bare node:https, ${PIPELINE_DEPTH} pipelined per connection`,
        url: `https://127.0.0.1:${baseline.port}/`,
        method: 'GET',
        ops: 1,
        connection: 'pipelined',
        target: 'baseline',
      },
      {
        name: `KMS KEY:GENERATE, 1 frame, ${PIPELINE_DEPTH} pipelined per connection`,
        url: kms,
        method: 'POST',
        body: generateRequest(1),
        ops: 1,
        connection: 'pipelined',
        target: 'keyhold',
      },
      {
        name: 'baseline: full mTLS handshakes',
        url: `https://127.0.0.1:${baseline.port}/`,
        method: 'GET',
        ops: 1,
        connection: 'full handshake',
        target: 'baseline',
      },
      {
        name: 'KMS generate, full mTLS handshake each',
        url: kms,
        method: 'POST',
        body: generateRequest(1),
        ops: 1,
        connection: 'full handshake',
        target: 'keyhold',
      },
      {
        // Reconnect storms (a failover, a client restart): the client comes back with its ticket.
        name: 'baseline: resumed mTLS handshakes',
        url: `https://127.0.0.1:${baseline.port}/`,
        method: 'GET',
        ops: 1,
        connection: 'resumed handshake',
        target: 'baseline',
      },
      {
        name: 'KMS generate, resumed mTLS handshake each',
        url: kms,
        method: 'POST',
        body: generateRequest(1),
        ops: 1,
        connection: 'resumed handshake',
        target: 'keyhold',
      },
    ];

    if (fallback !== null && other !== null) {
      // Each single-request scenario's copy on the fallback server runs right after it.
      const otherDecrypt = {
        'KES decrypt': json({
          ciphertext: other.ciphertext.toString('base64'),
          context: b64context,
        }),
        'KMS KEY:DECRYPT, 1 frame': encodeKmsRequest('KEY:DECRYPT', [
          { name: 'bench', version: 0, ciphertext: other.ciphertext, associatedData: context },
        ]),
      } as Record<string, Buffer | undefined>;
      const copies = scenarios.flatMap((s) =>
        s.target === 'keyhold' && SINGLE_SCENARIOS.includes(s.name)
          ? [
              s,
              {
                ...s,
                name: `${s.name}${FALLBACK_SUFFIX}`,
                url: s.url.replace(server.endpoint, fallback.endpoint),
                ...(s.body ? { body: otherDecrypt[s.name] ?? s.body } : {}),
                target: 'fallback' as const,
                apiKey: other.apiKey,
              },
            ]
          : [s],
      );
      scenarios.splice(0, scenarios.length, ...copies);
    }
    const inSingle = (name: string): boolean =>
      SINGLE_SCENARIOS.includes(
        name.endsWith(FALLBACK_SUFFIX) ? name.slice(0, -FALLBACK_SUFFIX.length) : name,
      );
    const pidOf = (target: 'keyhold' | 'baseline' | 'fallback'): number =>
      target === 'baseline'
        ? baseline.pid
        : target === 'fallback'
          ? fallback!.child.pid!
          : server.child.pid!;

    // Every round measures the baseline and then each scenario against it; a scenario's reported
    // row is its median round by ratio to that round's baseline, so one slow moment of the shared
    // machine does not decide a figure.
    const clients: ('go' | 'node')[] = SINGLE
      ? [goBinary ? 'go' : 'node']
      : goBinary
        ? ['go', 'node']
        : ['node'];
    const rounds = new Map<string, Row[]>();
    // `single`: every scenario runs once unmeasured first, so that no measured window pays for
    // V8 compiling the server's hot paths (its background compiler threads count as server CPU).
    if (SINGLE) {
      for (const s of scenarios) {
        if (!inSingle(s.name)) continue;
        if (ONLY !== undefined && s.target !== 'baseline' && !s.name.includes(ONLY)) continue;
        const pid = pidOf(s.target);
        await measure(
          clients[0]!,
          goBinary,
          {
            url: s.url,
            method: s.method,
            apiKey: s.apiKey ?? key,
            connections: CONNECTIONS,
            warmupMs: 500,
            durationMs: WARMUP,
            ...(s.body ? { body: s.body } : {}),
            ...(s.type ? { contentType: s.type } : {}),
          },
          pid,
        );
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const client of clients) {
        // The latest baseline requests/s for each kind of connection, in this round.
        const baselineRps = new Map<Connection, number>();
        const baselineCpu = new Map<Connection, number>();
        for (const s of scenarios) {
          if (SINGLE && !inSingle(s.name)) continue;
          if (ONLY !== undefined && s.target !== 'baseline' && !s.name.includes(ONLY)) continue;
          // The Node client repeats only the headline comparison.
          if (client === 'node' && !NODE_SCENARIOS.includes(s.name)) continue;
          if (client === 'go' && s.connection === 'pipelined') continue;
          const pid = pidOf(s.target);
          const spec: LoadSpec = {
            url: s.url,
            method: s.method,
            apiKey: s.apiKey ?? key,
            connections: CONNECTIONS,
            warmupMs: WARMUP,
            durationMs: DURATION,
            ...(s.body ? { body: s.body } : {}),
            ...(s.type ? { contentType: s.type } : {}),
            ...(s.connection?.endsWith('handshake') ? { noKeepAlive: true } : {}),
            ...(s.connection === 'resumed handshake' ? { resume: true } : {}),
            ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
          };
          const m = await measure(
            client,
            goBinary,
            spec,
            pid,
            s.connection === 'pipelined' ? PIPELINE_DEPTH : 0,
          );
          const kind = s.connection ?? 'keep-alive';
          const measured = row(
            s.name,
            client,
            m,
            s.ops,
            s.target === 'baseline' ? null : (baselineRps.get(kind) ?? null),
            s.target === 'baseline' ? null : (baselineCpu.get(kind) ?? null),
          );
          if (s.target === 'baseline') {
            baselineRps.set(kind, m.result.rps);
            baselineCpu.set(kind, measured.serverCpuMicrosPerOp);
          }
          const id = `${client} ${s.name}`;
          rounds.set(id, [...(rounds.get(id) ?? []), measured]);
        }
      }
    }
    for (const measured of rounds.values()) rows.push(median(measured));
    // The full run adds `--http node` and latency at half load; `single` stops here.
    if (!SINGLE) {
      // The same headline scenarios on node:https (`--http node`) for comparison.
      const other = await startServer({
        args: ['--http', 'node', ...auditArgs('keyhold-node')],
        timeout: 30_000,
      });
      try {
        const otherKey = await prepareServer(other);
        const client = goBinary ? 'go' : 'node';
        const reference = rows.find(
          (r) => r.client === client && r.scenario.startsWith('baseline: bare'),
        );
        for (const [name, url, body, type] of [
          [
            'KMS KEY:GENERATE, 1 frame (node:https)',
            `https://${other.endpoint}/v1/kms/default`,
            generateRequest(1),
            undefined,
          ],
          [
            'KES generate (node:https)',
            `https://${other.endpoint}/v1/key/generate/bench`,
            json({ context: b64context }),
            'application/json',
          ],
        ] as const) {
          const spec: LoadSpec = {
            url,
            method: 'POST',
            body,
            apiKey: otherKey,
            connections: CONNECTIONS,
            warmupMs: WARMUP,
            durationMs: DURATION,
            ...(type ? { contentType: type } : {}),
          };
          const m = await measure(client, goBinary, spec, other.child.pid!);
          rows.push(row(name, client, m, 1, reference?.rps ?? null));
        }
      } finally {
        await other.stop();
      }

      // Latency at half of the maximum single-request rate.
      const max = rows.find(
        (r) => r.client === rows[0]!.client && r.scenario === 'KMS KEY:GENERATE, 1 frame',
      );
      if (max) {
        const spec: LoadSpec = {
          url: kms,
          method: 'POST',
          body: generateRequest(1),
          apiKey: key,
          connections: CONNECTIONS,
          warmupMs: WARMUP,
          durationMs: DURATION,
          rate: Math.round(max.rps / 2),
        };
        const m = await measure(max.client, goBinary, spec, server.child.pid!);
        rows.push(
          row(
            `KMS KEY:GENERATE, 1 frame, paced at ${Math.round(max.rps / 2)}/s (half of max)`,
            max.client,
            m,
            1,
            null,
          ),
        );
      }
    }
  } finally {
    baseline.stop();
    await server.stop();
    await fallback?.stop();
  }

  let scale: ScaleResult | null = null;
  if (KEYS > 0) scale = await runScale(KEYS, goBinary, work);

  report(crypto, scale);
}

interface Measured {
  readonly result: LoadResult;
  /** CPU seconds of the server's process tree during the measured window. */
  readonly cpuSeconds: number;
  /** CPU seconds of the Go load generator in the same window (null for the in-process Node one). */
  readonly clientCpuSeconds: number | null;
}

/** Server arguments that write the audit log to a file, as a production node would. */
function auditArgs(name: string): string[] {
  return ['--audit-log', join(work, `${name}-audit.ndjson`)];
}

/**
 * Creates the benchmark key and the caller the scenarios run as: a User identity whose policy
 * allows generate and decrypt of that key, so every request goes through authentication, policy
 * evaluation and the audit log (the root identity would skip the policy). Returns its API key.
 */
async function prepareServer(server: ServerProcess): Promise<string> {
  const root = new KmsClient({
    endpoints: server.endpoint,
    apiKey: server.rootApiKey,
    tls: { insecure: true },
  });
  const caller = ApiKey.generate('k1');
  await root.createKey('bench');
  await root.createPolicy('bench', {
    allow: { 'KEY:GENERATE': ['bench'], 'KEY:DECRYPT': ['bench'] },
  });
  await root.createIdentity(caller.identity.toH1());
  await root.assignPolicy('bench', caller.identity.toH1());
  return caller.toK1();
}

/** Runs one load and samples the CPU time of the server's (and the Go client's) processes. */
async function measure(
  client: 'go' | 'node',
  goBinary: string | null,
  spec: LoadSpec,
  pid: number,
  pipelineDepth = 0,
): Promise<Measured> {
  let bodyFile: string | null = null;
  if (spec.body) {
    bodyFile = join(work, 'body.bin');
    writeFileSync(bodyFile, spec.body);
  }
  let clientPid: number | null = null;
  const run =
    client === 'go'
      ? goLoad(goBinary!, spec, bodyFile, (p) => (clientPid = p))
      : pipelineDepth > 0
        ? pipelinedLoad(spec, pipelineDepth)
        : nodeLoad(spec);
  await sleep(spec.warmupMs);
  // The Go client exits when its own window ends, which can be just before the last sample: its
  // CPU is then unknown (null), not a negative difference.
  const clientCpu = (): number | null =>
    clientPid === null || !existsSync(`/proc/${clientPid}/stat`) ? null : treeCpuSeconds(clientPid);
  const cpu0 = treeCpuSeconds(pid);
  const client0 = clientCpu();
  await sleep(spec.durationMs);
  const cpu1 = treeCpuSeconds(pid);
  const client1 = clientCpu();
  return {
    result: await run,
    cpuSeconds: cpu1 - cpu0,
    clientCpuSeconds: client0 === null || client1 === null ? null : client1 - client0,
  };
}

function row(
  scenario: string,
  client: 'go' | 'node',
  m: Measured,
  ops: number,
  baselineRps: number | null,
  baselineCpuMicros: number | null = null,
): Row {
  const r = m.result;
  const ok = r.statuses['200'] ?? 0;
  const perOp = (seconds: number): number =>
    r.requests > 0 ? (seconds * 1e6) / (r.requests * ops) : 0;
  const serverCpu = perOp(m.cpuSeconds);
  return {
    scenario,
    client,
    rps: r.rps,
    opsPerSecond: r.rps * ops,
    p50Micros: r.p50_us,
    p99Micros: r.p99_us,
    serverCpuMicrosPerOp: serverCpu,
    clientCpuMicrosPerOp: m.clientCpuSeconds === null ? null : perOp(m.clientCpuSeconds),
    // Operations per second against the baseline's requests per second (one operation each).
    ratioToBaseline: baselineRps ? (r.rps * ops) / baselineRps : null,
    cpuRatio: baselineCpuMicros ? serverCpu / baselineCpuMicros : null,
    errors: r.errors,
    non200: r.requests - ok,
    connectionsOpened: r.connections ?? null,
    resumedShare: r.resumed === undefined || r.requests === 0 ? null : r.resumed / r.requests,
  };
}

/**
 * The round with the median ratio of server CPU per operation to its baseline's (median CPU per
 * request for the baselines): the figure the single-request target is about.
 */
function median(measured: readonly Row[]): Row {
  const by = (r: Row): number => r.ratioToBaseline ?? r.rps;
  const byCpu = (r: Row): number => r.cpuRatio ?? r.serverCpuMicrosPerOp;
  const sorted = [...measured].sort((a, b) => byCpu(a) - byCpu(b));
  const picked = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return { ...picked, rounds: measured.map(by), cpuRounds: measured.map(byCpu) };
}

function runCryptoBench(): unknown {
  const run = spawnSync(process.execPath, [new URL('./crypto.js', import.meta.url).pathname], {
    encoding: 'utf8',
  });
  process.stdout.write(run.stdout);
  const last = run.stdout.trim().split('\n').pop() ?? '{}';
  try {
    return JSON.parse(last);
  } catch {
    return null;
  }
}

function startBaseline(
  cert: string,
  key: string,
): Promise<{ port: number; pid: number; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [...NODE_ARGS, new URL('./baseline-server.js', import.meta.url).pathname, cert, key],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => {
      const port = Number(/port (\d+)/.exec(chunk.toString())?.[1]);
      if (!port) reject(new Error('baseline server did not start'));
      else resolve({ port, pid: child.pid!, stop: () => child.kill('SIGTERM') });
    });
  });
}

function report(crypto: unknown, scale: ScaleResult | null): void {
  const f = (n: number, d = 0): string =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const table = [
    [
      'scenario',
      'client',
      'req/s',
      'ops/s',
      'p50 µs',
      'p99 µs',
      'server CPU µs/op',
      'CPU vs baseline',
      'client CPU µs/op',
      'vs baseline',
      'conns',
      'CPU rounds',
      'rounds',
    ],
    ...rows.map((r) => [
      r.scenario,
      r.client,
      f(r.rps),
      f(r.opsPerSecond),
      f(r.p50Micros),
      f(r.p99Micros),
      f(r.serverCpuMicrosPerOp, 1),
      r.cpuRatio === null ? '' : `${f(r.cpuRatio, 2)}×`,
      r.clientCpuMicrosPerOp === null ? '' : f(r.clientCpuMicrosPerOp, 1),
      r.ratioToBaseline === null ? '' : `${f(r.ratioToBaseline, 2)}×`,
      r.connectionsOpened === null ? '' : f(r.connectionsOpened),
      (r.cpuRounds ?? []).map((v) => (r.cpuRatio === null ? f(v, 1) : `${f(v, 2)}×`)).join(' '),
      (r.rounds ?? []).map((v) => (r.ratioToBaseline === null ? f(v) : `${f(v, 2)}×`)).join(' '),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  process.stdout.write(
    '\n' +
      table
        .map((r) =>
          r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
        )
        .join('\n') +
      '\n',
  );
  for (const r of rows)
    if (r.scenario.includes('resumed'))
      process.stdout.write(
        `  note: ${r.scenario} (${r.client}): ${f(100 * (r.resumedShare ?? 0))} % of responses over resumed TLS sessions\n`,
      );
  for (const r of rows)
    if (r.errors || r.non200)
      process.stdout.write(
        `  note: ${r.scenario} (${r.client}): ${r.errors} errors, ${r.non200} non-200 answers\n`,
      );
  if (scale) {
    process.stdout.write(
      `\nscale: ${f(scale.keys)} keys created in ${f(scale.createSeconds, 1)} s (${f(scale.keys / scale.createSeconds)}/s), ` +
        `resident ${f(scale.rssBytes / 2 ** 20)} MiB; restart to ready ${f(scale.restartSeconds, 2)} s (resident ${f(scale.restartRssBytes / 2 ** 20)} MiB); ` +
        `list all ${f(scale.listSeconds, 2)} s; generate with ${f(scale.keys)} keys ${f(scale.generateLarge)} req/s vs 10 keys ${f(scale.generateSmall)} req/s (${f(scale.generateLarge / scale.generateSmall, 2)}×)\n`,
    );
  }
  const machine = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    usableCpus: availableParallelism(),
    pinned: process.env[PINNED_ENV] !== undefined,
    connections: CONNECTIONS,
    durationMs: DURATION,
    warmupMs: WARMUP,
  };
  process.stdout.write(JSON.stringify({ machine, crypto, scenarios: rows, scale }) + '\n');
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
