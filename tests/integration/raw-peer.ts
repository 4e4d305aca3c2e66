/**
 * A hand-driven participant for adversarial tests: it speaks the real wire protocol through
 * the engine's own PeerLink and sealing, but lets a test send anything at all, including
 * messages an honest Session would never send.
 */
import { BrokerClient } from '../../src/engine/broker-client';
import { newPeerToken, peerIdFromToken } from '../../src/engine/broker-protocol';
import { toBase64Url } from '../../src/engine/encoding';
import { generateIdentity, type NodeIdentity } from '../../src/agent/node/identity';
import { createNodePeerFactory, nodeWebSocketFactory } from '../../src/agent/node/platform';
import { parseLink } from '../../src/engine/link';
import { PeerLink, SignalSequencer, type SignalBody } from '../../src/engine/peer-link';
import { secureRandomBytes, systemClock, type DataChannelLike } from '../../src/engine/platform';
import { deriveRoomKey, openBlob, sealBlob } from '../../src/engine/seal';
import { OrderedOutput } from '../../src/engine/signaling';
import { roomSid } from '../../src/engine/sid';
import { parseSignal, type ControlMessage } from '../../src/engine/wire';
import { quietLog, waitFor } from './sessions';

interface RawLink {
  link: PeerLink;
  linkId: string;
  role: 'dialer' | 'answerer';
  seq: SignalSequencer;
  received: ControlMessage[];
}

export class RawParticipant {
  /** The secret behind peerId: the broker derives the id from it (register-by-token). */
  readonly token = newPeerToken(secureRandomBytes);
  readonly peerId = peerIdFromToken(this.token);
  readonly links = new Map<string, RawLink>();
  broker!: BrokerClient;
  identity!: NodeIdentity;
  private key!: CryptoKey;
  private sid!: string;

  static async join(roomLink: string, brokerUrl: string): Promise<RawParticipant> {
    const p = new RawParticipant();
    const parsed = parseLink(roomLink);
    if (!parsed.ok) throw new Error(parsed.error);
    p.identity = await generateIdentity();
    p.key = await deriveRoomKey(parsed.link.roomId);
    p.sid = roomSid(parsed.link.roomId);
    p.broker = new BrokerClient({ url: brokerUrl, token: p.token, webSocket: nodeWebSocketFactory, clock: systemClock, log: quietLog });
    p.broker.onMessage = (from, blob) => void p.onBlob(from, blob);
    await p.broker.connect();
    return p;
  }

  async coordinator(): Promise<string> {
    const holder = await this.broker.holder(this.sid);
    if (!holder) throw new Error('no coordinator');
    return holder;
  }

  /** From now on, present another certificate on new links (an impostor's trick). */
  async swapIdentity(): Promise<void> {
    this.identity = await generateIdentity();
  }

  dial(peerId: string): RawLink {
    return this.makeLink(peerId, 'dialer', toBase64Url(secureRandomBytes(16)));
  }

  /**
   * Waits for the link to `peerId`. A link this participant dialed that is not up within 6 s
   * is dialed again (three tries), as the engine redials a first link that stalls: on this
   * 2-core machine, under the whole suite's load, a Node link now and then never completes its
   * first handshake (one raw dial in about ten suite runs). A raw peer has no presence machine
   * to redial for it, and its tests are about what it sends once linked.
   */
  /** Dials `ready` had to repeat (see below). */
  redials = 0;

  async ready(peerId: string): Promise<RawLink> {
    for (let attempt = 1; ; attempt++) {
      const last = attempt === 3 || this.links.get(peerId)?.role !== 'dialer';
      try {
        await waitFor(`raw link to ${peerId} ready`, () => !!this.links.get(peerId)?.link.ready, last ? 20_000 : 6_000);
        return this.links.get(peerId)!;
      } catch (err) {
        if (last) throw err;
        // Said out loud, so a run that needed it shows it (an engine regression that loses a
        // first offer or answer would show here as a redial on every run).
        this.redials++;
        console.warn(`raw peer: link to ${peerId.slice(0, 6)} not up after try ${attempt}; dialing again`);
        this.links.get(peerId)?.link.close('closed-by-us');
        this.links.delete(peerId);
        this.dial(peerId);
      }
    }
  }

