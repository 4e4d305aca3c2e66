/**
 * The view projection: turns the session's view into what ONE UI port receives, with chat sent
 * as deltas so every message has a bounded size whatever the chat holds.
 *
 * Per port the caller keeps a `PortCursor` (null before the port's first view):
 * - first view on a port, or a new call (`chatEpoch` changed): `reset: true` and the NEWEST
 *   entries that fit `budget` (older ones are not sent to that port at all);
 * - later views: only entries with `seq` above the cursor, oldest first, as many as fit
 *   `budget`; when some are left, `more: true` and the caller sends another view soon.
 * Everything else in the view (phase, members, notices) is always sent whole; it is bounded by
 * the roster's and the notice list's own caps.
 *
 * Sizes are measured as JSON text, the same unit as the UI's MAX_ENGINE_MESSAGE_CHARS.
 * Pure: no platform or extension APIs.
 */
import type { ChatEntry, PortView, SessionView } from './session-api';

/** Chat carried by one view message, at most (JSON characters). */
export const CHAT_DELTA_BUDGET_CHARS = 256 * 1024;
/** Text shown in place of an entry that alone exceeds the budget (cannot happen with the store's caps). */
export const OVERSIZED_ENTRY_TEXT = '[message too large to show]';

export interface PortCursor {
  /** The chat epoch the port's history belongs to. */
  epoch: number;
  /** The highest seq the port has been sent. */
  seq: number;
}

export interface Projection {
  view: PortView;
  cursor: PortCursor;
  /** Entries are still waiting for this port: project again soon. */
  more: boolean;
}

export function projectView(view: SessionView, cursor: PortCursor | null, budget: number = CHAT_DELTA_BUDGET_CHARS): Projection {
  const { chat, ...rest } = view;
  const reset = cursor === null || cursor.epoch !== view.chatEpoch;
  let entries: ChatEntry[];
  let more = false;
  if (reset) {
    entries = newestThatFit(chat, budget);
  } else {
    const pending = chat.filter((e) => e.seq > cursor.seq);
    entries = oldestThatFit(pending, budget);
    more = entries.length < pending.length;
  }
  const last = entries[entries.length - 1];
  const seq = last ? last.seq : reset ? newestSeq(chat) : cursor.seq;
  return {
    view: { ...rest, chat: { reset, entries, more } },
    cursor: { epoch: view.chatEpoch, seq },
    more,
  };
}

/** JSON length of one entry as it sits in an array (plus its comma). */
export function entryChars(entry: ChatEntry): number {
  return JSON.stringify(entry).length + 1;
}

function fitted(entry: ChatEntry, budget: number): { entry: ChatEntry; chars: number } {
  const chars = entryChars(entry);
  if (chars <= budget) return { entry, chars };
  const stub: ChatEntry = { ...entry, text: OVERSIZED_ENTRY_TEXT, fromName: entry.fromName.slice(0, 64) };
  delete stub.undeliveredTo;
  return { entry: stub, chars: entryChars(stub) };
}

function oldestThatFit(pending: readonly ChatEntry[], budget: number): ChatEntry[] {
  const out: ChatEntry[] = [];
  let used = 0;
  for (const e of pending) {
    const f = fitted(e, budget);
    // Always make progress: the first entry goes even if only its stub fits.
    if (out.length > 0 && used + f.chars > budget) break;
    out.push(f.entry);
    used += f.chars;
  }
  return out;
}

function newestThatFit(chat: readonly ChatEntry[], budget: number): ChatEntry[] {
  const out: ChatEntry[] = [];
  let used = 0;
  for (let i = chat.length - 1; i >= 0; i--) {
    const f = fitted(chat[i]!, budget);
    if (out.length > 0 && used + f.chars > budget) break;
    out.push(f.entry);
    used += f.chars;
  }
  return out.reverse();
}

function newestSeq(chat: readonly ChatEntry[]): number {
  return chat.length > 0 ? chat[chat.length - 1]!.seq : 0;
}
