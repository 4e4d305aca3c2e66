/**
 * Safety code (SAS), per pair of peers, commit-then-reveal (DESIGN section 5).
 *
 * Each side picks a 32-byte nonce and sends a commitment H(nonce). Only once it holds the
 * peer's commitment does it reveal its nonce. The code is HKDF-SHA256 over both handshaken
 * DTLS fingerprints (sorted) and both nonces, shown as 7 words from a 64-word table (42 bits).
 *
 * Why this holds against a man in the middle: the MITM runs two DTLS links with its own
 * certificates, so the two honest sides hash different fingerprint pairs. To make the codes
 * match it would need to choose a nonce after seeing the honest side's nonce, but it must
 * commit first, so it gets one blind guess at 2^-42 per attempt.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, concatBytes, fromBase64Url, isFingerprint, toBase64Url, utf8Encode } from './encoding';

export const SAS_SYMBOLS = 7;
export const SAS_NONCE_BYTES = 32;
const SAS_BITS_PER_SYMBOL = 6;
const SAS_OUTPUT_BYTES = 6; // 48 bits; the first 42 are used
/** A commitment and a revealed nonce are both base64url of 32 bytes. */
const B64URL_32_CHARS = 43;

const COMMIT_PREFIX = 'kibitz/sas-commit/v1|';
const HKDF_SALT = 'kibitz/sas/v1';
const HKDF_INFO = 'safety-code';

/**
 * 64 words chosen to be read aloud across a call: common concrete nouns of one to three
 * syllables, no homophones or near-rhymes within the table, no offensive words, and no two
 * words sharing their first three letters (so a word is identified by its start).
 * The order is part of the protocol: never reorder or edit, only version.
 */
export const SAS_WORDS: readonly string[] = Object.freeze([
  'apple', 'arrow', 'anchor', 'banjo', 'bison', 'bridge', 'candle', 'coffee',
  'circus', 'dragon', 'dolphin', 'daisy', 'eagle', 'engine', 'falcon', 'forest',
  'frog', 'garden', 'giraffe', 'guitar', 'hammer', 'honey', 'helmet', 'igloo',
  'island', 'juice', 'jungle', 'jelly', 'kettle', 'koala', 'kayak', 'lemon',
  'lizard', 'ladder', 'magnet', 'mirror', 'muffin', 'napkin', 'needle', 'ocean',
  'orange', 'otter', 'puzzle', 'pepper', 'pillow', 'quilt', 'rabbit', 'rocket',
  'ruler', 'spoon', 'sugar', 'silver', 'tiger', 'tomato', 'turtle', 'unicorn',
  'violin', 'vanilla', 'volcano', 'walrus', 'window', 'wolf', 'yogurt', 'zebra',
]);

export type SasErrorCode =
  | 'malformed' // not base64url of 32 bytes, or bad fingerprints
  | 'duplicate' // a second commit or reveal (ours or theirs)
  | 'reveal-before-commit' // a reveal before their commitment, or before we committed
  | 'commitment-mismatch' // the revealed nonce does not hash to their commitment
  | 'reflected' // our own nonce came back as theirs
  | 'failed'; // the exchange already failed

export class SasError extends Error {
  readonly code: SasErrorCode;
  constructor(code: SasErrorCode, message: string) {
    super(message);
    this.name = 'SasError';
    this.code = code;
  }
}

function commitmentBytes(nonce: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8Encode(COMMIT_PREFIX), nonce));
}

function checkNonce(nonce: Uint8Array, what: string): void {
  if (!(nonce instanceof Uint8Array) || nonce.length !== SAS_NONCE_BYTES) {
    throw new SasError('malformed', `${what} must be ${SAS_NONCE_BYTES} bytes`);
  }
}

/** base64url(SHA-256(utf8("kibitz/sas-commit/v1|") || nonce)). */
export function sasCommitment(nonce: Uint8Array): string {
  checkNonce(nonce, 'nonce');
  return toBase64Url(commitmentBytes(nonce));
}

/**
 * The 7-word code for a pair. Symmetric: both sides get the same words whichever is A.
 * Pairs are ordered by fingerprint (fixed-length lowercase hex, so string order is byte order).
 */
export function computeSasCode(fpA: string, nonceA: Uint8Array, fpB: string, nonceB: Uint8Array): string[] {
  if (!isFingerprint(fpA) || !isFingerprint(fpB)) throw new SasError('malformed', 'fingerprint malformed');
  // Equal fingerprints mean a peer is talking to itself or a reflected link: never produce a code.
  if (fpA === fpB) throw new SasError('malformed', 'fingerprints must differ');
  checkNonce(nonceA, 'nonceA');
  checkNonce(nonceB, 'nonceB');

  const [fp1, n1, fp2, n2] = fpA < fpB ? [fpA, nonceA, fpB, nonceB] : [fpB, nonceB, fpA, nonceA];
  const zero = Uint8Array.of(0);
  const ikm = concatBytes(utf8Encode(fp1), zero, utf8Encode(fp2), zero, n1, n2);
  const okm = hkdf(sha256, ikm, utf8Encode(HKDF_SALT), utf8Encode(HKDF_INFO), SAS_OUTPUT_BYTES);

  // Read the first 42 bits big-endian, 6 at a time.
  const words: string[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of okm) {
    acc = ((acc << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= SAS_BITS_PER_SYMBOL && words.length < SAS_SYMBOLS) {
      bits -= SAS_BITS_PER_SYMBOL;
      words.push(SAS_WORDS[(acc >> bits) & 63]!);
    }
  }
  return words;
}

function decode32(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string' || s.length !== B64URL_32_CHARS) {
    throw new SasError('malformed', `${what} is not base64url of ${SAS_NONCE_BYTES} bytes`);
  }
  try {
    return fromBase64Url(s); // strict and canonical; 43 chars always decode to 32 bytes
  } catch {
    throw new SasError('malformed', `${what} is not base64url of ${SAS_NONCE_BYTES} bytes`);
  }
}

