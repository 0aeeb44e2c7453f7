// End-to-end tests of the KMS client commands of the CLI: a real server, and the CLI run as a user
// runs it, with flags and environment variables; human and --json output, exit codes (0 ok, 1
// failure with the server's message, 2 usage) and every command's --help. Commands run in-process
// (`main(argv, io)`, helpers/cli-in-process.ts) against the real server process; the binary
// itself runs where its entry point matters (the banner's "Try it" line, the endless log).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiKey } from '../src/sdk/index.ts';
import { inParallel } from './helpers/kms-assert.ts';
import { runInProcess } from './helpers/cli-in-process.ts';
import { CLI, startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let server: ServerProcess;
let work: { dir: string; remove: () => void };

/** Environment without any KMS settings of the machine running the tests. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(KEYHOLD|MINIO_KMS)_/.test(name)) env[name] = value;
  }
  return env;
}

/**
 * Runs the CLI in-process (in the work directory, see before()); by default against the test
 * server as root, not verifying its certificate.
 */
function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; root?: boolean } = {},
): Promise<Run> {
  const env: Record<string, string> = { ...cleanEnv(), ...options.env };
  if (options.root !== false) {
    env['KEYHOLD_SERVER'] ??= server.endpoint;
    env['KEYHOLD_API_KEY'] ??= server.rootApiKey;
  }
  return runInProcess(args, env, options.input);
}

