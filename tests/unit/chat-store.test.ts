import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CHAT_FUTURE_WINDOW_MS,
  CHAT_PAST_WINDOW_MS,
  ChatStore,
  MAX_CHAT_SEEN,
  plausibleTime,
  type ChatInput,
} from '../../src/engine/chat-store';
import { MAX_CHAT_HISTORY, MAX_CHAT_LENGTH, MAX_TIME_VALUE } from '../../src/engine/session-api';

const NOW = 1_750_000_000_000;

function store(now = () => NOW, extra: { maxEntries?: number; maxSeen?: number } = {}): ChatStore {
  return new ChatStore({ now, ...extra });
}

function msg(id: string, overrides: Partial<ChatInput> = {}): ChatInput {
  return { id, fromPeerId: 'peerB', fromName: 'Bob', text: `text ${id}`, at: NOW - 1_000, self: false, ...overrides };
}

describe('ChatStore: times are plausible', () => {
  it('keeps a plausible sender time and replaces an implausible one by the arrival time', () => {
    const s = store();
    const ok = s.add(msg('a', { at: NOW - 60_000 }));
    expect(ok.ok && ok.entry.at).toBe(NOW - 60_000);
    for (const [i, at] of [MAX_TIME_VALUE, MAX_TIME_VALUE + 1, Number.MAX_SAFE_INTEGER, 9e15, 0, -1, NaN, Infinity, NOW + CHAT_FUTURE_WINDOW_MS + 1, NOW - CHAT_PAST_WINDOW_MS - 1].entries()) {
      const r = s.add(msg(`bad${i}`, { at }));
      expect(r.ok && r.entry.at, String(at)).toBe(NOW);
    }
    expect(s.add(msg('edge1', { at: NOW + CHAT_FUTURE_WINDOW_MS })).ok && s.entries().at(-1)!.at).toBe(NOW + CHAT_FUTURE_WINDOW_MS);
    expect(s.add(msg('edge2', { at: NOW - CHAT_PAST_WINDOW_MS })).ok && s.entries().at(-1)!.at).toBe(NOW - CHAT_PAST_WINDOW_MS);
  });

  it('every stored time is a valid Date, whatever number arrives', () => {
    fc.assert(
      fc.property(fc.double(), fc.integer({ min: 0, max: MAX_TIME_VALUE - CHAT_PAST_WINDOW_MS }), (at, now) => {
        const t = plausibleTime(at, now);
        expect(Math.abs(t - now)).toBeLessThanOrEqual(CHAT_PAST_WINDOW_MS);
        expect(() => new Date(t).toISOString()).not.toThrow();
      }),
    );
  });

  it('orders entries by local arrival, not by the sender-claimed time', () => {
    const s = store();
    s.add(msg('late', { at: NOW - 10 }));
    s.add(msg('early', { at: NOW - 100_000 }));
    expect(s.entries().map((e) => e.id)).toEqual(['late', 'early']);
    const seqs = s.entries().map((e) => e.seq);
    expect(seqs[1]! > seqs[0]!).toBe(true);
  });
});

describe('ChatStore: bounded', () => {
  it('keeps at most 500 entries, forgetting the oldest first', () => {
    const s = store();
    for (let i = 0; i < MAX_CHAT_HISTORY + 120; i++) s.add(msg(`m${i}`));
    expect(s.size).toBe(MAX_CHAT_HISTORY);
    expect(s.entries()[0]!.id).toBe('m120');
    expect(s.entries().at(-1)!.id).toBe(`m${MAX_CHAT_HISTORY + 119}`);
  });

  it('drops a duplicate (same sender and id) but not the same id from another sender', () => {
    const s = store();
    expect(s.add(msg('x')).ok).toBe(true);
    expect(s.add(msg('x', { text: 'again' }))).toEqual({ ok: false, reason: 'duplicate' });
    expect(s.add(msg('x', { fromPeerId: 'peerC' })).ok).toBe(true);
    expect(s.size).toBe(2);
  });

  it('the de-duplication set is bounded and forgets the oldest key first', () => {
    const s = store(() => NOW, { maxEntries: 10 });
    for (let i = 0; i < MAX_CHAT_SEEN + 1000; i++) s.add(msg(`k${i}`));
    expect(s.seenSize).toBe(MAX_CHAT_SEEN);
    // The newest keys are still remembered ...
    expect(s.add(msg(`k${MAX_CHAT_SEEN + 999}`)).ok).toBe(false);
    // ... the oldest were forgotten first.
    expect(s.add(msg('k0')).ok).toBe(true);
  });

  it('refuses malformed input and clips overlong text and names', () => {
    const s = store();
    expect(s.add(msg(''))).toEqual({ ok: false, reason: 'malformed' });
    expect(s.add(msg('x'.repeat(65)))).toEqual({ ok: false, reason: 'malformed' });
    expect(s.add(msg('p', { fromPeerId: '' }))).toEqual({ ok: false, reason: 'malformed' });
    const r = s.add(msg('long', { text: 'y'.repeat(MAX_CHAT_LENGTH * 3), fromName: 'n'.repeat(500) }));
    expect(r.ok && r.entry.text.length).toBe(MAX_CHAT_LENGTH);
    expect(r.ok && r.entry.fromName.length).toBe(64);
  });
});

describe('ChatStore: seq, epoch and undelivered names', () => {
  it('seq is strictly increasing and survives clear(); the epoch changes on clear()', () => {
    const s = store();
    s.add(msg('a'));
    s.add(msg('b'));
    const before = s.lastSeq;
    const epoch = s.epoch;
    s.clear();
    expect(s.size).toBe(0);
    expect(s.epoch).not.toBe(epoch);
    // A cleared store forgets ids too: the same id in a new call is a new message.
    const r = s.add(msg('a'));
    expect(r.ok && r.entry.seq).toBe(before + 1);
  });

  it('since(seq) returns only newer entries, oldest first', () => {
    const s = store();
    for (const id of ['a', 'b', 'c', 'd']) s.add(msg(id));
    const [, b] = s.entries();
    expect(s.since(b!.seq).map((e) => e.id)).toEqual(['c', 'd']);
    expect(s.since(0).map((e) => e.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(s.since(s.lastSeq)).toEqual([]);
  });

  it('records who did not get an own message', () => {
    const s = store();
    const r = s.add(msg('own', { self: true, fromPeerId: 'me', undeliveredTo: ['Carol'] }));
    expect(r.ok && r.entry.undeliveredTo).toEqual(['Carol']);
    const all = s.add(msg('own2', { self: true, fromPeerId: 'me', undeliveredTo: [] }));
    expect(all.ok && 'undeliveredTo' in all.entry).toBe(false);
  });
});
