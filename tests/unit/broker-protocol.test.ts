import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BROKER_PROTOCOL_VERSION,
  DEFAULT_LIMITS,
  ERROR_CODES,
  TokenBucket,
  helloLimitsOf,
  isPeerId,
  isPeerTokenText,
  isSid,
  LIMIT_MAX,
  logPrefix,
  newPeerToken,
  encodePeerToken,
  parseClientFrame,
  parseServerFrame,
  peerIdFromToken,
  peerIdFromTokenText,
  resolveLimits,
  utf8Length,
  type ClientFrame,
  type ServerFrame,
} from '../../src/engine/broker-protocol';
import { peerId, peerToken, sidOf } from './broker-helpers';

const ID = peerId();
const ID2 = peerId();
const TOKEN = peerToken().text;
const SID = sidOf('room-1');

describe('broker protocol: constants', () => {
  it('has the documented defaults', () => {
    expect(BROKER_PROTOCOL_VERSION).toBe(2);
    expect(DEFAULT_LIMITS).toMatchObject({
      maxFrameBytes: 65536,
      messagesPerSecond: 50,
      burst: 100,
      connectionsPerIp: 20,
      maxClaimsPerConnection: 16,
      maxWatchesPerConnection: 16,
      handshakeTimeoutMs: 5_000,
      pingIntervalMs: 15_000,
      pongTimeoutMs: 30_000,
    });
    expect(Object.isFrozen(DEFAULT_LIMITS)).toBe(true);
    for (const code of ['bad-frame', 'too-large', 'rate-limited', 'too-many-connections', 'not-registered', 'id-taken', 'no-such-peer', 'unknown-type']) {
      expect(ERROR_CODES).toContain(code);
    }
  });

  it('resolves limit overrides and rejects nonsense', () => {
    expect(resolveLimits({ burst: 3 }).burst).toBe(3);
    expect(resolveLimits().maxFrameBytes).toBe(65536);
    expect(() => resolveLimits({ burst: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ burst: -1 })).toThrow(RangeError);
    expect(() => resolveLimits({ burst: 1.5 })).toThrow(RangeError);
    expect(() => resolveLimits({ burst: Number.NaN })).toThrow(RangeError);
    expect(resolveLimits({ handshakeTimeoutMs: 1000 }).handshakeTimeoutMs).toBe(1000);
    expect(() => resolveLimits({ handshakeTimeoutMs: LIMIT_MAX.handshakeTimeoutMs + 1 })).toThrow(RangeError);
    expect(() => resolveLimits({ maxFrameBytes: 2 ** 40 })).toThrow(RangeError);
    expect(helloLimitsOf(DEFAULT_LIMITS)).toEqual({
      maxFrameBytes: 65536,
      messagesPerSecond: 50,
      burst: 100,
      maxClaimsPerConnection: 16,
      maxWatchesPerConnection: 16,
    });
  });
});

