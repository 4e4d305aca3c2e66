/**
 * Keyboard shortcuts for the call (`chrome.commands`, declared in wxt.config.ts): the background
 * receives `onCommand` and asks the engine, which lives in the offscreen document, to toggle a
 * lane. The message is a closed set (two commands, nothing else), carries no authority (the
 * offscreen document trusts it only by its sender, the service worker: trust.ts,
 * isExtensionWorkerSender) and is answered with what happened, so the background can tell the
 * person when turning a lane on failed. Pure module: no extension or DOM APIs.
 */
import { hasExactKeys, isRecord, jsonLength, MAX_ERROR_LENGTH } from './messages';

export const SHORTCUT = 'kibitz/shortcut';

/** Manifest command name -> the lane it toggles. The names are also the message's `command`. */
export const SHORTCUT_LANES = {
  'toggle-microphone': 'mic',
  'toggle-camera': 'camera',
} as const;
export type ShortcutCommand = keyof typeof SHORTCUT_LANES;
export type ShortcutLane = (typeof SHORTCUT_LANES)[ShortcutCommand];

export interface ShortcutMessage {
  type: typeof SHORTCUT;
  command: ShortcutCommand;
}

/** What the engine did with a shortcut. */
export type ShortcutReply =
  | { outcome: 'on' | 'off'; lane: ShortcutLane }
  /** Nothing to toggle: no call (or still joining); the shortcut does nothing. */
  | { outcome: 'not-in-call' }
  /** The same lane is still being switched (a second press while the first is in flight). */
  | { outcome: 'busy'; lane: ShortcutLane }
  | { outcome: 'failed'; lane: ShortcutLane; wanted: 'on' | 'off'; error: string };

const SHORTCUT_COMMANDS = Object.keys(SHORTCUT_LANES) as ShortcutCommand[];
const LANES: readonly ShortcutLane[] = ['mic', 'camera'];
const MAX_SHORTCUT_MESSAGE_CHARS = 256;
const MAX_REPLY_CHARS = 2 * 1024;

/** The command a `chrome.commands.onCommand` name stands for, or null for any other name. */
export function shortcutCommand(name: unknown): ShortcutCommand | null {
  return typeof name === 'string' && (SHORTCUT_COMMANDS as readonly string[]).includes(name) ? (name as ShortcutCommand) : null;
}

export function shortcutMessage(command: ShortcutCommand): ShortcutMessage {
  return { type: SHORTCUT, command };
}

/** The offscreen document's check of a shortcut message's shape (its sender is checked first). */
export function parseShortcutMessage(raw: unknown): ShortcutMessage | null {
  if (jsonLength(raw) > MAX_SHORTCUT_MESSAGE_CHARS) return null;
  if (!isRecord(raw) || !hasExactKeys(raw, ['type', 'command']) || raw.type !== SHORTCUT) return null;
  const command = shortcutCommand(raw.command);
  return command ? { type: SHORTCUT, command } : null;
}

const isLane = (v: unknown): v is ShortcutLane => typeof v === 'string' && (LANES as readonly string[]).includes(v);

/** The background's check of the engine's answer. Fails closed (null). */
export function parseShortcutReply(raw: unknown): ShortcutReply | null {
  if (jsonLength(raw) > MAX_REPLY_CHARS || !isRecord(raw)) return null;
  switch (raw.outcome) {
    case 'on':
    case 'off':
      return hasExactKeys(raw, ['outcome', 'lane']) && isLane(raw.lane) ? { outcome: raw.outcome, lane: raw.lane } : null;
    case 'not-in-call':
      return hasExactKeys(raw, ['outcome']) ? { outcome: 'not-in-call' } : null;
    case 'busy':
      return hasExactKeys(raw, ['outcome', 'lane']) && isLane(raw.lane) ? { outcome: 'busy', lane: raw.lane } : null;
    case 'failed':
      if (!hasExactKeys(raw, ['outcome', 'lane', 'wanted', 'error']) || !isLane(raw.lane)) return null;
      if (raw.wanted !== 'on' && raw.wanted !== 'off') return null;
      if (typeof raw.error !== 'string' || raw.error.length > MAX_ERROR_LENGTH) return null;
      return { outcome: 'failed', lane: raw.lane, wanted: raw.wanted, error: raw.error };
    default:
      return null;
  }
}
