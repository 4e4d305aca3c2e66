/**
 * The roster: who is admitted to the call, each with the fingerprint the coordinator read from
 * its own handshake. Its size is bounded at admission (a roster that no longer fits a control
 * message would be silently dropped by every receiver), so refusing the joiner is the only
 * honest answer once the call is full.
 */
import type { GrantSubject } from './capabilities';
import { MAX_ROSTER_MEMBERS, rosterFits, type RosterEntry } from './wire';

export type AdmitResult = { ok: true } | { ok: false; reason: string };

export class Roster {
  private entries = new Map<string, RosterEntry>();
  /** At most MAX_ROSTER_MEMBERS: more would not fit one control message. */
  readonly capacity: number;

  constructor(capacity: number = MAX_ROSTER_MEMBERS) {
    this.capacity = Math.max(1, Math.min(MAX_ROSTER_MEMBERS, Math.floor(capacity)));
  }

  get size(): number {
    return this.entries.size;
  }

  has(peerId: string): boolean {
    return this.entries.has(peerId);
  }

  get(peerId: string): RosterEntry | undefined {
    return this.entries.get(peerId);
  }

  /** Who a member is to the capability checks: its id, handshaken fingerprint and kind. */
  subjectOf(peerId: string): GrantSubject | null {
    const entry = this.entries.get(peerId);
    return entry ? { peerId, fingerprint: entry.fingerprint, kind: entry.kind } : null;
  }

  values(): RosterEntry[] {
    return [...this.entries.values()];
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** The coordinator adds a member it admitted; refuses once the call is full. */
  admit(entry: RosterEntry): AdmitResult {
    const check = this.check(entry);
    if (check.ok) this.entries.set(entry.peerId, entry);
    return check;
  }

  /** Whether `entry` could be added without breaking the roster for its receivers. */
  check(entry: RosterEntry): AdmitResult {
    if (!this.entries.has(entry.peerId) && this.full) return { ok: false, reason: `this call is full (${this.capacity} people)` };
    // Every receiver drops a roster with a repeated certificate or one that does not fit one
    // control message, so admitting such a member would silently break everyone's roster.
    for (const m of this.entries.values()) {
      if (m.peerId !== entry.peerId && m.fingerprint === entry.fingerprint) return { ok: false, reason: 'this certificate is already in the call' };
    }
    const next = [...this.entries.values()].filter((m) => m.peerId !== entry.peerId);
    if (!rosterFits([...next, entry])) return { ok: false, reason: 'the call cannot list more people' };
    return { ok: true };
  }

  /** True when this would refuse a new member: checked before the gate runs. */
  get full(): boolean {
    return this.entries.size >= this.capacity;
  }

  delete(peerId: string): boolean {
    return this.entries.delete(peerId);
  }

  /** Replace with a coordinator's roster (already validated: bounded, no duplicates). */
  replace(members: readonly RosterEntry[]): void {
    this.entries = new Map(members.map((m) => [m.peerId, m]));
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * A coordinator's roster is believed only if it lists us with our own certificate and the
 * sender with the certificate we handshook with; otherwise someone sits in between.
 */
export type RosterCheck = 'ok' | 'missing-self' | 'missing-sender' | 'intercepted';

export function checkRosterAgainstLink(
  members: readonly RosterEntry[],
  self: { peerId: string; fingerprint: string },
  sender: { peerId: string; fingerprint: string },
): RosterCheck {
  const me = members.find((m) => m.peerId === self.peerId);
  const them = members.find((m) => m.peerId === sender.peerId);
  if (!me) return 'missing-self';
  if (!them) return 'missing-sender';
  if (me.fingerprint !== self.fingerprint || them.fingerprint !== sender.fingerprint) return 'intercepted';
  return 'ok';
}
