// Keyhold's AWS Secrets Manager key store (through the official AWS SDK v3) against a local
// Secrets Manager that verifies Signature V4 on every request: KES's secret layout, create-if-
// absent, paging, the deletion window, refused credentials (wrong, unknown, expired, foreign
// region), throttling, an unreachable endpoint, and the SDK's default credential chain. Then the
// KES documentation's AWS walk-through end to end: a config in its shape (endpoint without a
// scheme, pointed at the local server) starts `keyhold server`; the KES SDK and the `keyhold kes`
// CLI create keys and generate and decrypt data keys; two gateways race on one name.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseKesKeyValue } from '../src/crypto/index.ts';
import { AwsKeyStore } from '../src/keystore/aws/aws-keystore.ts';
import type { AwsStoreConfig } from '../src/config/keystore-config.ts';
import {
  KeyExistsError,
  KeyNotFoundError,
  StoreUnreachableError,
} from '../src/keystore/keystore.ts';
import { ApiKey, KesClient } from '../src/sdk/index.ts';
import { FakeSecretsManager } from './helpers/aws-server.ts';
import { cleanEnv, runCli } from './kes-cli-run.ts';
import { apiKeyCert, errorBody, kes, ServerExit, startKesServer } from './kes-server-support.ts';
import type { KesServer } from './kes-server-support.ts';

