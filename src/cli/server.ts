// `keyhold server [DIR]`: runs one Keyhold node until SIGINT/SIGTERM.

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { ClusterConfig, ClusterFileSection, ClusterFlags } from '../config/cluster-config.ts';
import { HsmKey, dataKeyCryptoInfo } from '../crypto/index.ts';
import type { RunningNode } from '../server/node.ts';
import { VERSION } from '../version.ts';
import type { Command, ParsedArgs } from './command.ts';
import { flag, stringOption, UsageError } from './command.ts';
import { parseDuration } from './kes/duration.ts';
import { print } from './output.ts';
import { DEV_HSM_FILE, loadHsmKey } from './hsm-key-loader.ts';
import { io } from './io.ts';

export const serverCommand: Command = {
  words: ['server'],
  summary: 'Start a Keyhold server',
  usage: `Usage: keyhold server [DIR] [options]

Starts a Keyhold node that keeps its sealed state in DIR (default: ./keyhold-data) and serves
the MinIO KMS API over HTTPS. The HSM key comes from KEYHOLD_HSM_KEY (or MINIO_KMS_HSM_KEY);
create one with 'keyhold hsm new'. Without a configured certificate the server creates a
self-signed one in DIR/certs and says where it is. Data keys are sealed by the native addon
built on npm install where it loaded, else by node:crypto (KEYHOLD_NATIVE_CRYPTO=0 forces it);
the banner's 'Data keys:' line says which.

Options:
  --config FILE         KES-format config file (admin, tls, policy, api, log, keys, plus a
                        'keyhold' section); SIGHUP reloads policies, TLS and log levels
  --address HOST:PORT   listen address (default 0.0.0.0:7373; 127.0.0.1:7373 with --dev)
  --host HOST:PORT      public address clients use (reported by /version, put in the certificate)
  --tls-cert FILE       server certificate (PEM)
  --tls-key FILE        server private key (PEM)
  --audit-log FILE      append one NDJSON audit record per request to FILE
  --workers N           processes serving requests (default: number of cores, ${availableParallelism()}
                        here); 0 serves from the single process that owns the state
  --apply-timeout DUR   how long a write waits for a worker to apply it before that worker is
                        killed and replaced by a new one (default 10s)
  --console-session-idle DUR
                        idle time after which a web console session ends (default 15m;
                        the console is at https://HOST:PORT/console/, docs/console.md)
  --http lean|node      HTTP/1.1 implementation: Keyhold's lean strict HTTP/1.1 server
                        (default) or node:https
  --headers-timeout DUR a request's head must arrive within DUR of its first byte, else 408
                        and close (default 30s, at least 1s)
  --dev                 development mode: without an HSM key in the environment, keep a
                        generated one in DIR/${DEV_HSM_FILE} (NOT SAFE: anyone who can read DIR
                        can unseal it)

Cluster (a node whose state lives in etcd, docs/cluster.md; without these, a single node.
With workers, the primary process follows etcd and a write is acknowledged only once every
worker of every member has it):
  --etcd URL[,URL…]     etcd client URLs, http:// or https:// (port 2379 if omitted);
                        env KEYHOLD_ETCD_ENDPOINTS
  --etcd-prefix PREFIX  key prefix of this Keyhold cluster, starting and ending with '/'
                        (default /keyhold/); env KEYHOLD_ETCD_PREFIX
  --etcd-ca FILE        CA (PEM) that signs etcd's certificate; env KEYHOLD_ETCD_CA
  --etcd-cert FILE      client certificate (PEM) for etcd; env KEYHOLD_ETCD_CERT
  --etcd-key FILE       its private key (PEM); env KEYHOLD_ETCD_KEY
  --etcd-username NAME  etcd user; env KEYHOLD_ETCD_USERNAME. Its password comes from
                        KEYHOLD_ETCD_PASSWORD or the config file, never the command line
                        (other users could read it in the process list)
  --etcd-max-staleness DUR
                        bounded-staleness mode: refuse reads once this node has not reached
                        etcd for DUR (e.g. 10s); env KEYHOLD_ETCD_MAX_STALENESS. Off by default:
                        a node cut off from etcd keeps serving reads (the lone-survivor promise)
  --etcd-trim-interval DUR
                        how often the log in etcd is trimmed and etcd compacted (default 5m);
                        a request id is remembered at least this long after its write's answer;
                        env KEYHOLD_ETCD_TRIM_INTERVAL
  --etcd-trim-threshold N
                        trim once N log entries are older than every member's progress and one
                        interval (default 10000); env KEYHOLD_ETCD_TRIM_THRESHOLD
  A flag beats the environment, which beats the config file's keyhold.cluster.etcd section,
  field by field.
`,
  options: {
    config: { type: 'string' },
    address: { type: 'string' },
    host: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'audit-log': { type: 'string' },
    workers: { type: 'string' },
    'apply-timeout': { type: 'string' },
    'console-session-idle': { type: 'string' },
    http: { type: 'string' },
    'headers-timeout': { type: 'string' },
    dev: { type: 'boolean' },
    etcd: { type: 'string' },
    'etcd-prefix': { type: 'string' },
    'etcd-ca': { type: 'string' },
    'etcd-cert': { type: 'string' },
    'etcd-key': { type: 'string' },
    'etcd-username': { type: 'string' },
    'etcd-max-staleness': { type: 'string' },
    'etcd-trim-interval': { type: 'string' },
    'etcd-trim-threshold': { type: 'string' },
  },
  async run(args) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one state directory');
    const headersTimeout = headersTimeoutOf(stringOption(args, 'headers-timeout'));
    const configFile = stringOption(args, 'config');
    // Loaded here, not at the top: every other command would pay for the server's modules.
    const { startNode } = await import('../server/node.ts');
    const { EventLog, stderrFrom } = await import('../observe/event-log.ts');
    // The config file's reader (and its YAML parser) only when there is a file: every worker
    // process runs this too, so a server without one starts that much sooner.
    const setup = configFile === undefined ? undefined : await import('../config/server-setup.ts');
    const configured =
      configFile === undefined || setup === undefined
        ? undefined
        : await setup.configureServer(configFile, (level) => new EventLog(stderrFrom(level)));
    const clusterConfig = clusterConfigOf(
      args,
      configured?.config.keyhold.cluster,
      await import('../config/cluster-config.ts'),
    );
    const dir = resolve(args.positionals[0] ?? configured?.options.dir ?? 'keyhold-data');
    const dev = flag(args, 'dev');
    // A KES gateway seals nothing (its keys are in the external store): no HSM key needed.
    const gateway = configured?.options.gateway;
    if (gateway && clusterConfig) {
      throw new UsageError(
        'a config file with a keystore: section runs a stateless KES gateway, which keeps no state to replicate: drop --etcd (and keyhold.cluster) or the keystore: section',
      );
    }
    const hsmKey = gateway
      ? (configured.options.hsmKey ?? HsmKey.generate())
      : await loadHsmKey(dir, dev, configured?.options.hsmKey);
    const auditFile = stringOption(args, 'audit-log') ?? configured?.options.auditFile;
    if (gateway && !configured.options.hsmKey && auditFile !== undefined) {
      // The chain key derives from the HSM key: a random one per run chains lines nobody can verify.
      configured.options.log.warn(
        `the audit log ${auditFile} is chained under a key derived from the HSM key; this gateway has none configured (keyhold.hsm_key), so 'keyhold audit verify' cannot check it`,
      );
    }
    const tlsCert = stringOption(args, 'tls-cert');
    const tlsKey = stringOption(args, 'tls-key');
    if ((tlsCert === undefined) !== (tlsKey === undefined)) {
      throw new UsageError('--tls-cert and --tls-key go together');
    }
    const workers = parseWorkers(stringOption(args, 'workers'));
    const applyTimeout = stringOption(args, 'apply-timeout');
    const consoleIdle = stringOption(args, 'console-session-idle');
    const http = stringOption(args, 'http') ?? 'lean';
    if (http !== 'lean' && http !== 'node') throw new UsageError("--http takes 'lean' or 'node'");
    if (configured && setup) setup.reloadOnSighup(() => configured.reload());
    const { tlsConfig, ...fromConfig } = configured?.options ?? {};
    const node = await startNode(
      {
        ...fromConfig,
        http,
        ...(headersTimeout === undefined ? {} : { headersTimeout }),
        // Certificate files on the command line replace the config file's TLS material.
        ...(tlsConfig && !(tlsCert && tlsKey) ? { tlsConfig } : {}),
        dir,
        address:
          stringOption(args, 'address') ??
          configured?.options.address ??
          (dev ? '127.0.0.1:7373' : '0.0.0.0:7373'),
        hsmKey,
        ...(applyTimeout === undefined
          ? {}
          : { applyTimeout: parseDuration(applyTimeout, '--apply-timeout') }),
        ...(consoleIdle === undefined
          ? {}
          : { consoleSessionIdle: parseDuration(consoleIdle, '--console-session-idle') }),
        ...optional('publicHost', stringOption(args, 'host')),
        ...optional('auditFile', auditFile),
        ...(tlsCert && tlsKey ? { tls: { cert: tlsCert, key: tlsKey } } : {}),
        ...(clusterConfig ? { cluster: clusterConfig } : {}),
        ...maxStalenessOf(args, clusterConfig !== undefined),
      },
      workers,
    );
    if (!node) return 0; // a worker process: it served until the primary stopped it
    printBanner(
      node,
      gateway ? `none (KES gateway: keys in the ${gateway.keystore.kind} key store)` : dir,
      args,
    );
    // For supervisors and test harnesses: one JSON line to wait for instead of the banner.
    if (io().env.KEYHOLD_READY === '1') print(readyLine(node, dir, args));
    await waitForSignal();
    await node.close();
    return 0;
  },
};

