/**
 * Chromium side of `npm run bench`: two Debian Chromium profiles with the built extension
 * (launched by scripts/lib/browser.ts, driven through the popup by scripts/lib/popup.ts, like
 * the end-to-end test). A starts a call, B pastes the invite link and clicks "Join".
 *
 * The timing happens inside B's popup, on the page's own `performance.now()`: a capturing click
 * listener notes the moment "Join" is clicked, and a MutationObserver notes when the call state
 * first reads "Connected" (rostered) and when every "Participants" item reads connected (all
 * links open); also when the "Signaling broker" pill first reads open. So Playwright's round
 * trips do not blur the figures; Node only polls for the result.
 */
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { launchProfiles, withTimeout, type Profile } from '../../scripts/lib/browser';
import { joinCall, participantSummaries, readParticipant, setBrokerUrl, setName, startCall } from '../../scripts/lib/popup';
import type { CallPhase } from '../../src/engine/session-api';
import { describePhase } from '../../src/extension/format';
import { joinPhases, readTimeline, resetTimeline } from './chromium-timeline';
import { BenchError, JoinFailure, runRounds, type FailureBudget, type JoinSample } from './sample';

export interface ChromiumBenchOptions {
  brokerUrl: string;
  rounds: number;
  timeoutMs: number;
  /**
   * 'fresh': two new profiles every round, so each join is the first call of a new install
   * (cold offscreen document). 'warm': one pair of profiles for all rounds, after one untimed
   * warm-up call, so each join is a later call of the same browser.
   */
  mode: 'fresh' | 'warm';
  progress: (line: string) => void;
  /** Failed rounds are recorded here and run again; it throws once too many failed. */
  failures: FailureBudget;
  /** Runs after every timed round (the side-by-side baselines interleave here); returns a progress line. */
  afterRound?: (round: number) => Promise<string>;
}

export interface ChromiumBenchResult {
  samples: JoinSample[];
  /** e.g. "Chrome/156.0.8078.108". */
  version: string;
}

export function chromiumScenario(mode: 'fresh' | 'warm'): string {
  return `Chromium, 2 peers (${mode === 'fresh' ? 'fresh profiles' : 'warm profiles'})`;
}

const NAME_A = 'Ada Bench';
const NAME_B = 'Ben Bench';

/**
 * Installed in B's popup before "Join" is clicked. Plain JavaScript in a string: functions
 * passed to page.evaluate from tsx-compiled code can carry helper calls that do not exist in
 * the page. Uses the same hooks as scripts/lib/popup.ts: the list labelled "Participants", the
 * `call-state` pill (whose labels come from describePhase), and the word-bounded state reading
 * of `participantState`.
 */
export function observerScript(expectedOthers: number): string {
  const label = (phase: CallPhase) => JSON.stringify(describePhase({ phase, reason: null, broker: 'open', members: [] }).label);
  return `(() => {
    const L = { connecting: ${label('connecting')}, connected: ${label('connected')}, failed: ${label('failed')}, ended: ${label('ended')} };
    const st = { origin: performance.timeOrigin, click: null, brokerOpen: null, rostered: null, allOpen: null, failed: null, phaseAtClick: '', moved: false, expected: ${expectedOthers} };
    window.__kibitzBench = st;
    const stateOf = (text) => {
      for (const s of ['reconnecting', 'connecting', 'connected', 'failed']) {
        if (new RegExp('\\\\b' + s + '\\\\b', 'i').test(text)) return s;
      }
      return 'unknown';
    };
    const check = () => {
      if (st.click === null) return;
      const now = performance.now();
      const phase = (document.querySelector('[data-testid="call-state"]')?.textContent ?? '').trim();
      // A reused profile's popup still shows how the previous call ended ("Call ended" or
      // "Call failed") until this join moves it on.
      if (phase !== st.phaseAtClick) st.moved = true;
      if (st.moved && (phase === L.failed || phase === L.ended)) {
        const alert = document.querySelector('[role="alert"], [role="status"]');
        st.failed = phase + ' ' + Math.round(now - st.click) + ' ms after the click: ' + (alert ? alert.innerText : '');
        return;
      }
      const broker = (document.querySelector('[title="Signaling broker"]')?.textContent ?? '').trim();
      if (st.brokerOpen === null && broker === 'signaling: open') st.brokerOpen = now;
      if (phase !== L.connected) return;
      if (st.rostered === null) st.rostered = now;
      if (st.allOpen === null) {
        const items = [...document.querySelectorAll('ul[aria-label="Participants"] > li')];
        if (items.length === st.expected && items.every((li) => stateOf(li.innerText) === 'connected')) {
          st.allOpen = now;
          observer.disconnect();
        }
      }
    };
    document.addEventListener('click', (e) => {
      const button = e.target && e.target.closest ? e.target.closest('button') : null;
      if (st.click === null && button && button.textContent.trim() === 'Join') {
        st.click = performance.now();
        st.phaseAtClick = (document.querySelector('[data-testid="call-state"]')?.textContent ?? '').trim();
        queueMicrotask(check);
      }
    }, true);
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  })()`;
}

