/**
 * Coordinator migration for `npm run bench`: how long until the survivors of a room agree on a
 * new coordinator, after a clean leave (the coordinator says bye and releases its claim) and
 * after a crash (its process is killed with SIGKILL; the broker notices the dropped socket, the
 * members probe the silent coordinator, then race to claim). DESIGN.md's targets are 1.5 s and
 * 5 s. Each round is a fresh room of `size` Node sessions.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { spawnCoordinator } from '../integration/fixtures/spawn-coordinator';
import { leaveAll, makePeer, waitFor, waitForMesh, type TestPeer } from '../integration/sessions';
import { markdownTable, median, ms, percentile } from './stats';

export interface MigrationOptions {
  brokerUrl: string;
  rounds: number;
  /** Participants in the room, the coordinator included. */
  size: number;
  timeoutMs: number;
  progress: (line: string) => void;
}

export interface MigrationResult {
  cleanLeave: number[];
  crash: number[];
}

/** Every survivor sees the same single coordinator among them and connected links to all others. */
function agreed(survivors: TestPeer[], gone: string): boolean {
  const coordinators = survivors.filter((p) => p.view().self?.isCoordinator);
  if (coordinators.length !== 1) return false;
  const id = coordinators[0]!.view().self!.peerId;
  return survivors.every((p) => {
    const v = p.view();
    if (v.members.some((m) => m.peerId === gone) || v.members.length !== survivors.length - 1) return false;
    return v.self!.peerId === id || v.members.some((m) => m.peerId === id && m.isCoordinator);
  });
}

async function cleanLeaveRound(opts: MigrationOptions, round: number): Promise<number> {
  const peers: TestPeer[] = [];
  try {
    const host = await makePeer('Host');
    peers.push(host);
    await host.session.dispatch({ op: 'start', name: 'Host', brokerUrl: opts.brokerUrl });
    for (let i = 1; i < opts.size; i++) {
      const p = await makePeer(`P${i}`);
      peers.push(p);
      await p.session.dispatch({ op: 'join', name: `P${i}`, link: host.view().roomLink!, brokerUrl: opts.brokerUrl });
      await waitForMesh([...peers], opts.timeoutMs);
    }
    const survivors = peers.slice(1);
    const gone = host.view().self!.peerId;
    const t0 = performance.now();
    await host.session.dispatch({ op: 'leave' });
    await waitFor('a new coordinator after a clean leave', () => agreed(survivors, gone), opts.timeoutMs);
    const elapsed = performance.now() - t0;
    opts.progress(`migration (clean leave) round ${round}: ${ms(elapsed)} ms`);
    return elapsed;
  } finally {
    await leaveAll(peers);
  }
}

async function crashRound(opts: MigrationOptions, round: number): Promise<number> {
  const { child, link, peerId: gone } = await spawnCoordinator(opts.brokerUrl, opts.timeoutMs);
  const peers: TestPeer[] = [];
  try {
    for (let i = 1; i < opts.size; i++) {
      const p = await makePeer(`P${i}`);
      peers.push(p);
      await p.session.dispatch({ op: 'join', name: `P${i}`, link, brokerUrl: opts.brokerUrl });
      await waitFor(
        'the room to settle',
        () => peers.every((q) => q.view().members.length === i && q.view().members.every((m) => m.link === 'connected' && m.sasPhase === 'ready')),
        opts.timeoutMs,
      );
    }
    const t0 = performance.now();
    child.kill('SIGKILL');
    await waitFor('a new coordinator after a crash', () => agreed(peers, gone), opts.timeoutMs);
    const elapsed = performance.now() - t0;
    opts.progress(`migration (crash) round ${round}: ${ms(elapsed)} ms`);
    return elapsed;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await leaveAll(peers);
  }
}

export async function runMigrationBench(opts: MigrationOptions): Promise<MigrationResult> {
  const result: MigrationResult = { cleanLeave: [], crash: [] };
  for (let r = 1; r <= opts.rounds; r++) result.cleanLeave.push(await cleanLeaveRound(opts, r));
  for (let r = 1; r <= opts.rounds; r++) result.crash.push(await crashRound(opts, r));
  return result;
}

export function migrationTable(result: MigrationResult, size: number): string {
  const row = (what: string, target: string, values: number[]) => [what, String(values.length), ms(median(values)), ms(percentile(values, 95)), target];
  return [
    `## Coordinator migration (Node, ${size} peers)`,
    '',
    'From the coordinator leaving (clean: `leave`; crash: SIGKILL of its process) until every survivor agrees on one new coordinator with the rest of the roster intact.',
    '',
    markdownTable(
      ['Departure', 'Samples', 'Median ms', 'p95 ms', 'DESIGN target'],
      [row('Clean leave', '1500 ms', result.cleanLeave), row('Crash (SIGKILL)', '5000 ms', result.crash)],
      [false, true, true, true, true],
    ),
    '',
  ].join('\n');
}
