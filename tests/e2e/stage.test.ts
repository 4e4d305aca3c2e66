/**
 * Issue 6, item 5, end to end: the stage as a call window. Two Chromium profiles (fake camera
 * and a fake microphone that beeps) and one Node participant are in a call of three. On A's
 * stage there is one tile per participant, initials while a camera is off and a decoding video
 * while it is on; "Muted" follows each microphone; a beeping microphone is marked "Speaking"
 * with a ring (measured in the offscreen document, remote and local); Pin makes a tile the large
 * one and Full screen works from the keyboard; the stage's own control bar turns the camera and
 * microphone on and leaves. The permission card is absent while camera and microphone are
 * granted and appears as soon as they are not; Microphone pressed in the popup without the
 * permission opens the stage, which asks and, once allowed, turns the microphone on. axe-core
 * finds no serious or critical violation on the stage with cameras off and on, in light and dark.
 *
 * With KIBITZ_DOCS_SCREENSHOTS=1 the call-of-three screenshot is also written to
 * docs/stage-in-call.png (1280 x 800) for the README.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CDPSession, Locator, Page } from 'playwright-core';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { REPO_ROOT } from '../../scripts/lib/browser';
import { makePeer, type TestPeer } from '../integration/sessions';
import {
  ARTIFACT_DIR,
  joinCall,
  launchProfiles,
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

const NAME_A = 'Alice Archer';
const NAME_B = 'Bob Baker';
const NAME_N = 'Nora Node';
const POLL = { timeout: 60_000, interval: 250 };
const STAGE_VIEWPORT = { width: 1280, height: 800 };

let broker: BrokerProcess | undefined;
let A: Profile | undefined;
let B: Profile | undefined;
let nora: TestPeer | undefined;
let popupA: Page;
let popupB: Page;
let stageA: Page;
let stageB: Page;
let cdpB: CDPSession | undefined;

const step = scenario(it, () => ({
  profiles: [A, B],
  broker,
  extra: () => (nora ? `${NAME_N}: ${JSON.stringify({ phase: nora.view().phase, members: nora.view().members.map((m) => [m.name, m.link, m.sending]) })}` : ''),
}));

function tiles(stage: Page): Locator {
  return stage.getByRole('list', { name: /^In the call/ }).getByRole('listitem');
}

/** The tile headed by `name` (yours reads "NAME (you)"). */
function tileOf(stage: Page, name: string): Locator {
  return tiles(stage).filter({ has: stage.getByRole('heading', { name: new RegExp(`^${name}( \\(you\\))?$`) }) });
}

async function tileNames(stage: Page): Promise<string[]> {
  return tiles(stage).getByRole('heading').allInnerTexts();
}

/** The tile's camera video: its intrinsic width and how many frames it has decoded. */
async function tileFrames(tile: Locator): Promise<{ width: number; frames: number }> {
  const videos = await tile.locator('video[data-lane="camera"]').evaluateAll((els) =>
    els.map((el) => {
      const v = el as HTMLVideoElement;
      return { width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames };
    }),
  );
  return videos[0] ?? { width: 0, frames: 0 };
}

async function expectDecoding(tile: Locator, who: string): Promise<void> {
  await expect.poll(async () => (await tileFrames(tile)).width, { ...POLL, message: `${who}'s camera has a size` }).toBeGreaterThan(0);
  const before = (await tileFrames(tile)).frames;
  await expect.poll(async () => (await tileFrames(tile)).frames, { ...POLL, message: `${who}'s camera keeps decoding` }).toBeGreaterThan(before + 10);
}

const isMuted = (tile: Locator) => async () => (await tile.getByText('Muted', { exact: true }).count()) === 1;
const isSpeaking = (tile: Locator) => async () =>
  (await tile.getAttribute('data-speaking')) === 'true' && (await tile.getByText('Speaking', { exact: true }).count()) === 1;

