/**
 * The broker warm-up (standby-broker.ts) on the real broker with real Node peers: the join uses
 * the socket connected while the form was on screen instead of opening its own; that socket
 * serves one call only; a warm-up during a call does nothing; a link naming another broker is
 * not contacted before the join; a standby for a broker the call does not use is closed, and a
 * dead one costs the call nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { HostileBroker } from './hostile-broker';
import { leaveAll, makePeer, roomOnly, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

let broker: RunningBroker;
let other: RunningBroker;
let peers: TestPeer[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  other = await startTestBroker();
});
afterEach(async () => {
  await leaveAll(peers);
  peers = [];
  await waitFor('every socket closed', () => broker.stats().connections === 0 && other.stats().connections === 0);
});
afterAll(async () => {
  await broker.close();
  await other.close();
  shutdownNodeWebRtc();
});

async function host(): Promise<{ ann: TestPeer; link: string }> {
  const ann = await makePeer('Ann');
  peers.push(ann);
  await ann.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
  return { ann, link: roomOnly(ann.view().roomLink!) };
}

describe('broker warm-up', () => {
  it('a join adopts the warmed socket: no second connection, and the call comes up', async () => {
    const { ann, link } = await host();
    const bob = await makePeer('Bob');
    peers.push(bob);
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: broker.url, link });
    await waitFor('the standby registered', () => broker.stats().registered === 2);
    await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitForMesh([ann, bob]);
    expect(broker.stats()).toMatchObject({ connections: 2, registered: 2 });
  });

  it('the warmed socket serves one call: the next call registers a new peer id', async () => {
    const { link } = await host();
    const bob = await makePeer('Bob');
    peers.push(bob);
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: broker.url, link });
    await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitFor('Bob in the call', () => bob.view().phase === 'connected');
    const firstId = bob.view().self!.peerId;
    await bob.session.dispatch({ op: 'leave' });
    await waitFor('Bob gone from the broker', () => broker.stats().connections === 1);
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: broker.url, link });
    await waitFor('a new standby registered', () => broker.stats().registered === 2);
    await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitFor('Bob back in the call', () => bob.view().phase === 'connected');
    expect(bob.view().self!.peerId).not.toBe(firstId);
  });

  it('a warm-up during a call opens nothing', async () => {
    const { ann, link } = await host();
    const bob = await makePeer('Bob');
    peers.push(bob);
    await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitForMesh([ann, bob]);
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: broker.url });
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: other.url });
    // Give a socket that should not exist the time to show up.
    await new Promise((r) => setTimeout(r, 200));
    expect(broker.stats().connections).toBe(2);
    expect(other.stats().connections).toBe(0);
  });

  it('the link names the broker: a standby elsewhere is closed and the join connects where the link says', async () => {
    const { ann, link } = await host();
    const bob = await makePeer('Bob');
    peers.push(bob);
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: other.url });
    await waitFor('the standby on the other broker', () => other.stats().registered === 1);
    // The invite names Ann's broker; Bob's own setting points at the other one.
    await bob.session.dispatch({ op: 'join', name: 'Bob', link: ann.view().roomLink!, brokerUrl: other.url });
    await waitForMesh([ann, bob]);
    await waitFor('the unused standby closed', () => other.stats().connections === 0);
  });

  it('a pasted link naming another broker is not contacted before "Join" (a link is no consent to reveal the address)', async () => {
    const { ann } = await host();
    const bob = await makePeer('Bob');
    peers.push(bob);
    // Ann's invite names Ann's broker; Bob's setting is the other one.
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: other.url, link: ann.view().roomLink! });
    await new Promise((r) => setTimeout(r, 200));
    expect(broker.stats().connections).toBe(1); // Ann only
    expect(other.stats().connections).toBe(0); // and the setting's broker is of no use to that join
  });

  it('a standby that died unseen (a half-open socket) costs one retry, not the join', async () => {
    const { ann, link } = await host();
    const path = await HostileBroker.start(broker.url);
    try {
      const bob = await makePeer('Bob');
      peers.push(bob);
      await bob.session.dispatch({ op: 'warm-up', brokerUrl: path.url, link });
      await waitFor('the standby registered', () => broker.stats().registered === 2);
      // From now on the standby's connection carries nothing either way, as after a network
      // change nobody has noticed yet; its state still says open.
      path.filter = (_d, frame, connection) => (connection === 1 ? null : frame);
      await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: path.url });
      await waitForMesh([ann, bob]);
      expect(bob.view().reason).toBeNull();
    } finally {
      await leaveAll(peers);
      peers = [];
      await path.close();
    }
  });

  it('a standby to a broker that is not there costs the call nothing', async () => {
    const { ann, link } = await host();
    const bob = await makePeer('Bob');
    peers.push(bob);
    const dead = await startTestBroker();
    const deadUrl = dead.url;
    await dead.close();
    await bob.session.dispatch({ op: 'warm-up', brokerUrl: deadUrl });
    await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitForMesh([ann, bob]);
  });
});
