import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base32Encode } from '../../src/engine/encoding';
import {
  DEFAULT_LINK_BASE,
  MAX_LINK_CHARS,
  ROOM_ID_BYTES,
  brokerOfInviteBase,
  encodeLink,
  inviteBaseFor,
  isRoomId,
  newRoomId,
  parseLink,
  roomIdBytes,
  type RoomLink,
} from '../../src/engine/link';

const rnd = (n: number) => new Uint8Array(randomBytes(n));
const ROOM = newRoomId(rnd);
const GOOD = `kibitz://call#v=1&r=${ROOM}&g=open`;

function expectError(text: string, pattern?: RegExp): string {
  const res = parseLink(text);
  expect(res.ok, text).toBe(false);
  if (res.ok) throw new Error('unreachable');
  expect(res.error.length).toBeGreaterThan(0);
  expect(res.error.length).toBeLessThan(160); // short, user-facing
  if (pattern) expect(res.error).toMatch(pattern);
  return res.error;
}

describe('room ids', () => {
  it('newRoomId makes 26 lowercase base32 chars from 16 random bytes', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const id = newRoomId(rnd);
      expect(id).toMatch(/^[a-z2-7]{26}$/);
      expect(isRoomId(id)).toBe(true);
      seen.add(id);
    }
    expect(seen.size).toBe(100);
  });

  it('newRoomId is the base32 of exactly the bytes it was given', () => {
    const fixed = new Uint8Array(16).map((_, i) => i);
    let asked = 0;
    const id = newRoomId((n) => {
      asked = n;
      return fixed;
    });
    expect(asked).toBe(ROOM_ID_BYTES);
    expect(id).toBe(base32Encode(fixed));
    expect(id).toBe('aaaqeayeaudaocajbifqydiob4');
    expect(roomIdBytes(id)).toEqual(fixed);
  });

  it('newRoomId refuses a random source that returns the wrong length', () => {
    expect(() => newRoomId(() => new Uint8Array(15))).toThrow();
    expect(() => newRoomId(() => new Uint8Array(17))).toThrow();
  });

  it('isRoomId rejects short, long, uppercase, non-alphabet and non-canonical ids', () => {
    const last = ROOM.at(-1)!;
    // The 26th char carries 3 data bits + 2 zero bits; flipping a low bit is non-canonical.
    const nonCanonical = ROOM.slice(0, 25) + 'abcdefghijklmnopqrstuvwxyz234567'['abcdefghijklmnopqrstuvwxyz234567'.indexOf(last) | 1];
    for (const bad of [
      ROOM.slice(0, 25),
      `${ROOM}a`,
      ROOM.toUpperCase(),
      `${ROOM.slice(0, 25)}1`,
      `${ROOM.slice(0, 25)}8`,
      `${ROOM.slice(0, 25)}=`,
      nonCanonical,
      ` ${ROOM.slice(1)}`,
      '',
      null,
      undefined,
      12345,
    ]) {
      expect(isRoomId(bad), String(bad)).toBe(false);
    }
    expect(() => roomIdBytes('nope')).toThrow();
  });
});

describe('encodeLink', () => {
  it('puts everything in the fragment', () => {
    const link: RoomLink = { version: 1, roomId: ROOM, gate: 'open' };
    expect(encodeLink(link)).toBe(`${DEFAULT_LINK_BASE}#v=1&r=${ROOM}&g=open`);
    expect(encodeLink(link, 'https://kibitz.example/join')).toBe(`https://kibitz.example/join#v=1&r=${ROOM}&g=open`);
    const url = new URL(encodeLink(link, 'https://kibitz.example/join'));
    expect(url.pathname + url.search).not.toContain(ROOM); // what a server would see
  });

  it('refuses invalid links and bases', () => {
    expect(() => encodeLink({ version: 1, roomId: 'short', gate: 'open' })).toThrow();
    expect(() => encodeLink({ version: 2 as 1, roomId: ROOM, gate: 'open' })).toThrow();
    expect(() => encodeLink({ version: 1, roomId: ROOM, gate: 'oidc' as 'open' })).toThrow();
    expect(() => encodeLink({ version: 1, roomId: ROOM, gate: 'open' }, 'https://x/#frag')).toThrow();
    expect(() => encodeLink({ version: 1, roomId: ROOM, gate: 'open' }, '')).toThrow();
  });
});

