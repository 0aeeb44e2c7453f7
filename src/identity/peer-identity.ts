// Identifies the client of a TLS connection from the certificates it presented, once per
// connection: the minkms rule (SHA-256 of the leaf's SPKI) and the KES rule (skip CA
// certificates; exactly one other certificate must remain). Results are cached per socket.
import type { Buffer } from 'node:buffer';
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { DerError } from './der.ts';
import { type Identity, identityOfSpki } from './identity.ts';
import { type CertificateKeyInfo, certificateKeyInfo } from './spki.ts';

/** Why the KES rule found no identity: upstream answers 400 for both. */
export type PeerIdentityProblem =
  /** No non-CA certificate (upstream: `tls: client certificate is required`). */
  | 'no-certificate'
  /** Two or more non-CA certificates (upstream: `tls: received more than one client certificate`). */
  | 'multiple-certificates';

/** The KES-rule outcome: an identity, or the reason there is none. */
export type KesPeerIdentity =
  | { readonly identity: Identity; readonly problem?: undefined }
  | { readonly identity?: undefined; readonly problem: PeerIdentityProblem };

/** Both rules' outcomes for one connection. */
export interface PeerIdentity {
  /** SHA-256 of the first (leaf) certificate's SPKI; undefined without a usable certificate. */
  readonly leaf: Identity | undefined;
  /** KES rule over the presented chain. */
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
 * The KES rule (`auth.go` identifyRequest): CA certificates (basicConstraints cA TRUE) in
 * the presented chain are skipped, exactly one certificate must remain, its SPKI hash is the
 * identity. Cached like {@link identityOfTlsSocket}.
 */
export function kesIdentityOfTlsSocket(socket: TLSSocket): KesPeerIdentity {
  return peerIdentityOfTlsSocket(socket).kes;
}

/**
 * Both rules for a connection, computed on the first call after the handshake and cached on
 * the socket (works through HTTP/2's `req.socket` proxies too). Identify peers only through
 * this module: Node's `getPeerX509Certificate()` consumes the peer chain it walks
 * (nodejs/node#65579), so any earlier caller leaves us the leaf alone. A certificate the
 * DER reader rejects counts as absent.
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
  // On the server side this walks the certificates in the order the client sent them
  // (Go's PeerCertificates), which is what KES counts over.
  let leafIdentity: Identity | undefined;
  let kes: KesPeerIdentity = { problem: 'no-certificate' };
  let cert: X509Certificate | undefined = leaf;
  for (let index = 0; cert !== undefined && index < MAX_CHAIN; index++) {
    const info = keyInfoOrUndefined(cert.raw);
    cert = cert.issuerCertificate;
    if (info === undefined) continue;
    const identity = index === 0 ? (leafIdentity = identityOfSpki(info.spki)) : undefined;
    if (info.isCa) continue;
    if (kes.identity !== undefined) {
      kes = { problem: 'multiple-certificates' };
      break;
    }
    kes = { identity: identity ?? identityOfSpki(info.spki) };
  }
  const result: PeerIdentity = { leaf: leafIdentity, kes };
  caching[CACHE] = result;
  return result;
}

function keyInfoOrUndefined(certDer: Buffer): CertificateKeyInfo | undefined {
  try {
    return certificateKeyInfo(certDer);
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}