function exec(argv: readonly string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env, cwd: work.dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${String(run.code)}; stderr: ${run.stderr}`);
  return run;
}

function fails(run: Run, code: 1 | 2, message: RegExp | string): void {
  assert.equal(run.code, code, `stdout: ${run.stdout} stderr: ${run.stderr}`);
  if (typeof message === 'string') assert.equal(run.stderr, `keyhold: ${message}\n`);
  else assert.match(run.stderr, message);
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the JSON shape it expects
function json<T = Record<string, unknown>>(run: Run): T {
  return JSON.parse(ok(run).stdout) as T;
}

/** Lines of a table without the header, split into cells. */
function rows(run: Run, header: RegExp): string[][] {
  const lines = ok(run).stdout.trimEnd().split('\n');
  assert.match(lines[0]!, header);
  return lines.slice(1).map((l) => l.split(/\s{2,}/));
}

const KMS_COMMANDS = [
  'add-enclave',
  'rm-enclave',
  'ls-enclave',
  'stat-enclave',
  'add-key',
  'rm-key',
  'ls-key',
  'stat-key',
  'keygen',
  'encrypt',
  'decrypt',
  'add-policy',
  'set-policy',
  'get-policy',
  'stat-policy',
  'rm-policy',
  'ls-policy',
  'add-identity',
  'rm-identity',
  'ls-identity',
  'stat-identity',
  'ls',
  'stat',
  'add-node',
  'rm-node',
  'backup',
  'restore',
  'logs',
];

let home: string;

before(async () => {
  // One process (`--workers 0`): the CLI is the subject, not the server's process model.
  server = await startServer({ args: ['--workers', '0'] });
  work = tempDir('keyhold-cli-');
  // The in-process CLI resolves relative paths (backup's default file name) against the test
  // process's directory, as the binary did against the child's cwd.
  home = process.cwd();
  process.chdir(work.dir);
});

after(async () => {
  process.chdir(home);
  await server.stop();
  work.remove();
});

// The suites below use their own enclaves and run side by side (their tests in order); backup/restore replaces the whole
// state, so it runs alone afterwards.
describe('commands', { concurrency: 4 }, () => {
  describe('help', { concurrency: 1 }, () => {
    it('every KMS command has a real --help and is listed by keyhold --help', async () => {
      const overview = ok(await cli(['--help'])).stdout;
      await inParallel(KMS_COMMANDS, 4, async (name) => {
        assert.match(overview, new RegExp(`^  ${name} +\\S`, 'm'), `${name} in keyhold --help`);
        const run = ok(await cli([name, '--help']));
        assert.match(run.stdout, new RegExp(`^Usage: keyhold ${name} `));
        assert.match(run.stdout, /Global options:/);
        assert.match(run.stdout, /-s, --server/);
        assert.match(run.stdout, /-a, --api-key/);
        assert.match(run.stdout, /-e, --enclave/);
        assert.match(run.stdout, /-k, --insecure/);
        // A description beyond the synopsis.
        assert.ok(run.stdout.split('\n')[2]!.length > 10, `${name} describes itself`);
      });
    });
  });

  describe('connecting', { concurrency: 1 }, () => {
    it("the server banner's 'Try it' line works as printed", async () => {
      const line = /Try it:\n\s+node (\S+) (.+)/.exec(server.output());
      assert.ok(line, server.output());
      const run = ok(await exec([line[1]!, ...line[2]!.trim().split(/\s+/)], cleanEnv()));
      assert.match(run.stdout, /^NAME +CREATED +CREATED BY$/m);
      assert.match(run.stdout, /^default +\d{4}-/m);
    });

    it('verifies the server certificate unless -k or --ca', async () => {
      fails(await cli(['ls-enclave']), 1, /self-signed certificate.*--ca FILE.*-k/s);
      const ca = join(server.dir, 'certs', 'server.crt');
      ok(await cli(['ls-enclave', '--ca', ca]));
      ok(
        await cli(['ls-enclave', '--ca', ca, '-s', `localhost:${server.endpoint.split(':')[1]!}`]),
      );
      fails(await cli(['ls-enclave', '--ca', join(work.dir, 'none.pem')]), 2, /cannot read --ca/);
    });

    it('server and API key from flags, KEYHOLD_* or MINIO_KMS_* (in that order)', async () => {
      const env = { KEYHOLD_SERVER: '', KEYHOLD_API_KEY: '' };
      ok(await cli(['ls', '-k', '-s', server.endpoint, '-a', server.rootApiKey], { root: false }));
      ok(
        await cli(['ls', '-k'], {
          root: false,
          env: {
            ...env,
            MINIO_KMS_SERVER: `https://${server.endpoint}`,
            MINIO_KMS_API_KEY: server.rootApiKey,
          },
        }),
      );
      // KEYHOLD_* wins over MINIO_KMS_*; a flag wins over both.
      const wrong = ApiKey.generate().toK1();
      ok(
        await cli(['ls', '-k'], {
          env: { MINIO_KMS_API_KEY: wrong, MINIO_KMS_SERVER: '127.0.0.1:1' },
        }),
      );
      fails(await cli(['ls', '-k', '-a', wrong]), 1, 'access denied: insufficient permissions');
      fails(
        await cli(['ls', '-k'], { root: false, env: { KEYHOLD_SERVER: server.endpoint } }),
        2,
        /no API key/,
      );
    });

    it('a list of servers fails over; no reachable server is a failure naming each', async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const dead = `127.0.0.1:${(probe.address() as { port: number }).port}`;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      ok(await cli(['ls-enclave', '-k', '-s', `${dead},${server.endpoint}`]));
      fails(
        await cli(['ls-enclave', '-k', '-s', dead]),
        1,
        /no KMS server reachable.*ECONNREFUSED/,
      );
      fails(await cli(['ls-enclave', '-k', '-s', 'http://x']), 2, /only reachable over https/);
    });

    it('usage errors exit 2 with a hint', async () => {
      fails(
        await cli(['add-key', '-k']),
        2,
        /expected 1 argument, got 0. See 'keyhold add-key --help'/,
      );
      fails(await cli(['ls-key', '-k', '--frobnicate']), 2, /Unknown option '--frobnicate'/);
      fails(await cli(['rm-key', 'k', '-v', '1', '--all', '-k']), 2, /cannot be combined/);
      fails(await cli(['keygen', 'k', '--length', 'x', '-k']), 2, /--length must be an integer/);
    });
  });

  describe('enclaves', { concurrency: 1 }, () => {
    it('add, list (table and JSON), stat, remove', async () => {
      assert.equal(
        ok(await cli(['add-enclave', 'blue', 'green', '-k'])).stdout,
        "Created enclave 'blue'.\nCreated enclave 'green'.\n",
      );
      fails(await cli(['add-enclave', 'blue', '-k']), 1, 'enclave already exists');

      const names = rows(await cli(['ls-enclave', '-k']), /^NAME +CREATED +CREATED BY$/).map(
        (r) => r[0]!,
      );
      assert.deepEqual(names, [...names].sort());
      assert.ok(
        ['blue', 'default', 'green'].every((n) => names.includes(n)),
        names.join(','),
      );
      const listed = json<{ name: string; created_by: string }[]>(
        await cli(['ls-enclave', 'b', '-k', '--json']),
      );
      assert.deepEqual(
        listed.map((e) => e.name),
        ['blue'],
      );

      const stat = json(await cli(['stat-enclave', 'blue', '-k', '--json']));
      assert.equal(stat['name'], 'blue');
      assert.match(String(stat['created_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(String(stat['created_by']), /^h1:/);
      const both = json<unknown[]>(await cli(['stat-enclave', 'blue', 'green', '-k', '--json']));
      assert.equal(both.length, 2);
      assert.match(ok(await cli(['stat-enclave', 'green', '-k'])).stdout, /^Name: +green$/m);
      fails(await cli(['stat-enclave', 'nope', '-k']), 1, 'enclave does not exist');

      ok(await cli(['rm-enclave', 'green', '-k']));
      fails(await cli(['rm-enclave', 'green', '-k']), 1, 'enclave does not exist');
    });
  });

  describe('keys', { concurrency: 1 }, () => {
    const env = { KEYHOLD_ENCLAVE: 'keys' };
    before(async () => {
      ok(await cli(['add-enclave', 'keys', '-k']));
    });

    it('add, rotate, list, stat, remove versions and keys', async () => {
      assert.equal(
        ok(await cli(['add-key', 'k1', '-k'], { env })).stdout,
        "Created key 'k1' in enclave keys.\n",
      );
      ok(await cli(['add-key', 'k2', '--type', 'chacha20', '-k'], { env }));
      fails(await cli(['add-key', 'k1', '-k'], { env }), 1, 'key already exists');
      ok(await cli(['add-key', 'k1', '--version', '-k'], { env }));

      const table = rows(
        await cli(['ls-key', '-k'], { env }),
        /^NAME +VERSION +TYPE +CREATED +CREATED BY$/,
      );
      assert.deepEqual(
        table.map((r) => r.slice(0, 3)),
        [
          ['k1', '2', 'AES256'],
          ['k2', '1', 'ChaCha20'],
        ],
      );
      const stat = json(await cli(['stat-key', 'k1', '-k', '--json'], { env }));
      assert.deepEqual([stat['name'], stat['version'], stat['type']], ['k1', 2, 'AES256']);
      assert.equal(
        json(await cli(['stat-key', 'k1', '-v', '1', '-k', '--json'], { env }))['version'],
        1,
      );
      assert.match(ok(await cli(['stat-key', 'k2', '-k'], { env })).stdout, /^Type: +ChaCha20$/m);

      ok(await cli(['rm-key', 'k1', '-v', '1', '-k'], { env }));
      fails(await cli(['stat-key', 'k1', '-v', '1', '-k'], { env }), 1, 'key does not exist');
      assert.match(
        ok(await cli(['rm-key', 'k2', '--all', '-k'], { env })).stdout,
        /Deleted key 'k2'/,
      );
      fails(await cli(['stat-key', 'k2', '-k'], { env }), 1, 'key does not exist');
      fails(await cli(['rm-key', 'k2', '-k'], { env }), 1, 'key does not exist');
    });

    it('the enclave comes from -e, then KEYHOLD_ENCLAVE, then MINIO_KMS_ENCLAVE', async () => {
      ok(await cli(['add-key', 'where', '-k', '-e', 'keys']));
      ok(await cli(['stat-key', 'where', '-k'], { env: { MINIO_KMS_ENCLAVE: 'keys' } }));
      ok(
        await cli(['stat-key', 'where', '-k'], {
          env: { KEYHOLD_ENCLAVE: 'keys', MINIO_KMS_ENCLAVE: 'default' },
        }),
      );
      fails(
        await cli(['stat-key', 'where', '-k', '-e', 'default'], {
          env: { KEYHOLD_ENCLAVE: 'keys' },
        }),
        1,
        'key does not exist',
      );
      // Without any, the server's default enclave.
      fails(await cli(['stat-key', 'where', '-k']), 1, 'key does not exist');
      fails(await cli(['stat-key', 'where', '-k', '-e', 'missing']), 1, 'enclave does not exist');
    });

    it('keygen prints a data key whose ciphertext decrypts back with the same context', async () => {
      ok(await cli(['add-key', 'minio', '-k'], { env }));
      const dek = json<{ version: number; plaintext: string; ciphertext: string }>(
        await cli(['keygen', 'minio', '--context', '{"b":"b/o"}', '-k', '--json'], { env }),
      );
      assert.equal(Buffer.from(dek.plaintext, 'base64').length, 32);
      assert.equal(dek.version, 1);
      const plain = ok(
        await cli(['decrypt', 'minio', dek.ciphertext, '--context', '{"b":"b/o"}', '-k'], { env }),
      ).stdout.trim();
      assert.equal(plain, dek.plaintext);
      fails(
        await cli(['decrypt', 'minio', dek.ciphertext, '-k'], { env }),
        1,
        'invalid ciphertext',
      );
      fails(
        await cli(['decrypt', 'minio', 'not base64!', '-k'], { env }),
        2,
        /CIPHERTEXT is not base64/,
      );

      const human = ok(await cli(['keygen', 'minio', '--length', '16', '-k'], { env })).stdout;
      const fields = Object.fromEntries(
        human
          .trimEnd()
          .split('\n')
          .map((l) => l.split(/:\s+/) as [string, string]),
      );
      assert.equal(fields['Version'], '1');
      assert.equal(Buffer.from(fields['Plaintext']!, 'base64').length, 16);
      const again = ok(
        await cli(['decrypt', 'minio', fields['Ciphertext']!, '-k'], { env }),
      ).stdout;
      assert.equal(again.trim(), fields['Plaintext']);
    });

    it('encrypt and decrypt text, also through stdin', async () => {
      const ciphertext = ok(
        await cli(['encrypt', 'minio', 'hello, world', '-k'], { env }),
      ).stdout.trim();
      const text = ok(await cli(['decrypt', 'minio', ciphertext, '--text', '-k'], { env })).stdout;
      assert.equal(text, 'hello, world\n');
      const piped = json<{ ciphertext: string }>(
        await cli(['encrypt', 'minio', '-', '-k', '--json'], { env, input: 'from stdin' }),
      );
      const out = ok(
        await cli(['decrypt', 'minio', '-', '--text', '-k'], { env, input: piped.ciphertext }),
      );
      assert.equal(out.stdout, 'from stdin\n');
    });

    it('import existing key material (a MinIO static key)', async () => {
      const material = Buffer.alloc(32, 7).toString('base64');
      ok(await cli(['add-key', 'imported', '--import', material, '-k'], { env }));
      const stat = json(await cli(['stat-key', 'imported', '-k', '--json'], { env }));
      assert.equal(stat['type'], 'AES256');
      fails(await cli(['add-key', 'short', '--import', 'AAAA', '-k'], { env }), 2, /32 bytes/);
      fails(
        await cli(['add-key', 'x', '--import', material, '--version', '-k'], { env }),
        2,
        /cannot be combined/,
      );
      fails(
        await cli(['add-key', 'x', '--type', 'RSA', '-k'], { env }),
        2,
        /--type must be AES256 or ChaCha20/,
      );
    });
  });

  describe('policies and identities', { concurrency: 1 }, () => {
    const env = { KEYHOLD_ENCLAVE: 'apps' };
    before(async () => {
      ok(await cli(['add-enclave', 'apps', '-k']));
      ok(await cli(['add-key', 'app-data', '-k'], { env }));
      ok(await cli(['add-key', 'ops-data', '-k'], { env }));
    });

    it('add-policy reads object, array and string rule sets; get/stat/ls show it', async () => {
      const file = join(work.dir, 'policy.json');
      writeFileSync(
        file,
        JSON.stringify({
          allow: {
            'KEY:GENERATE': ['app-*'],
            'key:decrypt': 'app-*',
            'KEY:STATUS': { '*': {} },
          },
          deny: { 'KEY:GENERATE': ['app-secret'] },
        }),
      );
      assert.equal(
        ok(await cli(['add-policy', 'app', file, '-k'], { env })).stdout,
        "Created policy 'app' in enclave apps.\n",
      );
      const policy = json(await cli(['get-policy', 'app', '-k', '--json'], { env }));
      assert.deepEqual(policy['allow'], {
        'KEY:DECRYPT': 'app-*',
        'KEY:GENERATE': 'app-*',
        'KEY:STATUS': '*',
      });
      assert.deepEqual(policy['deny'], { 'KEY:GENERATE': 'app-secret' });
      const human = ok(await cli(['get-policy', 'app', '-k'], { env })).stdout;
      assert.match(human, /^Allow:\s*\n\s+KEY:DECRYPT +app-\*$/m);
      assert.match(human, /^\s+KEY:GENERATE +app-secret$/m);

      assert.equal(json(await cli(['stat-policy', 'app', '-k', '--json'], { env }))['name'], 'app');
      const table = rows(await cli(['ls-policy', '-k'], { env }), /^NAME +CREATED +CREATED BY$/);
      assert.deepEqual(
        table.map((r) => r[0]),
        ['app'],
      );

      writeFileSync(file, '{"allow":{"KEY:FROB":["*"]}}');
      fails(await cli(['add-policy', 'bad', file, '-k'], { env }), 1, /unknown command 'KEY:FROB'/);
      fails(
        await cli(['add-policy', 'bad', join(work.dir, 'missing.json'), '-k'], { env }),
        1,
        /cannot read/,
      );
      ok(
        await cli(['add-policy', 'piped', '-', '-k'], { env, input: '{"allow":{"KEY:LIST":"*"}}' }),
      );
      ok(await cli(['rm-policy', 'piped', '-k'], { env }));
      fails(await cli(['get-policy', 'piped', '-k'], { env }), 1, 'policy does not exist');
    });

    it('a new identity with a policy can do what it allows and nothing else', async () => {
      const created = json<{ api_key: string; identity: string; privilege: string }>(
        await cli(['add-identity', '-k', '--json'], { env }),
      );
      assert.match(created.api_key, /^k1:/);
      assert.equal(
        ApiKey.fromSeed(Buffer.from(created.api_key.slice(3), 'base64url')).identity.toH1(),
        created.identity,
      );
      assert.equal(created.privilege, 'User');
      ok(await cli(['set-policy', 'app', created.identity, '-k'], { env }));

      const asUser = { ...env, KEYHOLD_API_KEY: created.api_key };
      ok(await cli(['keygen', 'app-data', '-k'], { env: asUser }));
      fails(
        await cli(['keygen', 'ops-data', '-k'], { env: asUser }),
        1,
        'access denied: insufficient permissions',
      );
      fails(
        await cli(['ls-key', '-k'], { env: asUser }),
        1,
        'access denied: insufficient permissions',
      );
      const status = json(await cli(['stat-identity', created.identity, '-k', '--json'], { env }));
      assert.deepEqual([status['privilege'], status['policy']], ['User', 'app']);
    });

    it('add, stat, list and remove identities; bad identities are usage errors', async () => {
      const id = ApiKey.generate().identity;
      assert.equal(
        ok(
          await cli(
            ['add-identity', id.toHex(), '--admin', '--tag', 'team=ops', '--tag', 'tier=1', '-k'],
            { env },
          ),
        ).stdout,
        `Added ${id.toH1()} as Admin to enclave apps.\n`,
      );
      const stat = json(await cli(['stat-identity', id.toH1(), '-k', '--json'], { env }));
      assert.deepEqual(
        [stat['identity'], stat['privilege'], stat['tags']],
        [id.toH1(), 'Admin', { team: 'ops', tier: '1' }],
      );
      assert.match(
        ok(await cli(['stat-identity', id.toH1(), '-k'], { env })).stdout,
        /^Tags: +team=ops, tier=1$/m,
      );
      const table = rows(
        await cli(['ls-identity', '-k'], { env }),
        /^IDENTITY +PRIVILEGE +POLICY +SERVICE +CREATED$/,
      );
      assert.ok(table.some((r) => r[0] === id.toH1() && r[1] === 'Admin'));

      // Without an argument, stat-identity describes the caller.
      const admin = json<{ api_key: string; identity: string }>(
        await cli(['add-identity', '--admin', '-k', '--json'], { env }),
      );
      const self = json(
        await cli(['stat-identity', '-k', '--json'], {
          env: { ...env, KEYHOLD_API_KEY: admin.api_key },
        }),
      );
      assert.deepEqual([self['identity'], self['privilege']], [admin.identity, 'Admin']);

      ok(await cli(['rm-identity', id.toH1(), '-k'], { env }));
      fails(await cli(['stat-identity', id.toH1(), '-k'], { env }), 1, 'identity does not exist');
      fails(await cli(['add-identity', 'h1:short', '-k'], { env }), 2, /invalid identity/);
      const secret = ApiKey.generate().toK1();
      const run = await cli(['add-identity', secret, '-k'], { env });
      fails(run, 2, /this is an API key/);
      assert.ok(!run.stderr.includes(secret), 'the error never repeats a secret');
      fails(
        await cli(['add-identity', id.toH1(), '--tag', 'novalue', '-k'], { env }),
        2,
        /KEY=VALUE/,
      );
    });
  });

  describe('cluster and logs', { concurrency: 1 }, () => {
    it('ls and stat show the single node as leader', async () => {
      const table = rows(await cli(['ls', '-k']), /^ID +HOST +ROLE +STATUS$/);
      assert.deepEqual(table, [['0', server.endpoint, 'Leader', 'up']]);
      assert.deepEqual(json<unknown[]>(await cli(['ls', '-k', '--json'])), [
        { id: 0, host: server.endpoint, role: 'Leader', up: true },
      ]);
      const stat = ok(await cli(['stat', '-k'])).stdout;
      assert.match(stat, /^Role: +Leader$/m);
      assert.match(stat, /^Uptime: +\d/m);
      const node = json<Record<string, unknown>[]>(await cli(['stat', '-k', '--json']))[0]!;
      assert.equal(node['role'], 'Leader');
      assert.equal(typeof node['commit'], 'number');
    });

    it('logs streams until interrupted, and only for a SysAdmin', async () => {
      const child = spawn(process.execPath, [CLI, 'logs', '-k', '--since', '1h'], {
        env: { ...cleanEnv(), KEYHOLD_SERVER: server.endpoint, KEYHOLD_API_KEY: server.rootApiKey },
      });
      let stderr = '';
      const following = new Promise<void>((resolve) => {
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          if (stderr.includes('(Ctrl-C to stop)')) resolve();
        });
      });
      const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
      await Promise.race([following, closed]);
      assert.match(stderr, /^Following the log of 127\.0\.0\.1:\d+ \(Ctrl-C to stop\)$/m);
      assert.equal(child.exitCode, null, `logs ended early: ${stderr}`);
      child.kill('SIGINT');
      assert.equal(await closed, 0, stderr);

      const user = ApiKey.generate();
      ok(await cli(['add-identity', user.identity.toH1(), '--admin', '-k']));
      fails(
        await cli(['logs', '-k'], { env: { KEYHOLD_API_KEY: user.toK1() } }),
        1,
        'access denied: insufficient permissions',
      );
      fails(await cli(['logs', '-k', '--since', 'whenever']), 2, /--since must be/);
    });
  });
});