export interface PageTimes {
  /** The popup's performance.timeOrigin: the other fields are relative to it. */
  origin: number;
  click: number | null;
  brokerOpen: number | null;
  rostered: number | null;
  allOpen: number | null;
  failed: string | null;
}

export async function preparePopup(profile: Profile, name: string, brokerUrl: string): Promise<Page> {
  const page = await profile.openPopup();
  await setBrokerUrl(page, brokerUrl);
  await setName(page, name);
  return page;
}

export async function leave(page: Page): Promise<void> {
  const leaveButton = page.getByRole('button', { name: 'Leave', exact: true });
  if (await leaveButton.isVisible().catch(() => false)) {
    await leaveButton.click({ timeout: 10_000 }).catch(() => undefined);
    await page
      .getByRole('button', { name: 'Start call', exact: true })
      .waitFor({ state: 'visible', timeout: 10_000 })
      .catch(() => undefined);
  }
}

async function browserVersion(profile: Profile): Promise<string> {
  const page = profile.context.pages()[0] ?? (await profile.context.newPage());
  const cdp = await profile.context.newCDPSession(page);
  try {
    const v = await cdp.send('Browser.getVersion');
    return v.product;
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}

/** One call: A starts, B joins (timed), both leave. */
async function runCall(a: Profile, b: Profile, round: number, opts: ChromiumBenchOptions): Promise<JoinSample> {
  const scenario = chromiumScenario(opts.mode);
  const popupA = await preparePopup(a, NAME_A, opts.brokerUrl);
  const popupB = await preparePopup(b, NAME_B, opts.brokerUrl);
  try {
    const invite = await startCall(popupA);
    await Promise.all([resetTimeline(a), resetTimeline(b)]);
    await popupB.evaluate(observerScript(1));
    await joinCall(popupB, invite);
    const handle = await popupB
      .waitForFunction(
        () => {
          const st = (window as unknown as { __kibitzBench?: PageTimes }).__kibitzBench;
          return st && (st.allOpen !== null || st.failed !== null) ? st : null;
        },
        undefined,
        { timeout: opts.timeoutMs, polling: 100 },
      )
      .catch(async () => {
        const st = await popupB.evaluate(() => (window as unknown as { __kibitzBench?: PageTimes }).__kibitzBench);
        throw new JoinFailure(
          `B did not reach all links open within ${opts.timeoutMs} ms of clicking Join ` +
            `(page times ${JSON.stringify(st)}; B sees ${JSON.stringify(await participantSummaries(popupB).catch(() => []))}; ` +
            `A sees ${JSON.stringify(await participantSummaries(popupA).catch(() => []))}; ` +
            `errors in A: ${consoleErrors(a)}; errors in B: ${consoleErrors(b)})`,
        );
      });
    const st = (await handle.jsonValue()) as PageTimes;
    await handle.dispose();
    if (st.failed !== null) {
      throw new JoinFailure(
        `B's join failed: ${st.failed.replace(/\s+/g, ' ')} (errors in A: ${consoleErrors(a)}; errors in B: ${consoleErrors(b)})`,
      );
    }
    if (st.click === null || st.rostered === null || st.allOpen === null) {
      throw new BenchError(`Chromium round ${round}: incomplete page timings ${JSON.stringify(st)}`);
    }
    // Untimed: the call is fully up on A's side too before both leave.
    const deadline = performance.now() + opts.timeoutMs;
    while ((await readParticipant(popupA, NAME_B))?.state !== 'connected') {
      if (performance.now() > deadline) throw new JoinFailure('A never listed B as connected');
      await popupA.waitForTimeout(100);
    }
    const [marksB, marksA] = [await readTimeline(b), await readTimeline(a)];
    const phases = joinPhases(st.origin + st.click, st.origin + st.rostered, marksB, marksA);
    if (process.env.BENCH_MARKS) {
      const rel = (m: Record<string, number>) => Object.entries(m).sort((x, y) => x[1] - y[1]).map(([k, t]) => `${k}@${(t - st.origin - st.click!).toFixed(1)}`).join(' ');
      opts.progress(`marks B: ${rel(marksB)}\n  marks A: ${rel(marksA)}\n  rostered@${(st.rostered - st.click).toFixed(1)}`);
    }
    return {
      scenario,
      round,
      position: 1,
      others: 1,
      rosteredMs: st.rostered - st.click,
      allLinksOpenMs: st.allOpen - st.click,
      ...(st.brokerOpen !== null && st.brokerOpen <= st.rostered ? { brokerOpenMs: st.brokerOpen - st.click } : {}),
      ...(phases.dataChannelMs !== null ? { dataChannelMs: phases.dataChannelMs } : {}),
      phases,
    };
  } finally {
    await leave(popupB);
    await leave(popupA);
    await popupA.close().catch(() => undefined);
    await popupB.close().catch(() => undefined);
  }
}

export async function runChromiumBench(opts: ChromiumBenchOptions, track: (p: Profile) => void): Promise<ChromiumBenchResult> {
  const scenario = chromiumScenario(opts.mode);
  const samples: JoinSample[] = [];
  let version = 'unknown';
  let kept: Profile[] | null = null;
  const launch = async (): Promise<Profile[]> => {
    const started = performance.now();
    const profiles = await launchProfiles(`bench-${opts.mode}-A`, `bench-${opts.mode}-B`);
    profiles.forEach(track);
    opts.progress(`chromium (${opts.mode}): two profiles launched in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (version === 'unknown') version = await browserVersion(profiles[0]!).catch(() => 'unknown');
    return profiles;
  };
  try {
    if (opts.mode === 'warm') {
      kept = await launch();
      const [a, b] = kept as [Profile, Profile];
      await runCall(a, b, 0, opts).then(
        () => opts.progress('chromium (warm): warm-up call done (not counted)'),
        (err: unknown) => {
          if (!(err instanceof JoinFailure)) throw err;
          opts.progress(`chromium (warm): warm-up call failed (ignored): ${err.message}`);
        },
      );
    }
    await runRounds(scenario, `chromium (${opts.mode})`, opts.rounds, opts, async (round) => {
      const profiles: Profile[] = kept ?? (await launch());
      const [a, b] = profiles as [Profile, Profile];
      try {
        const sample = await runCall(a, b, round, opts);
        samples.push(sample);
        opts.progress(
          `chromium (${opts.mode}): round ${round}: rostered ${sample.rosteredMs.toFixed(0)} ms, all links open ${sample.allLinksOpenMs.toFixed(0)} ms`,
        );
        if (opts.afterRound) opts.progress(`  same round, side by side: ${await opts.afterRound(round)}`);
      } finally {
        if (!kept) await closeAll(profiles);
      }
    });
  } finally {
    if (kept) await closeAll(kept);
  }
  return { samples, version };
}

/** The extension's recent console errors and exceptions in one profile (not harness warnings). */
export function consoleErrors(profile: Profile): string {
  return profile.console.format(['error', 'exception']).slice(-1500);
}

export async function closeAll(profiles: Profile[]): Promise<void> {
  await Promise.allSettled(profiles.map((p) => withTimeout(p.close(), 30_000, `closing profile ${p.label}`)));
}
