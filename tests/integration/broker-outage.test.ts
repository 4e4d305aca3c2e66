/**
 * The broker is only for signaling: when it goes away, links already up keep the call going,
 * the call says it is reconnecting, and it recovers (re-registering and re-claiming) when the
 * broker is back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { startBroker, type RunningBroker } from '../../src/broker/server';
import { leaveAll, makePeer, quietLog, waitFor, waitForMesh, type TestPeer } from './sessions';

const peers: TestPeer[] = [];
let broker: RunningBroker | null = null;

afterAll(async () => {
  await leaveAll(peers);
  await broker?.close();
  shutdownNodeWebRtc();
});

describe('a broker outage', () => {
  it('keeps the call up, shows reconnecting, and recovers when the broker returns', async () => {
    broker = await startBroker({ port: 0, host: '127.0.0.1', log: quietLog });
    const port = broker.port;
    const a = await makePeer('Ana');
    const b = await makePeer('Bob');
    peers.push(a, b);
    await a.session.dispatch({ op: 'start', name: 'Ana', brokerUrl: broker.url });
    await b.session.dispatch({ op: 'join', name: 'Bob', link: a.view().roomLink!, brokerUrl: broker.url });
    await waitForMesh([a, b]);

    await broker.close();
    broker = null;
    await waitFor('both to show reconnecting', () => [a, b].every((p) => p.view().phase === 'reconnecting' && p.view().broker === 'reconnecting'));
    // Peer-to-peer content does not need the broker.
    await a.session.dispatch({ op: 'chat', text: 'still talking' });
    await waitFor('chat during the outage', () => b.view().chat.some((c) => c.text === 'still talking'), 30_000, () => [a.view(), b.view()]);

    broker = await startBroker({ port, host: '127.0.0.1', log: quietLog });
    await waitFor('both back to connected', () => [a, b].every((p) => p.view().phase === 'connected' && p.view().broker === 'open'), 40_000);
    expect(a.view().self!.isCoordinator).toBe(true);
    // The coordinator re-claimed the room: a newcomer can join again.
    const c = await makePeer('Cat');
    peers.push(c);
    await c.session.dispatch({ op: 'join', name: 'Cat', link: a.view().roomLink!, brokerUrl: broker.url });
    await waitForMesh([a, b, c]);
  });
});
