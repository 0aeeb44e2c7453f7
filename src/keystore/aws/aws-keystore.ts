// KES's AWS Secrets Manager key store (docs/keystores.md, "AWS"): one secret per key, named
// like the key, the KES stored value as its SecretString, encrypted with the configured KMS key
// (`kmskey`, else Secrets Manager's default). Through the official AWS SDK for JavaScript v3:
// its credential chain, Signature V4 and retries.

import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import type { AwsStoreConfig } from '../../config/keystore-config.ts';
import type { KeyStore } from '../keystore.ts';
import { KeyExistsError, KeyNotFoundError, StoreUnreachableError } from '../keystore.ts';

/** How long a create waits for a deletion of the same name to finish (AWS deletes async). */
const RECREATE_WAIT_MS = 5000;

export interface AwsStoreOptions {
  /** SDK attempts per call (SDK default 3). */
  readonly maxAttempts?: number;
}

interface AwsError {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

export class AwsKeyStore implements KeyStore {
  readonly description: string;
  readonly #client: SecretsManagerClient;
  readonly #kmsKey: string;

  private constructor(client: SecretsManagerClient, config: AwsStoreConfig) {
    this.#client = client;
    this.#kmsKey = config.kmsKey;
    this.description = `aws secretsmanager ${config.endpoint} (${config.region}${config.kmsKey ? `, kms key ${config.kmsKey}` : ''})`;
  }

  static connect(config: AwsStoreConfig, options: AwsStoreOptions = {}): Promise<AwsKeyStore> {
    const sdk: SecretsManagerClientConfig = {
      region: config.region,
      endpoint: config.endpoint,
      ...(config.credentials
        ? {
            credentials: {
              accessKeyId: config.credentials.accessKey,
              secretAccessKey: config.credentials.secretKey,
              ...(config.credentials.sessionToken
                ? { sessionToken: config.credentials.sessionToken }
                : {}),
            },
          }
        : {}),
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      // A dead endpoint must not hold requests for minutes.
      requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
    };
    return Promise.resolve(new AwsKeyStore(new SecretsManagerClient(sdk), config));
  }

  async create(name: string, value: string): Promise<void> {
    const deadline = Date.now() + RECREATE_WAIT_MS;
    for (;;) {
      try {
        await this.#client.send(
          new CreateSecretCommand({
            Name: name,
            SecretString: value,
            ...(this.#kmsKey ? { KmsKeyId: this.#kmsKey } : {}),
          }),
        );
        return;
      } catch (error) {
        const e = error as AwsError;
        if (e.name === 'ResourceExistsException') throw new KeyExistsError(name);
        // A secret just deleted keeps its name until AWS finishes deleting it.
        if (
          e.name === 'InvalidRequestException' &&
          /scheduled for deletion/i.test(e.message ?? '') &&
          Date.now() < deadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          continue;
        }
        throw wrap(error);
      }
    }
  }

  async get(name: string): Promise<string> {
    try {
      const out = await this.#client.send(new GetSecretValueCommand({ SecretId: name }));
      if (out.SecretString !== undefined) return out.SecretString;
      if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary).toString('utf8');
      throw new Error(`aws: secret '${name}' has no value`);
    } catch (error) {
      const e = error as AwsError;
      if (e.name === 'ResourceNotFoundException') throw new KeyNotFoundError(name);
      // Marked for deletion: gone as far as the key store is concerned.
      if (e.name === 'InvalidRequestException' && /marked for deletion/i.test(e.message ?? '')) {
        throw new KeyNotFoundError(name);
      }
      throw wrap(error);
    }
  }

  async delete(name: string): Promise<void> {
    // A forced delete never reports a missing secret; KES's API answers 404 for one.
    await this.get(name);
    try {
      await this.#client.send(
        new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }),
      );
    } catch (error) {
      if ((error as AwsError).name === 'ResourceNotFoundException') {
        throw new KeyNotFoundError(name);
      }
      throw wrap(error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      try {
        const out = await this.#client.send(
          new ListSecretsCommand({
            MaxResults: 100,
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const s of out.SecretList ?? []) {
          if (s.Name !== undefined && s.Name.startsWith(prefix) && !s.DeletedDate) {
            names.push(s.Name);
          }
        }
        token = out.NextToken;
      } catch (error) {
        throw wrap(error);
      }
    } while (token);
    return names;
  }

  /**
   * An authenticated call (one listed name), so that expired or revoked credentials show as a
   * failing store (KES probes with an unauthenticated GET that cannot see them).
   */
  async status(): Promise<void> {
    try {
      await this.#client.send(new ListSecretsCommand({ MaxResults: 1 }));
    } catch (error) {
      throw wrap(error);
    }
  }

  close(): Promise<void> {
    this.#client.destroy();
    return Promise.resolve();
  }
}

/** Network failures become StoreUnreachableError; AWS's answers keep their type and text. */
function wrap(error: unknown): Error {
  const e = error as AwsError;
  if (e.$metadata?.httpStatusCode === undefined) {
    return new StoreUnreachableError(`aws: ${e.message ?? String(error)}`, { cause: error });
  }
  return new Error(`aws: ${e.name ?? 'error'}: ${e.message ?? ''}`, { cause: error });
}
