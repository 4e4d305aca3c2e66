/**
 * Sealed signaling. Offers, answers and candidates travel through the broker as AES-256-GCM
 * blobs under a key derived from the room id, which the broker never sees (it sees only the
 * sid). So the broker can neither read SDP nor rewrite it (e.g. swap DTLS fingerprints).
 *
 * Blob: base64url( 0x01 || iv[12] || ciphertext || tag[16] ).
 * AAD:  utf8("kibitz/seal/v1|" + sid + "|" + from + "|" + to), so a blob only opens in the room,
 *       from the sender and for the recipient it was sealed for.
 *
 * What this does not give: freshness. The broker (or any room member, who all share the key)
 * can replay an earlier blob with the same sid/from/to; the signaling layer above must tolerate
 * or reject stale descriptions. Peer authentication is the DTLS fingerprint + SAS, not this key.
 */
import { concatBytes, fromBase64Url, toBase64Url, utf8Decode, utf8Encode } from './encoding';
import { roomIdBytes } from './link';
import { isSid } from './sid';

export const SEAL_VERSION = 1;
export const SEAL_IV_BYTES = 12;
export const SEAL_TAG_BYTES = 16;
/** Largest plaintext `sealBlob` accepts, in UTF-8 bytes. */
export const MAX_SEAL_PLAINTEXT_BYTES = 40_000;
/** Largest blob `openBlob` looks at (the largest legitimate blob is ~53,400 chars). */
export const MAX_SEALED_BLOB_CHARS = 60_000;
/** Longest sender/recipient id accepted in the associated data. */
export const MAX_SEAL_PEER_ID_CHARS = 128;

const MIN_BLOB_BYTES = 1 + SEAL_IV_BYTES + SEAL_TAG_BYTES;
const HKDF_SALT = 'kibitz/seal/v1';
const HKDF_INFO = 'signaling';
const AAD_PREFIX = 'kibitz/seal/v1|';
/** Printable ASCII except '|' (the AAD separator), so the AAD cannot be parsed two ways. */
const PEER_ID_RE = /^[\x21-\x7b\x7d\x7e]+$/;

export type SealErrorCode =
  | 'malformed' // not strict base64url, or the plaintext is not UTF-8
  | 'version' // unknown version byte
  | 'too-short'
  | 'too-long'
  | 'auth' // wrong key, wrong AAD or tampered: GCM authentication failed
  | 'plaintext-too-large'
  | 'invalid-ad'
  | 'invalid-input';

export class SealError extends Error {
  readonly code: SealErrorCode;
  constructor(code: SealErrorCode, message: string) {
    super(message);
    this.name = 'SealError';
    this.code = code;
  }
}

/** Who a blob is for: the room's sid and the broker's ephemeral peer ids of sender and recipient. */
export interface SealAd {
  sid: string;
  from: string;
  to: string;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available');
  return s;
}

/**
 * The room's signaling key: HKDF-SHA256 over the 16 room-id bytes, salt "kibitz/seal/v1",
 * info "signaling", as a non-extractable AES-256-GCM key. Throws on an invalid room id.
 */
export async function deriveRoomKey(roomId: string): Promise<CryptoKey> {
  const ikm = roomIdBytes(roomId);
  const base = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: utf8Encode(HKDF_SALT), info: utf8Encode(HKDF_INFO) },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

function checkPeerId(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_SEAL_PEER_ID_CHARS || !PEER_ID_RE.test(v)) {
    throw new SealError('invalid-ad', `seal: ${field} must be 1-${MAX_SEAL_PEER_ID_CHARS} printable ASCII characters without "|"`);
  }
  return v;
}

function aadBytes(ad: SealAd): Uint8Array<ArrayBuffer> {
  if (typeof ad !== 'object' || ad === null) throw new SealError('invalid-ad', 'seal: missing associated data');
  if (!isSid(ad.sid)) throw new SealError('invalid-ad', 'seal: sid is not a room sid');
  const from = checkPeerId(ad.from, 'from');
  const to = checkPeerId(ad.to, 'to');
  return utf8Encode(`${AAD_PREFIX}${ad.sid}|${from}|${to}`);
}

function checkKey(key: CryptoKey): void {
  if (typeof CryptoKey !== 'undefined' && !(key instanceof CryptoKey)) {
    throw new SealError('invalid-input', 'seal: key is not a CryptoKey');
  }
  if (key.algorithm.name !== 'AES-GCM') throw new SealError('invalid-input', 'seal: key is not an AES-GCM key');
}

/** Seals `plaintext` for `ad.to`. Returns the base64url blob. */
export async function sealBlob(
  key: CryptoKey,
  ad: SealAd,
  plaintext: string,
  randomBytes: (n: number) => Uint8Array,
): Promise<string> {
  checkKey(key);
  const aad = aadBytes(ad);
  let pt: Uint8Array<ArrayBuffer>;
  try {
    pt = utf8Encode(plaintext);
  } catch {
    throw new SealError('invalid-input', 'seal: plaintext is not a well-formed string');
  }
  if (pt.length > MAX_SEAL_PLAINTEXT_BYTES) {
    throw new SealError('plaintext-too-large', `seal: plaintext exceeds ${MAX_SEAL_PLAINTEXT_BYTES} bytes`);
  }
  const rnd = randomBytes(SEAL_IV_BYTES);
  // A short or reused IV would be fatal for GCM; refuse a random source that misbehaves.
  if (!(rnd instanceof Uint8Array) || rnd.length !== SEAL_IV_BYTES) {
    throw new SealError('invalid-input', `seal: random source must return ${SEAL_IV_BYTES} bytes`);
  }
  const iv = Uint8Array.from(rnd);
  const ct = new Uint8Array(
    await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 }, key, pt),
  );
  return toBase64Url(concatBytes(Uint8Array.of(SEAL_VERSION), iv, ct));
}

/**
 * Opens a blob sealed for `ad`. Throws `SealError` on anything but an authentic blob for
 * exactly this sid, sender and recipient.
 */
export async function openBlob(key: CryptoKey, ad: SealAd, blob: string): Promise<string> {
  checkKey(key);
  const aad = aadBytes(ad);
  if (typeof blob !== 'string') throw new SealError('malformed', 'open: blob is not a string');
  // Length check before decoding: never spend work on an oversized input.
  if (blob.length > MAX_SEALED_BLOB_CHARS) throw new SealError('too-long', 'open: blob is too long');
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64Url(blob);
  } catch {
    throw new SealError('malformed', 'open: blob is not valid base64url');
  }
  if (bytes.length === 0) throw new SealError('too-short', 'open: blob is empty');
  if (bytes[0] !== SEAL_VERSION) throw new SealError('version', 'open: unknown seal version');
  if (bytes.length < MIN_BLOB_BYTES) throw new SealError('too-short', 'open: blob is too short');

  const iv = bytes.subarray(1, 1 + SEAL_IV_BYTES);
  const ct = bytes.subarray(1 + SEAL_IV_BYTES);
  let pt: Uint8Array;
  try {
    pt = new Uint8Array(
      await subtle().decrypt({ name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 }, key, ct),
    );
  } catch {
    throw new SealError('auth', 'open: blob failed authentication');
  }
  // Same limit as sealing: an honest sealer never exceeds it, so neither may an opened blob.
  if (pt.length > MAX_SEAL_PLAINTEXT_BYTES) throw new SealError('too-long', 'open: plaintext is too large');
  try {
    return utf8Decode(pt);
  } catch {
    throw new SealError('malformed', 'open: plaintext is not valid UTF-8');
  }
}
