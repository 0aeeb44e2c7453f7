// Public surface of the identity module: identities, API keys, DER, SPKI extraction,
// certificate generation, TLS peer identification and redaction of secrets.
export { ApiKey, InvalidApiKeyError, parseApiKey, type ApiKeyFormat } from './api-key.ts';
export {
  API_KEY_CERTIFICATE_VALIDITY_MS,
  clientCertificateForApiKey,
  createCertificate,
  encodePem,
  type CertificateKeyType,
  type CreateCertificateOptions,
  type GeneratedCertificate,
} from './certificate.ts';
export { DerError } from './der.ts';
export {
  Identity,
  InvalidIdentityError,
  identityOfSpki,
  parseIdentity,
  type IdentityEncoding,
} from './identity.ts';
export {
  identityOfTlsSocket,
  kesIdentityOfTlsSocket,
  peerIdentityOfTlsSocket,
  type KesPeerIdentity,
  type PeerIdentity,
  type PeerIdentityProblem,
} from './peer-identity.ts';
export { REDACTED, redactIdentityText, redactSecrets } from './redact.ts';
export {
  certificateKeyInfo,
  identityOfCertificate,
  isCaCertificate,
  spkiOfCertificate,
  type CertificateKeyInfo,
} from './spki.ts';
