/**
 * Wire messages between peers, and the strict validators every inbound message passes before
 * the engine looks at it. Anything that is not exactly a known shape within its size limit is
 * rejected with a reason; callers drop it and count the drop (DESIGN rule 4: fail closed).
 */
import type { MediaLane, ParticipantKind } from './session-api';
import { MAX_CHAT_LENGTH } from './session-api';
import { isPeerId } from './broker-protocol';
import { cleanName, hasForbiddenNameCharacters } from './names';

export const WIRE_VERSION = 1;
/** Control-channel messages are small: presence, roster, safety code, liveness. */
export const MAX_CONTROL_BYTES = 16 * 1024;
/** Content-channel messages (chat now; ink and snapshots later) are chunked above this size. */
export const MAX_CONTENT_BYTES = 64 * 1024;
/** Sealed signaling plaintext (SDP with four media lanes and data fits well under this). */
export const MAX_SIGNAL_BYTES = 32 * 1024;
export const MAX_ROSTER_MEMBERS = 64;
export const MAX_FEATURES = 16;

export const MEDIA_LANES: readonly MediaLane[] = ['mic', 'camera', 'tab-video', 'tab-audio'];

export interface RosterEntry {
  peerId: string;
  name: string;
  kind: ParticipantKind;
  /** Fingerprint the coordinator read from its own handshake with this member. */
  fingerprint: string;
}

export type ControlMessage =
  | { kind: 'hello'; name: string; participant: ParticipantKind; credential: string | null; features: string[] }
  | { kind: 'welcome'; coordinator: string; epoch: number; members: RosterEntry[] }
  | { kind: 'refused'; reason: string }
  | { kind: 'roster'; coordinator: string; epoch: number; members: RosterEntry[] }
  | { kind: 'ping'; at: number }
  | { kind: 'pong'; at: number }
  | { kind: 'bye' }
  | { kind: 'sas-commit'; commit: string }
  | { kind: 'sas-reveal'; nonce: string }
  | { kind: 'media'; sending: MediaLane[] };

export type ContentMessage = { kind: 'chat'; id: string; text: string; at: number };

export type SignalMessage =
  | { k: 'desc'; link: string; seq: number; desc: { type: 'offer' | 'answer'; sdp: string } }
  | { k: 'cand'; link: string; seq: number; cand: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null } | null };

export type Parsed<T> = { ok: true; msg: T } | { ok: false; reason: string };

type Obj = Record<string, unknown>;

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason);
}

function byteLength(s: string): number {
  // UTF-8 length without allocating: good enough as an upper bound check before parsing.
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 2 : 3;
  }
  return n;
}

function decodeJson(raw: unknown, maxBytes: number): Obj {
  if (typeof raw !== 'string') fail('not a text message');
  if (raw.length > maxBytes || byteLength(raw) > maxBytes) fail('message too large');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    fail('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not an object');
  return value as Obj;
}

function exactKeys(o: Obj, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`unexpected field ${k.slice(0, 32)}`);
}

