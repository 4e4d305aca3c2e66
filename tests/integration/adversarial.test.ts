/**
 * Attackers try and fail: strangers without the room key, admitted members sending malformed
 * or forged messages, and joiners the gate refuses.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { BrokerClient } from '../../src/engine/broker-client';
import { newPeerToken } from '../../src/engine/broker-protocol';
import { toBase64Url } from '../../src/engine/encoding';
import { deriveRoomKey, sealBlob } from '../../src/engine/seal';
import { roomSid } from '../../src/engine/sid';
import { parseLink, newRoomId } from '../../src/engine/link';
import { secureRandomBytes, systemClock } from '../../src/engine/platform';
import { nodeWebSocketFactory } from '../../src/agent/node/platform';
import { MAX_CONTROL_BYTES } from '../../src/engine/wire';
import { leaveAll, makePeer, quietLog, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';
import { RawParticipant } from './raw-peer';

let broker: RunningBroker;
let peers: TestPeer[] = [];
let raws: RawParticipant[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  for (const r of raws) r.close();
  raws = [];
  await leaveAll(peers);
  peers = [];
});
afterAll(async () => {
  await broker.close();
  shutdownNodeWebRtc();
});

async function host(name = 'Host', options = {}): Promise<TestPeer> {
  const p = await makePeer(name, options);
  peers.push(p);
  await p.session.dispatch({ op: 'start', name, brokerUrl: broker.url });
  return p;
}

/**
 * Ann hosts, Bea joins, and a raw participant is admitted as "Rogue" (Bea has it in her roster).
 * `beforeHello` runs once the rogue's link to the coordinator is up, before it asks to be let in.
 */
async function roomWithRosteredRogue(
  beforeHello: (rogue: RawParticipant) => Promise<void> = async () => undefined,
): Promise<{ a: TestPeer; b: TestPeer; rogue: RawParticipant }> {
  const a = await host('Ann');
  const b = await makePeer('Bea');
  peers.push(b);
  await b.session.dispatch({ op: 'join', name: 'Bea', link: a.view().roomLink!, brokerUrl: broker.url });
  await waitForMesh([a, b]);
  const rogue = await RawParticipant.join(a.view().roomLink!, broker.url);
  raws.push(rogue);
  const coordinator = await rogue.coordinator();
  rogue.dial(coordinator);
  const toA = await rogue.ready(coordinator);
  await beforeHello(rogue);
  toA.link.sendControl({ kind: 'hello', name: 'Rogue', participant: 'human', credential: null, features: [] });
  await waitFor('the rogue to be rostered at Bea', () => b.view().members.some((m) => m.name === 'Rogue'));
  return { a, b, rogue };
}

