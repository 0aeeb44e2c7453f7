// The TLS protocol versions and cipher suites the server accepts, as KES does: TLS 1.2 only with
// ECDHE (forward secrecy) and AES-GCM or ChaCha20-Poly1305, and TLS 1.3's AEAD suites; and how
// long a handshake may take.

import type { SecureContextOptions } from 'node:tls';

/**
 * TLS 1.2 suites (OpenSSL names): ECDHE key exchange with an ECDSA or RSA certificate, AEAD
 * only. No CBC (padding oracles, MAC-then-encrypt), no CCM/CCM8, no static RSA or DHE key
 * exchange. The same six suites as KES, preferring AES-128-GCM as Go servers do.
 */
const TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** TLS 1.3 suites: those Go offers (OpenSSL's CCM suites stay off). */
const TLS13_SUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

/**
 * How long a TLS handshake may take from the client's first bytes (Node's default: 120 s). Real
 * handshakes take milliseconds; a stalled one only holds a socket.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Secure-context options every server context must carry, the first one and every one a reload
 * builds (`setSecureContext` starts again from Node's defaults for anything not given).
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [...TLS13_SUITES, ...TLS12_SUITES].join(':'),
  honorCipherOrder: true,
} as const satisfies SecureContextOptions;
