import { describe, expect, it } from 'vitest';
import { HOLD_TTL_MS, MAX_HELD, MAX_HELD_PER_PEER, SignalHold } from '../../src/engine/signal-hold';
import type { SignalMessage } from '../../src/engine/wire';

const msg = (seq: number): SignalMessage => ({ k: 'cand', link: 'L'.repeat(22), seq, cand: null });

describe('SignalHold', () => {
  it('bounds what one sender can hold, and the total', () => {
    const h = new SignalHold();
    for (let i = 0; i < MAX_HELD_PER_PEER; i++) expect(h.hold('a', msg(i), 0)).toBe(true);
    expect(h.hold('a', msg(99), 0)).toBe(false);
    let accepted = MAX_HELD_PER_PEER;
    for (let p = 0; p < 10; p++) for (let i = 0; i < MAX_HELD_PER_PEER; i++) if (h.hold(`p${p}`, msg(i), 0)) accepted++;
    expect(accepted).toBe(MAX_HELD);
  });

  it('forgets held signals after their time and hands out the rest by sender', () => {
    const h = new SignalHold();
    h.hold('a', msg(1), 0);
    h.hold('b', msg(2), HOLD_TTL_MS - 1);
    expect(h.take(HOLD_TTL_MS, 'a')).toEqual([]);
    expect(h.take(HOLD_TTL_MS, 'b').map(({ from, msg: m }) => ({ from, msg: m }))).toEqual([{ from: 'b', msg: msg(2) }]);
    expect(h.take(HOLD_TTL_MS)).toEqual([]);
  });
});
