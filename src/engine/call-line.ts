/**
 * One call's line to the others: the broker connection, sealed signaling over it, and the mesh
 * of pairs the signals feed. Built fresh for every start or join and closed whole when the
 * call ends. It decides nothing about who belongs in the call: that is the session's, the
 * presence machine's and the pipeline's; the line only carries what they decide.
 */
import { BrokerClient, type BrokerState } from './broker-client';
import { newPeerToken } from './broker-protocol';
import type { DropCounter } from './drops';
import { Mesh, type MeshEvents } from './mesh';
import type { PeerConnectionConfig, Platform } from './platform';
import { deriveRoomKey } from './seal';
import { roomSid } from './sid';
import { SealedSignaling } from './signaling';

export interface CallLineEvents {
  mesh: MeshEvents;
  /** Whether a fresh offer from `from` may be answered now (admission.mayAnswerOffer). */
  mayAnswer(from: string): boolean;
  /** The room's claim was released; `former` held it (null when found only on reconnect). */
  onReleased(former: string | null): void;
  onBrokerState(state: BrokerState): void;
  /** The broker came back after an outage and re-registered us. */
  onReconnected(): void;
}

export interface CallLineOptions {
  platform: Platform;
  roomId: string;
  brokerUrl: string;
  peerConfig: () => PeerConnectionConfig;
  drops: DropCounter;
  events: CallLineEvents;
  /** A client for `brokerUrl` connected ahead of the call (standby-broker.ts), used instead of a new one. */
  broker?: BrokerClient;
}

/** A broker client under a fresh token: a new peer id, used for one call. */
export function newBrokerClient(platform: Platform, url: string): BrokerClient {
  return new BrokerClient({
    url,
    token: newPeerToken((n) => platform.randomBytes(n)),
    webSocket: platform.webSocket,
    clock: platform.clock,
    log: platform.log,
  });
}

export class CallLine {
  /** Derived by the broker from our secret token, so nobody else can register it. */
  readonly selfId: string;
  /** The room's id at the broker: a hash of the room id, which the broker never learns. */
  readonly sid: string;
  readonly broker: BrokerClient;
  readonly mesh: Mesh;
  private signaling: SealedSignaling | null = null;

  constructor(private readonly opts: CallLineOptions) {
    const { platform } = opts;
    this.sid = roomSid(opts.roomId);
    this.broker = opts.broker ?? newBrokerClient(platform, opts.brokerUrl);
    this.selfId = this.broker.peerId;
    this.mesh = new Mesh({
      factory: platform.peers,
      config: opts.peerConfig,
      clock: platform.clock,
      log: platform.log,
      randomBytes: (n) => platform.randomBytes(n),
      // Nothing is dialed before connect() has made the signaling.
      sendSignal: (to, seq, body) => this.signaling?.send(to, seq, body),
      mayAnswer: (from) => opts.events.mayAnswer(from),
      events: opts.events.mesh,
    });
  }

  get brokerState(): BrokerState {
    return this.broker.state;
  }

  /**
   * Derives the room key, connects to the broker and watches the room's claim. With
   * `lookupHolder` it also asks who holds the room, sent right behind the watch: the broker
   * answers one socket's requests in order, so no release between the two goes unseen, and
   * the join does not wait a round trip for `watching` first (measured: that wait was 10–15 ms
   * in Chromium, where the popup's render on the shared main thread delays every reply).
   * Resolves once the watch is in place, with the holder (null: none, or the lookup failed;
   * undefined: not asked).
   */
  async connect(lookupHolder = false): Promise<string | null | undefined> {
    const { platform, events } = this.opts;
    const broker = this.broker;
    this.signaling = new SealedSignaling({
      sid: this.sid,
      selfId: this.selfId,
      key: await deriveRoomKey(this.opts.roomId),
      send: (to, blob) => broker.send(to, blob),
      randomBytes: (n) => platform.randomBytes(n),
      log: platform.log,
      drops: this.opts.drops,
    });
    broker.onMessage = (from, blob) => void this.received(from, blob);
    broker.onReleased = (sid, former) => {
      if (sid === this.sid) events.onReleased(former);
    };
    broker.onDeliveryError = (to, code) => this.undelivered(to, code);
    broker.onStateChange = (state) => events.onBrokerState(state);
    broker.onReconnected = () => events.onReconnected();
    await broker.connect();
    const watched = broker.watch(this.sid);
    const holder = lookupHolder ? broker.holder(this.sid).catch(() => null) : undefined;
    await watched;
    return holder;
  }

  close(): void {
    this.mesh.closeAll();
    this.broker.close();
    this.signaling = null;
  }

  private async received(from: string, blob: string): Promise<void> {
    const msg = await this.signaling?.open(from, blob);
    if (msg && this.signaling) this.mesh.route(from, msg);
  }

  /** A dial whose offer the broker could not deliver fails now rather than at its deadline. */
  private undelivered(to: string, code: string): void {
    this.opts.platform.log.warn('signaling not delivered', { peer: to.slice(0, 6), code });
    const pair = this.mesh.get(to);
    if (pair && !pair.link.ready && pair.link.role === 'dialer') pair.link.close('delivery-failed');
  }
}
