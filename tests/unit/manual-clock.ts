/** A Clock whose timers run only when the test advances it (setInterval is not needed here). */
import type { Clock } from '../../src/engine/platform';

export class ManualClock implements Clock {
  private t = 0;
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return timer;
  }
  clearTimeout(handle: unknown): void {
    if (handle) (handle as { live: boolean }).live = false;
  }
  setInterval(): unknown {
    return null;
  }
  clearInterval(): void {}
  /** Moves time on by `ms` and runs every timer that came due, in the order they were set. */
  advance(ms: number): void {
    this.t += ms;
    for (const timer of this.timers.filter((x) => x.live && x.at <= this.t)) {
      timer.live = false;
      timer.fn();
    }
  }
}
