/**
 * The call outside the popup, pure parts: the shortcut and presence messages (closed sets,
 * strict shapes), the worker sender check, the notification words for hostile names, the
 * join/leave diffing and coalescing, the setting's default and the manifest's shortcuts.
 */
import { describe, expect, it } from 'vitest';
import config from '../../wxt.config';
import type { MemberView, SessionView } from '../../src/engine/session-api';
import { badgeFor } from '../../src/extension/badge';
import { CHIME_NOTES, chimeFor } from '../../src/extension/chime';
import {
  MAX_NOTIFICATION_MESSAGE,
  MAX_NOTIFICATION_TITLE,
  MAX_SHOWN_NAME,
  notificationName,
  presenceNotification,
  shortcutFailureNotification,
} from '../../src/extension/notify-text';
import {
  INITIAL_ROSTER_GRACE_MS,
  MAX_PRESENCE_EVENTS,
  PRESENCE_NOTICE,
  PresenceBatcher,
  PresenceTracker,
  parsePresenceNotice,
  parsePresenceNoticeReply,
  presenceNotice,
  type PresenceEvent,
} from '../../src/extension/presence';
import { STORAGE_KEYS, readSettings } from '../../src/extension/settings';
import {
  SHORTCUT,
  SHORTCUT_LANES,
  parseShortcutMessage,
  parseShortcutReply,
  shortcutCommand,
  shortcutMessage,
} from '../../src/extension/shortcuts';
import { NOTIFY_PAGES, WORKER_PATH, isExtensionPageSender, isExtensionWorkerSender } from '../../src/extension/trust';

const ID = 'abcdefghijklmnopabcdefghijklmnop';
const BASE = `chrome-extension://${ID}/`;
const ORIGIN = `chrome-extension://${ID}`;

// Sender shapes as Chromium 156 reports them (seen with a probe extension).
const WORKER = { id: ID, url: `${BASE}background.js` };
const OFFSCREEN = { id: ID, url: `${BASE}offscreen.html`, origin: ORIGIN };
const POPUP_TAB = { id: ID, url: `${BASE}popup.html`, origin: ORIGIN, frameId: 0, documentId: 'BF94B1794D714DE849042796829E806E', documentLifecycle: 'active', tab: { id: 7 } };

const FSI = '\u2068';
const PDI = '\u2069';
/** A name as a notification shows it, without the quotes and the isolate around it. */
const bare = (s: string): string => s.replaceAll(FSI, '').replaceAll(PDI, '').replaceAll('\u201c', '').replaceAll('\u201d', '');

