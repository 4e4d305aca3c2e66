/**
 * The mesh: this participant's pairs, one current link per peer, and the routing of unsealed
 * signals to them. A fresh offer from a peer we hold an admitted link with never tears that
 * link down: it becomes a candidate that replaces the current link only once it has shown
 * the roster's certificate, so a squatted id or a replayed, withheld offer costs nothing.
 */
import { BoundedSet } from './bounded';
import { toBase64Url } from './encoding';
import type { DropChannel } from './drops';
import { Pair } from './pair';
import { PeerLink, SignalSequencer, type LinkCloseReason, type SignalBody } from './peer-link';
import { PreparedDial, PREPARED_DIAL_TTL_MS, type PreparedPeer } from './prepared-dial';
import type { Clock, Logger, MediaTrackLike, PeerConnectionConfig, PeerFactory } from './platform';
import type { LinkPhase, MediaLane } from './session-api';
import { SignalHold } from './signal-hold';
import type { ContentMessage, ControlMessage, SignalMessage } from './wire';

const MAX_RETIRED_LINK_IDS = 1024;

export interface MeshEvents {
  /** Channels open and the handshaken fingerprint read; `candidate` is a replacement attempt. */
  onReady(pair: Pair, candidate: boolean): void;
  onControl(pair: Pair, msg: ControlMessage): void;
  onContent(pair: Pair, msg: ContentMessage): void;
  onTrack(pair: Pair, lane: MediaLane, track: MediaTrackLike): void;
  /** The current link of a peer closed (a candidate's or a replaced link's close is not reported). */
  onClosed(pair: Pair, reason: LinkCloseReason): void;
  onPhase(phase: LinkPhase): void;
  onDrop(channel: DropChannel, reason: string): void;
}

export interface MeshOptions {
  factory: PeerFactory;
  config: () => PeerConnectionConfig;
  clock: Clock;
  log: Logger;
  randomBytes: (n: number) => Uint8Array;
  sendSignal(to: string, seq: SignalSequencer, body: SignalBody): void;
  /** Whether a fresh offer from `from` may be answered now; otherwise it is held. */
  mayAnswer(from: string): boolean;
  events: MeshEvents;
}

export class Mesh {
  private readonly pairs = new Map<string, Pair>();
  private readonly candidates = new Map<string, Pair>();
  private readonly retired = new BoundedSet<string>(MAX_RETIRED_LINK_IDS);
  private readonly held = new SignalHold();
  private prepared: PreparedDial | null = null;

  constructor(private readonly opts: MeshOptions) {}

  get(peerId: string): Pair | undefined {
    return this.pairs.get(peerId);
  }

  has(peerId: string): boolean {
    return this.pairs.has(peerId);
  }

  all(): Pair[] {
    return [...this.pairs.values()];
  }

  /**
   * A joiner makes its first dial's offer while the broker connects, or takes one `made` while
   * the form was on screen (prepared-dial.ts); the next dial adopts it. Unused, it is closed
   * after PREPARED_DIAL_TTL_MS or with the mesh.
   */
  prepareDial(made?: PreparedDial): void {
    this.prepared?.discard();
    const prepared = made ?? new PreparedDial(this.opts.factory, this.opts.config(), this.opts.log);
    this.prepared = prepared;
    this.opts.clock.setTimeout(() => prepared.discard(), PREPARED_DIAL_TTL_MS);
  }

  dial(peerId: string): Pair {
    const linkId = toBase64Url(this.opts.randomBytes(16));
    const config = this.opts.config();
    const prepared = this.prepared?.take(config) ?? undefined;
    this.prepared = null;
    return this.create(peerId, 'dialer', linkId, false, config, prepared);
  }

  /** Route one unsealed, validated signal from `from`. */
  route(from: string, msg: SignalMessage): void {
    if (this.retired.has(msg.link)) return this.opts.events.onDrop('signal', 'retired-link');
    const current = this.pairs.get(from);
    const candidate = this.candidates.get(from);
    for (const pair of [current, candidate]) {
      if (!pair || pair.link.linkId !== msg.link) continue;
      if (!pair.seq.accept(msg)) return this.opts.events.onDrop('signal', 'replayed');
      pair.link.handleSignal(toBody(msg));
      return;
    }
    if (msg.k !== 'desc' || msg.desc.type !== 'offer' || !this.opts.mayAnswer(from)) return this.hold(from, msg);
    let pair: Pair;
    if (current?.admitted) {
      // Never replace a working, admitted link on the strength of an offer: let it prove itself.
      if (candidate) this.retire(candidate, 'replaced');
      pair = this.create(from, 'answerer', msg.link, true);
    } else {
      if (current) this.retire(current, 'replaced');
      pair = this.create(from, 'answerer', msg.link, false);
    }
    pair.seq.accept(msg);
    pair.link.handleSignal(toBody(msg));
    this.replay(from);
  }

