/**
 * Who came and went while the popup was closed: the offscreen document turns each view into
 * presence events (PresenceTracker), gathers bursts into one batch (PresenceBatcher) and sends
 * the batch to the background, which alone may create notifications (offscreen documents only
 * have `runtime` messaging). The background trusts the message only by its sender (our
 * offscreen.html), checks its shape here and writes the words itself (notify-text.ts); it
 * answers whether the person wants to hear about it (the "Notify me when people join or leave"
 * setting, which the offscreen document cannot read: it has no `storage` API), and the offscreen
 * document plays the sound only then.
 *
 * Event kinds are a closed set. A waiting room adds `knocked` here, in `PRESENCE_KINDS` and in
 * notify-text.ts's phrase table (a Record over the kinds, so it fails to compile until the
 * words exist). Pure module: no extension or DOM APIs; clocks come in.
 */
import { MAX_ROSTER_MEMBERS } from '../engine/schemas/common';
import type { SessionView } from '../engine/session-api';
import { hasExactKeys, isRecord, jsonLength } from './messages';

export const PRESENCE_NOTICE = 'kibitz/presence';

export const PRESENCE_KINDS = ['joined', 'left'] as const;
export type PresenceKind = (typeof PRESENCE_KINDS)[number];

export interface PresenceEvent {
  kind: PresenceKind;
  /** The engine's peer id: events about one person are matched by it, never by name. */
  peerId: string;
  /** As the other person chose it: untrusted text, cleaned before it is shown. */
  name: string;
}

/** What the offscreen document sends the background: no peer ids, only what is shown. */
export interface PresenceNotice {
  type: typeof PRESENCE_NOTICE;
  events: { kind: PresenceKind; name: string }[];
  /** How many others are in the call now. */
  others: number;
}
export interface PresenceNoticeReply {
  /** The person wants to hear about joins and leaves: play the sound. */
  sound: boolean;
}

/** One batch holds at most everyone joining and everyone leaving a full room. */
export const MAX_PRESENCE_EVENTS = MAX_ROSTER_MEMBERS * 2;
/** Raw names are longer than any valid name (64) may be; anything longer is refused. */
export const MAX_PRESENCE_NAME_CHARS = 256;
const MAX_PRESENCE_NOTICE_CHARS = 64 * 1024;

export function presenceNotice(events: readonly PresenceEvent[], others: number): PresenceNotice {
  return {
    type: PRESENCE_NOTICE,
    events: events.slice(0, MAX_PRESENCE_EVENTS).map((e) => ({ kind: e.kind, name: e.name.slice(0, MAX_PRESENCE_NAME_CHARS) })),
    others: Math.max(0, Math.min(MAX_ROSTER_MEMBERS, Math.floor(others))),
  };
}

const isKind = (v: unknown): v is PresenceKind => typeof v === 'string' && (PRESENCE_KINDS as readonly string[]).includes(v);

/** The background's check of a presence notice (its sender is checked first). Fails closed. */
export function parsePresenceNotice(raw: unknown): PresenceNotice | null {
  if (jsonLength(raw) > MAX_PRESENCE_NOTICE_CHARS) return null;
  if (!isRecord(raw) || !hasExactKeys(raw, ['type', 'events', 'others']) || raw.type !== PRESENCE_NOTICE) return null;
  const { events, others } = raw;
  if (typeof others !== 'number' || !Number.isSafeInteger(others) || others < 0 || others > MAX_ROSTER_MEMBERS) return null;
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_PRESENCE_EVENTS) return null;
  const out: PresenceNotice['events'] = [];
  for (const e of events) {
    if (!isRecord(e) || !hasExactKeys(e, ['kind', 'name']) || !isKind(e.kind)) return null;
    if (typeof e.name !== 'string' || e.name.length > MAX_PRESENCE_NAME_CHARS) return null;
    out.push({ kind: e.kind, name: e.name });
  }
  return { type: PRESENCE_NOTICE, events: out, others };
}

export function parsePresenceNoticeReply(raw: unknown): PresenceNoticeReply | null {
  if (!isRecord(raw) || !hasExactKeys(raw, ['sound']) || typeof raw.sound !== 'boolean') return null;
  return { sound: raw.sound };
}

// ---------------------------------------------------------------------------------------------
// From views to events

/**
 * After joining a call in progress, members who show up within this long are the roster you
 * joined (it may arrive in more than one view), not news.
 */
export const INITIAL_ROSTER_GRACE_MS = 2_000;

type ViewPart = Pick<SessionView, 'phase' | 'self' | 'members'>;

/**
 * Diffs each view's members against the last: who joined, who left. Never yourself (members
 * exclude you, and your own peer id is filtered anyway), never the people already there when
 * you joined (the first roster of a call, and whoever appears in the grace period after a
 * non-empty one), and nothing outside a call: leaving, failing or a new call starts over.
 */
export class PresenceTracker {
  private call: string | null = null;
  private known = new Map<string, string>();
  private quietUntil = 0;

  constructor(private readonly graceMs: number = INITIAL_ROSTER_GRACE_MS) {}

