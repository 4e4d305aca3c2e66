/**
 * The chat store: one call's chat history, bounded in every direction.
 *
 * - History keeps at most `maxEntries` (500) entries, oldest forgotten first.
 * - De-duplication remembers at most `maxSeen` (4,096) `sender/id` keys, oldest forgotten first,
 *   so a flood of distinct ids cannot grow memory without bound.
 * - Every entry gets a local `seq`, strictly increasing for the life of the store (it survives
 *   `clear()`), so UI ports can be sent deltas ("everything after seq N").
 * - Entries are ordered by local arrival; a received `at` outside
 *   [now - 24 h, now + 5 min] (or not a finite number) is replaced by the local arrival time, so
 *   every `at` is a plausible, valid Date whatever a peer sent.
 * - `epoch` changes on `clear()` (a new call), which tells UI ports to reset.
 *
 * Pure: the clock comes in, no platform APIs.
 */
import { MAX_CHAT_HISTORY, MAX_CHAT_LENGTH, MAX_NAME_LENGTH, type ChatEntry } from './session-api';

export const MAX_CHAT_SEEN = 4096;
export const CHAT_PAST_WINDOW_MS = 24 * 60 * 60 * 1000;
export const CHAT_FUTURE_WINDOW_MS = 5 * 60 * 1000;
/** Longest message id or peer id the store accepts (the wire's are far shorter). */
export const MAX_CHAT_ID_LENGTH = 64;
/** At most this many names in `undeliveredTo` (the roster's own cap is lower). */
export const MAX_UNDELIVERED_NAMES = 64;

export interface ChatStoreOptions {
  now: () => number;
  maxEntries?: number;
  maxSeen?: number;
}

export interface ChatInput {
  id: string;
  fromPeerId: string;
  fromName: string;
  text: string;
  /** The sender's claimed time; ignored when implausible. */
  at: number;
  self: boolean;
  undeliveredTo?: readonly string[];
}

export type ChatAddResult = { ok: true; entry: ChatEntry } | { ok: false; reason: 'duplicate' | 'malformed' };

export class ChatStore {
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly maxSeen: number;
  private history: ChatEntry[] = [];
  /** Insertion-ordered, so the first key is the oldest. */
  private readonly seen = new Set<string>();
  private nextSeq = 1;
  private currentEpoch = 0;

  constructor(options: ChatStoreOptions) {
    this.now = options.now;
    this.maxEntries = Math.max(1, options.maxEntries ?? MAX_CHAT_HISTORY);
    this.maxSeen = Math.max(1, options.maxSeen ?? MAX_CHAT_SEEN);
  }

  /** Changes on every `clear()`. */
  get epoch(): number {
    return this.currentEpoch;
  }

  get size(): number {
    return this.history.length;
  }

  /** How many sender/id keys are remembered for de-duplication. */
  get seenSize(): number {
    return this.seen.size;
  }

  /** The highest seq handed out so far (0 before the first entry). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Adds a message unless it is a duplicate (same sender and id) or malformed. */
  add(input: ChatInput): ChatAddResult {
    if (!isShortString(input.id) || !isShortString(input.fromPeerId)) return { ok: false, reason: 'malformed' };
    if (typeof input.text !== 'string' || typeof input.fromName !== 'string') return { ok: false, reason: 'malformed' };
    const key = `${input.fromPeerId}/${input.id}`;
    if (this.seen.has(key)) return { ok: false, reason: 'duplicate' };
    this.remember(key);
    const now = this.now();
    const entry: ChatEntry = {
      seq: this.nextSeq++,
      id: input.id,
      fromPeerId: input.fromPeerId,
      fromName: input.fromName.slice(0, MAX_NAME_LENGTH),
      text: input.text.slice(0, MAX_CHAT_LENGTH),
      at: plausibleTime(input.at, now),
      self: input.self === true,
    };
    if (input.undeliveredTo && input.undeliveredTo.length > 0) {
      entry.undeliveredTo = input.undeliveredTo.slice(0, MAX_UNDELIVERED_NAMES).map((n) => String(n).slice(0, MAX_NAME_LENGTH));
    }
    this.history.push(entry);
    if (this.history.length > this.maxEntries) this.history.splice(0, this.history.length - this.maxEntries);
    return { ok: true, entry };
  }

  /** A copy of the history, oldest first. */
  entries(): ChatEntry[] {
    return this.history.slice();
  }

  /** Entries with a seq above `seq`, oldest first. */
  since(seq: number): ChatEntry[] {
    // seqs are increasing along the array: find the first one above `seq` from the end.
    let i = this.history.length;
    while (i > 0 && this.history[i - 1]!.seq > seq) i--;
    return this.history.slice(i);
  }

  /** Forgets the call's chat (a new call); seq keeps counting up and the epoch changes. */
  clear(): void {
    this.history = [];
    this.seen.clear();
    this.currentEpoch++;
  }

  private remember(key: string): void {
    this.seen.add(key);
    while (this.seen.size > this.maxSeen) {
      const oldest = this.seen.values().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
  }
}

/** `claimed` when it lies within [now - 24 h, now + 5 min], else `now`. */
export function plausibleTime(claimed: unknown, now: number): number {
  if (typeof claimed !== 'number' || !Number.isFinite(claimed)) return now;
  if (claimed < now - CHAT_PAST_WINDOW_MS || claimed > now + CHAT_FUTURE_WINDOW_MS) return now;
  return claimed;
}

function isShortString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_CHAT_ID_LENGTH;
}
