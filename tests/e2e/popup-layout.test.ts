/**
 * Issue 6, end to end: the popup as people use it. A Chromium profile starts a call and two
 * Node participants join, so the popup holds three people. In Chromium's largest popup
 * (400 x 600) the control bar and the message box are in view without scrolling; the chat log
 * scrolls with the keyboard and counts what arrived while the person read older lines; a broker
 * outage reads as a calm "Signaling offline" while the call goes on, and recovers; a failed
 * start says what happened in plain words. axe-core finds no serious or critical violation in
 * the popup idle, in the call, during the outage and after the failure, in light and dark.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { join } from 'node:path';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { DEFAULT_LINK_BASE, encodeLink, newRoomId } from '../../src/engine/link';
import { secureRandomBytes } from '../../src/engine/platform';
import { makePeer, type TestPeer } from '../integration/sessions';
import {
  ARTIFACT_DIR,
  chatCount,
  launchProfile,
  must,
  popupControls,
  readParticipant,
  scenario,
  seriousA11yViolations,
  setBrokerUrl,
  setName,
  startBrokerProcess,
  startCall,
  teardown,
  type BrokerProcess,
  type Profile,
} from './harness';

const HOST = 'Harriet Host';
const GUESTS = ['Gwen Guest', 'Gus Guest'];
const POLL = { timeout: 60_000, interval: 250 };
const POPUP = { width: 400, height: 600 };

let broker: BrokerProcess | undefined;
let H: Profile | undefined;
let popup: Page;
let invite = '';
const guests: TestPeer[] = [];

const step = scenario(it, () => ({
  profiles: [H],
  broker,
  extra: () => guests.map((g) => `${g.name}: ${JSON.stringify({ phase: g.view().phase, broker: g.view().broker })}`).join('\n'),
}));

/** Where `selector`'s box sits against the popup's viewport, and whether the page itself scrolls. */
async function placement(page: Page, name: string, role: 'button' | 'textbox'): Promise<{ inView: boolean; box: string }> {
  const box = await page.getByRole(role, { name, exact: true }).boundingBox();
  if (!box) return { inView: false, box: 'not rendered' };
  const inView = box.y >= 0 && box.x >= 0 && box.y + box.height <= POPUP.height && box.x + box.width <= POPUP.width;
  return { inView, box: `${Math.round(box.x)},${Math.round(box.y)} ${Math.round(box.width)}x${Math.round(box.height)}` };
}

