/**
 * The call outside the popup, on the background's side: keyboard shortcuts (`chrome.commands`)
 * passed to the engine in the offscreen document, and the notifications the offscreen document
 * asks for (it has no `notifications` API). Holds no call state.
 *
 * - Shortcut: onCommand -> (only when the offscreen document exists, i.e. an engine may be in a
 *   call) `runtime.sendMessage({type:'kibitz/shortcut', command})`, which the offscreen document
 *   accepts only from this worker. Its answer says what happened; a lane that could not be
 *   turned on becomes a notification saying why.
 * - Presence: accepted only from our offscreen.html, shape-checked, then shown in our own words
 *   (notify-text.ts) unless the person turned "Notify me when people join or leave" off. The
 *   answer tells the offscreen document whether to play the sound.
 * - Clicking a notification opens the popup (action.openPopup), or the stage when the browser
 *   will not open it.
 */
import { browser } from 'wxt/browser';
import { presenceNotification, shortcutFailureNotification, type NotificationText } from '../../src/extension/notify-text';
import { parsePresenceNotice, type PresenceNotice, type PresenceNoticeReply } from '../../src/extension/presence';
import { STORAGE_KEYS, readSettings } from '../../src/extension/settings';
import { parseShortcutReply, shortcutCommand, shortcutMessage, type ShortcutCommand } from '../../src/extension/shortcuts';
import { NOTIFY_PAGES, isExtensionPageSender } from '../../src/extension/trust';

/** One notification each: a new one replaces the last instead of piling up. */
const PRESENCE_NOTIFICATION = 'kibitz-presence';
const MEDIA_NOTIFICATION = 'kibitz-media';
const OUR_NOTIFICATIONS: readonly string[] = [PRESENCE_NOTIFICATION, MEDIA_NOTIFICATION];
const ICON_PATH = '/notification-icon.png';

export interface OutsidePopupDeps {
  extensionId: string;
  baseUrl: string;
  /** True when the offscreen document (the engine) exists. */
  engineRunning: () => Promise<boolean>;
}

async function show(id: string, text: NotificationText, silent: boolean): Promise<void> {
  await browser.notifications.create(id, {
    type: 'basic',
    iconUrl: browser.runtime.getURL(ICON_PATH),
    title: text.title,
    message: text.message,
    // Joins and leaves play Kibitz's own soft sound; do not add the system's on top.
    silent,
  });
}

async function wantsPresence(): Promise<boolean> {
  try {
    return readSettings(await browser.storage.local.get(STORAGE_KEYS.notifyPresence)).notifyPresence;
  } catch (err) {
    console.warn('[kibitz] could not read the notification setting; using the default (on)', err);
    return true;
  }
}

async function onPresence(notice: PresenceNotice): Promise<PresenceNoticeReply> {
  if (!(await wantsPresence())) return { sound: false };
  const text = presenceNotification(notice);
  if (!text) return { sound: false };
  await show(PRESENCE_NOTIFICATION, text, true).catch((err: unknown) => console.warn('[kibitz] could not show a notification', err));
  return { sound: true };
}

/** What a shortcut does: ask the engine, and say so when a lane could not be switched. */
async function runShortcut(command: ShortcutCommand, engineRunning: () => Promise<boolean>): Promise<void> {
  // No offscreen document, no engine, no call: the shortcut does nothing (it never starts one).
  if (!(await engineRunning())) return;
  let raw: unknown;
  try {
    raw = await browser.runtime.sendMessage(shortcutMessage(command));
  } catch (err) {
    console.warn('[kibitz] the call engine did not answer a shortcut', err);
    return;
  }
  const reply = parseShortcutReply(raw);
  if (!reply) {
    console.warn('[kibitz] ignored a malformed shortcut answer');
    return;
  }
  console.info('[kibitz] shortcut', command, reply.outcome);
  const text = shortcutFailureNotification(reply);
  if (text) await show(MEDIA_NOTIFICATION, text, false).catch((err: unknown) => console.warn('[kibitz] could not show a notification', err));
}

async function openCall(): Promise<void> {
  try {
    await browser.action.openPopup();
  } catch {
    // No focused window with a toolbar (or a browser that will not open it): the stage shows
    // the call too.
    await browser.tabs.create({ url: browser.runtime.getURL('/stage.html') });
  }
}

export function registerOutsidePopup(deps: OutsidePopupDeps): void {
  browser.commands.onCommand.addListener((name: string) => {
    const command = shortcutCommand(name);
    if (command) void runShortcut(command, deps.engineRunning);
  });

  browser.runtime.onMessage.addListener((message: unknown, sender, sendResponse: (r: PresenceNoticeReply) => void) => {
    if (!isExtensionPageSender(sender, deps.extensionId, deps.baseUrl, NOTIFY_PAGES)) return false;
    const notice = parsePresenceNotice(message);
    if (!notice) return false;
    onPresence(notice).then(sendResponse, () => sendResponse({ sound: false }));
    return true; // respond asynchronously
  });

  browser.notifications.onClicked.addListener((id: string) => {
    if (!OUR_NOTIFICATIONS.includes(id)) return;
    void browser.notifications.clear(id);
    openCall().catch((err: unknown) => console.warn('[kibitz] could not open the call', err));
  });
}
