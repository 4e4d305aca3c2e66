/**
 * Turning a SessionView into words for the popup and the stage. Pure functions, unit-tested.
 */

import { MAX_TIME_VALUE, type CallPhase, type LinkPhase, type MediaLane, type MemberView, type Notice, type SessionView, type TrustState } from '../engine/session-api';

export type Tone = 'neutral' | 'progress' | 'good' | 'warn' | 'bad';

export interface PhaseText {
  /** Short state name, e.g. "Connected". */
  label: string;
  tone: Tone;
  /** One sentence: what is going on and, when something went wrong, what to do about it. */
  detail: string;
}

/** Phases in which the person is in (or getting into) a call. */
export function isInCall(phase: CallPhase): boolean {
  return phase === 'connecting' || phase === 'waiting' || phase === 'connected' || phase === 'reconnecting';
}

export function describePhase(view: Pick<SessionView, 'phase' | 'reason' | 'broker'> & { members: readonly Pick<MemberView, 'link'>[] }): PhaseText {
  switch (view.phase) {
    case 'idle':
      return { label: 'Not in a call', tone: 'neutral', detail: 'Start a call or join one with a room link.' };
    case 'connecting':
      return {
        label: 'Connecting',
        tone: 'progress',
        detail:
          view.broker === 'open'
            ? 'Signaling is up; waiting for the room to answer.'
            : 'Reaching the signaling broker…',
      };
    case 'waiting':
      return {
        label: 'Waiting for the host',
        tone: 'progress',
        detail: 'Waiting for the host to start the call… You join as soon as they do.',
      };
    case 'connected': {
      const n = view.members.length;
      return {
        label: 'Connected',
        tone: 'good',
        detail: n === 0 ? 'You are the only one here. Share the invite link.' : `${n} other ${n === 1 ? 'person' : 'people'} in the call.`,
      };
    }
    case 'reconnecting': {
      // Links between members do not need the broker: while one is up, the call goes on, so
      // this is a calm note, not an alarm (as Meet and Signal show a lost server link).
      const linked = view.members.some((m) => m.link === 'connected');
      return linked
        ? { label: 'Signaling offline', tone: 'progress', detail: SIGNALING_OFFLINE }
        : { label: 'Reconnecting', tone: 'warn', detail: view.reason ?? 'Signaling is unreachable; Kibitz keeps trying. Keep this open.' };
    }
    case 'failed':
      return {
        label: 'Call failed',
        tone: 'bad',
        // Every engine reason says what to do about its own cause; no generic advice after it.
        detail: view.reason ?? 'The call could not be set up. Try again.',
      };
    case 'ended':
      return {
        label: 'Call ended',
        tone: 'neutral',
        detail: view.reason ?? 'You left the call. Start a new one or join with a link.',
      };
  }
}

export const SIGNALING_OFFLINE = "Signaling offline: your call continues; new people can't join until it is back.";

export function describeLink(link: LinkPhase): { label: string; tone: Tone } {
  switch (link) {
    case 'connecting':
      return { label: 'Connecting…', tone: 'progress' };
    case 'connected':
      return { label: 'Connected', tone: 'good' };
    case 'reconnecting':
      return { label: 'Reconnecting…', tone: 'warn' };
    case 'failed':
      return { label: 'Connection failed', tone: 'bad' };
  }
}

export interface SafetyCodeText {
  /** The text inside the `data-testid="safety-code"` element. */
  text: string;
  /** Extra explanation for screen readers and the tooltip. */
  hint: string;
  ready: boolean;
}

export function describeSafetyCode(member: Pick<MemberView, 'sas' | 'sasPhase'>): SafetyCodeText {
  if (member.sasPhase === 'ready' && member.sas) {
    // A code is new every call (fresh nonces), even for someone verified: say so, or a changed
    // code for a verified person reads as an attack.
    return { text: member.sas, hint: 'Read it aloud together: it must match on both screens. It is new in every call, even for someone you verified.', ready: true };
  }
  if (member.sasPhase === 'failed') {
    return {
      text: 'unavailable',
      hint: 'The safety code could not be agreed. Do not trust this connection; leave and rejoin.',
      ready: false,
    };
  }
  return { text: 'pending', hint: 'Pending: the code appears once both sides have exchanged their halves.', ready: false };
}

export function describeTrust(trust: TrustState): { label: string; tone: Tone } | null {
  switch (trust) {
    case 'verified':
      // Pins are keyed by display name until cert-bound identity exists: say so.
      return { label: 'Verified (by name)', tone: 'good' };
    case 'key-changed':
      return { label: 'Key changed!', tone: 'bad' };
    case 'unverified':
      return null;
  }
}

export function laneLabel(lane: MediaLane): string {
  switch (lane) {
    case 'mic':
      return 'microphone';
    case 'camera':
      return 'camera';
    case 'tab-video':
      return 'shared tab';
    case 'tab-audio':
      return 'tab audio';
  }
}

export function describeSending(sending: readonly MediaLane[]): string {
  const on = sending.filter((l) => l === 'mic' || l === 'camera').map(laneLabel);
  return on.length === 0 ? 'muted, camera off' : `${on.join(' and ')} on`;
}

/** A Date for `at` when a Date can hold it, else null. Never throws, whatever it is given. */
function toDate(at: unknown): Date | null {
  if (typeof at !== 'number' || !Number.isFinite(at) || Math.abs(at) > MAX_TIME_VALUE) return null;
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "8:05 PM"-style local time for chat lines; '' for a time no Date can hold. Never throws. */
export function formatClock(at: number, locale?: string): string {
  const d = toDate(at);
  if (!d) return '';
  try {
    return d.toLocaleTimeString(locale, { hour: 'numeric', minute: '2-digit' });
  } catch {
    return '';
  }
}

/** ISO 8601 for a `<time datetime>`, or undefined (no attribute) when no Date can hold it. Never throws. */
export function isoTime(at: number): string | undefined {
  const d = toDate(at);
  if (!d) return undefined;
  try {
    return d.toISOString();
  } catch {
    return undefined;
  }
}

/** "not delivered to Bob, Carol" for an own chat message some members did not get; null when all did. */
export function undeliveredText(names: readonly string[] | undefined): string | null {
  if (!names || names.length === 0) return null;
  const shown = names.slice(0, 5).map((n) => displayName(n));
  const rest = names.length - shown.length;
  return `not delivered to ${shown.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
}

/** A notice's text with how often it was raised, e.g. "Key change: … (3×)". */
export function noticeText(notice: Pick<Notice, 'text' | 'count'>): string {
  const n = notice.count ?? 1;
  return n > 1 ? `${notice.text} (${n > 999 ? '999+' : n}×)` : notice.text;
}

/** A short, readable fingerprint prefix, e.g. "ab:cd:ef:01…". */
export function shortFingerprint(fp: string, pairs = 6): string {
  const parts = fp.split(':');
  return parts.length <= pairs ? fp : `${parts.slice(0, pairs).join(':')}…`;
}

/** Display name for a tile or a roster line; never empty. */
export function displayName(name: string | null | undefined, fallback = 'Someone'): string {
  const n = (name ?? '').trim();
  return n.length > 0 ? n : fallback;
}