describe('attackers', () => {
  it('a stranger without the room key reaches no one', async () => {
    const a = await host();
    const link = a.view().roomLink!;
    const sid = roomSid(parseLink(link).ok ? (parseLink(link) as { ok: true; link: { roomId: string } }).link.roomId : '');
    // The stranger learned the sid and the coordinator's id (say, by watching the broker) but not the room id.
    const stranger = new BrokerClient({ url: broker.url, token: newPeerToken(secureRandomBytes), webSocket: nodeWebSocketFactory, clock: systemClock, log: quietLog });
    await stranger.connect();
    const coordinator = (await stranger.holder(sid))!;
    expect(coordinator).toBe(a.view().self!.peerId);
    const before = a.session.stats().droppedSignals;
    const wrongKey = await deriveRoomKey(newRoomId(secureRandomBytes));
    const offer = JSON.stringify({ k: 'desc', link: toBase64Url(secureRandomBytes(16)), seq: 0, desc: { type: 'offer', sdp: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n' } });
    stranger.send(coordinator, 'not-a-sealed-blob');
    stranger.send(coordinator, toBase64Url(secureRandomBytes(200)));
    stranger.send(coordinator, await sealBlob(wrongKey, { sid, from: stranger.peerId, to: coordinator }, offer, secureRandomBytes));
    await waitFor('the coordinator to drop all three', () => a.session.stats().droppedSignals - before >= 3);
    expect(a.view().members).toHaveLength(0);
    expect(a.view().phase).toBe('connected');
    stranger.close();
  });

  it('a member with the key cannot impersonate another sender: blobs are bound to from and to', async () => {
    const a = await host();
    const rogue = await RawParticipant.join(a.view().roomLink!, broker.url);
    raws.push(rogue);
    const coordinator = await rogue.coordinator();
    const before = a.session.stats().droppedSignals;
    // Seal as if from someone else while sending from our own id: the AAD no longer matches.
    const parsed = parseLink(a.view().roomLink!);
    if (!parsed.ok) throw new Error('bad link');
    const key = await deriveRoomKey(parsed.link.roomId);
    const blob = await sealBlob(key, { sid: roomSid(parsed.link.roomId), from: 'AAAAAAAAAAAAAAAAAAAAAA', to: coordinator }, '{}', secureRandomBytes);
    rogue.broker.send(coordinator, blob);
    await rogue.sendSealed(coordinator, 'garbage that is sealed correctly');
    await waitFor('both to be dropped', () => a.session.stats().droppedSignals - before >= 2);
    expect(a.view().members).toHaveLength(0);
  });

  it('malformed, oversized and unknown messages from a member are dropped and counted; the call goes on', async () => {
    const a = await host();
    const rogue = await RawParticipant.join(a.view().roomLink!, broker.url);
    raws.push(rogue);
    const coordinator = await rogue.coordinator();
    rogue.dial(coordinator);
    const link = await rogue.ready(coordinator);
    link.link.sendControl({ kind: 'hello', name: 'Rogue', participant: 'human', credential: null, features: [] });
    await waitFor('the rogue to be welcomed', () => link.received.some((m) => m.kind === 'welcome'));
    const before = a.session.stats();
    rogue.sendRaw(coordinator, 'control', 'not json');
    rogue.sendRaw(coordinator, 'control', JSON.stringify({ kind: 'teleport' }));
    rogue.sendRaw(coordinator, 'control', JSON.stringify({ kind: 'refused', reason: 'x'.repeat(MAX_CONTROL_BYTES) }));
    rogue.sendRaw(coordinator, 'control', JSON.stringify({ kind: 'hello', name: 'Again', participant: 'human', credential: null, features: [] }));
    rogue.sendRaw(coordinator, 'content', JSON.stringify({ kind: 'chat', id: 'short', text: 'x', at: 1 }));
    rogue.sendRaw(coordinator, 'content', JSON.stringify({ kind: 'chat', id: 'abcdefgh12345678', text: '', at: 1 }));
    rogue.sendRaw(coordinator, 'content', '\u0000\u0001');
    await waitFor('drops to be counted', () => {
      const s = a.session.stats();
      return s.droppedControl - before.droppedControl >= 4 && s.droppedContent - before.droppedContent >= 3;
    });
    // A second hello did not re-admit or rename the member; the call still works.
    expect(a.view().members.map((m) => m.name)).toEqual(['Rogue']);
    rogue.sendRaw(coordinator, 'content', JSON.stringify({ kind: 'chat', id: 'abcdefgh12345678', text: 'valid after all', at: 1 }));
    await waitFor('the valid chat to arrive', () => a.view().chat.some((c) => c.text === 'valid after all'));
    expect(a.view().phase).toBe('connected');
  });

  it('a member cannot forge a roster or claim to be the coordinator', async () => {
    const { b, rogue } = await roomWithRosteredRogue();
    const bId = b.view().self!.peerId;
    // Bea and the rogue link up (the smaller id dials; the raw peer answers or dials as needed).
    if (rogue.peerId < bId) rogue.dial(bId);
    const toB = await rogue.ready(bId);
    const before = b.session.stats().droppedControl;
    const forged = {
      kind: 'roster' as const,
      coordinator: rogue.peerId,
      epoch: 999,
      members: [
        { peerId: rogue.peerId, name: 'Rogue', kind: 'human' as const, fingerprint: rogue.identity.fingerprint },
        { peerId: bId, name: 'Bea', kind: 'human' as const, fingerprint: b.identity.fingerprint },
      ],
    };
    toB.link.sendControl(forged);
    await waitFor('Bea to drop the forged roster', () => b.session.stats().droppedControl > before);
    // Bea still follows Ann and still has Ann in her roster.
    expect(b.view().members.find((m) => m.name === 'Ann')?.isCoordinator).toBe(true);
    expect(b.view().members.map((m) => m.name).sort()).toEqual(['Ann', 'Rogue']);
  });

  it('a member that shows another member a different certificate than the roster is dropped', async () => {
    // The coordinator saw one certificate; every later link (Bea's) gets another one.
    const { b, rogue } = await roomWithRosteredRogue((r) => r.swapIdentity());
    const bId = b.view().self!.peerId;
    if (rogue.peerId < bId) rogue.dial(bId);
    await waitFor('Bea to drop the link', () => b.session.stats().fingerprintMismatches > 0);
    expect(b.view().notices.some((n) => n.level === 'error' && /certificate differs/.test(n.text))).toBe(true);
    expect(b.view().members.find((m) => m.name === 'Rogue')?.link).not.toBe('connected');
    // Nothing from the impostor link reached Bea.
    expect(b.view().chat).toHaveLength(0);
  });

  it('a joiner the gate refuses is told why and never rostered or dialed', async () => {
    const a = await host('Gatekeeper', { gate: async () => ({ admit: false, reason: 'this room is locked' }) });
    const b = await makePeer('Outsider');
    peers.push(b);
    await b.session.dispatch({ op: 'join', name: 'Outsider', link: a.view().roomLink!, brokerUrl: broker.url });
    await waitFor('the refusal', () => b.view().phase === 'failed');
    expect(b.view().reason).toContain('this room is locked');
    expect(b.view().members).toHaveLength(0);
    expect(a.view().members).toHaveLength(0);
    expect(a.session.stats().refusedJoiners).toBe(1);
  });
});
