/**
 * One peer connection per pair of participants. It carries a control channel, a content
 * channel and four media lanes (mic, camera, shared-tab video, shared-tab audio) negotiated
 * up front with empty senders, so turning media on later is a `replaceTrack`, never a
 * renegotiation. Negotiation follows the W3C "perfect negotiation" pattern: the dialer is
 * impolite, the answerer polite, and a collision is resolved by the polite side rolling back.
 *
 * The link reports the remote fingerprint read from the DTLS handshake once both channels are
 * open; if it cannot be read the link closes (fail closed).
 */
import type {
  Clock,
  DataChannelLike,
  IceCandidateLike,
  Logger,
  MediaTrackLike,
  PeerConnectionConfig,
  PeerFactory,
  RtcPeerLike,
  TransceiverLike,
} from './platform';
import type { LinkPhase, MediaLane } from './session-api';
import {
  MEDIA_LANES,
  encode,
  parseContent,
  parseControl,
  type ContentMessage,
  type ControlMessage,
  type SignalMessage,
} from './wire';
import { closeLinkConnection, createLinkChannels, type PreparedPeer } from './prepared-dial';

export const PING_INTERVAL_MS = 2_000;
export const SILENCE_LIMIT_MS = 8_000;
export const CONNECT_TIMEOUT_MS = 20_000;
/** How long a track waits for the media lanes, which follow the link's first negotiation. */
export const LANES_WAIT_MS = 10_000;
/** Above this much unsent data a channel is considered stuck and content is refused. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const FINGERPRINT_READ_ATTEMPTS = 20;
const FINGERPRINT_RETRY_MS = 50;
/** Messages held while the handshaken fingerprint is being read; more is a misbehaving peer. */
const MAX_PENDING = 32;

export type SignalBody =
  | { k: 'desc'; desc: { type: 'offer' | 'answer'; sdp: string } }
  | { k: 'cand'; cand: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null } | null };

export type LinkCloseReason =
  | 'left'
  | 'closed-by-us'
  | 'failed'
  | 'timeout'
  | 'silent'
  | 'fingerprint-unreadable'
  | 'fingerprint-mismatch'
  | 'replaced'
  | 'protocol'
  | 'delivery-failed';

export interface PeerLinkEvents {
  onReady(fingerprint: string): void;
  onPhase(phase: LinkPhase): void;
  onControl(msg: ControlMessage): void;
  onContent(msg: ContentMessage): void;
  onDrop(channel: 'control' | 'content', reason: string): void;
  onTrack(lane: MediaLane, track: MediaTrackLike): void;
  onClose(reason: LinkCloseReason): void;
}

export interface PeerLinkOptions {
  remotePeerId: string;
  role: 'dialer' | 'answerer';
  /** Identifies this connection attempt in signaling; the answerer adopts the dialer's. */
  linkId: string;
  factory: PeerFactory;
  config: PeerConnectionConfig;
  clock: Clock;
  log: Logger;
  sendSignal(body: SignalBody): void;
  events: PeerLinkEvents;
  /** A dialer's connection made ahead (prepared-dial.ts), adopted instead of a new one. */
  prepared?: PreparedPeer;
}

export class PeerLink {
  readonly remotePeerId: string;
  readonly role: 'dialer' | 'answerer';
  readonly linkId: string;
  phase: LinkPhase = 'connecting';
  /** Handshaken remote fingerprint, once ready. */
  remoteFingerprint: string | null = null;
  closed = false;

  private readonly pc: RtcPeerLike;
  private readonly opts: PeerLinkOptions;
  private control: DataChannelLike | null = null;
  private content: DataChannelLike | null = null;
  private makingOffer = false;
  private ignoreOffer = false;
  private signalQueue: Promise<void> = Promise.resolve();
  private lastHeard: number;
  private readonly timers: unknown[] = [];
  /** setTrack calls waiting for the media lanes' renegotiation. */
  private readonly laneWaiters = new Set<() => void>();
  private readyFired = false;
  private descriptionSent = false;
  private readonly probes = new Set<() => void>();
  private readonly heldCandidates: SignalBody[] = [];
  /** Messages that raced ahead of the fingerprint read; replayed once it is known. */
  private readonly pendingControl: unknown[] = [];
  private readonly pendingContent: unknown[] = [];

