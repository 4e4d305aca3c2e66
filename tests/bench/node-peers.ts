/**
 * Node side of `npm run bench`: rooms of N engine sessions on node-datachannel against the real
 * broker on 127.0.0.1 (wired like the integration tests in tests/integration/sessions.ts).
 *
 * Each round is a fresh room with fresh sessions and platforms; identities (certificates) are
 * made once per peer slot and reused. The coordinator starts the call, then the others join one
 * at a time; each join is timed from dispatching `join` until the joiner's view reaches phase
 * 'connected' (the coordinator's welcome with the roster applied) and until every other member
 * shows link 'connected'. Before the next joiner goes, the whole room must settle (full mesh,
 * safety codes ready), so one join's background work does not leak into the next measurement.
 */
import { performance } from 'node:perf_hooks';
import { generateIdentity, type NodeIdentity } from '../../src/agent/node/identity';
import { createNodePlatform, MemoryStore } from '../../src/agent/node/platform';
import type { PeerFactory, Platform, RtcPeerLike } from '../../src/engine/platform';
import { Session } from '../../src/engine/session';
import type { SessionView } from '../../src/engine/session-api';
import { leaveAll, meshReady, quietLog, waitFor, type TestPeer } from '../integration/sessions';
import { JoinFailure, runRounds, type FailureBudget, type JoinSample } from './sample';

export interface NodeBenchOptions {
  brokerUrl: string;
  sizes: readonly number[];
  rounds: number;
  /** Untimed 2-peer rounds first (JIT, native library start-up). */
  warmupRounds: number;
  /** Per join, and per settle. */
  timeoutMs: number;
  /** Progress lines (stderr). */
  progress: (line: string) => void;
  /** Broker connections still open (to wait for a clean slate between rounds). */
  brokerConnections: () => number;
  /** Failed rounds are recorded here and run again; it throws once too many failed. */
  failures: FailureBudget;
}

/** Sessions of the room in progress, so an interrupted run can still leave them before exiting. */
const liveRoom = new Set<TestPeer>();

/** Leaves every session of an unfinished room (for interrupts and the watchdog); never throws. */
export async function leaveLiveSessions(): Promise<void> {
  const peers = [...liveRoom];
  liveRoom.clear();
  await leaveAll(peers);
}

/** When the joiner dialled its first peer (the coordinator) and when that connection came up. */
interface DialProbe {
  firstDialAt: number | null;
  firstConnectedAt: number | null;
}

interface BenchPeer extends TestPeer {
  probe: DialProbe;
}

/**
 * A session on the Node platform whose peer factory notes when the first peer connection is
 * created and when it reports 'connected' (ICE, DTLS and SCTP up). Otherwise the same as
 * `makePeer` in tests/integration/sessions.ts.
 */
function makeBenchPeer(name: string, identity: NodeIdentity): BenchPeer {
  const base = createNodePlatform({ identity, storage: new MemoryStore(), log: quietLog });
  const probe: DialProbe = { firstDialAt: null, firstConnectedAt: null };
  const peers: PeerFactory = {
    ...base.peers,
    create: (config) => {
      const pc = base.peers.create(config);
      if (probe.firstDialAt === null) {
        probe.firstDialAt = performance.now();
        onConnected(pc, (at) => (probe.firstConnectedAt ??= at));
      }
      return pc;
    },
  };
  const platform: Platform = { ...base, peers };
  const session = new Session(platform);
  return { name, session, identity, probe, view: () => session.view() };
}

/** Calls `cb` when `pc` reports connectionState 'connected', without disturbing the engine's handler. */
function onConnected(pc: RtcPeerLike, cb: (at: number) => void): void {
  let inner: (() => void) | null = pc.onconnectionstatechange;
  const wrapper = (): void => {
    if (pc.connectionState === 'connected') cb(performance.now());
    inner?.();
  };
  Object.defineProperty(pc, 'onconnectionstatechange', {
    configurable: true,
    enumerable: true,
    get: () => wrapper,
    set: (fn: (() => void) | null) => {
      inner = fn;
    },
  });
}

function describeRoom(peers: TestPeer[]): unknown {
  return peers.map((p) => {
    const v = p.view();
    return {
      name: p.name,
      phase: v.phase,
      reason: v.reason,
      broker: v.broker,
      members: v.members.map((m) => `${m.name}:${m.link}/${m.sasPhase}`),
    };
  });
}

/**
 * Dispatches join and resolves with the two timings, reacting to view changes through
 * `subscribe`. Rejects on a failed or ended call, a rejected dispatch, or the timeout.
 */
