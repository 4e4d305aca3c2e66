/**
 * What the toolbar icon says about the call, so a person sees it is on (and whether they are
 * muted) without opening the popup. Pure: the offscreen document computes it from each view
 * and sends it to the background, which alone may touch `chrome.action`. The background
 * accepts only this closed set of texts from the offscreen document (messages.ts,
 * parseBadgeUpdate).
 */
import type { SessionView } from '../engine/session-api';

export const BADGE_UPDATE = 'kibitz/badge';

/** Short words, not colour alone: '' (no call), '…' (getting in), 'ON' (mic on), 'MUTE'. */
export const BADGE_TEXTS = ['', '…', 'ON', 'MUTE'] as const;
export type BadgeText = (typeof BADGE_TEXTS)[number];

export interface BadgeUpdate {
  type: typeof BADGE_UPDATE;
  text: BadgeText;
  /** The icon's tooltip and accessible name. */
  title: string;
}

export const MAX_BADGE_TITLE = 200;

export function badgeFor(view: Pick<SessionView, 'phase' | 'self' | 'members'>): BadgeUpdate {
  const make = (text: BadgeText, title: string): BadgeUpdate => ({ type: BADGE_UPDATE, text, title });
  switch (view.phase) {
    case 'idle':
    case 'failed':
    case 'ended':
      return make('', 'Kibitz: not in a call');
    case 'connecting':
      return make('…', 'Kibitz: joining a call');
    case 'waiting':
      return make('…', 'Kibitz: waiting for the host');
    case 'connected':
    case 'reconnecting': {
      const sending = view.self?.sending ?? [];
      const muted = !sending.includes('mic');
      const n = view.members.length;
      const who = n === 0 ? 'nobody else yet' : `${n} other${n === 1 ? '' : 's'}`;
      const camera = sending.includes('camera') ? '; camera on' : '';
      return make(muted ? 'MUTE' : 'ON', `Kibitz: in a call with ${who}; microphone ${muted ? 'muted' : 'on'}${camera}`);
    }
  }
}