describe('broker protocol: identifiers', () => {
  it('accepts real peer ids and sids', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(16);
      expect(isPeerId(bytes.toString('base64url'))).toBe(true);
      const sid = createHash('sha256').update(String(i)).digest('base64url');
      expect(isSid(sid)).toBe(true);
    }
    expect(isPeerTokenText(encodePeerToken(newPeerToken((n) => randomBytes(n))))).toBe(true);
  });

  it('rejects wrong lengths, alphabets, padding and non-canonical encodings', () => {
    const bad = [
      ID.slice(0, 21),
      `${ID}A`,
      `${ID.slice(0, 21)}=`,
      `${ID.slice(0, 20)}+/`,
      `${ID.slice(0, 21)}B`, // non-canonical: low bits of the last char must be zero
      ` ${ID.slice(1)}`,
      `${ID.slice(0, 21)}\n`,
      '',
      42,
      null,
      undefined,
      { id: ID },
      [ID],
    ];
    for (const v of bad) expect(isPeerId(v)).toBe(false);
    const badSids = [SID.slice(0, 42), `${SID}A`, `${SID}=`, `${SID.slice(0, 42)}B`, SID.replace(/./, '+'), ID];
    for (const v of badSids) expect(isSid(v)).toBe(false);
  });

  it('newPeerToken refuses a broken random source, and copies its output', () => {
    expect(() => newPeerToken(() => new Uint8Array(8))).toThrow();
    const src = new Uint8Array(32).fill(7);
    const t = newPeerToken(() => src);
    src.fill(0);
    expect(t[0]).toBe(7);
  });

  it('peerIdFromToken is base64url(SHA-256("kibitz/peer|" + base64url(token))[0..16])', () => {
    for (let i = 0; i < 50; i++) {
      const token = new Uint8Array(randomBytes(32));
      const text = Buffer.from(token).toString('base64url');
      const expected = createHash('sha256').update(`kibitz/peer|${text}`).digest().subarray(0, 16).toString('base64url');
      expect(peerIdFromToken(token)).toBe(expected);
      expect(peerIdFromTokenText(text)).toBe(expected);
      expect(isPeerId(expected)).toBe(true);
    }
    // A fixed vector, so the derivation cannot drift silently.
    expect(peerIdFromToken(new Uint8Array(32))).toBe(
      createHash('sha256').update(`kibitz/peer|${'A'.repeat(43)}`).digest().subarray(0, 16).toString('base64url'),
    );
    expect(() => peerIdFromToken(new Uint8Array(31))).toThrow(TypeError);
    expect(() => peerIdFromTokenText(`${'A'.repeat(42)}B`)).toThrow(TypeError); // non-canonical spelling
  });

  it('log prefixes are short', () => {
    expect(logPrefix(SID)).toHaveLength(6);
  });
});

