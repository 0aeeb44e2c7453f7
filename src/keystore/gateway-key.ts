// One key of a KES gateway, as the core sees keys: a key ring with a single version (a KES
// stored key has exactly one), built from the stored value KES writes.

import type { KesKeyValue } from '../crypto/index.ts';
import { encodeKesKeyValue } from '../crypto/index.ts';
import { parseIdentity } from '../identity/index.ts';
import type { KeyRing, KeyVersion } from '../state/entities.ts';

/** The single version of a gateway key: version 1, as the KMS API numbers it. */
export function gatewayKeyRing(name: string, value: KesKeyValue): KeyRing {
  const version: KeyVersion = {
    version: 1,
    type: value.key.type,
    key: value.key,
    hmacKey: value.hmacKey ?? null,
    // Legacy values may lack a creation time; the Unix epoch is what KES reports for them.
    createdAt: value.createdAt ?? new Date(0),
    // KES records the creator's hex identity; the state (and the KMS API) speak `h1:`.
    createdBy: h1Of(value.createdBy ?? ''),
    imported: false,
  };
  return {
    name,
    highest: 1,
    versionCount: 1,
    latest: () => version,
    version: (n) => (n === 1 ? version : undefined),
    versions: () => [version],
  };
}

/**
 * The stored value of a new key exactly as KES writes it: the current format, with the creator
 * as KES records it (hex identity, none for an unnamed caller). SECRET.
 */
export function storedValueOf(init: {
  key: KesKeyValue['key'];
  hmacKey: Buffer;
  createdAt: Date;
  createdBy: string;
}): string {
  return encodeKesKeyValue({
    key: init.key,
    hmacKey: init.hmacKey,
    createdAt: init.createdAt,
    createdBy: hexOf(init.createdBy),
  });
}

function hexOf(identity: string): string {
  if (identity === '') return '';
  try {
    return parseIdentity(identity).toHex();
  } catch {
    return identity;
  }
}

/** The `h1:` form of a recorded creator; '' when it is not an identity. */
function h1Of(identity: string): string {
  if (identity === '') return '';
  try {
    return parseIdentity(identity).toH1();
  } catch {
    return '';
  }
}