describe('parseLink', () => {
  it('round-trips encodeLink; only an invite page names a broker', () => {
    for (const base of [DEFAULT_LINK_BASE, 'chrome-extension://abc/popup.html']) {
      const link: RoomLink = { version: 1, roomId: newRoomId(rnd), gate: 'open' };
      expect(parseLink(encodeLink(link, base))).toEqual({ ok: true, link });
    }
    const link: RoomLink = { version: 1, roomId: newRoomId(rnd), gate: 'open' };
    expect(parseLink(encodeLink(link, 'https://kibitz.example/join'))).toEqual({ ok: true, link: { ...link, broker: 'wss://kibitz.example/' } });
  });

  it('trims surrounding whitespace and accepts any parameter order', () => {
    expect(parseLink(`  \n${GOOD}\t `)).toEqual({ ok: true, link: { version: 1, roomId: ROOM, gate: 'open' } });
    expect(parseLink(`kibitz://call#g=open&r=${ROOM}&v=1`).ok).toBe(true);
    expect(parseLink(`#v=1&r=${ROOM}&g=open`).ok).toBe(true); // the bare fragment
  });

  it('rejects text without a fragment', () => {
    expectError('', /not a Kibitz link/);
    expectError('   ', /not a Kibitz link/);
    expectError(`kibitz://call?v=1&r=${ROOM}&g=open`, /missing/);
    expectError(ROOM, /missing/);
    expectError('kibitz://call#', /missing/);
  });

  it('rejects a wrong or missing version', () => {
    expectError(`kibitz://call#v=2&r=${ROOM}&g=open`, /newer version/);
    expectError(`kibitz://call#v=99&r=${ROOM}&g=open&x=1`, /newer version/);
    expectError(`kibitz://call#v=0&r=${ROOM}&g=open`, /invalid version/);
    expectError(`kibitz://call#v=01&r=${ROOM}&g=open`, /invalid version/);
    expectError(`kibitz://call#v=1.0&r=${ROOM}&g=open`, /invalid version/);
    expectError(`kibitz://call#v=&r=${ROOM}&g=open`, /invalid version/);
    expectError(`kibitz://call#r=${ROOM}&g=open`, /missing its version/);
  });

  it('rejects short, long, non-canonical, uppercase and missing room ids', () => {
    const last = ROOM.at(-1)!;
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    const nonCanonical = ROOM.slice(0, 25) + alphabet[alphabet.indexOf(last) | 1];
    for (const r of [ROOM.slice(0, 25), `${ROOM}q`, nonCanonical, ROOM.toUpperCase(), `${ROOM.slice(0, 25)}0`, '', `${ROOM.slice(0, 24)}%61a`]) {
      expectError(`kibitz://call#v=1&r=${r}&g=open`, /invalid room/);
    }
    expectError('kibitz://call#v=1&g=open', /missing its room/);
  });

  it('rejects duplicate keys, even with equal values', () => {
    expectError(`kibitz://call#v=1&r=${ROOM}&g=open&r=${ROOM}`, /twice/);
    expectError(`kibitz://call#v=1&v=1&r=${ROOM}&g=open`, /twice/);
    expectError(`kibitz://call#v=1&r=${ROOM}&g=open&g=open`, /twice/);
  });

  it('rejects unknown keys with an update message (never ignores a security parameter)', () => {
    expectError(`kibitz://call#v=1&r=${ROOM}&g=open&hk=abc`, /newer version of Kibitz/);
    expectError(`kibitz://call#v=1&r=${ROOM}&g=open&R=${ROOM}`, /newer version of Kibitz/);
    expectError(`kibitz://call#v=1&r=${ROOM}&g=open&x=`, /newer version of Kibitz/);
  });

  it('rejects unknown gate modes (no downgrade to open)', () => {
    for (const g of ['oidc', 'invite', 'Open', 'OPEN', '', 'open,oidc', 'open%20', 'opEn']) {
      expectError(`kibitz://call#v=1&r=${ROOM}&g=${g}`, /access mode/);
    }
    expectError(`kibitz://call#v=1&r=${ROOM}&g=open &x=1`, /malformed/);
    expectError(`kibitz://call#v=1&r=${ROOM}`, /missing its access mode/);
  });

  it('rejects oversize input', () => {
    const padded = `https://kibitz.example/${'a'.repeat(MAX_LINK_CHARS)}#v=1&r=${ROOM}&g=open`;
    expectError(padded, /too long/);
    expectError('x'.repeat(1_000_000), /too long/);
    // Exactly at the limit is fine.
    const atLimit = `kibitz://call/${'a'.repeat(MAX_LINK_CHARS - GOOD.length - 1)}${GOOD.slice('kibitz://call'.length)}`;
    expect(atLimit.length).toBeLessThanOrEqual(MAX_LINK_CHARS);
    expect(parseLink(atLimit).ok).toBe(true);
  });

  it('rejects malformed pair syntax', () => {
    for (const frag of [
      `v=1&r=${ROOM}&g=open&`,
      `&v=1&r=${ROOM}&g=open`,
      `v=1&&r=${ROOM}&g=open`,
      `v=1&r=${ROOM}&g=open&=x`,
      `v=1&r=${ROOM}&open`,
      `v=1;r=${ROOM};g=open`,
    ]) {
      expect(parseLink(`kibitz://call#${frag}`).ok, frag).toBe(false);
    }
  });

  it('rejects garbage and embedded control characters without echoing input', () => {
    const hostile = 'Call +1-555-0100 to verify your account';
    for (const text of [
      'hello',
      '#',
      '##',
      '&&&',
      '\u0000\u0001',
      `kibitz://call#v=1&r=${ROOM}&g=open\u0000`,
      `kibitz://call#v=1&r=${ROOM}\n&g=open`,
      `kibitz://ca ll#v=1&r=${ROOM}&g=open`,
      `kibitz://call#v=1&r=${ROOM}&g=open&${encodeURIComponent(hostile)}=1`,
      `kibitz://call#v=1&r=${ROOM}&g=${hostile}`,
      `kibitz://call#v=1&r=${ROOM}&g=open#v=1`,
    ]) {
      const err = expectError(text);
      expect(err).not.toContain('555');
    }
  });

  it('never throws on non-string input', () => {
    for (const v of [null, undefined, 42, {}, []]) {
      expect(parseLink(v as unknown as string).ok).toBe(false);
    }
  });

  it('rejects a percent-encoded room id rather than decoding it', () => {
    const enc = ROOM.replace(/^./, (c) => `%${c.charCodeAt(0).toString(16)}`);
    expectError(`kibitz://call#v=1&r=${enc}&g=open`, /invalid room/);
  });
});

