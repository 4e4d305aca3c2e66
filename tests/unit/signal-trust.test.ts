import { describe, expect, it } from 'vitest';
import { SignalSequencer } from '../../src/engine/peer-link';
import { TrustStore } from '../../src/engine/trust';
import type { KeyValueStore } from '../../src/engine/platform';

const LINK = 'L'.repeat(22);
const FP_A = Array(32).fill('aa').join(':');
const FP_B = Array(32).fill('bb').join(':');

describe('SignalSequencer', () => {
  it('stamps increasing numbers and accepts each once, in any order', () => {
    const out = new SignalSequencer(LINK);
    const a = out.stamp({ k: 'cand', cand: null });
    const b = out.stamp({ k: 'cand', cand: null });
    expect([a.seq, b.seq]).toEqual([0, 1]);
    const inbound = new SignalSequencer(LINK);
    expect(inbound.accept(b)).toBe(true);
    expect(inbound.accept(a)).toBe(true);
  });

  it('drops a replayed message and one for another link', () => {
    const inbound = new SignalSequencer(LINK);
    const msg = new SignalSequencer(LINK).stamp({ k: 'cand', cand: null });
    expect(inbound.accept(msg)).toBe(true);
    expect(inbound.accept(msg)).toBe(false);
    expect(inbound.accept({ ...msg, link: 'X'.repeat(22), seq: 7 })).toBe(false);
  });

  it('stops accepting a flood of signals on one link', () => {
    const inbound = new SignalSequencer(LINK);
    let accepted = 0;
    for (let seq = 0; seq < 2000; seq++) if (inbound.accept({ k: 'cand', link: LINK, seq, cand: null })) accepted++;
    expect(accepted).toBe(512);
  });
});

class MapStore implements KeyValueStore {
  readonly data = new Map<string, unknown>();
  async get<T>(key: string): Promise<T | undefined> {
    return this.data.get(key) as T | undefined;
  }
  async set<T>(key: string, value: T): Promise<void> {
    this.data.set(key, structuredClone(value));
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}

describe('TrustStore', () => {
  it('reports unverified, then verified, then a key change for the same name', async () => {
    const store = new MapStore();
    const trust = new TrustStore(store);
    await trust.load();
    expect(trust.stateOf('Ada', FP_A)).toBe('unverified');
    await trust.pin('Ada', FP_A);
    expect(trust.stateOf('Ada', FP_A)).toBe('verified');
    expect(trust.stateOf('ada', FP_A)).toBe('verified');
    expect(trust.stateOf('Ada', FP_B)).toBe('key-changed');
    // Pins persist across sessions.
    const again = new TrustStore(store);
    await again.load();
    expect(again.stateOf('Ada', FP_B)).toBe('key-changed');
  });

  it('ignores corrupt stored pins instead of trusting them', async () => {
    const store = new MapStore();
    store.data.set('pins/v1', { 'name:ada': 42, 'name:bob': FP_B });
    const trust = new TrustStore(store);
    await trust.load();
    expect(trust.stateOf('Ada', FP_A)).toBe('unverified');
    expect(trust.stateOf('Bob', FP_B)).toBe('verified');
  });
});
