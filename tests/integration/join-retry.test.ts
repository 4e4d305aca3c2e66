/**
 * A joiner's first link can stall (a lost answer, a DTLS hello that never arrives): the joiner
 * must close it at FIRST_LINK_DEADLINE_MS and dial again rather than wait out the join timeout.
 * A hostile broker in front of the real one withholds everything the host sends the joiner for
 * the first second, which is what a lossy path or a stalled handshake looks like to the joiner.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { FIRST_LINK_DEADLINE_MS, JOIN_TIMEOUT_MS } from '../../src/engine/presence';
import { HostileBroker } from './hostile-broker';
import { leaveAll, makePeer, roomOnly, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

let broker: RunningBroker;
let hostile: HostileBroker | null = null;
let peers: TestPeer[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  await leaveAll(peers);
  peers = [];
  await hostile?.close();
  hostile = null;
});
afterAll(async () => {
  await broker.close();
  shutdownNodeWebRtc();
});

describe('a joiner whose first link stalls', () => {
  it('closes it at the first-link deadline and dials again, well before the join timeout', async () => {
    expect(FIRST_LINK_DEADLINE_MS * 3).toBeLessThan(JOIN_TIMEOUT_MS);
    const a = await makePeer('Ann');
    peers.push(a);
    await a.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
    hostile = await HostileBroker.start(broker.url);
    let withheld = 0;
    let blockUntil = Number.POSITIVE_INFINITY;
    hostile.filter = (direction, frame) => {
      if (direction !== 'to-client' || !frame.includes('"t":"msg"')) return frame;
      if (blockUntil === Number.POSITIVE_INFINITY) blockUntil = Date.now() + 1_000;
      if (Date.now() >= blockUntil) return frame;
      withheld++;
      return null;
    };
    const b = await makePeer('Bea');
    peers.push(b);
    await b.session.dispatch({ op: 'join', name: 'Bea', link: roomOnly(a.view().roomLink!), brokerUrl: hostile.url });
    // Without the redial at the first-link deadline Bea would wait out the link's own 20 s
    // connect timeout (or the join timeout): give her the deadline plus a few seconds only.
    await waitFor('Bea in the call, or failed', () => b.view().phase !== 'connecting', FIRST_LINK_DEADLINE_MS + 7_000);
    expect({ phase: b.view().phase, reason: b.view().reason }).toEqual({ phase: 'connected', reason: null });
    expect(withheld).toBeGreaterThan(0);
    await waitForMesh([a, b]);
  });
});