/** Presses Tab (only the keyboard) until `target` has focus; fails if it never gets it. */
async function tabTo(page: Page, target: Locator, what: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${what}`);
}

async function expectNoSeriousViolations(page: Page, where: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    expect(await seriousA11yViolations(page), `${where} (${scheme})`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

describe.sequential('the popup in a call of three', () => {
  beforeAll(async () => {
    broker = await startBrokerProcess();
    H = await launchProfile('host');
  });

  afterAll(async () => {
    await Promise.allSettled(guests.map((g) => g.session.dispatch({ op: 'leave' })));
    await teardown([H], broker);
    shutdownNodeWebRtc();
  });

  step('idle: it says what Kibitz is and what the other person needs, and passes axe', async () => {
    popup = await must(H, 'host').openPopup();
    await popup.setViewportSize(POPUP);
    await expect.poll(() => popup.getByTestId('first-run').innerText(), POLL).toMatch(/needs Kibitz too.*invite link/);
    // Settings sit behind the gear, closed until asked for.
    const ui = popupControls(popup);
    expect(await ui.brokerUrl.count()).toBe(0);
    expect(await ui.settings.getAttribute('aria-expanded')).toBe('false');
    await expectNoSeriousViolations(popup, 'idle popup');
    await ui.settings.click();
    expect(await ui.settings.getAttribute('aria-expanded')).toBe('true');
    await expectNoSeriousViolations(popup, 'idle popup with Settings open');
    await ui.settings.click();
  });

  step('the host starts a call and two guests join', async () => {
    await setBrokerUrl(popup, must(broker, 'broker').url);
    await setName(popup, HOST);
    invite = await startCall(popup);
    for (const name of GUESTS) {
      const g = await makePeer(name);
      guests.push(g);
      await g.session.dispatch({ op: 'join', name, link: invite, brokerUrl: must(broker, 'broker').url });
    }
    for (const name of GUESTS) await expect.poll(async () => (await readParticipant(popup, name))?.state, POLL).toBe('connected');
    // The toolbar icon says a call is on, and that the microphone is muted, in words.
    await expect.poll(() => must(H, 'host').badge(), POLL).toEqual({ text: 'MUTE', title: 'Kibitz: in a call with 2 others; microphone muted' });
    // Joins are announced once through the polite live region.
    await expect.poll(() => popup.getByTestId('announcer').textContent(), POLL).toMatch(/Guest joined\./);
  });

  step('in 400 x 600 the control bar and the message box are in view without scrolling', async () => {
    for (const [name, role] of [
      ['Microphone', 'button'],
      ['Camera', 'button'],
      ['Open stage', 'button'],
      ['Leave', 'button'],
      ['Message', 'textbox'],
      ['Send', 'button'],
    ] as const) {
      const where = await placement(popup, name, role);
      expect(where.inView, `${name} at ${where.box}`).toBe(true);
    }
    const page = await popup.evaluate(() => ({ scrollHeight: document.documentElement.scrollHeight, scrollY: window.scrollY }));
    expect(page.scrollHeight).toBeLessThanOrEqual(POPUP.height);
    expect(page.scrollY).toBe(0);
    // Toggles say their state in words, not colour alone, and keep their names.
    const mic = popupControls(popup).microphone;
    expect(await mic.getAttribute('aria-pressed')).toBe('false');
    expect(await mic.innerText()).toMatch(/Microphone\s+Muted/);
    await expectNoSeriousViolations(popup, 'popup in a call of three');
    // For people reviewing a change: what the popup looked like (test-results/ is git-ignored).
    await popup.screenshot({ path: join(ARTIFACT_DIR, 'popup-call-of-three.png') });
  });

  step('the chat log scrolls with the keyboard and counts what arrived while reading', async () => {
    const [gwen] = guests;
    for (let i = 0; i < 25; i++) await must(gwen, 'guest').session.dispatch({ op: 'chat', text: `line ${i} of a long talk` });
    await expect.poll(() => chatCount(popup, 'line 24 of a long talk'), POLL).toBe(1);
    const log = popupControls(popup).chatLog;
    await log.focus();
    expect(await popup.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('log');
    const bottom = await log.evaluate((el) => el.scrollTop);
    expect(bottom).toBeGreaterThan(0);
    await popup.keyboard.press('Home');
    // Keyboard scrolling may be animated: wait until it reached the top, far from the newest line.
    await expect.poll(() => log.evaluate((el) => el.scrollTop), POLL).toBe(0);
    await must(gwen, 'guest').session.dispatch({ op: 'chat', text: 'one more while you read' });
    const unread = popup.getByRole('button', { name: '1 new message', exact: true });
    await expect.poll(() => unread.count(), POLL).toBe(1);
    await unread.click();
    await expect.poll(() => unread.count(), POLL).toBe(0);
    await expect.poll(() => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight), POLL).toBeLessThan(40);
  });

  step('a look-alike of a member is marked in the list and on its chat lines', async () => {
    const url = must(broker, 'broker').url;
    const twin = await makePeer('GWEN GUEST');
    try {
      await twin.session.dispatch({ op: 'join', name: 'GWEN GUEST', link: invite, brokerUrl: url });
      await expect.poll(async () => (await readParticipant(popup, 'GWEN GUEST'))?.state, POLL).toBe('connected');
      await expect.poll(() => popup.getByTestId('look-alike').count(), POLL).toBe(2);
      await twin.session.dispatch({ op: 'chat', text: 'it is really me' });
      const line = popupControls(popup).chatLog.locator('.msg', { hasText: 'it is really me' });
      await expect.poll(() => line.getByTestId('chat-look-alike').count(), POLL).toBe(1);
      const honest = popupControls(popup).chatLog.locator('.msg', { hasText: 'one more while you read' });
      expect(await honest.getByTestId('chat-look-alike').count()).toBe(1); // Gwen's own lines too: either may be the impostor
    } finally {
      await twin.session.dispatch({ op: 'leave' }).catch(() => undefined);
    }
    await expect.poll(() => popup.getByTestId('look-alike').count(), POLL).toBe(0);
  });

  step('a broker outage reads as a calm "Signaling offline" and the call recovers', async () => {
    const port = must(broker, 'broker').port;
    await must(broker, 'broker').stop();
    const state = popup.getByTestId('call-state');
    await expect.poll(() => state.innerText(), POLL).toBe('Signaling offline');
    expect(await popup.getByTestId('call-detail').innerText()).toMatch(/your call continues; new people can't join until it is back/);
    expect(await state.getAttribute('class')).not.toMatch(/tone-(warn|bad)/);
    for (const name of GUESTS) expect((await readParticipant(popup, name))?.state).toBe('connected');
    await expectNoSeriousViolations(popup, 'popup during a broker outage');
    broker = await startBrokerProcess({ port });
    await expect.poll(() => state.innerText(), POLL).toBe('Connected');
  });

  step('after Leave, a start against a dead broker fails in plain words and passes axe', async () => {
    const ui = popupControls(popup);
    await ui.leave.click();
    await expect.poll(() => ui.startCall.isVisible(), POLL).toBe(true);
    await setBrokerUrl(popup, 'ws://127.0.0.1:9');
    await ui.startCall.click();
    await expect.poll(() => popup.getByTestId('call-state').innerText(), POLL).toBe('Call failed');
    const alert = await popup.getByRole('alert').first().innerText();
    expect(alert).toMatch(/Could not reach the signaling broker/);
    expect(alert).not.toMatch(/code \d+|1006/);
    await expectNoSeriousViolations(popup, 'popup after a failed start');
  });

  step('keyboard only: start, mute, chat, leave; then join a call by its link and leave', async () => {
    const ui = popupControls(popup);
    const url = must(broker, 'broker').url;
    await popup.reload();
    await popup.setViewportSize(POPUP);
    const kb = popup.keyboard;
    await tabTo(popup, ui.settings, 'Settings');
    await kb.press('Enter');
    await tabTo(popup, ui.brokerUrl, 'Broker URL');
    await kb.press('ControlOrMeta+A');
    await kb.type(url);
    await tabTo(popup, ui.startCall, 'Start call');
    await kb.press('Enter');
    await expect.poll(() => ui.inviteLink.evaluate((el) => el === document.activeElement), POLL).toBe(true);
    const link = (await ui.inviteLink.inputValue()).trim();
    const guest = await makePeer('Kim Keys');
    guests.push(guest);
    await guest.session.dispatch({ op: 'join', name: 'Kim Keys', link, brokerUrl: url });
    await expect.poll(async () => (await readParticipant(popup, 'Kim Keys'))?.state, POLL).toBe('connected');

    await tabTo(popup, ui.microphone, 'Microphone');
    await kb.press('Space');
    await expect.poll(() => ui.microphone.getAttribute('aria-pressed'), POLL).toBe('true');
    await expect.poll(async () => (await must(H, 'host').badge()).text, POLL).toBe('ON');
    await kb.press('Space');
    await expect.poll(() => ui.microphone.getAttribute('aria-pressed'), POLL).toBe('false');
    await expect.poll(() => guest.view().members.find((m) => m.name === HOST)?.sending.includes('mic'), POLL).toBe(false);

    await tabTo(popup, ui.message, 'Message');
    await kb.type('typed with keys');
    await kb.press('Shift+Enter');
    await kb.type('on two lines');
    await kb.press('Enter');
    await expect.poll(() => guest.view().chat.some((c) => c.text === 'typed with keys\non two lines'), POLL).toBe(true);

    await tabTo(popup, ui.leave, 'Leave');
    await kb.press('Enter');
    await expect.poll(() => ui.startCall.isVisible(), POLL).toBe(true);
    await expect.poll(async () => (await must(H, 'host').badge()).text, POLL).toBe('');
    // Focus lands on the start form, not the top of the page.
    await expect.poll(() => popup.evaluate(() => document.activeElement?.id), POLL).toBe('start-heading');

    // Now join a call someone else started, by pasting its link with the keyboard.
    const other = await makePeer('Otto Other');
    guests.push(other);
    await other.session.dispatch({ op: 'start', name: 'Otto Other', brokerUrl: url });
    await tabTo(popup, ui.roomLink, 'Room link');
    await kb.type(must(other.view().roomLink ?? undefined, 'the other call'));
    await kb.press('Enter');
    await expect.poll(async () => (await readParticipant(popup, 'Otto Other'))?.state, POLL).toBe('connected');
    await expect.poll(() => popup.evaluate(() => document.activeElement?.id), POLL).toBe('participants-heading');
    await tabTo(popup, ui.leave, 'Leave');
    await kb.press('Enter');
    await expect.poll(() => ui.startCall.isVisible(), POLL).toBe(true);
  });

  step('joining before the host waits, keeps the link on Cancel, and is let in when the host starts', async () => {
    const ui = popupControls(popup);
    const url = must(broker, 'broker').url;
    const state = popup.getByTestId('call-state');
    // A link shared before its call began: nobody holds the room yet.
    const early = encodeLink({ version: 1, roomId: newRoomId(secureRandomBytes), gate: 'open' }, DEFAULT_LINK_BASE);
    await ui.roomLink.fill(early);
    await ui.join.click();
    await expect.poll(() => state.innerText(), POLL).toBe('Waiting for the host');
    await expect.poll(() => popup.getByRole('status').filter({ hasText: 'Waiting for the host to start the call' }).count(), POLL).toBe(1);
    await expectNoSeriousViolations(popup, 'popup waiting for the host');
    await popup.getByRole('button', { name: 'Cancel', exact: true }).click();
    await expect.poll(() => state.innerText(), POLL).toBe('Call ended');
    expect(await ui.roomLink.inputValue()).toBe(early); // kept for a retry

    await ui.join.click();
    await expect.poll(() => state.innerText(), POLL).toBe('Waiting for the host');
    const hostPeer = await makePeer('Hugo Host');
    guests.push(hostPeer);
    await hostPeer.session.dispatch({ op: 'start', name: 'Hugo Host', brokerUrl: url, link: early });
    await expect.poll(async () => (await readParticipant(popup, 'Hugo Host'))?.state, POLL).toBe('connected');
    await expect.poll(() => state.innerText(), POLL).toBe('Connected');
    await ui.leave.click();
    await expect.poll(() => ui.startCall.isVisible(), POLL).toBe(true);
  });

  step('two people waiting do not wait forever: one starts the room and the other is let in', async () => {
    const ui = popupControls(popup);
    const url = must(broker, 'broker').url;
    const early = encodeLink({ version: 1, roomId: newRoomId(secureRandomBytes), gate: 'open' }, DEFAULT_LINK_BASE);
    const other = await makePeer('Wanda Waiting');
    guests.push(other);
    await other.session.dispatch({ op: 'join', name: 'Wanda Waiting', link: early, brokerUrl: url });
    await expect.poll(() => other.view().phase, POLL).toBe('waiting');
    await ui.roomLink.fill(early);
    await ui.join.click();
    await expect.poll(() => popup.getByTestId('call-state').innerText(), POLL).toBe('Waiting for the host');
    await popup.getByRole('button', { name: 'Start it yourself', exact: true }).click();
    await expect.poll(async () => (await readParticipant(popup, 'Wanda Waiting'))?.state, POLL).toBe('connected');
    expect(other.view().phase).toBe('connected');
    expect(other.view().members.find((m) => m.name === HOST)?.isCoordinator).toBe(true);
    await ui.leave.click();
    await expect.poll(() => ui.startCall.isVisible(), POLL).toBe(true);
  });
});
