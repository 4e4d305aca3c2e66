/**
 * The short soft sounds for joins and leaves, synthesized with WebAudio in the offscreen document
 * (reason AUDIO_PLAYBACK), so no audio files ship: two sine notes with a soft attack and decay,
 * rising when someone joins and falling when someone leaves, quiet enough to sit under a call.
 */
import type { PresenceKind } from './presence';

/** Two notes (Hz) per kind: E5 -> A5 rising, A5 -> E5 falling. A knock would add a row. */
export const CHIME_NOTES: Record<PresenceKind, readonly [number, number]> = {
  joined: [659.25, 880],
  left: [880, 659.25],
};
const NOTE_GAP_S = 0.13;
const NOTE_LENGTH_S = 0.22;
const PEAK_GAIN = 0.06;

/** The kind whose sound a batch plays: a join is the news when both happened. */
export function chimeFor(kinds: Iterable<PresenceKind>): PresenceKind | null {
  let left = false;
  for (const k of kinds) {
    if (k === 'joined') return 'joined';
    if (k === 'left') left = true;
  }
  return left ? 'left' : null;
}

/** Plays the chime of `kind` on `ctx` (resuming it first); resolves when it is scheduled. */
export async function playChime(ctx: AudioContext, kind: PresenceKind): Promise<void> {
  if (ctx.state === 'suspended') await ctx.resume();
  const start = ctx.currentTime + 0.02;
  CHIME_NOTES[kind].forEach((freq, i) => {
    const t = start + i * NOTE_GAP_S;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.setValueAtTime(freq, t);
    gain.gain.setValueAtTime(0, t);
    gain.gain.linearRampToValueAtTime(PEAK_GAIN, t + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + NOTE_LENGTH_S);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + NOTE_LENGTH_S + 0.02);
    osc.onended = () => {
      osc.disconnect();
      gain.disconnect();
    };
  });
}
