/**
 * Scale for `npm run bench`: how join time and CPU grow with the room, for rooms of 2, 4, 6 and 8
 * Node participants (the full mesh means N·(N−1)/2 peer connections).
 *
 * Each round builds a fresh room exactly as the Node join bench does (tests/bench/node-peers.ts:
 * joiners one at a time, the room settling before the next joins) and records each joiner's join
 * → all links open. Around it, process.cpuUsage() (user + system, every thread of the process, so
 * node-datachannel's native threads too) gives:
 *   - CPU per peer during the build: CPU from the coordinator's start until the last joiner's room
 *     has settled, divided by N;
 *   - idle CPU per peer: CPU per second with the full mesh up and nobody joining (the median of
 *     one-second slices over a 5 s window), divided by N: the cost of keeping a call open (keepalives, pings,
 *     presence), which is what limits room size on a small machine.
 * All peers (and the broker) run in this one process, which is what makes dividing the process's
 * CPU by N meaningful.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateIdentity, type NodeIdentity } from '../../src/agent/node/identity';
import { meshReady } from '../integration/sessions';
import { runRoom, type RoomOptions } from './node-peers';
import { JoinFailure, runRounds, type FailureBudget } from './sample';
import { markdownTable, median, ms, percentile } from './stats';

export interface ScaleOptions extends RoomOptions {
  /** Room sizes, coordinator included. */
  sizes: readonly number[];
  /** Measured rooms per size. */
  rounds: number;
  /** Length of the idle window with the full mesh up (default 5000 ms). */
  idleMs?: number;
  progress: (line: string) => void;
  /** Failed rounds are recorded here and run again; it throws once too many failed. */
  failures: FailureBudget;
}

export interface ScaleRound {
  size: number;
  round: number;
  /** Each joiner's join → all links open (ms), in join order. */
  allLinksOpenMs: number[];
  /** Process CPU (ms) from the coordinator's start until the full room settled, divided by size. */
  buildCpuMsPerPeer: number;
  /** Process CPU over the idle window, in ms per second of wall time, divided by size. */
  idleCpuMsPerSecPerPeer: number;
}

export const DEFAULT_IDLE_MS = 5000;
const IDLE_SLICE_MS = 1000;

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

export function scaleScenario(size: number): string {
  return `Scale, ${size} peers`;
}

async function scaleRound(
  size: number,
  round: number,
  identities: readonly NodeIdentity[],
  opts: ScaleOptions,
): Promise<ScaleRound> {
  const idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  let buildCpu = Number.NaN;
  let idleCpuPerSec = Number.NaN;
  const buildStart = process.cpuUsage();
  const samples = await runRoom(scaleScenario(size), round, identities, size, opts, async (peers) => {
    buildCpu = cpuMs(process.cpuUsage(buildStart));
    // One-second slices, and their median: a garbage collection or the broker's housekeeping
    // lands in one slice and would otherwise dominate a small steady figure.
    const slices: number[] = [];
    for (let left = idleMs; left > 0; left -= IDLE_SLICE_MS) {
      const sliceStart = process.cpuUsage();
      const t0 = performance.now();
      await sleep(Math.min(IDLE_SLICE_MS, left));
      slices.push(cpuMs(process.cpuUsage(sliceStart)) / ((performance.now() - t0) / 1000));
    }
    idleCpuPerSec = median(slices);
    // An idle figure is only meaningful for a room that stayed whole.
    const broken = peers.filter((p) => !meshReady(p, peers.filter((o) => o !== p)));
    if (broken.length) throw new JoinFailure(`the mesh of ${size} did not stay up through the idle window (${broken.map((p) => p.name).join(', ')})`);
  });
  return {
    size,
    round,
    allLinksOpenMs: samples.map((s) => s.allLinksOpenMs),
    buildCpuMsPerPeer: buildCpu / size,
    idleCpuMsPerSecPerPeer: idleCpuPerSec / size,
  };
}

export async function runScaleBench(opts: ScaleOptions): Promise<ScaleRound[]> {
  const identities = await Promise.all(Array.from({ length: Math.max(...opts.sizes) }, () => generateIdentity()));
  const results: ScaleRound[] = [];
  for (const size of opts.sizes) {
    const scenario = scaleScenario(size);
    await runRounds(scenario, `scale: ${scenario}`, opts.rounds, opts, async (round) => {
      const r = await scaleRound(size, round, identities, opts);
      results.push(r);
      opts.progress(
        `scale: ${size} peers, round ${round}: join→all open median ${ms(median(r.allLinksOpenMs))} ms; ` +
          `CPU/peer ${ms(r.buildCpuMsPerPeer)} ms build, ${ms(r.idleCpuMsPerSecPerPeer)} ms/s idle`,
      );
    });
  }
  return results;
}

export function scaleTable(results: readonly ScaleRound[], idleMs = DEFAULT_IDLE_MS): string {
  const sizes = [...new Set(results.map((r) => r.size))];
  const rows = sizes.map((size) => {
    const rs = results.filter((r) => r.size === size);
    const joins = rs.flatMap((r) => r.allLinksOpenMs);
    return [
      String(size),
      `${joins.length} (${rs.length} rounds)`,
      ms(median(joins)),
      ms(percentile(joins, 95)),
      ms(median(rs.map((r) => r.buildCpuMsPerPeer))),
      ms(median(rs.map((r) => r.idleCpuMsPerSecPerPeer))),
    ];
  });
  const raw = sizes.map((size) => {
    const rs = results.filter((r) => r.size === size);
    const list = (f: (r: ScaleRound) => number) => rs.map((r) => f(r).toFixed(1)).join(', ');
    return `- ${size} peers: build CPU/peer [${list((r) => r.buildCpuMsPerPeer)}] ms; idle CPU/peer [${list((r) => r.idleCpuMsPerSecPerPeer)}] ms/s`;
  });
  return [
    '## Scale (Node, full mesh)',
    '',
    markdownTable(
      ['Size', 'Joins', 'Join→all open median ms', 'p95 ms', 'CPU ms per peer during the build', 'Idle CPU ms/s per peer'],
      rows,
      [false, true, true, true, true, true],
    ),
    '',
    'Each round is a fresh room built like the Node join bench (joiners one at a time, the room settling',
    'before the next joins). Every peer and the broker run in this one Node process, so process.cpuUsage()',
    '(user + system, all threads, node-datachannel\'s included) divided by the room size is the CPU per peer:',
    '"during the build" is all CPU from the coordinator\'s start until the full room settled (broker relaying',
    `included), ÷ N; "idle" is CPU per second with the full mesh up and nobody joining (the median of ${(idleMs / 1000).toFixed(0)} one-second slices), ÷ N.`,
    'CPU columns are medians over rounds. Per round:',
    '',
    ...raw,
    '',
  ].join('\n');
}
