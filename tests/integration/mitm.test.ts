/**
 * Man in the middle. The attacker controls the signaling path (a broker proxy) AND knows the
 * room link, so it can unseal and forge signaling. It splices the pair A<->B into A<->M<->B
 * with its own certificate and relays every control and content message between the halves.
 * The safety code is the defence: each side derives it from the fingerprints of its own DTLS
 * handshake, so the two sides show different codes.
 */
import { peerIdFromToken } from '../../src/engine/broker-protocol';
import { fromBase64Url, toBase64Url } from '../../src/engine/encoding';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import type { RunningBroker } from '../../src/broker/server';
import { generateIdentity } from '../../src/agent/node/identity';
import { createNodePeerFactory, shutdownNodeWebRtc } from '../../src/agent/node/platform';
import { PeerLink, SignalSequencer, type SignalBody } from '../../src/engine/peer-link';
import { deriveRoomKey, openBlob, sealBlob } from '../../src/engine/seal';
import { OrderedOutput } from '../../src/engine/signaling';
import { parseLink } from '../../src/engine/link';
import { roomSid } from '../../src/engine/sid';
import { systemClock, secureRandomBytes } from '../../src/engine/platform';
import { parseSignal, type ControlMessage, type ContentMessage } from '../../src/engine/wire';
import { leaveAll, makePeer, quietLog, startTestBroker, waitFor, type TestPeer } from './sessions';

let broker: RunningBroker;
let peers: TestPeer[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});
afterEach(async () => {
  await leaveAll(peers);
  peers = [];
  for (const c of cleanups.splice(0)) c();
});
afterAll(async () => {
  await broker.close();
  shutdownNodeWebRtc();
});

type Rewrite = (msg: ControlMessage, towards: 'A' | 'B') => ControlMessage;

/**
 * A broker proxy that forwards everything, except signaling between the two victims, which it
 * terminates in two PeerLinks of its own and splices together.
 */
interface SplicingProxy {
  url: string;
  /** The attacker's certificate, the one both victims end up talking to. */
  fingerprint: string;
  /** The attacker obtains the room link (say, from a leaked chat). */
  learnLink(link: string): Promise<void>;
  spliced(): boolean;
}

async function startSplicingProxy(rewrite: Rewrite): Promise<SplicingProxy> {
  let key: CryptoKey | null = null;
  let sid = '';
  const identity = await generateIdentity();
  const factory = createNodePeerFactory(identity);
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const clients = new Map<string, WebSocket>(); // registered id -> victim socket
  let hostId: string | null = null; // A: the first to claim
  let towardA: { link: PeerLink; seq: SignalSequencer; linkId: string } | null = null; // M plays B to A
  let towardB: { link: PeerLink; seq: SignalSequencer; linkId: string } | null = null; // M plays A to B
  let victimB: string | null = null;

 // Seals run at once but leave in order (as the engine's SealedSignaling does): a candidate
  // that overtakes its description is refused and the spliced link never comes up.
  const outbound = new OrderedOutput();
  const inject = (to: string, from: string, seq: SignalSequencer, body: SignalBody) => {
    if (!key) return;
    const sealed = sealBlob(key, { sid, from, to }, JSON.stringify(seq.stamp(body)), secureRandomBytes);
    outbound.push(sealed).then((blob) => clients.get(to)?.send(JSON.stringify({ t: 'msg', from, blob })), () => undefined);
  };

  const makeLink = (remote: string, role: 'dialer' | 'answerer', linkId: string, impersonate: string) => {
    const seq = new SignalSequencer(linkId);
    const self = { link: null as unknown as PeerLink, seq, linkId };
    self.link = new PeerLink({
      remotePeerId: remote,
      role,
      linkId,
      factory,
      config: { iceServers: [] },
      clock: systemClock,
      log: quietLog,
      sendSignal: (body) => void inject(remote, impersonate, seq, body),
      events: {
        onReady: () => undefined,
        onPhase: () => undefined,
        onControl: (msg) => relay(msg, remote === hostId ? 'B' : 'A'),
        onContent: (msg) => relayContent(msg, remote === hostId ? 'B' : 'A'),
        onDrop: () => undefined,
        onTrack: () => undefined,
        onClose: () => undefined,
      },
    });
    return self;
  };

  // Messages are relayed only once both halves are ready, in arrival order.
  const backlog: { msg: ControlMessage | ContentMessage; towards: 'A' | 'B'; content: boolean }[] = [];
  let everSpliced = false;
  const flush = () => {
    if (!towardA?.link.ready || !towardB?.link.ready) return;
    everSpliced = true;
    for (const item of backlog.splice(0)) {
      const target = item.towards === 'A' ? towardA.link : towardB.link;
      if (item.content) target.sendContent(item.msg as ContentMessage);
      else target.sendControl(rewrite(item.msg as ControlMessage, item.towards));
    }
  };
  const relay = (msg: ControlMessage, towards: 'A' | 'B') => {
    backlog.push({ msg, towards, content: false });
    flush();
  };
  const relayContent = (msg: ContentMessage, towards: 'A' | 'B') => {
    backlog.push({ msg, towards, content: true });
    flush();
  };
  const timer = setInterval(flush, 20);

  server.on('connection', (victim) => {
    const upstream = new WebSocket(broker.url);
    const early: string[] = [];
    let myId: string | null = null;
    upstream.on('open', () => early.splice(0).forEach((m) => upstream.send(m)));
    upstream.on('message', (data) => victim.readyState === victim.OPEN && victim.send(String(data)));
    upstream.on('close', () => victim.close());
    victim.on('close', () => upstream.close());
    // Frames are handled one at a time, in arrival order (opening a blob is asynchronous).
    let inbound: Promise<unknown> = Promise.resolve();
    victim.on('message', (data) => {
      inbound = inbound.then(() => handle(String(data))).catch(() => undefined);
    });
    const handle = async (raw: string): Promise<void> => {
      const frame = JSON.parse(raw) as { t: string; token?: string; to?: string; blob?: string };
      if (frame.t === 'register' && frame.token) {
        myId = peerIdFromToken(fromBase64Url(frame.token));
        clients.set(myId, victim);
      }
      if (frame.t === 'claim' && myId && !hostId) hostId = myId;
      if (key && frame.t === 'send' && myId && frame.to && frame.blob && hostId && (frame.to === hostId || myId === hostId)) {
        const from = myId;
        const to = frame.to;
        const opened = parseSignal(await openBlob(key, { sid, from, to }, frame.blob));
        if (!opened.ok) return;
        const msg = opened.msg;
        const body: SignalBody = msg.k === 'desc' ? { k: 'desc', desc: msg.desc } : { k: 'cand', cand: msg.cand };
        if (to === hostId) {
          // B -> A: terminate B's offer ourselves and open our own link to A posing as B.
          victimB = from;
          // B redialing a link that never came up: splice the new one instead.
          const fresh = msg.k === 'desc' && msg.desc.type === 'offer' && msg.link !== towardB?.linkId;
          if (towardB && fresh && !towardB.link.ready) {
            towardB.link.close('closed-by-us');
            towardA?.link.close('closed-by-us');
            towardB = null;
          }
          if (!towardB) {
            towardB = makeLink(from, 'answerer', msg.link, hostId);
            towardA = makeLink(hostId, 'dialer', toBase64Url(secureRandomBytes(16)), from);
          }
          if (towardB.seq.accept(msg)) towardB.link.handleSignal(body);
        } else if (towardA && towardA.seq.accept(msg)) {
          towardA.link.handleSignal(body);
        }
        return;
      }
      if (upstream.readyState === upstream.OPEN) upstream.send(raw);
      else early.push(raw);
    };
  });
  cleanups.push(() => {
    clearInterval(timer);
    towardA?.link.close('closed-by-us');
    towardB?.link.close('closed-by-us');
    server.close();
  });
  void victimB;
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    fingerprint: identity.fingerprint,
    learnLink: async (link: string) => {
      const parsed = parseLink(link);
      if (!parsed.ok) throw new Error(parsed.error);
      key = await deriveRoomKey(parsed.link.roomId);
      sid = roomSid(parsed.link.roomId);
    },
    spliced: () => everSpliced,
  };
}

