// `keyhold audit verify FILE...`: checks offline that audit log files form one unbroken chain
// under the HSM key's audit chain key (docs/audit.md) and names the first bad line.

import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ChainVerifier } from '../observe/audit-chain.ts';
import type { VerifyResult } from '../observe/audit-chain.ts';
import type { Command } from './command.ts';
import { flag, stringOption, UsageError } from './command.ts';
import { loadHsmKey } from './hsm-key-loader.ts';
import { print, printJson } from './output.ts';
import { io } from './io.ts';

export const auditCommand: Command = {
  words: ['audit'],
  summary: 'Verify the chain of audit log files',
  usage: `Usage: keyhold audit verify FILE... [options]

Checks that the audit log FILEs (oldest first: rotated files, then the current one) form one
unbroken chain: every line's MAC under a key derived from the HSM key, sequence numbers without
gaps, each file beginning with a start record that continues the file before it, and the last
file ending with a seal record (written when the server stops or rotates the file). Exits 0 when
the chain is intact; otherwise prints 'FILE:LINE: reason' for the first bad line and exits 1.

The HSM key comes from KEYHOLD_HSM_KEY (or MINIO_KMS_HSM_KEY), as for 'keyhold server'.

Options:
  --dev DIR          use the development HSM key of 'keyhold server --dev DIR' (DIR/dev-hsm.key)
  --allow-unsealed   accept a log whose last run has no seal record: the live file of a running
                     server, or a run that crashed (lines cut off the end then go unnoticed)
  --json             print the result as JSON
`,
  options: {
    dev: { type: 'string' },
    'allow-unsealed': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(args) {
    const [verb, ...files] = args.positionals;
    if (verb !== 'verify') throw new UsageError("expected 'keyhold audit verify FILE...'");
    if (files.length === 0) throw new UsageError('expected at least one audit log file');
    const dev = stringOption(args, 'dev');
    const hsmKey = await loadHsmKey(resolve(dev ?? '.'), dev !== undefined, undefined, false);
    const verifier = new ChainVerifier(hsmKey.auditChainKey(), {
      allowUnsealed: flag(args, 'allow-unsealed'),
    });
    for (const file of files) {
      await verifyFile(verifier, file);
      if (verifier.broken) break;
    }
    const result = verifier.finish();
    report(result, files, flag(args, 'json'));
    return result.valid ? 0 : 1;
  },
};

/** Streams `file` through the verifier line by line (files may be far larger than memory). */
async function verifyFile(verifier: ChainVerifier, file: string): Promise<void> {
  verifier.beginFile(file);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of createReadStream(file)) {
      const text = rest + decoder.write(chunk as Buffer);
      let from = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
        if (!verifier.line(text.slice(from, nl))) return;
        from = nl + 1;
      }
      rest = text.slice(from);
    }
  } catch (error) {
    throw new Error(
      `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  verifier.endFile(rest + decoder.end());
}

function report(result: VerifyResult, files: readonly string[], json: boolean): void {
  if (json) {
    printJson(
      result.valid
        ? {
            valid: true,
            files,
            records: result.records,
            first_seq: result.firstSeq,
            last_seq: result.lastSeq,
            from_genesis: result.fromGenesis,
            anchor: result.anchor,
            sealed: result.sealed,
            last_mac: result.lastMac,
          }
        : { valid: false, file: result.file, line: result.line, reason: result.reason },
    );
  }
  if (!result.valid) {
    // Without the usual 'keyhold:' prefix: FILE:LINE: is what editors and grep -n users jump to.
    io().stderr.write(`${result.file}:${result.line}: ${result.reason}\n`);
    return;
  }
  if (json) return;
  print(
    `ok: ${result.records} records in ${files.length} file${files.length === 1 ? '' : 's'}, ` +
      `seq ${result.firstSeq}–${result.lastSeq}, ` +
      (result.fromGenesis
        ? 'from the start of the chain'
        : `continuing from MAC ${result.anchor} (verify the earlier files with it to check what came before)`) +
      (result.sealed ? ', sealed' : ', not sealed (the end cannot be checked)') +
      `\nlast MAC ${result.lastMac}`,
  );
}
