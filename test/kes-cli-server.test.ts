// End-to-end tests of the server-wide `keyhold kes` verbs against a real `keyhold server`:
// status (one and several endpoints), metric, policy and identity views, and the log streams.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/identity/index.ts';
import { KmsClient } from '../src/sdk/index.ts';
import { KES_ERRORS, KesClient, KesError } from '../src/sdk/kes/index.ts';
import { CLI, startServer, type ServerProcess } from './helpers/server-process.ts';
import { kesEnv, runCli, type CliResult } from './kes-cli-run.ts';

describe('keyhold kes (server views)', () => {
  let server: ServerProcess;
  let kes: (args: string[], extra?: Record<string, string>) => Promise<CliResult>;
  let rootHex = '';

  before(async () => {
    server = await startServer();
    kes = (args, extra = {}) => runCli(['kes', ...args], { env: kesEnv(server, extra) });
    const root = (await runCli(['identity', 'of', server.rootApiKey])).stdout.trim();
    rootHex = Buffer.from(root.slice(3), 'base64url').toString('hex');
  });
  after(() => server.stop());

  it('shows the status of every endpoint, and exits 1 when one is down', async () => {
    const human = await kes(['status', '-k']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /^Endpoint\s+State\s+Version\s+Uptime\s+CPUs\s+Heap\s+Keystore\s+Latency\n/,
    );
    assert.match(human.stdout, new RegExp(`https://${server.endpoint}\\s+online\\s+\\S+\\s+\\d`));

    const json = JSON.parse((await kes(['status', '-k', '--json'])).stdout) as Record<
      string,
      unknown
    >;
    assert.equal(typeof json.version, 'string');
    assert.equal(typeof json.num_cpu, 'number');

    const two = await kes(['status', '-k', '--json', '-s', `${server.endpoint},127.0.0.1:1`]);
    assert.equal(two.code, 1);
    const states = JSON.parse(two.stdout) as {
      endpoint: string;
      status?: unknown;
      error?: string;
    }[];
    assert.equal(states.length, 2);
    assert.ok(states[0]!.status);
    assert.equal(states[1]!.endpoint, 'https://127.0.0.1:1');
    assert.match(states[1]!.error!, /connection error/);

    const api = await kes(['status', '-k', '--api']);
    assert.match(api.stdout, /Method\s+Path\s+Max body\s+Timeout\n/);
    assert.match(api.stdout, /PUT\s+\/v1\/key\/create\//);
  });

  it('reads the kes_* metrics', async () => {
    // Only key, policy and identity routes are counted (as KES). The server may run several
    // workers with their own counters, so keep making counted requests until one shows up.
    let m: Record<string, number> = {};

    for (let i = 0; i < 10; i++) {
      // Two connections per round, so that connections spread over workers do not alternate
      // between one that counts and one that answers /v1/metrics.
      await kes(['key', 'info', '-k', 'metric-probe']);
      await kes(['key', 'info', '-k', 'metric-probe']);
      const r = await kes(['metric', '-k', '--json']);
      assert.equal(r.code, 0, r.stderr);
      m = JSON.parse(r.stdout) as Record<string, number>;
      if (m.request_error! > 0) break;
    }
    assert.ok(m.request_error! > 0, `a 404 was counted as a 4xx: ${JSON.stringify(m)}`);
    assert.ok(m.num_cpu! >= 1);
    const histogram = m.latency_histogram as unknown as { le: string; count: number }[];
    assert.equal(histogram.at(-1)!.le, '+Inf');
    assert.ok(histogram.at(-1)!.count >= m.request_error!);
    const human = await kes(['metric', '-k']);
    assert.match(human.stdout, /^Requests OK\s+\d+\nRequests 4xx\s+\d+\n/);
    assert.match(human.stdout, /\nLatency ≤ 10ms\s+\d+\n/);
  });

  it('lists and shows policies and identities', async () => {
    const kms = new KmsClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      tls: { insecure: true },
    });
    await kms.createPolicy('minio', {
      allow: { 'KEY:GENERATE': ['minio-*'], 'KEY:DECRYPT': ['minio-*'] },
    });
    const user = ApiKey.generate('kes');
    await kms.createIdentity(user.identity.toH1());
    await kms.assignPolicy('minio', user.identity.toH1());

    const policies = JSON.parse((await kes(['policy', 'ls', '-k', '--json'])).stdout) as string[];
    assert.ok(policies.includes('minio'), policies.join());
    const info = await kes(['policy', 'info', '-k', 'minio']);
    assert.match(info.stdout, /^Name\s+minio\nCreated\s+\S+\nCreated by\s+\S+\n$/);
    const show = JSON.parse((await kes(['policy', 'show', '-k', '--json', 'minio'])).stdout) as {
      allow: string[];
      deny: string[];
    };
    assert.ok(
      show.allow.some((p) => p.startsWith('/v1/key/generate/')),
      show.allow.join(),
    );
    const missing = await kes(['policy', 'info', '-k', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      "keyhold: failed to describe policy 'nope': policy does not exist\n",
    );

    const ids = JSON.parse((await kes(['identity', 'ls', '-k', '--json'])).stdout) as string[];
    assert.ok(ids.includes(user.identity.toHex()), ids.join());
    const described = JSON.parse(
      (await kes(['identity', 'info', '-k', '--json', user.identity.toHex()])).stdout,
    ) as { policy: string; admin: boolean };
    assert.equal(described.policy, 'minio');
    assert.equal(described.admin, false);
    const self = JSON.parse((await kes(['identity', 'info', '-k', '--json'])).stdout) as {
      identity: string;
      admin: boolean;
    };
    assert.deepEqual([self.identity, self.admin], [rootHex, true]);
    const userSelf = await kes(['identity', 'info', '-k', '--json'], { KES_API_KEY: user.toKes() });
    assert.equal(userSelf.code, 0, userSelf.stderr);
    assert.equal((JSON.parse(userSelf.stdout) as { policy: string }).policy, 'minio');
  });

  it('answers every KesClient method over real mTLS', async () => {
    const client = new KesClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      insecure: true,
    });
    try {
      assert.equal(typeof (await client.version()).version, 'string');
      await client.ready();
      const routes = await client.apis();
      assert.ok(routes.some((r) => r.method === 'PUT' && r.path === '/v1/key/hmac/'));
      await client.createKey('sdk-key');
      await client.importKey('sdk-imported', Buffer.alloc(32, 9), { cipher: 'ChaCha20' });
      assert.equal((await client.describeKey('sdk-imported')).algorithm, 'ChaCha20');
      const names: string[] = [];
      for await (const name of client.listKeys('sdk-')) names.push(name);
      assert.deepEqual(names, ['sdk-imported', 'sdk-key']);
      const ct = await client.encrypt('sdk-key', Buffer.from('secret'), Buffer.from('ctx'));
      assert.equal((await client.decrypt('sdk-key', ct, Buffer.from('ctx'))).toString(), 'secret');
      assert.equal((await client.hmac('sdk-key', Buffer.from('m'))).length, 32);
      const self = await client.describeSelf();
      assert.deepEqual([self.identity, self.isAdmin], [rootHex, true]);
      assert.equal(client.identity, rootHex);
      await client.deleteKey('sdk-imported');
      const gone = await client.describeKey('sdk-imported').catch((e: unknown) => e);
      assert.ok(KesError.matches(gone, KES_ERRORS.keyNotFound), String(gone));
      const exists = await client.createKey('sdk-key').catch((e: unknown) => e);
      assert.ok(KesError.matches(exists, KES_ERRORS.keyExists), String(exists));
    } finally {
      client.close();
    }
  });

  it('follows the audit log until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, 'kes', 'log', '--audit', '-k', '--json'], {
      env: kesEnv(server),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      // Requests made after the stream opened show up; poll until one does.
      const deadline = Date.now() + 15_000;
      while (!out.includes('/v1/key/create/audited-key') && Date.now() < deadline) {
        await kes(['key', 'create', '-k', 'audited-key']);
        await new Promise((r) => setTimeout(r, 200));
      }
      const line = out.split('\n').find((l) => l.includes('/v1/key/create/audited-key'));
      assert.ok(line, `no audit event; stdout:\n${out}\nstderr:\n${err}`);
      const event = JSON.parse(line) as {
        request: { path: string; identity: string };
        response: { code: number };
      };
      assert.equal(event.request.identity, rootHex);
      assert.ok([200, 400].includes(event.response.code));
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, err);
  });

  it('refuses the log to an identity without permission', async () => {
    const r = await kes(['log', '--error', '-k'], { KES_API_KEY: ApiKey.generate('kes').toKes() });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'keyhold: failed to open the error log: not authorized: insufficient permissions\n',
    );
  });
});