describe('a man in the middle with the link and the broker', () => {
  it('splices the pair, and the two sides see different safety codes', async () => {
    const a = await makePeer('Alice');
    const b = await makePeer('Bob');
    peers.push(a, b);
    const proxy: SplicingProxy = await startSplicingProxy((msg, towards) => {
      if ((msg.kind === 'welcome' || msg.kind === 'roster') && towards === 'B') {
        // Make the roster look right to B: B with its own certificate, A with the attacker's.
        return {
          ...msg,
          members: msg.members.map((m) =>
            m.peerId === msg.coordinator ? { ...m, fingerprint: proxy.fingerprint } : { ...m, fingerprint: b.identity.fingerprint },
          ),
        };
      }
      return msg;
    });
    await a.session.dispatch({ op: 'start', name: 'Alice', brokerUrl: proxy.url });
    await proxy.learnLink(a.view().roomLink!);
    await b.session.dispatch({ op: 'join', name: 'Bob', link: a.view().roomLink!, brokerUrl: proxy.url });
    await waitFor(
      'both sides to finish their safety code',
      () => [a, b].every((p) => p.view().members.length === 1 && p.view().members[0]!.sasPhase === 'ready'),
      30_000,
      () => [a, b].map((p) => ({ phase: p.view().phase, reason: p.view().reason, members: p.view().members })),
    );
    expect(proxy.spliced()).toBe(true);
    const codeAtA = a.view().members[0]!.sas!;
    const codeAtB = b.view().members[0]!.sas!;
    expect(codeAtA.split(' ')).toHaveLength(7);
    expect(codeAtB.split(' ')).toHaveLength(7);
    expect(codeAtA).not.toBe(codeAtB);
    // Each side holds the attacker's certificate, not its partner's.
    expect(a.view().members[0]!.fingerprint).toBe(proxy.fingerprint);
    expect(b.view().members[0]!.fingerprint).toBe(proxy.fingerprint);
  });

  it('is caught before admission when it relays the roster unchanged', async () => {
    const a = await makePeer('Alice');
    const b = await makePeer('Bob');
    peers.push(a, b);
    const proxy = await startSplicingProxy((msg) => msg);
    await a.session.dispatch({ op: 'start', name: 'Alice', brokerUrl: proxy.url });
    await proxy.learnLink(a.view().roomLink!);
    await b.session.dispatch({ op: 'join', name: 'Bob', link: a.view().roomLink!, brokerUrl: proxy.url });
    await waitFor('B to refuse the intercepted call', () => b.view().phase === 'failed', 30_000, () => b.view());
    expect(proxy.spliced()).toBe(true);
    expect(b.view().reason).toMatch(/intercept/i);
    expect(b.view().members).toHaveLength(0);
  });
});