describe('the background -> engine shortcut message', () => {
  it('maps exactly the two manifest commands, nothing else', () => {
    expect(shortcutCommand('toggle-microphone')).toBe('toggle-microphone');
    expect(shortcutCommand('toggle-camera')).toBe('toggle-camera');
    for (const bad of ['_execute_action', 'toggle-mic', 'Toggle-Camera', '', 'toString', '__proto__', 1, null, undefined]) {
      expect(shortcutCommand(bad), String(bad)).toBeNull();
    }
  });

  it('accepts only {type, command} with a known command', () => {
    expect(parseShortcutMessage(shortcutMessage('toggle-microphone'))).toEqual({ type: SHORTCUT, command: 'toggle-microphone' });
    expect(parseShortcutMessage({ type: SHORTCUT, command: 'toggle-camera' })).toEqual({ type: SHORTCUT, command: 'toggle-camera' });
    const bad: unknown[] = [
      null,
      'toggle-microphone',
      [SHORTCUT, 'toggle-microphone'],
      {},
      { type: SHORTCUT },
      { command: 'toggle-microphone' },
      { type: 'kibitz/badge', command: 'toggle-microphone' },
      { type: SHORTCUT, command: 'start' },
      { type: SHORTCUT, command: 'leave' },
      { type: SHORTCUT, command: 'toggle-microphone', on: true }, // no extra fields, no "set to"
      { type: SHORTCUT, command: 'toggle-microphone', lane: 'tab-video' },
      { type: SHORTCUT, command: ['toggle-microphone'] },
      { type: SHORTCUT, command: 'toggle-microphone'.padEnd(10_000, ' ') },
      Object.assign(Object.create({ inherited: 1 }), { type: SHORTCUT, command: 'toggle-camera' }),
    ];
    for (const b of bad) expect(parseShortcutMessage(b), JSON.stringify(b)?.slice(0, 80)).toBeNull();
  });

  it('reads the engine answer strictly', () => {
    expect(parseShortcutReply({ outcome: 'on', lane: 'mic' })).toEqual({ outcome: 'on', lane: 'mic' });
    expect(parseShortcutReply({ outcome: 'off', lane: 'camera' })).toEqual({ outcome: 'off', lane: 'camera' });
    expect(parseShortcutReply({ outcome: 'not-in-call' })).toEqual({ outcome: 'not-in-call' });
    expect(parseShortcutReply({ outcome: 'busy', lane: 'camera' })).toEqual({ outcome: 'busy', lane: 'camera' });
    const failed = { outcome: 'failed', lane: 'camera', wanted: 'on', error: 'Could not turn on the camera: permission was denied.' };
    expect(parseShortcutReply(failed)).toEqual(failed);
    for (const b of [
      undefined,
      null,
      { outcome: 'on' },
      { outcome: 'on', lane: 'tab-video' },
      { outcome: 'maybe', lane: 'mic' },
      { outcome: 'not-in-call', lane: 'mic' },
      { ...failed, wanted: 'sideways' },
      { ...failed, error: 42 },
      { ...failed, error: 'x'.repeat(501) },
      { ...failed, extra: true },
    ]) {
      expect(parseShortcutReply(b), JSON.stringify(b)).toBeNull();
    }
  });

  it('the manifest declares both shortcuts with suggested keys and descriptions in words', () => {
    const manifest = config.manifest as { permissions: string[]; commands: Record<string, { suggested_key: { default: string }; description: string }> };
    expect(Object.keys(manifest.commands).sort()).toEqual(Object.keys(SHORTCUT_LANES).sort());
    expect(manifest.commands['toggle-microphone']?.suggested_key.default).toBe('Alt+Shift+M');
    expect(manifest.commands['toggle-camera']?.suggested_key.default).toBe('Alt+Shift+V');
    for (const c of Object.values(manifest.commands)) expect(c.description).toMatch(/^[A-Z][a-z ]+ (microphone|camera)[a-z ]* in the call$/);
    expect(manifest.permissions).toContain('notifications');
  });
});

describe('only the service worker can pass for the service worker', () => {
  it('accepts our worker as Chromium reports it (with or without an origin)', () => {
    expect(WORKER_PATH).toBe('/background.js');
    expect(isExtensionWorkerSender(WORKER, ID, BASE)).toBe(true);
    expect(isExtensionWorkerSender({ ...WORKER, origin: ORIGIN }, ID, BASE)).toBe(true);
  });

  it('refuses content scripts, web pages, other extensions, frames and our own pages', () => {
    const cases: Record<string, unknown> = {
      nothing: undefined,
      null: null,
      empty: {},
      'a content script on a page': { id: ID, url: 'https://example.org/', origin: 'https://example.org', frameId: 0, documentId: 'D1', tab: { id: 1 } },
      'a content script on a page named like the worker': { id: ID, url: 'https://evil.example/background.js', tab: { id: 1 }, frameId: 0 },
      'a web page': { url: 'https://evil.example/', origin: 'https://evil.example', tab: { id: 1 }, frameId: 0 },
      'another extension': { id: 'zyxwvutsrqponmlkzyxwvutsrqponmlk', url: 'chrome-extension://zyxwvutsrqponmlkzyxwvutsrqponmlk/background.js' },
      'another extension claiming our id in its url': { id: 'zyxwvutsrqponmlkzyxwvutsrqponmlk', url: `${BASE}background.js` },
      'our popup': POPUP_TAB,
      'our popup, claiming the worker url': { ...POPUP_TAB, url: `${BASE}background.js` },
      'our popup as a real popup (no tab), claiming the worker url': { id: ID, url: `${BASE}background.js`, origin: ORIGIN, frameId: 0, documentId: 'X' },
      'a framed copy of the worker url': { id: ID, url: `${BASE}background.js`, origin: ORIGIN, frameId: 3, documentId: 'F' },
      'the offscreen document': OFFSCREEN,
      'the offscreen document claiming the worker url with a document id': { ...OFFSCREEN, url: `${BASE}background.js`, documentId: 'O' },
      'the worker url with a query': { ...WORKER, url: `${BASE}background.js?x=1` },
      'the worker url with a fragment': { ...WORKER, url: `${BASE}background.js#a` },
      'another script of ours': { ...WORKER, url: `${BASE}chunks/popup.js` },
      'a worker of another origin': { ...WORKER, url: 'chrome-extension://zyxwvutsrqponmlkzyxwvutsrqponmlk/background.js' },
      'a wrong origin': { ...WORKER, origin: 'https://evil.example' },
      'not a url': { ...WORKER, url: 'background.js' },
      'no url': { id: ID },
    };
    for (const [what, sender] of Object.entries(cases)) {
      expect(isExtensionWorkerSender(sender as never, ID, BASE), what).toBe(false);
    }
    expect(isExtensionWorkerSender(WORKER, '', BASE)).toBe(false);
  });

  it('only the offscreen document may ask for join/leave notifications', () => {
    expect(isExtensionPageSender(OFFSCREEN, ID, BASE, NOTIFY_PAGES)).toBe(true);
    expect(isExtensionPageSender(POPUP_TAB, ID, BASE, NOTIFY_PAGES)).toBe(false);
    expect(isExtensionPageSender(WORKER, ID, BASE, NOTIFY_PAGES)).toBe(false);
    expect(isExtensionPageSender({ id: ID, url: 'https://evil.example/offscreen.html', tab: { id: 1 }, frameId: 0 }, ID, BASE, NOTIFY_PAGES)).toBe(false);
  });
});

