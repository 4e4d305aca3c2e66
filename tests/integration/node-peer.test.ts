/**
 * NodePeerConnection on real node-datachannel over the host's interfaces. Signaling is direct
 * function calls (with a small delivery delay so offers can cross, as over a broker).
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { DataChannelLike, IceCandidateLike, SessionDescriptionLike } from '../../src/engine/platform';
import { generateIdentity, type NodeIdentity } from '../../src/agent/node/identity';
import {
  NodePeerConnection,
  parseSdpSections,
  retainedNativeWrappers,
  toNativeIceServers,
} from '../../src/agent/node/peer-connection';
import {
  createNodePeerFactory,
  createNodePlatform,
  MemoryStore,
  nodeWebSocketFactory,
  shutdownNodeWebRtc,
} from '../../src/agent/node/platform';
import { systemClock } from '../../src/engine/platform';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const CONNECT_TIMEOUT_MS = 20_000;
const quietLog = { info: () => {}, warn: () => {} };
const open: NodePeerConnection[] = [];

function makePeer(identity: NodeIdentity, options: { withholdOfferCandidates?: boolean } = {}): NodePeerConnection {
  const pc = new NodePeerConnection({ iceServers: [] }, { identity, log: quietLog, ...options });
  open.push(pc);
  return pc;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = CONNECT_TIMEOUT_MS, diag?: () => unknown): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `: ${JSON.stringify(diag())}` : ''}`);
    }
    await sleep(20);
  }
}

function channelPair(pc: NodePeerConnection) {
  const control = pc.createDataChannel('control', { negotiated: true, id: 0, ordered: true });
  const content = pc.createDataChannel('content', { negotiated: true, id: 1, ordered: true });
  return { control, content };
}

function collect(dc: DataChannelLike): string[] {
  const got: string[] = [];
  dc.onmessage = (ev) => got.push(String(ev.data));
  return got;
}

type Msg = { description: SessionDescriptionLike } | { candidate: IceCandidateLike };

interface Negotiator {
  collisions: number;
  ignoredOffers: number;
  offersSent: number;
  errors: unknown[];
}

/**
 * The W3C "perfect negotiation" pattern, as the engine runs it, between two adapters.
 * `explicitRollback` makes the polite side roll back with setLocalDescription({type:'rollback'})
 * before applying a colliding offer (otherwise setRemoteDescription rolls back implicitly).
 */
function perfectNegotiation(
  a: NodePeerConnection,
  b: NodePeerConnection,
  opts: { delayMs?: number; explicitRollback?: boolean } = {},
): { a: Negotiator; b: Negotiator } {
  const delay = opts.delayMs ?? 5;
  const stats = (): Negotiator => ({ collisions: 0, ignoredOffers: 0, offersSent: 0, errors: [] });
  const result = { a: stats(), b: stats() };
  const wire = (pc: NodePeerConnection, polite: boolean, st: Negotiator, send: (m: Msg) => void) => {
    let makingOffer = false;
    let ignoreOffer = false;
    let settingRemoteAnswerPending = false;
    pc.onnegotiationneeded = async () => {
      try {
        makingOffer = true;
        await pc.setLocalDescription();
        st.offersSent++;
        send({ description: pc.localDescription! });
      } catch (err) {
        st.errors.push(err);
      } finally {
        makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) send({ candidate });
    };
    return async (msg: Msg) => {
      try {
        if ('description' in msg) {
          const description = msg.description;
          const readyForOffer = !makingOffer && (pc.signalingState === 'stable' || settingRemoteAnswerPending);
          const collision = description.type === 'offer' && !readyForOffer;
          if (collision) st.collisions++;
          ignoreOffer = !polite && collision;
          if (ignoreOffer) {
            st.ignoredOffers++;
            return;
          }
          if (collision && opts.explicitRollback) await pc.setLocalDescription({ type: 'rollback' });
          settingRemoteAnswerPending = description.type === 'answer';
          await pc.setRemoteDescription(description);
          settingRemoteAnswerPending = false;
          if (description.type === 'offer') {
            await pc.setLocalDescription();
            send({ description: pc.localDescription! });
          }
        } else {
          try {
            await pc.addIceCandidate(msg.candidate);
          } catch (err) {
            if (!ignoreOffer) throw err;
          }
        }
      } catch (err) {
        st.errors.push(err);
      }
    };
  };
  // Ordered, asynchronous delivery per direction (like a broker).
  const pipe = (handler: () => (m: Msg) => Promise<void>) => {
    let chain = Promise.resolve();
    return (m: Msg) => {
      const copy = JSON.parse(JSON.stringify(m)) as Msg;
      setTimeout(() => {
        chain = chain.then(() => handler()(copy));
      }, delay);
    };
  };
  let toA: (m: Msg) => Promise<void> = async () => {};
  let toB: (m: Msg) => Promise<void> = async () => {};
  const sendToB = pipe(() => toB);
  const sendToA = pipe(() => toA);
  toA = wire(a, false, result.a, sendToB); // a is impolite
  toB = wire(b, true, result.b, sendToA); // b is polite
  return result;
}

