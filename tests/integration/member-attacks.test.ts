/**
 * Attacks by someone holding the room link, alone or with a hostile broker in front of the
 * real one. Each test is an attack that used to break the call; now the attacker tries and
 * fails, and the test checks both the call and the drop reason the engine recorded.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../../src/broker/server';
import { generateIdentity } from '../../src/agent/node/identity';
import { createNodePeerFactory, shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { toBase64Url } from '../../src/engine/encoding';
import { parseLink } from '../../src/engine/link';
import { PeerLink, SignalSequencer } from '../../src/engine/peer-link';
import { secureRandomBytes, systemClock } from '../../src/engine/platform';
import { deriveRoomKey, openBlob, sealBlob } from '../../src/engine/seal';
import { roomSid } from '../../src/engine/sid';
import { parseSignal } from '../../src/engine/wire';
import { HostileBroker } from './hostile-broker';
import { RawParticipant } from './raw-peer';
import { leaveAll, makePeer, quietLog, roomOnly, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

let broker: RunningBroker;
let hostile: HostileBroker;
let peers: TestPeer[] = [];
let raws: RawParticipant[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const r of raws) r.close();
  raws = [];
  await leaveAll(peers);
  peers = [];
  await hostile?.close();
});
afterAll(async () => {
  await broker.close();
  shutdownNodeWebRtc();
});

async function peer(name: string, options = {}): Promise<TestPeer> {
  const p = await makePeer(name, options);
  peers.push(p);
  return p;
}

/** Ann hosts on the real broker; Bea joins through the hostile broker. */
async function annAndBeaBehindHostileBroker(): Promise<{ a: TestPeer; b: TestPeer; key: CryptoKey; sid: string }> {
  const a = await peer('Ann');
  await a.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
  hostile = await HostileBroker.start(broker.url);
  const b = await peer('Bea');
  await b.session.dispatch({ op: 'join', name: 'Bea', link: roomOnly(a.view().roomLink!), brokerUrl: hostile.url });
  await waitForMesh([a, b]);
  const parsed = parseLink(a.view().roomLink!);
  if (!parsed.ok) throw new Error('bad link');
  return { a, b, key: await deriveRoomKey(parsed.link.roomId), sid: roomSid(parsed.link.roomId) };
}

function linkTo(p: TestPeer, name: string): string | undefined {
  return p.view().members.find((m) => m.name === name)?.link;
}

async function chatArrives(from: TestPeer, to: TestPeer, text: string): Promise<void> {
  await from.session.dispatch({ op: 'chat', text });
  await waitFor(`"${text}" to reach ${to.name}`, () => to.view().chat.some((c) => c.text === text));
}

