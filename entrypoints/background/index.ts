/**
 * Background service worker: a thin adapter that holds no call state (the call lives in the
 * offscreen document, which outlives both the popup and this worker's idle shutdowns).
 *
 * It does two things: when the popup asks (`kibitz/ensure-engine`), make sure the single
 * offscreen document exists; when the offscreen document says so, set the toolbar badge. And it
 * carries the call outside the popup (outside-popup.ts): shortcuts to the engine, notifications
 * of joins and leaves from it.
 * A message is trusted only by its `sender` (our extension id, a top-level document on our
 * origin at an allowed path), never by fields in the message; the body is only checked for
 * shape.
 */
import { browser, type Browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { ENSURE_ENGINE, errorText, parseBadgeUpdate, parseEnsureEngineRequest, type EnsureEngineResponse } from '../../src/extension/messages';
import { BADGE_PAGES, ENGINE_STARTER_PAGES, isExtensionPageSender } from '../../src/extension/trust';
import { inviteRedirectRule } from '../../src/extension/invite-rules';
import { defaultBrokerUrl } from '../../src/extension/settings';
import { registerOutsidePopup } from './outside-popup';

const OFFSCREEN_PATH = '/offscreen.html';

let creating: Promise<void> | null = null;

async function offscreenExists(url: string): Promise<boolean> {
  const contexts = await browser.runtime.getContexts({
    contextTypes: ['OFFSCREEN_DOCUMENT' as Browser.runtime.ContextType],
    documentUrls: [url],
  });
  return contexts.length > 0;
}

/** Creates the one offscreen document unless it exists; safe against concurrent callers. */
async function ensureOffscreen(): Promise<void> {
  const url = browser.runtime.getURL(OFFSCREEN_PATH);
  if (await offscreenExists(url)) return;
  if (creating) return creating;
  creating = (async () => {
    try {
      await browser.offscreen.createDocument({
        url: OFFSCREEN_PATH,
        reasons: [
          'WEB_RTC' as Browser.offscreen.Reason,
          'USER_MEDIA' as Browser.offscreen.Reason,
          'AUDIO_PLAYBACK' as Browser.offscreen.Reason,
        ],
        justification: 'Hosts the end-to-end-encrypted call (WebRTC, camera and microphone, remote audio) so it keeps running when the popup closes.',
      });
    } catch (err) {
      // Another caller (or a previous worker instance) won the race: that is what we wanted.
      const message = err instanceof Error ? err.message : String(err);
      if (/single offscreen document|already exists/i.test(message) || (await offscreenExists(url))) return;
      throw err;
    }
  })();
  try {
    await creating;
  } finally {
    creating = null;
  }
}

export default defineBackground(() => {
  const extensionId = browser.runtime.id;
  const baseUrl = browser.runtime.getURL('/');

  // The toolbar badge: only the offscreen document (which holds the call) may set it, and only
  // to one of a closed set of texts.
  browser.runtime.onMessage.addListener((message: unknown, sender) => {
    if (!isExtensionPageSender(sender, extensionId, baseUrl, BADGE_PAGES)) return false;
    const badge = parseBadgeUpdate(message);
    if (!badge) return false;
    void Promise.all([
      browser.action.setBadgeText({ text: badge.text }),
      browser.action.setTitle({ title: badge.title }),
      browser.action.setBadgeBackgroundColor({ color: badge.text === 'MUTE' ? '#8a5a00' : '#17743a' }),
    ]).catch((err: unknown) => console.warn('[kibitz] could not set the toolbar badge', err));
    return false;
  });

  browser.runtime.onMessage.addListener((message: unknown, sender, sendResponse: (r: EnsureEngineResponse) => void) => {
    // Only our own top-level popup may start the engine; everything else is ignored silently.
    if (!isExtensionPageSender(sender, extensionId, baseUrl, ENGINE_STARTER_PAGES)) return false;
    if (!parseEnsureEngineRequest(message)) return false;
    ensureOffscreen().then(
      () => sendResponse({ ok: true }),
      (err: unknown) => {
        console.warn('[kibitz] could not create the offscreen document', err);
        sendResponse({ ok: false, error: `Kibitz could not start its call engine: ${errorText(err)}` });
      },
    );
    return true; // respond asynchronously
  });

  // Invite clicks open the join screen before the broker's page can load (invite-rules.ts).
  // Dynamic rules persist; setting it on every start keeps it in step with this build.
  const rule = inviteRedirectRule(extensionId, defaultBrokerUrl());
  browser.declarativeNetRequest
    .updateDynamicRules({ removeRuleIds: [rule.id], addRules: [rule as unknown as Browser.declarativeNetRequest.Rule] })
    .catch((err: unknown) => console.warn('[kibitz] could not set the invite rule; invite pages will hand over themselves', err));

  // Keyboard shortcuts, and notifications of joins and leaves (outside-popup.ts).
  registerOutsidePopup({ extensionId, baseUrl, engineRunning: () => offscreenExists(browser.runtime.getURL(OFFSCREEN_PATH)) });

  console.info('[kibitz] background ready', { ensure: ENSURE_ENGINE });
});
