// API keys in the browser, with WebCrypto only: the `k1:` seed becomes an Ed25519 key, a `k2:`
// scalar an ECDSA key (P-256, P-384 or P-521 by its length), that signs the server's challenge
// here; the key never leaves the page. Also makes new keys for new identities, and computes an
// identity (`h1:` + base64url SHA-256 of the public key's SPKI).

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
  if (!seed || seed.length !== 32)
    throw new Error(
      'this is not an API key: k1: followed by 43 base64url characters, or k2: and an ECDSA key',
    );
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

/**
 * Signs a challenge with the key in `text`: { algorithm, publicKey, signature }, base64url. For
 * Ed25519 the public key is raw; for ECDSA (`k2:`) it is the SubjectPublicKeyInfo.
 */
export async function signChallenge(text, host, challenge) {
  const message = signInMessage(host, challenge);
  if (text.trim().startsWith('k2:')) {
    const { key, spki, hash } = await importK2(text.trim());
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash }, key, message);
    return {
      algorithm: 'ECDSA',
      publicKey: toBase64url(spki),
      signature: toBase64url(new Uint8Array(signature)),
    };
  }
  const { key, publicKey } = await importSeed(seedOf(text));
  const signature = await crypto.subtle.sign({ name: 'Ed25519' }, key, message);
  return { algorithm: 'Ed25519', publicKey, signature: toBase64url(new Uint8Array(signature)) };
}

// `k2:` keys: the scalar's length names the curve (as src/identity/api-key.ts reads it); the
// hash is the curve's own size. OIDs of the curves (RFC 5480) and of id-ecPublicKey.
const K2_CURVES = {
  32: { curve: 'P-256', hash: 'SHA-256', oid: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] },
  48: { curve: 'P-384', hash: 'SHA-384', oid: [0x2b, 0x81, 0x04, 0x00, 0x22] },
  66: { curve: 'P-521', hash: 'SHA-512', oid: [0x2b, 0x81, 0x04, 0x00, 0x23] },
};
const EC_PUBLIC_KEY_OID = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/** One DER element: tag, definite length, contents. */
function der(tag, body) {
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return [tag, ...length, ...body];
}

/**
 * The ECDSA signing key of a `k2:` key, and its public key's SPKI. WebCrypto takes only PKCS#8
 * or JWK (with the public point) for a private key, and has no scalar multiplication, so the
 * scalar goes in a PKCS#8 ECPrivateKey (RFC 5915) without the optional public key, from which
 * the browser computes the point; the JWK export then gives the point for the SPKI.
 */
async function importK2(text) {
  if (!/^k2:[A-Za-z0-9_-]+$/.test(text)) {
    throw new Error('this is not a k2: API key (k2: followed by base64url characters)');
  }
  const scalar = fromBase64(text.slice(3), true);
  const spec = K2_CURVES[scalar.length];
  if (!spec) {
    scalar.fill(0);
    throw new Error(
      `a k2: key holds a 32, 48 or 66-byte ECDSA scalar (P-256, P-384, P-521); this one has ${scalar.length} bytes`,
    );
  }
  const ecPrivateKey = der(0x30, [...der(0x02, [1]), ...der(0x04, scalar)]);
  const algorithm = der(0x30, [...der(0x06, EC_PUBLIC_KEY_OID), ...der(0x06, spec.oid)]);
  const pkcs8 = new Uint8Array(
    der(0x30, [...der(0x02, [0]), ...algorithm, ...der(0x04, ecPrivateKey)]),
  );
  let key;
  try {
    key = await crypto.subtle.importKey(
      'pkcs8',
      pkcs8,
      { name: 'ECDSA', namedCurve: spec.curve },
      true,
      ['sign'],
    );
  } catch (err) {
    throw new Error(
      `this browser cannot use this k2: key (${spec.curve}): ${err?.message ?? err}. ` +
        'Check the key, or sign in with a k1: key or a client certificate.',
      { cause: err },
    );
  } finally {
    pkcs8.fill(0);
    ecPrivateKey.fill(0);
    scalar.fill(0);
  }
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', key);
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    { kty, crv, x, y },
    { name: 'ECDSA', namedCurve: spec.curve },
    true,
    ['verify'],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
  return { key, spki, hash: spec.hash };
}

/** A new random `k1:` API key and its identity. */
export async function newApiKey() {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const text = 'k1:' + toBase64url(seed);
  const { publicKey } = await importSeed(seed);
  return { apiKey: text, identity: await identityOf(publicKey) };
}
