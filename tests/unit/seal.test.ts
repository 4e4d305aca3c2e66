import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../../src/engine/encoding';
import { newRoomId, roomIdBytes } from '../../src/engine/link';
import {
  MAX_SEALED_BLOB_CHARS,
  MAX_SEAL_PLAINTEXT_BYTES,
  SealError,
  deriveRoomKey,
  openBlob,
  sealBlob,
  type SealAd,
  type SealErrorCode,
} from '../../src/engine/seal';
import { roomSid } from '../../src/engine/sid';

const rnd = (n: number) => new Uint8Array(randomBytes(n));
const ROOM = newRoomId(rnd);
const OTHER_ROOM = newRoomId(rnd);
const ALICE = 'AAAAAAAAAAAAAAAAAAAAAA';
const BOB = 'BBBBBBBBBBBBBBBBBBBBBB';
const CAROL = 'CCCCCCCCCCCCCCCCCCCCCC';
const AD: SealAd = { sid: roomSid(ROOM), from: ALICE, to: BOB };
const SDP = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 AB:CD\r\n';

/** Independent reference implementation with node:crypto. */
function referenceKey(roomId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', roomIdBytes(roomId), 'kibitz/seal/v1', 'signaling', 32));
}
function referenceAad(ad: SealAd): Buffer {
  return Buffer.from(`kibitz/seal/v1|${ad.sid}|${ad.from}|${ad.to}`, 'utf8');
}
function referenceSeal(roomId: string, ad: SealAd, pt: Uint8Array, iv: Uint8Array, version = 1): string {
  const c = createCipheriv('aes-256-gcm', referenceKey(roomId), iv);
  c.setAAD(referenceAad(ad));
  const ct = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  return Buffer.concat([Buffer.of(version), iv, ct]).toString('base64url');
}
function referenceOpen(roomId: string, ad: SealAd, blob: string): string {
  const b = Buffer.from(blob, 'base64url');
  const d = createDecipheriv('aes-256-gcm', referenceKey(roomId), b.subarray(1, 13));
  d.setAAD(referenceAad(ad));
  d.setAuthTag(b.subarray(b.length - 16));
  return Buffer.concat([d.update(b.subarray(13, b.length - 16)), d.final()]).toString('utf8');
}

async function expectSealError(p: Promise<unknown>, code: SealErrorCode): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SealError);
  expect((err as SealError).code).toBe(code);
}

/** Flip one bit of the decoded blob at `index` and re-encode. */
function flip(blob: string, index: number): string {
  const b = fromBase64Url(blob);
  b[index]! ^= 0x01;
  return toBase64Url(b);
}

let key: CryptoKey;
let otherKey: CryptoKey;
beforeAll(async () => {
  key = await deriveRoomKey(ROOM);
  otherKey = await deriveRoomKey(OTHER_ROOM);
});

