/**
 * One DTLS certificate per Node participant (DESIGN.md §1 rule 1): an ECDSA P-256 self-signed
 * X.509 certificate that every `NodePeerConnection` of this participant presents, so every link
 * shows the same fingerprint. The certificate is built by `@peculiar/x509` (a maintained X.509
 * library over WebCrypto; it does the DER/ASN.1 encoding, RFC 5280 time encoding and signing)
 * with node:crypto's WebCrypto. What stays here is ours: the validity window, the serial, the
 * fingerprint format, PEM of the private key, and the checks on a stored identity.
 */

import * as crypto from 'node:crypto';
import type { KeyValueStore } from '../../engine/platform';

type X509Module = typeof import('@peculiar/x509');

export interface NodeIdentity {
  /** PEM "CERTIFICATE". */
  certPem: string;
  /** PEM "PRIVATE KEY" (PKCS#8, unencrypted). */
  keyPem: string;
  /** SHA-256 of the certificate DER, lowercase hex pairs joined by ':' (the engine-wide format). */
  fingerprint: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const NOT_BEFORE_SLACK_MS = DAY_MS;
const VALIDITY_MS = 30 * DAY_MS;
const COMMON_NAME = 'kibitz';
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

const webcrypto = crypto.webcrypto as unknown as Crypto;

function randomSerialHex(): string {
  // 16 random bytes, top bit cleared (positive), first byte non-zero (minimal, 121–127 bits).
  const bytes = crypto.randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/**
 * `@peculiar/x509` resolves its algorithms through `tsyringe`, which refuses to load unless the
 * Reflect metadata API exists (its README asks apps to import `reflect-metadata` first). We do
 * not ship that package for four functions: this is the subset tsyringe calls
 * (`getMetadata`, `getOwnMetadata`, `defineMetadata`, `metadata`), installed only when absent.
 * Because ES imports are hoisted, the library is imported dynamically, after the shim.
 */
function ensureReflectMetadata(): void {
  type Target = object;
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R['getMetadata'] === 'function') return;
  const store = new WeakMap<Target, Map<unknown, unknown>>();
  const own = (target: Target, create: boolean): Map<unknown, unknown> | undefined => {
    let m = store.get(target);
    if (!m && create) store.set(target, (m = new Map()));
    return m;
  };
  const getOwnMetadata = (key: unknown, target: Target): unknown => own(target, false)?.get(key);
  const getMetadata = (key: unknown, target: Target): unknown => {
    for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
      const m = own(t, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
  const defineMetadata = (key: unknown, value: unknown, target: Target): void => {
    own(target, true)!.set(key, value);
  };
  const metadata =
    (key: unknown, value: unknown) =>
    (target: Target): void =>
      defineMetadata(key, value, target);
  Object.assign(R, { getMetadata, getOwnMetadata, defineMetadata, metadata });
}

let x509Module: Promise<X509Module> | undefined;
function loadX509(): Promise<X509Module> {
  ensureReflectMetadata();
  return (x509Module ??= import('@peculiar/x509'));
}

/** X.509 time fields have second precision; drop the milliseconds so the window is exact. */
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** Lowercase colon-separated hex of SHA-256(der): the engine-wide fingerprint format. */
export function fingerprintOfDer(certDer: Uint8Array): string {
  const hex = crypto.createHash('sha256').update(certDer).digest('hex');
  return hex.match(/../g)!.join(':');
}

/**
 * Normalises a fingerprint in any common spelling (upper/lower case, with or without ':'
 * separators, optional "sha-256 " prefix) to the engine format; null when it is not a
 * SHA-256 fingerprint.
 */
export function normalizeFingerprint(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const hex = value
    .trim()
    .replace(/^sha-?256\s+/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) return null;
  return hex.match(/../g)!.join(':');
}

function pemEncode(label: string, derBytes: Uint8Array): string {
  const b64 = Buffer.from(derBytes).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function pemDecode(pem: string, label: string): Buffer {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m || m[1] === undefined) throw new Error(`no ${label} PEM block`);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

/** Fingerprint of a PEM certificate, in the engine format. */
export function fingerprintOfPem(certPem: string): string {
  return fingerprintOfDer(pemDecode(certPem, 'CERTIFICATE'));
}

/** Generates a fresh ECDSA P-256 self-signed certificate (CN=kibitz, valid now-1d .. now+30d). */
export async function generateIdentity(now: Date = new Date()): Promise<NodeIdentity> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialHex(),
      name: `CN=${COMMON_NAME}`,
      notBefore: wholeSeconds(now.getTime() - NOT_BEFORE_SLACK_MS),
      notAfter: wholeSeconds(now.getTime() + VALIDITY_MS),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
      keys,
      // One extension, keyUsage = digitalSignature (critical, RFC 5280 section 4.2.1.3): the key
      // only signs DTLS handshakes. The library always writes the [3] extensions field, and an
      // empty one is not allowed (RFC 5280 section 4.1.2.9: "one or more") and strict parsers
      // may refuse it, so the certificate carries this one, true, extension.
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    },
    webcrypto,
  );
  const certDer = new Uint8Array(cert.rawData);
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    certPem: pemEncode('CERTIFICATE', certDer),
    keyPem: pemEncode('PRIVATE KEY', pkcs8),
    fingerprint: fingerprintOfDer(certDer),
  };
}

/**
 * Checks a stored identity: both PEMs parse, the key is P-256, the key matches the certificate,
 * the certificate is currently valid and the fingerprint is the certificate's.
 */
export function isUsableIdentity(value: unknown, now: Date = new Date()): value is NodeIdentity {
  if (!value || typeof value !== 'object') return false;
  const v = value as Partial<NodeIdentity>;
  if (typeof v.certPem !== 'string' || typeof v.keyPem !== 'string' || typeof v.fingerprint !== 'string') return false;
  try {
    const cert = new crypto.X509Certificate(v.certPem);
    const key = crypto.createPrivateKey(v.keyPem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return false;
    if (!cert.checkPrivateKey(key)) return false;
    const t = now.getTime();
    if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) return false;
    return fingerprintOfDer(cert.raw) === v.fingerprint;
  } catch {
    return false;
  }
}

/**
 * Loads this participant's identity from `store`, or generates and persists a new one when
 * there is none or the stored one is unusable (corrupt, expired, mismatched).
 */
export async function loadOrCreateIdentity(store: KeyValueStore, key = 'identity'): Promise<NodeIdentity> {
  const stored = await store.get<unknown>(key);
  if (isUsableIdentity(stored)) {
    return { certPem: stored.certPem, keyPem: stored.keyPem, fingerprint: stored.fingerprint };
  }
  const fresh = await generateIdentity();
  await store.set<NodeIdentity>(key, fresh);
  return fresh;
}
