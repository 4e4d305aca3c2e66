/**
 * Issue 6 item 6, end to end: the call outside the popup, in two real Chromium profiles.
 *
 * - With A's popup closed, B joins and leaves: A's extension shows a notification ("Bob Baker
 *   joined your call" / "... left ...", read in A's service worker) and plays the soft tone (the
 *   offscreen document says so in its console). Nothing about yourself, nothing for the roster
 *   you join (B closes its popup before the roster arrives and is told nothing).
 * - "Notify me when people join or leave" off in A's popup: no notification and no tone.
 * - The shortcuts, as real key presses: CDP Input.dispatchKeyEvent of a `rawKeyDown` with
 *   Alt+Shift and a native key code, on an ordinary web page, reaches Chromium's accelerator
 *   handling and so `chrome.commands.onCommand` (Playwright's keyboard.press does not: it sets no
 *   native key code). Alt+Shift+M unmutes and mutes A (A's badge, and B's view of A);
 *   Alt+Shift+V with the camera permission denied ends in a notification saying why and in the
 *   engine's notice in the popup; with it granted, the camera goes on.
 * - The worker's own message (what the onCommand listener sends) does the same, and is answered.
 * - Attacks: a web page cannot reach the engine at all; our own popup, and a framed extension
 *   page, sending the very same message are ignored (they are not the service worker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CDPSession, Page, Worker } from 'playwright-core';
import {
  joinCall,
  launchProfiles,
  must,
  popupControls,
  readParticipant,
  scenario,
  setBrokerUrl,
  setName,
  startBrokerProcess,
  startCall,
  teardown,
  type BrokerProcess,
  type Profile,
} from './harness';

const NAME_A = 'Alice Archer';
const NAME_B = 'Bob Baker';
const POLL = { timeout: 60_000, interval: 250 };
const FSI = '\u2068';
const PDI = '\u2069';
/** Longer than a batch takes to leave (quiet 1.5 s, at least 4 s after the previous one). */
const QUIET_WAIT_MS = 8_000;
const SHORTCUT_MIC = { type: 'kibitz/shortcut', command: 'toggle-microphone' };

let broker: BrokerProcess | undefined;
let A: Profile | undefined;
let B: Profile | undefined;
let popupA: Page | undefined;
let popupB: Page | undefined;
let webA: Page | undefined;
let cdpA: CDPSession | undefined;
let invite = '';

/** On failure: what each extension said about shortcuts, presence and notifications. */
function outsideLog(): string {
  const about = /shortcut|presence|sound|notification|background/i;
  return [A, B]
    .flatMap((p) => (p ? p.console.entries.filter((e) => about.test(e.text)).slice(-30).map((e) => `[${p.label}] ${e.level} ${e.source.replace(/^chrome-extension:\/\/[a-p]{32}/, '')}: ${e.text}`) : []))
    .join('\n');
}

const step = scenario(it, () => ({ profiles: [A, B], broker, extra: outsideLog }));

function worker(p: Profile): Worker {
  const origin = `chrome-extension://${p.extensionId}`;
  const sw = p.context.serviceWorkers().find((w) => w.url().startsWith(origin));
  if (!sw) throw new Error(`profile ${p.label}: no service worker`);
  return sw;
}

interface Shown {
  id: string;
  title: string;
  message: string;
}

/**
 * Records every notification the extension creates from now on (title and message, which
 * notifications.getAll() does not give), by wrapping chrome.notifications.create in the worker
 * from the test's side, and clears what is on screen. Idempotent.
 */
async function watchNotifications(p: Profile): Promise<void> {
  await worker(p).evaluate(async () => {
    type Api = { create: (...a: unknown[]) => Promise<string>; getAll(): Promise<Record<string, boolean>>; clear(id: string): Promise<boolean> };
    const g = globalThis as unknown as { chrome: { notifications: Api }; __kibitzShown?: unknown[] };
    const api = g.chrome.notifications;
    g.__kibitzShown = [];
    const create = api.create as ((...a: unknown[]) => Promise<string>) & { wrapped?: boolean };
    if (!create.wrapped) {
      const wrapped = Object.assign(
        (...args: unknown[]) => {
          const [id, options] = args as [string, { title: string; message: string }];
          (g.__kibitzShown ??= []).push({ id, title: options.title, message: options.message });
          return create.apply(api, args);
        },
        { wrapped: true },
      );
      api.create = wrapped;
    }
    for (const id of Object.keys(await api.getAll())) await api.clear(id);
  });
}

