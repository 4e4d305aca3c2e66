/**
 * The coordinator's process dies without a goodbye. The broker releases its claim when the
 * socket drops; the members find it silent, one of them claims the room and the call goes on.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import type { RunningBroker } from '../../src/broker/server';
import { spawnCoordinator } from './fixtures/spawn-coordinator';
import { leaveAll, makePeer, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

const peers: TestPeer[] = [];
let broker: RunningBroker | null = null;
let child: ChildProcess | null = null;

afterAll(async () => {
  child?.kill('SIGKILL');
  await leaveAll(peers);
  await broker?.close();
  shutdownNodeWebRtc();
});

describe('a coordinator crash', () => {
  it('is replaced by a member, with the remaining roster intact', async () => {
    broker = await startTestBroker();
    const coordinator = await spawnCoordinator(broker.url);
    child = coordinator.child;
    const { link, peerId: crashyId } = coordinator;
    const b = await makePeer('Bea');
    const c = await makePeer('Cid');
    peers.push(b, c);
    await b.session.dispatch({ op: 'join', name: 'Bea', link, brokerUrl: broker.url });
    await c.session.dispatch({ op: 'join', name: 'Cid', link, brokerUrl: broker.url });
    await waitFor(
      'a mesh with the coordinator',
      () => [b, c].every((p) => p.view().members.length === 2 && p.view().members.every((m) => m.link === 'connected')),
      30_000,
      () => [b, c].map((p) => ({ phase: p.view().phase, reason: p.view().reason, self: p.view().self?.peerId, members: p.view().members.map((m) => [m.peerId, m.name, m.link, m.sasPhase]), stats: p.session.stats() })),
    );
    expect(b.view().members.find((m) => m.peerId === crashyId)?.isCoordinator).toBe(true);

    child!.kill('SIGKILL');
    await once(child!, 'exit');
    await waitFor(
      'a new coordinator among the survivors',
      () =>
        [b, c].filter((p) => p.view().self!.isCoordinator).length === 1 &&
        [b, c].every((p) => p.view().members.length === 1 && !p.view().members.some((m) => m.peerId === crashyId)),
      20_000,
      () => [b, c].map((p) => ({ self: p.view().self, members: p.view().members })),
    );
    await waitForMesh([b, c]);
    // The new coordinator admits a newcomer.
    const d = await makePeer('Dot');
    peers.push(d);
    await d.session.dispatch({ op: 'join', name: 'Dot', link, brokerUrl: broker.url });
    await waitForMesh([b, c, d]);
  });
});
