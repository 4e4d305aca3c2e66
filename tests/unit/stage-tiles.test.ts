import { describe, expect, it } from 'vitest';
import type { MemberView, SessionView } from '../../src/engine/session-api';
import type { MediaEntry } from '../../src/extension/media-registry';
import { AVATAR_COLOURS, avatarColour, bestGrid, buildTiles, initials } from '../../src/extension/stage-tiles';

const member = (peerId: string, name: string, sending: MemberView['sending'] = [], link: MemberView['link'] = 'connected') =>
  ({ peerId, name, sending, link }) as MemberView;
const view = (selfSending: MemberView['sending'], members: MemberView[]): Pick<SessionView, 'self' | 'members'> => ({
  self: { peerId: 'me', name: 'Ada Lovelace', fingerprint: '', isCoordinator: true, sending: selfSending },
  members,
});
const stream = (label: string) => ({ id: label }) as unknown as MediaStream;
const entry = (peerId: string, lane: MediaEntry['lane'], self = false): MediaEntry => ({ peerId, lane, self, stream: stream(`${peerId}-${lane}`) });

describe('initials', () => {
  it('takes the first letters of the first and last words', () => {
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('grace brewster murray hopper')).toBe('GH');
    expect(initials('Cher')).toBe('C');
    expect(initials('  bob   ')).toBe('B');
  });

  it('skips punctuation, keeps whole graphemes, and falls back to "?"', () => {
    expect(initials('(Bob) @smith')).toBe('BS');
    expect(initials('Émile Zola')).toBe('ÉZ');
    expect(initials('e\u0301mile')).toBe('É'); // decomposed: normalised, one grapheme
    expect(initials('山田 太郎')).toBe('山太');
    expect(initials('')).toBe('?');
    expect(initials(null)).toBe('?');
    expect(initials('🎉 !!')).toBe('?');
  });

  it('drops invisible and direction-changing characters a name might carry', () => {
    expect(initials('\u202Eevil \u200Bname')).toBe('EN');
    expect(initials('a\u0000b')).toBe('A');
  });
});

describe('avatar colours', () => {
  it('are stable per id and inside the palette', () => {
    expect(avatarColour('peer-1')).toBe(avatarColour('peer-1'));
    const seen = new Set(Array.from({ length: 200 }, (_, i) => avatarColour(`peer-${i}`)));
    expect([...seen].every((c) => c >= 0 && c < AVATAR_COLOURS)).toBe(true);
    expect(seen.size).toBe(AVATAR_COLOURS); // 200 ids use every colour
  });
});

describe('stage tiles', () => {
  it('one tile per participant, yourself first, then the others by name', () => {
    const tiles = buildTiles(view([], [member('z', 'Zed'), member('b', 'Bob Baker'), member('c', '  ')]), [], [], null);
    expect(tiles.map((t) => [t.peerId, t.name, t.self, t.initials])).toEqual([
      ['me', 'Ada Lovelace', true, 'AL'],
      ['b', 'Bob Baker', false, 'BB'],
      ['c', 'Someone', false, 'S'],
      ['z', 'Zed', false, 'Z'],
    ]);
    expect(tiles[0]?.link).toBeNull();
    expect(tiles[1]?.link).toBe('connected');
  });

  it('shows a camera stream only while the view says the camera is on and its track is there', () => {
    const entries = [entry('me', 'camera', true), entry('b', 'camera'), entry('z', 'camera'), entry('b', 'mic')];
    const tiles = buildTiles(view(['camera'], [member('b', 'Bob', ['camera', 'mic']), member('z', 'Zed', []), member('y', 'Yan', ['camera'])]), entries, [], null);
    const by = Object.fromEntries(tiles.map((t) => [t.peerId, t]));
    expect(by.me?.stream).toBe(entries[0]?.stream);
    expect(by.b?.stream).toBe(entries[1]?.stream);
    expect(by.b?.micOn).toBe(true);
    expect(by.z?.stream).toBeNull(); // a stale track of someone whose camera is off
    expect(by.z?.cameraOn).toBe(false);
    expect(by.y?.cameraOn).toBe(true); // on, but its track has not arrived: initials meanwhile
    expect(by.y?.stream).toBeNull();
    // Our own preview is never taken for a member's camera with the same id, nor the reverse.
    const swapped = buildTiles(view(['camera'], [member('b', 'Bob', ['camera'])]), [entry('me', 'camera', false), entry('b', 'camera', true)], [], null);
    expect(swapped.map((t) => t.stream)).toEqual([null, null]);
  });

  it('marks speakers only while their microphone is on', () => {
    const tiles = buildTiles(view(['mic'], [member('b', 'Bob', ['mic']), member('c', 'Cy', [])]), [], ['b', 'c', 'me'], null);
    expect(tiles.map((t) => [t.peerId, t.speaking, t.micOn])).toEqual([
      ['me', true, true],
      ['b', true, true],
      ['c', false, false], // a level left over from before the mute
    ]);
  });

  it('puts the pinned tile first; a pin naming nobody pins nothing', () => {
    const members = [member('b', 'Bob'), member('c', 'Cy')];
    const pinned = buildTiles(view([], members), [], [], 'c');
    expect(pinned.map((t) => [t.peerId, t.pinned])).toEqual([
      ['c', true],
      ['me', false],
      ['b', false],
    ]);
    expect(buildTiles(view([], members), [], [], 'gone').some((t) => t.pinned)).toBe(false);
    expect(buildTiles(view([], members), [], [], 'me')[0]?.pinned).toBe(true);
  });

  it('without a self (still connecting) lists the members, and a member with our id is not doubled', () => {
    expect(buildTiles({ self: null, members: [member('b', 'Bob')] }, [], [], null).map((t) => t.peerId)).toEqual(['b']);
    expect(buildTiles(view([], [member('me', 'Impostor')]), [], [], null)).toHaveLength(1);
  });
});

describe('grid shape', () => {
  it('chooses the columns that make the tiles largest', () => {
    expect(bestGrid(1, 1280, 720)).toMatchObject({ cols: 1, rows: 1, tileWidth: 1280 });
    expect(bestGrid(2, 1280, 720)).toMatchObject({ cols: 2, rows: 1 });
    expect(bestGrid(2, 500, 900)).toMatchObject({ cols: 1, rows: 2 }); // a tall, narrow window
    expect(bestGrid(3, 1240, 620, 16 / 9, 10)).toMatchObject({ cols: 2, rows: 2 });
    expect(bestGrid(3, 1800, 400, 16 / 9, 10)).toMatchObject({ cols: 3, rows: 1 });
    expect(bestGrid(9, 1600, 900)).toMatchObject({ cols: 3, rows: 3 });
    const g = bestGrid(4, 1000, 600, 16 / 9, 10);
    expect(g.cols * (g.tileWidth + 10) - 10).toBeLessThanOrEqual(1000);
    expect(g.rows * ((g.tileWidth * 9) / 16 + 10) - 10).toBeLessThanOrEqual(600);
  });

  it('falls back to a square-ish grid while the area is unknown', () => {
    expect(bestGrid(5, 0, 0)).toEqual({ cols: 3, rows: 2, tileWidth: 0 });
    expect(bestGrid(0, Number.NaN, 10)).toEqual({ cols: 1, rows: 1, tileWidth: 0 });
  });
});