describe('deriveRoomKey', () => {
  it('is a non-extractable AES-256-GCM key for encrypt/decrypt only', async () => {
    expect(key.extractable).toBe(false);
    expect(key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    expect([...key.usages].sort()).toEqual(['decrypt', 'encrypt']);
    await expect(crypto.subtle.exportKey('raw', key)).rejects.toThrow();
  });

  it('refuses invalid room ids', async () => {
    for (const bad of ['', 'room', ROOM.toUpperCase(), ROOM.slice(1)]) {
      await expect(deriveRoomKey(bad)).rejects.toThrow(/room id/);
    }
  });
});

describe('sealBlob / openBlob', () => {
  it('round-trips text of any kind and size up to the limit', async () => {
    for (const pt of [SDP, '', 'é🎉日本', '{"candidate":"candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host"}', 'x'.repeat(MAX_SEAL_PLAINTEXT_BYTES)]) {
      const blob = await sealBlob(key, AD, pt, rnd);
      expect(blob.length).toBeLessThanOrEqual(MAX_SEALED_BLOB_CHARS);
      expect(await openBlob(key, AD, blob)).toBe(pt);
    }
  });

  it('has the documented layout: version 1 || 12-byte IV || ciphertext || 16-byte tag', async () => {
    const blob = await sealBlob(key, AD, SDP, rnd);
    expect(blob).toMatch(/^[A-Za-z0-9_-]+$/);
    const bytes = fromBase64Url(blob);
    expect(bytes[0]).toBe(1);
    expect(bytes.length).toBe(1 + 12 + new TextEncoder().encode(SDP).length + 16);
    expect(Buffer.from(bytes).toString('latin1')).not.toContain('fingerprint');
  });

  it('interoperates with an independent node:crypto implementation (KDF, AAD, layout)', async () => {
    const blob = await sealBlob(key, AD, SDP, rnd);
    expect(referenceOpen(ROOM, AD, blob)).toBe(SDP);
    const theirs = referenceSeal(ROOM, AD, Buffer.from(SDP), rnd(12));
    expect(await openBlob(key, AD, theirs)).toBe(SDP);
  });

  it('matches a golden vector with a fixed IV', async () => {
    const roomId = 'aaaqeayeaudaocajbifqydiob4';
    const ad: SealAd = { sid: roomSid(roomId), from: ALICE, to: BOB };
    const iv = new Uint8Array(12).map((_, i) => 0xa0 + i);
    const blob = await sealBlob(await deriveRoomKey(roomId), ad, 'hello kibitz', () => iv);
    expect(blob).toBe(referenceSeal(roomId, ad, Buffer.from('hello kibitz'), iv));
    expect(blob).toBe('AaChoqOkpaanqKmqq-lJwGuNWgZpSQVoX8Tizjq-i6YuOyXpJtfDKac');
  });

  it('uses a fresh IV each time', async () => {
    const a = await sealBlob(key, AD, SDP, rnd);
    const b = await sealBlob(key, AD, SDP, rnd);
    expect(a).not.toBe(b);
    expect(fromBase64Url(a).subarray(1, 13)).not.toEqual(fromBase64Url(b).subarray(1, 13));
  });

  it('asks the random source for exactly 12 bytes and refuses a misbehaving one', async () => {
    let asked = -1;
    await sealBlob(key, AD, SDP, (n) => {
      asked = n;
      return rnd(n);
    });
    expect(asked).toBe(12);
    await expectSealError(sealBlob(key, AD, SDP, () => new Uint8Array(11)), 'invalid-input');
    await expectSealError(sealBlob(key, AD, SDP, () => new Uint8Array(16)), 'invalid-input');
  });

  it('enforces the plaintext limit in UTF-8 bytes, not characters', async () => {
    await expectSealError(sealBlob(key, AD, 'x'.repeat(MAX_SEAL_PLAINTEXT_BYTES + 1), rnd), 'plaintext-too-large');
    await expectSealError(sealBlob(key, AD, 'é'.repeat(MAX_SEAL_PLAINTEXT_BYTES / 2 + 1), rnd), 'plaintext-too-large');
    expect(await openBlob(key, AD, await sealBlob(key, AD, 'é'.repeat(MAX_SEAL_PLAINTEXT_BYTES / 2), rnd))).toHaveLength(
      MAX_SEAL_PLAINTEXT_BYTES / 2,
    );
  });

  it('refuses plaintext with unpaired surrogates (it could not round-trip)', async () => {
    await expectSealError(sealBlob(key, AD, 'a\ud800b', rnd), 'invalid-input');
  });

  it('refuses ambiguous or invalid associated data on both ends', async () => {
    const blob = await sealBlob(key, AD, SDP, rnd);
    const bad: SealAd[] = [
      { ...AD, from: 'A|B' },
      { ...AD, to: '' },
      { ...AD, to: 'has space' },
      { ...AD, from: 'x'.repeat(129) },
      { ...AD, from: 'é' },
      { ...AD, sid: ROOM }, // a room id is not a sid
      { ...AD, sid: `${AD.sid}|x` },
      { ...AD, sid: '' },
    ];
    for (const ad of bad) {
      await expectSealError(sealBlob(key, ad, SDP, rnd), 'invalid-ad');
      await expectSealError(openBlob(key, ad, blob), 'invalid-ad');
    }
  });
});

describe('openBlob rejects (adversarial)', () => {
  let blob: string;
  let len: number;
  beforeAll(async () => {
    blob = await sealBlob(key, AD, SDP, rnd);
    len = fromBase64Url(blob).length;
  });

  it('tampered ciphertext, at the start, middle and end', async () => {
    for (const i of [13, 13 + Math.floor((len - 29) / 2), len - 17]) await expectSealError(openBlob(key, AD, flip(blob, i)), 'auth');
  });

  it('tampered tag', async () => {
    for (const i of [len - 16, len - 1]) await expectSealError(openBlob(key, AD, flip(blob, i)), 'auth');
  });

  it('tampered IV', async () => {
    for (const i of [1, 6, 12]) await expectSealError(openBlob(key, AD, flip(blob, i)), 'auth');
  });

  it('the key of another room', async () => {
    await expectSealError(openBlob(otherKey, AD, blob), 'auth');
    await expectSealError(openBlob(otherKey, { ...AD, sid: roomSid(OTHER_ROOM) }, blob), 'auth');
  });

  it('another sid (right key, replayed into another room)', async () => {
    await expectSealError(openBlob(key, { ...AD, sid: roomSid(OTHER_ROOM) }, blob), 'auth');
  });

  it('swapped from/to (reflected back to the sender)', async () => {
    await expectSealError(openBlob(key, { sid: AD.sid, from: BOB, to: ALICE }, blob), 'auth');
  });

  it('replayed to another recipient, or claimed from another sender', async () => {
    await expectSealError(openBlob(key, { ...AD, to: CAROL }, blob), 'auth');
    await expectSealError(openBlob(key, { ...AD, from: CAROL }, blob), 'auth');
  });

  it('AAD boundaries cannot be shifted between from and to', async () => {
    const b2 = await sealBlob(key, { sid: AD.sid, from: 'ab', to: 'c' }, SDP, rnd);
    await expectSealError(openBlob(key, { sid: AD.sid, from: 'a', to: 'bc' }, b2), 'auth');
  });

  it('truncated blobs', async () => {
    const bytes = fromBase64Url(blob);
    await expectSealError(openBlob(key, AD, toBase64Url(bytes.subarray(0, len - 1))), 'auth'); // tag cut
    await expectSealError(openBlob(key, AD, toBase64Url(bytes.subarray(0, 29))), 'auth'); // empty-plaintext length
    await expectSealError(openBlob(key, AD, toBase64Url(bytes.subarray(0, 28))), 'too-short');
    await expectSealError(openBlob(key, AD, toBase64Url(bytes.subarray(0, 13))), 'too-short');
    await expectSealError(openBlob(key, AD, toBase64Url(bytes.subarray(0, 1))), 'too-short');
    await expectSealError(openBlob(key, AD, ''), 'too-short');
  });

  it('a truncated base64 string (impossible length) is malformed', async () => {
    const cut = `${blob.slice(0, blob.length - (blob.length % 4))}A`;
    expect(cut.length % 4).toBe(1);
    await expectSealError(openBlob(key, AD, cut), 'malformed');
  });

  it('oversize blobs, before decoding', async () => {
    await expectSealError(openBlob(key, AD, 'A'.repeat(MAX_SEALED_BLOB_CHARS + 1)), 'too-long');
    await expectSealError(openBlob(key, AD, '!'.repeat(MAX_SEALED_BLOB_CHARS + 1)), 'too-long');
    await expectSealError(openBlob(key, AD, blob + 'A'.repeat(MAX_SEALED_BLOB_CHARS)), 'too-long');
  });

  it('an authentic blob whose plaintext exceeds the limit (a room member ignoring it)', async () => {
    const pt = Buffer.alloc(MAX_SEAL_PLAINTEXT_BYTES + 1, 0x61);
    const big = referenceSeal(ROOM, AD, pt, rnd(12));
    expect(big.length).toBeLessThanOrEqual(MAX_SEALED_BLOB_CHARS);
    await expectSealError(openBlob(key, AD, big), 'too-long');
  });

  it('an authentic blob that is not UTF-8', async () => {
    const b = referenceSeal(ROOM, AD, Uint8Array.of(0x61, 0xff, 0x62), rnd(12));
    await expectSealError(openBlob(key, AD, b), 'malformed');
  });

  it('wrong version byte, even when the rest is authentic', async () => {
    for (const v of [0, 2, 0x7f, 0xff]) {
      const bytes = fromBase64Url(blob);
      bytes[0] = v;
      await expectSealError(openBlob(key, AD, toBase64Url(bytes)), 'version');
      await expectSealError(openBlob(key, AD, referenceSeal(ROOM, AD, Buffer.from(SDP), rnd(12), v)), 'version');
    }
  });

  it('malformed base64url', async () => {
    for (const bad of [`${blob}=`, `${blob.slice(0, 10)}+${blob.slice(11)}`, ` ${blob}`, `${blob}\n`, `${blob.slice(0, 20)}.${blob.slice(21)}`]) {
      await expectSealError(openBlob(key, AD, bad), 'malformed');
    }
    await expectSealError(openBlob(key, AD, 123 as unknown as string), 'malformed');
  });

  it('non-canonical base64url (same bytes, different string)', async () => {
    const bytes = fromBase64Url(blob);
    // Pick a byte length whose encoding has spare trailing bits, then set one.
    const cut = bytes.length % 3 === 0 ? bytes.subarray(0, bytes.length - 1) : bytes;
    const canonical = toBase64Url(cut);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(canonical.at(-1)!);
    const nonCanonical = canonical.slice(0, -1) + alphabet[last | 1];
    await expectSealError(openBlob(key, AD, nonCanonical), 'malformed');
  });

  it('a key that is not an AES-GCM CryptoKey', async () => {
    const hmac = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    await expectSealError(openBlob(hmac, AD, blob), 'invalid-input');
    await expectSealError(sealBlob(hmac, AD, SDP, rnd), 'invalid-input');
    await expectSealError(openBlob({} as CryptoKey, AD, blob), 'invalid-input');
  });
});
