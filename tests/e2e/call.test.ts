/**
 * Issue 2, end to end: two Chromium profiles with the built extension call each other through
 * the real broker. A starts a call from the popup, B joins with the invite link; both see each
 * other connected with the same 7-word safety code; chat goes both ways exactly once; B's stage
 * decodes A's fake camera; A's popup closes and reopens while the call stays up; B leaves.
 *
 * The steps share one call, so they run in order and a failed step skips the rest (and prints
 * console output, accessibility trees, screenshots and the broker's log).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  brokerHealthy,
  chatCount,
  joinCall,
  launchProfiles,
  must,
  popupControls,
  readParticipant,
  scenario,
  sendChat,
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
/** Generous: two headless Chromiums on 2 cores, DTLS handshakes, ICE on loopback. */
const POLL = { timeout: 60_000, interval: 250 };
const STEP_TIMEOUT = 150_000;

let broker: BrokerProcess | undefined;
let A: Profile | undefined;
let B: Profile | undefined;
let popupA: Page;
let popupB: Page;
let stageB: Page;
let invite = '';

/** One step of the scenario: skipped once an earlier step failed; dumps diagnostics on failure. */
const step = scenario(it, () => ({ profiles: [A, B], broker }), STEP_TIMEOUT);

/** Sends `text` from one popup and waits until it shows exactly once on both sides. */
async function chatRoundTrip(from: Page, to: Page, text: string): Promise<void> {
  await sendChat(from, text);
  await expect.poll(() => chatCount(to, text), POLL).toBe(1);
  await expect.poll(() => chatCount(from, text), POLL).toBe(1);
}

/**
 * The best-playing `<video data-lane="camera">` on the stage that belongs to `owner` (its label
 * or its tile names them): its intrinsic width and how many frames it has decoded so far.
 */
async function cameraFrames(stage: Page, owner: string): Promise<{ width: number; frames: number }> {
  const videos = await stage.locator('video[data-lane="camera"]').evaluateAll(
    (els, name) =>
      els
        .filter((el) => {
          if ((el.getAttribute('aria-label') ?? '').includes(name)) return true;
          // Or the tile around it (a few levels up) carries the name.
          let node = el.parentElement;
          for (let i = 0; node && i < 3; i++, node = node.parentElement) {
            if ((node.textContent ?? '').includes(name)) return true;
          }
          return false;
        })
        .map((el) => {
          const v = el as HTMLVideoElement;
          return { width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames };
        }),
    owner,
  );
  const best = videos.sort((x, y) => y.frames - x.frames)[0];
  return best ?? { width: 0, frames: 0 };
}

