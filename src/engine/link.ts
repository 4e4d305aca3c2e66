/**
 * Room links. A link is `<base>#v=1&r=<roomId>&g=<gate>`: everything that matters rides in the
 * URL fragment, which browsers never send to a server. The broker only ever sees the hashed
 * room id (`roomSid`).
 *
 * The base is an invite page on the broker's own origin, `http(s)://<broker>/join`, so a chat
 * app makes the link clickable and the link names the broker it was made on (`broker`). Older
 * `kibitz://call` links (and any other non-web base) still parse; they name no broker.
 *
 * The parser is strict and fails closed. In particular an unknown parameter is an error, not
 * something to skip: later versions will add security parameters (verifiers, host keys), and
 * an older client that ignored them would silently join with weaker checks than the link's
 * creator asked for.
 */
import { checkBrokerUrl } from './broker-url';
import { base32Decode, base32Encode } from './encoding';

/** 128 random bits. */
export const ROOM_ID_BYTES = 16;
/** base32 length of 16 bytes: ceil(128 / 5). */
export const ROOM_ID_CHARS = 26;
/** The base of links that name no broker (the format before invite pages). */
export const DEFAULT_LINK_BASE = 'kibitz://call';
/** The last path segment of a broker's invite page. */
export const INVITE_PAGE = 'join';
export const LINK_VERSION = 1;
/** Links are pasted by people and carried in chat messages; anything longer is not ours. */
export const MAX_LINK_CHARS = 4096;

/**
 * Admission gate modes this client understands. Later modes (signed invites, OIDC, verified
 * roster) add their name here and their own variant to `RoomLink`, with their parameters.
 */
export const GATE_MODES = ['open'] as const;
export type GateMode = (typeof GATE_MODES)[number];

/** Anyone holding the link may join. */
export interface OpenRoomLink {
  version: 1;
  roomId: string;
  gate: 'open';
  /** The broker the link was made on (ws:// or wss://), when its base is an invite page. */
  broker?: string;
}

/** A parsed room link; a union discriminated by `gate` so each mode carries its own parameters. */
export type RoomLink = OpenRoomLink;

export type LinkParseResult = { ok: true; link: RoomLink } | { ok: false; error: string };

const ROOM_ID_RE = /^[a-z2-7]{26}$/;

/** A fresh room id: 16 bytes from `randomBytes` as 26 lowercase base32 characters. */
export function newRoomId(randomBytes: (n: number) => Uint8Array): string {
  const bytes = randomBytes(ROOM_ID_BYTES);
  // Fail closed on a broken random source rather than minting a short or padded id.
  if (!(bytes instanceof Uint8Array) || bytes.length !== ROOM_ID_BYTES) {
    throw new Error(`newRoomId: random source returned ${bytes?.length ?? 'no'} bytes, expected ${ROOM_ID_BYTES}`);
  }
  return base32Encode(bytes);
}

/** Exactly 26 lowercase base32 characters whose unused 2 trailing bits are zero. */
export function isRoomId(s: unknown): s is string {
  if (typeof s !== 'string' || !ROOM_ID_RE.test(s)) return false;
  try {
    return base32Decode(s).length === ROOM_ID_BYTES; // rejects non-canonical trailing bits
  } catch {
    return false;
  }
}

/** The 16 bytes behind a room id (the key material for sealed signaling). */
export function roomIdBytes(roomId: string): Uint8Array<ArrayBuffer> {
  if (!isRoomId(roomId)) throw new Error('not a valid room id');
  return base32Decode(roomId);
}

function isGateMode(s: string): s is GateMode {
  return (GATE_MODES as readonly string[]).includes(s);
}

/**
 * The invite page of the broker at `brokerUrl`: ws→http, wss→https, same host, port and
 * query, path + "join" (a broker behind a path prefix keeps it). A plain ws:// broker beyond
 * this machine gets no invite page: an http:// page on the network could be rewritten in
 * transit to read the room from its fragment, so its links keep the `kibitz://call` form (and
 * name no broker). Throws on a bad broker URL.
 */
export function inviteBaseFor(brokerUrl: string): string {
  const check = checkBrokerUrl(brokerUrl);
  if (!check.ok || !check.value) throw new Error(`inviteBaseFor: ${check.reason ?? 'invalid broker URL'}`);
  if (check.warning) return DEFAULT_LINK_BASE; // ws:// to a host that is not loopback
  const url = new URL(check.value);
  const scheme = url.protocol === 'wss:' ? 'https:' : 'http:';
  const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  return `${scheme}//${url.host}${path}${INVITE_PAGE}${url.search}`;
}

/** The broker an invite page belongs to (the inverse of `inviteBaseFor`), or null if `base` is not one. */
export function brokerOfInviteBase(base: string): string | null {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password || !url.hostname) return null;
  if (!url.pathname.endsWith(`/${INVITE_PAGE}`)) return null;
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const path = url.pathname.slice(0, -INVITE_PAGE.length);
  const broker = `${scheme}//${url.host}${path}${url.search}`;
  const check = checkBrokerUrl(broker);
  return check.ok && check.value ? check.value : null;
}

