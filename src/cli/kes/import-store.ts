// `keyhold kes import --from-config FILE`: copies every key of the external key store a KES
// config names (fs, Vault, AWS, Azure, GCP; docs/keystores.md) into a
// KES-API server, for operators leaving a KES gateway's store for Keyhold's own sealed state.
// Keys keep their bytes, algorithm and HMAC key; each is checked against the server afterwards,
// so a re-run is safe.

import type { KesKeyValue } from '../../crypto/index.ts';
import { parseKesKeyValue } from '../../crypto/index.ts';
import { isValidName } from '../../model/names.ts';
import { flag, stringOption, UsageError } from '../command.ts';
import type { Command } from '../command.ts';
import { print, printJson } from '../output.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, reason, VerbError } from './connection.ts';
import { importKeys } from './migrate.ts';

export const importStore: Command = {
  words: ['import'],
  summary: 'Import every key of the key store of a KES config file',
  usage: `Usage: keyhold kes import --from-config FILE [options]

Reads the 'keystore:' section of the KES config FILE (fs, vault, aws, azure or gcp; the same fields and
environment references KES reads), lists every key in that store and imports each into the
server: same key bytes, algorithm and, where the stored value has one, HMAC key. Each key is
checked against the server after the import.

Prints one line per key and a summary. A key that already exists on the server with the same
key material is reported as skipped (a re-run is safe); a stored value that is not a KES key,
or a key that exists on the server with different material, is reported as failed and the
command exits 1. The store is only read.

Options:
      --from-config FILE   the KES config file whose key store to read (required)
      --dry-run            read and check every key, import nothing
      --no-verify          skip the check after importing (it needs encrypt and hmac permission)

${CONNECTION_USAGE}
`,
  options: {
    ...CONNECTION_OPTIONS,
    'from-config': { type: 'string' },
    'dry-run': { type: 'boolean' },
    'no-verify': { type: 'boolean' },
  },
  async run(args) {
    const file = stringOption(args, 'from-config');
    if (file === undefined) throw new UsageError('--from-config FILE is required');
    if (args.positionals.length > 0) throw new UsageError('unexpected arguments');
    // Loaded here: other verbs should not pay for the config parser and store clients.
    const { loadServerConfig } = await import('../../config/server-config.ts');
    const { openKeyStore } = await import('../../keystore/open-keystore.ts');
    const config = await loadServerConfig(file).catch((error: unknown) => {
      throw new VerbError(reason(error));
    });
    if (!config.keystore) throw new VerbError(`${file} has no keystore section`);
    const store = await openKeyStore(config.keystore).catch((error: unknown) => {
      throw new VerbError(`cannot connect to the key store: ${reason(error)}`);
    });
    const json = flag(args, 'json');
    const result = {
      imported: [] as string[],
      skipped: [] as string[],
      failed: [] as { key: string; error: string }[],
    };
    const keys: { name: string; value: KesKeyValue }[] = [];
    let names: string[];
    try {
      names = [...new Set(await store.list(''))].sort();
      const width = Math.max(0, ...names.map((n) => n.length));
      const report = (status: string, name: string, detail: string): void => {
        if (!json) print(`${status.padEnd(9)} ${name.padEnd(width)}  ${detail}`.trimEnd());
      };
      const fail = (name: string, error: string): void => {
        result.failed.push({ key: name, error });
        report('failed', name, error);
      };
      for (const name of names) {
        if (!isValidName(name)) {
          fail(name, 'not a valid key name');
          continue;
        }
        let stored: string;
        try {
          stored = await store.get(name);
        } catch (error) {
          fail(name, `cannot read: ${reason(error)}`);
          continue;
        }
        try {
          keys.push({ name, value: parseKesKeyValue(stored) });
        } catch (error) {
          fail(name, `not a KES key value: ${reason(error)}`);
        }
      }
      const finish = (): number => {
        if (json) printJson(result);
        else {
          const verb = flag(args, 'dry-run') ? 'to import' : 'imported';
          print(
            `\n${result.imported.length} ${verb}, ${result.skipped.length} skipped, ${result.failed.length} failed ` +
              `(${names.length} keys in ${store.description})`,
          );
        }
        return result.failed.length === 0 ? 0 : 1;
      };
      return await importKeys(args, keys, { ...result, report, fail, finish });
    } finally {
      for (const { value } of keys) value.hmacKey?.fill(0);
      await store.close();
    }
  },
};
