/**
 * The call outside the popup, wired to an in-memory browser (wxt/testing/fake-browser): the
 * background turns a shortcut into the engine message and a failure into a notification, and
 * turns the offscreen document's presence batches into notifications unless the setting is off;
 * the offscreen side applies shortcuts only from the worker and only in a call, and asks for
 * notifications only while no popup is open. The same code runs in Chromium in
 * tests/e2e/outside-popup.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';
import type { MemberView, SessionCommand, SessionView } from '../../src/engine/session-api';
import { PRESENCE_NOTICE } from '../../src/extension/presence';
import { STORAGE_KEYS } from '../../src/extension/settings';
import { SHORTCUT } from '../../src/extension/shortcuts';

vi.mock('wxt/browser', async () => ({ browser: (await import('wxt/testing/fake-browser')).fakeBrowser }));

const { registerOutsidePopup } = await import('../../entrypoints/background/outside-popup');
const { OutsidePopup } = await import('../../entrypoints/offscreen/outside-popup');

const ID = fakeBrowser.runtime.id;
const BASE = fakeBrowser.runtime.getURL('/');
const ORIGIN = BASE.replace(/\/$/, '');
const WORKER = { id: ID, url: `${BASE}background.js` };
const OFFSCREEN = { id: ID, url: `${BASE}offscreen.html`, origin: ORIGIN };
const POPUP = { id: ID, url: `${BASE}popup.html`, origin: ORIGIN, frameId: 0, documentId: 'D', tab: { id: 1 } };
const CONTENT_SCRIPT = { id: ID, url: 'https://evil.example/', origin: 'https://evil.example', frameId: 0, documentId: 'E', tab: { id: 2 } };

type Listener = (message: unknown, sender: object, sendResponse: (r: unknown) => void) => unknown;
type CommandListener = (name: string) => void;

/** Delivers `message` as if `sender` sent it; resolves with the answer, or 'ignored'. */
async function deliver(message: unknown, sender: object): Promise<unknown> {
  let answer: unknown = 'ignored';
  let answered!: () => void;
  const done = new Promise<void>((r) => (answered = r));
  const results = await fakeBrowser.runtime.onMessage.trigger(message, sender as never, ((r: unknown) => {
    answer = r;
    answered();
  }) as never);
  if ((results as unknown[]).some((r) => r === true)) await done;
  return answer;
}

const sent = (): unknown[] => [];
let commandListeners: CommandListener[] = [];
let openPopup: ReturnType<typeof vi.fn>;