/** `--headers-timeout DUR` in milliseconds: at least 1 s, the timeouts' check resolution. */
function headersTimeoutOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text, '--headers-timeout');
  if (ms < 1000) throw new UsageError(`--headers-timeout: at least 1s, not '${text}'`);
  return ms;
}

/**
 * The etcd cluster settings from the flags, the environment and the config file (flag > env >
 * file). A bad value stops the server with one line naming it (exit 1).
 */
function clusterConfigOf(
  args: ParsedArgs,
  file: ClusterFileSection | undefined,
  { resolveClusterConfig }: typeof import('../config/cluster-config.ts'),
): ClusterConfig | undefined {
  const flags: ClusterFlags = {
    endpoints: stringOption(args, 'etcd'),
    prefix: stringOption(args, 'etcd-prefix'),
    ca: stringOption(args, 'etcd-ca'),
    cert: stringOption(args, 'etcd-cert'),
    key: stringOption(args, 'etcd-key'),
    username: stringOption(args, 'etcd-username'),
    trimInterval: stringOption(args, 'etcd-trim-interval'),
    trimThreshold: stringOption(args, 'etcd-trim-threshold'),
  };
  return resolveClusterConfig({ flags, env: io().env, file });
}

/** `--etcd-max-staleness DUR` (or KEYHOLD_ETCD_MAX_STALENESS) as cluster timing. */
function maxStalenessOf(
  args: ParsedArgs,
  cluster: boolean,
): { clusterTiming?: { maxStaleness: number } } {
  const flagText = stringOption(args, 'etcd-max-staleness');
  const text = flagText ?? io().env.KEYHOLD_ETCD_MAX_STALENESS;
  if (text === undefined || text === '') return {};
  const from = flagText !== undefined ? '--etcd-max-staleness' : 'KEYHOLD_ETCD_MAX_STALENESS';
  if (!cluster) throw new UsageError(`${from} needs a cluster (--etcd)`);
  return { clusterTiming: { maxStaleness: parseDuration(text, from) } };
}

