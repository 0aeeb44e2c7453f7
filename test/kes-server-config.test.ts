// `keyhold server --config FILE` end to end: the annotated example and KES's own config files
// start a server unchanged, invalid files stop it with file:line:col, TLS options (encrypted
// key, client verification with a CA) work, and SIGHUP reloads policies and certificates
// without dropping connections, in one process and across worker processes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCertificate, ApiKey } from '../src/identity/index.ts';
import { KmsApiError, KmsClient } from '../src/sdk/index.ts';
import {
  ServerExit,
  apiKeyCert,
  errorBody,
  kes,
  keepAlive,
  openStream,
  startKesServer,
  tempDir,
} from './kes-server-support.ts';
import type { KesServer, StartOptions } from './kes-server-support.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(REPO, 'test', 'fixtures', 'kes');
const DAY = 24 * 60 * 60 * 1000;

/** A server certificate for 127.0.0.1 as PEM files' contents. */
function serverCert(options: { passphrase?: string; san?: boolean } = {}): {
  cert: string;
  key: string;
} {
  const generated = createCertificate({
    keyType: 'p256',
    commonName: 'keyhold-test',
    validFor: DAY,
    ...(options.san === false ? {} : { ips: ['127.0.0.1'], dnsNames: ['localhost'] }),
    clientAuth: false,
  });
  const key = options.passphrase
    ? (generated.privateKey.export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: options.passphrase,
      }) as string)
    : generated.key;
  return { cert: generated.cert, key };
}