describe('broker protocol: client frames', () => {
  const valid: ClientFrame[] = [
    { t: 'register', token: TOKEN },
    { t: 'claim', sid: SID, q: 1 },
    { t: 'release', sid: SID, q: 2 },
    { t: 'holder', sid: SID, q: 3 },
    { t: 'watch', sid: SID, q: 0 },
    { t: 'unwatch', sid: SID },
    { t: 'send', to: ID, blob: 'sealed:abc' },
    { t: 'send', to: ID, blob: '' },
    { t: 'ping' },
    { t: 'ping', q: Number.MAX_SAFE_INTEGER },
  ];

  it('accepts every valid frame, from a string or an object', () => {
    for (const f of valid) {
      expect(parseClientFrame(JSON.stringify(f))).toEqual({ ok: true, frame: f });
      expect(parseClientFrame(f)).toEqual({ ok: true, frame: f });
    }
  });

  it('returns a fresh object, not the input', () => {
    const input = { t: 'claim', sid: SID, q: 1 };
    const r = parseClientFrame(input);
    expect(r.ok && r.frame).not.toBe(input);
  });

  const cases: [string, unknown, 'bad-frame' | 'unknown-type'][] = [
    ['invalid JSON', '{"t":"register",', 'bad-frame'],
    ['empty string', '', 'bad-frame'],
    ['JSON array', '[1,2]', 'bad-frame'],
    ['JSON string', '"register"', 'bad-frame'],
    ['JSON null', 'null', 'bad-frame'],
    ['number', 7, 'bad-frame'],
    ['missing t', { id: ID }, 'bad-frame'],
    ['numeric t', { t: 1 }, 'bad-frame'],
    ['unknown t', { t: 'shutdown' }, 'unknown-type'],
    ['server-only t', { t: 'msg', from: ID, blob: 'x' }, 'unknown-type'],
    ['inherited name as t', { t: 'constructor' }, 'unknown-type'],
    ['__proto__ as t', { t: '__proto__' }, 'unknown-type'],
    ['toString as t', { t: 'toString' }, 'unknown-type'],
    ['missing token', { t: 'register' }, 'bad-frame'],
    ['v1 register by id', { t: 'register', id: ID }, 'bad-frame'],
    ['register with token and id', { t: 'register', token: TOKEN, id: ID }, 'bad-frame'],
    ['bad token', { t: 'register', token: 'alice' }, 'bad-frame'],
    ['null token', { t: 'register', token: null }, 'bad-frame'],
    ['token as bytes', { t: 'register', token: Array.from(randomBytes(32)) }, 'bad-frame'],
    ['non-canonical token', { t: 'register', token: `${TOKEN.slice(0, 42)}B` }, 'bad-frame'],
    ['missing sid', { t: 'claim', q: 1 }, 'bad-frame'],
    ['bad sid', { t: 'claim', sid: 'room-1', q: 1 }, 'bad-frame'],
    ['room name hashed wrongly (hex)', { t: 'claim', sid: createHash('sha256').update('x').digest('hex'), q: 1 }, 'bad-frame'],
    ['missing q', { t: 'claim', sid: SID }, 'bad-frame'],
    ['string q', { t: 'claim', sid: SID, q: '1' }, 'bad-frame'],
    ['negative q', { t: 'claim', sid: SID, q: -1 }, 'bad-frame'],
    ['fractional q', { t: 'claim', sid: SID, q: 1.5 }, 'bad-frame'],
    ['unsafe q', { t: 'claim', sid: SID, q: 2 ** 60 }, 'bad-frame'],
    ['extra field', { t: 'claim', sid: SID, q: 1, force: true }, 'bad-frame'],
    ['spoofed from on send', { t: 'send', to: ID, blob: 'x', from: ID2 }, 'bad-frame'],
    ['__proto__ field', '{"t":"ping","__proto__":{"polluted":1}}', 'bad-frame'],
    ['non-string blob', { t: 'send', to: ID, blob: { sdp: 'v=0' } }, 'bad-frame'],
    ['missing blob', { t: 'send', to: ID }, 'bad-frame'],
    ['bad to', { t: 'send', to: 'everyone', blob: 'x' }, 'bad-frame'],
    ['oversized blob', { t: 'send', to: ID, blob: 'x'.repeat(65537) }, 'bad-frame'],
  ];

  for (const [name, raw, code] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      const r = parseClientFrame(raw);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe(code);
        expect(r.message.length).toBeGreaterThan(0);
        expect(r.message.length).toBeLessThanOrEqual(500);
      }
    });
  }

  it('does not pollute prototypes', () => {
    parseClientFrame('{"t":"ping","__proto__":{"polluted":1}}');
    parseClientFrame('{"t":"__proto__"}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('echoes a well-formed q on rejection so requests fail fast', () => {
    expect(parseClientFrame({ t: 'claim', sid: 'bad', q: 9 })).toMatchObject({ ok: false, q: 9 });
    expect(parseClientFrame({ t: 'nope', q: 4 })).toMatchObject({ ok: false, code: 'unknown-type', q: 4 });
    expect(parseClientFrame({ t: 'claim', sid: 'bad', q: 'x' })).not.toHaveProperty('q');
  });

  it('honours a custom blob limit', () => {
    expect(parseClientFrame({ t: 'send', to: ID, blob: 'x'.repeat(11) }, { maxBlobLength: 10 }).ok).toBe(false);
    expect(parseClientFrame({ t: 'send', to: ID, blob: 'x'.repeat(10) }, { maxBlobLength: 10 }).ok).toBe(true);
  });
});

