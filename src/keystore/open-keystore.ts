// From a `keystore:` config to a connected key store of that backend.

import { FsKeyStore } from './fs-keystore.ts';
import type { KeyStoreConfig } from '../config/keystore-config.ts';
import type { KeyStore } from './keystore.ts';

/** Connects to the configured store (logging in where the backend needs it). */
export async function openKeyStore(
  config: KeyStoreConfig,
  options: { onError?: (message: string) => void } = {},
): Promise<KeyStore> {
  switch (config.kind) {
    case 'fs':
      return FsKeyStore.open(config.path);
    case 'vault': {
      const { VaultKeyStore } = await import('./vault/vault-keystore.ts');
      return VaultKeyStore.connect(config, options);
    }
    case 'aws': {
      // Loaded only when used: the AWS SDK is large.
      const { AwsKeyStore } = await import('./aws/aws-keystore.ts');
      return AwsKeyStore.connect(config);
    }
    case 'azure': {
      const { AzureKeyStore } = await import('./azure/azure-keystore.ts');
      return AzureKeyStore.connect(config);
    }
    case 'gcp': {
      const { GcpKeyStore } = await import('./gcp/gcp-keystore.ts');
      return GcpKeyStore.connect(config);
    }
    case 'fortanix': {
      const { FortanixKeyStore } = await import('./fortanix/fortanix-keystore.ts');
      return FortanixKeyStore.connect(config);
    }
    case 'gemalto': {
      const { GemaltoKeyStore } = await import('./gemalto/gemalto-keystore.ts');
      return GemaltoKeyStore.connect(config, options);
    }
    case 'entrust': {
      const { EntrustKeyStore } = await import('./entrust/entrust-keystore.ts');
      return EntrustKeyStore.connect(config, options);
    }
  }
}