describe('the offscreen -> background presence message', () => {
  const good = { type: PRESENCE_NOTICE, events: [{ kind: 'joined', name: 'Bob' }], others: 2 };

  it('accepts the closed set of kinds with bounded names and counts', () => {
    expect(parsePresenceNotice(good)).toEqual(good);
    expect(parsePresenceNotice({ ...good, events: [{ kind: 'left', name: '' }], others: 0 })).not.toBeNull();
    const built = presenceNotice([{ kind: 'left', peerId: 'p1', name: 'Carol' }], 1);
    expect(built).toEqual({ type: PRESENCE_NOTICE, events: [{ kind: 'left', name: 'Carol' }], others: 1 });
    expect(parsePresenceNotice(built)).toEqual(built);
  });

  it('refuses wrong shapes, unknown kinds, oversized names and floods', () => {
    const bad: unknown[] = [
      null,
      [],
      { ...good, type: 'kibitz/badge' },
      { ...good, extra: 1 },
      { type: PRESENCE_NOTICE, events: [] , others: 1 },
      { type: PRESENCE_NOTICE, others: 1 },
      { ...good, events: [{ kind: 'knocked', name: 'Bob' }] }, // not a kind yet
      { ...good, events: [{ kind: 'joined' }] },
      { ...good, events: [{ kind: 'joined', name: 'Bob', peerId: 'x' }] },
      { ...good, events: [{ kind: 'joined', name: 7 }] },
      { ...good, events: [{ kind: 'joined', name: 'B'.repeat(10_000) }] },
      { ...good, events: ['joined'] },
      { ...good, events: Array.from({ length: MAX_PRESENCE_EVENTS + 1 }, () => ({ kind: 'joined', name: 'Bob' })) },
      { ...good, others: -1 },
      { ...good, others: 1.5 },
      { ...good, others: 65 },
      { ...good, others: '2' },
    ];
    for (const b of bad) expect(parsePresenceNotice(b), JSON.stringify(b)?.slice(0, 100)).toBeNull();
    // What the offscreen document builds is always within the bounds, whatever the view holds.
    const huge = presenceNotice(
      Array.from({ length: 500 }, (_, i): PresenceEvent => ({ kind: 'joined', peerId: `p${i}`, name: 'N'.repeat(10_000) })),
      10_000,
    );
    expect(parsePresenceNotice(huge)).not.toBeNull();
  });

  it('reads the background answer strictly', () => {
    expect(parsePresenceNoticeReply({ sound: true })).toEqual({ sound: true });
    expect(parsePresenceNoticeReply({ sound: false })).toEqual({ sound: false });
    for (const b of [undefined, null, {}, { sound: 'yes' }, { sound: true, more: 1 }]) expect(parsePresenceNoticeReply(b)).toBeNull();
  });
});