describe('broker protocol: server frames', () => {
  const limits = helloLimitsOf(DEFAULT_LIMITS);
  const valid: ServerFrame[] = [
    { t: 'hello', v: 2, limits },
    { t: 'registered', id: ID },
    { t: 'claimed', sid: SID, q: 1, ok: true, holder: ID },
    { t: 'claimed', sid: SID, q: 1, ok: false, holder: ID2 },
    { t: 'holder', sid: SID, q: 2, holder: ID },
    { t: 'holder', sid: SID, q: 2, holder: null },
    { t: 'released', sid: SID, former: ID },
    { t: 'released', sid: SID, former: null },
    { t: 'watching', sid: SID, q: 3 },
    { t: 'msg', from: ID, blob: 'sealed' },
    { t: 'pong' },
    { t: 'pong', q: 5 },
    { t: 'error', code: 'no-such-peer', message: 'no such peer', fatal: false, to: ID },
    { t: 'error', code: 'rate-limited', message: 'slow down', fatal: true },
    { t: 'error', code: 'too-many-claims', message: 'limit', fatal: false, q: 7 },
  ];

  it('accepts every valid frame', () => {
    for (const f of valid) expect(parseServerFrame(JSON.stringify(f))).toEqual({ ok: true, frame: f });
  });

  it('ignores unknown limit keys but requires the known ones', () => {
    const r = parseServerFrame({ t: 'hello', v: 2, limits: { ...limits, futureLimit: 3 } });
    expect(r).toEqual({ ok: true, frame: { t: 'hello', v: 2, limits } });
    const { burst: _, ...missing } = limits;
    expect(parseServerFrame({ t: 'hello', v: 2, limits: missing })).toMatchObject({ ok: false, message: 'hello frame is missing field limits.burst' });
    expect(parseServerFrame({ t: 'hello', v: 2, limits: { ...limits, burst: 0 } }).ok).toBe(false);
    expect(parseServerFrame({ t: 'hello', v: 2, limits: { ...limits, burst: 1e9 } }).ok).toBe(false);
    expect(parseServerFrame({ t: 'hello', v: 2, limits: [] }).ok).toBe(false);
  });

  const bad: [string, unknown][] = [
    ['v1 broker', { t: 'hello', v: 1, limits }],
    ['future version', { t: 'hello', v: 3, limits }],
    ['claimed without holder', { t: 'claimed', sid: SID, q: 1, ok: true }],
    ['claimed with null holder', { t: 'claimed', sid: SID, q: 1, ok: true, holder: null }],
    ['string ok', { t: 'claimed', sid: SID, q: 1, ok: 'yes', holder: ID }],
    ['msg from a non-id', { t: 'msg', from: 'broker', blob: 'x' }],
    ['msg with a non-string blob', { t: 'msg', from: ID, blob: 1 }],
    ['unknown error code', { t: 'error', code: 'pwned', message: 'x', fatal: false }],
    ['huge error message', { t: 'error', code: 'internal', message: 'x'.repeat(501), fatal: false }],
    ['client-only type', { t: 'register', token: TOKEN }],
    ['extra field', { t: 'pong', extra: 1 }],
  ];
  for (const [name, raw] of bad) {
    it(`rejects ${name}`, () => {
      expect(parseServerFrame(raw).ok).toBe(false);
    });
  }
});

describe('broker protocol: helpers', () => {
  it('utf8Length matches Buffer.byteLength, including surrogates', () => {
    const samples = ['', 'abc', 'é', '€', '😀', 'a😀b€é', '\ud800', '\udc00x', 'x\ud83d', JSON.stringify({ blob: '😀\u0000"' })];
    for (const s of samples) expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'));
  });

  it('token bucket allows a burst, then the refill rate', () => {
    const b = new TokenBucket(10, 5, 0);
    let taken = 0;
    while (b.take(0)) taken++;
    expect(taken).toBe(5);
    expect(b.waitMs(0)).toBe(100);
    expect(b.take(50)).toBe(false);
    expect(b.take(100)).toBe(true);
    expect(b.take(100)).toBe(false);
    // Long idle refills only up to capacity.
    taken = 0;
    while (b.take(1_000_000)) taken++;
    expect(taken).toBe(5);
  });

  it('token bucket is not drained by a clock stepping backwards', () => {
    const b = new TokenBucket(1, 2, 1000);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(1000)).toBe(true);
  });
});