async function shown(p: Profile): Promise<Shown[]> {
  return worker(p).evaluate(() => ((globalThis as unknown as { __kibitzShown?: Shown[] }).__kibitzShown ?? []).slice());
}

/** What chrome.notifications.getAll() says is on screen: ids. */
async function onScreen(p: Profile): Promise<string[]> {
  return worker(p).evaluate(async () =>
    Object.keys(await (globalThis as unknown as { chrome: { notifications: { getAll(): Promise<Record<string, boolean>> } } }).chrome.notifications.getAll()),
  );
}

function sounds(p: Profile): string[] {
  return p.console.entries.filter((e) => /played the (joined|left) sound/.test(e.text)).map((e) => e.text);
}

/** A real key press as the browser sees one: rawKeyDown with a native key code, then keyUp. */
async function pressShortcut(cdp: CDPSession, key: 'M' | 'V'): Promise<void> {
  const code = key.charCodeAt(0);
  const event = { modifiers: 1 | 8, key, code: `Key${key}`, windowsVirtualKeyCode: code, nativeVirtualKeyCode: code };
  await cdp.send('Input.dispatchKeyEvent', { type: 'rawKeyDown', ...event });
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...event });
}

async function aliceOnB(): Promise<string> {
  return (await readParticipant(must(popupB, "B's popup"), NAME_A))?.text ?? '';
}

const notifyBox = (page: Page) => page.getByRole('checkbox', { name: 'Notify me when people join or leave', exact: true });