describe('notification words', () => {
  const joined = (...names: string[]) => names.map((name) => ({ kind: 'joined' as const, name }));
  const left = (...names: string[]) => names.map((name) => ({ kind: 'left' as const, name }));

  it('says who joined or left and how many are in the call, in plain words', () => {
    expect(presenceNotification({ events: joined('Bob'), others: 2 })).toEqual({
      title: `“${FSI}Bob${PDI}” joined your call`,
      message: '2 others are in the call now.',
    });
    expect(presenceNotification({ events: left('Bob'), others: 0 })).toEqual({
      title: `“${FSI}Bob${PDI}” left your call`,
      message: 'Nobody else is in the call now.',
    });
    const three = presenceNotification({ events: joined('Ann', 'Bob', 'Cy'), others: 1 });
    expect(three && bare(three.title)).toBe('3 people joined your call');
    expect(three && bare(three.message)).toBe('Ann, Bob and Cy.\n1 other person is in the call now.');
    const many = presenceNotification({ events: joined('A1', 'B2', 'C3', 'D4', 'E5'), others: 5 });
    expect(many && bare(many.message)).toMatch(/^A1, B2, C3 and 2 more\./);
    const mixed = presenceNotification({ events: [...joined('Ann'), ...left('Bob', 'Cy')], others: 3 });
    expect(mixed && bare(mixed.title)).toBe('Your call: 1 joined, 2 left');
    expect(mixed && bare(mixed.message)).toBe('Joined: Ann.\nLeft: Bob and Cy.\n3 others are in the call now.');
    expect(presenceNotification({ events: [], others: 1 })).toBeNull();
  });

  it('hostile names: control characters, bidi overrides, invisible characters, mixed scripts read as "Someone"', () => {
    const hostile = [
      'Bob\u0007\u001b[31m',
      'Bob\nAdmin: click here',
      '\u202eevil\u202c',
      'Bob\u2066\u2069',
      'B\u200bob',
      '\u0410lice', // Cyrillic А + Latin
      'Z\u0301\u0302\u0303\u0304',
      '\ud800',
      '',
      '   ',
    ];
    for (const name of hostile) {
      const shown = notificationName(name);
      expect(shown, JSON.stringify(name)).toBe('Someone');
    }
    expect(notificationName(42)).toBe('Someone');
    // Whatever the names, no control or bidi character reaches the notification except our own
    // balanced isolates, one pair per name.
    const text = presenceNotification({ events: joined(...hostile), others: 64 });
    const all = `${text?.title}\n${text?.message}`;
    expect(all.split(FSI).length).toBe(all.split(PDI).length);
    expect(bare(all).replace(/\n/g, '')).not.toMatch(/[\p{Cc}\p{Cf}\p{Bidi_Control}]/u);
  });

  it('a 10 kB name is cut, never shown whole; long valid names end in an ellipsis', () => {
    expect(notificationName('B'.repeat(10_000))).toBe('Someone');
    const long = 'Maximiliane Alexandra Konstantinopoulou-Wetherby'; // 48 characters, a valid name
    const shown = bare(notificationName(long));
    expect([...shown].length).toBeLessThanOrEqual(MAX_SHOWN_NAME);
    expect(shown.endsWith('…')).toBe(true);
    // Cut by user-perceived characters: an accent is never split from its letter.
    // ("q" + combining acute has no precomposed form, so it stays two code units.)
    const accents = bare(notificationName(`${'a'.repeat(30)}${'q\u0301'.repeat(17)}`));
    expect(accents).toBe(`${'a'.repeat(30)}${'q\u0301'.repeat(MAX_SHOWN_NAME - 31)}…`);
    const text = presenceNotification({ events: joined(...Array.from({ length: 64 }, () => long)), others: 64 });
    expect(text!.title.length).toBeLessThanOrEqual(MAX_NOTIFICATION_TITLE);
    expect(text!.message.length).toBeLessThanOrEqual(MAX_NOTIFICATION_MESSAGE);
    // A name that reads like Kibitz's own words is quoted: "3 people" is a name, not a count.
    expect(presenceNotification({ events: joined('3 people'), others: 1 })!.title).toBe(`\u201c${FSI}3 people${PDI}\u201d joined your call`);
    // Right-to-left names stay inside their isolate.
    expect(notificationName('שרה')).toBe(`“${FSI}שרה${PDI}”`);
  });

  it('a shortcut that could not turn a lane on says which and why, on one line', () => {
    expect(
      shortcutFailureNotification({ outcome: 'failed', lane: 'camera', wanted: 'on', error: 'Could not turn on the camera: permission was denied.\n\u202e' }),
    ).toEqual({ title: 'Kibitz could not turn on the camera', message: 'Could not turn on the camera: permission was denied.' });
    expect(shortcutFailureNotification({ outcome: 'failed', lane: 'mic', wanted: 'on', error: '' })?.title).toBe('Kibitz could not turn on the microphone');
    expect(shortcutFailureNotification({ outcome: 'on', lane: 'mic' })).toBeNull();
    expect(shortcutFailureNotification({ outcome: 'not-in-call' })).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------

const SELF = 'self-peer-id-self-peer-id';
const member = (peerId: string, name: string): MemberView => ({
  peerId,
  name,
  kind: 'human',
  fingerprint: 'aa',
  isCoordinator: false,
  link: 'connected',
  sas: null,
  sasPhase: 'pending',
  trust: 'unverified',
  lookAlike: false,
  sending: [],
});
type ViewPart = Pick<SessionView, 'phase' | 'self' | 'members'>;
const view = (members: MemberView[], phase: SessionView['phase'] = 'connected', selfId = SELF): ViewPart => ({
  phase,
  self: { peerId: selfId, name: 'Me', fingerprint: 'ff', isCoordinator: false, sending: [] },
  members,
});

describe('who to notify about', () => {
  it('not the roster you joined (also when it arrives in pieces), then every join and leave', () => {
    const t = new PresenceTracker();
    expect(t.observe(view([], 'connecting'), 0)).toEqual([]);
    expect(t.observe(view([member('a', 'Ann'), member('b', 'Bob')]), 1_000)).toEqual([]);
    expect(t.observe(view([member('a', 'Ann'), member('b', 'Bob'), member('c', 'Cy')]), 1_000 + INITIAL_ROSTER_GRACE_MS - 1)).toEqual([]);
    expect(t.observe(view([member('a', 'Ann'), member('b', 'Bob'), member('c', 'Cy'), member('d', 'Dee')]), 5_000)).toEqual([
      { kind: 'joined', peerId: 'd', name: 'Dee' },
    ]);
    expect(t.observe(view([member('a', 'Ann'), member('d', 'Dee')]), 6_000)).toEqual([
      { kind: 'left', peerId: 'b', name: 'Bob' },
      { kind: 'left', peerId: 'c', name: 'Cy' },
    ]);
    // The same view again is no news; a reconnecting call is still the call.
    expect(t.observe(view([member('a', 'Ann'), member('d', 'Dee')], 'reconnecting'), 7_000)).toEqual([]);
  });

  it('a call you started alone has no roster to wait for: the first to join is news at once', () => {
    const t = new PresenceTracker();
    expect(t.observe(view([]), 0)).toEqual([]);
    expect(t.observe(view([member('b', 'Bob')]), 10)).toEqual([{ kind: 'joined', peerId: 'b', name: 'Bob' }]);
  });

  it('never about yourself, and starts over with each call', () => {
    const t = new PresenceTracker(0);
    t.observe(view([]), 0);
    expect(t.observe(view([member(SELF, 'Me'), member('a', 'Ann')]), 10)).toEqual([{ kind: 'joined', peerId: 'a', name: 'Ann' }]);
    // We leave: nothing about the others "leaving".
    expect(t.observe(view([], 'ended'), 20)).toEqual([]);
    // A new call (a new peer id for us): its roster is a baseline again.
    expect(t.observe(view([member('x', 'Xi'), member('y', 'Yo')], 'connected', 'new-self'), 30)).toEqual([]);
    expect(t.observe(view([member('x', 'Xi')], 'connected', 'new-self'), 40)).toEqual([{ kind: 'left', peerId: 'y', name: 'Yo' }]);
    // Failing mid-call and rejoining the same room with the same peer id is not possible, but
    // a lost `self` resets too.
    expect(t.observe({ phase: 'connected', self: null, members: [member('x', 'Xi')] }, 50)).toEqual([]);
  });
});

describe('coalescing bursts', () => {
  const ev = (kind: 'joined' | 'left', peerId: string, name = peerId): PresenceEvent => ({ kind, peerId, name });

  it('gathers a burst into one batch, sent after a quiet moment or a maximum wait', () => {
    const b = new PresenceBatcher({ quietMs: 1_000, maxWaitMs: 3_000, minGapMs: 0 });
    expect(b.dueAt()).toBeNull();
    b.add([ev('joined', 'a')], 0);
    b.add([ev('joined', 'b')], 500);
    expect(b.dueAt()).toBe(1_500);
    expect(b.take(1_499)).toBeNull();
    expect(b.take(1_500)?.map((e) => e.peerId)).toEqual(['a', 'b']);
    expect(b.take(1_500)).toBeNull();
    // A steady trickle still gets out by the maximum wait.
    for (let t = 2_000; t <= 5_000; t += 500) b.add([ev('joined', `p${t}`)], t);
    expect(b.dueAt()).toBe(5_000);
  });

  it('someone who joins and leaves within one batch is no news; duplicates fold', () => {
    const b = new PresenceBatcher({ minGapMs: 0 });
    b.add([ev('joined', 'a'), ev('joined', 'a'), ev('joined', 'b')], 0);
    b.add([ev('left', 'a')], 100);
    expect(b.take(10_000)).toEqual([ev('joined', 'b')]);
    b.add([ev('joined', 'c')], 20_000);
    b.add([ev('left', 'c')], 20_100);
    expect(b.dueAt()).toBeNull();
  });

  it('spaces batches apart (a peer rejoining in a loop costs one notification per gap) and stays bounded', () => {
    const b = new PresenceBatcher({ quietMs: 100, maxWaitMs: 100, minGapMs: 4_000 });
    b.add([ev('joined', 'r1')], 0);
    expect(b.take(100)).toHaveLength(1);
    b.add([ev('joined', 'r2')], 200);
    expect(b.dueAt()).toBe(4_100);
    expect(b.take(300)).toBeNull();
    b.add(Array.from({ length: 1_000 }, (_, i) => ev('joined', `x${i}`)), 400);
    const batch = b.take(4_100);
    expect(batch).toHaveLength(MAX_PRESENCE_EVENTS);
    b.add([ev('left', 'z')], 5_000);
    b.clear();
    expect(b.dueAt()).toBeNull();
  });

  it('a member who leaves and rejoins on purpose gets at most three notifications a minute, then one a minute', () => {
    const b = new PresenceBatcher({ quietMs: 100, maxWaitMs: 100, minGapMs: 4_000 });
    const sent: number[] = [];
    // Every 2 s a new peer id joins and the old one leaves, for 5 minutes.
    for (let t = 0, i = 0; t < 300_000; t += 100) {
      if (t % 2_000 === 0) b.add([ev('left', `p${i}`, 'Churn'), ev('joined', `p${++i}`, 'Churn')], t);
      const batch = b.take(t);
      if (batch) sent.push(t);
    }
    const firstMinute = sent.filter((t) => t < 60_000).length;
    expect(firstMinute).toBeLessThanOrEqual(4);
    expect(sent.length).toBeLessThanOrEqual(4 + 5); // then about one a minute
    expect(sent.length).toBeGreaterThan(4); // still told, not silenced
  });
});

describe('the setting, the sound and the badge', () => {
  it('"Notify me when people join or leave" is on unless explicitly turned off', () => {
    expect(readSettings(undefined).notifyPresence).toBe(true);
    expect(readSettings({}).notifyPresence).toBe(true);
    expect(readSettings({ [STORAGE_KEYS.notifyPresence]: false }).notifyPresence).toBe(false);
    expect(readSettings({ [STORAGE_KEYS.notifyPresence]: true }).notifyPresence).toBe(true);
    expect(readSettings({ [STORAGE_KEYS.notifyPresence]: 'false' }).notifyPresence).toBe(true);
    expect(readSettings({ [STORAGE_KEYS.notifyPresence]: 0 }).notifyPresence).toBe(true);
  });

  it('a join rises, a leave falls, and a batch with a join plays the join', () => {
    expect(CHIME_NOTES.joined[0]).toBeLessThan(CHIME_NOTES.joined[1]);
    expect(CHIME_NOTES.left[0]).toBeGreaterThan(CHIME_NOTES.left[1]);
    expect(chimeFor(['left', 'joined', 'left'])).toBe('joined');
    expect(chimeFor(['left'])).toBe('left');
    expect(chimeFor([])).toBeNull();
  });

  it('the badge title says when the camera is on', () => {
    const self = (sending: SessionView['self'] extends infer S ? (S extends { sending: infer L } ? L : never) : never) => ({
      peerId: SELF,
      name: 'Me',
      fingerprint: 'ff',
      isCoordinator: false,
      sending,
    });
    expect(badgeFor({ phase: 'connected', self: self(['camera']), members: [] }).title).toBe('Kibitz: in a call with nobody else yet; microphone muted; camera on');
    expect(badgeFor({ phase: 'connected', self: self(['mic']), members: [] }).title).toBe('Kibitz: in a call with nobody else yet; microphone on');
  });
});