function stripCandidates(d: SessionDescriptionLike): SessionDescriptionLike {
  const sdp = (d.sdp ?? '')
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');
  return { type: d.type, sdp };
}

async function connectedPair(a: NodePeerConnection, b: NodePeerConnection, what: string): Promise<void> {
  await waitFor(
    () => a.connectionState === 'connected' && b.connectionState === 'connected',
    `${what} to connect`,
    CONNECT_TIMEOUT_MS,
    () => ({ a: [a.connectionState, a.signalingState], b: [b.connectionState, b.signalingState] }),
  );
}

async function channelsOpen(...channels: DataChannelLike[]): Promise<void> {
  await waitFor(
    () => channels.every((c) => c.readyState === 'open'),
    'data channels to open',
    CONNECT_TIMEOUT_MS,
    () => channels.map((c) => `${c.label}:${c.readyState}`),
  );
}

// ---------------------------------------------------------------------------------------------

let idA: NodeIdentity;
let idB: NodeIdentity;
let idC: NodeIdentity;

beforeAll(async () => {
  [idA, idB, idC] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
});

afterEach(() => {
  for (const pc of open.splice(0)) pc.close();
});

afterAll(async () => {
  await sleep(100);
  shutdownNodeWebRtc();
});

describe('NodePeerConnection (real node-datachannel)', () => {
  it('connects with negotiated control/content channels and exchanges messages both ways', async () => {
    const a = makePeer(idA);
    const b = makePeer(idB);
    const ca = channelPair(a);
    const cb = channelPair(b);
    const got = {
      aControl: collect(ca.control),
      aContent: collect(ca.content),
      bControl: collect(cb.control),
      bContent: collect(cb.content),
    };
    const neg = perfectNegotiation(a, b);
    await connectedPair(a, b, 'a and b');
    await channelsOpen(ca.control, ca.content, cb.control, cb.content);

    ca.control.send('a→b control');
    ca.content.send('a→b content');
    cb.control.send('b→a control');
    cb.content.send('b→a content');
    await waitFor(
      () => got.aControl.length + got.aContent.length + got.bControl.length + got.bContent.length === 4,
      'four messages',
      10_000,
      () => got,
    );
    expect(got).toEqual({
      aControl: ['b→a control'],
      aContent: ['b→a content'],
      bControl: ['a→b control'],
      bContent: ['a→b content'],
    });
    expect(ca.control.label).toBe('control');
    expect(ca.content.bufferedAmount).toBe(0);
    expect(a.signalingState).toBe('stable');
    expect(b.signalingState).toBe('stable');
    expect(a.localDescription?.type).toBe('offer');
    expect(b.localDescription?.type).toBe('answer');
    expect(neg.a.errors).toEqual([]);
    expect(neg.b.errors).toEqual([]);
  });

  it("reads each side's remote fingerprint from the DTLS handshake: the other side's identity", async () => {
    const factoryA = createNodePeerFactory(idA, { log: quietLog });
    const factoryB = createNodePeerFactory(idB, { log: quietLog });
    expect(factoryA.localFingerprint).toBe(idA.fingerprint);
    expect(factoryA.supportsMedia).toBe(false);
    const a = factoryA.create({ iceServers: [] }) as NodePeerConnection;
    const b = factoryB.create({ iceServers: [] }) as NodePeerConnection;
    open.push(a, b);
    channelPair(a);
    channelPair(b);
    expect(await factoryA.remoteFingerprint(a)).toBeNull(); // no handshake yet
    perfectNegotiation(a, b);
    await connectedPair(a, b, 'a and b');

    const fpSeenByA = await factoryA.remoteFingerprint(a);
    const fpSeenByB = await factoryB.remoteFingerprint(b);
    expect(fpSeenByA).toBe(idB.fingerprint);
    expect(fpSeenByB).toBe(idA.fingerprint);
    expect(fpSeenByA).not.toBe(idA.fingerprint);
    expect(fpSeenByB).not.toBe(idB.fingerprint);
    expect(fpSeenByA).toMatch(/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    // A foreign object is never trusted.
    expect(await factoryA.remoteFingerprint({} as never)).toBeNull();
    a.close();
    expect(await factoryA.remoteFingerprint(a)).toBeNull();
  });

  it('answers an offer with four media lanes (audio, video, video, audio) plus data, in m-line order', async () => {
    const a = makePeer(idA);
    const b = makePeer(idB);
    const ca = channelPair(a);
    const cb = channelPair(b);
    const lanes = [
      a.addTransceiver('audio', { direction: 'sendrecv' }), // mic
      a.addTransceiver('video', { direction: 'sendrecv' }), // camera
      a.addTransceiver('video', { direction: 'sendrecv' }), // tab video
      a.addTransceiver('audio', { direction: 'sendrecv' }), // tab audio
    ];
    expect(lanes.map((t) => t.mid)).toEqual([null, null, null, null]); // W3C: no mid before negotiation
    const neg = perfectNegotiation(a, b);
    await connectedPair(a, b, 'a and b');
    await channelsOpen(ca.control, cb.control);

    const offerMids = lanes.map((t) => t.mid);
    expect(offerMids.every((m) => typeof m === 'string' && m.length > 0)).toBe(true);
    expect(new Set(offerMids).size).toBe(4);

    const seen = b.getTransceivers();
    expect(seen.map((t) => (t as unknown as { kind: string }).kind)).toEqual(['audio', 'video', 'video', 'audio']);
    expect(seen.map((t) => t.mid)).toEqual(offerMids);
    expect(seen.every((t) => t.direction === 'sendrecv')).toBe(true);

    // The answer accepts every media m-line sendrecv, in the offer's order, plus the data section.
    const answer = parseSdpSections(b.localDescription?.sdp);
    expect(answer.map((s) => s.kind)).toEqual(['audio', 'video', 'video', 'audio', 'application']);
    expect(answer.slice(0, 4).every((s) => s.port !== 0 && s.direction === 'sendrecv')).toBe(true);
    expect(answer.slice(0, 4).map((s) => s.mid)).toEqual(offerMids);

    // Node has no media: null is fine, a real track is refused clearly.
    await expect(seen[0]!.sender.replaceTrack(null)).resolves.toBeUndefined();
    await expect(lanes[1]!.sender.replaceTrack({ kind: 'video', id: 'cam' })).rejects.toThrow(/no media source/);
    expect(lanes[0]!.sender.track).toBeNull();
    expect(seen[0]!.receiver.track).toBeNull();

    // a's offer covered everything (b's own data-only offer, if it crossed, was rolled back):
    // the negotiation settles, with no further offers.
    expect(neg.a.offersSent).toBe(1);
    expect(neg.b.offersSent).toBeLessThanOrEqual(1);
    const offers = neg.a.offersSent + neg.b.offersSent;
    await sleep(500);
    expect(neg.a.offersSent + neg.b.offersSent).toBe(offers);
    expect([a.signalingState, b.signalingState]).toEqual(['stable', 'stable']);
    expect(a.getTransceivers()).toHaveLength(4);
    expect(b.getTransceivers()).toHaveLength(4);
    expect([...neg.a.errors, ...neg.b.errors]).toEqual([]);
  });

  it('fires negotiationneeded once, asynchronously, for a batch of channels and transceivers', async () => {
    const a = makePeer(idA);
    let fired = 0;
    a.onnegotiationneeded = () => fired++;
    channelPair(a);
    a.addTransceiver('audio', { direction: 'sendrecv' });
    a.addTransceiver('video', { direction: 'sendrecv' });
    expect(fired).toBe(0);
    await sleep(50);
    expect(fired).toBe(1);
    await sleep(100);
    expect(fired).toBe(1);
  });

  it('a throwing handler is logged, never thrown into the native layer', async () => {
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (m: string) => warnings.push(m) };
    const a = new NodePeerConnection({ iceServers: [] }, { identity: idA, log });
    const b = new NodePeerConnection({ iceServers: [] }, { identity: idB, log });
    open.push(a, b);
    const ca = channelPair(a);
    const cb = channelPair(b);
    perfectNegotiation(a, b);
    const forward = a.onicecandidate!;
    a.onicecandidate = (ev) => {
      forward(ev);
      throw new Error('boom from onicecandidate');
    };
    a.onconnectionstatechange = () => {
      throw new Error('boom from onconnectionstatechange');
    };
    cb.control.onmessage = () => {
      throw new Error('boom from onmessage');
    };
    await connectedPair(a, b, 'a and b despite throwing handlers');
    await channelsOpen(ca.control, cb.control);
    ca.control.send('x');
    await waitFor(() => warnings.some((w) => w.includes('message')), 'the onmessage throw to be logged', 5_000, () => warnings);
    expect(warnings.some((w) => w.includes('local candidate'))).toBe(true);
    expect(warnings.some((w) => w.includes('state change'))).toBe(true);
  });

  describe.each([
    ['implicit rollback (setRemoteDescription of an offer in have-local-offer)', false],
    ['explicit setLocalDescription({type: "rollback"})', true],
  ])('glare with %s', (_name, explicitRollback) => {
    it('the polite side rolls back and answers; both then negotiate their own lanes and connect', async () => {
      const a = makePeer(idA); // impolite
      const b = makePeer(idB); // polite
      const ca = channelPair(a);
      const cb = channelPair(b);
      const kinds = ['audio', 'video', 'video', 'audio'] as const;
      for (const k of kinds) a.addTransceiver(k, { direction: 'sendrecv' });
      for (const k of kinds) b.addTransceiver(k, { direction: 'sendrecv' });
      const gotA = collect(ca.content);
      const gotB = collect(cb.content);
      // 30 ms signaling delay: both offers are made before either arrives.
      const neg = perfectNegotiation(a, b, { delayMs: 30, explicitRollback });
      await connectedPair(a, b, 'a and b after glare');
      await channelsOpen(ca.content, cb.content);
      expect(neg.a.collisions).toBeGreaterThanOrEqual(1);
      expect(neg.a.ignoredOffers).toBeGreaterThanOrEqual(1);
      expect(neg.b.collisions).toBeGreaterThanOrEqual(1);

      // After the polite side answered, its own lanes needed a second negotiation (W3C).
      await waitFor(
        () =>
          a.signalingState === 'stable' &&
          b.signalingState === 'stable' &&
          a.getTransceivers().length === 8 &&
          b.getTransceivers().length === 8 &&
          [...a.getTransceivers(), ...b.getTransceivers()].every((t) => t.mid !== null),
        'both sides to negotiate all 8 lanes',
        10_000,
        () => ({
          a: a.getTransceivers().map((t) => t.mid),
          b: b.getTransceivers().map((t) => t.mid),
          sa: a.signalingState,
          sb: b.signalingState,
        }),
      );
      const midsA = a.getTransceivers().map((t) => t.mid).sort();
      const midsB = b.getTransceivers().map((t) => t.mid).sort();
      expect(midsA).toEqual(midsB);
      expect(neg.b.offersSent).toBeGreaterThanOrEqual(2); // the rolled-back offer and the renegotiation

      ca.content.send('from a');
      cb.content.send('from b');
      await waitFor(() => gotA.length === 1 && gotB.length === 1, 'messages after glare', 10_000, () => ({ gotA, gotB }));
      expect(gotA).toEqual(['from b']);
      expect(gotB).toEqual(['from a']);
      expect([...neg.a.errors, ...neg.b.errors]).toEqual([]);
    });
  });

  it('rollback of a first offer returns to stable with no local description', async () => {
    const a = makePeer(idA);
    const b = makePeer(idB);
    channelPair(a);
    const cb = channelPair(b);
    await a.setLocalDescription();
    expect(a.signalingState).toBe('have-local-offer');
    expect(a.localDescription?.type).toBe('offer');
    await a.setLocalDescription({ type: 'rollback' });
    expect(a.signalingState).toBe('stable');
    expect(a.localDescription).toBeNull();
    await expect(a.setLocalDescription({ type: 'rollback' })).rejects.toThrow(/roll back/);

    // It can still answer the other side's offer and connect.
    const aCands: IceCandidateLike[] = [];
    const bCands: IceCandidateLike[] = [];
    a.onicecandidate = ({ candidate }) => candidate && aCands.push(candidate);
    b.onicecandidate = ({ candidate }) => candidate && bCands.push(candidate);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription!);
    expect(a.signalingState).toBe('have-remote-offer');
    await a.setLocalDescription();
    expect(a.signalingState).toBe('stable');
    expect(a.localDescription?.type).toBe('answer');
    await b.setRemoteDescription(a.localDescription!);
    await sleep(50);
    for (const c of aCands) await b.addIceCandidate(c);
    for (const c of bCands) await a.addIceCandidate(c);
    await connectedPair(a, b, 'a and b after rollback');
    await channelsOpen(cb.control);
  });

  describe('remote candidates that arrive early are deferred, not lost', () => {
    // Candidates are stripped from the SDP so the connection can only come up if the trickled
    // candidates, delivered before the descriptions, were kept and applied later. The offerer
    // trickles early here, as a browser does (a Node offerer withholds its own until the answer).
    async function run(deliver: 'to-answerer-before-offer' | 'to-offerer-before-answer' | 'none') {
      const a = makePeer(idA, { withholdOfferCandidates: false });
      const b = makePeer(idB);
      channelPair(a);
      channelPair(b);
      const aCands: IceCandidateLike[] = [];
      const bCands: IceCandidateLike[] = [];
      let aDone = false;
      let bDone = false;
      a.onicecandidate = ({ candidate }) => (candidate ? aCands.push(candidate) : (aDone = true));
      b.onicecandidate = ({ candidate }) => (candidate ? bCands.push(candidate) : (bDone = true));

      await a.setLocalDescription();
      const offer = stripCandidates(a.localDescription!);
      await waitFor(() => aDone, "a's end-of-candidates", 10_000);
      expect(aCands.length).toBeGreaterThan(0);
      expect(aCands.every((c) => c.candidate.startsWith('candidate:') && c.sdpMid !== null)).toBe(true);

      if (deliver === 'to-answerer-before-offer') {
        for (const c of aCands) await b.addIceCandidate(c); // b has no remote description yet
        expect(b.deferredCandidateCount).toBe(aCands.length);
      }
      await b.setRemoteDescription(offer);
      expect(b.deferredCandidateCount).toBe(0); // applied with the offer
      await b.setLocalDescription();
      const answer = stripCandidates(b.localDescription!);
      await waitFor(() => bDone, "b's end-of-candidates", 10_000);

      if (deliver === 'to-offerer-before-answer') {
        for (const c of bCands) await a.addIceCandidate(c); // a is still in have-local-offer
        expect(a.deferredCandidateCount).toBe(bCands.length);
      }
      await a.setRemoteDescription(answer);
      expect(a.deferredCandidateCount).toBe(0);
      return { a, b };
    }

    it('on the answerer, before the offer', async () => {
      const { a, b } = await run('to-answerer-before-offer');
      await connectedPair(a, b, 'a and b (only b learnt candidates, early)');
    });

    it('on the offerer, before the answer', async () => {
      const { a, b } = await run('to-offerer-before-answer');
      await connectedPair(a, b, 'a and b (only a learnt candidates, early)');
    });

    it('control: with no candidates at all the same setup does not connect', async () => {
      const { a, b } = await run('none');
      await sleep(3000);
      expect(a.connectionState).not.toBe('connected');
      expect(b.connectionState).not.toBe('connected');
    });
  });

  it('ignores .local (mDNS) candidates, outgoing and incoming', async () => {
    const a = makePeer(idA);
    const b = makePeer(idB);
    const ca = channelPair(a);
    const cb = channelPair(b);
    const mdns = 'candidate:1 1 UDP 2122260223 4f0c3d1e-1b2a-4c5d-9e8f-0a1b2c3d4e5f.local 54321 typ host';

    // Outgoing: a native mDNS candidate never reaches onicecandidate.
    const emitted: Array<IceCandidateLike | null> = [];
    a.onicecandidate = ({ candidate }) => emitted.push(candidate);
    (a as unknown as { onNativeCandidate(c: string, mid: string): void }).onNativeCandidate(`a=${mdns}`, '0');
    expect(emitted).toEqual([]);

    // Incoming: neither deferred nor applied, and no error, before or after a remote description.
    await expect(b.addIceCandidate({ candidate: mdns, sdpMid: '0' })).resolves.toBeUndefined();
    expect(b.deferredCandidateCount).toBe(0);

    // An offer that carries an mDNS candidate line is accepted with the line removed.
    const aCands: IceCandidateLike[] = [];
    const bCands: IceCandidateLike[] = [];
    a.onicecandidate = ({ candidate }) => candidate && aCands.push(candidate);
    b.onicecandidate = ({ candidate }) => candidate && bCands.push(candidate);
    await a.setLocalDescription();
    const offerSdp = a.localDescription!.sdp!.replace(/(m=application[^\r\n]*\r\n)/, `$1a=${mdns}\r\n`);
    expect(offerSdp).toContain('.local');
    await b.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    expect(b.remoteDescription?.sdp ?? '').not.toContain('.local');
    await expect(b.addIceCandidate({ candidate: mdns, sdpMid: '0' })).resolves.toBeUndefined();
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription!);
    await sleep(50);
    for (const c of aCands) await b.addIceCandidate(c);
    for (const c of bCands) await a.addIceCandidate(c);
    await connectedPair(a, b, 'a and b with an mDNS candidate in the offer');
    await channelsOpen(ca.control, cb.control);
    expect([...aCands, ...bCands].some((c) => c.candidate.includes('.local'))).toBe(false);
  });

  it('as offerer, withholds its candidates until the answer, then emits each once and end-of-candidates last', async () => {
    const a = makePeer(idA);
    const b = makePeer(idB);
    channelPair(a);
    channelPair(b);
    const events: Array<IceCandidateLike | null> = [];
    a.onicecandidate = ({ candidate }) => events.push(candidate);
    await a.setLocalDescription();
    await sleep(300); // gathering on loopback completes well within this
    // Nothing reached the answerer's side before it answered: neither trickle nor the offer's SDP.
    expect(events).toEqual([]);
    expect(a.localDescription?.sdp).not.toMatch(/a=candidate:|a=end-of-candidates/);
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription!);
    await waitFor(() => events.includes(null), 'end-of-candidates', 10_000);
    await sleep(200);
    expect(events.filter((e) => e === null)).toHaveLength(1);
    expect(events[events.length - 1]).toBeNull();
    const cands = events.filter((e): e is IceCandidateLike => e !== null).map((e) => e.candidate);
    expect(cands.length).toBeGreaterThan(0);
    expect(new Set(cands).size).toBe(cands.length);
    // Every candidate in the local description went out (it shows them once stable).
    const inSdp = (a.localDescription?.sdp ?? '').split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    expect(inSdp.length).toBeGreaterThan(0);
    for (const line of inSdp) expect(cands).toContain(line.slice(2));
    for (const c of cands) await b.addIceCandidate({ candidate: c, sdpMid: events.find((e) => e?.candidate === c)?.sdpMid ?? null });
    await connectedPair(a, b, 'a and b once the withheld candidates arrived');
  });

  it('an offer rolled back in glare releases the withheld candidates for the answer', async () => {
    const a = makePeer(idA);
    channelPair(a);
    const events: Array<IceCandidateLike | null> = [];
    a.onicecandidate = ({ candidate }) => events.push(candidate);
    await a.setLocalDescription();
    await sleep(300);
    expect(events).toEqual([]);
    await a.setLocalDescription({ type: 'rollback' });
    await waitFor(() => events.length > 0, 'candidates after the rollback', 5_000);
    expect(events.some((e) => e !== null)).toBe(true);
  });

  it('close is idempotent; nothing throws or fires afterwards, and the other side notices', async () => {
    const a = makePeer(idA);
    const b = makePeer(idB);
    const ca = channelPair(a);
    const cb = channelPair(b);
    perfectNegotiation(a, b);
    await connectedPair(a, b, 'a and b');
    await channelsOpen(ca.control, cb.control);

    let aEvents = 0;
    a.onconnectionstatechange = () => aEvents++;
    a.onicecandidate = () => aEvents++;
    a.onnegotiationneeded = () => aEvents++;
    ca.control.onmessage = () => aEvents++;
    ca.control.onclose = () => aEvents++;
    let bClosed = 0;
    cb.control.onclose = () => bClosed++;

    a.close();
    expect(() => a.close()).not.toThrow();
    expect(a.connectionState).toBe('closed');
    expect(a.signalingState).toBe('closed');
    expect(ca.control.readyState).toBe('closed');
    expect(() => ca.control.send('after close')).not.toThrow();
    expect(() => ca.control.close()).not.toThrow();
    await expect(a.setLocalDescription()).rejects.toThrow(/closed/);
    await expect(a.addIceCandidate({ candidate: 'candidate:1 1 UDP 1 192.0.2.1 9 typ host', sdpMid: '0' })).resolves.toBeUndefined();
    expect(() => a.createDataChannel('late', { negotiated: true, id: 7 })).toThrow(/closed/);

    // The other side keeps sending into the void: nothing throws anywhere.
    for (let i = 0; i < 5; i++) {
      try {
        cb.control.send(`after close ${i}`);
      } catch {
        // b may already know the channel is gone
      }
    }
    await waitFor(
      () => cb.control.readyState === 'closed' || b.connectionState === 'failed' || b.connectionState === 'disconnected',
      "b to notice a's close",
      15_000,
      () => ({ b: b.connectionState, ch: cb.control.readyState }),
    );
    await sleep(300);
    expect(aEvents).toBe(0);
    expect(() => cb.control.send('still fine')).not.toThrow();
    b.close();
    b.close();
    expect(b.connectionState).toBe('closed');
    expect(bClosed).toBeLessThanOrEqual(1);
  });

  it('a small mesh: three peers connect pairwise and exchange messages', async () => {
    const ids = { a: idA, b: idB, c: idC };
    const names = ['a', 'b', 'c'] as const;
    type Name = (typeof names)[number];
    const links: Array<{ from: Name; to: Name; pcFrom: NodePeerConnection; pcTo: NodePeerConnection; chFrom: DataChannelLike; chTo: DataChannelLike; got: string[] }> = [];
    const factories = Object.fromEntries(names.map((n) => [n, createNodePeerFactory(ids[n], { log: quietLog })])) as Record<
      Name,
      ReturnType<typeof createNodePeerFactory>
    >;
    for (const [from, to] of [
      ['a', 'b'],
      ['a', 'c'],
      ['b', 'c'],
    ] as Array<[Name, Name]>) {
      // The smaller id dials.
      const pcFrom = factories[from].create({ iceServers: [] }) as NodePeerConnection;
      const pcTo = factories[to].create({ iceServers: [] }) as NodePeerConnection;
      open.push(pcFrom, pcTo);
      const chFrom = channelPair(pcFrom).control;
      const chTo = channelPair(pcTo).control;
      const got = collect(chTo);
      perfectNegotiation(pcFrom, pcTo);
      links.push({ from, to, pcFrom, pcTo, chFrom, chTo, got });
    }
    for (const l of links) {
      await connectedPair(l.pcFrom, l.pcTo, `${l.from}–${l.to}`);
      await channelsOpen(l.chFrom, l.chTo);
    }
    for (const l of links) l.chFrom.send(`hello ${l.to}, from ${l.from}`);
    await waitFor(() => links.every((l) => l.got.length === 1), 'a message on every link', 10_000);
    for (const l of links) {
      expect(l.got).toEqual([`hello ${l.to}, from ${l.from}`]);
      expect(await factories[l.from].remoteFingerprint(l.pcFrom)).toBe(ids[l.to].fingerprint);
      expect(await factories[l.to].remoteFingerprint(l.pcTo)).toBe(ids[l.from].fingerprint);
    }
  });
});