describe.sequential('the call outside the popup', () => {
  beforeAll(async () => {
    broker = await startBrokerProcess();
    [A, B] = await launchProfiles('A', 'B');
  });

  afterAll(async () => {
    await teardown([A, B], broker);
  });

  step('A starts a call; its shortcuts are assigned and the popup names them', async () => {
    const a = must(A, 'profile A');
    const commands = await worker(a).evaluate(async () =>
      (await (globalThis as unknown as { chrome: { commands: { getAll(): Promise<{ name: string; shortcut: string }[]> } } }).chrome.commands.getAll()).map(
        (c) => [c.name, c.shortcut],
      ),
    );
    expect(Object.fromEntries(commands)).toMatchObject({ 'toggle-microphone': 'Alt+Shift+M', 'toggle-camera': 'Alt+Shift+V' });
    popupA = await a.openPopup();
    await setBrokerUrl(popupA, must(broker, 'broker').url);
    await setName(popupA, NAME_A);
    await popupControls(popupA).settings.click();
    expect(await notifyBox(popupA).isChecked()).toBe(true); // on by default
    expect(await popupA.getByTestId('shortcuts').innerText()).toMatch(/Alt\+Shift\+M mutes or unmutes the microphone, Alt\+Shift\+V turns the camera on or off/);
    await popupControls(popupA).settings.click();
    invite = await startCall(popupA);
    await expect.poll(() => a.badge(), POLL).toEqual({ text: 'MUTE', title: 'Kibitz: in a call with nobody else yet; microphone muted' });
  });

  step("with A's popup closed, B joins: A gets a notification and the tone, B nothing", async () => {
    const a = must(A, 'profile A');
    const b = must(B, 'profile B');
    await watchNotifications(a);
    await watchNotifications(b);
    await must(popupA, "A's popup").close();
    popupA = undefined;
    popupB = await b.openPopup();
    await setBrokerUrl(popupB, must(broker, 'broker').url);
    await setName(popupB, NAME_B);
    await joinCall(popupB, invite);
    await expect.poll(async () => (await readParticipant(must(popupB, "B's popup"), NAME_A))?.state, POLL).toBe('connected');
    await expect.poll(() => onScreen(a), POLL).toEqual(['kibitz-presence']);
    expect(await shown(a)).toEqual([{ id: 'kibitz-presence', title: `“${FSI}${NAME_B}${PDI}” joined your call`, message: '1 other person is in the call now.' }]);
    await expect.poll(() => sounds(a), POLL).toEqual([expect.stringContaining('played the joined sound')]);
    // B had its popup open (it shows the call itself), and is never told about itself.
    expect(await onScreen(b)).toEqual([]);
    expect(await shown(b)).toEqual([]);
  });

  step('B leaves: A is told who left, once', async () => {
    const a = must(A, 'profile A');
    await watchNotifications(a);
    await popupControls(must(popupB, "B's popup")).leave.click();
    await expect.poll(() => shown(a), POLL).toEqual([{ id: 'kibitz-presence', title: `“${FSI}${NAME_B}${PDI}” left your call`, message: 'Nobody else is in the call now.' }]);
    expect(await onScreen(a)).toEqual(['kibitz-presence']);
    await expect.poll(() => sounds(a).length, POLL).toBe(2);
    expect(sounds(a)[1]).toContain('played the left sound');
  });

  step('with "Notify me when people join or leave" off, A gets neither; B, joining with its popup closed, is not told who was there', async () => {
    const a = must(A, 'profile A');
    const b = must(B, 'profile B');
    popupA = await a.openPopup();
    await popupControls(popupA).settings.click();
    await notifyBox(popupA).uncheck();
    await expect.poll(() => popupA!.locator('#notify-help').innerText(), POLL).toMatch(/Saved\./);
    await popupA.reload(); // it is stored, not just shown
    await popupControls(popupA).settings.click();
    await expect.poll(() => notifyBox(popupA!).isChecked(), POLL).toBe(false);
    await popupA.close();
    popupA = undefined;
    await watchNotifications(a);
    await watchNotifications(b);
    const soundsBefore = sounds(a).length + sounds(b).length;

    // B joins again and closes its popup at once: its roster arrives while no popup is open.
    await joinCall(must(popupB, "B's popup"), invite);
    await must(popupB, "B's popup").close();
    popupB = undefined;
    await expect.poll(async () => (await a.badge()).title, POLL).toMatch(/in a call with 1 other;/);
    await expect.poll(async () => (await b.badge()).title, POLL).toMatch(/in a call with 1 other;/);
    await new Promise((r) => setTimeout(r, QUIET_WAIT_MS));
    expect(await shown(a)).toEqual([]);
    expect(await onScreen(a)).toEqual([]);
    expect(await shown(b)).toEqual([]); // not "Alice joined": she was there when B came in
    expect(sounds(a).length + sounds(b).length).toBe(soundsBefore);
  });

  step('a real Alt+Shift+M on an ordinary web page unmutes and mutes A, seen in its badge and by B', async () => {
    const a = must(A, 'profile A');
    popupB = await must(B, 'profile B').openPopup();
    await expect.poll(aliceOnB, POLL).toMatch(/muted, camera off/);
    webA = await a.context.newPage();
    await webA.goto('data:text/html,<title>Some page</title><p>Reading something else during the call.</p>');
    await webA.bringToFront();
    cdpA = await a.context.newCDPSession(webA);
    await pressShortcut(cdpA, 'M');
    await expect.poll(async () => (await a.badge()).text, POLL).toBe('ON');
    await expect.poll(aliceOnB, POLL).toMatch(/microphone on/);
    await pressShortcut(cdpA, 'M');
    await expect.poll(async () => (await a.badge()).text, POLL).toBe('MUTE');
    await expect.poll(aliceOnB, POLL).toMatch(/muted, camera off/);
  });

  step('Alt+Shift+V without camera permission: a notification and the popup say why; with it, the camera goes on', async () => {
    const a = must(A, 'profile A');
    const cdp = must(cdpA, "A's CDP session");
    const origin = `chrome-extension://${a.extensionId}`;
    await watchNotifications(a);
    await cdp.send('Browser.setPermission', { origin, permission: { name: 'camera' }, setting: 'denied' });
    await pressShortcut(cdp, 'V');
    await expect.poll(() => shown(a), POLL).toEqual([
      { id: 'kibitz-media', title: 'Kibitz could not turn on the camera', message: expect.stringMatching(/^Could not turn on the camera: .*not allowed.*Allow camera and microphone/) },
    ]);
    // The setting is about joins and leaves only: this notification is shown anyway.
    expect(await onScreen(a)).toEqual(['kibitz-media']);
    expect((await a.badge()).title).not.toMatch(/camera on/);
    popupA = await a.openPopup();
    await expect.poll(() => popupA!.getByText(/Could not turn on the camera: .*not allowed/).count(), POLL).toBeGreaterThan(0);
    await popupA.close();
    popupA = undefined;

    await cdp.send('Browser.setPermission', { origin, permission: { name: 'camera' }, setting: 'granted' });
    await webA!.bringToFront();
    await pressShortcut(cdp, 'V');
    await expect.poll(async () => (await a.badge()).title, POLL).toMatch(/microphone muted; camera on$/);
    await expect.poll(aliceOnB, POLL).toMatch(/camera on/);
    await pressShortcut(cdp, 'V');
    await expect.poll(async () => (await a.badge()).title, POLL).toMatch(/microphone muted$/);
  });

  step("the worker's own message (what onCommand sends) is answered and applied", async () => {
    const a = must(A, 'profile A');
    const reply = await worker(a).evaluate(
      (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
      SHORTCUT_MIC,
    );
    expect(reply).toEqual({ outcome: 'on', lane: 'mic' });
    await expect.poll(async () => (await a.badge()).text, POLL).toBe('ON');
    await expect.poll(aliceOnB, POLL).toMatch(/microphone on/);
    const again = await worker(a).evaluate(
      (m) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage(m),
      SHORTCUT_MIC,
    );
    expect(again).toEqual({ outcome: 'off', lane: 'mic' });
    await expect.poll(async () => (await a.badge()).text, POLL).toBe('MUTE');
  });

  step('attacks: a web page, our own popup and a framed extension page cannot toggle the microphone', async () => {
    const a = must(A, 'profile A');
    const web = must(webA, "A's web page");
    // A web page has no way to the extension at all (no externally_connectable).
    const fromWeb = await web.evaluate(async (args) => {
      const c = (globalThis as unknown as { chrome?: { runtime?: { sendMessage?: (id: string, m: unknown) => Promise<unknown> } } }).chrome;
      if (!c?.runtime?.sendMessage) return 'no runtime messaging';
      try {
        await c.runtime.sendMessage(args.id, args.m);
        return 'sent';
      } catch (err) {
        return `refused: ${String(err)}`;
      }
    }, { id: a.extensionId, m: SHORTCUT_MIC });
    expect(fromWeb).not.toBe('sent');

    // Our own popup, and a framed stage page inside it, send the worker's exact message: no
    // one answers it and nothing changes.
    popupA = await a.openPopup();
    const send = `(async () => { try { return JSON.stringify(await chrome.runtime.sendMessage(${JSON.stringify(SHORTCUT_MIC)})) ?? 'no answer'; } catch (e) { return 'no answer: ' + e.message; } })()`;
    const fromPopup = await popupA.evaluate(send);
    await popupA.evaluate(() => {
      const f = document.createElement('iframe');
      f.src = '/stage.html';
      f.title = 'framed stage';
      document.body.append(f);
      return new Promise((r) => f.addEventListener('load', r, { once: true }));
    });
    const frame = popupA.frames().find((f) => f.url().endsWith('/stage.html'));
    const fromFrame = await must(frame ?? undefined, 'the framed stage').evaluate(send);
    expect(fromPopup).toMatch(/^no answer/);
    expect(fromFrame).toMatch(/^no answer/);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await a.badge()).text).toBe('MUTE');
    expect(await aliceOnB()).toMatch(/muted, camera off/);
    await popupA.close();
    popupA = undefined;
  });
});