/** SHA-256 fingerprint of the certificate the server presents on a new connection. */
function presentedFingerprint(endpoint: string): Promise<string> {
  const [host, port] = endpoint.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** Starts a server that must fail; returns its output. */
async function startFailure(options: StartOptions): Promise<ServerExit> {
  try {
    const server = await startKesServer({ ...options, expectFailure: true });
    await server.stop();
  } catch (error) {
    if (error instanceof ServerExit) return error;
    throw error;
  }
  assert.fail('the server started');
}

const running: KesServer[] = [];
after(async () => {
  for (const server of running) await server.stop().catch(() => undefined);
});
async function start(options: StartOptions): Promise<KesServer> {
  const server = await startKesServer(options);
  running.push(server);
  return server;
}

describe('config files that start a server', () => {
  it('the annotated server-config.yaml, with env references and relative TLS paths', async () => {
    const admin = apiKeyCert();
    const minio = apiKeyCert();
    const tls = serverCert();
    const server = await start({
      config: readFileSync(join(REPO, 'server-config.yaml'), 'utf8'),
      files: { 'server.key': tls.key, 'server.cert': tls.cert },
      env: { KEYHOLD_ADMIN_IDENTITY: admin.identity, MINIO_IDENTITY: minio.identity },
    });
    assert.equal(await presentedFingerprint(server.endpoint), fingerprint(tls.cert));
    // keys: is created at start, as the admin.
    const key = await kes(server.endpoint, admin, 'GET', '/v1/key/describe/minio-default-key');
    assert.equal(key.json<{ created_by: string }>().created_by, admin.identity);
    // The minio policy, including its deny rule.
    assert.equal((await kes(server.endpoint, minio, 'PUT', '/v1/key/create/minio-x')).status, 200);
    const denied = await kes(server.endpoint, minio, 'PUT', '/v1/key/generate/minio-internal-1', {
      body: { context: 'e30=' },
    });
    assert.equal(denied.text, errorBody('not authorized: insufficient permissions'));
    const policies = await kes(server.endpoint, admin, 'GET', '/v1/policy/list/', {
      headers: { Accept: 'application/json' },
    });
    assert.deepEqual(policies.json(), { names: ['minio', 'monitoring'], continue_at: '' });
  });

  it("KES's fs.yml starts a KES gateway over its fs key store", async () => {
    const tls = serverCert();
    const keys = mkdtempSync(join(tmpdir(), 'keyhold-fs-yml-'));
    const server = await start({
      // The fixture's store path, moved into a temporary directory.
      config: readFileSync(join(FIXTURES, 'fs.yml'), 'utf8').replace('/tmp/kes', keys),
      files: { 'private.key': tls.key, 'public.crt': tls.cert },
    });
    assert.match(server.output(), /KES gateway mode: keys in fs /);
    assert.match(server.output(), /Root:\s+disabled/);
    const anyone = apiKeyCert();
    const res = await kes(server.endpoint, anyone, 'GET', '/v1/status');
    assert.equal(res.text, errorBody('not authorized: insufficient permissions'));
  });

  it("KES's custom-api.yml: route timeouts and skip_auth", async () => {
    const tls = serverCert();
    const server = await start({
      config: readFileSync(join(FIXTURES, 'custom-api.yml'), 'utf8'),
      files: { 'private.key': tls.key, 'public.crt': tls.cert },
    });
    const metrics = await kes(server.endpoint, null, 'GET', '/v1/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /kes_system_up_time/);
    // /v1/api is not skip_auth: the admin is disabled and no policy grants it.
    const api = await kes(server.endpoint, apiKeyCert(), 'GET', '/v1/api');
    assert.equal(api.status, 403);
  });

  it('an encrypted private key with tls.password', async () => {
    const tls = serverCert({ passphrase: 'correct horse' });
    assert.match(tls.key, /ENCRYPTED PRIVATE KEY/);
    const config = `admin:\n  identity: disabled\ntls:\n  key: ./k.pem\n  cert: ./c.pem\n  password: \${TLS_PASSWORD}\n`;
    const server = await start({
      config,
      files: { 'k.pem': tls.key, 'c.pem': tls.cert },
      env: { TLS_PASSWORD: 'correct horse' },
    });
    assert.equal(await presentedFingerprint(server.endpoint), fingerprint(tls.cert));
    const wrong = await startFailure({
      config,
      files: { 'k.pem': tls.key, 'c.pem': tls.cert },
      env: { TLS_PASSWORD: 'wrong' },
    });
    assert.match(wrong.output, /config\.yml:4:8: cannot load the private key '\.\/k\.pem'/);
    const missing = await startFailure({
      config: config.replace(/ {2}password.*\n/, ''),
      files: { 'k.pem': tls.key, 'c.pem': tls.cert },
    });
    assert.match(
      missing.output,
      /config\.yml:4:8: cannot load the private key '\.\/k\.pem': it is encrypted: set tls\.password/,
    );
  });
});

describe('config files that stop a server', () => {
  const cases: [string, string, Record<string, string>, RegExp][] = [
    [
      'a wrong version',
      'version: v9\nadmin:\n  identity: disabled\n',
      {},
      /config\.yml:1:10: invalid server config version 'v9'/,
    ],
    [
      'a missing env variable',
      'admin:\n  identity: ${NO_SUCH_VAR}\n',
      {},
      /config\.yml:2:13: referenced environment variable 'NO_SUCH_VAR' not found/,
    ],
    [
      'a missing certificate file',
      'admin:\n  identity: disabled\ntls:\n  key: ./nope.key\n  cert: ./nope.crt\n',
      {},
      /config\.yml:5:9: cannot read the certificate '\.\/nope\.crt'/,
    ],
    [
      'YAML that does not parse',
      'admin:\n  identity: disabled\n policy: x\n',
      {},
      /config\.yml:3:\d+: /,
    ],
  ];
  for (const [name, config, env, expected] of cases) {
    it(name, async () => {
      const exit = await startFailure({ config, env });
      assert.notEqual(exit.code, 0);
      assert.match(exit.output, expected);
    });
  }

  it('a certificate without a DNS or IP SAN', async () => {
    const tls = serverCert({ san: false });
    const exit = await startFailure({
      config: 'admin:\n  identity: disabled\ntls:\n  key: ./k.pem\n  cert: ./c.pem\n',
      files: { 'k.pem': tls.key, 'c.pem': tls.cert },
    });
    assert.match(
      exit.output,
      /config\.yml:5:9: invalid TLS certificate: certificate does not contain any DNS or IP address as SAN/,
    );
  });
});

describe('tls.auth: on', () => {
  const skip = (() => {
    try {
      execFileSync('openssl', ['version']);
      return false;
    } catch {
      return 'openssl is not on PATH';
    }
  })();

  it(
    'verifies KES clients against tls.ca; API-key clients of the KMS face still connect',
    { skip },
    async () => {
      const dir = tempDir();
      const run = (...args: string[]): void => {
        execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
      };
      run(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '1',
        '-subj',
        '/CN=test-ca',
      );
      run(
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'client.key',
        '-out',
        'client.csr',
        '-subj',
        '/CN=client',
      );
      writeFileSync(
        join(dir, 'ext.cnf'),
        'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n',
      );
      run(
        'x509',
        '-req',
        '-in',
        'client.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'client.pem',
        '-days',
        '1',
        '-extfile',
        'ext.cnf',
      );
      const client = {
        cert: readFileSync(join(dir, 'client.pem'), 'utf8'),
        key: readFileSync(join(dir, 'client.key'), 'utf8'),
      };
      const id = execFileSync(
        'sh',
        [
          '-c',
          'openssl x509 -in client.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum',
        ],
        { cwd: dir, encoding: 'utf8' },
      ).split(' ')[0]!;
      const tls = serverCert();
      const server = await start({
        dir,
        config: `admin:\n  identity: ${id}\ntls:\n  key: ./s.key\n  cert: ./s.crt\n  auth: on\n  ca: ./ca.pem\n`,
        files: { 's.key': tls.key, 's.crt': tls.cert },
      });
      const ok = await kes(server.endpoint, client, 'GET', '/v1/status');
      assert.equal(ok.status, 200, ok.text);
      const selfSigned = apiKeyCert();
      const refused = await kes(server.endpoint, selfSigned, 'GET', '/v1/status');
      assert.equal(refused.status, 400);
      assert.match(
        refused.json<{ message: string }>().message,
        /^tls: failed to verify client certificate: /,
      );
      const kms = new KmsClient({
        endpoints: server.endpoint,
        apiKey: ApiKey.generate().toK1(),
        tls: { insecure: true },
      });
      try {
        await assert.rejects(
          kms.listEnclaves(),
          (e: unknown) => e instanceof KmsApiError && e.status === 403,
        );
      } finally {
        kms.close();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('SIGHUP', () => {
  const admin = apiKeyCert();
  const user = apiKeyCert();
  const config = (allow: string[]): string =>
    `admin:\n  identity: ${admin.identity}\n` +
    `tls:\n  key: ./s.key\n  cert: ./s.crt\n` +
    `log:\n  error: on\n` +
    `policy:\n  user:\n    allow: [${allow.join(', ')}]\n    identities: [${user.identity}]\n`;

  it('reloads policies and certificates without dropping connections', async () => {
    const first = serverCert();
    const server = await start({
      config: config(['/v1/ready']),
      files: { 's.key': first.key, 's.crt': first.cert },
    });
    const agent = keepAlive(admin);
    try {
      assert.equal((await kes(server.endpoint, admin, 'GET', '/v1/status', { agent })).status, 200);
      assert.equal((await kes(server.endpoint, user, 'GET', '/v1/status')).status, 403);
      const errors = await openStream(server.endpoint, admin, '/v1/log/error');
      // The keep-alive connection's local port identifies it across the reload.
      const connection = (): number | undefined =>
        Object.values(agent.freeSockets).flat()[0]?.localPort;
      const before = connection();
      assert.ok(before !== undefined);

      const second = serverCert();
      writeFileSync(join(server.dir, 's.key'), second.key);
      writeFileSync(join(server.dir, 's.crt'), second.cert);
      writeFileSync(join(server.dir, 'config.yml'), config(['/v1/ready', '/v1/status']));
      server.child.kill('SIGHUP');
      await server.waitForOutput(/configuration reloaded/);

      assert.equal((await kes(server.endpoint, user, 'GET', '/v1/status')).status, 200);
      assert.equal(await presentedFingerprint(server.endpoint), fingerprint(second.cert));
      // The connection opened before the reload is still served.
      const again = await kes(server.endpoint, admin, 'GET', '/v1/status', { agent });
      assert.equal(again.status, 200);
      assert.equal(connection(), before);
      const kept = Object.values(agent.freeSockets).flat()[0] as TLSSocket;
      assert.equal(kept.getPeerCertificate().fingerprint256, fingerprint(first.cert));
      // The reload was reported on the error stream (log.error: on = INFO and above).
      const line = await errors.waitFor((l) => l.includes('configuration reloaded'));
      assert.match(
        (JSON.parse(line) as { message: string }).message,
        /^time=\S+ level=INFO msg="config\.yml: configuration reloaded"$/,
      );

      // A broken file is reported; the previous configuration stays.
      writeFileSync(join(server.dir, 'config.yml'), 'version: v3\n');
      server.child.kill('SIGHUP');
      await server.waitForOutput(
        /reload failed, keeping the previous configuration: config\.yml:1:10/,
      );
      assert.equal((await kes(server.endpoint, user, 'GET', '/v1/status')).status, 200);
      await errors.waitFor((l) => l.includes('level=ERROR') && l.includes('reload failed'));
      errors.close();
    } finally {
      agent.destroy();
    }
  });

  it('reaches every worker process, and streams collect events from all of them', async () => {
    const tls = serverCert();
    const server = await start({
      workers: 2,
      config: config(['/v1/ready']),
      files: { 's.key': tls.key, 's.crt': tls.cert },
    });
    const audit = await openStream(server.endpoint, admin, '/v1/log/audit');
    assert.equal(audit.status, 200);
    writeFileSync(join(server.dir, 'config.yml'), config(['/v1/status', '/v1/key/describe/*']));
    server.child.kill('SIGHUP');
    await server.waitForOutput(/configuration reloaded/);
    // Each new connection may land on either worker; all must have reloaded.
    let allowed = 0;
    for (let attempt = 0; attempt < 100 && allowed < 12; attempt++) {
      const res = await kes(server.endpoint, user, 'GET', '/v1/status');
      allowed = res.status === 200 ? allowed + 1 : 0;
      if (res.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(allowed, 12, 'twelve requests in a row on new connections were allowed');
    const probes = Array.from({ length: 8 }, (_, i) => `probe-${i}`);
    for (const name of probes) await kes(server.endpoint, user, 'GET', `/v1/key/describe/${name}`);
    for (const name of probes) {
      await audit.waitFor((l) => l.includes(`/v1/key/describe/${name}`));
    }
    audit.close();
  });
});