describe('native resources', () => {
  it('releases every native channel and track wrapper once its connection is closed', async () => {
    // Earlier tests' connections may still be finishing their close: count only ours.
    const before = retainedNativeWrappers();
    const ours = () => [...retainedNativeWrappers()].filter((w) => !before.has(w)).length;
    const a = makePeer(idA);
    const b = makePeer(idB);
    channelPair(a);
    channelPair(b);
    for (const k of ['audio', 'video'] as const) a.addTransceiver(k, { direction: 'sendrecv' });
    perfectNegotiation(a, b);
    await connectedPair(a, b, 'a and b');
    await waitFor(() => b.getTransceivers().length === 2, 'b to see the lanes', 5_000);
    expect(ours()).toBeGreaterThanOrEqual(6); // 4 channels + 2 local tracks (+ remote tracks)
    a.close();
    b.close();
    await waitFor(() => ours() === 0, 'all wrappers to be released', 10_000, ours);
  });
});

describe('Node platform', () => {
  it('createNodePlatform wires the peer factory, clock, randomness, storage and logger', async () => {
    const platform = createNodePlatform({ identity: idA, log: quietLog });
    expect(platform.peers.localFingerprint).toBe(idA.fingerprint);
    expect(platform.peers.supportsMedia).toBe(false);
    expect(platform.clock).toBe(systemClock);
    expect(platform.randomBytes(16)).toHaveLength(16);
    expect(platform.storage).toBeInstanceOf(MemoryStore);
    expect(platform.media).toBeUndefined();
    const pc = platform.peers.create({ iceServers: [{ urls: 'stun:127.0.0.1:3478' }] });
    open.push(pc as NodePeerConnection);
    expect(pc.signalingState).toBe('stable');
    const fixed = createNodePlatform({ identity: idA, log: quietLog, randomBytes: (n) => new Uint8Array(n).fill(7) });
    expect([...fixed.randomBytes(3)]).toEqual([7, 7, 7]);
  });

  it('maps W3C ICE server entries to node-datachannel servers', () => {
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (m: string) => warnings.push(m) };
    expect(
      toNativeIceServers(
        [
          { urls: ['stun:stun.example.org', 'stun:[::1]:3479'] },
          { urls: 'turn:turn.example.org:3478?transport=tcp', username: 'u', credential: 'p' },
          { urls: 'turns:turn.example.org', username: 'u', credential: 'p' },
          { urls: 'turn:127.0.0.1' },
          { urls: 'http://nope' },
        ],
        log,
      ),
    ).toEqual([
      { hostname: 'stun.example.org', port: 3478 },
      { hostname: '::1', port: 3479 },
      { hostname: 'turn.example.org', port: 3478, username: 'u', password: 'p', relayType: 'TurnTcp' },
      { hostname: 'turn.example.org', port: 5349, username: 'u', password: 'p', relayType: 'TurnTls' },
    ]);
    expect(warnings).toHaveLength(2);
  });

  it('nodeWebSocketFactory speaks the WebSocketLike shape over ws', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => server.once('listening', () => r()));
    server.on('connection', (sock) => {
      sock.on('message', (data, isBinary) => sock.send(isBinary ? data : `echo:${data.toString()}`));
    });
    const port = (server.address() as { port: number }).port;
    try {
      const ws = nodeWebSocketFactory(`ws://127.0.0.1:${port}`);
      const got: unknown[] = [];
      let closed: { code: number; reason: string } | null = null;
      ws.onmessage = (ev) => got.push(ev.data);
      ws.onclose = (ev) => (closed = ev);
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (err) => reject(err);
      });
      expect(ws.readyState).toBe(1);
      ws.send('hello');
      await waitFor(() => got.length === 1, 'echo', 5_000);
      expect(got).toEqual(['echo:hello']);
      ws.close(1000, 'bye');
      await waitFor(() => closed !== null, 'close event', 5_000);
      expect(closed).toEqual({ code: 1000, reason: 'bye' });

      // A refused connection reports an error and a close, and never throws.
      const bad = nodeWebSocketFactory('ws://127.0.0.1:1');
      let errored = false;
      let badClosed = false;
      bad.onerror = () => (errored = true);
      bad.onclose = () => (badClosed = true);
      await waitFor(() => errored && badClosed, 'error and close on a refused connection', 5_000);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
