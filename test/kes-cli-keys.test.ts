// End-to-end tests of `keyhold kes key …` against a real `keyhold server` over mTLS: every key
// verb, human and --json output, the server's exact error messages, exit codes, credentials
// from the environment and from flags, CA verification and enclaves.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KmsClient } from '../src/sdk/index.ts';
import { startServer, tempDir, type ServerProcess } from './helpers/server-process.ts';
import { cleanEnv, kesEnv, runBinary, runCli, type CliResult } from './kes-cli-run.ts';

describe('keyhold kes key', () => {
  let server: ServerProcess;
  let kes: (args: string[], extra?: Record<string, string>) => Promise<CliResult>;
  const tmp = tempDir('keyhold-kes-keys-');

  before(async () => {
    server = await startServer();
    kes = (args, extra = {}) => runCli(['kes', ...args], { env: kesEnv(server, { ...extra }) });
  });
  after(async () => {
    await server.stop();
    tmp.remove();
  });

  it('creates, describes, lists and deletes keys', async () => {
    const created = await kes(['key', 'create', '-k', 'app-key', 'app-key-2', 'other']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, '', 'create prints nothing, as kes');

    const info = await kes(['key', 'info', '-k', 'app-key']);
    assert.equal(info.code, 0, info.stderr);
    assert.match(
      info.stdout,
      /^Name\s+app-key\nAlgorithm\s+(AES256|ChaCha20)\nCreated\s+\d{4}-\d\d-\d\dT[\d:]+Z\nCreated by\s+\S+\n$/,
    );
    const json = JSON.parse(
      (await kes(['key', 'info', '-k', '--json', 'app-key'])).stdout,
    ) as Record<string, string>;
    assert.equal(json.name, 'app-key');
    assert.ok(Date.now() - Date.parse(json.created_at!) < 60_000);

    const ls = await kes(['key', 'ls', '-k']);
    assert.equal(ls.stdout, 'Key\napp-key\napp-key-2\nother\n');
    const prefixed = await kes(['key', 'ls', '-k', '--json', 'app*']);
    assert.deepEqual(JSON.parse(prefixed.stdout), ['app-key', 'app-key-2']);
    assert.deepEqual(JSON.parse((await kes(['ls', '-k', '--json', 'ot'])).stdout), ['other']);

    const rm = await kes(['key', 'rm', '-k', 'other']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(JSON.parse((await kes(['key', 'ls', '-k', '--json'])).stdout), [
      'app-key',
      'app-key-2',
    ]);
  });

  it('generates data keys and encrypts and decrypts with and without a context', async () => {
    const context = Buffer.from('{"bucket":"bucket/object"}').toString('base64');
    const dek = JSON.parse(
      (await kes(['key', 'dek', '-k', '--json', 'app-key', context])).stdout,
    ) as {
      plaintext: string;
      ciphertext: string;
    };
    assert.equal(Buffer.from(dek.plaintext, 'base64').length, 32);
    assert.equal(Buffer.from(dek.ciphertext, 'base64').length, 76);
    const opened = await kes([
      'key',
      'decrypt',
      '-k',
      '--json',
      'app-key',
      dek.ciphertext,
      context,
    ]);
    assert.deepEqual(JSON.parse(opened.stdout), { plaintext: dek.plaintext });

    const human = await kes(['key', 'dek', '-k', 'app-key']);
    assert.match(
      human.stdout,
      /^plaintext\s+[A-Za-z0-9+/]{43}=\nciphertext\s+[A-Za-z0-9+/]{102}==\n$/,
    );

    const enc = await kes(['key', 'encrypt', '-k', 'app-key', 'hello world']);
    const ciphertext = /^ciphertext\s+(\S+)\n$/.exec(enc.stdout)?.[1];
    assert.ok(ciphertext, enc.stdout + enc.stderr);
    const dec = await kes(['key', 'decrypt', '-k', '--json', 'app-key', ciphertext]);
    assert.equal(
      Buffer.from((JSON.parse(dec.stdout) as { plaintext: string }).plaintext, 'base64').toString(),
      'hello world',
    );
  });

  it('prints the server’s exact error and exits 1', async () => {
    const exists = await kes(['key', 'create', '-k', 'app-key']);
    assert.equal(exists.code, 1);
    assert.equal(exists.stderr, "keyhold: failed to create key 'app-key': key already exists\n");
    const missing = await kes(['key', 'info', '-k', 'nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "keyhold: failed to describe key 'nope': key does not exist\n");
    const badName = await kes(['key', 'create', '-k', 'my.key']);
    assert.equal(badName.code, 1);
    assert.match(
      badName.stderr,
      /key name 'my\.key' is empty, too long or contains invalid characters/,
    );

    const dek = JSON.parse(
      (await kes(['key', 'dek', '-k', '--json', 'app-key', 'e30='])).stdout,
    ) as {
      ciphertext: string;
    };
    const wrong = await kes([
      'key',
      'decrypt',
      '-k',
      'app-key',
      dek.ciphertext,
      Buffer.from('{"x":"y"}').toString('base64'),
    ]);
    assert.equal(wrong.code, 1);
    assert.equal(
      wrong.stderr,
      "keyhold: failed to decrypt with 'app-key': decryption failed: ciphertext is not authentic\n",
    );
  });

  it('answers usage errors with exit code 2 before contacting a server', async () => {
    // The binary itself (not main() in-process): exit codes as a shell sees them.
    const none = await runBinary(['kes', 'key', 'create'], { env: cleanEnv() });
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr,
      "keyhold: expected at least one key name. See 'keyhold kes key create --help'\n",
    );
    const badB64 = await kes(['key', 'decrypt', 'k', 'not base64!']);
    assert.equal(badB64.code, 2);
    assert.match(badB64.stderr, /CIPHERTEXT is not valid standard base64/);
    const unknownFlag = await kes(['key', 'ls', '--frob']);
    assert.equal(unknownFlag.code, 2);
    assert.match(unknownFlag.stderr, /Unknown option '--frob'.*See 'keyhold kes key ls --help'/);
    const noCreds = await runCli(['kes', 'key', 'ls'], {
      env: cleanEnv({ KES_SERVER: server.endpoint }),
    });
    assert.equal(noCreds.code, 2);
    assert.match(noCreds.stderr, /no credentials: set KES_API_KEY/);
    const bothEnv = await kes(['key', 'ls'], { KES_CLIENT_CERT: 'c.pem', KES_CLIENT_KEY: 'k.pem' });
    assert.equal(bothEnv.code, 2);
    assert.match(bothEnv.stderr, /both an API key and a client certificate are configured/);
    const bothFlags = await kes(['key', 'ls', '-a', server.rootApiKey, '--client-cert', 'c.pem']);
    assert.equal(bothFlags.code, 2);
    assert.match(
      bothFlags.stderr,
      /--api-key and --client-cert\/--client-key are mutually exclusive/,
    );
    // Credential flags replace the environment's credentials rather than conflicting with them.
    const flagWins = await kes(['key', 'ls', '--client-cert', 'c.pem', '--client-key', 'k.pem']);
    assert.equal(flagWins.code, 1);
    assert.match(
      flagWins.stderr,
      /cannot read client certificate 'c\.pem': no such file or directory/,
    );
    const unknownVerb = await runBinary(['kes', 'frob'], { env: cleanEnv() });
    assert.equal(unknownVerb.code, 2);
    assert.match(unknownVerb.stderr, /unknown command 'keyhold kes frob'/);
    for (const verb of [
      ['key', 'create'],
      ['key', 'dek'],
      ['status'],
      ['log'],
      ['import-fs'],
      ['policy', 'show'],
    ]) {
      const help = await runCli(['kes', ...verb, '--help'], { env: cleanEnv() });
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: keyhold kes ${verb.join(' ')} `));
    }
  });

  it('reports an unreachable server as a connection error', async () => {
    const r = await kes(['key', 'ls', '-k', '-s', '127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^keyhold: failed to list keys: kes: connection error: .*ECONNREFUSED/);
  });

  it('verifies the server certificate against --ca / KES_CA, and refuses it without -k otherwise', async () => {
    const ca = join(server.dir, 'certs', 'server.crt');
    const verified = await kes(['key', 'ls', '--ca', ca, '--json']);
    assert.equal(verified.code, 0, verified.stderr);
    const viaEnv = await kes(['key', 'ls', '--json'], { KES_CA: ca });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const unverified = await kes(['key', 'ls']);
    assert.equal(unverified.code, 1);
    assert.match(
      unverified.stderr,
      /connection error: .*(self.signed|unable to verify|certificate)/i,
    );
  });

  it('authenticates with a certificate made by `identity new`, whose identity the server sees', async () => {
    const key = join(tmp.dir, 'client.key');
    const cert = join(tmp.dir, 'client.crt');
    const made = await runCli(['identity', 'new', '--key', key, '--cert', cert, '--json']);
    const { identity } = JSON.parse(made.stdout) as { identity: string };
    // An identity the server does not know is refused with KES's exact message.
    const refused = await kes(['key', 'ls', '-k'], {
      KES_API_KEY: '',
      KES_CLIENT_CERT: cert,
      KES_CLIENT_KEY: key,
    });
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      'keyhold: failed to list keys: not authorized: insufficient permissions\n',
    );
    // Give it a policy through the KMS API; the KES face then lets it list.
    const kms = new KmsClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      tls: { insecure: true },
    });
    await kms.createPolicy('lister', { allow: { 'KEY:LIST': ['*'] } });
    await kms.createIdentity(identityH1(identity));
    await kms.assignPolicy('lister', identityH1(identity));
    const allowed = await kes([
      'key',
      'ls',
      '-k',
      '--json',
      '--client-cert',
      cert,
      '--client-key',
      key,
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.deepEqual(JSON.parse(allowed.stdout), ['app-key', 'app-key-2']);
    const denied = await kes([
      'key',
      'create',
      '-k',
      '--client-cert',
      cert,
      '--client-key',
      key,
      'x',
    ]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /not authorized: insufficient permissions/);
  });

  it('addresses another enclave with -e / KES_ENCLAVE', async () => {
    const kms = new KmsClient({
      endpoints: server.endpoint,
      apiKey: server.rootApiKey,
      tls: { insecure: true },
    });
    await kms.createEnclave('tenant-2');
    const created = await kes(['key', 'create', '-k', '-e', 'tenant-2', 'tenant-key']);
    assert.equal(created.code, 0, created.stderr);
    const inTenant = await kes(['key', 'ls', '-k', '--json'], { KES_ENCLAVE: 'tenant-2' });
    assert.deepEqual(JSON.parse(inTenant.stdout), ['tenant-key']);
    const inDefault = await kes(['key', 'ls', '-k', '--json']);
    assert.ok(!(JSON.parse(inDefault.stdout) as string[]).includes('tenant-key'));
  });
});

/** The KMS API's spelling (`h1:` base64url) of a hex identity. */
function identityH1(hex: string): string {
  return 'h1:' + Buffer.from(hex, 'hex').toString('base64url');
}
