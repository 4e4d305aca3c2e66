import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker, TapEvent } from '../../src/broker/server';
import { shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { leaveAll, makePeer, startTestBroker, waitFor, waitForMesh, type TestPeer } from './sessions';

let broker: RunningBroker;
const seen: TapEvent[] = [];
let peers: TestPeer[] = [];

beforeAll(async () => {
  broker = await startTestBroker((e) => seen.push(e));
});

afterEach(async () => {
  await leaveAll(peers);
  peers = [];
});

afterAll(async () => {
  await broker.close();
  shutdownNodeWebRtc();
});

async function startCall(names: string[]): Promise<TestPeer[]> {
  const [hostName, ...rest] = names;
  const host = await makePeer(hostName!);
  peers.push(host);
  await host.session.dispatch({ op: 'start', name: hostName!, brokerUrl: broker.url });
  const link = host.view().roomLink!;
  for (const name of rest) {
    const p = await makePeer(name);
    peers.push(p);
    await p.session.dispatch({ op: 'join', name, link, brokerUrl: broker.url });
  }
  return peers;
}

function chatTexts(p: TestPeer): string[] {
  return p.view().chat.filter((c) => !c.self).map((c) => `${c.fromName}:${c.text}`);
}

describe('a call of Node peers over the real broker', () => {
  it('forms a full mesh of 4 with agreeing rosters, equal safety codes and exactly-once chat', async () => {
    const all = await startCall(['Ada', 'Ben', 'Cy', 'Dee']);
    await waitForMesh(all);

    // Every roster agrees: same peer ids, names and handshaken fingerprints.
    const rosterOf = (p: TestPeer) =>
      [...p.view().members.map((m) => `${m.peerId}|${m.name}|${m.fingerprint}`), `${p.view().self!.peerId}|${p.name}|${p.view().self!.fingerprint}`].sort();
    const reference = rosterOf(all[0]!);
    for (const p of all) expect(rosterOf(p)).toEqual(reference);
    // Each roster fingerprint is the member's real certificate.
    for (const p of all) for (const m of p.view().members) {
      const owner = all.find((o) => o.view().self!.peerId === m.peerId)!;
      expect(m.fingerprint).toBe(owner.identity.fingerprint);
    }

    // Every pair shows the same 7-word safety code on both sides, and pairs differ.
    const codes = new Set<string>();
    for (const a of all) for (const b of all) {
      if (a === b) continue;
      const ab = a.view().members.find((m) => m.peerId === b.view().self!.peerId)!.sas!;
      const ba = b.view().members.find((m) => m.peerId === a.view().self!.peerId)!.sas!;
      expect(ab).toBe(ba);
      expect(ab.split(' ')).toHaveLength(7);
      codes.add(ab);
    }
    expect(codes.size).toBe(6);

    // Chat reaches everyone exactly once.
    for (const p of all) await p.session.dispatch({ op: 'chat', text: `hello from ${p.name}` });
    await waitFor('chat to arrive everywhere', () => all.every((p) => chatTexts(p).length >= 3));
    await new Promise((r) => setTimeout(r, 300)); // room for any duplicate to show up
    for (const p of all) {
      const expected = all.filter((o) => o !== p).map((o) => `${o.name}:hello from ${o.name}`).sort();
      expect(chatTexts(p).sort()).toEqual(expected);
    }
  });

  it('migrates the coordinator when it leaves and keeps the roster intact', async () => {
    const all = await startCall(['Host', 'Bo', 'Cal']);
    await waitForMesh(all);
    const [host, ...rest] = all;
    expect(host!.view().self!.isCoordinator).toBe(true);
    await host!.session.dispatch({ op: 'leave' });
    await waitFor(
      'a new coordinator with the remaining roster',
      () => {
        const coordinators = rest.filter((p) => p.view().self!.isCoordinator);
        return coordinators.length === 1 && rest.every((p) => p.view().members.length === 1 && p.view().members[0]!.link === 'connected' && p.view().members.some((m) => m.isCoordinator || p.view().self!.isCoordinator));
      },
      15_000,
      () => rest.map((p) => ({ n: p.name, self: p.view().self, members: p.view().members })),
    );
    const ids = rest.map((p) => p.view().self!.peerId).sort();
    for (const p of rest) expect([p.view().self!.peerId, ...p.view().members.map((m) => m.peerId)].sort()).toEqual(ids);
    // The call goes on: chat still flows, and a newcomer is admitted by the new coordinator.
    await rest[0]!.session.dispatch({ op: 'chat', text: 'still here' });
    await waitFor('chat after migration', () => chatTexts(rest[1]!).includes(`${rest[0]!.name}:still here`));
    const late = await makePeer('Late');
    peers.push(late);
    await late.session.dispatch({ op: 'join', name: 'Late', link: host!.view().roomLink ?? rest[0]!.view().roomLink!, brokerUrl: broker.url });
    await waitForMesh([...rest, late]);
  });

  it('never shows the broker a room id, a name, SDP or chat', async () => {
    seen.length = 0;
    const all = await startCall(['Secretname', 'Otherperson']);
    await waitForMesh(all);
    await all[0]!.session.dispatch({ op: 'chat', text: 'the launch code is 0000' });
    await waitFor('chat', () => chatTexts(all[1]!).length === 1);
    const link = all[0]!.view().roomLink!;
    const roomId = new URLSearchParams(link.split('#')[1]).get('r')!;
    const inbound = seen.filter((e) => e.dir === 'in').map((e) => e.raw);
    expect(inbound.length).toBeGreaterThan(4);
    const everything = seen.map((e) => e.raw).join('\n');
    for (const secret of [roomId, 'Secretname', 'Otherperson', 'launch code', 'v=0', 'a=fingerprint', 'candidate', 'sas-', '"kind"']) {
      expect(everything.includes(secret), `broker saw ${secret}`).toBe(false);
    }
    for (const p of all) expect(everything.includes(p.identity.fingerprint)).toBe(false);
    // What it did see: only known frame types, with opaque blobs.
    for (const raw of inbound) {
      const frame = JSON.parse(raw) as { t: string };
      expect(['register', 'claim', 'release', 'holder', 'watch', 'unwatch', 'send', 'ping']).toContain(frame.t);
    }
  });
});