async function expectNoSeriousViolations(page: Page, where: string): Promise<void> {
  await mkdir(ARTIFACT_DIR, { recursive: true });
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    expect(await seriousA11yViolations(page), `${where} (${scheme})`).toEqual([]);
    // For people reviewing a change: what was checked (test-results/ is git-ignored).
    await page.screenshot({ path: join(ARTIFACT_DIR, `${where.replace(/[^\w]+/g, '-')}-${scheme}.png`) });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function area(l: Locator): Promise<number> {
  const box = await l.boundingBox();
  return box ? box.width * box.height : 0;
}

async function setDevicePermissions(cdp: CDPSession, profile: Profile, setting: 'granted' | 'prompt', names: Array<'camera' | 'microphone'>): Promise<void> {
  const origin = `chrome-extension://${profile.extensionId}`;
  for (const name of names) await cdp.send('Browser.setPermission', { origin, permission: { name }, setting });
}

const permissionHeading = (stage: Page) => stage.getByRole('heading', { name: 'Camera and microphone access', exact: true });

describe.sequential('the stage in a call of three', () => {
  beforeAll(async () => {
    broker = await startBrokerProcess();
    [A, B] = await launchProfiles('A', 'B');
  });

  afterAll(async () => {
    await nora?.session.dispatch({ op: 'leave' }).catch(() => undefined);
    await teardown([A, B], broker);
    shutdownNodeWebRtc();
  });

  step('A starts a call, B joins from its popup and a Node participant joins', async () => {
    const url = must(broker, 'broker').url;
    popupA = await must(A, 'profile A').openPopup();
    popupB = await must(B, 'profile B').openPopup();
    for (const [page, name] of [
      [popupA, NAME_A],
      [popupB, NAME_B],
    ] as const) {
      await setBrokerUrl(page, url);
      await setName(page, name);
    }
    const invite = await startCall(popupA);
    await joinCall(popupB, invite);
    nora = await makePeer(NAME_N);
    await nora.session.dispatch({ op: 'join', name: NAME_N, link: invite, brokerUrl: url });
    for (const name of [NAME_B, NAME_N]) await expect.poll(async () => (await readParticipant(popupA, name))?.state, POLL).toBe('connected');
    await expect.poll(async () => (await readParticipant(popupB, NAME_N))?.state, POLL).toBe('connected');
  });

  step('the stage has a tile for everyone, with initials while cameras are off, and no permission card', async () => {
    const a = must(A, 'profile A');
    const opened = a.context.waitForEvent('page', { predicate: (p) => p.url().includes('/stage.html'), timeout: 30_000 });
    await popupControls(popupA).openStage.click();
    stageA = await opened;
    await stageA.setViewportSize(STAGE_VIEWPORT);
    await expect.poll(() => tileNames(stageA), POLL).toEqual([`${NAME_A} (you)`, NAME_B, NAME_N]);
    expect(await stageA.locator('video').count()).toBe(0);
    for (const [name, letters] of [
      [NAME_A, 'AA'],
      [NAME_B, 'BB'],
      [NAME_N, 'NN'],
    ] as const) {
      const tile = tileOf(stageA, name);
      expect(await tile.getByTestId('avatar').innerText()).toBe(letters);
      expect(await tile.innerText()).toMatch(/Muted/);
      expect(await tile.getByText('Camera off.', { exact: true }).count()).toBe(1);
      expect(await isSpeaking(tile)()).toBe(false);
    }
    // Granted over CDP in this profile: no card; the same control bar as the popup, without "Open stage".
    await expect.poll(() => a.permissionState('microphone'), POLL).toBe('granted');
    expect(await permissionHeading(stageA).count()).toBe(0);
    const controls = stageA.getByRole('group', { name: 'Call controls' });
    for (const name of ['Microphone', 'Camera', 'Leave']) expect(await controls.getByRole('button', { name, exact: true }).count()).toBe(1);
    expect(await controls.getByRole('button', { name: 'Open stage' }).count()).toBe(0);
    await expectNoSeriousViolations(stageA, 'stage, cameras off');
  });

  step("cameras on (A from the stage's control bar, B from its popup) decode in their tiles; Nora keeps her initials", async () => {
    const camera = popupControls(stageA).camera;
    await camera.click();
    await expect.poll(() => camera.getAttribute('aria-pressed'), POLL).toBe('true');
    await popupControls(popupB).camera.click();
    await expectDecoding(tileOf(stageA, NAME_A), NAME_A);
    await expectDecoding(tileOf(stageA, NAME_B), NAME_B);
    expect(await tileOf(stageA, NAME_A).getByText('Camera on.', { exact: true }).count()).toBe(1);
    expect(await tileOf(stageA, NAME_N).locator('video').count()).toBe(0);
    expect(await tileOf(stageA, NAME_N).getByTestId('avatar').innerText()).toBe('NN');
    await expectNoSeriousViolations(stageA, 'stage, cameras on');
  });

  step('"Muted" follows each microphone, and a beeping microphone is marked as speaking, with a ring', async () => {
    const bob = tileOf(stageA, NAME_B);
    const alice = tileOf(stageA, NAME_A);
    const nor = tileOf(stageA, NAME_N);
    await popupControls(popupB).microphone.click();
    await expect.poll(isMuted(bob), POLL).toBe(false);
    // B's fake microphone beeps; A's offscreen document hears it and the stage says so.
    await expect.poll(isSpeaking(bob), POLL).toBe(true);
    const ring = await bob.evaluate((el) => ({ style: getComputedStyle(el).outlineStyle, width: parseFloat(getComputedStyle(el).outlineWidth) }));
    expect(ring.style).toBe('solid');
    expect(ring.width).toBeGreaterThanOrEqual(3);
    expect(await isSpeaking(alice)()).toBe(false); // her microphone is off
    expect(await isSpeaking(nor)()).toBe(false);
    expect(await isMuted(alice)()).toBe(true);
    expect(await isMuted(nor)()).toBe(true);

    // A's own microphone, from the stage: measured locally.
    const mic = popupControls(stageA).microphone;
    await mic.click();
    await expect.poll(() => mic.getAttribute('aria-pressed'), POLL).toBe('true');
    await expect.poll(isMuted(alice), POLL).toBe(false);
    await expect.poll(isSpeaking(alice), POLL).toBe(true);

    // For people reviewing a change, and (on request) the README: a call of three, two cameras on.
    await mkdir(ARTIFACT_DIR, { recursive: true });
    const shot = join(ARTIFACT_DIR, 'stage-in-call.png');
    await stageA.screenshot({ path: shot });
    if (process.env.KIBITZ_DOCS_SCREENSHOTS === '1') await copyFile(shot, join(REPO_ROOT, 'docs', 'stage-in-call.png'));
    // In forced colours the ring stays (in the system highlight colour) and so does the text.
    await stageA.emulateMedia({ forcedColors: 'active' });
    const forced = await bob.evaluate((el) => ({ style: getComputedStyle(el).outlineStyle, width: parseFloat(getComputedStyle(el).outlineWidth) }));
    expect(forced).toEqual(ring);
    expect(await isSpeaking(bob)()).toBe(true);
    await stageA.screenshot({ path: join(ARTIFACT_DIR, 'stage-forced-colors.png') });
    await stageA.emulateMedia({ forcedColors: 'none' });

    await mic.click();
    await expect.poll(isMuted(alice), POLL).toBe(true);
    await expect.poll(isSpeaking(alice), POLL).toBe(false);
    await popupControls(popupB).microphone.click();
    await expect.poll(isMuted(bob), POLL).toBe(true);
    await expect.poll(isSpeaking(bob), POLL).toBe(false);
  });

  step('Pin makes a tile the large one; Unpin (by keyboard) puts the grid back', async () => {
    const pin = stageA.getByRole('button', { name: `Pin ${NAME_B}`, exact: true });
    expect(await pin.getAttribute('aria-pressed')).toBe('false');
    const even = [await area(tileOf(stageA, NAME_A)), await area(tileOf(stageA, NAME_B))];
    expect(Math.abs((even[0] ?? 0) - (even[1] ?? 0))).toBeLessThan(0.05 * (even[0] ?? 1));
    await pin.click();
    const unpin = stageA.getByRole('button', { name: `Unpin ${NAME_B}`, exact: true });
    await expect.poll(() => unpin.getAttribute('aria-pressed'), POLL).toBe('true');
    await expect.poll(async () => (await tileNames(stageA))[0], POLL).toBe(NAME_B);
    const big = await area(tileOf(stageA, NAME_B));
    for (const name of [NAME_A, NAME_N]) expect(big, `${NAME_B}'s tile against ${name}'s`).toBeGreaterThan(4 * (await area(tileOf(stageA, name))));
    await expectDecoding(tileOf(stageA, NAME_B), `${NAME_B} (pinned)`);
    // Pinning someone else moves the pin.
    await stageA.getByRole('button', { name: `Pin ${NAME_N}`, exact: true }).click();
    await expect.poll(async () => (await tileNames(stageA))[0], POLL).toBe(NAME_N);
    expect(await stageA.getByRole('button', { name: `Pin ${NAME_B}`, exact: true }).getAttribute('aria-pressed')).toBe('false');
    const unpinN = stageA.getByRole('button', { name: `Unpin ${NAME_N}`, exact: true });
    await unpinN.focus();
    await stageA.keyboard.press('Enter');
    await expect.poll(() => tileNames(stageA), POLL).toEqual([`${NAME_A} (you)`, NAME_B, NAME_N]);
    await expect.poll(async () => Math.round(await area(tileOf(stageA, NAME_N))), POLL).toBe(Math.round(await area(tileOf(stageA, NAME_A))));
  });

  step('Full screen and back, from the keyboard', async () => {
    const full = stageA.getByRole('button', { name: 'Full screen', exact: true });
    await full.focus();
    await stageA.keyboard.press('Enter');
    await expect.poll(() => stageA.evaluate(() => document.fullscreenElement !== null), POLL).toBe(true);
    const exit = stageA.getByRole('button', { name: 'Exit full screen', exact: true });
    await expect.poll(() => exit.count(), POLL).toBe(1);
    await exit.focus();
    await stageA.keyboard.press('Enter');
    await expect.poll(() => stageA.evaluate(() => document.fullscreenElement === null), POLL).toBe(true);
    await expect.poll(() => full.count(), POLL).toBe(1);
  });

  step('without the permission the card appears at once, and passes axe', async () => {
    const b = must(B, 'profile B');
    stageB = await b.openStage();
    await stageB.setViewportSize(STAGE_VIEWPORT);
    await expect.poll(() => tileNames(stageB), POLL).toEqual([`${NAME_B} (you)`, NAME_A, NAME_N]);
    expect(await permissionHeading(stageB).count()).toBe(0);
    cdpB = await b.context.newCDPSession(stageB);
    await setDevicePermissions(cdpB, b, 'prompt', ['camera', 'microphone']);
    await expect.poll(() => b.permissionState('microphone'), POLL).toBe('prompt');
    // The stage follows the permission's change event: no reload.
    await expect.poll(() => permissionHeading(stageB).count(), POLL).toBe(1);
    expect(await stageB.getByRole('button', { name: 'Allow camera and microphone', exact: true }).count()).toBe(1);
    await expectNoSeriousViolations(stageB, 'stage with the permission card');
  });

  step('Microphone pressed in the popup without the permission opens the stage, which asks and then turns it on', async () => {
    const b = must(B, 'profile B');
    const cdp = must(cdpB, "B's CDP session");
    const mic = popupControls(popupB).microphone;
    expect(await mic.getAttribute('aria-pressed')).toBe('false');
    const opened = b.context.waitForEvent('page', { predicate: (p) => p.url().includes('/stage.html'), timeout: 30_000 });
    await mic.click();
    const asked = await opened;
    await asked.waitForLoadState('domcontentloaded');
    await expect.poll(() => popupB.getByText(/The stage opened in a new tab to ask; once you allow it, the microphone turns on/).count(), POLL).toBe(1);
    expect(await mic.getAttribute('aria-pressed')).toBe('false'); // not on without the permission
    // Headless Chromium answers the stage's prompt by itself with a refusal: the stage says so,
    // and the card says how to allow it.
    await expect.poll(() => asked.getByTestId('stage-status').innerText(), POLL).toMatch(/not allowed to use the microphone/);
    await expect.poll(() => b.permissionState('microphone'), POLL).not.toBe('granted');
    expect(await asked.getByTestId('permission-card').innerText()).toMatch(/microphone/i);
    expect(new URL(asked.url()).search).toBe(''); // asked once: a reload does not ask again

    // The person allows the microphone (here over CDP): the stage turns it on by itself.
    await setDevicePermissions(cdp, b, 'granted', ['microphone']);
    await expect.poll(() => mic.getAttribute('aria-pressed'), POLL).toBe('true');
    await expect.poll(() => asked.getByTestId('stage-status').innerText(), POLL).toMatch(/The microphone is on/);
    await expect.poll(isMuted(tileOf(stageA, NAME_B)), POLL).toBe(false);
    // Only the camera is missing now, then nothing: the card goes away on both of B's stages.
    await expect.poll(() => asked.getByRole('button', { name: 'Allow camera', exact: true }).count(), POLL).toBe(1);
    await setDevicePermissions(cdp, b, 'granted', ['camera']);
    await expect.poll(() => permissionHeading(asked).count(), POLL).toBe(0);
    await expect.poll(() => permissionHeading(stageB).count(), POLL).toBe(0);
    await mic.click();
    await expect.poll(isMuted(tileOf(stageA, NAME_B)), POLL).toBe(true);
  });

  step("Leave on A's stage ends A's call there; B's stage drops A's tile", async () => {
    await popupControls(stageA).leave.click();
    await expect.poll(() => stageA.getByText('There is no call right now.').count(), POLL).toBe(1);
    await expect.poll(() => tileNames(stageB), POLL).toEqual([`${NAME_B} (you)`, NAME_N]);
  });
});
