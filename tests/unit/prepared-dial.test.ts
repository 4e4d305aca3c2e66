/**
 * The prepared dial: a joiner's offer made while the broker connects. It must be used once, only
 * under the configuration it was made for, hand over every candidate it gathered in order after
 * the offer, fail closed when its offer could not be made, and never outlive the mesh or its TTL.
 */
import { describe, expect, it } from 'vitest';
import { FakeChannel } from './fake-channel';
import { ManualClock } from './manual-clock';
import { Mesh } from '../../src/engine/mesh';
import { PeerLink, type LinkCloseReason, type SignalBody } from '../../src/engine/peer-link';
import { PreparedDial, PREPARED_DIAL_TTL_MS, SpareDial } from '../../src/engine/prepared-dial';
import type {
  DataChannelLike,
  IceCandidateLike,
  PeerConnectionConfig,
  PeerFactory,
  RtcPeerLike,
  SessionDescriptionLike,
  TransceiverLike,
} from '../../src/engine/platform';

const FP = Array(32).fill('ab').join(':');
const quiet = { info: () => undefined, warn: () => undefined };

/** A peer connection whose local offer settles when the test says so. */
class ScriptedPeer implements RtcPeerLike {
  signalingState: RtcPeerLike['signalingState'] = 'stable';
  connectionState: RtcPeerLike['connectionState'] = 'new';
  localDescription: SessionDescriptionLike | null = null;
  remoteDescription: SessionDescriptionLike | null = null;
  channels: FakeChannel[] = [];
  closed = false;
  localCalls = 0;
  onnegotiationneeded: (() => void) | null = null;
  onicecandidate: ((ev: { candidate: IceCandidateLike | null }) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  ontrack = null;
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  setLocalDescription(): Promise<void> {
    this.localCalls++;
    return new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }
  /** The offer is applied. */
  applyOffer(sdp = 'v=0 offer'): void {
    this.localDescription = { type: 'offer', sdp };
    this.signalingState = 'have-local-offer';
    this.settle.resolve();
  }
  failOffer(): void {
    this.settle.reject(new Error('InvalidStateError'));
  }
  gather(candidate: string | null): void {
    this.onicecandidate?.({ candidate: candidate === null ? null : { candidate, sdpMid: '0', sdpMLineIndex: 0 } });
  }
  async setRemoteDescription(): Promise<void> {}
  async addIceCandidate(): Promise<void> {}
  createDataChannel(label: string): DataChannelLike {
    const ch = new FakeChannel(label);
    this.channels.push(ch);
    return ch;
  }
  addTransceiver(): TransceiverLike {
    throw new Error('no media lanes before the link is up');
  }
  getTransceivers(): TransceiverLike[] {
    return [];
  }
  close(): void {
    this.closed = true;
  }
}

function factoryOf(): { factory: PeerFactory; made: ScriptedPeer[] } {
  const made: ScriptedPeer[] = [];
  const factory: PeerFactory = {
    localFingerprint: FP.replace(/ab/g, 'cd'),
    supportsMedia: false,
    create: () => {
      const pc = new ScriptedPeer();
      made.push(pc);
      return pc;
    },
    remoteFingerprint: async () => FP,
  };
  return { factory, made };
}


const CONFIG: PeerConnectionConfig = { iceServers: [] };

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function dialerFrom(prepared: ReturnType<PreparedDial['take']>, factory: PeerFactory) {
  const sent: SignalBody[] = [];
  const seen: { closed?: LinkCloseReason } = {};
  const link = new PeerLink({
    remotePeerId: 'AAAAAAAAAAAAAAAAAAAAAA',
    role: 'dialer',
    linkId: 'BBBBBBBBBBBBBBBBBBBBBB',
    factory,
    config: CONFIG,
    ...(prepared ? { prepared } : {}),
    clock: new ManualClock(),
    log: quiet,
    sendSignal: (body) => sent.push(body),
    events: {
      onReady: () => undefined,
      onPhase: () => undefined,
      onControl: () => undefined,
      onContent: () => undefined,
      onDrop: () => undefined,
      onTrack: () => undefined,
      onClose: (reason) => (seen.closed = reason),
    },
  });
  return { link, sent, seen };
}

describe('PreparedDial', () => {
  it('makes the channels and starts the offer at once, and gives it out exactly once', () => {
    const { factory, made } = factoryOf();
    const dial = new PreparedDial(factory, CONFIG, quiet);
    expect(made).toHaveLength(1);
    expect(made[0]!.channels.map((c) => c.label)).toEqual(['control', 'content']);
    expect(made[0]!.localCalls).toBe(1);
    const first = dial.take(CONFIG);
    expect(first?.pc).toBe(made[0]);
    expect(dial.take(CONFIG)).toBeNull();
    expect(made[0]!.closed).toBe(false);
  });

  it('is never used under another configuration (a relay-only call must not adopt a host-candidate offer)', () => {
    const { factory, made } = factoryOf();
    const dial = new PreparedDial(factory, CONFIG, quiet);
    expect(dial.take({ iceServers: [], iceTransportPolicy: 'relay' })).toBeNull();
    expect(made[0]!.closed).toBe(true);
    expect(made[0]!.channels.every((c) => c.readyState === 'closed')).toBe(true);
    expect(dial.take(CONFIG)).toBeNull();
  });

  it('closes on discard, and cannot be taken afterwards', () => {
    const { factory, made } = factoryOf();
    const dial = new PreparedDial(factory, CONFIG, quiet);
    dial.discard();
    dial.discard();
    expect(made[0]!.closed).toBe(true);
    expect(dial.take(CONFIG)).toBeNull();
  });
});

describe('PeerLink adopting a prepared dial', () => {
  it('sends the prepared offer, then every candidate gathered before and after the adoption, in order', async () => {
    const { factory, made } = factoryOf();
    const dial = new PreparedDial(factory, CONFIG, quiet);
    const pc = made[0]!;
    pc.gather('candidate:1');
    pc.gather('candidate:2');
    const { link, sent } = dialerFrom(dial.take(CONFIG), factory);
    expect(made).toHaveLength(1); // adopted, not a second connection
    pc.gather('candidate:3');
    expect(sent).toEqual([]); // nothing before the description that introduces the candidates
    pc.applyOffer('v=0 prepared');
    await flush();
    pc.gather(null);
    expect(sent).toEqual([
      { k: 'desc', desc: { type: 'offer', sdp: 'v=0 prepared' } },
      { k: 'cand', cand: { candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 } },
      { k: 'cand', cand: { candidate: 'candidate:2', sdpMid: '0', sdpMLineIndex: 0 } },
      { k: 'cand', cand: { candidate: 'candidate:3', sdpMid: '0', sdpMLineIndex: 0 } },
      { k: 'cand', cand: null },
    ]);
    expect(pc.localCalls).toBe(1); // no second offer
    link.close('closed-by-us');
  });

  it('fails closed when the prepared offer could not be made', async () => {
    const { factory, made } = factoryOf();
    const dial = new PreparedDial(factory, CONFIG, quiet);
    const { sent, seen } = dialerFrom(dial.take(CONFIG), factory);
    made[0]!.failOffer();
    await flush();
    expect(seen.closed).toBe('failed');
    expect(sent).toEqual([]);
    expect(made[0]!.closed).toBe(true);
  });

  it('sends nothing when the link closed before the offer was ready', async () => {
    const { factory, made } = factoryOf();
    const dial = new PreparedDial(factory, CONFIG, quiet);
    const { link, sent } = dialerFrom(dial.take(CONFIG), factory);
    link.close('closed-by-us');
    made[0]!.applyOffer();
    await flush();
    expect(sent).toEqual([]);
  });
});

describe('Mesh.prepareDial', () => {
  function meshOf(config: () => PeerConnectionConfig = () => CONFIG) {
    const { factory, made } = factoryOf();
    const clock = new ManualClock();
    const sent: Array<{ to: string; body: SignalBody }> = [];
    let n = 0;
    const mesh = new Mesh({
      factory,
      config,
      clock,
      log: quiet,
      randomBytes: (len) => new Uint8Array(len).fill(++n),
      sendSignal: (to, _seq, body) => sent.push({ to, body }),
      mayAnswer: () => true,
      events: {
        onReady: () => undefined,
        onControl: () => undefined,
        onContent: () => undefined,
        onTrack: () => undefined,
        onClosed: () => undefined,
        onPhase: () => undefined,
        onDrop: () => undefined,
      },
    });
    return { mesh, made, clock, sent };
  }

  it('the first dial adopts the prepared connection; the next dial makes its own', () => {
    const { mesh, made } = meshOf();
    mesh.prepareDial();
    mesh.dial('holder________________');
    expect(made).toHaveLength(1);
    mesh.dial('other_________________');
    expect(made).toHaveLength(2);
    mesh.closeAll();
    expect(made.every((pc) => pc.closed)).toBe(true);
  });

  it('closes an unused prepared connection after its TTL, and the late dial makes a fresh one', () => {
    const { mesh, made, clock } = meshOf();
    mesh.prepareDial();
    clock.advance(PREPARED_DIAL_TTL_MS - 1);
    expect(made[0]!.closed).toBe(false);
    clock.advance(1);
    expect(made[0]!.closed).toBe(true);
    mesh.dial('holder________________');
    expect(made).toHaveLength(2);
    expect(made[1]!.closed).toBe(false);
    mesh.closeAll();
  });

  it('closes an unused prepared connection with the mesh', () => {
    const { mesh, made } = meshOf();
    mesh.prepareDial();
    mesh.closeAll();
    expect(made[0]!.closed).toBe(true);
  });

  it('a dial under a changed configuration does not adopt the prepared connection', () => {
    let config: PeerConnectionConfig = CONFIG;
    const { mesh, made } = meshOf(() => config);
    mesh.prepareDial();
    config = { iceServers: [{ urls: 'turn:127.0.0.1:3478', username: 'u', credential: 'p' }], iceTransportPolicy: 'relay' };
    mesh.dial('holder________________');
    expect(made).toHaveLength(2);
    expect(made[0]!.closed).toBe(true);
    mesh.closeAll();
  });
});

describe('SpareDial (the offer made while the join form is on screen)', () => {
  it('keeps one connection however often it is kept, hands it out once, and closes it when left unused', () => {
    const { factory, made } = factoryOf();
    const clock = new ManualClock();
    const spare = new SpareDial(() => new PreparedDial(factory, CONFIG, quiet), clock, 1000);
    spare.keep();
    clock.advance(900);
    spare.keep(); // the form is still up: the limit starts again
    expect(made).toHaveLength(1);
    clock.advance(900);
    expect(made[0]!.closed).toBe(false);
    clock.advance(100);
    expect(made[0]!.closed).toBe(true);
    expect(spare.take()).toBeNull();
    spare.keep();
    const taken = spare.take();
    clock.advance(5000);
    expect(taken?.take(CONFIG)?.pc).toBe(made[1]); // taken: the idle limit is the mesh's business now
    expect(made[1]!.closed).toBe(false);
  });
});

describe('SpareDial age', () => {
  it('is made again once older than its maximum age, so a form left open does not offer stale addresses', () => {
    const { factory, made } = factoryOf();
    const clock = new ManualClock();
    const spare = new SpareDial(() => new PreparedDial(factory, CONFIG, quiet), clock, 60_000, 10_000);
    spare.keep();
    clock.advance(9_999);
    spare.keep();
    expect(made).toHaveLength(1);
    clock.advance(1);
    spare.keep();
    expect(made).toHaveLength(2);
    expect(made[0]!.closed).toBe(true);
    expect(spare.take()?.take(CONFIG)?.pc).toBe(made[1]);
    spare.keep();
    clock.advance(10_000);
    expect(spare.take()).toBeNull(); // too old to hand to a dial: closed, and the dial makes its own
    expect(made[2]!.closed).toBe(true);
  });
});
