/**
 * The stage's tiles: one per participant, self included, from the session view, the offscreen
 * document's media entries and who is speaking. Pure functions, unit-tested
 * (tests/unit/stage-tiles.test.ts); the stage page only renders what they return.
 */
import type { LinkPhase, SessionView } from '../engine/session-api';
import { displayName } from './format';
import type { MediaEntry } from './media-registry';

export interface StageTile {
  /** The participant's peer id; also the tile's key, stable while their camera turns on and off. */
  peerId: string;
  name: string;
  self: boolean;
  /** One or two letters for the avatar shown while the camera is off. */
  initials: string;
  /** Index into the avatar palette (AVATAR_COLOURS), the same for a peer on every render. */
  colour: number;
  micOn: boolean;
  cameraOn: boolean;
  /** The camera stream to play: set only while the camera is on and its track has arrived. */
  stream: MediaStream | null;
  speaking: boolean;
  pinned: boolean;
  /** The link to this member (null for yourself). */
  link: LinkPhase | null;
}

/** How many avatar colours the stage's stylesheet defines (`.avatar.c0` … `.avatar.c7`). */
export const AVATAR_COLOURS = 8;

/** Invisible and direction-changing characters a name must not smuggle into an avatar. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

function firstGrapheme(word: string): string {
  // Skip leading punctuation and symbols ("(Bob)", "@ann"), then take one whole grapheme so a
  // letter with combining marks stays together.
  const start = word.search(LETTER_OR_DIGIT);
  if (start < 0) return '';
  const rest = word.slice(start);
  const Segmenter = (Intl as { Segmenter?: typeof Intl.Segmenter }).Segmenter;
  if (Segmenter) {
    for (const { segment } of new Segmenter(undefined, { granularity: 'grapheme' }).segment(rest)) return segment;
  }
  return Array.from(rest)[0] ?? '';
}

/**
 * Initials for an avatar: the first letter of the first and of the last word ("Ada Lovelace"
 * -> "AL", "Grace" -> "G"), upper-cased; "?" when the name has no letter or digit at all.
 */
export function initials(name: string | null | undefined): string {
  const clean = (name ?? '').normalize('NFC').replace(INVISIBLE, '');
  const words = clean.split(/\s+/u).filter((w) => LETTER_OR_DIGIT.test(w));
  const first = words[0];
  if (first === undefined) return '?';
  const last = words.length > 1 ? words[words.length - 1] : undefined;
  const out = (firstGrapheme(first) + (last ? firstGrapheme(last) : '')).toUpperCase();
  // Upper-casing can lengthen a letter ("ß" -> "SS"): keep the avatar to a few characters.
  return Array.from(out).slice(0, 3).join('') || '?';
}

/** A stable palette index for `id` (FNV-1a over its UTF-16 units). */
export function avatarColour(id: string, paletteSize: number = AVATAR_COLOURS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return paletteSize > 0 ? h % paletteSize : 0;
}

function compareTiles(a: StageTile, b: StageTile): number {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  if (a.self !== b.self) return a.self ? -1 : 1;
  const byName = a.name.localeCompare(b.name);
  if (byName !== 0) return byName;
  return a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0;
}

/**
 * One tile per participant: the pinned one first, then yourself, then the others by name (so
 * tiles do not jump around when someone speaks or turns a camera on). A camera stream is
 * attached only while the view says that person sends 'camera' and the track is there.
 * `pinned` naming nobody in the call pins nothing.
 */
export function buildTiles(
  view: Pick<SessionView, 'self' | 'members'>,
  entries: readonly MediaEntry[],
  speaking: readonly string[],
  pinned: string | null,
): StageTile[] {
  const speakingSet = new Set(speaking);
  const cameraOf = (peerId: string, self: boolean): MediaStream | null =>
    entries.find((e) => e.lane === 'camera' && e.self === self && e.peerId === peerId)?.stream ?? null;
  const out: StageTile[] = [];
  if (view.self) {
    const s = view.self;
    const cameraOn = s.sending.includes('camera');
    const name = displayName(s.name);
    out.push({
      peerId: s.peerId,
      name,
      self: true,
      initials: initials(name),
      colour: avatarColour(s.peerId),
      micOn: s.sending.includes('mic'),
      cameraOn,
      stream: cameraOn ? cameraOf(s.peerId, true) : null,
      speaking: s.sending.includes('mic') && speakingSet.has(s.peerId),
      pinned: pinned === s.peerId,
      link: null,
    });
  }
  for (const m of view.members) {
    if (out.some((t) => t.peerId === m.peerId)) continue;
    const cameraOn = m.sending.includes('camera');
    const micOn = m.sending.includes('mic');
    const name = displayName(m.name);
    out.push({
      peerId: m.peerId,
      name,
      self: false,
      initials: initials(name),
      colour: avatarColour(m.peerId),
      micOn,
      cameraOn,
      stream: cameraOn ? cameraOf(m.peerId, false) : null,
      speaking: micOn && speakingSet.has(m.peerId),
      pinned: pinned === m.peerId,
      link: m.link,
    });
  }
  return out.sort(compareTiles);
}

export interface GridShape {
  cols: number;
  rows: number;
  /** Width of one tile in px (0 when the area is unknown). */
  tileWidth: number;
}

/**
 * The grid that makes `count` tiles of aspect `aspect` (width / height) as large as possible in
 * a `width` x `height` area with `gap` px between tiles, as Meet and Jitsi lay out their tile
 * views. Ties go to more columns. An unknown (zero) area gets a square-ish grid.
 */
export function bestGrid(count: number, width: number, height: number, aspect = 16 / 9, gap = 0): GridShape {
  const n = Math.max(1, Math.floor(count));
  if (!(width > 0) || !(height > 0)) {
    const cols = Math.ceil(Math.sqrt(n));
    return { cols, rows: Math.ceil(n / cols), tileWidth: 0 };
  }
  let best: GridShape = { cols: 1, rows: n, tileWidth: -1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const byWidth = (width - gap * (cols - 1)) / cols;
    const byHeight = ((height - gap * (rows - 1)) / rows) * aspect;
    const tileWidth = Math.max(0, Math.min(byWidth, byHeight));
    // A tie goes to more columns: side by side reads better on a landscape screen.
    if (tileWidth >= best.tileWidth - 0.5) best = { cols, rows, tileWidth };
  }
  return { ...best, tileWidth: Math.floor(best.tileWidth) };
}
