/**
 * Scale in Chromium for `npm run bench`: rooms of 2, 3 and 4 browsers, as far as a small machine
 * allows; Node takes the larger rooms (tests/bench/scale.ts).
 *
 * Each size gets its own warm profiles (one untimed warm-up room first). A round is a fresh
 * room: the first profile starts it, the others join one at a time through their popups, each
 * timed in its own popup from the "Join" click until its participant list shows everyone
 * connected (the main bench's observer script). CPU per browser comes from /proc: user +
 * system time of each browser's whole process tree (browser, renderers, GPU and utility
 * processes), from before the start until the last join settled, and over an idle window with
 * the full mesh up, divided by the number of browsers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { launchProfiles, type Profile } from '../../scripts/lib/browser';
import { joinCall, participantSummaries, startCall } from '../../scripts/lib/popup';
import { closeAll, consoleErrors, leave, observerScript, preparePopup, type PageTimes } from './chromium-peers';
import { JoinFailure, runRounds, type FailureBudget } from './sample';
import { markdownTable, median, ms, percentile } from './stats';

export interface ChromiumScaleOptions {
  brokerUrl: string;
  sizes: readonly number[];
  rounds: number;
  timeoutMs: number;
  idleMs?: number;
  progress: (line: string) => void;
  failures: FailureBudget;
}

export interface ChromiumScaleRound {
  size: number;
  round: number;
  /** Each joiner's click → everyone connected in its popup (ms), in join order. */
  joinMs: number[];
  /** CPU (ms) of all browsers' process trees from the start until the room settled, ÷ size. */
  buildCpuMsPerPeer: number;
  /** CPU over the idle window, ms per second of wall time, ÷ size. */
  idleCpuMsPerSecPerPeer: number;
}

const DEFAULT_IDLE_MS = 3000;
/** Linux reports process times in clock ticks; 100 per second on every supported kernel config. */
const CLOCK_TICKS_PER_SEC = 100;

export function chromiumScaleScenario(size: number): string {
  return `Chromium scale, ${size} browsers`;
}

interface ProcStat {
  pid: number;
  ppid: number;
  cpuTicks: number;
}

function readProcs(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the parenthesised command name (which may hold spaces): state ppid … utime stime.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(rest[1]), cpuTicks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      /* the process ended meanwhile */
    }
  }
  return out;
}

/** The browser process of a profile: the one whose command line names its user data dir. */
function browserPid(profile: Profile): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(`--user-data-dir=${profile.userDataDir}`) && !cmd.some((a) => a.startsWith('--type='))) return Number(name);
    } catch {
      /* gone */
    }
  }
  throw new Error(`no browser process found for profile ${profile.label}`);
}

