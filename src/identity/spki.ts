// Reads the parts of an X.509 certificate that identify its holder: the SubjectPublicKeyInfo,
// sliced verbatim from tbsCertificate (never re-encoded, which could change the bytes and so
// the identity), and whether basicConstraints marks it as a CA.
import { Buffer } from 'node:buffer';
import { DerTag, contextTag, decodeBoolean, enterSingle } from './der.ts';
import { type Identity, identityOfSpki } from './identity.ts';

/** What a certificate contributes to identification; `spki` is a view into the input. */
export interface CertificateKeyInfo {
  /** The DER SubjectPublicKeyInfo exactly as it appears in the certificate. */
  readonly spki: Buffer;
  /** basicConstraints present with cA TRUE (Go's `x509.Certificate.IsCA`). */
  readonly isCa: boolean;
}

// OID 2.5.29.19 (id-ce-basicConstraints), as its DER contents.
const BASIC_CONSTRAINTS = Buffer.from([0x55, 0x1d, 0x13]);

/**
 * Walks a DER certificate far enough to return its SPKI and CA flag. Throws DerError on
 * malformed input. Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue }; tbsCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber,
 * signature, issuer, validity, subject, subjectPublicKeyInfo, [1] [2] OPTIONAL,
 * [3] extensions OPTIONAL }.
 */
export function certificateKeyInfo(certDer: Uint8Array): CertificateKeyInfo {
  const certificate = enterSingle(certDer, DerTag.Sequence, 'certificate');
  const tbs = certificate.enter(DerTag.Sequence, 'tbsCertificate');
  certificate.expect(DerTag.Sequence, 'signatureAlgorithm');
  certificate.expect(DerTag.BitString, 'signatureValue');
  certificate.finish('certificate');

  tbs.nextIf(contextTag(0, true)); // version: absent in v1 certificates
  tbs.expect(DerTag.Integer, 'serialNumber');
  tbs.expect(DerTag.Sequence, 'signature');
  tbs.expect(DerTag.Sequence, 'issuer');
  tbs.expect(DerTag.Sequence, 'validity');
  tbs.expect(DerTag.Sequence, 'subject');
  const spki = tbs.encoded(tbs.expect(DerTag.Sequence, 'subjectPublicKeyInfo'));
  tbs.nextIf(contextTag(1, false)); // issuerUniqueID
  tbs.nextIf(contextTag(2, false)); // subjectUniqueID
  let isCa = false;
  if (tbs.peekTag() === contextTag(3, true)) {
    const explicit = tbs.enter(contextTag(3, true), 'extensions');
    const extensions = explicit.enter(DerTag.Sequence, 'extensions');
    explicit.finish('extensions');
    while (!extensions.atEnd) {
      const extension = extensions.enter(DerTag.Sequence, 'extension');
      const id = extension.expect(DerTag.Oid, 'extension id');
      extension.nextIf(DerTag.Boolean); // critical
      const value = extension.expect(DerTag.OctetString, 'extension value');
      extension.finish('extension');
      if (extension.valueEquals(id, BASIC_CONSTRAINTS)) {
        isCa = basicConstraintsIsCa(extension.value(value));
      }
    }
  }
  tbs.finish('tbsCertificate');
  return { spki, isCa };
}

// BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
function basicConstraintsIsCa(value: Uint8Array): boolean {
  const fields = enterSingle(value, DerTag.Sequence, 'basicConstraints');
  const flag = fields.nextIf(DerTag.Boolean);
  return flag !== undefined && decodeBoolean(fields.value(flag));
}

/** The certificate's DER SubjectPublicKeyInfo, verbatim (a view into `certDer`, no copy). */
export function spkiOfCertificate(certDer: Uint8Array): Buffer {
  return certificateKeyInfo(certDer).spki;
}

/** True if the certificate has basicConstraints with cA TRUE (KES skips such certs). */
export function isCaCertificate(certDer: Uint8Array): boolean {
  return certificateKeyInfo(certDer).isCa;
}

/** The identity of a DER certificate: SHA-256 over its SubjectPublicKeyInfo. */
export function identityOfCertificate(certDer: Uint8Array): Identity {
  return identityOfSpki(certificateKeyInfo(certDer).spki);
}
