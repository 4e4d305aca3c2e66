/**
 * Drop counters that keep their reasons: every input the engine refuses is counted under the
 * channel it came in on and a short, stable reason, so a test (or a person debugging a call)
 * can tell a replayed offer from a flood from a forged roster.
 */
export type DropChannel = 'signal' | 'control' | 'content';

/** Distinct reasons kept per channel; more are folded into 'other' so the map stays bounded. */
const MAX_REASONS = 64;

export interface DropStats {
  total: Record<DropChannel, number>;
  reasons: Record<DropChannel, Record<string, number>>;
}

export class DropCounter {
  private readonly total: Record<DropChannel, number> = { signal: 0, control: 0, content: 0 };
  private readonly reasons: Record<DropChannel, Map<string, number>> = {
    signal: new Map(),
    control: new Map(),
    content: new Map(),
  };

  drop(channel: DropChannel, reason: string): void {
    this.total[channel]++;
    const map = this.reasons[channel];
    const key = map.has(reason) || map.size < MAX_REASONS ? reason : 'other';
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  count(channel: DropChannel, reason?: string): number {
    return reason === undefined ? this.total[channel] : this.reasons[channel].get(reason) ?? 0;
  }

  stats(): DropStats {
    const reasons = {} as DropStats['reasons'];
    for (const ch of Object.keys(this.reasons) as DropChannel[]) reasons[ch] = Object.fromEntries(this.reasons[ch]);
    return { total: { ...this.total }, reasons };
  }
}
