/**
 * One DTLS certificate per Node participant (DESIGN.md §1 rule 1): an ECDSA P-256 self-signed
 * X.509 certificate that every `NodePeerConnection` of this participant presents, so every link
 * shows the same fingerprint. Built with node:crypto and a small DER encoder (no packages).
 */

import * as crypto from 'node:crypto';
import type { KeyValueStore } from '../../engine/platform';

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

// ---------------------------------------------------------------------------------------------
// Minimal DER encoder (X.690) — just the types a TBSCertificate needs.
// ---------------------------------------------------------------------------------------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

export const der = {
  sequence: (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items)),
  set: (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items)),
  /** INTEGER from unsigned big-endian magnitude (made minimal and positive). */
  unsignedInteger(magnitude: Uint8Array): Buffer {
    let start = 0;
    while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
    let body = Buffer.from(magnitude.subarray(start));
    if (body.length === 0) body = Buffer.from([0]);
    if ((body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
    return tlv(0x02, body);
  },
  smallInteger(n: number): Buffer {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`bad small integer ${n}`);
    const bytes: number[] = [];
    let v = n;
    do {
      bytes.unshift(v & 0xff);
      v >>>= 8;
    } while (v > 0);
    return der.unsignedInteger(Uint8Array.from(bytes));
  },
  oid(dotted: string): Buffer {
    const arcs = dotted.split('.').map((s) => {
      if (!/^\d+$/.test(s)) throw new Error(`bad OID ${dotted}`);
      return Number(s);
    });
    const [a, b, ...rest] = arcs;
    if (a === undefined || b === undefined || a > 2 || (a < 2 && b > 39)) throw new Error(`bad OID ${dotted}`);
    const out: number[] = [];
    const pushArc = (arc: number): void => {
      const chunk: number[] = [arc & 0x7f];
      let v = Math.floor(arc / 128);
      while (v > 0) {
        chunk.unshift((v & 0x7f) | 0x80);
        v = Math.floor(v / 128);
      }
      out.push(...chunk);
    };
    pushArc(a * 40 + b);
    rest.forEach(pushArc);
    return tlv(0x06, Buffer.from(out));
  },
  utf8String: (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8')),
  bitString: (bytes: Uint8Array): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), Buffer.from(bytes)])),
  /** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always UTC with seconds. */
  time(date: Date): Buffer {
    const y = date.getUTCFullYear();
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const rest =
      p2(date.getUTCMonth() + 1) +
      p2(date.getUTCDate()) +
      p2(date.getUTCHours()) +
      p2(date.getUTCMinutes()) +
      p2(date.getUTCSeconds()) +
      'Z';
    if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(p2(y % 100) + rest, 'ascii'));
    return tlv(0x18, Buffer.from(String(y).padStart(4, '0') + rest, 'ascii'));
  },
  /** Context-specific, constructed, explicit tag [n]. */
  explicit: (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner),
};

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';

function nameCN(cn: string): Buffer {
  return der.sequence(der.set(der.sequence(der.oid(OID_COMMON_NAME), der.utf8String(cn))));
}

function randomSerial(): Buffer {
  // 16 random bytes, top bit cleared (positive), first byte non-zero (minimal, 127–128 bits).
  const bytes = crypto.randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return der.unsignedInteger(bytes);
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
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const sigAlg = der.sequence(der.oid(OID_ECDSA_WITH_SHA256)); // parameters absent (RFC 5758)
  const name = nameCN(COMMON_NAME);
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    randomSerial(),
    sigAlg,
    name, // issuer
    der.sequence(
      der.time(new Date(now.getTime() - NOT_BEFORE_SLACK_MS)),
      der.time(new Date(now.getTime() + VALIDITY_MS)),
    ),
    name, // subject (self-signed)
    spki,
  );
  const signature = crypto.sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const certDer = der.sequence(tbs, sigAlg, der.bitString(signature));
  return {
    certPem: pemEncode('CERTIFICATE', certDer),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
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
