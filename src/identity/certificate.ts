// Self-signed X.509 v3 certificates built with the DER writer and node:crypto signatures:
// the client certificate an SDK presents for an API key (as kms-go / kes-go build them),
// and general Ed25519 / ECDSA certificates with SANs for `identity new` and dev servers.
import { Buffer } from 'node:buffer';
import {
  type KeyObject,
  createPublicKey,
  generateKeyPairSync,
  randomFillSync,
  sign,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { ApiKey } from './api-key.ts';
import {
  derBitString,
  derBoolean,
  derExplicit,
  derImplicit,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUnsignedInteger,
  derUtf8String,
  ia5Bytes,
} from './der.ts';
import { type Identity, type IdentityEncoding, identityOfSpki } from './identity.ts';

/** Key algorithms a generated certificate can carry. */
export type CertificateKeyType = 'ed25519' | 'p256' | 'p384' | 'p521';

/**
 * Per ECDSA curve: OpenSSL's curve name, and the signature hash and algorithm Go's x509 picks
 * when a key of that curve signs (SHA-256, SHA-384, SHA-512).
 */
const ECDSA = {
  p256: { curve: 'prime256v1', hash: 'sha256', oid: '1.2.840.10045.4.3.2' },
  p384: { curve: 'secp384r1', hash: 'sha384', oid: '1.2.840.10045.4.3.3' },
  p521: { curve: 'secp521r1', hash: 'sha512', oid: '1.2.840.10045.4.3.4' },
} as const;

/** Options for {@link createCertificate}. */
export interface CreateCertificateOptions {
  /** Key to certify (Ed25519 or ECDSA P-256/384/521 private key); a new one of `keyType` if absent. */
  readonly privateKey?: KeyObject;
  /** Algorithm of the generated key (default `ed25519`); must match `privateKey` if both given. */
  readonly keyType?: CertificateKeyType;
  /** Subject and issuer common name (non-empty). */
  readonly commonName: string;
  /** IP address SANs (IPv4 or IPv6 text). */
  readonly ips?: readonly string[];
  /** DNS name SANs (ASCII; use punycode for IDNs; `*.example.com` allowed). */
  readonly dnsNames?: readonly string[];
  /** Validity in milliseconds from `notBefore`. */
  readonly validFor: number;
  /** Start of validity (default: now). Seconds precision. */
  readonly notBefore?: Date;
  /** Include ExtKeyUsage serverAuth (default true). */
  readonly serverAuth?: boolean;
  /** Include ExtKeyUsage clientAuth (default true). */
  readonly clientAuth?: boolean;
}

/** A generated certificate and its key; `{ cert, key }` can be passed to `tls.connect`. */
export interface GeneratedCertificate {
  /** The certificate, PEM `CERTIFICATE`. */
  readonly cert: string;
  /** The private key, PEM PKCS#8 `PRIVATE KEY`. Secret. */
  readonly key: string;
  /** The certificate, DER. */
  readonly certDer: Buffer;
  /** The private key object. */
  readonly privateKey: KeyObject;
  /** SHA-256 of the certificate's SPKI. */
  readonly identity: Identity;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Validity of API-key client certificates, as upstream: 90 days. */
export const API_KEY_CERTIFICATE_VALIDITY_MS = 90 * DAY_MS;

const OID = {
  ed25519: '1.3.101.112',
  commonName: '2.5.4.3',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/**
 * The self-signed client certificate for an API key, as the upstream SDKs generate it
 * (kms-go `GenerateCertificate`, kes-go likewise): the key's own algorithm (Ed25519, or ECDSA
 * for `k2:` keys), random positive 128-bit serial, subject CN = the identity (`h1:` form for
 * `k1:`/`k2:` keys, hex for `kes:v1:` keys unless `subject` says otherwise), valid from `now` for 90 days, KeyUsage digitalSignature
 * (critical), ExtKeyUsage clientAuth, BasicConstraints CA:FALSE (critical). Servers ignore
 * the CN and authenticate the SPKI hash, which equals `apiKey.identity`.
 */
export function clientCertificateForApiKey(
  apiKey: ApiKey,
  options: { readonly subject?: IdentityEncoding; readonly now?: Date } = {},
): GeneratedCertificate {
  const subject = options.subject ?? (apiKey.format === 'kes' ? 'hex' : 'h1');
  return issue({
    privateKey: apiKey.privateKey,
    keyType: keyTypeOf(apiKey.privateKey),
    commonName: apiKey.identity.format(subject),
    ips: [],
    dnsNames: [],
    notBefore: options.now ?? new Date(),
    validFor: API_KEY_CERTIFICATE_VALIDITY_MS,
    serverAuth: false,
    clientAuth: true,
  });
}

/**
 * A self-signed X.509 v3 certificate: KeyUsage digitalSignature (critical), ExtKeyUsage
 * serverAuth and/or clientAuth (both by default; omitted if neither), BasicConstraints
 * CA:FALSE (critical), SubjectAltName with the given IPs and DNS names. Ed25519 keys sign
 * with Ed25519, ECDSA keys with ecdsa-with-SHA256/384/512 for P-256/384/521. Throws TypeError /
 * RangeError on bad options.
 */
export function createCertificate(options: CreateCertificateOptions): GeneratedCertificate {
  const keyType = options.privateKey
    ? keyTypeOf(options.privateKey)
    : (options.keyType ?? 'ed25519');
  if (options.keyType !== undefined && options.keyType !== keyType) {
    throw new TypeError(`privateKey is ${keyType}, but keyType is ${options.keyType}`);
  }
  const privateKey = options.privateKey ?? generateKey(keyType);
  return issue({
    privateKey,
    keyType,
    commonName: options.commonName,
    ips: options.ips ?? [],
    dnsNames: options.dnsNames ?? [],
    notBefore: options.notBefore ?? new Date(),
    validFor: options.validFor,
    serverAuth: options.serverAuth ?? true,
    clientAuth: options.clientAuth ?? true,
  });
}

/** PEM text (64-column base64) for DER bytes under `label`, e.g. `CERTIFICATE`. */
export function encodePem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

interface IssueParams {
  readonly privateKey: KeyObject;
  readonly keyType: CertificateKeyType;
  readonly commonName: string;
  readonly ips: readonly string[];
  readonly dnsNames: readonly string[];
  readonly notBefore: Date;
  readonly validFor: number;
  readonly serverAuth: boolean;
  readonly clientAuth: boolean;
}

function issue(params: IssueParams): GeneratedCertificate {
  if (typeof params.commonName !== 'string' || params.commonName === '') {
    throw new TypeError('commonName must be a non-empty string');
  }
  if (!Number.isFinite(params.validFor) || params.validFor < 1000) {
    throw new RangeError(`validFor must be at least 1000 ms, got ${params.validFor}`);
  }
  const start = Math.floor(params.notBefore.getTime() / 1000) * 1000;
  if (Number.isNaN(start)) throw new RangeError('notBefore is an invalid Date');
  const notBefore = new Date(start);
  const notAfter = new Date(start + params.validFor);
  if (Number.isNaN(notAfter.getTime()) || notAfter.getUTCFullYear() > 9999) {
    throw new RangeError('validFor ends after the year 9999');
  }

  const spki = createPublicKey(params.privateKey).export({ type: 'spki', format: 'der' });
  const ecdsa = params.keyType === 'ed25519' ? null : ECDSA[params.keyType];
  const algorithm = derSequence(derOid(ecdsa ? ecdsa.oid : OID.ed25519));
  const name = derSequence(
    derSet(derSequence(derOid(OID.commonName), derUtf8String(params.commonName))),
  );
  const extensions = [
    // KeyUsage BIT STRING: bit 0 (digitalSignature) only, so 7 unused bits in 0x80.
    extension(OID.keyUsage, true, derBitString(Buffer.of(0x80), 7)),
  ];
  const purposes = [
    ...(params.serverAuth ? [derOid(OID.serverAuth)] : []),
    ...(params.clientAuth ? [derOid(OID.clientAuth)] : []),
  ];
  if (purposes.length > 0)
    extensions.push(extension(OID.extKeyUsage, false, derSequence(...purposes)));
  // BasicConstraints with cA FALSE: the DEFAULT is omitted, leaving an empty SEQUENCE.
  extensions.push(extension(OID.basicConstraints, true, derSequence()));
  const altNames = [
    ...params.dnsNames.map((dns) => derImplicit(2, dnsNameBytes(dns))),
    ...params.ips.map((ip) => derImplicit(7, ipBytes(ip))),
  ];
  if (altNames.length > 0) {
    extensions.push(extension(OID.subjectAltName, false, derSequence(...altNames)));
  }

  const tbs = derSequence(
    derExplicit(0, derInteger(2)), // v3
    derUnsignedInteger(randomSerial()),
    algorithm,
    name,
    derSequence(derTime(notBefore), derTime(notAfter)),
    name,
    spki,
    derExplicit(3, derSequence(...extensions)),
  );
  const signature = ecdsa
    ? sign(ecdsa.hash, tbs, { key: params.privateKey, dsaEncoding: 'der' })
    : sign(null, tbs, params.privateKey);
  const certDer = derSequence(tbs, algorithm, derBitString(signature));
  return {
    cert: encodePem('CERTIFICATE', certDer),
    key: params.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    certDer,
    privateKey: params.privateKey,
    identity: identityOfSpki(spki),
  };
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? derSequence(derOid(oid), derBoolean(true), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

// A positive serial below 2^128, as upstream's rand.Int(2^128); zero is redrawn.
function randomSerial(): Buffer {
  const serial = Buffer.alloc(16);
  do randomFillSync(serial);
  while (serial.every((byte) => byte === 0));
  return serial;
}

function keyTypeOf(key: KeyObject): CertificateKeyType {
  if (key.type !== 'private')
    throw new TypeError(`privateKey must be a private key, got ${key.type}`);
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec') {
    for (const type of ['p256', 'p384', 'p521'] as const) {
      if (ECDSA[type].curve === curve) return type;
    }
  }
  throw new TypeError(
    `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}: use Ed25519 or ECDSA P-256, P-384 or P-521`,
  );
}

function generateKey(keyType: CertificateKeyType): KeyObject {
  return keyType === 'ed25519'
    ? generateKeyPairSync('ed25519').privateKey
    : generateKeyPairSync('ec', { namedCurve: ECDSA[keyType].curve }).privateKey;
}

function dnsNameBytes(name: string): Buffer {
  if (!/^[\x21-\x7e]+$/.test(name)) {
    throw new TypeError(
      `invalid DNS name ${JSON.stringify(name)}: printable ASCII only, no spaces (use punycode for IDNs)`,
    );
  }
  return ia5Bytes(name);
}

/** The 4 or 16 bytes of an IPv4 / IPv6 address, for an iPAddress SAN. */
export function ipBytes(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('%')) {
    throw new TypeError(`invalid IP address ${JSON.stringify(text)} (zone ids are not allowed)`);
  }
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const gap = text.indexOf('::');
  let words: number[];
  if (gap < 0) {
    words = groups(text);
  } else {
    const head = groups(text.slice(0, gap));
    const tail = groups(text.slice(gap + 2));
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const bytes = Buffer.alloc(16);
  words.forEach((word, i) => bytes.writeUInt16BE(word, i * 2));
  return bytes;
}
