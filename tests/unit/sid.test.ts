import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newRoomId } from '../../src/engine/link';
import { SID_CHARS, isSid, roomSid } from '../../src/engine/sid';

const rnd = (n: number) => new Uint8Array(randomBytes(n));
/** Independent reference: node:crypto, not @noble/hashes. */
const reference = (roomId: string) => createHash('sha256').update(`kibitz/sid|${roomId}`, 'utf8').digest('base64url');

describe('roomSid', () => {
  it('matches the golden vector', () => {
    const roomId = 'aaaqeayeaudaocajbifqydiob4'; // base32 of bytes 0..15
    expect(roomSid(roomId)).toBe(reference(roomId));
    expect(roomSid(roomId)).toBe('TZjJv2QEaaTmV0mwnOePCD7g8o28NugFWt4duAOOTMY');
  });

  it('matches node:crypto for random rooms and is 43 canonical base64url chars', () => {
    for (let i = 0; i < 50; i++) {
      const roomId = newRoomId(rnd);
      const sid = roomSid(roomId);
      expect(sid).toBe(reference(roomId));
      expect(sid).toHaveLength(SID_CHARS);
      expect(isSid(sid)).toBe(true);
      expect(sid).not.toContain(roomId);
    }
  });

  it('is distinct per room', () => {
    const a = newRoomId(rnd);
    const b = newRoomId(rnd);
    expect(roomSid(a)).not.toBe(roomSid(b));
  });

  it('refuses anything that is not a room id (no sid for a typo or an uppercase id)', () => {
    const roomId = newRoomId(rnd);
    for (const bad of ['', 'room', roomId.toUpperCase(), `${roomId}a`, roomId.slice(1), ` ${roomId}`]) {
      expect(() => roomSid(bad), bad).toThrow(/invalid room id/);
    }
  });
});

describe('isSid', () => {
  it('accepts only canonical 43-char base64url', () => {
    const sid = roomSid(newRoomId(rnd));
    expect(isSid(sid)).toBe(true);
    expect(isSid(`${sid.slice(0, 42)}B`)).toBe(false); // non-canonical last char
    expect(isSid(sid.slice(1))).toBe(false);
    expect(isSid(`${sid}A`)).toBe(false);
    expect(isSid(`${sid.slice(0, 42)}=`)).toBe(false);
    expect(isSid(`${sid.slice(0, 41)}+A`)).toBe(false);
    expect(isSid(null)).toBe(false);
  });
});