/** Builds the shareable link. Throws on an invalid `link` or a base that has a fragment. */
export function encodeLink(link: RoomLink, base: string = DEFAULT_LINK_BASE): string {
  if (link.version !== LINK_VERSION) throw new Error('encodeLink: unsupported link version');
  if (!isRoomId(link.roomId)) throw new Error('encodeLink: invalid room id');
  if (!isGateMode(link.gate)) throw new Error('encodeLink: unknown gate mode');
  if (typeof base !== 'string' || base.length === 0 || /[#\s]/.test(base)) {
    throw new Error('encodeLink: base must be non-empty, without "#" or whitespace');
  }
  return `${base}#v=${LINK_VERSION}&r=${link.roomId}&g=${link.gate}`;
}

// User-facing errors. Fixed sentences: never echo parts of the pasted text back, so a crafted
// link cannot put its own words into Kibitz's UI.
const E = {
  notText: 'This is not a Kibitz link.',
  tooLong: 'This link is too long to be a Kibitz link.',
  noFragment: 'This is not a Kibitz link: the room part after "#" is missing.',
  malformed: 'This link is malformed. Ask for a fresh link.',
  duplicate: 'This link is malformed: a setting appears twice. Ask for a fresh link.',
  newer: 'This link needs a newer version of Kibitz. Update Kibitz, then try again.',
  noVersion: 'This link is missing its version. Ask for a fresh link.',
  badVersion: 'This link has an invalid version. Ask for a fresh link.',
  noRoom: 'This link is missing its room. Ask for a fresh link.',
  badRoom: 'This link has an invalid room code. Check that it was copied completely.',
  noGate: 'This link is missing its access mode. Ask for a fresh link.',
  notInvite: 'This web address is not a Kibitz invite: an invite ends in "/join#" and the room. Ask for a fresh link.',
  newerGate: 'This link uses an access mode this version of Kibitz does not support. Update Kibitz, then try again.',
} as const;

const KNOWN_KEYS: ReadonlySet<string> = new Set(['v', 'r', 'g']);
// Control characters and whitespace are never part of a link we produced.
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f\u2028\u2029]/;

function fail(error: string): LinkParseResult {
  return { ok: false, error };
}

/** Parses a pasted room link. Never throws; returns a short, user-facing error on failure. */
export function parseLink(text: string): LinkParseResult {
  if (typeof text !== 'string') return fail(E.notText);
  const s = text.trim();
  if (s.length === 0) return fail(E.notText);
  if (s.length > MAX_LINK_CHARS) return fail(E.tooLong);

  const hash = s.indexOf('#');
  if (hash < 0) return fail(E.noFragment);
  // The base (before '#') is only a carrier with no meaning to us, but the whole link is plain.
  if (CONTROL_OR_SPACE.test(s)) return fail(E.malformed);
  const fragment = s.slice(hash + 1);
  if (fragment.length === 0) return fail(E.noFragment);
  // A web base must be a broker's invite page: the link then names its broker. A web address
  // that is not one is refused rather than joined through whatever broker happens to be set.
  const base = s.slice(0, hash);
  let broker: string | undefined;
  if (/^https?:/i.test(base)) {
    const found = brokerOfInviteBase(base);
    if (!found) return fail(E.notInvite);
    broker = found;
  }

  const params = new Map<string, string>();
  for (const pair of fragment.split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return fail(E.malformed); // empty segment, no '=', or empty key
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (params.has(key)) return fail(E.duplicate);
    params.set(key, value);
  }

  // Version first: a link from a newer format gets the "update" message, whatever else it holds.
  const v = params.get('v');
  if (v === undefined) return fail(E.noVersion);
  if (v !== String(LINK_VERSION)) {
    return /^[1-9][0-9]{0,8}$/.test(v) && Number(v) > LINK_VERSION ? fail(E.newer) : fail(E.badVersion);
  }
  for (const key of params.keys()) {
    if (!KNOWN_KEYS.has(key)) return fail(E.newer);
  }

  const roomId = params.get('r');
  if (roomId === undefined) return fail(E.noRoom);
  if (!isRoomId(roomId)) return fail(E.badRoom);

  const gate = params.get('g');
  if (gate === undefined) return fail(E.noGate);
  if (!isGateMode(gate)) return fail(E.newerGate);

  return { ok: true, link: { version: 1, roomId, gate, ...(broker ? { broker } : {}) } };
}

/** The room a start opens: the one `linkText` names (shared before its call began), else a new open room. */
export function roomToOpen(linkText: string | undefined, randomBytes: (n: number) => Uint8Array): RoomLink {
  if (linkText === undefined) return { version: 1, roomId: newRoomId(randomBytes), gate: 'open' };
  const parsed = parseLink(linkText);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.link;
}
