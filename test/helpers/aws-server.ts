// A protocol-faithful local AWS Secrets Manager for tests (AWS JSON 1.1 on `POST /`, dispatch on
// `X-Amz-Target`), over real TLS (or plain HTTP) on 127.0.0.1 port 0. Every request's Signature
// V4 is verified independently of the SDK (node:crypto): unknown keys, wrong secrets, foreign
// regions or services, skewed clocks and expired credentials are refused with AWS's error types
// and texts. Implements CreateSecret (with ClientRequestToken idempotency), GetSecretValue,
// DeleteSecret (with the asynchronous deletion window), ListSecrets (pages, name filter),
// DescribeSecret and PutSecretValue; a container-credentials endpoint; fault injection.

import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { createCertificate } from '../../src/identity/index.ts';
import { listenOnLoopback, stopDroppingConnections } from './loopback-server.ts';

export interface FakeCredential {
  readonly secret: string;
  readonly sessionToken?: string;
  /** The credentials expired (ExpiredTokenException). */
  expired?: boolean;
}

interface Version {
  readonly id: string;
  readonly value: string;
  readonly binary: boolean;
  readonly created: number;
  readonly token: string;
  stages: string[];
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  readonly kmsKeyId: string | undefined;
  readonly created: number;
  versions: Version[];
  /** Epoch ms when deletion was requested. */
  deleted?: number;
}

export interface AwsServerOptions {
  readonly region: string;
  readonly credentials: Record<string, FakeCredential>;
  readonly protocol?: 'http' | 'https';
  /** Milliseconds a forced delete takes before the name is free again (AWS: asynchronous). */
  readonly deletionDelay?: number;
}

interface RequestRecord {
  readonly target: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Record<string, unknown>;
}

const ACCOUNT = '123456789012';

class AwsFault extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

export class FakeSecretsManager {
  readonly ca: string | undefined;
  readonly requests: RequestRecord[] = [];
  readonly secrets = new Map<string, Secret>();
  readonly #server: HttpServer;
  readonly #options: AwsServerOptions;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  /** Answer the next N calls with ThrottlingException. */
  throttle = 0;
  /** Answer the next N calls with InternalServiceError (500). */
  internalErrors = 0;
  /** Milliseconds before each answer. */
  delay = 0;
  /** GetSecretValue fails as when the KMS key is unusable. */
  decryptionFailure = false;
  /** The container-credentials endpoint hands out these (access key id). */
  containerKey = '';