  constructor(opts: PeerLinkOptions) {
    this.opts = opts;
    this.remotePeerId = opts.remotePeerId;
    this.role = opts.role;
    this.linkId = opts.linkId;
    this.lastHeard = opts.clock.now();
    const prepared = opts.role === 'dialer' ? opts.prepared : undefined;
    this.pc = prepared?.pc ?? opts.factory.create(opts.config);
    this.pc.onicecandidate = ({ candidate }) => this.gathered(candidate);
    this.pc.onnegotiationneeded = () => void this.negotiate();
    this.pc.onconnectionstatechange = () => this.onConnectionState();
    this.pc.ontrack = (ev) => {
      const lane = this.laneOf(ev.transceiver);
      if (lane) this.opts.events.onTrack(lane, ev.track);
    };
    // The first offer carries the data channels only: four media m-lines cost Chromium ~40 ms
    // of SDP work on the join path. The lanes follow in a renegotiation after admission
    // (openMediaLanes), in lane order, so the transceiver order is the lane order on both sides.
    if (prepared) {
      this.adoptChannels(prepared);
      for (const candidate of prepared.candidates) this.gathered(candidate);
      void this.sendPreparedOffer(prepared.offer);
    } else if (this.role === 'dialer') this.adoptChannels(createLinkChannels(this.pc));
    this.timers.push(
      opts.clock.setTimeout(() => {
        if (!this.readyFired) this.close('timeout');
      }, CONNECT_TIMEOUT_MS),
    );
  }

  /** Apply a signaling message from the remote side (already unsealed and validated). */
  handleSignal(body: SignalBody): void {
    this.signalQueue = this.signalQueue.then(() => this.applySignal(body)).catch((err: unknown) => {
      this.opts.log.warn('signaling step failed', { peer: this.remotePeerId.slice(0, 6), error: String(err) });
      // An offer that cannot be applied before the link is up is a broken or hostile peer's:
      // close now rather than hold a connection (and an admission slot) until timeout. (An
      // answer's errors are only logged: libdatachannel reports benign ones on honest answers.)
      if (body.k === 'desc' && body.desc.type === 'offer' && this.role === 'answerer' && !this.readyFired) this.close('protocol');
    });
  }

  sendControl(msg: ControlMessage): boolean {
    return this.sendOn(this.control, encode(msg));
  }

  sendContent(msg: ContentMessage): boolean {
    return this.sendOn(this.content, encode(msg));
  }

  /**
   * Is the peer still answering? Sends a ping and resolves true as soon as anything arrives
   * from it, false after `timeoutMs` of silence.
   */
  probe(timeoutMs: number): Promise<boolean> {
    if (!this.ready) return Promise.resolve(false);
    const since = this.opts.clock.now();
    return new Promise((resolve) => {
      const timer = this.opts.clock.setTimeout(() => {
        this.probes.delete(waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = (): void => {
        this.opts.clock.clearTimeout(timer);
        resolve(true);
      };
      this.probes.add(waiter);
      this.sendControl({ kind: 'ping', at: since });
    });
  }

  get ready(): boolean {
    return this.readyFired && !this.closed;
  }

  /** Put a local track (or nothing) on one lane of this pair's connection only. */
  async setTrack(lane: MediaLane, track: MediaTrackLike | null): Promise<void> {
    // Right after the link is up the lanes may still be on their way (the renegotiation).
    const deadline = this.opts.clock.now() + LANES_WAIT_MS;
    while (!this.closed && this.transceivers().length < MEDIA_LANES.length && this.opts.clock.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = this.opts.clock.setTimeout(resolve, Math.max(1, deadline - this.opts.clock.now()));
        this.laneWaiters.add(() => {
          this.opts.clock.clearTimeout(timer);
          resolve();
        });
      });
    }
    const transceiver = this.transceivers()[MEDIA_LANES.indexOf(lane)];
    if (!transceiver) throw new Error('media lanes are not negotiated yet');
    await transceiver.sender.replaceTrack(track);
  }

  /**
   * The dialer adds the media lanes once told to (see the constructor): the pipeline does so a
   * moment after admission, so their renegotiation (four m-lines of SDP work) is not on the
   * join's path. A track set before then waits for them. Idempotent; the answerer's come with
   * the dialer's offer.
   */
  openMediaLanes(): void {
    if (this.role !== 'dialer' || this.closed || this.transceivers().length > 0) return;
    for (const lane of MEDIA_LANES) this.pc.addTransceiver(laneKind(lane), { direction: 'sendrecv' });
    this.wakeLaneWaiters();
  }

  private wakeLaneWaiters(): void {
    for (const wake of this.laneWaiters) wake();
    this.laneWaiters.clear();
  }

  close(reason: LinkCloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeLaneWaiters();
    for (const t of this.timers) {
      this.opts.clock.clearTimeout(t);
      this.opts.clock.clearInterval(t);
    }
    closeLinkConnection(this.pc, [this.control, this.content]);
    this.opts.events.onClose(reason);
  }

  private transceivers(): TransceiverLike[] {
    return this.pc.getTransceivers().filter((t) => t.direction !== 'stopped');
  }

  private laneOf(transceiver: TransceiverLike): MediaLane | null {
    const index = this.transceivers().findIndex((t) => t === transceiver || (t.mid !== null && t.mid === transceiver.mid));
    return MEDIA_LANES[index] ?? null;
  }

  private gathered(candidate: IceCandidateLike | null): void {
    if (this.closed) return;
    const body: SignalBody = {
      k: 'cand',
      cand: candidate
        ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid ?? null, sdpMLineIndex: candidate.sdpMLineIndex ?? null }
        : null,
    };
    // Candidates can be gathered before the description that introduces them is sent.
    if (this.descriptionSent) this.opts.sendSignal(body);
    else this.heldCandidates.push(body);
  }