describe.sequential('a call between two browser profiles', () => {
  beforeAll(async () => {
    broker = await startBrokerProcess();
    [A, B] = await launchProfiles('A', 'B');
  });

  afterAll(async () => {
    await teardown([A, B], broker);
  });

  step('harness: extension loaded, camera and microphone granted, broker healthy', async () => {
    const a = must(A, 'profile A');
    const b = must(B, 'profile B');
    expect(a.extensionId).toMatch(/^[a-p]{32}$/);
    expect(b.extensionId).toBe(a.extensionId);
    for (const p of [a, b]) {
      expect(await p.permissionState('camera')).toBe('granted');
      expect(await p.permissionState('microphone')).toBe('granted');
    }
    expect(await brokerHealthy(must(broker, 'broker').httpUrl)).toBe(true);
  });

  step('both set the broker URL and their names', async () => {
    const url = must(broker, 'broker').url;
    popupA = await must(A, 'profile A').openPopup();
    popupB = await must(B, 'profile B').openPopup();
    await setBrokerUrl(popupA, url);
    await setBrokerUrl(popupB, url);
    // "Saved as soon as it changes": it is in extension storage and survives a reload.
    for (const page of [popupA, popupB]) {
      await expect.poll(() => storedText(page), POLL).toContain(url);
      await page.reload();
      await popupControls(page).settings.click();
      await expect.poll(() => popupControls(page).brokerUrl.inputValue(), POLL).toBe(url);
      await popupControls(page).settings.click();
    }
    await setName(popupA, NAME_A);
    await setName(popupB, NAME_B);
  });

  step('A starts a call and gets an invite link', async () => {
    invite = await startCall(popupA);
    expect(invite).toMatch(/#.+/); // the room id rides the fragment, never sent to a server
  });

  step('B joins with the link and both list each other as connected', async () => {
    await joinCall(popupB, invite);
    await expect.poll(async () => (await readParticipant(popupA, NAME_B))?.state, POLL).toBe('connected');
    await expect.poll(async () => (await readParticipant(popupB, NAME_A))?.state, POLL).toBe('connected');
  });

  step('both show the same 7-word safety code', async () => {
    await expect.poll(async () => (await readParticipant(popupA, NAME_B))?.safetyCode.length, POLL).toBe(7);
    await expect.poll(async () => (await readParticipant(popupB, NAME_A))?.safetyCode.length, POLL).toBe(7);
    const codeOnA = (await readParticipant(popupA, NAME_B))?.safetyCode;
    const codeOnB = (await readParticipant(popupB, NAME_A))?.safetyCode;
    expect(codeOnA).toHaveLength(7);
    expect(codeOnB).toEqual(codeOnA);
    const item = popupControls(popupA).participants.getByRole('listitem').filter({ hasText: NAME_B });
    await expect.poll(() => item.getByRole('button', { name: `Mark ${NAME_B} verified`, exact: true }).count(), POLL).toBe(1);
  });

  step('chat goes both ways, each message exactly once', async () => {
    const nonce = Math.random().toString(36).slice(2, 8);
    await chatRoundTrip(popupA, popupB, `hello from A ${nonce}`);
    await chatRoundTrip(popupB, popupA, `hello from B ${nonce}`);
    // After a full round trip, the first message has still not been delivered twice.
    expect(await chatCount(popupB, `hello from A ${nonce}`)).toBe(1);
  });

  step("A turns on the camera and B's stage decodes A's frames", async () => {
    await popupControls(popupA).camera.click();
    const b = must(B, 'profile B');
    const opened = b.context.waitForEvent('page', {
      predicate: (p) => p.url().includes('/stage.html'),
      timeout: 30_000,
    });
    await popupControls(popupB).openStage.click();
    stageB = await opened;
    await stageB.waitForLoadState('domcontentloaded');
    await expect
      .poll(async () => {
        const f = await cameraFrames(stageB, NAME_A);
        return f.width > 0 && f.frames > 0;
      }, POLL)
      .toBe(true);
    const before = (await cameraFrames(stageB, NAME_A)).frames;
    await expect.poll(async () => (await cameraFrames(stageB, NAME_A)).frames, POLL).toBeGreaterThan(before + 10);
  });

  step("A's popup closes and reopens, and the call is still up", async () => {
    await popupA.close();
    popupA = await must(A, 'profile A').openPopup();
    await expect.poll(async () => (await readParticipant(popupA, NAME_B))?.state, POLL).toBe('connected');
    await expect.poll(async () => (await readParticipant(popupB, NAME_A))?.state, POLL).toBe('connected');
    const nonce = Math.random().toString(36).slice(2, 8);
    await chatRoundTrip(popupA, popupB, `still here, A ${nonce}`);
    await chatRoundTrip(popupB, popupA, `still here, B ${nonce}`);
  });

  step("B leaves and A's participant list no longer shows B", async () => {
    await popupControls(popupB).leave.click();
    await expect.poll(() => readParticipant(popupA, NAME_B), POLL).toBeNull();
    // A is still in its call, just alone.
    await expect.poll(() => popupControls(popupA).leave.isVisible(), POLL).toBe(true);
  });
});

/** Everything the popup's origin keeps in chrome.storage (local and sync), as one string. */
async function storedText(page: Page): Promise<string> {
  return page.evaluate(async () => {
    type Area = { get(keys: null): Promise<Record<string, unknown>> };
    const { storage } = (globalThis as unknown as { chrome: { storage: { local: Area; sync: Area } } }).chrome;
    const local = await storage.local.get(null);
    const sync = await storage.sync.get(null).catch(() => ({}));
    return JSON.stringify([local, sync]);
  });
}
