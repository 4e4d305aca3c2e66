/**
 * Who is speaking, from audio levels sampled a few times a second. Pure: the offscreen
 * document measures the levels (an AnalyserNode per microphone track, see
 * entrypoints/offscreen/speaking-meter.ts) and feeds them in with the time; this decides.
 *
 * Hysteresis, so the highlight does not flicker between syllables or on one click:
 * - a person starts speaking when their level reaches `onLevel`;
 * - they keep speaking while it stays at or above the lower `offLevel`;
 * - they stop once it has stayed below `offLevel` for `holdMs`.
 */

export interface SpeakingOptions {
  /** RMS level (0..1 of full scale) that starts "speaking". */
  onLevel: number;
  /** RMS level below which the hold timer runs. */
  offLevel: number;
  /** How long the level must stay below `offLevel` before "speaking" ends. */
  holdMs: number;
}

/**
 * Defaults for an RMS over about a third of a second (see the meter): speech at a normal
 * distance sits around 0.02 to 0.1 (-34 to -20 dBFS); a quiet room after noise suppression
 * well under 0.005.
 */
export const DEFAULT_SPEAKING: SpeakingOptions = { onLevel: 0.012, offLevel: 0.006, holdMs: 900 };

/** At most this many ids are tracked (a mesh call is far smaller). */
export const MAX_TRACKED = 64;

interface Track {
  speaking: boolean;
  /** Last time the level was at or above `offLevel` while speaking (or reached `onLevel`). */
  lastLoud: number;
  level: number;
}

export class SpeakingTracker {
  private readonly tracks = new Map<string, Track>();
  private readonly opts: SpeakingOptions;

  constructor(options: Partial<SpeakingOptions> = {}) {
    this.opts = { ...DEFAULT_SPEAKING, ...options };
    if (!(this.opts.offLevel <= this.opts.onLevel)) throw new Error('offLevel must not exceed onLevel');
  }

  /**
   * Takes one round of levels (id -> RMS level) sampled at `now` (ms) and returns who is
   * speaking, loudest first. Ids missing from `levels` are forgotten (their track ended).
   * Levels that are not finite numbers count as silence.
   */
  update(levels: ReadonlyMap<string, number>, now: number): string[] {
    for (const id of [...this.tracks.keys()]) if (!levels.has(id)) this.tracks.delete(id);
    for (const [id, raw] of levels) {
      const level = typeof raw === 'number' && Number.isFinite(raw) && raw > 0 ? raw : 0;
      let t = this.tracks.get(id);
      if (!t) {
        if (this.tracks.size >= MAX_TRACKED) continue;
        t = { speaking: false, lastLoud: -Infinity, level: 0 };
        this.tracks.set(id, t);
      }
      t.level = level;
      if (level >= this.opts.onLevel) {
        t.speaking = true;
        t.lastLoud = now;
      } else if (t.speaking && level >= this.opts.offLevel) {
        t.lastLoud = now;
      } else if (t.speaking && now - t.lastLoud >= this.opts.holdMs) {
        t.speaking = false;
      }
    }
    return this.speaking();
  }

  /** Who is speaking now, loudest first (ties by id, so the order is stable). */
  speaking(): string[] {
    return [...this.tracks]
      .filter(([, t]) => t.speaking)
      .sort(([a, x], [b, y]) => y.level - x.level || (a < b ? -1 : a > b ? 1 : 0))
      .map(([id]) => id);
  }
}

/** Root mean square of `samples` (time-domain floats in -1..1); 0 for an empty buffer. */
export function rmsLevel(samples: ArrayLike<number>): number {
  const n = samples.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const s = samples[i] ?? 0;
    if (Number.isFinite(s)) sum += s * s;
  }
  return Math.sqrt(sum / n);
}

/** True when two speaking lists hold the same people (order ignored). */
export function sameSpeakers(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((id) => set.has(id));
}