/** CPU ms used so far by every process in the trees under `roots`. */
function treeCpuMs(roots: readonly number[]): number {
  const procs = readProcs();
  const children = new Map<number, ProcStat[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  let ticks = 0;
  const queue = procs.filter((p) => roots.includes(p.pid));
  while (queue.length) {
    const p = queue.shift()!;
    ticks += p.cpuTicks;
    queue.push(...(children.get(p.pid) ?? []));
  }
  return (ticks / CLOCK_TICKS_PER_SEC) * 1000;
}

async function timedJoin(page: Page, invite: string, alreadyIn: number, timeoutMs: number, label: string): Promise<number> {
  await page.evaluate(observerScript(alreadyIn));
  await joinCall(page, invite);
  const handle = await page
    .waitForFunction(
      () => {
        const st = (window as unknown as { __kibitzBench?: PageTimes }).__kibitzBench;
        return st && (st.allOpen !== null || st.failed !== null) ? st : null;
      },
      undefined,
      { timeout: timeoutMs, polling: 100 },
    )
    .catch(async () => {
      throw new JoinFailure(`${label} did not see everyone connected within ${timeoutMs} ms (sees ${JSON.stringify(await participantSummaries(page).catch(() => []))})`);
    });
  const st = (await handle.jsonValue()) as PageTimes;
  await handle.dispose();
  if (st.failed !== null) throw new JoinFailure(`${label}'s join failed: ${st.failed.replace(/\s+/g, ' ')}`);
  if (st.click === null || st.allOpen === null) throw new JoinFailure(`${label}: incomplete page timings ${JSON.stringify(st)}`);
  return st.allOpen - st.click;
}

async function scaleRound(profiles: Profile[], round: number, opts: ChromiumScaleOptions): Promise<ChromiumScaleRound> {
  const size = profiles.length;
  const pids = profiles.map(browserPid);
  const popups = await Promise.all(profiles.map((p, i) => preparePopup(p, `Scale ${String.fromCharCode(65 + i)}`, opts.brokerUrl)));
  try {
    const cpu0 = treeCpuMs(pids);
    const invite = await startCall(popups[0]!);
    const joinMs: number[] = [];
    for (let i = 1; i < size; i++) joinMs.push(await timedJoin(popups[i]!, invite, i, opts.timeoutMs, profiles[i]!.label));
    // Settled: everyone lists everyone else as connected.
    for (const [i, page] of popups.entries()) {
      const deadline = performance.now() + opts.timeoutMs;
      for (;;) {
        const list = await participantSummaries(page).catch(() => []);
        if (list.length === size - 1 && list.every((m) => m.split(' — ')[1] === 'connected')) break;
        if (performance.now() > deadline) throw new JoinFailure(`${profiles[i]!.label} never listed everyone as connected (${JSON.stringify(list)}; errors: ${consoleErrors(profiles[i]!)})`);
        await sleep(100);
      }
    }
    const cpu1 = treeCpuMs(pids);
    const t0 = performance.now();
    await sleep(opts.idleMs ?? DEFAULT_IDLE_MS);
    const idle = treeCpuMs(pids) - cpu1;
    const idleSec = (performance.now() - t0) / 1000;
    return { size, round, joinMs, buildCpuMsPerPeer: (cpu1 - cpu0) / size, idleCpuMsPerSecPerPeer: idle / idleSec / size };
  } finally {
    for (const page of [...popups].reverse()) await leave(page);
    await Promise.allSettled(popups.map((p) => p.close()));
  }
}

export async function runChromiumScale(opts: ChromiumScaleOptions, track: (p: Profile) => void): Promise<ChromiumScaleRound[]> {
  const results: ChromiumScaleRound[] = [];
  for (const size of opts.sizes) {
    const scenario = chromiumScaleScenario(size);
    const profiles = await launchProfiles(...Array.from({ length: size }, (_, i) => `scale-${size}-${i}`));
    profiles.forEach(track);
    try {
      await scaleRound(profiles, 0, opts).catch((err: unknown) => {
        if (!(err instanceof JoinFailure)) throw err;
        opts.progress(`chromium scale: ${size} browsers, warm-up room failed (ignored): ${err.message}`);
      });
      await runRounds(scenario, `chromium scale: ${scenario}`, opts.rounds, opts, async (round) => {
        const r = await scaleRound(profiles, round, opts);
        results.push(r);
        opts.progress(
          `chromium scale: ${size} browsers, round ${round}: joins ${r.joinMs.map((x) => x.toFixed(0)).join(', ')} ms; ` +
            `CPU/browser ${ms(r.buildCpuMsPerPeer)} ms build, ${ms(r.idleCpuMsPerSecPerPeer)} ms/s idle`,
        );
      });
    } finally {
      await closeAll(profiles);
    }
  }
  return results;
}

export function chromiumScaleTable(results: readonly ChromiumScaleRound[], cores: number, idleMs = DEFAULT_IDLE_MS): string {
  const sizes = [...new Set(results.map((r) => r.size))];
  const rows = sizes.map((size) => {
    const rs = results.filter((r) => r.size === size);
    const joins = rs.flatMap((r) => r.joinMs);
    const last = rs.map((r) => r.joinMs.at(-1)!);
    return [
      String(size),
      `${joins.length} (${rs.length} rounds)`,
      ms(median(joins)),
      ms(percentile(joins, 95)),
      ms(median(last)),
      ms(median(rs.map((r) => r.buildCpuMsPerPeer))),
      ms(median(rs.map((r) => r.idleCpuMsPerSecPerPeer))),
    ];
  });
  return [
    '## Scale (Chromium, full mesh)',
    '',
    markdownTable(
      ['Browsers', 'Joins', 'Click→everyone connected median ms', 'p95 ms', 'Last joiner median ms', 'CPU ms per browser during the build', 'Idle CPU ms/s per browser'],
      rows,
      [false, true, true, true, true, true, true],
    ),
    '',
    `Warm profiles, one untimed warm-up room per size; each round a fresh room, joiners one at a time, each timed in its`,
    `own popup from "Join" to its list showing everyone connected. CPU: user + system time of each browser's whole process`,
    `tree from /proc (10 ms ticks), from before the start until everyone listed everyone, and over ${(idleMs / 1000).toFixed(0)} s idle with`,
    `the mesh up, ÷ browsers. All browsers share this machine's ${cores} cores, so past a few browsers the figures measure the`,
    `machine as much as Kibitz; larger rooms are in the Node scale table.`,
    '',
  ].join('\n');
}