function parseWorkers(text: string | undefined): number {
  if (text === undefined) return availableParallelism();
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 256) {
    throw new UsageError('--workers takes a whole number from 0 to 256');
  }
  return n;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: string });
}

function endpointOf(node: RunningNode, args: ParsedArgs): string {
  return `https://${stringOption(args, 'host') ?? displayAddress(node.address)}`;
}

function printBanner(node: RunningNode, dir: string, args: ParsedArgs): void {
  const endpoint = endpointOf(node, args);
  const lines = [
    `Keyhold ${VERSION}`,
    `Endpoint:    ${endpoint}`,
    `State:       ${dir}`,
    `Certificate: ${node.certificateFiles.cert}${node.certificateCreated ? ' (self-signed, created now)' : ''}`,
    `Workers:     ${node.workers === 0 ? 'none (single process)' : String(node.workers)}`,
    `Data keys:   ${cryptoText()}`,
  ];
  const { apiKey, identity } = node.root;
  if (apiKey) {
    lines.push(`API Key:     ${apiKey.toK1()}   (root; derived from the HSM key)`);
    lines.push(`Identity:    ${identity}`);
    lines.push('');
    lines.push('Try it:');
    lines.push(
      `  node ${process.argv[1] ?? 'keyhold'} ls-enclave -k -s ${endpoint.slice('https://'.length)} -a ${apiKey.toK1()}`,
    );
  } else {
    lines.push(`Root:        ${identity || 'disabled'}`);
  }
  print(lines.join('\n'));
}

/**
 * The readiness line (docs/cli.md#readiness): what the banner says, as one JSON object, printed
 * once the node listens. The root API key is there only when the banner shows it too.
 */
function readyLine(node: RunningNode, dir: string, args: ParsedArgs): string {
  const { apiKey, identity } = node.root;
  return JSON.stringify({
    ready: true,
    endpoint: endpointOf(node, args),
    address: node.address,
    state: dir,
    certificate: node.certificateFiles.cert,
    workers: node.workers,
    http: stringOption(args, 'http') ?? 'lean',
    crypto: dataKeyCryptoInfo.backend,
    identity,
    ...(apiKey ? { apiKey: apiKey.toK1() } : {}),
  });
}

/** Which implementation seals data keys (docs/performance.md#native-data-key-crypto). */
function cryptoText(): string {
  const { backend, reason } = dataKeyCryptoInfo;
  return backend === 'native' ? 'native addon (OpenSSL)' : `node:crypto (${reason})`;
}

function displayAddress(address: string): string {
  return address.startsWith('0.0.0.0:') ? `127.0.0.1:${address.slice(8)}` : address;
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
