import { describe, expect, it } from 'vitest';
import { JoinArming } from '../../src/extension/join-arming';

/** A hand-driven clock: the attack is about timing, so the test owns time. */
function clock() {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 1;
  return {
    timers: {
      set: (fn: () => void, ms: number) => {
        timers.set(next, { at: now + ms, fn });
        return next++;
      },
      clear: (h: unknown) => void timers.delete(h as number),
    },
    advance(ms: number) {
      now += ms;
      for (const [h, t] of [...timers]) if (t.at <= now) {
        timers.delete(h);
        t.fn();
      }
    },
  };
}

describe('JoinArming: a page cannot time a click onto Join', () => {
  it('an Enter or click right after the page sent someone here does not count', () => {
    const c = clock();
    const changes: boolean[] = [];
    const arming = new JoinArming(c.timers, (a) => changes.push(a), 800);
    arming.shown(true);
    c.advance(200); // the attacker's second keypress, 200 ms after the navigation
    expect(arming.armed).toBe(false);
    c.advance(600);
    expect(arming.armed).toBe(true);
    expect(changes).toEqual([true]);
  });

  it('every return to the screen starts the wait again; hidden never arms', () => {
    const c = clock();
    const arming = new JoinArming(c.timers, () => undefined, 800);
    arming.shown(true);
    c.advance(900);
    expect(arming.armed).toBe(true);
    arming.disarm(); // blur: a window popped over it
    arming.shown(true); // and back
    c.advance(500);
    expect(arming.armed).toBe(false);
    c.advance(300);
    expect(arming.armed).toBe(true);
    arming.shown(false);
    c.advance(10_000);
    expect(arming.armed).toBe(false);
  });
});
