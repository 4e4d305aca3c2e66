/**
 * The notices about one person's trust, raised once per change whoever coordinates: a member
 * whose certificate differs from the one pinned for their name raises "Key change" once (not on
 * every roster), and withdraws "NAME is marked verified", so the two never stand side by side.
 * Marking that person verified again withdraws the alarm (session.markVerified); a name whose
 * alarm is over may raise a new one later.
 */
import { noticeTopic, type NoticeList } from './notices';
import type { TrustState } from './session-api';

export interface TrustSubject {
  name: string;
  trust: TrustState;
}

export class TrustAlarms {
  /** Names whose key-change alarm is raised in this call. */
  private readonly alarmed = new Set<string>();

  constructor(private readonly notices: NoticeList) {}

  /** Raises the alarms `members` call for; true when a notice changed. */
  review(members: readonly TrustSubject[]): boolean {
    let changed = false;
    const now = new Set<string>();
    for (const m of members) {
      if (m.trust !== 'key-changed') continue;
      now.add(m.name);
      // Raised already and still listed: once is enough. Pushed out by newer notices: again.
      if (this.alarmed.has(m.name) && this.notices.has(noticeTopic('key-changed', m.name))) continue;
      this.alarmed.add(m.name);
      this.notices.withdraw(noticeTopic('verified', m.name));
      this.notices.add('error', `Key change: ${m.name} shows a different certificate than the one you verified. Compare the safety code again.`, noticeTopic('key-changed', m.name));
      changed = true;
    }
    for (const name of [...this.alarmed]) if (!now.has(name)) this.alarmed.delete(name);
    return changed;
  }

  /** `name` was verified again: its alarm is over. */
  resolved(name: string): void {
    this.alarmed.delete(name);
    this.notices.withdraw(noticeTopic('key-changed', name));
  }

  clear(): void {
    this.alarmed.clear();
  }
}
