// API keys in the browser, with WebCrypto only: the `k1:` seed becomes an Ed25519 key that
// signs the server's challenge here, and never leaves the page. Also makes new keys for new
// identities, and computes an identity (`h1:` + base64url SHA-256 of the public key's SPKI).

const PKCS8_ED25519 = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SPKI_ED25519 = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

export function toBase64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64(text, url) {
  const std = url ? text.replace(/-/g, '+').replace(/_/g, '/') : text;
  const raw = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** The 32-byte Ed25519 seed of a `k1:` (or KES `kes:v1:`) API key; throws a plain message. */
export function seedOf(text) {
  const key = text.trim();
  let seed = null;
  try {
    if (/^k1:[A-Za-z0-9_-]{43}$/.test(key)) seed = fromBase64(key.slice(3), true);
    else if (/^kes:v1:[A-Za-z0-9+/]{44}$/.test(key)) {
      const bytes = fromBase64(key.slice(7), false);
      if (bytes.length === 33 && bytes[0] === 0) seed = bytes.slice(1);
    }
  } catch {
    seed = null;
  }
  if (key.startsWith('k2:'))
    throw new Error(
      'k2: (ECDSA) API keys cannot sign in to the console yet: use a k1: key or a client certificate',
    );
  if (!seed || seed.length !== 32)
    throw new Error('this is not a k1: API key (k1: followed by 43 base64url characters)');
  return seed;
}

/** Imports a seed as an Ed25519 signing key, and its raw public key. Zeroes the seed. */
async function importSeed(seed) {
  const pkcs8 = new Uint8Array(PKCS8_ED25519.length + 32);
  pkcs8.set(PKCS8_ED25519);
  pkcs8.set(seed, PKCS8_ED25519.length);
  try {
    const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', key);
    return { key, publicKey: jwk.x };
  } finally {
    pkcs8.fill(0);
    seed.fill(0);
  }
}

/** `h1:` identity of a raw Ed25519 public key (base64url). */
export async function identityOf(publicKey) {
  const raw = fromBase64(publicKey, true);
  const spki = new Uint8Array(SPKI_ED25519.length + raw.length);
  spki.set(SPKI_ED25519);
  spki.set(raw, SPKI_ED25519.length);
  return 'h1:' + toBase64url(new Uint8Array(await crypto.subtle.digest('SHA-256', spki)));
}

/** The message the server verifies (src/console/sign-in-proof.ts). */
function signInMessage(host, challenge) {
  return new TextEncoder().encode(`keyhold console sign-in v1\n${host}\n${challenge}`);
}

/** Signs a challenge with the key in `text`: { publicKey, signature }, both base64url. */
export async function signChallenge(text, host, challenge) {
  const { key, publicKey } = await importSeed(seedOf(text));
  const signature = await crypto.subtle.sign(
    { name: 'Ed25519' },
    key,
    signInMessage(host, challenge),
  );
  return { publicKey, signature: toBase64url(new Uint8Array(signature)) };
}

/** A new random `k1:` API key and its identity. */
export async function newApiKey() {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const text = 'k1:' + toBase64url(seed);
  const { publicKey } = await importSeed(seed);
  return { apiKey: text, identity: await identityOf(publicKey) };
}