  private adoptChannels(channels: { control: DataChannelLike; content: DataChannelLike }): void {
    this.control = channels.control;
    this.content = channels.content;
    for (const ch of [this.control, this.content]) {
      ch.onopen = () => this.maybeReady();
      ch.onclose = () => {
        if (!this.closed) this.close(this.phase === 'connected' ? 'left' : 'failed');
      };
      ch.onerror = () => this.opts.log.warn('data channel error', { peer: this.remotePeerId.slice(0, 6) });
    }
    this.control.onmessage = (ev) => this.onControlData(ev.data);
    this.content.onmessage = (ev) => this.onContentData(ev.data);
  }

  private async negotiate(): Promise<void> {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const local = this.pc.localDescription;
      if (local && (local.type === 'offer' || local.type === 'answer') && local.sdp) {
        this.sendDescription({ type: local.type, sdp: local.sdp });
      }
    } catch (err) {
      this.opts.log.warn('negotiation failed', { peer: this.remotePeerId.slice(0, 6), error: String(err) });
    } finally {
      this.makingOffer = false;
    }
  }

  /** The prepared offer was applied ahead of the dial; it goes out once the dial adopts it. */
  private async sendPreparedOffer(offer: Promise<void>): Promise<void> {
    this.makingOffer = true;
    try {
      await offer;
      const local = this.pc.localDescription;
      if (this.closed) return;
      if (local?.type !== 'offer' || !local.sdp) throw new Error(`no local offer (signaling state ${this.pc.signalingState})`);
      this.sendDescription({ type: 'offer', sdp: local.sdp });
    } catch (err) {
      this.opts.log.warn('prepared offer unusable', { peer: this.remotePeerId.slice(0, 6), error: String(err) });
      this.close('failed');
    } finally {
      this.makingOffer = false;
    }
  }

  private sendDescription(desc: { type: 'offer' | 'answer'; sdp: string }): void {
    this.opts.sendSignal({ k: 'desc', desc });
    this.descriptionSent = true;
    for (const held of this.heldCandidates.splice(0)) this.opts.sendSignal(held);
  }

  private async applySignal(body: SignalBody): Promise<void> {
    if (this.closed) return;
    if (body.k === 'desc') {
      const polite = this.role === 'answerer';
      const collision = body.desc.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
      this.ignoreOffer = !polite && collision;
      if (this.ignoreOffer) return;
      if (collision) await this.pc.setLocalDescription({ type: 'rollback' });
      await this.pc.setRemoteDescription(body.desc);
      // A renegotiation on a ready link must still be the certificate identity was bound to.
      if (this.remoteFingerprint && !(await this.stillSameCertificate())) return;
      if (body.desc.type === 'offer') {
        // Accept every offered lane as send-capable so later media is a replaceTrack, not a renegotiation.
        for (const t of this.transceivers()) t.direction = 'sendrecv';
        this.wakeLaneWaiters();
        if (!this.control) this.adoptChannels(createLinkChannels(this.pc));
        await this.pc.setLocalDescription();
        const local = this.pc.localDescription;
        if (local?.type === 'answer' && local.sdp) this.sendDescription({ type: 'answer', sdp: local.sdp });
      }
      return;
    }
    if (body.cand === null) return;
    try {
      await this.pc.addIceCandidate(body.cand);
    } catch (err) {
      if (!this.ignoreOffer) throw err;
    }
  }

  private onConnectionState(): void {
    if (this.closed) return;
    switch (this.pc.connectionState) {
      case 'connected':
        if (this.readyFired) this.setPhase('connected');
        break;
      case 'disconnected':
        if (this.readyFired) this.setPhase('reconnecting');
        break;
      case 'failed':
        this.close('failed');
        break;
      case 'closed':
        this.close('failed');
        break;
      default:
        break;
    }
  }

  private maybeReady(): void {
    if (this.readyFired || this.closed) return;
    if (this.control?.readyState !== 'open' || this.content?.readyState !== 'open') return;
    this.readyFired = true;
    void this.readFingerprint().then((fp) => {
      if (this.closed) return;
      if (!fp) {
        this.close('fingerprint-unreadable');
        return;
      }
      this.remoteFingerprint = fp;
      this.lastHeard = this.opts.clock.now();
      this.startLiveness();
      this.setPhase('connected');
      this.opts.events.onReady(fp);
      for (const d of this.pendingControl.splice(0)) this.onControlData(d);
      for (const d of this.pendingContent.splice(0)) this.onContentData(d);
    });
  }

  /**
   * The handshaken certificate, read a few times: Chromium can report both channels open a
   * moment before its DTLS transport reports `connected`. Still unreadable after that: null,
   * and the link closes.
   */
  private async readFingerprint(): Promise<string | null> {
    for (let attempt = 0; attempt < FINGERPRINT_READ_ATTEMPTS; attempt++) {
      if (this.closed) return null;
      const fp = await this.opts.factory.remoteFingerprint(this.pc).catch(() => null);
      if (fp) return fp;
      await new Promise<void>((resolve) => this.opts.clock.setTimeout(resolve, FINGERPRINT_RETRY_MS));
    }
    return null;
  }

  private async stillSameCertificate(): Promise<boolean> {
    const now = await this.opts.factory.remoteFingerprint(this.pc).catch(() => null);
    if (this.closed) return false;
    if (now === this.remoteFingerprint) return true;
    this.opts.log.warn('certificate changed on renegotiation', { peer: this.remotePeerId.slice(0, 6) });
    this.close(now === null ? 'fingerprint-unreadable' : 'fingerprint-mismatch');
    return false;
  }

  private startLiveness(): void {
    this.timers.push(
      this.opts.clock.setInterval(() => {
        if (this.closed) return;
        if (this.opts.clock.now() - this.lastHeard > SILENCE_LIMIT_MS) {
          this.close('silent');
          return;
        }
        this.sendControl({ kind: 'ping', at: this.opts.clock.now() });
      }, PING_INTERVAL_MS),
    );
  }

  /**
   * Nothing is accepted before the handshaken fingerprint is known: it is what binds identity.
   * Until then messages wait in `queue`; a peer that piles up more than a few is misbehaving.
   */
  private heldForIdentity(queue: unknown[], data: unknown): boolean {
    if (this.remoteFingerprint) return false;
    queue.push(data);
    if (queue.length > MAX_PENDING) this.close('protocol');
    return true;
  }

  private onControlData(data: unknown): void {
    if (this.closed || this.heldForIdentity(this.pendingControl, data)) return;
    const parsed = parseControl(data);
    if (!parsed.ok) {
      this.opts.events.onDrop('control', parsed.reason);
      return;
    }
    this.lastHeard = this.opts.clock.now();
    for (const waiter of this.probes) waiter();
    this.probes.clear();
    if (this.phase === 'reconnecting' && this.pc.connectionState === 'connected') this.setPhase('connected');
    const msg = parsed.msg;
    if (msg.kind === 'ping') {
      this.sendControl({ kind: 'pong', at: msg.at });
      return;
    }
    if (msg.kind === 'pong') return;
    this.opts.events.onControl(msg);
  }

  private onContentData(data: unknown): void {
    if (this.closed || this.heldForIdentity(this.pendingContent, data)) return;
    const parsed = parseContent(data);
    if (!parsed.ok) {
      this.opts.events.onDrop('content', parsed.reason);
      return;
    }
    this.opts.events.onContent(parsed.msg);
  }

  private sendOn(ch: DataChannelLike | null, data: string): boolean {
    if (this.closed || !ch || ch.readyState !== 'open') return false;
    if (ch.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    try {
      ch.send(data);
      return true;
    } catch (err) {
      this.opts.log.warn('send failed', { peer: this.remotePeerId.slice(0, 6), error: String(err) });
      return false;
    }
  }

  private setPhase(phase: LinkPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.opts.events.onPhase(phase);
  }
}

function laneKind(lane: MediaLane): 'audio' | 'video' {
  return lane === 'mic' || lane === 'tab-audio' ? 'audio' : 'video';
}

/** Most signaling messages one link may carry: a few descriptions and candidates per lane. */
const MAX_SIGNALS_PER_LINK = 512;

/**
 * Signal wrapper: stamps the link id and a sequence number so that a replayed blob (the
 * broker can resend anything it relayed) is recognised and dropped. Held signals may be
 * replayed out of order, so it remembers which numbers it saw rather than the highest.
 */
export class SignalSequencer {
  private nextSeq = 0;
  private readonly seen = new Set<number>();
  constructor(readonly linkId: string) {}

  stamp(body: SignalBody): SignalMessage {
    return { ...body, link: this.linkId, seq: this.nextSeq++ } as SignalMessage;
  }

  /** True when the message is new for this link; false for a replay or a flood. */
  accept(msg: SignalMessage): boolean {
    if (msg.link !== this.linkId || this.seen.has(msg.seq) || this.seen.size >= MAX_SIGNALS_PER_LINK) return false;
    this.seen.add(msg.seq);
    return true;
  }
}
