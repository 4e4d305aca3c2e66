import { describe, expect, it, vi } from 'vitest';
import type { MediaLane, ParticipantKind } from '../../src/engine/session-api';
import {
  CHANNEL_REASONS,
  CONTENT_KINDS,
  CONTROL_KINDS,
  ContentSchema,
  ControlSchema,
  MAX_CONTENT_BYTES,
  MAX_CONTROL_BYTES,
  MAX_ENCODED_ROSTER_ENTRY_BYTES,
  MAX_EPOCH,
  MAX_ROSTER_MEMBERS,
  MAX_SIGNAL_SEQ,
  MAX_WIRE_TIME,
  ROSTER_ENVELOPE_BYTES,
  SIGNAL_KINDS,
  SignalSchema,
  WIRE_REASONS,
  cleanName,
  encode,
  parseContent,
  parseControl,
  parseSignal,
  rosterFits,
  rosterProblem,
  utf8Length,
  type ContentMessage,
  type ControlMessage,
  type RosterEntry,
  type SignalMessage,
} from '../../src/engine/wire';

const PEER = 'AAAAAAAAAAAAAAAAAAAAAA';
const PEER2 = 'BBBBBBBBBBBBBBBBBBBBBB';
const FP = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').slice(-2)).join(':');

function j(v: unknown): string {
  return JSON.stringify(v);
}

describe('control messages', () => {
  it('accepts each well-formed kind', () => {
    const samples = [
      { kind: 'hello', name: 'Ada', participant: 'human', credential: null, features: ['sas-v1'] },
      { kind: 'welcome', coordinator: PEER, epoch: 2, members: [{ peerId: PEER, name: 'Ada', kind: 'human', fingerprint: FP }] },
      { kind: 'roster', coordinator: PEER, epoch: 3, members: [] },
      { kind: 'refused', reason: 'room is locked' },
      { kind: 'ping', at: 1 },
      { kind: 'pong', at: 1 },
      { kind: 'bye' },
      // Canonical base64url of 32 bytes: the last character's two unused bits are zero.
      { kind: 'sas-commit', commit: `${'a'.repeat(42)}A` },
      { kind: 'sas-reveal', nonce: `${'b'.repeat(42)}w` },
      { kind: 'media', sending: ['mic', 'camera'] },
    ];
    for (const s of samples) {
      const r = parseControl(j(s));
      expect(r.ok, JSON.stringify(s)).toBe(true);
    }
  });

  it('rejects malformed input without throwing', () => {
    const bad: unknown[] = [
      undefined,
      42,
      new ArrayBuffer(4),
      'not json',
      '[]',
      'null',
      j({}),
      j({ kind: 'nope' }),
      j({ kind: 'bye', extra: 1 }),
      j({ kind: 'ping', at: -1 }),
      j({ kind: 'ping', at: 1.5 }),
      j({ kind: 'hello', name: '', participant: 'human', credential: null, features: [] }),
      j({ kind: 'hello', name: 'x'.repeat(65), participant: 'human', credential: null, features: [] }),
      j({ kind: 'hello', name: 'Eve\u202e', participant: 'human', credential: null, features: [] }),
      j({ kind: 'hello', name: 'Eve', participant: 'admin', credential: null, features: [] }),
      j({ kind: 'hello', name: 'Eve', participant: 'human', credential: null, features: ['X'] }),
      j({ kind: 'roster', coordinator: 'short', epoch: 1, members: [] }),
      j({ kind: 'roster', coordinator: PEER, epoch: 1, members: [{ peerId: PEER, name: 'A', kind: 'human', fingerprint: 'AB' }] }),
      j({
        kind: 'roster',
        coordinator: PEER,
        epoch: 1,
        members: [
          { peerId: PEER2, name: 'A', kind: 'human', fingerprint: FP },
          { peerId: PEER2, name: 'B', kind: 'human', fingerprint: FP },
        ],
      }),
      j({ kind: 'sas-commit', commit: 'a'.repeat(42) }),
      j({ kind: 'sas-reveal', nonce: '+'.repeat(43) }),
      j({ kind: 'media', sending: ['screen'] }),
    ];
    for (const b of bad) {
      const r = parseControl(b);
      expect(r.ok, String(b)).toBe(false);
    }
  });

  it('rejects oversized messages before parsing them', () => {
    const huge = j({ kind: 'refused', reason: 'x'.repeat(MAX_CONTROL_BYTES) });
    const r = parseControl(huge);
    expect(r).toEqual({ ok: false, reason: 'too-large' });
    const multiByte = j({ kind: 'refused', reason: '\u20ac'.repeat(Math.ceil(MAX_CONTROL_BYTES / 3) + 10) });
    expect(parseControl(multiByte)).toEqual({ ok: false, reason: 'too-large' });
  });

  it('rejects an oversized roster', () => {
    const members = Array.from({ length: 65 }, (_, i) => ({
      peerId: (i.toString(36) + 'A'.repeat(22)).slice(0, 22),
      name: `m${i}`,
      kind: 'human',
      fingerprint: FP,
    }));
    expect(parseControl(j({ kind: 'roster', coordinator: PEER, epoch: 1, members })).ok).toBe(false);
  });
});

