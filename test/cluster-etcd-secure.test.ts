// A cluster node against an etcd that requires what docs/cluster.md tells operators to require:
// TLS with client certificates (certificates made here with openssl, a CA of the test's own), and
// etcd's user/password authentication with a user limited to the Keyhold prefix. The node must
// work with the right settings and stop with a clear error with wrong ones.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMissing, freePort } from './helpers/etcd-process.ts';
import { ServerExit, startServer, tempDir } from './helpers/server-process.ts';
import type { ServerProcess } from './helpers/server-process.ts';
import { kms } from './helpers/cluster-nodes.ts';
import type { ClusterNodeProcess } from './helpers/cluster-nodes.ts';

const missing = etcdMissing();
const ETCD = process.env.KEYHOLD_ETCD_BIN ?? 'etcd';

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A CA, and a server and a client certificate it signs (P-256), in `dir`. */
function makeCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    dir,
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    '/CN=test etcd CA',
    '-days',
    '2',
  );
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  for (const name of ['server', 'client']) {
    openssl(
      dir,
      'req',
      ...ec,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    );
  }
}

/** One etcd member with `flags`; resolves once `ready` succeeds. */
async function startMember(
  dir: string,
  clientUrl: string,
  flags: string[],
  ready: () => Promise<unknown>,
): Promise<ChildProcess> {
  const peer = `http://127.0.0.1:${await freePort()}`;
  const child = spawn(
    ETCD,
    [
      '--name',
      'm',
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `m=${peer}`,
      '--log-level',
      'error',
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await ready();
      return child;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`etcd did not start: ${String(error)}\n${output}`, { cause: error });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function stopMember(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** A node's first write and read through etcd. */
async function createAndRead(server: ServerProcess): Promise<void> {
  const node = { host: '', dir: server.dir, server } as unknown as ClusterNodeProcess;
  const created = await kms(node, 'KEY:CREATE', [{ name: 'secure', type: '', addVersion: false }]);
  assert.equal(created.status, 200, created.error);
  const status = await kms(node, 'KEY:STATUS', [{ name: 'secure', version: 0 }]);
  assert.equal(status.status, 200, status.error);
}

async function refusedStart(start: () => Promise<ServerProcess>): Promise<string> {
  try {
    const server = await start();
    await server.kill();
  } catch (error) {
    if (error instanceof ServerExit) return error.output;
    throw error;
  }
  assert.fail('the node started');
}

describe(
  'a cluster node on an etcd with TLS client certificates',
  { skip: missing ?? false },
  () => {
    let dir: string;
    let etcd: ChildProcess | undefined;
    let url: string;
    const servers: ServerProcess[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'keyhold-etcd-tls-'));
      makeCertificates(dir);
      url = `https://127.0.0.1:${await freePort()}`;
      const tls = {
        rootCertificate: readFileSync(join(dir, 'ca.pem')),
        certChain: readFileSync(join(dir, 'client.pem')),
        privateKey: readFileSync(join(dir, 'client.key')),
      };
      etcd = await startMember(
        dir,
        url,
        [
          '--cert-file',
          join(dir, 'server.pem'),
          '--key-file',
          join(dir, 'server.key'),
          '--client-cert-auth',
          '--trusted-ca-file',
          join(dir, 'ca.pem'),
        ],
        async () => {
          const client = new Etcd3({ hosts: url, credentials: tls });
          try {
            await client.get('probe').string();
          } finally {
            client.close();
          }
        },
      );
    });

    after(async () => {
      for (const s of servers) await s.kill();
      await stopMember(etcd);
      rmSync(dir, { recursive: true, force: true });
    });

    it('with the CA, a client certificate and its key, the node creates the cluster and writes', async () => {
      const server = await startServer({
        dir: tempDir().dir,
        args: [
          '--workers',
          '0',
          '--etcd',
          url,
          '--etcd-ca',
          join(dir, 'ca.pem'),
          '--etcd-cert',
          join(dir, 'client.pem'),
          '--etcd-key',
          join(dir, 'client.key'),
        ],
      });
      servers.push(server);
      await createAndRead(server);
    });

    it('without a client certificate the node does not start, and says etcd refused it', async () => {
      const output = await refusedStart(() =>
        startServer({
          dir: tempDir().dir,
          timeout: 60_000,
          args: ['--workers', '0', '--etcd', url, '--etcd-ca', join(dir, 'ca.pem')],
        }),
      );
      assert.match(output, /cannot reach etcd at https:\/\/127\.0\.0\.1:\d+: [\s\S]*--etcd-cert/);
    });
  },
);

describe(
  'a cluster node on an etcd with user/password authentication',
  { skip: missing ?? false },
  () => {
    let dir: string;
    let etcd: ChildProcess | undefined;
    let url: string;
    const servers: ServerProcess[] = [];
    const password = 'correct horse battery staple';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'keyhold-etcd-auth-'));
      url = `http://127.0.0.1:${await freePort()}`;
      etcd = await startMember(dir, url, [], async () => {
        const client = new Etcd3({ hosts: url });
        try {
          await client.get('probe').string();
        } finally {
          client.close();
        }
      });
      // A root user (etcd requires one to enable auth) and a Keyhold user limited to its prefix.
      const admin = new Etcd3({ hosts: url });
      try {
        await admin.role('root').create();
        await admin.user('root').create('root-password');
        await admin.user('root').addRole('root');
        await admin.role('keyhold').create();
        await admin
          .role('keyhold')
          .grant({ permission: 'Readwrite', range: admin.range({ prefix: '/keyhold/' }) });
        await admin.user('keyhold').create(password);
        await admin.user('keyhold').addRole('keyhold');
        await admin.auth.authEnable();
      } finally {
        admin.close();
      }
    });

    after(async () => {
      for (const s of servers) await s.kill();
      await stopMember(etcd);
      rmSync(dir, { recursive: true, force: true });
    });

    it('with the user and its password (from the environment), the node works inside its prefix', async () => {
      const server = await startServer({
        dir: tempDir().dir,
        args: ['--workers', '0', '--etcd', url, '--etcd-username', 'keyhold'],
        env: { KEYHOLD_ETCD_PASSWORD: password },
      });
      servers.push(server);
      await createAndRead(server);
    });

    it('with a wrong password the node does not start, and never prints the password', async () => {
      const output = await refusedStart(() =>
        startServer({
          dir: tempDir().dir,
          timeout: 60_000,
          args: ['--workers', '0', '--etcd', url, '--etcd-username', 'keyhold'],
          env: { KEYHOLD_ETCD_PASSWORD: 'wrong password' },
        }),
      );
      assert.match(output, /authentication failed|invalid|auth/i);
      assert.ok(!output.includes('wrong password'), output);
    });
  },
);