function timeJoin(
  peer: BenchPeer,
  link: string,
  brokerUrl: string,
  others: number,
  timeoutMs: number,
): Promise<{ t0: number; brokerOpenAt: number | null; rosteredAt: number; allOpenAt: number }> {
  return new Promise((resolve, reject) => {
    let t0 = 0;
    let brokerOpenAt: number | null = null;
    let rosteredAt: number | null = null;
    let settled = false;
    let last: SessionView | null = null;
    const finish = (err: Error | null, allOpenAt?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      if (err) reject(err);
      else resolve({ t0, brokerOpenAt, rosteredAt: rosteredAt!, allOpenAt: allOpenAt! });
    };
    const timer = setTimeout(() => {
      const v = last ?? peer.view();
      finish(
        new JoinFailure(
          `${peer.name} did not reach ${rosteredAt === null ? "phase 'connected'" : `links 'connected' to all ${others} others`} ` +
            `within ${timeoutMs} ms of joining (phase ${v.phase}${v.reason ? `: ${v.reason}` : ''}; members ` +
            `${JSON.stringify(v.members.map((m) => `${m.name}:${m.link}`))})`,
        ),
      );
    }, timeoutMs);
    const unsubscribe = peer.session.subscribe((v) => {
      const now = performance.now();
      last = v;
      if (v.broker === 'open') brokerOpenAt ??= now;
      if (v.phase === 'failed' || v.phase === 'ended') {
        finish(new JoinFailure(`${peer.name}'s join ended in phase '${v.phase}': ${v.reason ?? 'no reason given'}`));
        return;
      }
      if (v.phase !== 'connected') return;
      rosteredAt ??= now;
      if (v.members.length === others && v.members.every((m) => m.link === 'connected')) finish(null, now);
    });
    t0 = performance.now();
    peer.session.dispatch({ op: 'join', name: peer.name, link, brokerUrl }).catch((err: unknown) => {
      finish(new JoinFailure(`${peer.name}: join was refused: ${err instanceof Error ? err.message : String(err)}`));
    });
  });
}

/** What building one room needs from the options. */
export type RoomOptions = Pick<NodeBenchOptions, 'brokerUrl' | 'timeoutMs' | 'brokerConnections'>;

/**
 * One room of `size` peers; returns one sample per joiner. Always leaves the room. `whileUp`, if
 * given, runs once the last joiner's room has settled and before anyone leaves (the scale bench
 * measures the idle full mesh there).
 */
export async function runRoom(
  scenario: string,
  round: number,
  identities: readonly NodeIdentity[],
  size: number,
  opts: RoomOptions,
  whileUp?: (peers: readonly TestPeer[]) => Promise<void>,
): Promise<JoinSample[]> {
  const peers: BenchPeer[] = [];
  const samples: JoinSample[] = [];
  try {
    const host = makeBenchPeer('Peer 1', identities[0]!);
    peers.push(host);
    liveRoom.add(host);
    await host.session.dispatch({ op: 'start', name: host.name, brokerUrl: opts.brokerUrl });
    const link = host.view().roomLink;
    if (host.view().phase !== 'connected' || !link) {
      throw new JoinFailure(`the coordinator could not start a call: ${host.view().reason ?? host.view().phase}`);
    }
    for (let i = 1; i < size; i++) {
      const joiner = makeBenchPeer(`Peer ${i + 1}`, identities[i]!);
      peers.push(joiner);
      liveRoom.add(joiner);
      const { t0, brokerOpenAt, rosteredAt, allOpenAt } = await timeJoin(joiner, link, opts.brokerUrl, i, opts.timeoutMs);
      const { firstDialAt, firstConnectedAt } = joiner.probe;
      samples.push({
        scenario,
        round,
        position: i,
        others: i,
        rosteredMs: rosteredAt - t0,
        allLinksOpenMs: allOpenAt - t0,
        ...(brokerOpenAt !== null ? { brokerOpenMs: brokerOpenAt - t0 } : {}),
        ...(firstDialAt !== null && firstConnectedAt !== null && firstConnectedAt <= rosteredAt
          ? {
              breakdown: {
                signalingMs: firstDialAt - t0,
                transportMs: firstConnectedAt - firstDialAt,
                admissionMs: rosteredAt - firstConnectedAt,
              },
            }
          : {}),
      });
      // Untimed: let the whole room settle before the next joiner goes.
      const room = [...peers];
      await waitFor(
        `a settled mesh of ${room.length}`,
        () => room.every((p) => meshReady(p, room.filter((o) => o !== p))),
        opts.timeoutMs,
        () => describeRoom(room),
      ).catch((err: unknown) => {
        throw new JoinFailure(err instanceof Error ? err.message : String(err));
      });
    }
    await whileUp?.(peers);
    return samples;
  } finally {
    await leaveAll(peers);
    for (const p of peers) liveRoom.delete(p);
    // A clean slate at the broker (every socket closed) before the next room.
    await waitFor('the broker to see every peer of the room disconnect', () => opts.brokerConnections() === 0, 10_000).catch(
      () => undefined,
    );
  }
}

export async function runNodeBench(opts: NodeBenchOptions): Promise<JoinSample[]> {
  const slots = Math.max(2, ...opts.sizes);
  const t = performance.now();
  const identities = await Promise.all(Array.from({ length: slots }, () => generateIdentity()));
  opts.progress(`node: ${slots} identities generated in ${(performance.now() - t).toFixed(0)} ms`);

  for (let w = 1; w <= opts.warmupRounds; w++) {
    // A failed warm-up costs nothing but time; it is not counted against the budget.
    await runRoom('warm-up', w, identities, 2, opts).catch((err: unknown) => {
      if (!(err instanceof JoinFailure)) throw err;
      opts.progress(`node: warm-up round ${w} failed (ignored): ${err.message}`);
    });
  }
  if (opts.warmupRounds > 0) opts.progress(`node: ${opts.warmupRounds} warm-up round(s) done (not counted)`);

  const samples: JoinSample[] = [];
  for (const size of opts.sizes) {
    const scenario = `Node, ${size} peers`;
    const started = performance.now();
    const attempt = await runRounds(scenario, `node: ${scenario}`, opts.rounds, opts, async (round) => {
      samples.push(...(await runRoom(scenario, round, identities, size, opts)));
    });
    opts.progress(`node: ${scenario}: ${opts.rounds} rounds (${attempt} attempts) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return samples;
}