export interface SasExchangeOptions {
  /** Fingerprint of our certificate. */
  localFingerprint: string;
  /** Fingerprint read from this connection's DTLS handshake (never from SDP). */
  remoteFingerprint: string;
  randomBytes: (n: number) => Uint8Array;
}

/**
 * One commit-then-reveal exchange, for one pair on one connection. Any error fails it for good:
 * after that it yields no code, and every further message is refused.
 */
export class SasExchange {
  readonly #localFp: string;
  readonly #remoteFp: string;
  readonly #randomBytes: (n: number) => Uint8Array;
  #ourNonce: Uint8Array | null = null;
  #theirCommit: Uint8Array | null = null;
  #revealReceived = false;
  #words: string[] | null = null;
  #failed = false;

  constructor(opts: SasExchangeOptions) {
    if (!isFingerprint(opts.localFingerprint) || !isFingerprint(opts.remoteFingerprint)) {
      throw new SasError('malformed', 'fingerprint malformed');
    }
    if (opts.localFingerprint === opts.remoteFingerprint) {
      throw new SasError('malformed', 'remote fingerprint equals our own');
    }
    this.#localFp = opts.localFingerprint;
    this.#remoteFp = opts.remoteFingerprint;
    this.#randomBytes = opts.randomBytes;
  }

  /** The 7 words once both nonces are in and verified; null before or after a failure. */
  get words(): string[] | null {
    return this.#words ? [...this.#words] : null;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** Marks the exchange failed and returns the error for the caller to throw. */
  #fail(code: SasErrorCode, message: string): SasError {
    this.#failed = true;
    this.#words = null;
    return new SasError(code, message);
  }

  #ensureLive(): void {
    if (this.#failed) throw new SasError('failed', 'safety-code exchange already failed');
  }

  /** Picks our nonce and returns our commitment, to send first. Call once. */
  commit(): string {
    this.#ensureLive();
    if (this.#ourNonce) throw this.#fail('duplicate', 'commit() called twice');
    const rnd = this.#randomBytes(SAS_NONCE_BYTES);
    if (!(rnd instanceof Uint8Array) || rnd.length !== SAS_NONCE_BYTES) {
      throw this.#fail('malformed', `random source must return ${SAS_NONCE_BYTES} bytes`);
    }
    this.#ourNonce = Uint8Array.from(rnd); // own copy: the caller's buffer may be reused
    return toBase64Url(commitmentBytes(this.#ourNonce));
  }

  /** Takes the peer's commitment. It may arrive before or after our own commit(). */
  receiveCommit(commit: string): void {
    this.#ensureLive();
    if (this.#theirCommit) throw this.#fail('duplicate', 'second commitment from peer');
    let bytes: Uint8Array;
    try {
      bytes = decode32(commit, 'commitment');
    } catch (e) {
      throw this.#fail('malformed', (e as Error).message);
    }
    this.#theirCommit = bytes;
  }

  /**
   * Our nonce (base64url) to send, or null while it must stay secret: until we have committed
   * and hold the peer's commitment, revealing would let a MITM pick its nonce after ours.
   */
  reveal(): string | null {
    if (this.#failed || !this.#ourNonce || !this.#theirCommit) return null;
    return toBase64Url(this.#ourNonce);
  }

  /** Takes the peer's nonce, checks it against their commitment, and returns the code. */
  receiveReveal(nonce: string): string[] {
    this.#ensureLive();
    if (this.#revealReceived) throw this.#fail('duplicate', 'second reveal from peer');
    this.#revealReceived = true;
    if (!this.#theirCommit) throw this.#fail('reveal-before-commit', 'peer revealed before committing');
    // An honest peer reveals only after holding our commitment, which does not exist yet.
    if (!this.#ourNonce) throw this.#fail('reveal-before-commit', 'peer revealed before we committed');
    let theirs: Uint8Array;
    try {
      theirs = decode32(nonce, 'nonce');
    } catch (e) {
      throw this.#fail('malformed', (e as Error).message);
    }
    if (!bytesEqual(commitmentBytes(theirs), this.#theirCommit)) {
      throw this.#fail('commitment-mismatch', 'revealed nonce does not match the commitment');
    }
    // Our own nonce echoed back: someone reflected our messages. Harmless to the code's
    // strength, but never from an honest peer (2^-256), so refuse it.
    if (bytesEqual(theirs, this.#ourNonce)) throw this.#fail('reflected', 'peer echoed our own nonce');
    const words = computeSasCode(this.#localFp, this.#ourNonce, this.#remoteFp, theirs);
    this.#words = words;
    return [...words];
  }
}
