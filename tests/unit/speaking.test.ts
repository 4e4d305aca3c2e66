import { describe, expect, it } from 'vitest';
import { MediaRegistry, speakingOf, type KibitzMediaGlobal } from '../../src/extension/media-registry';
import { DEFAULT_SPEAKING, SpeakingTracker, rmsLevel, sameSpeakers } from '../../src/extension/speaking';

const levels = (o: Record<string, number>) => new Map(Object.entries(o));

describe('speaking hysteresis', () => {
  const opts = { onLevel: 0.02, offLevel: 0.01, holdMs: 600 };

  it('starts at the on level, holds through short pauses and the in-between band, stops after the hold', () => {
    const t = new SpeakingTracker(opts);
    expect(t.update(levels({ a: 0.015 }), 0)).toEqual([]); // between off and on: not a start
    expect(t.update(levels({ a: 0.05 }), 200)).toEqual(['a']);
    expect(t.update(levels({ a: 0.015 }), 400)).toEqual(['a']); // in the band: keeps speaking
    expect(t.update(levels({ a: 0 }), 600)).toEqual(['a']); // silence, hold running since 400
    expect(t.update(levels({ a: 0 }), 900)).toEqual(['a']); // 500 ms < hold
    expect(t.update(levels({ a: 0 }), 1000)).toEqual([]); // 600 ms: stopped
    expect(t.update(levels({ a: 0.015 }), 1200)).toEqual([]); // the band does not restart it
  });

  it('a beep every 500 ms (the fake microphone) reads as one continuous stretch of speaking', () => {
    const t = new SpeakingTracker(DEFAULT_SPEAKING);
    const seen: boolean[] = [];
    for (let now = 0; now <= 5000; now += 200) {
      // Loud in the reads that overlap a beep (~2 of 3), silent in the others.
      const loud = Math.floor(now / 200) % 3 !== 2;
      seen.push(t.update(levels({ a: loud ? 0.08 : 0.001 }), now).includes('a'));
    }
    expect(seen.every(Boolean)).toBe(true);
  });

  it('lists the loudest first, forgets ids that are gone, and treats junk levels as silence', () => {
    const t = new SpeakingTracker(opts);
    expect(t.update(levels({ a: 0.03, b: 0.2, c: 0.001 }), 0)).toEqual(['b', 'a']);
    expect(t.update(levels({ a: 0.5, b: 0.2 }), 100)).toEqual(['a', 'b']);
    expect(t.update(levels({ b: 0.2 }), 200)).toEqual(['b']); // a's track ended
    expect(t.update(levels({ b: Number.NaN, d: Number.POSITIVE_INFINITY, e: -1 }), 300)).toEqual(['b']);
    expect(t.update(levels({ b: Number.NaN }), 900)).toEqual([]);
  });

  it('refuses an off level above the on level', () => {
    expect(() => new SpeakingTracker({ onLevel: 0.01, offLevel: 0.02 })).toThrow();
  });

  it('rmsLevel and sameSpeakers', () => {
    expect(rmsLevel([])).toBe(0);
    expect(rmsLevel(new Float32Array([0.5, -0.5, 0.5, -0.5]))).toBeCloseTo(0.5);
    expect(rmsLevel([1, 0, 0, 0])).toBeCloseTo(0.5);
    expect(rmsLevel([Number.NaN, 1])).toBeCloseTo(Math.SQRT1_2);
    expect(sameSpeakers(['a', 'b'], ['b', 'a'])).toBe(true);
    expect(sameSpeakers(['a'], ['b'])).toBe(false);
    expect(sameSpeakers(['a'], ['a', 'b'])).toBe(false);
  });
});

describe('who is speaking, through the media registry', () => {
  it('the registry tells subscribers only when the set of speakers changes', () => {
    const r = new MediaRegistry();
    let calls = 0;
    r.subscribe(() => calls++);
    r.setSpeaking(['a']);
    r.setSpeaking(['a']);
    expect(calls).toBe(1);
    r.setSpeaking(['b', 'a']);
    r.setSpeaking(['a', 'b']); // louder/quieter only: no news
    expect(calls).toBe(2);
    expect(r.speaking()).toEqual(['a', 'b']);
    r.setSpeaking([]);
    expect(calls).toBe(3);
    expect(speakingOf(r)).toEqual([]);
  });

  it('speakingOf reads an older registry, a broken one and hostile values as nobody or only the sane ids', () => {
    const base = { version: 1 as const, list: () => [], subscribe: () => () => undefined };
    expect(speakingOf(null)).toEqual([]);
    expect(speakingOf(base)).toEqual([]); // an offscreen document from before speaking()
    expect(speakingOf({ ...base, speaking: () => { throw new Error('gone'); } })).toEqual([]);
    expect(speakingOf({ ...base, speaking: () => 'a' as unknown as string[] })).toEqual([]);
    const junk = ['a', 3, '', 'x'.repeat(129), 'a', { id: 'b' }, 'b'] as unknown as string[];
    expect(speakingOf({ ...base, speaking: () => junk } as KibitzMediaGlobal)).toEqual(['a', 'b']);
    expect(speakingOf({ ...base, speaking: () => Array.from({ length: 500 }, (_, i) => `p${i}`) })).toHaveLength(64);
  });
});
