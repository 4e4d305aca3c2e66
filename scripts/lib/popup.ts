/**
 * Driving the Kibitz popup by its accessible names only (roles and labels, never CSS classes),
 * so the end-to-end test and the `npm start` demo click exactly what a person would.
 * Actions wait for their controls; reads never wait, so callers poll them.
 */
import type { Locator, Page } from 'playwright-core';

/** How long an action waits for its control to appear and be enabled. */
export const ACTION_TIMEOUT_MS = 30_000;

export function popupControls(page: Page) {
  const textbox = (name: string) => page.getByRole('textbox', { name, exact: true });
  const button = (name: string) => page.getByRole('button', { name, exact: true });
  return {
    name: textbox('Your name'),
    startCall: button('Start call'),
    inviteLink: textbox('Invite link'),
    copy: button('Copy'),
    roomLink: textbox('Room link'),
    join: button('Join'),
    participants: page.getByRole('list', { name: 'Participants', exact: true }),
    microphone: button('Microphone'),
    camera: button('Camera'),
    leave: button('Leave'),
    openStage: button('Open stage'),
    chatLog: page.getByRole('log', { name: 'Chat', exact: true }),
    message: textbox('Message'),
    send: button('Send'),
    settings: button('Settings'),
    brokerUrl: textbox('Broker URL'),
  };
}

async function fillAndCommit(box: Locator, value: string): Promise<void> {
  await box.waitFor({ state: 'visible', timeout: ACTION_TIMEOUT_MS });
  await box.fill(value);
  // Blur too, so both `input` and `change` listeners have seen the value.
  await box.press('Tab');
}

/** Sets the "Broker URL" setting, opening Settings (the gear) first and closing it after. */
export async function setBrokerUrl(page: Page, url: string): Promise<void> {
  const ui = popupControls(page);
  const opened = !(await ui.brokerUrl.isVisible());
  if (opened) await ui.settings.click({ timeout: ACTION_TIMEOUT_MS });
  await fillAndCommit(ui.brokerUrl, url);
  if (opened) await ui.settings.click({ timeout: ACTION_TIMEOUT_MS });
}

export async function setName(page: Page, name: string): Promise<void> {
  await fillAndCommit(popupControls(page).name, name);
}

/** Clicks "Start call" and returns the invite link once the popup shows it. */
export async function startCall(page: Page): Promise<string> {
  const ui = popupControls(page);
  await ui.startCall.click({ timeout: ACTION_TIMEOUT_MS });
  await ui.inviteLink.waitFor({ state: 'visible', timeout: ACTION_TIMEOUT_MS });
  const deadline = Date.now() + ACTION_TIMEOUT_MS;
  for (;;) {
    const link = (await ui.inviteLink.inputValue()).trim();
    if (link) return link;
    if (Date.now() > deadline) throw new Error('"Invite link" stayed empty after "Start call"');
    await page.waitForTimeout(100);
  }
}

/** Pastes a link into "Room link" and clicks "Join". */
export async function joinCall(page: Page, link: string): Promise<void> {
  const ui = popupControls(page);
  await fillAndCommit(ui.roomLink, link);
  await ui.join.click({ timeout: ACTION_TIMEOUT_MS });
}

export async function sendChat(page: Page, text: string): Promise<void> {
  const ui = popupControls(page);
  await ui.message.fill(text, { timeout: ACTION_TIMEOUT_MS });
  await ui.send.click({ timeout: ACTION_TIMEOUT_MS });
}

export type ParticipantState = 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'unknown';

export interface ParticipantRead {
  text: string;
  state: ParticipantState;
  /** The safety code's words, or [] while it is not shown yet. */
  safetyCode: string[];
}

/** The "Participants" item for a member named `name`, or null when there is none. */
export async function readParticipant(page: Page, name: string): Promise<ParticipantRead | null> {
  const ui = popupControls(page);
  if (!(await ui.participants.isVisible())) return null;
  const item = ui.participants.getByRole('listitem').filter({ hasText: name });
  if ((await item.count()) === 0) return null;
  const first = item.first();
  const text = (await first.innerText()).trim();
  const code = first.locator('[data-testid="safety-code"]');
  const codeText = (await code.count()) > 0 ? await code.first().innerText() : '';
  return { text, state: participantState(text), safetyCode: safetyCodeWords(codeText) };
}

/** One line per "Participants" item: "<first line of the item> — <state>[ — safety code …]". */
export async function participantSummaries(page: Page): Promise<string[]> {
  const ui = popupControls(page);
  if (!(await ui.participants.isVisible())) return [];
  const items = await ui.participants.getByRole('listitem').evaluateAll((els) =>
    els.map((li) => ({
      text: (li as HTMLElement).innerText,
      code: (li.querySelector('[data-testid="safety-code"]') as HTMLElement | null)?.innerText ?? '',
    })),
  );
  return items.map(({ text, code }) => {
    const first = text.trim().split('\n')[0]?.trim() ?? '';
    const words = safetyCodeWords(code);
    return [first, participantState(text), ...(words.length ? [`safety code ${words.join(' ')}`] : [])].join(' — ');
  });
}

export function participantState(text: string): ParticipantState {
  // Word boundaries keep "disconnected" from reading as "connected".
  for (const s of ['reconnecting', 'connecting', 'connected', 'failed'] as const) {
    if (new RegExp(`\\b${s}\\b`, 'i').test(text)) return s;
  }
  return 'unknown';
}

/** Splits a displayed safety code into its words (spaces, hyphens, dots or bullets between). */
export function safetyCodeWords(text: string): string[] {
  return text
    .trim()
    .split(/[\s\-–—·•,;|/]+/u)
    .filter(Boolean);
}

/** How many times `text` occurs in the "Chat" log. */
export async function chatCount(page: Page, text: string): Promise<number> {
  const log = popupControls(page).chatLog;
  if ((await log.count()) === 0) return 0;
  return log.first().evaluate((el, t) => (el as HTMLElement).innerText.split(t).length - 1, text);
}
