// The name grammar shared by both faces: enclave, key and policy names, and list prefixes.
// It is KES's grammar (docs/protocol/kes.md), which MinIO's default names already satisfy.

const NAME = /^[0-9A-Za-z_-]{1,80}$/;

/**
 * True for a valid name: 1–80 bytes of `[0-9A-Za-z_-]`, not starting or ending with `-`, and not
 * the single character `_`.
 */
export function isValidName(name: string): boolean {
  return NAME.test(name) && name !== '_' && !name.startsWith('-') && !name.endsWith('-');
}

/** True for a valid list prefix: empty, or a name-character run of at most 80 bytes. */
export function isValidPrefix(prefix: string): boolean {
  return prefix === '' || (prefix.length <= 80 && /^[0-9A-Za-z_-]+$/.test(prefix));
}
