/**
 * Leaving and coming straight back: the coordinator may still list the old peer id (its bye can
 * be lost with the closing link), and the same certificate must not lock its owner out until the
 * member grace period runs out. Only the key's holder can present the certificate, so the stale
 * entry gives way; a live member's place is never taken, by a second holder of its key or by
 * someone else using its name.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { MEMBER_GRACE_MS } from '../../src/engine/presence';
import { leaveAll, makePeer, roomOnly, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

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

async function call(): Promise<{ ann: TestPeer; bob: TestPeer; link: string }> {
  const ann = await makePeer('Ann');
  const bob = await makePeer('Bob');
  peers.push(ann, bob);
  await ann.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
  const link = roomOnly(ann.view().roomLink!);
  await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
  await waitForMesh([ann, bob]);
  return { ann, bob, link };
}

describe('rejoining a call', () => {
  it('leave and join again at once: admitted under the new id and listed once, not refused for the grace period', async () => {
    const { ann, bob, link } = await call();
    const firstId = bob.view().self!.peerId;
    await bob.session.dispatch({ op: 'leave' });
    await bob.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    // Before the fix the coordinator refused it outright ("already in the call") for MEMBER_GRACE_MS.
    await waitFor('Bob back in or refused', () => bob.view().phase === 'connected' || bob.view().phase === 'failed');
    expect(bob.view().reason).toBeNull();
    await waitForMesh([ann, bob]);
    const bobs = ann.view().members.filter((m) => m.name === 'Bob');
    expect(bobs.map((m) => m.peerId)).toEqual([bob.view().self!.peerId]);
    expect(bobs[0]!.peerId).not.toBe(firstId);
  });

  it('a second holder of a live member\'s key is refused, and the member keeps its place', async () => {
    const { ann, bob, link } = await call();
    const twin = await makePeer('Bob', {}, bob.identity);
    peers.push(twin);
    await twin.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url }).catch(() => undefined);
    await waitFor('the twin refused', () => twin.view().phase === 'failed');
    expect(twin.view().reason).toMatch(/already in the call/);
    expect(ann.view().members.map((m) => m.peerId)).toEqual([bob.view().self!.peerId]);
    expect(ann.view().members[0]!.link).toBe('connected');
  });

  it('someone else using a live member\'s name does not displace it', async () => {
    const { ann, bob, link } = await call();
    const impostor = await makePeer('Bob');
    peers.push(impostor);
    await impostor.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitForMesh([ann, bob, impostor]);
    const listed = ann.view().members;
    expect(listed.map((m) => m.peerId).sort()).toEqual([bob.view().self!.peerId, impostor.view().self!.peerId].sort());
    expect(listed.find((m) => m.peerId === bob.view().self!.peerId)!.fingerprint).toBe(bob.view().self!.fingerprint);
  });

  it('someone else using the name of a member whose link is down does not take its place', async () => {
    const { ann, bob, link } = await call();
    const bobId = bob.view().self!.peerId;
    // Bob vanishes without a bye (a crash): Ann's link to him goes silent, and she keeps him
    // listed for the grace period. (A clean close of his channels would read as leaving.)
    ann.session.mesh!.get(bobId)!.link.close('silent');
    const crashedAt = Date.now();
    bob.session.finish('failed', 'test: the browser crashed');
    expect(ann.view().members.find((m) => m.peerId === bobId)?.link).not.toBe('connected');
    const impostor = await makePeer('Bob');
    peers.push(impostor);
    await impostor.session.dispatch({ op: 'join', name: 'Bob', link, brokerUrl: broker.url });
    await waitFor('the newcomer admitted', () => ann.view().members.some((m) => m.peerId === impostor.view().self?.peerId));
    // A certificate, not a name, is what makes a rejoin: Bob's entry is still Bob's (until his
    // grace period runs out, MEMBER_GRACE_MS after the crash).
    expect(Date.now() - crashedAt).toBeLessThan(MEMBER_GRACE_MS);
    const old = ann.view().members.find((m) => m.peerId === bobId);
    expect(old?.fingerprint).toBe(bob.view().self!.fingerprint);
    expect(ann.view().members.map((m) => m.peerId)).toContain(impostor.view().self!.peerId);
  });

  it('a second holder of the coordinator\'s own key is refused, and the coordinator stays', async () => {
    const { ann, bob, link } = await call();
    const twin = await makePeer('Ann', {}, ann.identity);
    peers.push(twin);
    await twin.session.dispatch({ op: 'join', name: 'Ann', link, brokerUrl: broker.url }).catch(() => undefined);
    await waitFor('the twin refused', () => twin.view().phase === 'failed');
    expect(twin.view().reason).toMatch(/already in the call/);
    expect(ann.view().self!.isCoordinator).toBe(true);
    expect(ann.view().members.map((m) => m.peerId)).toEqual([bob.view().self!.peerId]);
  });
});
