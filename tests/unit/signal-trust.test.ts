import { describe, expect, it } from 'vitest';
import { SignalSequencer } from '../../src/engine/peer-link';
import { cleanName } from '../../src/engine/names';
import { TrustStore, identityKey } from '../../src/engine/trust';
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

describe('TrustStore against look-alike names (finding 6)', () => {
  const F1 = FP_A;
  const F2 = FP_B;
  /** What the engine does with a name from the wire: clean it, then ask the trust store. */
  const stateOfWireName = (trust: TrustStore, raw: string, fp: string) => {
    const name = cleanName(raw);
    return name === null ? 'refused' : trust.stateOf(name, fp);
  };

  async function pinnedAlice(): Promise<TrustStore> {
    const trust = new TrustStore(new MapStore());
    await trust.load();
    await trust.pin('Alice', F1);
    return trust;
  }

  it('refuses "Alice" + ZWSP outright (and its skeleton is Alice\'s anyway)', async () => {
    const trust = await pinnedAlice();
    expect(cleanName('Alice\u200B')).toBeNull();
    expect(stateOfWireName(trust, 'Alice\u200B', F2)).toBe('refused');
    expect(trust.stateOf('Alice\u200B', F2)).toBe('key-changed'); // defence in depth
  });

  it('refuses "Аlice" with a Cyrillic А outright', async () => {
    const trust = await pinnedAlice();
    expect(cleanName('\u0410lice')).toBeNull();
    expect(stateOfWireName(trust, '\u0410lice', F2)).toBe('refused');
  });

  it('raises the key-change alarm for accepted look-alikes of a pinned name with another certificate', async () => {
    const trust = await pinnedAlice();
    for (const lookalike of ['Alice', 'ALICE', 'alice', 'AIice', ' Alice ', '\uff21\uff4c\uff49\uff43\uff45', '\u{1d400}lice']) {
      expect(cleanName(lookalike), lookalike).not.toBeNull();
      expect(stateOfWireName(trust, lookalike, F2), lookalike).toBe('key-changed');
      expect(stateOfWireName(trust, lookalike, F1), lookalike).toBe('verified');
    }
  });

  it('catches a whole-word Cyrillic look-alike ("Сосо" for "Coco")', async () => {
    const trust = new TrustStore(new MapStore());
    await trust.load();
    await trust.pin('Coco', F1);
    expect(cleanName('\u0421\u043e\u0441\u043e')).not.toBeNull(); // one script: accepted
    expect(stateOfWireName(trust, '\u0421\u043e\u0441\u043e', F2)).toBe('key-changed');
  });

  it('migrates pins stored under raw names to skeleton keys on load', async () => {
    const store = new MapStore();
    store.data.set('pins/v1', { 'name:alice': F1, 'name:bob': F2 });
    const trust = new TrustStore(store);
    await trust.load();
    expect(trust.stateOf('Alice', F1)).toBe('verified');
    expect(trust.stateOf('AIice', F2)).toBe('key-changed');
    expect(trust.stateOf('BOB', F2)).toBe('verified');
    // Persisted in the new form, so the next load needs no migration.
    expect(store.data.get('pins/v1')).toEqual({ [identityKey('Alice')]: F1, [identityKey('Bob')]: F2 });
    const again = new TrustStore(store);
    await again.load();
    expect(again.stateOf('ALICE', F2)).toBe('key-changed');
  });

  it('when legacy pins meet on one skeleton, the later pin wins', async () => {
    const store = new MapStore();
    store.data.set('pins/v1', { 'name:alice': F1, 'name:aiice': F2 });
    const trust = new TrustStore(store);
    await trust.load();
    expect(trust.stateOf('Alice', F2)).toBe('verified');
    expect(trust.stateOf('Alice', F1)).toBe('key-changed');
  });
});