  /** Raw bytes on a channel, bypassing the engine's typed senders. */
  sendRaw(peerId: string, channel: 'control' | 'content', data: string): void {
    const link = this.links.get(peerId)?.link as unknown as Record<string, DataChannelLike | null> | undefined;
    const ch = link?.[channel];
    if (!ch || ch.readyState !== 'open') throw new Error(`${channel} channel to ${peerId} is not open`);
    ch.send(data);
  }

  /**
   * Seal an arbitrary signaling plaintext to a peer, as this participant. Frames leave in the
   * order they were asked for, as the engine's SealedSignaling does.
   */
  sendSealed(to: string, plaintext: string): Promise<void> {
    const sealed = sealBlob(this.key, { sid: this.sid, from: this.peerId, to }, plaintext, secureRandomBytes);
    return this.outbound.push(sealed).then((blob) => this.broker.send(to, blob));
  }
  private readonly outbound = new OrderedOutput();
  private readonly inbound = new OrderedOutput();

  close(): void {
    for (const l of this.links.values()) l.link.close('closed-by-us');
    this.broker?.close();
  }

  private makeLink(peerId: string, role: 'dialer' | 'answerer', linkId: string): RawLink {
    const seq = new SignalSequencer(linkId);
    const raw: RawLink = { link: null as unknown as PeerLink, linkId, role, seq, received: [] };
    raw.link = new PeerLink({
      remotePeerId: peerId,
      role,
      linkId,
      factory: createNodePeerFactory(this.identity),
      config: { iceServers: [] },
      clock: systemClock,
      log: quietLog,
      sendSignal: (body: SignalBody) => void this.sendSealed(peerId, JSON.stringify(seq.stamp(body))),
      events: {
        onReady: () => undefined,
        onPhase: () => undefined,
        onControl: (msg) => raw.received.push(msg),
        onContent: () => undefined,
        onDrop: () => undefined,
        onTrack: () => undefined,
        onClose: () => undefined,
      },
    });
    this.links.set(peerId, raw);
    return raw;
  }

  /** Opens blobs concurrently but handles them in arrival order, as the engine does. */
  private onBlob(from: string, blob: string): Promise<void> {
    const opened = openBlob(this.key, { sid: this.sid, from, to: this.peerId }, blob).catch(() => null);
    return this.inbound
      .push(opened)
      .then((plaintext) => {
        if (plaintext !== null) this.onPlaintext(from, plaintext);
      })
      .catch((err: unknown) => console.warn('raw peer: a signal could not be handled', err));
  }

  private onPlaintext(from: string, plaintext: string): void {
    const parsed = parseSignal(plaintext);
    if (!parsed.ok) return;
    const msg = parsed.msg;
    let raw = this.links.get(from);
    const freshOffer = msg.k === 'desc' && msg.desc.type === 'offer' && msg.link !== raw?.linkId;
    // A peer that redials a link that never came up sends an offer with a new link id: answer
    // it on a new link (as the engine's mesh does) rather than dropping it as another link's.
    if (raw && freshOffer && !raw.link.ready) {
      console.warn(`raw peer: ${from.slice(0, 6)} dialed again; answering the new link`);
      raw.link.close('closed-by-us');
      this.links.delete(from);
      raw = undefined;
    }
    if (!raw && freshOffer) raw = this.makeLink(from, 'answerer', msg.link);
    if (!raw || !raw.seq.accept(msg)) return;
    raw.link.handleSignal(msg.k === 'desc' ? { k: 'desc', desc: msg.desc } : { k: 'cand', cand: msg.cand });
  }
}