// AWS's documentation example key pair (what KES's own test configs use).
const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('AWS Secrets Manager key store (SDK v3, Signature V4 checked)', () => {
  let aws: FakeSecretsManager;
  const config = (overrides: Partial<AwsStoreConfig> = {}): AwsStoreConfig => ({
    kind: 'aws',
    endpoint: aws.endpoint,
    region: 'us-east-2',
    kmsKey: '',
    credentials: { accessKey: AKID, secretKey: SECRET, sessionToken: '' },
    ...overrides,
  });

  before(async () => {
    aws = await FakeSecretsManager.start({
      region: 'us-east-2',
      protocol: 'http',
      deletionDelay: 600,
      credentials: {
        [AKID]: { secret: SECRET },
        AKIASESSION: { secret: 'session-secret', sessionToken: 'FwoGZXIvYXdzE' },
        AKIAEXPIRED: { secret: 'expired-secret', expired: true },
        AKIACONTAINER: { secret: 'container-secret', sessionToken: 'container-token' },
      },
    });
  });
  after(() => aws.stop());

  it('stores the KES value as SecretString under the key name, with the KMS key', async () => {
    const store = await AwsKeyStore.connect(config({ kmsKey: 'alias/kes' }));
    try {
      await store.create('my-key', 'STORED-VALUE');
      const create = aws.requests.at(-1)!;
      assert.equal(create.target, 'secretsmanager.CreateSecret');
      assert.equal(create.headers['content-type'], 'application/x-amz-json-1.1');
      assert.equal(create.body.Name, 'my-key');
      assert.equal(create.body.SecretString, 'STORED-VALUE');
      assert.equal(create.body.KmsKeyId, 'alias/kes');
      assert.equal(await store.get('my-key'), 'STORED-VALUE');
      await assert.rejects(store.create('my-key', 'OTHER'), KeyExistsError);
      await assert.rejects(store.get('nope'), KeyNotFoundError);
      // AWS reads AWSCURRENT: a later version written by someone else is what KES reads too.
      aws.putValue('my-key', 'NEWER');
      assert.equal(await store.get('my-key'), 'NEWER');

      await store.delete('my-key');
      await assert.rejects(store.get('my-key'), KeyNotFoundError);
      await assert.rejects(store.delete('my-key'), KeyNotFoundError);
      // Re-creating a name whose deletion AWS has not finished waits for it.
      await store.create('my-key', 'AGAIN');
      assert.equal(await store.get('my-key'), 'AGAIN');
    } finally {
      await store.close();
    }
  });

  it('lists every page (> 100 secrets) and filters by prefix', async () => {
    const store = await AwsKeyStore.connect(config());
    try {
      for (let i = 0; i < 230; i++) {
        await store.create(`page-${String(i).padStart(3, '0')}`, 'v');
      }
      const names = await store.list('page-');
      assert.equal(names.length, 230);
      assert.ok(aws.requests.filter((r) => r.target === 'secretsmanager.ListSecrets').length >= 3);
    } finally {
      await store.close();
    }
  });

  it('one of two racing creators wins; the other sees "exists"', async () => {
    const a = await AwsKeyStore.connect(config());
    const b = await AwsKeyStore.connect(config());
    try {
      const results = await Promise.allSettled([a.create('race', 'A'), b.create('race', 'B')]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const lost = results.find((r) => r.status === 'rejected');
      assert.ok(lost?.reason instanceof KeyExistsError);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses wrong, unknown, expired and foreign-region credentials as AWS does', async () => {
    const cases: [Partial<AwsStoreConfig>, RegExp][] = [
      [
        { credentials: { accessKey: AKID, secretKey: 'wrong', sessionToken: '' } },
        /InvalidSignatureException: The request signature we calculated does not match/,
      ],
      [
        { credentials: { accessKey: 'AKIAUNKNOWN', secretKey: SECRET, sessionToken: '' } },
        /UnrecognizedClientException: The security token included in the request is invalid/,
      ],
      [
        {
          credentials: { accessKey: 'AKIAEXPIRED', secretKey: 'expired-secret', sessionToken: '' },
        },
        /ExpiredTokenException/,
      ],
      [
        { region: 'eu-west-1' },
        /InvalidSignatureException: Credential should be scoped to a valid region/,
      ],
      [
        {
          credentials: {
            accessKey: 'AKIASESSION',
            secretKey: 'session-secret',
            sessionToken: 'forged',
          },
        },
        /UnrecognizedClientException/,
      ],
    ];
    for (const [overrides, message] of cases) {
      const store = await AwsKeyStore.connect(config(overrides));
      try {
        // The health probe is authenticated, so bad credentials show before any key request.
        await assert.rejects(store.status(), message);
        await assert.rejects(store.get('any'), message);
      } finally {
        await store.close();
      }
    }
    const session = await AwsKeyStore.connect(
      config({
        credentials: {
          accessKey: 'AKIASESSION',
          secretKey: 'session-secret',
          sessionToken: 'FwoGZXIvYXdzE',
        },
      }),
    );
    await session.status();
    await session.close();
  });

  it('throttling is retried by the SDK; a slow store answers; persistent throttling and outages fail clearly', async () => {
    const store = await AwsKeyStore.connect(config());
    try {
      await store.create('throttled', 'T');
      aws.throttle = 2;
      assert.equal(await store.get('throttled'), 'T');
      aws.throttle = 10;
      await assert.rejects(store.get('throttled'), /ThrottlingException: Rate exceeded/);
      aws.throttle = 0;
      // A slow store: answers late, but answers.
      aws.delay = 1500;
      try {
        assert.equal(await store.get('throttled'), 'T');
      } finally {
        aws.delay = 0;
      }
      aws.decryptionFailure = true;
      await assert.rejects(store.get('throttled'), /DecryptionFailure/);
      aws.decryptionFailure = false;

      await aws.stop();
      await assert.rejects(store.status(), StoreUnreachableError);
      await assert.rejects(store.get('throttled'), StoreUnreachableError);
      await aws.listen();
      assert.equal(await store.get('throttled'), 'T');
    } finally {
      await store.close();
    }
  });

  it('without credentials in the config: the SDK’s default chain (container credentials)', async () => {
    const saved = { ...process.env };
    aws.containerKey = 'AKIACONTAINER';
    for (const k of Object.keys(process.env))
      if (k.startsWith('AWS_')) Reflect.deleteProperty(process.env, k);
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `${aws.endpoint}/creds`;
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent';
    process.env.AWS_CONFIG_FILE = '/nonexistent';
    try {
      const { credentials: _none, ...rest } = config();
      const store = await AwsKeyStore.connect(rest);
      await store.create('chain', 'C');
      const signed = aws.requests.at(-1)!;
      assert.match(String(signed.headers.authorization), /Credential=AKIACONTAINER\//);
      assert.equal(signed.headers['x-amz-security-token'], 'container-token');
      await store.close();
    } finally {
      for (const k of Object.keys(process.env))
        if (!(k in saved)) Reflect.deleteProperty(process.env, k);
      Object.assign(process.env, saved);
    }
  });
});

describe('KES gateway over AWS Secrets Manager: the KES documentation’s walk-through', () => {
  let aws: FakeSecretsManager;
  let dir: string;
  let server: KesServer;
  const appKey = ApiKey.generate('kes');
  const app = apiKeyCert(appKey);

  /** The walk-through's config: scheme-less endpoint, region, empty kmskey, static keys. */
  const walkThrough = (endpoint: string): string => `address: 0.0.0.0:7373
admin:
  identity: disabled
tls:
  key: ./server.key
  cert: ./server.cert
policy:
  my-app:
    allow:
    - /v1/key/create/my-app*
    - /v1/key/generate/my-app*
    - /v1/key/decrypt/my-app*
    identities:
    - ${app.identity}
keystore:
  aws:
    secretsmanager:
      endpoint: ${endpoint}
      region:   us-east-2
      kmskey:   ""
      credentials:
        accesskey: ${AKID}
        secretkey: ${SECRET}
`;

  before(async () => {
    aws = await FakeSecretsManager.start({
      region: 'us-east-2',
      credentials: { [AKID]: { secret: SECRET } },
    });
    dir = mkdtempSync(join(tmpdir(), 'keyhold-aws-e2e-'));
    writeFileSync(join(dir, 'aws-ca.pem'), aws.ca!);
    const { createCertificate } = await import('../src/identity/index.ts');
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'kes',
      ips: ['127.0.0.1'],
      validFor: 3600_000,
    });
    server = await startKesServer({
      config: walkThrough(aws.host),
      files: { 'server.key': tls.key, 'server.cert': tls.cert },
      // The local server's CA, as an operator adds a private CA for Node programs.
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'aws-ca.pem') },
    });
  });
  after(async () => {
    await server.stop();
    await aws.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the KES SDK creates a key, generates and decrypts data keys; the secret has KES’s layout', async () => {
    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    await client.createKey('my-app-key');
    const secret = aws.secrets.get('my-app-key')!;
    assert.ok(secret, 'a secret named like the key');
    const value = secret.versions[0]!.value;
    assert.match(value, /^[A-Za-z0-9+/]+=*$/);
    const parsed = parseKesKeyValue(value);
    assert.equal(parsed.key.type, 'AES256');
    assert.equal(parsed.hmacKey?.length, 32);
    assert.equal(parsed.createdBy, app.identity);
    assert.equal(secret.kmsKeyId, undefined, 'an empty kmskey sends no KmsKeyId');

    const context = Buffer.from('{"bucket":"b"}');
    const dek = await client.generateKey('my-app-key', context);
    const plaintext = await client.decrypt('my-app-key', dek.ciphertext, context);
    assert.ok(plaintext.equals(dek.plaintext));
    // What KES would do with the same stored key: open the ciphertext with its material.
    assert.ok(parsed.key.open(dek.ciphertext, context).equals(dek.plaintext));
    await assert.rejects(client.createKey('my-app-key'), /key already exists/);
    await assert.rejects(client.createKey('other-key'), /not authorized/);
  });

  it('the `keyhold kes` CLI does the walk-through’s steps', async () => {
    const env = cleanEnv({ KES_SERVER: server.endpoint, KES_API_KEY: appKey.toText() });
    const created = await runCli(['kes', 'key', 'create', '-k', 'my-app-cli'], { env });
    assert.equal(created.code, 0, created.stderr);
    const dek = await runCli(['kes', 'key', 'dek', '-k', '--json', 'my-app-cli'], { env });
    assert.equal(dek.code, 0, dek.stderr);
    assert.ok(aws.secrets.has('my-app-cli'));
  });

  it('a key KES created in the store (legacy JSON value) opens; throttling is absorbed', async () => {
    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    const bytes = Buffer.alloc(32, 7);
    aws.secrets.set('my-app-legacy', {
      name: 'my-app-legacy',
      arn: 'arn:aws:secretsmanager:us-east-2:123456789012:secret:my-app-legacy-abcdef',
      kmsKeyId: undefined,
      created: Date.now(),
      versions: [
        {
          id: 'v1',
          value: JSON.stringify({
            bytes: bytes.toString('base64'),
            algorithm: 'AES256-GCM_SHA256',
          }),
          binary: false,
          created: Date.now(),
          token: 't',
          stages: ['AWSCURRENT'],
        },
      ],
    });
    aws.throttle = 1;
    const dek = await client.generateKey('my-app-legacy');
    assert.equal(dek.plaintext.length, 32);
  });

  it('outage and expired credentials during operation; refusal at start', async () => {
    const client = new KesClient({ endpoints: server.endpoint, apiKey: appKey, insecure: true });
    await client.createKey('my-app-outage');
    await aws.stop();
    try {
      const read = await kes(server.endpoint, app, 'PUT', '/v1/key/generate/my-app-outage', {
        body: {},
      });
      assert.equal(read.text, errorBody('failed to read key'));
      assert.equal(read.status, 502);
    } finally {
      await aws.listen();
    }
    await client.generateKey('my-app-outage');

    // Refused credentials and an unreachable endpoint stop the start, as in KES.
    const { createCertificate } = await import('../src/identity/index.ts');
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'k',
      ips: ['127.0.0.1'],
      validFor: 3600_000,
    });
    const files = { 'server.key': tls.key, 'server.cert': tls.cert };
    const env = { NODE_EXTRA_CA_CERTS: join(dir, 'aws-ca.pem') };
    const refused = await startKesServer({
      config: walkThrough(aws.host).replace(SECRET, 'not-the-secret'),
      files,
      env,
    }).then(
      () => assert.fail('started with a wrong secret key'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ServerExit);
    assert.match(refused.output, /is not usable: aws: InvalidSignatureException/);
    const unreachable = await startKesServer({
      config: walkThrough('127.0.0.1:1'),
      files,
      env,
    }).then(
      () => assert.fail('started without a reachable endpoint'),
      (error: unknown) => error,
    );
    assert.ok(unreachable instanceof ServerExit);
    assert.match(
      unreachable.output,
      /key store aws secretsmanager https:\/\/127\.0\.0\.1:1 .*is not usable/,
    );
  });

  it('two gateways on one store: exactly one of two concurrent creates wins', async () => {
    const { createCertificate } = await import('../src/identity/index.ts');
    const tls = createCertificate({
      keyType: 'p256',
      commonName: 'kes2',
      ips: ['127.0.0.1'],
      validFor: 3600_000,
    });
    const second = await startKesServer({
      config: walkThrough(aws.host),
      files: { 'server.key': tls.key, 'server.cert': tls.cert },
      env: { NODE_EXTRA_CA_CERTS: join(dir, 'aws-ca.pem') },
    });
    try {
      const [a, b] = await Promise.all([
        kes(server.endpoint, app, 'PUT', '/v1/key/create/my-app-race'),
        kes(second.endpoint, app, 'PUT', '/v1/key/create/my-app-race'),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [200, 400]);
      assert.equal((a.status === 400 ? a : b).text, errorBody('key already exists'));
    } finally {
      await second.stop();
    }
  });
});
