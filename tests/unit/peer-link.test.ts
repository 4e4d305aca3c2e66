/**
 * PeerLink's fail-closed rules, on a scripted peer connection: nothing is delivered before the
 * handshaken fingerprint is known, and a link whose fingerprint never becomes readable closes.
 */
import { describe, expect, it } from 'vitest';
import { FakeChannel } from './fake-channel';
import { PeerLink, type LinkCloseReason } from '../../src/engine/peer-link';
import type { DataChannelLike, PeerFactory, RtcPeerLike, TransceiverLike } from '../../src/engine/platform';
import { systemClock } from '../../src/engine/platform';
import type { ControlMessage } from '../../src/engine/wire';

const FP = Array(32).fill('ab').join(':');

class FakePeer implements RtcPeerLike {
  signalingState = 'stable' as const;
  connectionState = 'new' as const;
  localDescription = null;
  remoteDescription = null;
  channels: FakeChannel[] = [];
  onnegotiationneeded = null;
  onicecandidate = null;
  onconnectionstatechange = null;
  ontrack = null;
  async setLocalDescription(): Promise<void> {}
  async setRemoteDescription(): Promise<void> {}
  async addIceCandidate(): Promise<void> {}
  createDataChannel(label: string): DataChannelLike {
    const ch = new FakeChannel(label);
    this.channels.push(ch);
    return ch;
  }
  addTransceiver(): TransceiverLike {
    return { mid: null, direction: 'sendrecv', sender: { track: null, replaceTrack: async () => undefined }, receiver: { track: null } };
  }
  getTransceivers(): TransceiverLike[] {
    return [];
  }
  close(): void {}
}

function makeLink(fingerprints: (string | null)[], role: 'dialer' | 'answerer' = 'dialer') {
  const pc = new FakePeer();
  const factory: PeerFactory = {
    localFingerprint: FP.replace(/ab/g, 'cd'),
    supportsMedia: false,
    create: () => pc,
    remoteFingerprint: async () => (fingerprints.length > 1 ? fingerprints.shift()! : fingerprints[0]!),
  };
  const seen: { ready?: string; closed?: LinkCloseReason; control: ControlMessage[] } = { control: [] };
  const link = new PeerLink({
    remotePeerId: 'AAAAAAAAAAAAAAAAAAAAAA',
    role,
    linkId: 'BBBBBBBBBBBBBBBBBBBBBB',
    factory,
    config: { iceServers: [] },
    clock: systemClock,
    log: { info: () => undefined, warn: () => undefined },
    sendSignal: () => undefined,
    events: {
      onReady: (fp) => (seen.ready = fp),
      onPhase: () => undefined,
      onControl: (msg) => seen.control.push(msg),
      onContent: () => undefined,
      onDrop: () => undefined,
      onTrack: () => undefined,
      onClose: (reason) => (seen.closed = reason),
    },
  });
  pcLinks.set(pc, link);
  return { link, pc, seen };
}

