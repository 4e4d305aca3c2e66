/**
 * Byte/text encodings used across the engine. Platform-neutral (no Buffer, no node:*).
 *
 * Every decoder is strict and canonical: each byte string has exactly one accepted spelling.
 * Anything else throws an `EncodingError`. Canonical decoding matters because these strings are
 * compared, hashed and signed as identifiers (room ids, commitments, fingerprints); a lenient
 * decoder would let two different strings stand for the same bytes.
 */

import { base32nopad, base64urlnopad, hex } from '@scure/base';

/** Thrown by every strict decoder in this module. */
export class EncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodingError';
  }
}

// ---------------------------------------------------------------------------------------------
// base64url, base32, hex: @scure/base (audited, strict: rejects padding where the coder has
// none, characters outside the alphabet and non-zero trailing bits). What is kept here:
// - our error type and messages (callers and tests match on `EncodingError`);
// - a length check before decoding, for a clear "impossible length" reason;
// - base32 in lowercase (room ids are typed and read by people): scure's RFC 4648 coder is
//   uppercase-only by design, so the alphabet is checked here, then the text is uppercased;
// - hex in lowercase only: scure's `hex` accepts either case, which would give one byte string
//   two spellings.

interface StrictCoder {
  readonly name: string;
  readonly bitsPerChar: 4 | 5 | 6;
  decode(s: string): Uint8Array;
}

function decodeStrict(coder: StrictCoder, s: string): Uint8Array<ArrayBuffer> {
  if (typeof s !== 'string') throw new EncodingError(`${coder.name}: expected a string`);
  // Leftover bits after the last whole byte. A whole symbol's worth of leftover means the
  // length cannot come from any byte string (e.g. base64 length 4k+1).
  const leftover = (s.length * coder.bitsPerChar) % 8;
  if (leftover >= coder.bitsPerChar) throw new EncodingError(`${coder.name}: impossible length ${s.length}`);
  let out: Uint8Array;
  try {
    out = coder.decode(s);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/non-zero padding/i.test(message)) throw new EncodingError(`${coder.name}: non-canonical trailing bits`);
    throw new EncodingError(`${coder.name}: invalid input (${message.slice(0, 40)})`);
  }
  // scure returns a fresh array over its own ArrayBuffer; copy only if that ever changes.
  return out.buffer instanceof ArrayBuffer && out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
    ? (out as Uint8Array<ArrayBuffer>)
    : new Uint8Array(out);
}

const BASE64URL: StrictCoder = { name: 'base64url', bitsPerChar: 6, decode: (s) => base64urlnopad.decode(s) };

const BASE32_LOWER = /^[a-z2-7]*$/;
const BASE32: StrictCoder = {
  name: 'base32',
  bitsPerChar: 5,
  decode(s) {
    // Checked before uppercasing: toUpperCase maps some non-ASCII letters into the alphabet
    // (dotless "ı" -> "I", "ſ" -> "S").
    if (!BASE32_LOWER.test(s)) throw new Error('characters outside the lowercase base32 alphabet');
    return base32nopad.decode(s.toUpperCase());
  },
};

const HEX_LOWER = /^[0-9a-f]*$/;
const HEX: StrictCoder = {
  name: 'hex',
  bitsPerChar: 4,
  decode(s) {
    if (!HEX_LOWER.test(s)) throw new Error('characters outside lowercase hex');
    return hex.decode(s);
  },
};

/** base64url (RFC 4648 section 5) without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/** Strict base64url: no padding, no whitespace, no '+' or '/', canonical trailing bits only. */
export function fromBase64Url(s: string): Uint8Array<ArrayBuffer> {
  return decodeStrict(BASE64URL, s);
}

/** RFC 4648 base32, lowercase, without padding. */
export function base32Encode(bytes: Uint8Array): string {
  return base32nopad.encode(bytes).toLowerCase();
}

/** Strict base32: lowercase RFC 4648 alphabet only, no padding, canonical trailing bits only. */
export function base32Decode(s: string): Uint8Array<ArrayBuffer> {
  return decodeStrict(BASE32, s);
}

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return hex.encode(bytes);
}

/**
 * Strict lowercase hex (the engine's only hex spelling): even length, [0-9a-f] only, no
 * prefix, no separators, no uppercase.
 */
export function fromHex(s: string): Uint8Array<ArrayBuffer> {
  if (typeof s === 'string' && s.length % 2 !== 0) throw new EncodingError('hex: odd length');
  return decodeStrict(HEX, s);
}

// ---------------------------------------------------------------------------------------------
// Fingerprints (our own format: scure has no separator-joined hex)

/** Certificate fingerprints are SHA-256 digests. */
export const FINGERPRINT_DIGEST_BYTES = 32;
const FINGERPRINT_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$/;

/**
 * The engine-wide fingerprint spelling: lowercase hex pairs joined by ':' (95 chars).
 * Only a 32-byte (SHA-256) digest is accepted, so every output passes `isFingerprint`.
 */
export function fingerprintFromDigest(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length !== FINGERPRINT_DIGEST_BYTES) {
    throw new EncodingError(`fingerprint: expected a ${FINGERPRINT_DIGEST_BYTES}-byte SHA-256 digest`);
  }
  return toHex(bytes).replace(/(..)(?!$)/g, '$1:');
}

/** Exactly the `fingerprintFromDigest` format: 32 lowercase hex pairs joined by ':'. */
export function isFingerprint(s: unknown): s is string {
  return typeof s === 'string' && FINGERPRINT_RE.test(s);
}

// ---------------------------------------------------------------------------------------------
// UTF-8 and bytes: kept on the platform's TextEncoder/TextDecoder rather than scure's `utf8`,
// because the rules here are stricter than a plain codec: encoding refuses unpaired surrogates
// (which would otherwise collide on U+FFFD), decoding is fatal and keeps a leading BOM, so
// decode(encode(s)) === s for every accepted s. concatBytes and the constant-time bytesEqual
// are not encodings and have no counterpart in @scure/base.

const encoder = new TextEncoder();
// fatal: invalid UTF-8 throws instead of becoming U+FFFD. ignoreBOM: keep a leading BOM as a
// character rather than silently stripping it, so decode(encode(s)) === s for every s.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Matches an unpaired surrogate (with the `u` flag a valid pair is one code point, not Cs). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * UTF-8 encode. Throws on a string with an unpaired surrogate: TextEncoder would map every
 * such string to U+FFFD, so distinct strings would share bytes (and a MAC or signature over
 * one would verify for the other).
 */
export function utf8Encode(s: string): Uint8Array<ArrayBuffer> {
  if (typeof s !== 'string') throw new EncodingError('utf8: expected a string');
  if (LONE_SURROGATE.test(s)) throw new EncodingError('utf8: string contains an unpaired surrogate');
  return encoder.encode(s);
}

/** UTF-8 decode; throws on any invalid sequence (overlong, surrogate, truncated, stray byte). */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new EncodingError('utf8: invalid UTF-8');
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes

export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Equality that takes the same time wherever the first difference is, for equal lengths
 * (lengths are treated as public). Use it for MACs, commitments and other secrets.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