describe('content messages', () => {
  it('accepts chat and rejects bad chat', () => {
    expect(parseContent(j({ kind: 'chat', id: 'abcdefgh12345678', text: 'hi', at: 5 })).ok).toBe(true);
    expect(parseContent(j({ kind: 'chat', id: 'abc', text: 'hi', at: 5 })).ok).toBe(false);
    expect(parseContent(j({ kind: 'chat', id: 'abcdefgh12345678', text: '', at: 5 })).ok).toBe(false);
    expect(parseContent(j({ kind: 'chat', id: 'abcdefgh12345678', text: 'x'.repeat(4001), at: 5 })).ok).toBe(false);
    expect(parseContent(j({ kind: 'ink', id: 'abcdefgh12345678' })).ok).toBe(false);
    expect(parseContent('x'.repeat(MAX_CONTENT_BYTES + 1)).ok).toBe(false);
  });
});

describe('signal messages', () => {
  const link = 'C'.repeat(22);
  it('accepts descriptions and candidates', () => {
    expect(parseSignal(j({ k: 'desc', link, seq: 0, desc: { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n' } })).ok).toBe(true);
    expect(parseSignal(j({ k: 'cand', link, seq: 1, cand: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } })).ok).toBe(true);
    expect(parseSignal(j({ k: 'cand', link, seq: 2, cand: null })).ok).toBe(true);
  });
  it('rejects bad signals', () => {
    expect(parseSignal(j({ k: 'desc', link, seq: 0, desc: { type: 'rollback', sdp: 'v=0' } })).ok).toBe(false);
    expect(parseSignal(j({ k: 'desc', link, seq: 0, desc: { type: 'offer', sdp: 'hello world' } })).ok).toBe(false);
    expect(parseSignal(j({ k: 'desc', link: 'x', seq: 0, desc: { type: 'offer', sdp: 'v=0\r\n' } })).ok).toBe(false);
    expect(parseSignal(j({ k: 'cand', link, seq: -1, cand: null })).ok).toBe(false);
    expect(parseSignal(j({ k: 'zap', link, seq: 0 })).ok).toBe(false);
  });
});

describe('names', () => {
  it('trims and bounds names and refuses control and bidi-override characters', () => {
    expect(cleanName('  Ada  ')).toBe('Ada');
    expect(cleanName('')).toBeNull();
    expect(cleanName('a\nb')).toBeNull();
    expect(cleanName('a\u2066b')).toBeNull();
    expect(cleanName(7)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Schema-derived types keep the shapes callers were written against.

type OldRosterEntry = { peerId: string; name: string; kind: ParticipantKind; fingerprint: string };
type OldControlMessage =
  | { kind: 'hello'; name: string; participant: ParticipantKind; credential: string | null; features: string[] }
  | { kind: 'welcome'; coordinator: string; epoch: number; members: OldRosterEntry[] }
  | { kind: 'refused'; reason: string }
  | { kind: 'roster'; coordinator: string; epoch: number; members: OldRosterEntry[] }
  | { kind: 'ping'; at: number }
  | { kind: 'pong'; at: number }
  | { kind: 'bye' }
  | { kind: 'sas-commit'; commit: string }
  | { kind: 'sas-reveal'; nonce: string }
  | { kind: 'media'; sending: MediaLane[] };
type OldContentMessage = { kind: 'chat'; id: string; text: string; at: number };
type OldSignalMessage =
  | { k: 'desc'; link: string; seq: number; desc: { type: 'offer' | 'answer'; sdp: string } }
  | { k: 'cand'; link: string; seq: number; cand: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null } | null };
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShapes: [
  Same<RosterEntry, OldRosterEntry>,
  Same<ControlMessage, OldControlMessage>,
  Same<ContentMessage, OldContentMessage>,
  Same<SignalMessage, OldSignalMessage>,
] = [true, true, true, true];

describe('schemas', () => {
  it('derive the message types callers already use', () => {
    expect(sameShapes).toEqual([true, true, true, true]);
  });

  it('list every kind of every channel', () => {
    expect(ContentSchema.options.map((o) => o.entries.kind.literal)).toEqual([...CONTENT_KINDS]);
    expect(ControlSchema.options.map((o) => o.entries.kind.literal)).toEqual([...CONTROL_KINDS]);
    expect(SignalSchema.options.map((o) => o.entries.k.literal)).toEqual([...SIGNAL_KINDS]);
  });
});

describe('bounds', () => {
  const roster = (epoch: number) => j({ kind: 'roster', coordinator: PEER, epoch, members: [] });
  it('keeps times within what a Date can hold (finding 1)', () => {
    for (const kind of ['ping', 'pong']) {
      expect(parseControl(j({ kind, at: MAX_WIRE_TIME })).ok).toBe(true);
      expect(parseControl(j({ kind, at: MAX_WIRE_TIME + 1 }))).toEqual({ ok: false, reason: 'bad-field:at' });
    }
    const chat = (at: number) => j({ kind: 'chat', id: 'abcdefgh12345678', text: 'hi', at });
    expect(parseContent(chat(MAX_WIRE_TIME)).ok).toBe(true);
    expect(new Date(MAX_WIRE_TIME).toISOString()).toBe('+275760-09-13T00:00:00.000Z');
    expect(parseContent(chat(MAX_WIRE_TIME + 1))).toEqual({ ok: false, reason: 'bad-field:at' });
    expect(parseContent(chat(Number.MAX_SAFE_INTEGER))).toEqual({ ok: false, reason: 'bad-field:at' });
    expect(parseContent(chat(1e308))).toEqual({ ok: false, reason: 'bad-field:at' });
  });

  it('keeps epochs far from 2^53 (finding 5)', () => {
    expect(MAX_EPOCH).toBe(2 ** 48);
    expect(parseControl(roster(MAX_EPOCH)).ok).toBe(true);
    expect(parseControl(roster(MAX_EPOCH + 1))).toEqual({ ok: false, reason: 'bad-field:epoch' });
    expect(parseControl(roster(2 ** 53 - 1))).toEqual({ ok: false, reason: 'bad-field:epoch' });
  });

  it('bounds sequence numbers and m-line indexes', () => {
    const link = 'C'.repeat(22);
    expect(parseSignal(j({ k: 'cand', link, seq: MAX_SIGNAL_SEQ, cand: null })).ok).toBe(true);
    expect(parseSignal(j({ k: 'cand', link, seq: MAX_SIGNAL_SEQ + 1, cand: null }))).toEqual({ ok: false, reason: 'bad-field:seq' });
    const cand = (i: number) => j({ k: 'cand', link, seq: 0, cand: { candidate: '', sdpMid: null, sdpMLineIndex: i } });
    expect(parseSignal(cand(64)).ok).toBe(true);
    expect(parseSignal(cand(65))).toEqual({ ok: false, reason: 'bad-field:cand.sdpMLineIndex' });
  });

  it('reads -0 as 0', () => {
    const r = parseControl('{"kind":"ping","at":-0}');
    expect(r.ok && Object.is(r.msg.kind === 'ping' && r.msg.at, 0)).toBe(true);
  });
});

describe('roster size (finding 8)', () => {
  // 64 members with the widest names a roster can carry: 64 three-byte characters each.
  const worst = Array.from({ length: MAX_ROSTER_MEMBERS }, (_, i) => ({
    peerId: `${i.toString(36).padStart(2, '0')}${'A'.repeat(20)}`,
    name: '\u8a9e'.repeat(63) + String.fromCharCode(0x4e00 + i),
    kind: 'human' as const,
    fingerprint: Array.from({ length: 32 }, (_, b) => (b === 0 ? i : 255).toString(16).padStart(2, '0')).join(':'),
  }));

  it('a full roster of worst-case entries fits a control message and parses', () => {
    expect(rosterFits(worst)).toBe(true);
    const raw = encode({ kind: 'welcome', coordinator: PEER, epoch: MAX_EPOCH, members: worst });
    expect(utf8Length(raw)).toBeLessThanOrEqual(MAX_CONTROL_BYTES);
    expect(utf8Length(raw)).toBe(new TextEncoder().encode(raw).length);
    const r = parseControl(raw);
    expect(r.ok).toBe(true);
    // The bound is an upper bound on what any entry can take.
    expect(ROSTER_ENVELOPE_BYTES + MAX_ROSTER_MEMBERS * MAX_ENCODED_ROSTER_ENTRY_BYTES).toBeLessThanOrEqual(MAX_CONTROL_BYTES);
    expect(utf8Length(raw)).toBeLessThanOrEqual(ROSTER_ENVELOPE_BYTES + MAX_ROSTER_MEMBERS * MAX_ENCODED_ROSTER_ENTRY_BYTES);
  });

  it('one more member does not fit, and is refused by every receiver', () => {
    const extra = { ...worst[0]!, peerId: PEER, fingerprint: FP };
    expect(rosterFits([...worst, extra])).toBe(false);
    expect(rosterFits([])).toBe(true);
    const members = [...worst, extra].map((m) => ({ ...m, name: 'x' }));
    expect(parseControl(j({ kind: 'roster', coordinator: PEER, epoch: 1, members }))).toEqual({ ok: false, reason: 'too-many-members' });
  });

  it('refuses duplicate peer ids and duplicate fingerprints', () => {
    const a = worst[0]!;
    const b = worst[1]!;
    expect(rosterProblem([a, b])).toBeNull();
    expect(rosterProblem([a, { ...b, peerId: a.peerId }])).toBe('duplicate-peer-id');
    expect(rosterProblem([a, { ...b, fingerprint: a.fingerprint }])).toBe('duplicate-fingerprint');
    const raw = j({ kind: 'roster', coordinator: PEER, epoch: 1, members: [a, { ...b, fingerprint: a.fingerprint }] });
    expect(parseControl(raw)).toEqual({ ok: false, reason: 'duplicate-fingerprint' });
  });
});

describe('hostile input', () => {
  it('checks the size before JSON.parse runs', () => {
    const spy = vi.spyOn(JSON, 'parse');
    try {
      expect(parseContent('['.repeat(MAX_CONTENT_BYTES + 1))).toEqual({ ok: false, reason: 'too-large' });
      expect(parseControl('\u20ac'.repeat(Math.floor(MAX_CONTROL_BYTES / 3) + 1))).toEqual({ ok: false, reason: 'too-large' });
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('never returns the sender object, and ignores no prototype keys', () => {
    for (const key of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) {
      expect(parseControl(`{"kind":"bye","${key}":{"polluted":true}}`)).toEqual({ ok: false, reason: 'extra-field' });
      expect(parseContent(`{"kind":"chat","id":"abcdefgh12345678","text":"hi","at":1,"${key}":1}`)).toEqual({ ok: false, reason: 'extra-field' });
    }
    const r = parseControl(j({ kind: 'welcome', coordinator: PEER, epoch: 1, members: [{ peerId: PEER, name: 'Ada', kind: 'human', fingerprint: FP }] }));
    expect(r.ok).toBe(true);
    if (!r.ok || r.msg.kind !== 'welcome') return;
    expect(Object.getPrototypeOf(r.msg)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(r.msg.members[0])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reasons come from the vocabulary and never echo the sender', () => {
    const secret = 'EVIL_MARKER';
    const inputs = [
      j({ kind: secret }),
      j({ kind: 'bye', [secret]: 1 }),
      j({ kind: 'roster', coordinator: PEER, epoch: 1, members: [{ peerId: PEER, name: 'A', kind: 'human', fingerprint: FP, [secret]: 1 }] }),
      j({ kind: 'hello', name: secret + '\u202e', participant: 'human', credential: null, features: [] }),
      j({ kind: 'refused', reason: secret + '\u0000' }),
      j({ k: secret, link: 'C'.repeat(22), seq: 0 }),
      j({ k: 'cand', link: 'C'.repeat(22), seq: 0, cand: { candidate: '', sdpMid: null, sdpMLineIndex: null, [secret]: 1 } }),
      `${secret}`,
    ];
    for (const raw of inputs) {
      for (const [channel, parse] of [['control', parseControl], ['content', parseContent], ['signal', parseSignal]] as const) {
        const r = parse(raw);
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.reason).not.toContain(secret);
        expect(CHANNEL_REASONS[channel].has(r.reason)).toBe(true);
        expect(WIRE_REASONS.has(r.reason)).toBe(true);
      }
    }
  });

  it('rejects lone surrogates in every text field', () => {
    expect(parseContent('{"kind":"chat","id":"abcdefgh12345678","text":"a\\ud800b","at":1}')).toEqual({ ok: false, reason: 'bad-field:text' });
    expect(parseContent('{"kind":"chat","id":"abcdefgh12345678","text":"a\\udc00","at":1}')).toEqual({ ok: false, reason: 'bad-field:text' });
    expect(parseContent('{"kind":"chat","id":"abcdefgh12345678","text":"\\ud83d\\ude00","at":1}').ok).toBe(true);
    expect(parseControl('{"kind":"refused","reason":"\\udfff"}')).toEqual({ ok: false, reason: 'bad-field:reason' });
    expect(utf8Length('\ud83d\ude00')).toBe(4);
    expect(utf8Length('\ud800')).toBe(3);
    expect(utf8Length('\ud800x')).toBe(4);
  });
});