function str(o: Obj, key: string, max: number, min = 0): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${key} must be a string`);
  if (v.length < min || v.length > max) fail(`${key} has a bad length`);
  return v;
}

function int(o: Obj, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(`${key} must be an integer in range`);
  return v;
}

const FINGERPRINT = /^[0-9a-f]{2}(:[0-9a-f]{2}){31}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

export { isPeerId };

function peerId(o: Obj, key: string): string {
  const v = o[key];
  if (!isPeerId(v)) fail(`${key} is not a peer id`);
  return v;
}

export { cleanName, hasForbiddenNameCharacters };

function name(o: Obj, key: string): string {
  const v = cleanName(o[key]);
  if (v === null) fail(`${key} is not a valid name`);
  return v;
}

function participantKind(o: Obj, key: string): ParticipantKind {
  const v = o[key];
  if (v !== 'human' && v !== 'agent') fail(`${key} must be human or agent`);
  return v;
}

function rosterEntries(o: Obj, key: string): RosterEntry[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length > MAX_ROSTER_MEMBERS) fail(`${key} must be a bounded list`);
  const seen = new Set<string>();
  return v.map((item: unknown) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) fail('roster entry must be an object');
    const e = item as Obj;
    exactKeys(e, ['peerId', 'name', 'kind', 'fingerprint']);
    const entry: RosterEntry = {
      peerId: peerId(e, 'peerId'),
      name: name(e, 'name'),
      kind: participantKind(e, 'kind'),
      fingerprint: str(e, 'fingerprint', 95, 95),
    };
    if (!FINGERPRINT.test(entry.fingerprint)) fail('roster fingerprint malformed');
    if (seen.has(entry.peerId)) fail('duplicate roster member');
    seen.add(entry.peerId);
    return entry;
  });
}

function lanes(o: Obj, key: string): MediaLane[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length > MEDIA_LANES.length) fail(`${key} must be a list of lanes`);
  const out = new Set<MediaLane>();
  for (const lane of v) {
    if (!MEDIA_LANES.includes(lane as MediaLane)) fail('unknown media lane');
    out.add(lane as MediaLane);
  }
  return [...out];
}

function parseWith<T>(fn: () => T): Parsed<T> {
  try {
    return { ok: true, msg: fn() };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message };
    return { ok: false, reason: 'unreadable message' };
  }
}

export function parseControl(raw: unknown): Parsed<ControlMessage> {
  return parseWith(() => {
    const o = decodeJson(raw, MAX_CONTROL_BYTES);
    switch (o.kind) {
      case 'hello': {
        exactKeys(o, ['kind', 'name', 'participant', 'credential', 'features']);
        const credential = o.credential === null ? null : str(o, 'credential', 8192, 1);
        const features = o.features;
        if (!Array.isArray(features) || features.length > MAX_FEATURES) fail('features must be a bounded list');
        for (const f of features) if (typeof f !== 'string' || !/^[a-z0-9-]{1,32}$/.test(f)) fail('bad feature');
        return {
          kind: 'hello',
          name: name(o, 'name'),
          participant: participantKind(o, 'participant'),
          credential,
          features: features as string[],
        };
      }
      case 'welcome':
      case 'roster': {
        exactKeys(o, ['kind', 'coordinator', 'epoch', 'members']);
        return {
          kind: o.kind,
          coordinator: peerId(o, 'coordinator'),
          epoch: int(o, 'epoch', 0, Number.MAX_SAFE_INTEGER),
          members: rosterEntries(o, 'members'),
        };
      }
      case 'refused':
        exactKeys(o, ['kind', 'reason']);
        return { kind: 'refused', reason: str(o, 'reason', 200, 1) };
      case 'ping':
      case 'pong':
        exactKeys(o, ['kind', 'at']);
        return { kind: o.kind, at: int(o, 'at', 0, Number.MAX_SAFE_INTEGER) };
      case 'bye':
        exactKeys(o, ['kind']);
        return { kind: 'bye' };
      case 'sas-commit': {
        exactKeys(o, ['kind', 'commit']);
        const commit = str(o, 'commit', 43, 43);
        if (!B64URL.test(commit)) fail('commit malformed');
        return { kind: 'sas-commit', commit };
      }
      case 'sas-reveal': {
        exactKeys(o, ['kind', 'nonce']);
        const nonce = str(o, 'nonce', 43, 43);
        if (!B64URL.test(nonce)) fail('nonce malformed');
        return { kind: 'sas-reveal', nonce };
      }
      case 'media':
        exactKeys(o, ['kind', 'sending']);
        return { kind: 'media', sending: lanes(o, 'sending') };
      default:
        fail('unknown kind');
    }
  });
}

export function parseContent(raw: unknown): Parsed<ContentMessage> {
  return parseWith(() => {
    const o = decodeJson(raw, MAX_CONTENT_BYTES);
    switch (o.kind) {
      case 'chat': {
        exactKeys(o, ['kind', 'id', 'text', 'at']);
        const id = str(o, 'id', 32, 8);
        if (!B64URL.test(id)) fail('chat id malformed');
        const text = str(o, 'text', MAX_CHAT_LENGTH, 1);
        return { kind: 'chat', id, text, at: int(o, 'at', 0, Number.MAX_SAFE_INTEGER) };
      }
      default:
        fail('unknown kind');
    }
  });
}

export function parseSignal(raw: unknown): Parsed<SignalMessage> {
  return parseWith(() => {
    const o = decodeJson(raw, MAX_SIGNAL_BYTES);
    const link = str(o, 'link', 22, 22);
    if (!B64URL.test(link)) fail('link id malformed');
    const seq = int(o, 'seq', 0, Number.MAX_SAFE_INTEGER);
    if (o.k === 'desc') {
      exactKeys(o, ['k', 'link', 'seq', 'desc']);
      const d = o.desc;
      if (typeof d !== 'object' || d === null || Array.isArray(d)) fail('desc must be an object');
      const desc = d as Obj;
      exactKeys(desc, ['type', 'sdp']);
      if (desc.type !== 'offer' && desc.type !== 'answer') fail('desc type must be offer or answer');
      const sdp = str(desc, 'sdp', MAX_SIGNAL_BYTES, 10);
      if (!sdp.startsWith('v=0')) fail('sdp malformed');
      return { k: 'desc', link, seq, desc: { type: desc.type, sdp } };
    }
    if (o.k === 'cand') {
      exactKeys(o, ['k', 'link', 'seq', 'cand']);
      if (o.cand === null) return { k: 'cand', link, seq, cand: null };
      const c = o.cand;
      if (typeof c !== 'object' || c === null || Array.isArray(c)) fail('cand must be an object');
      const cand = c as Obj;
      exactKeys(cand, ['candidate', 'sdpMid', 'sdpMLineIndex']);
      const candidate = str(cand, 'candidate', 1024, 0);
      const sdpMid = cand.sdpMid === null ? null : str(cand, 'sdpMid', 32, 0);
      const sdpMLineIndex = cand.sdpMLineIndex === null ? null : int(cand, 'sdpMLineIndex', 0, 64);
      return { k: 'cand', link, seq, cand: { candidate, sdpMid, sdpMLineIndex } };
    }
    fail('unknown signal');
  });
}

export function encode(msg: ControlMessage | ContentMessage | SignalMessage): string {
  return JSON.stringify(msg);
}
