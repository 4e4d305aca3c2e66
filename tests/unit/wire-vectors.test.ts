/**
 * Golden vectors for the peer-to-peer wire (raw text in, parsed message or reason out, for
 * every kind of every channel), plus property tests: a valid message survives encode/parse
 * unchanged, and no input makes a parser throw or answer outside its reason vocabulary.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_REASONS,
  CHAT_ID_LENGTH,
  CONTENT_KINDS,
  CONTROL_KINDS,
  LINK_ID_LENGTH,
  MAX_CONTENT_BYTES,
  MAX_CONTROL_BYTES,
  MAX_EPOCH,
  MAX_FEATURES,
  MAX_ROSTER_MEMBERS,
  MAX_SDP_MLINE_INDEX,
  MAX_SIGNAL_BYTES,
  MAX_SIGNAL_SEQ,
  MAX_WIRE_TIME,
  MEDIA_LANES,
  SIGNAL_KINDS,
  cleanName,
  encode,
  hasForbiddenNameCharacters,
  parseContent,
  parseControl,
  parseSignal,
  type ContentMessage,
  type ControlMessage,
  type Parsed,
  type RosterEntry,
  type SignalMessage,
  type WireChannel,
} from '../../src/engine/wire';
import { MAX_CHAT_LENGTH } from '../../src/engine/session-api';

interface Vector {
  name: string;
  channel: WireChannel;
  kind: string | null;
  raw: string;
  expect: { ok: true; msg: unknown } | { ok: false; reason: string };
}
interface VectorFile {
  version: number;
  limits: Record<string, number>;
  vectors: Vector[];
}

const file = JSON.parse(readFileSync(new URL('./vectors/wire-vectors.json', import.meta.url), 'utf8')) as VectorFile;
const parsers: Record<WireChannel, (raw: unknown) => Parsed<unknown>> = {
  control: parseControl,
  content: parseContent,
  signal: parseSignal,
};
const KINDS: Record<WireChannel, readonly string[]> = { control: CONTROL_KINDS, content: CONTENT_KINDS, signal: SIGNAL_KINDS };
const CHANNELS: readonly WireChannel[] = ['control', 'content', 'signal'];

/** Every object and array in `v` is a plain one with the ordinary prototype. */
function plain(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  const proto = Object.getPrototypeOf(v);
  if (Array.isArray(v)) return proto === Array.prototype && v.every(plain);
  return proto === Object.prototype && Object.values(v).every(plain);
}