describe('backup and restore', () => {
  it('backup to a file, restore from it', async () => {
    ok(await cli(['add-enclave', 'saved', '-k']));
    const file = join(work.dir, 'state.db');
    assert.match(
      ok(await cli(['backup', file, '-k'])).stdout,
      /^Saved the state \(\d+ bytes\) to /,
    );
    assert.ok(readFileSync(file).length > 0);
    fails(await cli(['backup', file, '-k']), 1, /cannot create .*EEXIST/);

    ok(await cli(['add-enclave', 'unsaved', '-k']));
    assert.match(ok(await cli(['restore', file, '-k'])).stdout, /^Restored the state from /);
    const names = json<{ name: string }[]>(await cli(['ls-enclave', '-k', '--json'])).map(
      (e) => e.name,
    );
    assert.ok(names.includes('saved') && !names.includes('unsaved'), names.join(','));

    const bad = join(work.dir, 'bad.db');
    writeFileSync(bad, 'not a backup');
    fails(await cli(['restore', bad, '-k']), 1, /invalid backup/);
    // The default name, in the working directory.
    const run = ok(await cli(['backup', '-k', '--json']));
    const { file: made } = JSON.parse(run.stdout) as { file: string };
    assert.match(made, /^\d{8}_\d{6}_keyhold\.db$/);
    assert.ok(readFileSync(join(work.dir, made)).length > 0);
  });
});