beforeEach(() => {
  fakeBrowser.reset();
  commandListeners = [];
  vi.spyOn(fakeBrowser.commands.onCommand, 'addListener').mockImplementation((l: CommandListener) => {
    commandListeners.push(l);
  });
  openPopup = vi.fn(() => Promise.reject(new Error('no window')));
  (fakeBrowser.action as unknown as { openPopup: unknown }).openPopup = openPopup;
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('the background', () => {
  function setUp(engineRunning = true) {
    registerOutsidePopup({ extensionId: ID, baseUrl: BASE, engineRunning: async () => engineRunning });
    const toEngine = sent();
    // Stands in for the offscreen document's listener.
    const engine: { reply: unknown } = { reply: { outcome: 'on', lane: 'mic' } };
    fakeBrowser.runtime.onMessage.addListener(((message: unknown, _sender: object, sendResponse: (r: unknown) => void) => {
      if ((message as { type?: string }).type !== SHORTCUT) return false;
      toEngine.push(message);
      sendResponse(engine.reply);
      return true;
    }) as never);
    return { toEngine, engine };
  }
  const press = async (name: string) => {
    for (const l of commandListeners) l(name);
    await vi.waitFor(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
  };

  it('passes a shortcut to the engine and says nothing when it worked', async () => {
    const { toEngine } = setUp();
    await press('toggle-microphone');
    expect(toEngine).toEqual([{ type: SHORTCUT, command: 'toggle-microphone' }]);
    expect(fakeBrowser.notifications.getAllCreateOptions()).toEqual({});
  });

  it('says why when the engine could not turn the camera on', async () => {
    const { toEngine, engine } = setUp();
    engine.reply = { outcome: 'failed', lane: 'camera', wanted: 'on', error: 'Could not turn on the camera: permission was denied.' };
    await press('toggle-camera');
    expect(toEngine).toEqual([{ type: SHORTCUT, command: 'toggle-camera' }]);
    expect(fakeBrowser.notifications.getAllCreateOptions()['kibitz-media']).toMatchObject({
      title: 'Kibitz could not turn on the camera',
      message: 'Could not turn on the camera: permission was denied.',
    });
  });

  it('ignores other commands, and does nothing (never starts the engine) outside a call', async () => {
    const { toEngine } = setUp(false);
    await press('toggle-microphone');
    await press('_execute_action');
    expect(toEngine).toEqual([]);
  });

  it('a malformed engine answer is ignored, not shown', async () => {
    const { engine } = setUp();
    engine.reply = { outcome: 'failed', lane: 'camera', wanted: 'on', error: 'x'.repeat(5_000) };
    await press('toggle-camera');
    expect(fakeBrowser.notifications.getAllCreateOptions()).toEqual({});
  });

  it('notifies about joins only for the offscreen document, in its own words, and answers "play the sound"', async () => {
    setUp();
    const notice = { type: PRESENCE_NOTICE, events: [{ kind: 'joined', name: 'Bob\u202e' }, { kind: 'joined', name: 'Cy' }], others: 2 };
    expect(await deliver(notice, POPUP)).toBe('ignored');
    expect(await deliver(notice, CONTENT_SCRIPT)).toBe('ignored');
    expect(await deliver(notice, WORKER)).toBe('ignored');
    expect(await deliver({ ...notice, events: [{ kind: 'knocked', name: 'Bob' }] }, OFFSCREEN)).toBe('ignored');
    expect(fakeBrowser.notifications.getAllCreateOptions()).toEqual({});

    expect(await deliver(notice, OFFSCREEN)).toEqual({ sound: true });
    const shown = fakeBrowser.notifications.getAllCreateOptions()['kibitz-presence'];
    expect(shown).toMatchObject({ type: 'basic', title: '2 people joined your call', silent: true });
    expect(shown?.message).toBe('Someone and \u201c\u2068Cy\u2069\u201d.\n2 others are in the call now.');
    expect(shown?.iconUrl).toBe(`${BASE}notification-icon.png`);
  });

  it('with "Notify me when people join or leave" off: no notification and no sound', async () => {
    setUp();
    await fakeBrowser.storage.local.set({ [STORAGE_KEYS.notifyPresence]: false });
    const notice = { type: PRESENCE_NOTICE, events: [{ kind: 'left', name: 'Bob' }], others: 0 };
    expect(await deliver(notice, OFFSCREEN)).toEqual({ sound: false });
    expect(fakeBrowser.notifications.getAllCreateOptions()).toEqual({});
  });

  it('a click on our notification opens the popup, or else the stage', async () => {
    setUp();
    await deliver({ type: PRESENCE_NOTICE, events: [{ kind: 'left', name: 'Bob' }], others: 0 }, OFFSCREEN);
    const create = vi.spyOn(fakeBrowser.tabs, 'create');
    await fakeBrowser.notifications.onClicked.trigger('someone-elses');
    expect(openPopup).not.toHaveBeenCalled();
    await fakeBrowser.notifications.onClicked.trigger('kibitz-presence');
    await vi.waitFor(() => expect(create).toHaveBeenCalledWith({ url: `${BASE}stage.html` }));
    expect(openPopup).toHaveBeenCalledTimes(1);
    expect(fakeBrowser.notifications.getAllCreateOptions()).toEqual({});
  });
});

// ---------------------------------------------------------------------------------------------

const SELF = 'self';
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

class FakeSession {
  phase: SessionView['phase'] = 'connected';
  sending: ('mic' | 'camera')[] = [];
  members: MemberView[] = [];
  commands: SessionCommand[] = [];
  notices: string[] = [];
  fail: Error | null = null;
  view(): SessionView {
    return {
      phase: this.phase,
      reason: null,
      roomLink: null,
      self: { peerId: SELF, name: 'Me', fingerprint: 'ff', isCoordinator: false, sending: this.sending },
      members: this.members,
      chat: [],
      chatEpoch: 1,
      broker: 'open',
      notices: [],
    };
  }
  async dispatch(c: SessionCommand): Promise<void> {
    this.commands.push(c);
    if (this.fail) throw this.fail;
    if (c.op === 'set-media') this.sending = c.on ? [...this.sending, c.lane] : this.sending.filter((l) => l !== c.lane);
  }
  notice(_level: string, text: string): void {
    this.notices.push(text);
  }
}

describe('the offscreen document', () => {
  function setUp() {
    const session = new FakeSession();
    const state = { popupOpen: false };
    const log = { info: vi.fn(), warn: vi.fn() };
    const outside = new OutsidePopup({
      extensionId: ID,
      baseUrl: BASE,
      log,
      session: () => session as never,
      ready: async () => undefined,
      popupOpen: () => state.popupOpen,
    });
    return { session, state, outside, log };
  }
  const toggle = (command: string) => ({ type: SHORTCUT, command });

  it('toggles a lane for the service worker only', async () => {
    const { session } = setUp();
    for (const sender of [POPUP, CONTENT_SCRIPT, OFFSCREEN, { ...WORKER, documentId: 'X' }, { ...WORKER, id: 'another-extension' }]) {
      expect(await deliver(toggle('toggle-microphone'), sender)).toBe('ignored');
    }
    expect(session.commands).toEqual([]);
    expect(await deliver(toggle('toggle-microphone'), WORKER)).toEqual({ outcome: 'on', lane: 'mic' });
    expect(await deliver(toggle('toggle-microphone'), WORKER)).toEqual({ outcome: 'off', lane: 'mic' });
    expect(session.commands).toEqual([
      { op: 'set-media', lane: 'mic', on: true },
      { op: 'set-media', lane: 'mic', on: false },
    ]);
    // Wrong shapes from the worker are dropped too.
    expect(await deliver({ type: SHORTCUT, command: 'toggle-microphone', on: true }, WORKER)).toBe('ignored');
    expect(session.commands).toHaveLength(2);
  });

  it('does nothing outside a call, and says why a lane could not be turned on', async () => {
    const { session } = setUp();
    session.phase = 'waiting';
    expect(await deliver(toggle('toggle-camera'), WORKER)).toEqual({ outcome: 'not-in-call' });
    session.phase = 'ended';
    expect(await deliver(toggle('toggle-camera'), WORKER)).toEqual({ outcome: 'not-in-call' });
    expect(session.commands).toEqual([]);
    session.phase = 'connected';
    session.fail = new Error('Could not turn on the camera: permission was denied.');
    expect(await deliver(toggle('toggle-camera'), WORKER)).toEqual({
      outcome: 'failed',
      lane: 'camera',
      wanted: 'on',
      error: 'Could not turn on the camera: permission was denied.',
    });
    expect(session.notices).toEqual(['Could not turn on the camera: permission was denied.']);
  });

  it('asks for one notification per burst while no popup is open, and plays the sound when told', async () => {
    vi.useFakeTimers();
    const played: number[] = [];
    vi.stubGlobal(
      'AudioContext',
      class {
        state = 'running';
        currentTime = 0;
        destination = {};
        createOscillator() {
          const osc = { type: '', frequency: { setValueAtTime: (f: number) => played.push(f) }, connect: (g: unknown) => g, start() {}, stop() {}, disconnect() {}, onended: null };
          return osc;
        }
        createGain() {
          const ramp = () => undefined;
          return { gain: { setValueAtTime: ramp, linearRampToValueAtTime: ramp, exponentialRampToValueAtTime: ramp }, connect: (d: unknown) => d, disconnect() {} };
        }
      },
    );
    const { session, state, outside } = setUp();
    const asked: unknown[] = [];
    const background = { sound: true };
    fakeBrowser.runtime.onMessage.addListener(((message: unknown, _s: object, sendResponse: (r: unknown) => void) => {
      if ((message as { type?: string }).type !== PRESENCE_NOTICE) return false;
      asked.push(message);
      sendResponse({ sound: background.sound });
      return true;
    }) as never);

    session.members = [member('a', 'Ann')];
    outside.observe(session.view()); // the roster we joined: no news
    await vi.advanceTimersByTimeAsync(3_000);
    session.members = [member('a', 'Ann'), member('b', 'Bob')];
    outside.observe(session.view());
    session.members = [member('a', 'Ann'), member('b', 'Bob'), member('c', 'Cy')];
    outside.observe(session.view());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(asked).toEqual([{ type: PRESENCE_NOTICE, events: [{ kind: 'joined', name: 'Bob' }, { kind: 'joined', name: 'Cy' }], others: 3 }]);
    expect(played).toEqual([659.25, 880]); // one rising chime

    // With the popup open: nothing (it announces joins itself).
    state.popupOpen = true;
    outside.popupOpened();
    session.members = [member('a', 'Ann')];
    outside.observe(session.view());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toHaveLength(1);

    // Popup closed again; the background says the person turned it off: no sound.
    state.popupOpen = false;
    background.sound = false;
    session.members = [];
    outside.observe(session.view());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toHaveLength(2);
    expect(played).toHaveLength(2);

    // We leave: whatever was pending is dropped.
    session.members = [member('d', 'Dee')];
    outside.observe(session.view());
    session.phase = 'ended';
    outside.observe(session.view());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toHaveLength(2);
    vi.unstubAllGlobals();
  });
});
