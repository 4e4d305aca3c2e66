/**
 * The UI <-> engine protocol of the extension, shared by the popup, the stage page, the
 * background service worker and the offscreen document.
 *
 * Transport:
 * - popup -> background: `runtime.sendMessage({ type: 'kibitz/ensure-engine' })`, answered with
 *   `{ ok: true }` or `{ ok: false, error }`. The background trusts the message only by its
 *   `sender`; the body carries no authority, it is only checked for shape.
 * - popup/stage <-> offscreen: a `runtime.connect({ name: 'kibitz-ui' })` port.
 *   UI -> engine: `{ type: 'command', id, command }`.
 *   engine -> UI: `{ type: 'view', view }` on connect and on every change, and
 *   `{ type: 'result', id, ok, error? }` once per command. A view carries chat as a DELTA
 *   (`view.chat = { reset, entries, more }`, see src/engine/view-projection.ts): the first view
 *   on a port has `reset: true` and the newest entries that fit the budget; later ones only
 *   entries with a higher `seq`. The page assembles its history with `ChatHistory` (bounded).
 *   So a view message stays far below MAX_ENGINE_MESSAGE_CHARS whatever the chat holds.
 *
 * Every validator here is strict and fails closed: an unknown `type`/`op`, a missing or extra
 * field, a wrong type, a string that is too long or an oversized message yields `null` (or a
 * `reason`), never a partially trusted value. Pure module: no extension or DOM APIs.
 */

import {
  MAX_CHAT_HISTORY,
  MAX_CHAT_LENGTH,
  MAX_TIME_VALUE,
  type CallPhase,
  type ChatDelta,
  type ChatEntry,
  type MediaLane,
  type PortView,
  type SessionCommand,
  type SessionView,
} from '../engine/session-api';
import { isPeerId } from '../engine/broker-protocol';
import { checkBrokerUrl, MAX_BROKER_URL_LENGTH, type BrokerUrlCheck } from '../engine/broker-url';
import { BADGE_TEXTS, BADGE_UPDATE, MAX_BADGE_TITLE, type BadgeUpdate } from './badge';

export { checkBrokerUrl, MAX_BROKER_URL_LENGTH, type BrokerUrlCheck };
import { cleanName, nameProblem } from '../engine/names';

export const UI_PORT_NAME = 'kibitz-ui';
export const ENSURE_ENGINE = 'kibitz/ensure-engine';

/** Largest UI -> engine message, measured as JSON text (a 4000-char chat escapes to < 24 KiB). */
export const MAX_UI_MESSAGE_CHARS = 32 * 1024;
/** Largest engine -> UI message, measured as JSON text. */
export const MAX_ENGINE_MESSAGE_CHARS = 2 * 1024 * 1024;
export const MAX_LINK_LENGTH = 4096;
export const MAX_ERROR_LENGTH = 500;
/** Command ids are positive safe integers chosen by the UI, unique per port. */
export const MAX_COMMAND_ID = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------
// Message types

export interface EnsureEngineRequest {
  type: typeof ENSURE_ENGINE;
}
export type EnsureEngineResponse = { ok: true } | { ok: false; error: string };

export interface CommandMessage {
  type: 'command';
  id: number;
  command: SessionCommand;
}
export type UiToEngineMessage = CommandMessage;

export interface ViewMessage {
  type: 'view';
  /** The session view with chat as a delta for this port (see ChatHistory). */
  view: PortView;
}
export interface ResultMessage {
  type: 'result';
  id: number;
  ok: boolean;
  error?: string;
}
export type EngineToUiMessage = ViewMessage | ResultMessage;

export type Check<T> = { ok: true; value: T } | { ok: false; reason: string };

// ---------------------------------------------------------------------------------------------
// Small shape helpers

type Rec = Record<string, unknown>;

