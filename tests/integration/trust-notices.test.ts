/**
 * Issue 6, item 4: a verified notice never sits beside a key-change alarm for the same person.
 * Ann marks Bea verified; Bea leaves and someone else joins as "Bea" with another certificate.
 * Ann's view must show the key-change alarm and no longer "Bea is marked verified"; when Ann
 * compares codes and marks the new Bea verified, the alarm notice goes and the verified one
 * stands alone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { leaveAll, makePeer, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

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

const texts = (p: TestPeer) => p.view().notices.map((n) => n.text);
const verifiedNotice = /Bea is marked verified/;
const keyChange = /Key change: Bea/;

async function markWhenReady(ann: TestPeer, bea: TestPeer): Promise<void> {
  const id = bea.view().self!.peerId;
  await waitFor('the safety code with Bea', () => ann.view().members.find((m) => m.peerId === id)?.sasPhase === 'ready');
  await ann.session.dispatch({ op: 'mark-verified', peerId: id });
}

describe('verified and key-change notices about one person', () => {
  it('never stand side by side', async () => {
    const ann = await makePeer('Ann');
    peers.push(ann);
    await ann.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
    const link = ann.view().roomLink!;

    const bea = await makePeer('Bea');
    peers.push(bea);
    await bea.session.dispatch({ op: 'join', name: 'Bea', link, brokerUrl: broker.url });
    await waitForMesh([ann, bea]);
    await markWhenReady(ann, bea);
    expect(texts(ann).some((t) => verifiedNotice.test(t))).toBe(true);
    expect(ann.view().members[0]!.trust).toBe('verified');

    // The real Bea leaves; another certificate arrives under her name.
    await bea.session.dispatch({ op: 'leave' });
    await waitFor('Bea gone', () => ann.view().members.length === 0);
    const impostor = await makePeer('Bea');
    peers.push(impostor);
    await impostor.session.dispatch({ op: 'join', name: 'Bea', link, brokerUrl: broker.url });
    await waitForMesh([ann, impostor]);
    await waitFor('the key-change alarm', () => ann.view().members.some((m) => m.trust === 'key-changed'));
    await waitFor('the key-change notice', () => texts(ann).some((t) => keyChange.test(t)));
    expect(texts(ann).filter((t) => verifiedNotice.test(t))).toEqual([]);

    // Compared again and marked: the alarm notice goes, the verified one stands alone.
    await markWhenReady(ann, impostor);
    expect(ann.view().members[0]!.trust).toBe('verified');
    expect(texts(ann).filter((t) => keyChange.test(t))).toEqual([]);
    expect(texts(ann).filter((t) => verifiedNotice.test(t))).toHaveLength(1);
  });
});
