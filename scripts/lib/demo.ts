/**
 * The scripted demo `npm start` runs on a machine without a display: two headless Chromium
 * profiles with the built extension, driven through the popup exactly as a person would.
 * A starts a call, B joins with the invite link; it prints the invite link, both rosters, both
 * safety codes and a chat exchange, then both leave.
 */
import type { Page } from 'playwright-core';
import { launchProfiles, sleep, type Profile } from './browser';
import {
  chatCount,
  joinCall,
  participantSummaries,
  popupControls,
  readParticipant,
  sendChat,
  setBrokerUrl,
  setName,
  startCall,
} from './popup';

export interface DemoOptions {
  brokerUrl: string;
  log?: (line: string) => void;
  /** Per-step wait. Default 60 s. */
  stepTimeoutMs?: number;
}

const NAME_A = 'Ada';
const NAME_B = 'Grace';

/** Resolves when the demo ran to the end; throws (after cleaning up) when a step failed. */
export async function runDemo(options: DemoOptions): Promise<void> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stepTimeout = options.stepTimeoutMs ?? 60_000;
  const profiles: Profile[] = [];
  let step = 'launch two headless Chromium profiles';

  async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + stepTimeout;
    let last: T | undefined;
    for (;;) {
      last = await read();
      if (ok(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${stepTimeout} ms waiting for ${what} (last seen: ${JSON.stringify(last)})`);
      }
      await sleep(250);
    }
  }

  try {
    const [a, b] = (await launchProfiles('A', 'B')) as [Profile, Profile];
    profiles.push(a, b);
    log(`  two profiles up, extension id ${a.extensionId}`);

    step = 'open both popups and point them at the broker';
    const popupA = await a.openPopup();
    const popupB = await b.openPopup();
    for (const [page, name] of [
      [popupA, NAME_A],
      [popupB, NAME_B],
    ] as Array<[Page, string]>) {
      await setBrokerUrl(page, options.brokerUrl);
      await setName(page, name);
    }
    log(`  ${NAME_A} (profile A) and ${NAME_B} (profile B) use broker ${options.brokerUrl}`);

    step = `${NAME_A} starts a call`;
    const invite = await startCall(popupA);
    log(`  invite link: ${invite}`);

    step = `${NAME_B} joins with the invite link`;
    await joinCall(popupB, invite);
    await until(`${NAME_B} connected in ${NAME_A}'s roster`, () => readParticipant(popupA, NAME_B), (p) => p?.state === 'connected');
    await until(`${NAME_A} connected in ${NAME_B}'s roster`, () => readParticipant(popupB, NAME_A), (p) => p?.state === 'connected');
    log(`  ${NAME_A}'s participants: ${(await participantSummaries(popupA)).join(' | ')}`);
    log(`  ${NAME_B}'s participants: ${(await participantSummaries(popupB)).join(' | ')}`);

    step = 'compare safety codes';
    const codeA = await until('a safety code on A', () => readParticipant(popupA, NAME_B), (p) => p?.safetyCode.length === 7);
    const codeB = await until('a safety code on B', () => readParticipant(popupB, NAME_A), (p) => p?.safetyCode.length === 7);
    const shownA = codeA?.safetyCode.join(' ') ?? '';
    const shownB = codeB?.safetyCode.join(' ') ?? '';
    log(`  safety code on ${NAME_A}'s screen: ${shownA}`);
    log(`  safety code on ${NAME_B}'s screen: ${shownB}`);
    if (shownA !== shownB) throw new Error('the two safety codes differ: this link is not end-to-end');
    log('  the codes match: no one sits between the two browsers');

    step = 'chat';
    for (const [from, to, fromName, text] of [
      [popupA, popupB, NAME_A, 'Hello from Ada, can you read me?'],
      [popupB, popupA, NAME_B, 'Loud and clear, Ada.'],
    ] as Array<[Page, Page, string, string]>) {
      await sendChat(from, text);
      await until(`"${text}" on the other side`, () => chatCount(to, text), (n) => n >= 1);
      log(`  chat ${fromName}: ${text}`);
    }

    step = 'leave';
    await popupControls(popupB).leave.click();
    await until(`${NAME_B} gone from ${NAME_A}'s roster`, () => readParticipant(popupA, NAME_B), (p) => p === null);
    const left = await participantSummaries(popupA);
    log(`  ${NAME_B} left; ${NAME_A}'s participants: ${left.length ? left.join(' | ') : '(nobody else)'}`);
    await popupControls(popupA).leave.click();
    log(`  ${NAME_A} left`);
  } catch (err) {
    const details = profiles.map((p) => p.console.format()).join('\n');
    throw new Error(`demo step "${step}" failed: ${err instanceof Error ? err.message : String(err)}\n${details}`);
  } finally {
    await Promise.allSettled(profiles.map((p) => p.close()));
  }
}