const pcLinks = new Map<FakePeer, PeerLink>();

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('PeerLink', () => {
  it('holds control messages until the fingerprint is read, then delivers them', async () => {
    const { link, pc, seen } = makeLink([null, null, FP]);
    pc.channels.forEach((c) => c.open());
    pc.channels[0]!.onmessage?.({ data: JSON.stringify({ kind: 'bye' }) });
    expect(seen.control).toHaveLength(0);
    await until(() => seen.ready !== undefined);
    expect(seen.ready).toBe(FP);
    expect(seen.control).toEqual([{ kind: 'bye' }]);
    link.close('closed-by-us');
  });

  it('offers the data channels first and adds the media lanes only when told, once the link is up; a track waits for them', async () => {
    const { link, pc, seen } = makeLink([FP]);
    const added: TransceiverLike[] = [];
    const put: unknown[] = [];
    pc.addTransceiver = () => {
      const t: TransceiverLike = { mid: null, direction: 'sendrecv', sender: { track: null, replaceTrack: async (tr) => void put.push(tr) }, receiver: { track: null } };
      added.push(t);
      return t;
    };
    pc.getTransceivers = () => added;
    expect(added).toHaveLength(0); // the first offer: data only
    const track = { kind: 'audio' } as unknown as Parameters<PeerLink['setTrack']>[1];
    const early = link.setTrack('mic', track); // asked for before the lanes exist
    pc.channels.forEach((c) => c.open());
    await until(() => seen.ready !== undefined);
    expect(added).toHaveLength(0); // not on the join's path: the pipeline opens them after admission
    link.openMediaLanes();
    link.openMediaLanes();
    expect(added).toHaveLength(4);
    await early;
    expect(put).toEqual([track]);
    link.close('closed-by-us');
  });

  it('closes, fail-closed, when the fingerprint never becomes readable', async () => {
    const { pc, seen } = makeLink([null]);
    pc.channels.forEach((c) => c.open());
    pc.channels[0]!.onmessage?.({ data: JSON.stringify({ kind: 'bye' }) });
    await until(() => seen.closed !== undefined);
    expect(seen.closed).toBe('fingerprint-unreadable');
    expect(seen.ready).toBeUndefined();
    expect(seen.control).toHaveLength(0);
  });

  it('closes a peer that floods messages before its identity is known', async () => {
    const { pc, seen } = makeLink([null]);
    pc.channels.forEach((c) => c.open());
    for (let i = 0; i < 40; i++) pc.channels[0]!.onmessage?.({ data: '{}' });
    expect(seen.closed).toBe('protocol');
  });

  const OTHER_FP = Array(32).fill('ef').join(':');
  const OFFER = { k: 'desc' as const, desc: { type: 'offer' as const, sdp: 'v=0\r\nrenegotiation' } };

  it('re-checks the handshaken certificate when a ready link is renegotiated, and closes on a change', async () => {
    const fingerprints = [FP];
    const { pc, seen } = makeLink(fingerprints);
    pc.channels.forEach((c) => c.open());
    await until(() => seen.ready !== undefined);
    fingerprints[0] = OTHER_FP; // the DTLS transport now shows another certificate
    (pcLinks.get(pc) as PeerLink).handleSignal(OFFER);
    await until(() => seen.closed !== undefined);
    expect(seen.closed).toBe('fingerprint-mismatch');
  });

  it('keeps a ready link whose renegotiation shows the same certificate', async () => {
    const { pc, seen } = makeLink([FP]);
    pc.channels.forEach((c) => c.open());
    await until(() => seen.ready !== undefined);
    const link = pcLinks.get(pc) as PeerLink;
    link.handleSignal(OFFER);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.closed).toBeUndefined();
    expect(link.closed).toBe(false);
    link.close('closed-by-us');
  });

  it('passes mDNS (.local) candidates on: a browser without camera permission has no other host candidates', async () => {
    const { pc } = makeLink([FP], 'answerer');
    const added: string[] = [];
    pc.addIceCandidate = async (c?: unknown) => void added.push((c as { candidate: string }).candidate);
    const link = pcLinks.get(pc) as PeerLink;
    link.handleSignal(OFFER);
    const mdns = 'candidate:1 1 udp 2122260223 6884feba-ae67-4665-a8d5-50977e109294.local 54321 typ host generation 0';
    link.handleSignal({ k: 'cand', cand: { candidate: mdns, sdpMid: '0', sdpMLineIndex: 0 } });
    await until(() => added.length > 0);
    expect(added).toEqual([mdns]);
  });

  it('closes at once when a description cannot be applied before the link is up (a garbage offer)', async () => {
    const { pc, seen } = makeLink([FP], 'answerer');
    pc.setRemoteDescription = async () => {
      throw new Error('malformed SDP');
    };
    (pcLinks.get(pc) as PeerLink).handleSignal(OFFER);
    await until(() => seen.closed !== undefined);
    expect(seen.closed).toBe('protocol');
  });
});
