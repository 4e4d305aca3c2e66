/**
 * A dialer's peer connection made ahead of the dial. A joiner knows from the moment it joins
 * that it will dial the room's holder, but learns the holder's id only after the broker
 * connect and the holder lookup. Creating the offer (channels plus `setLocalDescription`, 8–20
 * ms of SDP and ICE set-up in Chromium, measured by the bench's phase table) meanwhile takes
 * it off the join path. The offer names no peer: it only becomes a link's when the dial adopts
 * it, under that dial's fresh link id.
 *
 * Single use. Anything it gathered before the adoption is handed over; if no dial adopts it
 * (the joiner found the room empty and holds it, or it left), it is closed.
 */
import type { Clock, DataChannelLike, IceCandidateLike, Logger, PeerConnectionConfig, PeerFactory, RtcPeerLike } from './platform';

/**
 * A prepared connection nobody dialed within this is closed: it holds ICE ports, and a join
 * that has not dialed by then (the room had no host yet) is not on the fast path anyway.
 */
export const PREPARED_DIAL_TTL_MS = 10_000;

export interface PreparedPeer {
  readonly pc: RtcPeerLike;
  readonly control: DataChannelLike;
  readonly content: DataChannelLike;
  /** Settles once the local offer is applied (rejects if it could not be made). */
  readonly offer: Promise<void>;
  /** Candidates gathered before the adoption (null = gathering complete), in order. */
  readonly candidates: Array<IceCandidateLike | null>;
}

/** The two negotiated data channels every link carries, with the same ids on both sides. */
export function createLinkChannels(pc: RtcPeerLike): { control: DataChannelLike; content: DataChannelLike } {
  return {
    control: pc.createDataChannel('control', { negotiated: true, id: 0, ordered: true }),
    content: pc.createDataChannel('content', { negotiated: true, id: 1, ordered: true }),
  };
}

export class PreparedDial {
  private peer: PreparedPeer | null;
  private readonly configKey: string;

  constructor(factory: PeerFactory, config: PeerConnectionConfig, private readonly log: Logger) {
    this.configKey = JSON.stringify(config);
    const pc = factory.create(config);
    const { control, content } = createLinkChannels(pc);
    const candidates: Array<IceCandidateLike | null> = [];
    pc.onicecandidate = ({ candidate }) => void candidates.push(candidate ?? null);
    // Not on negotiationneeded: that event comes a task or more later, and the offer is all
    // the negotiation the channels need (the media lanes follow after admission).
    const offer = pc.setLocalDescription();
    offer.catch((err: unknown) => this.log.warn('prepared offer failed', { error: String(err) }));
    this.peer = { pc, control, content, offer, candidates };
  }

  /** The prepared connection for a dial under `config`, once; null if used, closed or made for another config. */
  take(config: PeerConnectionConfig): PreparedPeer | null {
    const peer = this.peer;
    this.peer = null;
    if (!peer) return null;
    if (JSON.stringify(config) !== this.configKey) {
      closePeer(peer);
      return null;
    }
    peer.pc.onicecandidate = null;
    return peer;
  }

  /** Closes it unless a dial has taken it. Idempotent. */
  discard(): void {
    const peer = this.peer;
    this.peer = null;
    if (peer) closePeer(peer);
  }
}

/** A spare older than this is made again (the popup's form sends a warm-up every 10 s). */
export const SPARE_DIAL_MAX_AGE_MS = 20_000;

/**
 * A prepared dial kept while the join form is on screen (the popup's warm-up), so even the
 * offer is ready before "Join" is clicked. Closed when unused for `idleMs`; remade once older
 * than `maxAgeMs`, so a form left open across a network change does not offer stale addresses.
 */
export class SpareDial {
  private dial: PreparedDial | null = null;
  private madeAt = 0;
  private idleTimer: unknown = null;

  constructor(
    private readonly make: () => PreparedDial,
    private readonly clock: Clock,
    private readonly idleMs: number,
    private readonly maxAgeMs: number = SPARE_DIAL_MAX_AGE_MS,
  ) {}

  /** Makes one unless a fresh one is kept; restarts the idle timer. */
  keep(): void {
    if (this.dial && this.tooOld()) this.discard();
    if (!this.dial) {
      this.dial = this.make();
      this.madeAt = this.clock.now();
    }
    this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = this.clock.setTimeout(() => this.discard(), this.idleMs);
  }

  /** The kept dial, once (the mesh's TTL then applies); null if none, or too old (then closed). */
  take(): PreparedDial | null {
    const tooOld = this.tooOld();
    const dial = this.release();
    if (dial && tooOld) {
      dial.discard();
      return null;
    }
    return dial;
  }

  private tooOld(): boolean {
    return this.clock.now() - this.madeAt >= this.maxAgeMs;
  }

  discard(): void {
    this.release()?.discard();
  }

  private release(): PreparedDial | null {
    const dial = this.dial;
    this.dial = null;
    this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return dial;
  }
}

function closePeer(peer: PreparedPeer): void {
  closeLinkConnection(peer.pc, [peer.control, peer.content]);
}

/**
 * Closes a link's peer connection and its channels, with every handler detached first so
 * nothing they fire afterwards reaches a link that is gone. Safe on what is closed already.
 */
export function closeLinkConnection(pc: RtcPeerLike, channels: ReadonlyArray<DataChannelLike | null | undefined>): void {
  for (const ch of channels) {
    if (!ch) continue;
    ch.onopen = ch.onclose = ch.onerror = ch.onmessage = null;
    try {
      ch.close();
    } catch {
      /* already closed */
    }
  }
  pc.onicecandidate = null;
  pc.onnegotiationneeded = null;
  pc.onconnectionstatechange = null;
  pc.ontrack = null;
  try {
    pc.close();
  } catch {
    /* already closed */
  }
}