export function isRecord(v: unknown): v is Rec {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** True when `v` has every key in `required`, and no key outside `required` + `optional`. */
export function hasExactKeys(v: Rec, required: readonly string[], optional: readonly string[] = []): boolean {
  const keys = Object.keys(v);
  for (const k of required) if (!Object.prototype.hasOwnProperty.call(v, k)) return false;
  for (const k of keys) if (!required.includes(k) && !optional.includes(k)) return false;
  return true;
}

export function jsonLength(v: unknown): number {
  try {
    const s = JSON.stringify(v);
    return typeof s === 'string' ? s.length : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

// Chat may contain newlines and tabs but no other C0 controls.
// eslint-disable-next-line no-control-regex
const CHAT_FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function isCommandId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 && v <= MAX_COMMAND_ID;
}

/** Peer ids as the broker and engine define them (22 canonical base64url characters). */
export { isPeerId };

const LANES: readonly MediaLane[] = ['mic', 'camera', 'tab-video', 'tab-audio'];
function isLane(v: unknown): v is MediaLane {
  return typeof v === 'string' && (LANES as readonly string[]).includes(v);
}

// ---------------------------------------------------------------------------------------------
// Field checks with reasons a person can act on (the popup shows them next to the field)

/** The engine's one name rule (names.ts), with its reason for the person typing. */
export function checkName(v: unknown): Check<string> {
  const value = cleanName(v);
  if (value === null) return { ok: false, reason: nameProblem(v) ?? 'Enter your name.' };
  return { ok: true, value };
}

export function checkChatText(v: unknown): Check<string> {
  if (typeof v !== 'string') return { ok: false, reason: 'Type a message first.' };
  if (v.trim().length === 0) return { ok: false, reason: 'Type a message first.' };
  if (v.length > MAX_CHAT_LENGTH) return { ok: false, reason: `Messages can be at most ${MAX_CHAT_LENGTH} characters.` };
  if (CHAT_FORBIDDEN.test(v)) return { ok: false, reason: 'The message contains control characters; remove them.' };
  return { ok: true, value: v };
}

export function checkRoomLink(v: unknown): Check<string> {
  if (typeof v !== 'string') return { ok: false, reason: 'Paste the room link you were sent.' };
  const link = v.trim();
  if (link.length === 0) return { ok: false, reason: 'Paste the room link you were sent.' };
  if (link.length > MAX_LINK_LENGTH) return { ok: false, reason: 'That link is too long to be a Kibitz room link.' };
  if (/\s/.test(link)) return { ok: false, reason: 'A room link has no spaces; paste it again in one piece.' };
  if (!link.includes('#')) return { ok: false, reason: 'That link has no room part (after “#”); paste the whole invite link.' };
  return { ok: true, value: link };
}

// ---------------------------------------------------------------------------------------------
// Commands

/** Validates a SessionCommand, with a reason a person can act on when it is refused. */
export function checkCommand(raw: unknown): Check<SessionCommand> {
  if (!isRecord(raw) || typeof raw.op !== 'string') return { ok: false, reason: 'Malformed command.' };
  switch (raw.op) {
    case 'start': {
      if (!hasExactKeys(raw, ['op', 'name', 'brokerUrl'], ['link'])) return { ok: false, reason: 'Malformed command.' };
      const name = checkName(raw.name);
      if (!name.ok) return name;
      const broker = checkBrokerUrl(raw.brokerUrl);
      if (!broker.ok || broker.value === undefined) return { ok: false, reason: broker.reason ?? 'Invalid broker address.' };
      if (!Object.prototype.hasOwnProperty.call(raw, 'link')) return { ok: true, value: { op: 'start', name: name.value, brokerUrl: broker.value } };
      const link = checkRoomLink(raw.link);
      if (!link.ok) return link;
      return { ok: true, value: { op: 'start', name: name.value, brokerUrl: broker.value, link: link.value } };
    }
    case 'join': {
      if (!hasExactKeys(raw, ['op', 'name', 'link', 'brokerUrl'])) return { ok: false, reason: 'Malformed command.' };
      const name = checkName(raw.name);
      if (!name.ok) return name;
      const link = checkRoomLink(raw.link);
      if (!link.ok) return link;
      const broker = checkBrokerUrl(raw.brokerUrl);
      if (!broker.ok || broker.value === undefined) return { ok: false, reason: broker.reason ?? 'Invalid broker address.' };
      return { ok: true, value: { op: 'join', name: name.value, link: link.value, brokerUrl: broker.value } };
    }
    case 'leave': {
      if (!hasExactKeys(raw, ['op'])) return { ok: false, reason: 'Malformed command.' };
      return { ok: true, value: { op: 'leave' } };
    }
    case 'chat': {
      if (!hasExactKeys(raw, ['op', 'text'])) return { ok: false, reason: 'Malformed command.' };
      const text = checkChatText(raw.text);
      if (!text.ok) return text;
      return { ok: true, value: { op: 'chat', text: text.value } };
    }
    case 'set-media': {
      if (!hasExactKeys(raw, ['op', 'lane', 'on'])) return { ok: false, reason: 'Malformed command.' };
      if (raw.lane !== 'mic' && raw.lane !== 'camera') return { ok: false, reason: 'Unknown media lane.' };
      if (typeof raw.on !== 'boolean') return { ok: false, reason: 'Malformed command.' };
      return { ok: true, value: { op: 'set-media', lane: raw.lane, on: raw.on } };
    }
    case 'mark-verified': {
      if (!hasExactKeys(raw, ['op', 'peerId'])) return { ok: false, reason: 'Malformed command.' };
      if (!isPeerId(raw.peerId)) return { ok: false, reason: 'Unknown participant.' };
      return { ok: true, value: { op: 'mark-verified', peerId: raw.peerId } };
    }
    case 'warm-up': {
      if (!hasExactKeys(raw, ['op', 'brokerUrl'], ['link'])) return { ok: false, reason: 'Malformed command.' };
      const broker = checkBrokerUrl(raw.brokerUrl);
      if (!broker.ok || broker.value === undefined) return { ok: false, reason: broker.reason ?? 'Invalid broker address.' };
      if (!Object.prototype.hasOwnProperty.call(raw, 'link')) return { ok: true, value: { op: 'warm-up', brokerUrl: broker.value } };
      const link = checkRoomLink(raw.link);
      if (!link.ok) return link;
      return { ok: true, value: { op: 'warm-up', brokerUrl: broker.value, link: link.value } };
    }
    default:
      return { ok: false, reason: 'Unknown command.' };
  }
}

export function parseCommand(raw: unknown): SessionCommand | null {
  const c = checkCommand(raw);
  return c.ok ? c.value : null;
}

// ---------------------------------------------------------------------------------------------
// Envelopes

export function parseEnsureEngineRequest(raw: unknown): EnsureEngineRequest | null {
  if (!isRecord(raw) || !hasExactKeys(raw, ['type']) || raw.type !== ENSURE_ENGINE) return null;
  return { type: ENSURE_ENGINE };
}

/** The background's check of a badge update from the offscreen document: shape and closed values. */
export function parseBadgeUpdate(raw: unknown): BadgeUpdate | null {
  if (!isRecord(raw) || !hasExactKeys(raw, ['type', 'text', 'title']) || raw.type !== BADGE_UPDATE) return null;
  const text = BADGE_TEXTS.find((t) => t === raw.text);
  if (text === undefined) return null;
  if (typeof raw.title !== 'string' || raw.title.length > MAX_BADGE_TITLE || /[\u0000-\u001f\u007f]/.test(raw.title)) return null;
  return { type: BADGE_UPDATE, text, title: raw.title };
}

export function parseEnsureEngineResponse(raw: unknown): EnsureEngineResponse | null {
  if (!isRecord(raw)) return null;
  if (raw.ok === true && hasExactKeys(raw, ['ok'])) return { ok: true };
  if (raw.ok === false && hasExactKeys(raw, ['ok', 'error']) && typeof raw.error === 'string' && raw.error.length <= MAX_ERROR_LENGTH) {
    return { ok: false, error: raw.error };
  }
  return null;
}

/** Validates a message arriving at the engine from a UI port. Fails closed (null). */
export function parseUiMessage(raw: unknown): UiToEngineMessage | null {
  if (jsonLength(raw) > MAX_UI_MESSAGE_CHARS) return null;
  if (!isRecord(raw) || raw.type !== 'command') return null;
  if (!hasExactKeys(raw, ['type', 'id', 'command'])) return null;
  if (!isCommandId(raw.id)) return null;
  const command = parseCommand(raw.command);
  if (!command) return null;
  return { type: 'command', id: raw.id, command };
}

/** Validates a message arriving at a UI page from the engine. Fails closed (null). */
export function parseEngineMessage(raw: unknown): EngineToUiMessage | null {
  if (jsonLength(raw) > MAX_ENGINE_MESSAGE_CHARS) return null;
  if (!isRecord(raw)) return null;
  if (raw.type === 'view') {
    if (!hasExactKeys(raw, ['type', 'view'])) return null;
    const view = checkPortView(raw.view);
    if (!view) return null;
    return { type: 'view', view };
  }
  if (raw.type === 'result') {
    if (!hasExactKeys(raw, ['type', 'id', 'ok'], ['error'])) return null;
    if (!isCommandId(raw.id) || typeof raw.ok !== 'boolean') return null;
    if (raw.error !== undefined && (typeof raw.error !== 'string' || raw.error.length > MAX_ERROR_LENGTH)) return null;
    const out: ResultMessage = { type: 'result', id: raw.id, ok: raw.ok };
    if (typeof raw.error === 'string') out.error = raw.error;
    return out;
  }
  return null;
}

export function resultMessage(id: number, error?: unknown): ResultMessage {
  if (error === undefined) return { type: 'result', id, ok: true };
  return { type: 'result', id, ok: false, error: errorText(error) };
}

/** A user-facing error string for an engine rejection, bounded in length. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  const clean = text.trim() || 'That did not work. Try again.';
  return clean.length > MAX_ERROR_LENGTH ? `${clean.slice(0, MAX_ERROR_LENGTH - 1)}…` : clean;
}

// ---------------------------------------------------------------------------------------------
// SessionView (checked on the UI side: fields the UI reads must have the right types; extra
// fields are tolerated so the engine can grow the view without breaking older pages)

const PHASES: readonly CallPhase[] = ['idle', 'connecting', 'waiting', 'connected', 'reconnecting', 'failed', 'ended'];
const LINK_PHASES = ['connecting', 'connected', 'reconnecting', 'failed'];
const SAS_PHASES = ['pending', 'ready', 'failed'];
const TRUST = ['unverified', 'verified', 'key-changed'];
const KINDS = ['human', 'agent'];
const BROKER = ['connecting', 'open', 'reconnecting', 'closed'];
const LEVELS = ['info', 'warning', 'error'];

const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const oneOf = (v: unknown, set: readonly string[]): boolean => typeof v === 'string' && set.includes(v);
const isLaneList = (v: unknown): boolean => Array.isArray(v) && v.length <= LANES.length * 2 && v.every(isLane);

function isMemberView(v: unknown): boolean {
  return (
    isRecord(v) &&
    isPeerId(v.peerId) &&
    isStr(v.name) &&
    oneOf(v.kind, KINDS) &&
    isStr(v.fingerprint) &&
    typeof v.isCoordinator === 'boolean' &&
    oneOf(v.link, LINK_PHASES) &&
    isStrOrNull(v.sas) &&
    oneOf(v.sasPhase, SAS_PHASES) &&
    oneOf(v.trust, TRUST) &&
    typeof v.lookAlike === 'boolean' &&
    isLaneList(v.sending)
  );
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
/** A time a Date can hold, so formatting it can never throw. */
const isTime = (v: unknown): v is number => isNum(v) && Math.abs(v) <= MAX_TIME_VALUE;
const MAX_UNDELIVERED = 64;

export function isChatEntry(v: unknown): v is ChatEntry {
  return (
    isRecord(v) &&
    isSeq(v.seq) &&
    isStr(v.id) &&
    isStr(v.fromPeerId) &&
    isStr(v.fromName) &&
    isStr(v.text) &&
    isTime(v.at) &&
    typeof v.self === 'boolean' &&
    (v.undeliveredTo === undefined ||
      (Array.isArray(v.undeliveredTo) && v.undeliveredTo.length <= MAX_UNDELIVERED && v.undeliveredTo.every(isStr)))
  );
}

function isNotice(v: unknown): boolean {
  return (
    isRecord(v) &&
    isStr(v.id) &&
    oneOf(v.level, LEVELS) &&
    isStr(v.text) &&
    isTime(v.at) &&
    (v.count === undefined || (typeof v.count === 'number' && Number.isSafeInteger(v.count) && v.count > 0))
  );
}

function isSelf(v: unknown): boolean {
  if (v === null) return true;
  return (
    isRecord(v) &&
    isPeerId(v.peerId) &&
    isStr(v.name) &&
    isStr(v.fingerprint) &&
    typeof v.isCoordinator === 'boolean' &&
    isLaneList(v.sending)
  );
}

/** Everything of a view but its chat: checked strictly, the whole view is refused when wrong. */
function isViewBody(v: unknown): v is Rec {
  return (
    isRecord(v) &&
    oneOf(v.phase, PHASES) &&
    isStrOrNull(v.reason) &&
    isStrOrNull(v.roomLink) &&
    isSelf(v.self) &&
    Array.isArray(v.members) &&
    v.members.every(isMemberView) &&
    typeof v.chatEpoch === 'number' &&
    Number.isSafeInteger(v.chatEpoch) &&
    oneOf(v.broker, BROKER) &&
    Array.isArray(v.notices) &&
    v.notices.every(isNotice)
  );
}

/** A whole engine-side SessionView (chat as the full history). */
export function isSessionView(v: unknown): v is SessionView {
  return isViewBody(v) && Array.isArray(v.chat) && v.chat.every(isChatEntry);
}

/**
 * Validates the view a UI port receives. The view's own fields are checked strictly (a wrong
 * one refuses the view); a malformed chat entry is dropped on its own, so one bad entry can
 * never cost the page its participants, notices or Leave button.
 */
export function checkPortView(v: unknown): PortView | null {
  if (!isViewBody(v)) return null;
  const chat = v.chat;
  if (!isRecord(chat) || !hasExactKeys(chat, ['reset', 'entries', 'more'])) return null;
  if (typeof chat.reset !== 'boolean' || typeof chat.more !== 'boolean' || !Array.isArray(chat.entries)) return null;
  const entries = chat.entries.filter(isChatEntry);
  const delta: ChatDelta = { reset: chat.reset, entries, more: chat.more };
  return { ...(v as unknown as Omit<PortView, 'chat'>), chat: delta };
}

/**
 * A UI page's chat, assembled from the deltas of its port: `reset` empties it, entries are
 * appended only when their `seq` is above every seq held (so a replay or a duplicate never shows
 * twice), and at most `max` entries are kept, the oldest forgotten first.
 */
export class ChatHistory {
  private list: ChatEntry[] = [];
  private lastSeq = 0;

  constructor(private readonly max: number = MAX_CHAT_HISTORY) {}

  /** Applies one delta and returns the history (a new array when it changed). */
  apply(delta: ChatDelta): ChatEntry[] {
    let next = delta.reset ? [] : this.list;
    if (delta.reset) this.lastSeq = 0;
    const fresh: ChatEntry[] = [];
    for (const e of delta.entries) {
      if (e.seq <= this.lastSeq) continue;
      this.lastSeq = e.seq;
      fresh.push(e);
    }
    if (fresh.length > 0 || delta.reset) {
      next = next.concat(fresh);
      if (next.length > this.max) next = next.slice(next.length - this.max);
      this.list = next;
    }
    return this.list;
  }

  /** The page's own view: the port view with the assembled history in place of the delta. */
  assemble(view: PortView): SessionView {
    return { ...view, chat: this.apply(view.chat) };
  }

  entries(): ChatEntry[] {
    return this.list;
  }

  clear(): void {
    this.list = [];
    this.lastSeq = 0;
  }
}

/** The view a UI shows when the engine could not start at all. */
export function engineFailedView(reason: string): SessionView {
  return {
    phase: 'failed',
    reason,
    roomLink: null,
    self: null,
    members: [],
    chat: [],
    chatEpoch: 0,
    broker: 'closed',
    notices: [],
  };
}
