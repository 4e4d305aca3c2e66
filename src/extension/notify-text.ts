/**
 * The words of Kibitz's notifications, built by the background from checked messages. Names
 * come from other people and are untrusted: each is bounded, must pass the engine's name rule
 * (names.ts, cleanName: no controls, bidi overrides, invisible characters or mixed scripts) or
 * is shown as "Someone", is cut to a few dozen characters, and is wrapped in a bidi isolate
 * (FSI ... PDI), so a right-to-left name cannot reorder the sentence around it. Pure module.
 */
import { cleanName } from '../engine/names';
import { displayName } from './format';
import { MAX_PRESENCE_NAME_CHARS, type PresenceKind, type PresenceNotice } from './presence';
import type { ShortcutLane, ShortcutReply } from './shortcuts';

export interface NotificationText {
  title: string;
  message: string;
}

/** Longest name shown, in user-perceived characters (grapheme clusters). */
export const MAX_SHOWN_NAME = 40;
export const MAX_NOTIFICATION_TITLE = 120;
export const MAX_NOTIFICATION_MESSAGE = 400;
/** Names listed in one notification; the rest are counted. */
const MAX_LISTED = 3;

const FSI = '\u2068';
const PDI = '\u2069';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Cuts `text` to at most `max` grapheme clusters, ending in "…" when it was longer. */
export function cut(text: string, max: number): string {
  const parts = [...graphemes.segment(text)].map((s) => s.segment);
  return parts.length <= max ? text : `${parts.slice(0, Math.max(1, max - 1)).join('')}…`;
}

/**
 * A person's name as a notification shows it: clean, short, isolated, and in quotes, so a name
 * such as "3 people" or "Kibitz: call not encrypted" reads as a name, not as Kibitz's words;
 * Someone (unquoted, ours) when refused.
 */
export function notificationName(raw: unknown): string {
  const clean = typeof raw === 'string' && raw.length <= MAX_PRESENCE_NAME_CHARS ? cleanName(raw) : null;
  if (!clean) return displayName(null);
  return `\u201c${FSI}${cut(clean, MAX_SHOWN_NAME)}${PDI}\u201d`;
}

/** Per kind: the title for one person, for several, and a list label. A knock adds a row. */
const PHRASES: Record<PresenceKind, { one: (who: string) => string; many: (n: number) => string; short: (n: number) => string; label: string }> = {
  joined: {
    one: (who) => `${who} joined your call`,
    many: (n) => `${n} people joined your call`,
    short: (n) => `${n} joined`,
    label: 'Joined',
  },
  left: {
    one: (who) => `${who} left your call`,
    many: (n) => `${n} people left your call`,
    short: (n) => `${n} left`,
    label: 'Left',
  },
};
const KIND_ORDER = Object.keys(PHRASES) as PresenceKind[];

function list(names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED);
  const rest = names.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} and ${rest} more`;
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

function othersLine(others: number): string {
  if (others <= 0) return 'Nobody else is in the call now.';
  return others === 1 ? '1 other person is in the call now.' : `${others} others are in the call now.`;
}

/** One notification for one batch of joins and leaves; null for an empty batch. */
export function presenceNotification(notice: Pick<PresenceNotice, 'events' | 'others'>): NotificationText | null {
  const byKind = new Map<PresenceKind, string[]>();
  for (const e of notice.events) {
    const names = byKind.get(e.kind) ?? [];
    names.push(notificationName(e.name));
    byKind.set(e.kind, names);
  }
  const kinds = KIND_ORDER.filter((k) => (byKind.get(k)?.length ?? 0) > 0);
  if (kinds.length === 0) return null;
  const lines: string[] = [];
  let title: string;
  if (kinds.length === 1) {
    const kind = kinds[0]!;
    const names = byKind.get(kind)!;
    title = names.length === 1 ? PHRASES[kind].one(names[0]!) : PHRASES[kind].many(names.length);
    if (names.length > 1) lines.push(`${list(names)}.`);
  } else {
    title = `Your call: ${kinds.map((k) => PHRASES[k].short(byKind.get(k)!.length)).join(', ')}`;
    for (const k of kinds) lines.push(`${PHRASES[k].label}: ${list(byKind.get(k)!)}.`);
  }
  lines.push(othersLine(notice.others));
  return { title: cut(title, MAX_NOTIFICATION_TITLE), message: cut(lines.join('\n'), MAX_NOTIFICATION_MESSAGE) };
}

const LANE_WORDS: Record<ShortcutLane, string> = { mic: 'microphone', camera: 'camera' };
// Engine errors are our own words, but bound them and keep them on one line anyway.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]+/gu;

/** The notification for a shortcut that could not switch a lane; null when nothing failed. */
export function shortcutFailureNotification(reply: ShortcutReply): NotificationText | null {
  if (reply.outcome !== 'failed') return null;
  const error = reply.error.replace(UNPRINTABLE, ' ').replace(/\s{2,}/g, ' ').trim() || 'That did not work. Try again.';
  return {
    title: `Kibitz could not turn ${reply.wanted} the ${LANE_WORDS[reply.lane]}`,
    message: cut(error, MAX_NOTIFICATION_MESSAGE),
  };
}