describe('attacks by a link holder with a hostile broker', () => {
  it('a garbage offer "from" a member does not tear down its admitted link (finding 3)', async () => {
    const { a, b, key, sid } = await annAndBeaBehindHostileBroker();
    const annId = a.view().self!.peerId;
    const beaId = b.view().self!.peerId;
    // A new link would run a new safety-code exchange: the same code means the same link.
    const codeBefore = b.view().members.find((m) => m.name === 'Ann')?.sas;
    const forged = JSON.stringify({ k: 'desc', link: toBase64Url(secureRandomBytes(16)), seq: 0, desc: { type: 'offer', sdp: 'v=0\r\ngarbage' } });
    hostile.inject({ t: 'msg', from: annId, blob: await sealBlob(key, { sid, from: annId, to: beaId }, forged, secureRandomBytes) });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(linkTo(b, 'Ann')).toBe('connected');
    expect(b.view().members.find((m) => m.name === 'Ann')?.sas).toBe(codeBefore);
    expect(linkTo(a, 'Bea')).toBe('connected');
    expect(b.view().phase).toBe('connected');
    await chatArrives(a, b, 'still here');
  });

  it('an impostor completing DTLS "as" a member is dropped and the real link stays (findings 3 and 9)', async () => {
    const { a, b, key, sid } = await annAndBeaBehindHostileBroker();
    const annId = a.view().self!.peerId;
    const beaId = b.view().self!.peerId;
    // The attacker dials Bea with its own certificate, its signals forged "from" Ann, and the
    // hostile broker diverts Bea's answers for that link to it: a withheld-and-replayed or a
    // squatter's offer, carried through to a real handshake.
    const linkId = toBase64Url(secureRandomBytes(16));
    const seq = new SignalSequencer(linkId);
    const impostor = new PeerLink({
      remotePeerId: beaId,
      role: 'dialer',
      linkId,
      factory: createNodePeerFactory(await generateIdentity()),
      config: { iceServers: [] },
      clock: systemClock,
      log: quietLog,
      sendSignal: (body) =>
        void sealBlob(key, { sid, from: annId, to: beaId }, JSON.stringify(seq.stamp(body)), secureRandomBytes).then((blob) =>
          hostile.inject({ t: 'msg', from: annId, blob }),
        ),
      events: {
        onReady: () => undefined,
        onPhase: () => undefined,
        onControl: () => undefined,
        onContent: () => undefined,
        onDrop: () => undefined,
        onTrack: () => undefined,
        onClose: () => undefined,
      },
    });
    cleanups.push(() => impostor.close('closed-by-us'));
    hostile.filter = async (direction, frame) => {
      if (direction !== 'to-broker') return frame;
      const f = JSON.parse(frame) as { t?: string; to?: string; blob?: string };
      if (f.t !== 'send' || f.to !== annId || typeof f.blob !== 'string') return frame;
      const plain = await openBlob(key, { sid, from: beaId, to: annId }, f.blob).catch(() => null);
      const parsed = plain === null ? null : parseSignal(plain);
      if (!parsed?.ok || parsed.msg.link !== linkId) return frame;
      const m = parsed.msg;
      impostor.handleSignal(m.k === 'desc' ? { k: 'desc', desc: m.desc } : { k: 'cand', cand: m.cand });
      return null;
    };
    const mismatchesBefore = b.session.stats().fingerprintMismatches;
    const codeBefore = b.view().members.find((m) => m.name === 'Ann')?.sas;
    await waitFor('Bea to refuse the impostor', () => b.session.stats().fingerprintMismatches > mismatchesBefore, 20_000);
    expect(b.view().members.find((m) => m.name === 'Ann')?.sas).toBe(codeBefore);
    // Bea counts a mismatch only after reading the certificate of a completed DTLS handshake:
    // the impostor got that far, and no further.
    expect(linkTo(b, 'Ann')).toBe('connected');
    expect(b.view().members.find((m) => m.name === 'Ann')?.sasPhase).toBe('ready');
    await chatArrives(a, b, 'the real Ann');
    await chatArrives(b, a, 'the real Bea');
  });
});

describe('attacks by a link holder on the coordinator', () => {
  it('garbage offers from ten broker connections do not keep an honest joiner out (finding 4)', async () => {
    const a = await peer('Ann');
    await a.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
    const link = a.view().roomLink!;
    const attackers = await Promise.all(Array.from({ length: 10 }, () => RawParticipant.join(link, broker.url)));
    raws.push(...attackers);
    const coordinator = await attackers[0]!.coordinator();
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        for (const r of attackers) {
          const offer = { k: 'desc', link: toBase64Url(secureRandomBytes(16)), seq: 0, desc: { type: 'offer', sdp: 'v=0\r\ngarbage' } };
          await r.sendSealed(coordinator, JSON.stringify(offer));
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const b = await peer('Bea');
    await b.session.dispatch({ op: 'join', name: 'Bea', link, brokerUrl: broker.url });
    try {
      await waitForMesh([a, b], 10_000);
    } finally {
      flooding = false;
      await flood;
    }
    expect(a.session.stats().refusedJoiners).toBe(0);
  });

  it('the coordinator refuses a joiner once the call is full, and says why (finding 8)', async () => {
    const a = await peer('Ann', { maxMembers: 2 });
    await a.session.dispatch({ op: 'start', name: 'Ann', brokerUrl: broker.url });
    const b = await peer('Bea');
    await b.session.dispatch({ op: 'join', name: 'Bea', link: a.view().roomLink!, brokerUrl: broker.url });
    await waitForMesh([a, b]);
    const c = await peer('Cid');
    await c.session.dispatch({ op: 'join', name: 'Cid', link: a.view().roomLink!, brokerUrl: broker.url });
    await waitFor('Cid to be refused', () => c.view().phase === 'failed');
    expect(c.view().reason).toMatch(/full/);
    expect(a.view().members.map((m) => m.name)).toEqual(['Bea']);
    expect(b.view().members.map((m) => m.name)).toEqual(['Ann']);
  });
});
