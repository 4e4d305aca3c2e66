import { describe, expect, it } from 'vitest';
import { MAX_CONTENT_BYTES, MAX_CONTROL_BYTES, parseContent, parseControl, parseSignal, cleanName } from '../../src/engine/wire';

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
      { kind: 'sas-commit', commit: 'a'.repeat(43) },
      { kind: 'sas-reveal', nonce: 'b'.repeat(43) },
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
    expect(r).toEqual({ ok: false, reason: 'message too large' });
    const multiByte = j({ kind: 'refused', reason: '\u20ac'.repeat(Math.ceil(MAX_CONTROL_BYTES / 3) + 10) });
    expect(parseControl(multiByte)).toEqual({ ok: false, reason: 'message too large' });
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