describe('golden vectors', () => {
  it('are written against the current limits', () => {
    expect(file.version).toBe(1);
    expect(file.limits).toEqual({
      MAX_CONTROL_BYTES,
      MAX_CONTENT_BYTES,
      MAX_SIGNAL_BYTES,
      MAX_ROSTER_MEMBERS,
      MAX_WIRE_TIME,
      MAX_EPOCH,
      MAX_SIGNAL_SEQ,
      MAX_SDP_MLINE_INDEX,
    });
  });

  it('have unique names', () => {
    const keys = file.vectors.map((v) => `${v.channel}/${v.kind ?? '*'}/${v.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each(file.vectors.map((v) => [`${v.channel} ${v.kind ?? '*'}: ${v.name}`, v] as const))('%s', (_, vec) => {
    const got = parsers[vec.channel](vec.raw);
    expect(got).toStrictEqual(vec.expect);
    if (got.ok) {
      expect(plain(got.msg)).toBe(true);
      // What was accepted re-encodes to something that parses to itself.
      expect(parsers[vec.channel](encode(got.msg as ControlMessage))).toStrictEqual(got);
    } else {
      expect(CHANNEL_REASONS[vec.channel].has(got.reason)).toBe(true);
    }
  });

  it('cover every kind of every channel, accepted and rejected', () => {
    for (const channel of CHANNELS) {
      for (const kind of KINDS[channel]) {
        const mine = file.vectors.filter((v) => v.channel === channel && v.kind === kind);
        expect(mine.some((v) => v.expect.ok), `${channel}/${kind} accepted`).toBe(true);
        expect(mine.some((v) => !v.expect.ok), `${channel}/${kind} rejected`).toBe(true);
        // An accepted vector of this kind really is of this kind.
        for (const v of mine) if (v.expect.ok) expect((v.expect.msg as Record<string, unknown>)[channel === 'signal' ? 'k' : 'kind']).toBe(kind);
      }
    }
  });

  it('exemplify every reason each channel can give', () => {
    // `not-text` needs a non-string (covered in wire.test.ts); `invalid` is a defect marker.
    const untestable = new Set(['not-text', 'invalid']);
    for (const channel of CHANNELS) {
      const seen = new Set(file.vectors.filter((v) => v.channel === channel && !v.expect.ok).map((v) => (v.expect as { reason: string }).reason));
      const missing = [...CHANNEL_REASONS[channel]].filter((r) => !untestable.has(r) && !seen.has(r));
      expect(missing, channel).toEqual([]);
    }
  });

  it('include the attacks the issue names', () => {
    const has = (pred: (v: Vector) => boolean) => file.vectors.some(pred);
    const rejected = (reason: string) => (v: Vector) => !v.expect.ok && v.expect.reason === reason;
    expect(has((v) => rejected('bad-field:at')(v) && v.raw.includes('8640000000000001'))).toBe(true);
    expect(has((v) => rejected('bad-field:epoch')(v) && v.raw.includes(String(2 ** 53 - 1)))).toBe(true);
    expect(has((v) => rejected('too-many-members')(v))).toBe(true);
    expect(has((v) => rejected('duplicate-peer-id')(v))).toBe(true);
    expect(has((v) => rejected('duplicate-fingerprint')(v))).toBe(true);
    expect(has((v) => rejected('bad-field:members.*.fingerprint')(v))).toBe(true);
    expect(has((v) => !v.expect.ok && v.expect.reason.endsWith('name') && v.raw.includes('\u202e'))).toBe(true);
    for (const key of ['__proto__', 'constructor']) {
      expect(has((v) => !v.expect.ok && v.expect.reason.startsWith('extra-field') && v.raw.includes(`"${key}"`)), key).toBe(true);
    }
    expect(has((v) => !v.expect.ok && /\\u?d[89a-f][0-9a-f]{2}|[\ud800-\udfff]/.test(v.raw))).toBe(true);
    for (const channel of CHANNELS) {
      for (const reason of ['too-large', 'not-json', 'not-object', 'unknown-kind', 'extra-field']) {
        expect(has((v) => v.channel === channel && rejected(reason)(v)), `${channel} ${reason}`).toBe(true);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

/** fc.record, but with the ordinary prototype (what JSON.parse and the schemas produce). */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64 = (length: number) => fc.string({ unit: fc.constantFrom(...B64), minLength: length, maxLength: length });
const peerId = fc.tuple(b64(21), fc.constantFrom(...'AQgw')).map(([a, b]) => a + b);
const b64url32 = fc.tuple(b64(42), fc.constantFrom(...'AEIMQUYcgkosw048')).map(([a, b]) => a + b);
const fingerprint = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':'));
const upTo = (max: number) =>
  fc.oneof(fc.constant(0), fc.constant(max), fc.bigInt({ min: 0n, max: BigInt(max) }).map(Number));
const NAME_CHARS = [...'abcxyzABCXYZ019 -.\'', '\u00e9', '\u00df', '\u0416', '\u8a9e', '\u4e2d', '\ud83d\ude00'];
const name = fc
  .array(fc.constantFrom(...NAME_CHARS), { minLength: 1, maxLength: 64 })
  .map((parts) => parts.join(''))
  .filter((s) => cleanName(s) === s);
const wellFormed = (minLength: number, maxLength: number) => fc.string({ unit: 'grapheme', minLength, maxLength }).filter((s) => s.length >= minLength && s.length <= maxLength);

const rosterEntry: fc.Arbitrary<RosterEntry> = rec({ peerId, name, kind: fc.constantFrom('human', 'agent'), fingerprint });
const members = fc.uniqueArray(rosterEntry, {
  maxLength: 6,
  comparator: (a, b) => a.peerId === b.peerId || a.fingerprint === b.fingerprint,
});

const control: fc.Arbitrary<ControlMessage> = fc.oneof(
  rec({
    kind: fc.constant('hello'),
    name,
    participant: fc.constantFrom('human', 'agent'),
    credential: fc.option(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), { nil: null }),
    features: fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,32}$/), { maxLength: MAX_FEATURES }),
  }),
  rec({ kind: fc.constantFrom('welcome', 'roster'), coordinator: peerId, epoch: upTo(MAX_EPOCH), members }),
  rec({ kind: fc.constant('refused'), reason: wellFormed(1, 200).filter((s) => !hasForbiddenNameCharacters(s)) }),
  rec({ kind: fc.constantFrom('ping', 'pong'), at: upTo(MAX_WIRE_TIME) }),
  fc.constant({ kind: 'bye' as const }),
  rec({ kind: fc.constant('sas-commit'), commit: b64url32 }),
  rec({ kind: fc.constant('sas-reveal'), nonce: b64url32 }),
  rec({ kind: fc.constant('media'), sending: fc.uniqueArray(fc.constantFrom(...MEDIA_LANES)) }),
) as fc.Arbitrary<ControlMessage>;

const content: fc.Arbitrary<ContentMessage> = rec({
  kind: fc.constant('chat'),
  id: b64(CHAT_ID_LENGTH),
  text: wellFormed(1, 300).filter((s) => s.length <= MAX_CHAT_LENGTH),
  at: upTo(MAX_WIRE_TIME),
});

const signal: fc.Arbitrary<SignalMessage> = fc.oneof(
  rec({
    k: fc.constant('desc'),
    link: b64(LINK_ID_LENGTH),
    seq: upTo(MAX_SIGNAL_SEQ),
    desc: rec({ type: fc.constantFrom('offer', 'answer'), sdp: wellFormed(7, 500).map((s) => `v=0\r\n${s}`) }),
  }),
  rec({
    k: fc.constant('cand'),
    link: b64(LINK_ID_LENGTH),
    seq: upTo(MAX_SIGNAL_SEQ),
    cand: fc.option(
      rec({
        candidate: wellFormed(0, 200),
        sdpMid: fc.option(wellFormed(0, 32), { nil: null }),
        sdpMLineIndex: fc.option(upTo(MAX_SDP_MLINE_INDEX), { nil: null }),
      }),
      { nil: null },
    ),
  }),
) as fc.Arbitrary<SignalMessage>;

const VALID: Record<WireChannel, fc.Arbitrary<unknown>> = { control, content, signal };

/** A valid message of some channel with one field replaced, removed or added. */
const mutated = fc
  .tuple(fc.oneof(control, content, signal), fc.jsonValue(), fc.nat(), fc.constantFrom('replace', 'remove', 'add'), fc.string())
  .map(([msg, value, at, how, key]) => {
    const o: Record<string, unknown> = structuredClone(msg) as Record<string, unknown>;
    const keys = Object.keys(o);
    const target = keys[at % keys.length]!;
    if (how === 'replace') o[target] = value;
    else if (how === 'remove') delete o[target];
    else o[key] = value;
    return JSON.stringify(o);
  });

const LONE = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\\ud800', '\\udfff');
const hostileText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.json(),
  fc.jsonValue().map((x) => JSON.stringify(x)),
  mutated,
  fc.tuple(mutated, fc.nat(), LONE).map(([s, at, lone]) => s.slice(0, at % (s.length + 1)) + lone + s.slice(at % (s.length + 1))),
  fc.constantFrom('{"__proto__":{"kind":"bye"}}', '{"kind":"bye","__proto__":null}', '{"constructor":{"prototype":{"kind":"bye"}}}'),
);

describe('properties', () => {
  for (const channel of CHANNELS) {
    it(`${channel}: parse(encode(x)) deep-equals x for valid messages`, () => {
      fc.assert(
        fc.property(VALID[channel], (msg) => {
          expect(parsers[channel](encode(msg as ControlMessage))).toStrictEqual({ ok: true, msg });
        }),
        { numRuns: 300 },
      );
    });
  }

  it('no text makes any parser throw or answer outside its vocabulary', () => {
    fc.assert(
      fc.property(hostileText, (raw) => {
        for (const channel of CHANNELS) {
          const r = parsers[channel](raw);
          if (r.ok) {
            expect(plain(r.msg)).toBe(true);
            expect(parsers[channel](encode(r.msg as ControlMessage))).toStrictEqual(r);
          } else {
            expect(CHANNEL_REASONS[channel].has(r.reason), r.reason).toBe(true);
            expect(r.reason).not.toBe('invalid');
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('no value of any type makes a parser throw', () => {
    fc.assert(
      fc.property(fc.anything(), (raw) => {
        for (const channel of CHANNELS) {
          const r = parsers[channel](raw);
          if (typeof raw !== 'string') expect(r).toEqual({ ok: false, reason: 'not-text' });
        }
      }),
      { numRuns: 200 },
    );
  });
});
