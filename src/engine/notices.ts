/**
 * Notices a person should see, bounded and de-duplicated: raising a notice whose level and text
 * equal one already listed folds into it (its count goes up, its time moves to now and it
 * becomes the newest) instead of adding another, so a condition that repeats (a key-change
 * alarm on every roster) cannot push other notices out. At most `max` notices are kept, the
 * oldest forgotten first. A notice may carry a topic (e.g. `verified:Bob`), so that a later
 * notice that contradicts it withdraws it: "Bob is marked verified" never stays beside "Key
 * change: Bob". Pure: clock and id source come in.
 */
import type { Notice } from './session-api';

export const MAX_NOTICES = 20;
/** Longest notice text kept (names inside notices are already bounded). */
export const MAX_NOTICE_TEXT = 500;

export interface NoticeListOptions {
  now: () => number;
  newId: () => string;
  max?: number;
}

export class NoticeList {
  private readonly max: number;
  private items: Notice[] = [];
  /** Topic of each listed notice that has one, by notice id (not part of what the UI sees). */
  private readonly topics = new Map<string, string>();

  constructor(private readonly options: NoticeListOptions) {
    this.max = Math.max(1, options.max ?? MAX_NOTICES);
  }

  /** Raises a notice; returns the listed notice (new, or the one it folded into). */
  add(level: Notice['level'], rawText: string, topic?: string): Notice {
    const text = rawText.length > MAX_NOTICE_TEXT ? `${rawText.slice(0, MAX_NOTICE_TEXT - 1)}…` : rawText;
    const at = this.options.now();
    const i = this.items.findIndex((n) => n.level === level && n.text === text);
    if (i >= 0) {
      const prev = this.items[i]!;
      const bumped: Notice = { ...prev, at, count: (prev.count ?? 1) + 1 };
      this.items.splice(i, 1);
      this.items.push(bumped);
      if (topic !== undefined) this.topics.set(bumped.id, topic);
      return bumped;
    }
    const notice: Notice = { id: this.options.newId(), level, text, at, count: 1 };
    this.items.push(notice);
    if (topic !== undefined) this.topics.set(notice.id, topic);
    if (this.items.length > this.max) this.forget(this.items.splice(0, this.items.length - this.max));
    return notice;
  }

  /** True while a notice raised with `topic` is listed. */
  has(topic: string): boolean {
    return this.items.some((n) => this.topics.get(n.id) === topic);
  }

  /** Removes every notice raised with `topic`; returns how many went. */
  withdraw(topic: string): number {
    const gone = this.items.filter((n) => this.topics.get(n.id) === topic);
    if (gone.length === 0) return 0;
    this.items = this.items.filter((n) => this.topics.get(n.id) !== topic);
    this.forget(gone);
    return gone.length;
  }

  private forget(notices: readonly Notice[]): void {
    for (const n of notices) this.topics.delete(n.id);
  }

  /** Oldest first, a copy. */
  list(): Notice[] {
    return this.items.slice();
  }

  clear(): void {
    this.items = [];
    this.topics.clear();
  }
}

/** The topic of a notice about one person's trust: what a later, contradicting notice withdraws. */
export function noticeTopic(kind: 'verified' | 'key-changed', name: string): string {
  return `${kind}:${name}`;
}
