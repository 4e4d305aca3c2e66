/**
 * Byte/text encodings used across the engine. Platform-neutral (no Buffer, no node:*).
 *
 * Every decoder is strict and canonical: each byte string has exactly one accepted spelling.
 * Anything else throws an `EncodingError`. Canonical decoding matters because these strings are
 * compared, hashed and signed as identifiers (room ids, commitments, fingerprints); a lenient
 * decoder would let two different strings stand for the same bytes.
 */

/** Thrown by every strict decoder in this module. */
export class EncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncodingError';
  }
}

// ---------------------------------------------------------------------------------------------
// Power-of-two radix codecs (base64url, base32). One bit-accumulator implementation serves both.

interface RadixAlphabet {
  readonly name: string;
  readonly chars: string;
  readonly bitsPerChar: 5 | 6;
  /** Char code -> symbol value, or -1 for characters outside the alphabet. */
  readonly lookup: Int16Array;
}

function makeAlphabet(name: string, chars: string, bitsPerChar: 5 | 6): RadixAlphabet {
  if (chars.length !== 1 << bitsPerChar) throw new Error(`${name}: alphabet size mismatch`);
  const lookup = new Int16Array(128).fill(-1);
  for (let i = 0; i < chars.length; i++) lookup[chars.charCodeAt(i)] = i;
  return { name, chars, bitsPerChar, lookup };
}

const BASE64URL = makeAlphabet('base64url', 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 6);
/** RFC 4648 section 6 alphabet, lowercased: room ids are typed and read by people. */
const BASE32 = makeAlphabet('base32', 'abcdefghijklmnopqrstuvwxyz234567', 5);

function radixEncode(alpha: RadixAlphabet, bytes: Uint8Array): string {
  const { bitsPerChar, chars } = alpha;
  const mask = (1 << bitsPerChar) - 1;
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = ((acc << 8) | byte) & 0xffff; // at most bitsPerChar-1+8 live bits, fits in 16
    bits += 8;
    while (bits >= bitsPerChar) {
      bits -= bitsPerChar;
      out += chars[(acc >> bits) & mask];
    }
  }
  // Final partial symbol: remaining bits in the high end, zero-filled (the canonical form).
  if (bits > 0) out += chars[(acc << (bitsPerChar - bits)) & mask];
  return out;
}

function radixDecode(alpha: RadixAlphabet, s: string): Uint8Array<ArrayBuffer> {
  if (typeof s !== 'string') throw new EncodingError(`${alpha.name}: expected a string`);
  const { bitsPerChar, lookup } = alpha;
  // Leftover bits after the last whole byte. A whole symbol's worth of leftover means the
  // length cannot come from any byte string (e.g. base64 length 4k+1).
  const leftover = (s.length * bitsPerChar) % 8;
  if (leftover >= bitsPerChar) throw new EncodingError(`${alpha.name}: impossible length ${s.length}`);
  const out = new Uint8Array(Math.floor((s.length * bitsPerChar) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const v = code < 128 ? (lookup[code] ?? -1) : -1;
    if (v < 0) throw new EncodingError(`${alpha.name}: invalid character at position ${i}`);
    acc = ((acc << bitsPerChar) | v) & 0xffff;
    bits += bitsPerChar;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Non-canonical: the unused low bits of the last symbol must be zero.
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) {
    throw new EncodingError(`${alpha.name}: non-canonical trailing bits`);
  }
  return out;
}

/** base64url (RFC 4648 section 5) without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return radixEncode(BASE64URL, bytes);
}

/** Strict base64url: no padding, no whitespace, no '+' or '/', canonical trailing bits only. */
export function fromBase64Url(s: string): Uint8Array<ArrayBuffer> {
  return radixDecode(BASE64URL, s);
}

/** RFC 4648 base32, lowercase, without padding. */
export function base32Encode(bytes: Uint8Array): string {
  return radixEncode(BASE32, bytes);
}

/** Strict base32: lowercase RFC 4648 alphabet only, no padding, canonical trailing bits only. */
export function base32Decode(s: string): Uint8Array<ArrayBuffer> {
  return radixDecode(BASE32, s);
}

// ---------------------------------------------------------------------------------------------
// Hex and fingerprints

const HEX_CHARS = '0123456789abcdef';

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX_CHARS[b >> 4]! + HEX_CHARS[b & 15]!;
  return out;
}

function hexNibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10; // a-f
  return -1;
}

/**
 * Strict lowercase hex (the engine's only hex spelling): even length, [0-9a-f] only, no
 * prefix, no separators, no uppercase.
 */
export function fromHex(s: string): Uint8Array<ArrayBuffer> {
  if (typeof s !== 'string') throw new EncodingError('hex: expected a string');
  if (s.length % 2 !== 0) throw new EncodingError('hex: odd length');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(s.charCodeAt(2 * i));
    const lo = hexNibble(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new EncodingError(`hex: invalid character near position ${2 * i}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

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
  const pairs: string[] = [];
  for (const b of bytes) pairs.push(HEX_CHARS[b >> 4]! + HEX_CHARS[b & 15]!);
  return pairs.join(':');
}

/** Exactly the `fingerprintFromDigest` format: 32 lowercase hex pairs joined by ':'. */
export function isFingerprint(s: unknown): s is string {
  return typeof s === 'string' && FINGERPRINT_RE.test(s);
}

// ---------------------------------------------------------------------------------------------
// UTF-8

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
