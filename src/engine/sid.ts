/**
 * The hashed room id ("sid"): what the signaling broker sees instead of the room id. The room
 * id is a 128-bit secret carried only in link fragments; SHA-256 is one-way, so the broker can
 * route by sid without learning the room id (and so without the signaling key derived from it).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64Url, utf8Encode } from './encoding';
import { isRoomId } from './link';

const SID_PREFIX = 'kibitz/sid|';
/** base64url of a 32-byte digest, unpadded. */
export const SID_CHARS = 43;
const SID_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/; // last char: canonical (low 2 bits zero)

/** base64url(SHA-256(utf8("kibitz/sid|" + roomId))). Throws on an invalid room id. */
export function roomSid(roomId: string): string {
  if (!isRoomId(roomId)) throw new Error('roomSid: invalid room id');
  return toBase64Url(sha256(utf8Encode(SID_PREFIX + roomId)));
}

/** Whether `s` has the exact shape of a sid (canonical unpadded base64url of 32 bytes). */
export function isSid(s: unknown): s is string {
  return typeof s === 'string' && SID_RE.test(s);
}