describe('invite links on the broker origin', () => {
  const room = newRoomId(rnd);
  const frag = `#v=1&r=${room}&g=open`;

  it('maps a broker to its invite page and back (ws↔http, wss↔https, prefix and port kept)', () => {
    const cases: Array<[string, string]> = [
      ['ws://127.0.0.1:8787', 'http://127.0.0.1:8787/join'],
      ['ws://127.0.0.1:8787/', 'http://127.0.0.1:8787/join'],
      ['wss://broker.example.org', 'https://broker.example.org/join'],
      ['wss://example.org/kibitz', 'https://example.org/kibitz/join'],
      ['wss://example.org/kibitz/', 'https://example.org/kibitz/join'],
      ['ws://[::1]:9000', 'http://[::1]:9000/join'],
    ];
    for (const [broker, base] of cases) {
      expect(inviteBaseFor(broker)).toBe(base);
      const back = brokerOfInviteBase(base)!;
      expect(back).not.toBeNull();
      // The same place once normalised: the invite of the way back is the same invite.
      expect(inviteBaseFor(back)).toBe(base);
    }
  });

  it('an invite names its broker; the parse keeps the room and the gate', () => {
    const res = parseLink(`http://127.0.0.1:8787/join${frag}`);
    expect(res).toEqual({ ok: true, link: { version: 1, roomId: room, gate: 'open', broker: 'ws://127.0.0.1:8787/' } });
    expect(parseLink(`https://b.example/x/join${frag}`)).toMatchObject({ ok: true, link: { broker: 'wss://b.example/x/' } });
  });

  it('old kibitz:// links still parse and name no broker', () => {
    const res = parseLink(`kibitz://call${frag}`);
    expect(res.ok).toBe(true);
    if (res.ok) expect(res.link.broker).toBeUndefined();
  });

  it('refuses a web address that is not an invite page, or that hides credentials', () => {
    expectError(`https://evil.example/page${frag}`, /not a Kibitz invite/);
    expectError(`https://evil.example/join/${frag}`, /not a Kibitz invite/);
    expectError(`https://evil.example/joiner${frag}`, /not a Kibitz invite/);
    expectError(`https://user:pw@evil.example/join${frag}`, /not a Kibitz invite/);
    expectError(`https:///join${frag}`, /not a Kibitz invite/);
    // An invite whose broker address would be too long is refused, not cut.
    expectError(`https://b.example/${'a'.repeat(2100)}/join${frag}`, /not a Kibitz invite/);
  });

  it('refuses to build an invite for a bad broker', () => {
    expect(() => inviteBaseFor('http://b.example')).toThrow();
    expect(() => inviteBaseFor('wss://u:p@b.example')).toThrow();
    expect(() => inviteBaseFor('')).toThrow();
  });
});

describe('invite pages only where no one on the path can rewrite them', () => {
  it('a plain ws:// broker beyond loopback gets kibitz:// links, not an http:// invite page', () => {
    expect(inviteBaseFor('ws://192.168.1.5:8787')).toBe(DEFAULT_LINK_BASE);
    expect(inviteBaseFor('ws://broker.lan')).toBe(DEFAULT_LINK_BASE);
    expect(inviteBaseFor('ws://localhost:8787')).toBe('http://localhost:8787/join');
    expect(inviteBaseFor('wss://192.168.1.5')).toBe('https://192.168.1.5/join');
  });
});