  /** A candidate showed the roster's certificate: it becomes the peer's current link. */
  promote(candidate: Pair): void {
    const peerId = candidate.peerId;
    if (this.candidates.get(peerId) !== candidate) return;
    this.candidates.delete(peerId);
    const old = this.pairs.get(peerId);
    this.pairs.set(peerId, candidate);
    if (old) this.retire(old, 'replaced');
  }

  /** Close a candidate that failed verification; the current link is untouched. */
  rejectCandidate(candidate: Pair, reason: LinkCloseReason): void {
    if (this.candidates.get(candidate.peerId) === candidate) this.retire(candidate, reason);
  }

  isCandidate(pair: Pair): boolean {
    return this.candidates.get(pair.peerId) === pair;
  }

  /** Close a peer's current link (reported through onClosed) and any candidate. */
  close(peerId: string, reason: LinkCloseReason): void {
    const candidate = this.candidates.get(peerId);
    if (candidate) this.retire(candidate, reason);
    this.pairs.get(peerId)?.link.close(reason);
  }

  /**
   * Frees an admission slot held by a link that has not even finished its handshake: the
   * oldest among those `pending` selects. True when one was closed.
   */
  evictOldestUnhandshaken(pending: (pair: Pair) => boolean): boolean {
    let oldest: Pair | null = null;
    for (const p of this.pairs.values()) {
      if (p.stage === 'transport' && pending(p) && (!oldest || p.createdAt < oldest.createdAt)) oldest = p;
    }
    if (!oldest) return false;
    oldest.link.close('timeout');
    return true;
  }

  /** Signals held for peers the roster has just introduced, or a slot that just freed. */
  replay(from?: string): void {
    for (const h of this.held.take(this.opts.clock.now(), from)) this.route(h.from, h.msg);
  }

  closeAll(): void {
    this.prepared?.discard();
    this.prepared = null;
    for (const c of [...this.candidates.values()]) this.retire(c, 'closed-by-us');
    for (const p of [...this.pairs.values()]) p.link.close('closed-by-us');
    this.pairs.clear();
    this.held.clear();
  }

  private hold(from: string, msg: SignalMessage): void {
    if (!this.held.hold(from, msg, this.opts.clock.now())) this.opts.events.onDrop('signal', 'hold-full');
  }

  private retire(pair: Pair, reason: LinkCloseReason): void {
    this.retired.add(pair.link.linkId);
    if (this.candidates.get(pair.peerId) === pair) this.candidates.delete(pair.peerId);
    if (this.pairs.get(pair.peerId) === pair) this.pairs.delete(pair.peerId);
    pair.link.close(reason);
  }

  private create(
    peerId: string,
    role: 'dialer' | 'answerer',
    linkId: string,
    candidate: boolean,
    config: PeerConnectionConfig = this.opts.config(),
    prepared?: PreparedPeer,
  ): Pair {
    const seq = new SignalSequencer(linkId);
    const ev = this.opts.events;
    let pair!: Pair;
    const link = new PeerLink({
      remotePeerId: peerId,
      role,
      linkId,
      factory: this.opts.factory,
      config,
      ...(prepared ? { prepared } : {}),
      clock: this.opts.clock,
      log: this.opts.log,
      sendSignal: (body) => this.opts.sendSignal(peerId, seq, body),
      events: {
        onReady: () => {
          pair.stage = 'transport-ready';
          ev.onReady(pair, this.candidates.get(peerId) === pair);
        },
        onPhase: (phase) => ev.onPhase(phase),
        onControl: (msg) => ev.onControl(pair, msg),
        onContent: (msg) => ev.onContent(pair, msg),
        onDrop: (channel, reason) => ev.onDrop(channel, reason),
        onTrack: (lane, track) => {
          pair.tracks.set(lane, track);
          ev.onTrack(pair, lane, track);
        },
        onClose: (reason) => {
          this.retired.add(linkId);
          if (this.candidates.get(peerId) === pair) this.candidates.delete(peerId);
          if (this.pairs.get(peerId) !== pair) return;
          this.pairs.delete(peerId);
          ev.onClosed(pair, reason);
        },
      },
    });
    pair = new Pair(link, seq, this.opts.clock.now(), this.opts.randomBytes);
    (candidate ? this.candidates : this.pairs).set(peerId, pair);
    return pair;
  }
}

function toBody(msg: SignalMessage): SignalBody {
  return msg.k === 'desc' ? { k: 'desc', desc: msg.desc } : { k: 'cand', cand: msg.cand };
}
