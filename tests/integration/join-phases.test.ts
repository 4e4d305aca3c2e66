/**
 * What a joiner's UI is told while the join is under way: "connecting" from the first view the
 * join emits (the popup draws the call view then, while the broker's replies are on their way),
 * never "idle" once it began, and "connected" at the end.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import type { CallPhase } from '../../src/engine/session-api';
import { leaveAll, makePeer, roomOnly, startTestBroker, waitForMesh, type TestPeer } from './sessions';

let broker: RunningBroker;
let peers: TestPeer[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  await leaveAll(peers);
  peers = [];
});
afterAll(async () => {
  await broker.close();
  shutdownNodeWebRtc();
});

describe('the phases a join shows', () => {
  it('connecting from the first view of the join, then connected; never idle in between', async () => {
    const ann = await makePeer('Ann');
    const bob = await makePeer('Bob');
    peers.push(ann, bob);
    await ann.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
    const seen: CallPhase[] = [];
    const stop = bob.session.subscribe((v) => seen.push(v.phase));
    const before = seen.length; // a subscriber gets the current view at once
    await bob.session.dispatch({ op: 'join', name: 'Bob', link: roomOnly(ann.view().roomLink!), brokerUrl: broker.url });
    await waitForMesh([ann, bob]);
    stop();
    const during = seen.slice(before);
    expect(during[0]).toBe('connecting');
    expect(during).not.toContain('idle');
    expect(during.at(-1)).toBe('connected');
  });

  it('a second join while the first is starting is refused, and opens nothing', async () => {
    const ann = await makePeer('Ann');
    const bob = await makePeer('Bob');
    peers.push(ann, bob);
    await ann.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
    const link = roomOnly(ann.view().roomLink!);
    // The popup and the join page, say, both sending "join" at the same moment.
    const [first, second] = await Promise.allSettled([
      bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url }),
      bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second.status === 'rejected' && String(second.reason)).toMatch(/already in a call/);
    await waitForMesh([ann, bob]);
    expect(broker.stats().connections).toBe(2); // Ann's and one of Bob's: no orphaned line
  });
});
