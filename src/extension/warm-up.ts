/**
 * The `warm-up` an open start or join form sends (src/engine/standby-broker.ts and
 * prepared-dial.ts): once after `delayMs`, then every WARM_UP_REFRESH_MS while the form stays.
 * Only a head start: a refusal is logged, and the call itself reports what went wrong.
 */
import type { SessionCommand } from '../engine/session-api';

/** Below the engine's standby idle limit (60 s) and spare-offer age (20 s): an open form keeps both fresh. */
export const WARM_UP_REFRESH_MS = 10_000;

export type WarmUpCommand = Extract<SessionCommand, { op: 'warm-up' }>;

/** Schedules the warm-ups; returns what cancels them. `onSend` runs as each one goes out. */
export function scheduleWarmUp(
  send: (command: WarmUpCommand) => Promise<void>,
  command: WarmUpCommand,
  delayMs: number,
  onSend: () => void = () => undefined,
): () => void {
  const warm = (): void => {
    onSend();
    send(command).catch((err: unknown) => console.info('[kibitz] warm-up skipped', err));
  };
  const first = setTimeout(warm, delayMs);
  const refresh = setInterval(warm, WARM_UP_REFRESH_MS);
  return () => {
    clearTimeout(first);
    clearInterval(refresh);
  };
}