  observe(view: ViewPart, now: number): PresenceEvent[] {
    const self = view.self;
    if ((view.phase !== 'connected' && view.phase !== 'reconnecting') || self === null) {
      this.call = null;
      this.known.clear();
      return [];
    }
    const members = new Map<string, string>();
    for (const m of view.members) if (m.peerId !== self.peerId) members.set(m.peerId, m.name);
    if (this.call !== self.peerId) {
      // A new call (our peer id is new for each one): its first roster is the baseline.
      // When we joined a call in progress, members who show up in the grace period are part
      // of that roster too; a call we started alone has no roster to wait for.
      this.call = self.peerId;
      this.known = members;
      this.quietUntil = members.size > 0 ? now + this.graceMs : now;
      return [];
    }
    const events: PresenceEvent[] = [];
    const quiet = now < this.quietUntil;
    for (const [peerId, name] of members) {
      if (!this.known.has(peerId) && !quiet) events.push({ kind: 'joined', peerId, name });
    }
    for (const [peerId, name] of this.known) {
      if (!members.has(peerId)) events.push({ kind: 'left', peerId, name });
    }
    this.known = members;
    return events;
  }
}

// ---------------------------------------------------------------------------------------------
// Coalescing bursts

export interface BatcherOptions {
  /** A batch is sent once nothing new happened for this long... */
  quietMs?: number;
  /** ...or this long after its first event, whichever comes first... */
  maxWaitMs?: number;
  /** ...but never sooner than this after the previous batch... */
  minGapMs?: number;
  /** ...or, once `busyAfter` batches went out within `busyWindowMs`, than `busyGapMs`. */
  busyAfter?: number;
  busyWindowMs?: number;
  busyGapMs?: number;
}

/**
 * Gathers presence events into batches, so a burst (three people joining at once, a room
 * emptying) is one notification and one sound. Someone who joins and leaves within one batch
 * cancels out (matched by peer id). Batches are spaced at least `minGapMs` apart, so a peer
 * that rejoins in a loop costs at most one notification per gap. Bounded: at most
 * MAX_PRESENCE_EVENTS pending, later ones dropped.
 */
export class PresenceBatcher {
  private readonly quietMs: number;
  private readonly maxWaitMs: number;
  private readonly minGapMs: number;
  private pending: PresenceEvent[] = [];
  private firstAt = 0;
  private lastAt = 0;
  private lastFlush = Number.NEGATIVE_INFINITY;
  /** When recent batches went out: a call that churns (someone leaving and rejoining on purpose) slows down. */
  private recent: number[] = [];
  private readonly busyAfter: number;
  private readonly busyWindowMs: number;
  private readonly busyGapMs: number;

  constructor(options: BatcherOptions = {}) {
    this.quietMs = options.quietMs ?? 1_500;
    this.maxWaitMs = options.maxWaitMs ?? 5_000;
    this.minGapMs = options.minGapMs ?? 4_000;
    this.busyAfter = options.busyAfter ?? 3;
    this.busyWindowMs = options.busyWindowMs ?? 60_000;
    this.busyGapMs = options.busyGapMs ?? 60_000;
  }

  /** Busy (a churning call) until this time: batches then go out a minute apart. */
  private busyUntil = Number.NEGATIVE_INFINITY;

  /** The gap before the next batch: short, or a minute while the call churns. */
  private gapMs(): number {
    return this.lastFlush < this.busyUntil ? this.busyGapMs : this.minGapMs;
  }

  add(events: readonly PresenceEvent[], now: number): void {
    for (const e of events) {
      const opposite = this.pending.findIndex((p) => p.peerId === e.peerId && p.kind !== e.kind);
      if (opposite >= 0) {
        this.pending.splice(opposite, 1);
        continue;
      }
      if (this.pending.some((p) => p.peerId === e.peerId && p.kind === e.kind)) continue;
      if (this.pending.length >= MAX_PRESENCE_EVENTS) continue;
      if (this.pending.length === 0) this.firstAt = now;
      this.pending.push(e);
    }
    if (events.length > 0) this.lastAt = now;
  }

  /** When the pending batch is due (ms, the caller's clock), or null when nothing is pending. */
  dueAt(): number | null {
    if (this.pending.length === 0) return null;
    const ready = Math.min(this.lastAt + this.quietMs, this.firstAt + this.maxWaitMs);
    return Math.max(ready, this.lastFlush + this.gapMs());
  }

  /** The batch, when it is due at `now`; it is then gone. */
  take(now: number): PresenceEvent[] | null {
    const due = this.dueAt();
    if (due === null || now < due) return null;
    const batch = this.pending;
    this.pending = [];
    this.lastFlush = now;
    this.recent = [...this.recent.filter((t) => t > now - this.busyWindowMs), now].slice(-this.busyAfter);
    // `busyAfter` batches within the window, or any batch while busy: (stay) busy for a while
    // after it, so a member leaving and rejoining on purpose cannot keep the notifications coming.
    if (this.recent.length >= this.busyAfter || now < this.busyUntil) this.busyUntil = now + this.busyGapMs * 2;
    return batch;
  }

  /** Forget what is pending (we left the call, or the popup shows it all now). */
  clear(): void {
    this.pending = [];
  }
}
