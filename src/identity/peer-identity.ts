// Identifies the client of a TLS connection from the certificates it presented, once per
// connection: always the first certificate, the only one whose key the handshake proves. The
// KES rule adds upstream's refusals (a CA leaf, a second non-CA certificate). Cached per socket.
import type { Buffer } from 'node:buffer';
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { DerError } from './der.ts';
import { type Identity, identityOfSpki } from './identity.ts';
import { type CertificateKeyInfo, certificateKeyInfo } from './spki.ts';

/** Why the KES rule found no identity: upstream answers 400 for both. */
export type PeerIdentityProblem =
  /**
   * No first certificate, one the DER reader refuses, or a CA one (upstream:
   * `tls: client certificate is required`).
   */
  | 'no-certificate'
  /** A non-CA certificate besides the first (upstream: `tls: received more than one client certificate`). */
  | 'multiple-certificates';

/** The KES-rule outcome: an identity, or the reason there is none. */
export type KesPeerIdentity =
  | { readonly identity: Identity; readonly problem?: undefined }
  | { readonly identity?: undefined; readonly problem: PeerIdentityProblem };

/** Both rules' outcomes for one connection. */
export interface PeerIdentity {
  /** SHA-256 of the first (leaf) certificate's SPKI; undefined without a usable certificate. */
  readonly leaf: Identity | undefined;
  /** The KES rule: the leaf's identity, or why KES refuses the chain. */
  readonly kes: KesPeerIdentity;
}

const NO_CERTIFICATE: PeerIdentity = { leaf: undefined, kes: { problem: 'no-certificate' } };
// Far above any real chain; only bounds the walk.
const MAX_CHAIN = 32;
// A symbol property, not a WeakMap: HTTP/2 hands out a new Proxy of the TLSSocket for each
// `req.socket`, so object identity is not stable, but the proxy forwards symbol properties.
const CACHE = Symbol('keyhold.peerIdentity');
type CachingSocket = TLSSocket & { [CACHE]?: PeerIdentity };

/**
 * The identity of the peer's leaf certificate (minkms `mtls.CertificateIdentity` rule), or
 * undefined if it presented none. Computed on first call and cached for the connection.
 */
export function identityOfTlsSocket(socket: TLSSocket): Identity | undefined {
  return peerIdentityOfTlsSocket(socket).leaf;
}

/**
 * The KES rule: the identity of the leaf certificate, which must not be a CA certificate
 * (basicConstraints cA TRUE) and must be the only non-CA certificate in the presented chain.
 * Upstream (`auth.go` identifyRequest) instead skips CA certificates wherever they are and takes
 * the one non-CA certificate left, which lets a client holding only its own CA key claim any
 * public key it puts second. Cached like {@link identityOfTlsSocket}.
 */
export function kesIdentityOfTlsSocket(socket: TLSSocket): KesPeerIdentity {
  return peerIdentityOfTlsSocket(socket).kes;
}

/**
 * Both rules for a connection, computed on the first call after the handshake and cached on
 * the socket (works through HTTP/2's `req.socket` proxies too). Identify peers only through
 * this module: Node's `getPeerX509Certificate()` consumes the peer chain it walks
 * (nodejs/node#65579), so any earlier caller leaves us the leaf alone. A first certificate
 * the DER reader rejects means no identity (never one from further down the chain); a later
 * one counts as absent.
 */
export function peerIdentityOfTlsSocket(socket: TLSSocket): PeerIdentity {
  const caching = socket as CachingSocket;
  const cached = caching[CACHE];
  if (cached !== undefined) return cached;
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) {
    // Before the client's Finished arrives its Certificate may still be coming: do not cache.
    if (socket.getPeerFinished() !== undefined) caching[CACHE] = NO_CERTIFICATE;
    return NO_CERTIFICATE;
  }
  // Only the first certificate's key is proven by the handshake (CertificateVerify), so it is
  // the identity under either rule; the rest of the chain is unproven and never names anyone.
  const info = keyInfoOrUndefined(leaf.raw);
  let result = NO_CERTIFICATE;
  if (info !== undefined) {
    const identity = identityOfSpki(info.spki);
    const kes: KesPeerIdentity = info.isCa
      ? { problem: 'no-certificate' }
      : hasAnotherNonCa(leaf)
        ? { problem: 'multiple-certificates' }
        : { identity };
    result = { leaf: identity, kes };
  }
  caching[CACHE] = result;
  return result;
}

// KES refuses a chain with a second non-CA certificate. On the server side the links follow
// the order in which the client sent the certificates (Go's PeerCertificates).
function hasAnotherNonCa(leaf: X509Certificate): boolean {
  let cert = leaf.issuerCertificate;
  for (let index = 1; cert !== undefined && index < MAX_CHAIN; index++) {
    if (keyInfoOrUndefined(cert.raw)?.isCa === false) return true;
    cert = cert.issuerCertificate;
  }
  return false;
}

function keyInfoOrUndefined(certDer: Buffer): CertificateKeyInfo | undefined {
  try {
    return certificateKeyInfo(certDer);
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}