  private constructor(options: AwsServerOptions) {
    this.#options = options;
    const handler = (req: IncomingMessage, res: ServerResponse): void =>
      void this.#handle(req, res);
    if (options.protocol === 'http') {
      this.ca = undefined;
      this.#server = createHttpServer(handler);
    } else {
      const tls = createCertificate({
        keyType: 'p256',
        commonName: 'fake secretsmanager',
        ips: ['127.0.0.1'],
        dnsNames: ['localhost'],
        validFor: 24 * 3600_000,
      });
      this.ca = tls.cert;
      this.#server = createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
    }
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(options: AwsServerOptions): Promise<FakeSecretsManager> {
    const server = new FakeSecretsManager(options);
    await server.listen(0);
    return server;
  }

  /** `127.0.0.1:PORT`, as a KES config writes the endpoint (no scheme). */
  get host(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get endpoint(): string {
    return `${this.#options.protocol === 'http' ? 'http' : 'https'}://${this.host}`;
  }

  async listen(port = this.#port): Promise<void> {
    this.#port = await listenOnLoopback(this.#server, port);
  }

  async stop(): Promise<void> {
    await stopDroppingConnections(this.#server, this.#sockets);
  }

  /** Writes a new AWSCURRENT version, as another client would (PutSecretValue). */
  putValue(name: string, value: string): void {
    const secret = this.secrets.get(name);
    if (!secret) throw new Error('no such secret');
    for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== 'AWSCURRENT');
    secret.versions.push(version(value, false, randomUUID()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    if (this.delay > 0) await new Promise((r) => setTimeout(r, this.delay));
    const requestId = randomUUID();
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'Content-Type': 'application/x-amz-json-1.1',
        'Content-Length': Buffer.byteLength(text),
        'x-amzn-RequestId': requestId,
      });
      res.end(text);
    };
    if (req.method === 'GET' && req.url === '/creds') {
      const c = this.#options.credentials[this.containerKey];
      if (!c) {
        send(404, {});
        return;
      }
      send(200, {
        AccessKeyId: this.containerKey,
        SecretAccessKey: c.secret,
        Token: c.sessionToken ?? '',
        Expiration: new Date(Date.now() + 3600_000).toISOString(),
      });
      return;
    }
    if (req.method !== 'POST' || (req.url ?? '/') !== '/') {
      // What AWS answers a plain GET of the endpoint (KES's reachability probe).
      res.writeHead(404, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId });
      res.end('<UnknownOperationException/>');
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    try {
      const body = raw.length === 0 ? {} : (JSON.parse(raw.toString()) as Record<string, unknown>);
      this.requests.push({ target, headers: req.headers, body });
      this.#verifySignature(req, raw);
      if (this.throttle > 0) {
        this.throttle--;
        throw new AwsFault('ThrottlingException', 'Rate exceeded');
      }
      if (this.internalErrors > 0) {
        this.internalErrors--;
        throw new AwsFault('InternalServiceError', 'An error occurred on the server side.', 500);
      }
      if (!target.startsWith('secretsmanager.')) {
        throw new AwsFault('UnknownOperationException', '');
      }
      send(200, this.#operation(target.slice('secretsmanager.'.length), body));
    } catch (error) {
      if (error instanceof AwsFault) {
        send(error.status, { __type: error.type, Message: error.message });
      } else {
        send(400, { __type: 'SerializationException', Message: (error as Error).message });
      }
    }
  }

  /** Signature V4 as AWS checks it, from the signed headers the request names. */
  #verifySignature(req: IncomingMessage, raw: Buffer): void {
    const auth = req.headers.authorization ?? '';
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) {
      throw new AwsFault(
        'IncompleteSignatureException',
        `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.`,
      );
    }
    const [, akid, day, region, service, signedHeaders, signature] = m as unknown as string[];
    const credential = this.#options.credentials[akid!];
    if (!credential) {
      throw new AwsFault(
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
    }
    if (region !== this.#options.region) {
      throw new AwsFault(
        'InvalidSignatureException',
        `Credential should be scoped to a valid region. `,
      );
    }
    if (service !== 'secretsmanager') {
      throw new AwsFault(
        'InvalidSignatureException',
        `Credential should be scoped to correct service: 'secretsmanager'. `,
      );
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const at = Date.parse(
      amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    if (Number.isNaN(at) || !amzDate.startsWith(day!)) {
      throw new AwsFault('IncompleteSignatureException', 'Date must be in ISO-8601 format.');
    }
    if (Math.abs(Date.now() - at) > 15 * 60_000) {
      throw new AwsFault(
        'InvalidSignatureException',
        `Signature expired: ${amzDate} is now earlier than the allowed window.`,
      );
    }
    const names = signedHeaders!.split(';');
    if (!names.includes('host') || !names.includes('x-amz-date')) {
      throw new AwsFault('InvalidSignatureException', 'Host and x-amz-date must be signed.');
    }
    const canonicalHeaders = names
      .map((n) => {
        const value = req.headers[n];
        const text = Array.isArray(value) ? value.join(',') : (value ?? '');
        return `${n}:${text.trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const payloadHash = createHash('sha256').update(raw).digest('hex');
    const canonical = [req.method, '/', '', canonicalHeaders, signedHeaders, payloadHash].join(
      '\n',
    );
    const scope = `${day}/${region}/${service}/aws4_request`;
    const toSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      scope,
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');
    let key: Buffer = createHmac('sha256', `AWS4${credential.secret}`).update(day!).digest();
    for (const part of [region, service, 'aws4_request']) {
      key = createHmac('sha256', key).update(part).digest();
    }
    const expected = createHmac('sha256', key).update(toSign).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature!, 'hex'))) {
      throw new AwsFault(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    if ((credential.sessionToken ?? '') !== String(req.headers['x-amz-security-token'] ?? '')) {
      throw new AwsFault(
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
    }
    if (credential.expired) {
      throw new AwsFault(
        'ExpiredTokenException',
        'The security token included in the request is expired',
      );
    }
  }

  #operation(op: string, body: Record<string, unknown>): unknown {
    this.#sweep();
    switch (op) {
      case 'CreateSecret': {
        const name = str(body.Name);
        if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
          throw new AwsFault(
            'InvalidParameterException',
            'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
          );
        }
        const token = str(body.ClientRequestToken, randomUUID());
        const value =
          body.SecretString !== undefined ? str(body.SecretString) : str(body.SecretBinary);
        const existing = this.secrets.get(name);
        if (existing?.deleted !== undefined) {
          throw new AwsFault(
            'InvalidRequestException',
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
          );
        }
        if (existing) {
          const same = existing.versions.find((v) => v.token === token);
          // The SDK's retry of the same request (same token, same value) is not an error.
          if (same && same.value === value) {
            return { ARN: existing.arn, Name: name, VersionId: same.id };
          }
          throw new AwsFault(
            'ResourceExistsException',
            `The operation failed because the secret ${name} already exists.`,
          );
        }
        const secret: Secret = {
          name,
          arn: `arn:aws:secretsmanager:${this.#options.region}:${ACCOUNT}:secret:${name}-${randomUUID().slice(0, 6)}`,
          kmsKeyId: body.KmsKeyId === undefined ? undefined : str(body.KmsKeyId),
          created: Date.now(),
          versions: [version(value, body.SecretString === undefined, token)],
        };
        this.secrets.set(name, secret);
        return { ARN: secret.arn, Name: name, VersionId: secret.versions[0]!.id };
      }
      case 'GetSecretValue': {
        const secret = this.#find(body.SecretId);
        if (secret.deleted !== undefined) {
          throw new AwsFault(
            'InvalidRequestException',
            "You can't perform this operation on the secret because it was marked for deletion.",
          );
        }
        if (this.decryptionFailure) {
          throw new AwsFault(
            'DecryptionFailure',
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
          );
        }
        const stage = str(body.VersionStage, 'AWSCURRENT');
        const v =
          body.VersionId !== undefined
            ? secret.versions.find((x) => x.id === body.VersionId)
            : secret.versions.find((x) => x.stages.includes(stage));
        if (!v) {
          throw new AwsFault(
            'ResourceNotFoundException',
            "Secrets Manager can't find the specified secret value for staging label: " + stage,
          );
        }
        return {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: v.id,
          ...(v.binary ? { SecretBinary: v.value } : { SecretString: v.value }),
          VersionStages: v.stages,
          CreatedDate: v.created / 1000,
        };
      }
      case 'DeleteSecret': {
        const force = body.ForceDeleteWithoutRecovery === true;
        const secret = this.secrets.get(str(body.SecretId, ''));
        if (!secret) {
          // A forced delete never reports a missing secret.
          if (force) return { Name: body.SecretId, DeletionDate: Date.now() / 1000 };
          throw new AwsFault(
            'ResourceNotFoundException',
            "Secrets Manager can't find the specified secret.",
          );
        }
        secret.deleted ??= Date.now();
        return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
      }
      case 'ListSecrets': {
        const max = Math.min(Number(body.MaxResults ?? 100), 100);
        const filters = (body.Filters ?? []) as { Key: string; Values: string[] }[];
        const prefixes = filters.filter((f) => f.Key === 'name').flatMap((f) => f.Values);
        const all = [...this.secrets.values()]
          .filter((s) => s.deleted === undefined || body.IncludePlannedDeletion === true)
          .filter((s) => prefixes.length === 0 || prefixes.some((p) => s.name.startsWith(p)))
          .sort((a, b) => a.created - b.created);
        const start =
          body.NextToken === undefined
            ? 0
            : Number(Buffer.from(str(body.NextToken), 'base64').toString());
        if (!Number.isInteger(start) || start < 0) {
          throw new AwsFault('InvalidNextTokenException', 'The NextToken value is invalid.');
        }
        const page = all.slice(start, start + max);
        return {
          SecretList: page.map((s) => ({
            ARN: s.arn,
            Name: s.name,
            ...(s.kmsKeyId ? { KmsKeyId: s.kmsKeyId } : {}),
            CreatedDate: s.created / 1000,
            LastChangedDate: s.created / 1000,
            ...(s.deleted === undefined ? {} : { DeletedDate: s.deleted / 1000 }),
          })),
          ...(start + max < all.length
            ? { NextToken: Buffer.from(String(start + max)).toString('base64') }
            : {}),
        };
      }
      case 'DescribeSecret': {
        const secret = this.#find(body.SecretId);
        return {
          ARN: secret.arn,
          Name: secret.name,
          ...(secret.kmsKeyId ? { KmsKeyId: secret.kmsKeyId } : {}),
          CreatedDate: secret.created / 1000,
          ...(secret.deleted === undefined ? {} : { DeletedDate: secret.deleted / 1000 }),
        };
      }
      case 'PutSecretValue': {
        const secret = this.#find(body.SecretId);
        this.putValue(secret.name, str(body.SecretString, ''));
        return { ARN: secret.arn, Name: secret.name, VersionId: secret.versions.at(-1)!.id };
      }
      default:
        throw new AwsFault('UnknownOperationException', '');
    }
  }

  #find(id: unknown): Secret {
    const key = str(id);
    const secret = this.secrets.get(key) ?? [...this.secrets.values()].find((s) => s.arn === key);
    if (!secret) {
      throw new AwsFault(
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
    }
    return secret;
  }

  /** Finishes deletions whose time has come. */
  #sweep(): void {
    const delay = this.#options.deletionDelay ?? 0;
    for (const [name, secret] of this.secrets) {
      if (secret.deleted !== undefined && Date.now() - secret.deleted >= delay) {
        this.secrets.delete(name);
      }
    }
  }
}

function version(value: string, binary: boolean, token: string): Version {
  return { id: randomUUID(), value, binary, created: Date.now(), token, stages: ['AWSCURRENT'] };
}

/** A JSON field as text ('' or `fallback` when absent). */
function str(value: unknown, fallback = ''): string {
  if (value === undefined || value === null) return fallback;
  return typeof value === 'string' ? value : JSON.stringify(value);
}
