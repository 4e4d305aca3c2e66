/**
 * Signals that outran what introduces their sender (a roster update, a free admission slot)
 * wait here briefly. Bounded in time, in total and per sender, so one peer cannot fill it.
 */
import type { SignalMessage } from './wire';

export const HOLD_TTL_MS = 5_000;
export const MAX_HELD = 64;
export const MAX_HELD_PER_PEER = 16;

interface Held {
  from: string;
  msg: SignalMessage;
  at: number;
}

export class SignalHold {
  private held: Held[] = [];

  /** False when the hold is full (overall or for this sender): the caller drops and counts. */
  hold(from: string, msg: SignalMessage, now: number): boolean {
    this.expire(now);
    if (this.held.length >= MAX_HELD) return false;
    if (this.held.filter((h) => h.from === from).length >= MAX_HELD_PER_PEER) return false;
    this.held.push({ from, msg, at: now });
    return true;
  }

  /** Takes every live held signal (from one sender, or all), oldest first. */
  take(now: number, from?: string): { from: string; msg: SignalMessage }[] {
    this.expire(now);
    const out: Held[] = [];
    const keep: Held[] = [];
    for (const h of this.held) (from === undefined || h.from === from ? out : keep).push(h);
    this.held = keep;
    return out;
  }

  clear(): void {
    this.held = [];
  }

  private expire(now: number): void {
    this.held = this.held.filter((h) => now - h.at < HOLD_TTL_MS);
  }
}
