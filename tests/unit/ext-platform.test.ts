import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { MediaRegistry, entryKey, mediaGlobalOf } from '../../src/extension/media-registry';
import { formatFingerprint, isFingerprint, normaliseFingerprint, sha256Fingerprint } from '../../src/platform/browser';

describe('fingerprints', () => {
  it('normalises getFingerprints() output to lowercase hex pairs', () => {
    const upper = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':');
    expect(normaliseFingerprint(upper)).toBe(upper.toLowerCase());
    expect(normaliseFingerprint(` ${upper} `)).toBe(upper.toLowerCase());
  });

  it('rejects anything that is not a 32-byte fingerprint', () => {
    expect(normaliseFingerprint('')).toBeNull();
    expect(normaliseFingerprint('ab:cd')).toBeNull();
    expect(normaliseFingerprint('zz:'.repeat(31) + 'zz')).toBeNull();
    expect(normaliseFingerprint('abcd'.repeat(16))).toBeNull();
    expect(isFingerprint('ab:'.repeat(31) + 'ab')).toBe(true);
    expect(isFingerprint('AB:'.repeat(31) + 'AB')).toBe(false);
  });

  it('hashes DER with SHA-256 in the same format', async () => {
    const der = new Uint8Array([0x30, 0x82, 0x01, 0x0a, 1, 2, 3, 4, 5]);
    const expected = createHash('sha256').update(der).digest('hex').match(/../g)!.join(':');
    expect(await sha256Fingerprint(der)).toBe(expected);
    expect(await sha256Fingerprint(der.buffer)).toBe(expected);
    expect(isFingerprint(expected)).toBe(true);
    expect(formatFingerprint(new Uint8Array(32).fill(15))).toBe(Array(32).fill('0f').join(':'));
    expect(() => formatFingerprint(new Uint8Array([0, 15, 255]))).toThrow();
  });
});

describe('media registry', () => {
  const stream = (id: string) => ({ id }) as unknown as MediaStream;

  it('lists, replaces and removes entries and notifies subscribers', () => {
    const r = new MediaRegistry();
    const cb = vi.fn();
    const off = r.subscribe(cb);
    r.set({ peerId: 'p1', lane: 'camera', stream: stream('a'), self: false });
    r.set({ peerId: 'p1', lane: 'camera', stream: stream('b'), self: false });
    r.set({ peerId: 'p1', lane: 'camera', stream: stream('c'), self: true });
    expect(r.list()).toHaveLength(2);
    expect(r.get(entryKey({ peerId: 'p1', lane: 'camera', self: false }))?.stream).toEqual({ id: 'b' });
    expect(cb).toHaveBeenCalledTimes(3);
    expect(r.delete(entryKey({ peerId: 'p1', lane: 'camera', self: true }))).toBe(true);
    expect(r.delete('nope')).toBe(false);
    expect(cb).toHaveBeenCalledTimes(4);
    off();
    r.set({ peerId: 'p2', lane: 'mic', stream: stream('d'), self: false });
    expect(cb).toHaveBeenCalledTimes(4);
  });

  it('forgets a subscriber that throws (its page is gone)', () => {
    const r = new MediaRegistry();
    const bad = vi.fn(() => {
      throw new Error('freed');
    });
    r.subscribe(bad);
    r.set({ peerId: 'p', lane: 'mic', stream: stream('a'), self: false });
    r.set({ peerId: 'p', lane: 'mic', stream: stream('b'), self: false });
    expect(bad).toHaveBeenCalledTimes(1);
  });

  it('finds the global on a window only when it has the right shape', () => {
    const r = new MediaRegistry();
    expect(mediaGlobalOf({ __kibitzMedia: r })).toBe(r);
    expect(mediaGlobalOf({ __kibitzMedia: { version: 2, list() {}, subscribe() {} } })).toBeNull();
    expect(mediaGlobalOf({})).toBeNull();
    expect(mediaGlobalOf(null)).toBeNull();
    const hostile = Object.defineProperty({}, '__kibitzMedia', {
      get() {
        throw new Error('closing');
      },
    });
    expect(mediaGlobalOf(hostile)).toBeNull();
  });
});
